"""Change tracking: a view's loops reuse the entries of rows that did not change.

Reuse must never change what is rendered: every render with a ``Memo`` is
compared with a render without one, and with plain Jinja2, and every diff
between them is merged as the client merges it. A row is reused only when
it renders the same: same values of the same types (``"<b>"`` is escaped,
``Markup("<b>")`` is not), read by a body that calls nothing impure.
"""

from __future__ import annotations

import json
import typing as t
from datetime import UTC, date, datetime

import jinja2
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from markupsafe import Markup

from {{ cookiecutter.package_name }}.live import LiveEnvironment, diff_tree, pure, render_template, to_html
from {{ cookiecutter.package_name }}.live.memo import Memo, snapshot
from {{ cookiecutter.package_name }}.live.testing import Rendered

import properties
{%- raw %}

Context = dict[str, t.Any]
Tree = dict[str, t.Any]
ROWS = (
    "<ul>{% for r in rows %}<li>{{ r.name }}{% if r.done %} (done){% endif %}</li>{% endfor %}</ul>"
)


class Clock:
    """Read by impure filters and functions; ``renders`` sets it to the step it renders."""

    time = 0

    @staticmethod
    def stamp(value: t.Any) -> str:
        return f"{value}@{Clock.time}"


def wire(tree: Tree) -> Tree:
    return t.cast(Tree, json.loads(json.dumps(tree)))


def renders(
    templates: dict[str, str],
    contexts: list[Context],
    setup: t.Callable[[jinja2.Environment], t.Any] = lambda environment: None,
) -> list[Tree]:
    """Render ``main.html`` through a life of contexts with one memo; check every step.

    ``setup`` adds the app's filters and globals to the live and plain environments.
    """
    loader = jinja2.DictLoader(templates)
    environment, plain = LiveEnvironment(loader=loader), jinja2.Environment(
        autoescape=True, loader=loader
    )
    setup(environment)
    setup(plain)
    live = environment.get_template("main.html")
    memo = Memo()
    trees: list[Tree] = []
    client = None
    for step, context in enumerate(contexts):
        Clock.time = step
        tree = render_template(live, context, memo)
        html = plain.get_template("main.html").render(context)
        assert tree == render_template(live, context)
        assert to_html(tree) == html
        if client is None:
            client = Rendered(wire(tree))
        else:
            client.merge(wire(diff_tree(trees[-1], tree)))
        assert client.html == html, f"step {step}"
        trees.append(tree)
    return trees


def entries(tree: dict[str, t.Any], slot: str = "0") -> list[t.Any]:
    keyed = tree[slot]["k"]
    return [keyed[str(i)] for i in range(keyed["kc"])]


def test_unchanged_rows_reuse_their_entries() -> None:
    rows = [{"id": i, "name": f"n{i}", "done": i % 2 == 0} for i in range(5)]
    changed = [dict(row) for row in rows]
    changed[2]["name"] = "changed"
    first, second = renders({"main.html": ROWS}, [{"rows": rows}, {"rows": changed}])
    reused = [a is b for a, b in zip(entries(first), entries(second), strict=True)]
    assert reused == [True, True, False, True, True]
    assert diff_tree(first, second) == {"0": {"k": {"2": {"0": "changed"}, "kc": 5}}}


def test_moved_rows_keep_their_entries() -> None:
    rows = [{"id": i, "name": f"n{i}", "done": False} for i in range(3)]
    first, second = renders({"main.html": ROWS}, [{"rows": rows}, {"rows": rows[::-1]}])
    assert entries(second)[0] is entries(first)[2]
    assert diff_tree(first, second) == {"0": {"k": {"0": 2, "2": 0, "kc": 3, "km": True}}}


def test_rows_changed_in_place_are_rendered_again_and_only_they() -> None:
    rows = [{"id": i, "name": f"n{i}", "done": False} for i in range(4)]
    template = LiveEnvironment().from_string(ROWS)
    memo = Memo()
    first = render_template(template, {"rows": rows}, memo)
    rows[1]["name"] = "changed"
    rows[2]["done"] = True
    rows[3]["done"] = 0  # equal to False, and renders the same, but not of its type
    second = render_template(template, {"rows": rows}, memo)
    reused = [a is b for a, b in zip(entries(first), entries(second), strict=True)]
    assert reused == [True, False, False, False]
    plain = jinja2.Environment(autoescape=True).from_string(ROWS)
    assert to_html(second) == plain.render(rows=rows)


@pytest.mark.parametrize("new", ["changed", 7, None, True, 1.0, Markup("<b>1</b>"), "<b>1</b>"])
def test_a_value_of_a_row_of_str_and_int_replaced_in_place_renders_anew(new: t.Any) -> None:
    source = "{% for r in rows %}<i>{{ r.v }}</i>{% endfor %}"
    rows: list[dict[str, t.Any]] = [{"id": i, "v": 1} for i in range(3)]
    template = LiveEnvironment().from_string(source)
    plain = jinja2.Environment(autoescape=True).from_string(source)
    memo = Memo()
    first = render_template(template, {"rows": rows}, memo)
    rows[1]["v"] = new
    second = render_template(template, {"rows": rows}, memo)
    reused = [a is b for a, b in zip(entries(first), entries(second), strict=True)]
    assert reused == [True, False, True]
    assert to_html(second) == plain.render(rows=rows)
    rows[1]["v"] = 1  # and back: its entry of the first render, or a new one
    assert to_html(render_template(template, {"rows": rows}, memo)) == plain.render(rows=rows)


def test_a_loop_run_for_each_row_of_another_keeps_only_the_rows_it_rendered() -> None:
    source = "{% for g in groups %}{% for r in g.rows %}<i>{{ r.n }}</i>{% endfor %}{% endfor %}"
    template = LiveEnvironment().from_string(source)
    plain = jinja2.Environment().from_string(source)
    memo = Memo()
    groups = [{"rows": [{"n": i}]} for i in range(2)]
    for step in range(3):
        groups[1]["rows"][0]["n"] = 10 + step  # changed in place, the first group kept
        tree = render_template(template, {"groups": groups}, memo)
        assert to_html(tree) == plain.render(groups=groups)
    assert sum(map(len, memo._previous.values())) == 2  # no row of an earlier render is kept


@pytest.mark.parametrize(
    "body",
    [
        "{{ r }}{{ outer }}",  # reads a variable from outside the loop
        "{{ loop.index }}{{ r }}",  # loop state changes when rows move
        "{{ m(r) }}",  # a macro may read anything
        "{% include 'part.html' %}",  # includes see the whole context
        "{{ [r, 'x'] | random }}",  # an impure filter
    ],
)
def test_loops_reading_more_than_their_row_are_always_rendered(body: str) -> None:
    templates = {
        "main.html": "{% macro m(x) %}{{ x }}{{ outer }}{% endmacro %}"
        "<p>{% for r in rows %}" + body + "{% endfor %}</p>",
        "part.html": "{{ r }}{{ outer }}",
    }
    contexts = [{"rows": ["a", "b"], "outer": 1}, {"rows": ["a", "b"], "outer": 2}]
    loader = jinja2.DictLoader(templates)
    live = LiveEnvironment(loader=loader).get_template("main.html")
    memo = Memo()
    first, second = (render_template(live, context, memo) for context in contexts)
    slot = next(key for key, value in first.items() if isinstance(value, dict))
    assert not any(a is b for a, b in zip(entries(first, slot), entries(second, slot), strict=True))
    if "random" not in body:
        assert to_html(second) == jinja2.Environment(loader=loader).get_template(
            "main.html"
        ).render(contexts[1])


def test_a_body_reading_values_around_the_loop_is_reused_while_they_are_equal() -> None:
    source = (
        '{% for r in rows %}<a href="{{ root }}/{{ r }}"'
        '{% if r == selected %} class="on"{% endif %}>{{ r }}</a>{% endfor %}'
    )
    life = [
        {"rows": ["a", "b"], "root": "/crm", "selected": "a"},
        {"rows": ["a", "b"], "root": "/crm", "selected": "a"},
        {"rows": ["a", "b"], "root": "/crm", "selected": "b"},
        {"rows": ["a", "b"], "root": ["/crm"], "selected": "b"},  # a list: never compared
        {"rows": ["a", "b"], "root": ["/crm"], "selected": "b"},
    ]
    first, second, third, fourth, fifth = renders({"main.html": source}, life)
    assert entries(second) == entries(first)
    assert all(a is b for a, b in zip(entries(first), entries(second), strict=True))
    assert not any(a is b for a, b in zip(entries(second), entries(third), strict=True))
    on = {"s": [' class="on"']}
    assert diff_tree(second, third) == {"0": {"k": {"0": {"2": ""}, "1": {"2": on}, "kc": 2}}}
    assert not any(a is b for a, b in zip(entries(fourth), entries(fifth), strict=True))


def test_rows_that_cannot_be_compared_are_always_rendered() -> None:
    class Row:
        def __init__(self, name: str) -> None:
            self.name = name
            self.tags = ("x",)

    source = "{% for r in rows %}<i>{{ r.name }}{{ r.tags }}</i>{% endfor %}"
    tagged = [{"name": "a", "tags": ["x"]}]
    objects = [Row("a")]
    for rows in (tagged, objects):
        first, second = renders({"main.html": source}, [{"rows": rows}, {"rows": rows}])
        assert entries(first)[0] is not entries(second)[0]
    tagged[0]["tags"].append("y")  # mutated in place: an equal-looking snapshot would be stale
    objects[0].name = "b"
    assert snapshot(tagged[0]) is None and snapshot(objects[0]) is None


def test_equal_but_differently_rendered_values_are_not_confused() -> None:
    source = "{% for r in rows %}<i>{{ r.v }}</i>{% endfor %}"
    contexts = [{"rows": [{"v": 1}]}, {"rows": [{"v": True}]}, {"rows": [{"v": 1.0}]}]
    renders({"main.html": source}, contexts)


def test_reused_entries_render_inside_filters_includes_and_super() -> None:
    templates = {
        "part.html": "{% for w in words %}<b>{{ w }}</b>{% endfor %}",
        "base.html": "{% block body %}{% for w in words %}[{{ w }}]{% endfor %}{% endblock %}",
        "main.html": "{% extends 'base.html' %}{% block body %}"
        "{% filter upper %}{% include 'part.html' %}{% endfilter %}"
        "{{ super() }}{% include 'part.html' %}{% endblock %}",
    }
    life = [{"words": ["a", "b"]}, {"words": ["a", "b"]}, {"words": ["b", "c"]}]
    renders(templates, life)


def test_a_failed_render_leaves_nothing_half_built() -> None:
    class Boom:
        @property
        def name(self) -> str:
            raise RuntimeError("boom")

    live = LiveEnvironment().from_string(ROWS)
    memo = Memo()
    rows = [{"name": "a", "done": False}, {"name": "b", "done": True}]
    with pytest.raises(RuntimeError):
        render_template(live, {"rows": [*rows, Boom()]}, memo)
    tree = render_template(live, {"rows": rows}, memo)
    again = render_template(live, {"rows": rows}, memo)
    assert tree == again == render_template(live, {"rows": rows})
    assert entries(again)[0] is entries(tree)[0]


def test_filters_that_read_the_context_turn_tracking_off() -> None:
    @jinja2.pass_context
    def money(context: t.Any, amount: int) -> str:
        return f"{context['currency']}{amount}"

    environment = LiveEnvironment()
    environment.filters["money"] = money
    live = environment.from_string("{% for r in rows %}<i>{{ r | money }}</i>{% endfor %}")
    memo = Memo()
    render_template(live, {"rows": [5], "currency": "$"}, memo)
    tree = render_template(live, {"rows": [5], "currency": "€"}, memo)
    assert to_html(tree) == "<i>€5</i>"


@pytest.mark.parametrize("control", ["continue", "break"])
def test_loop_controls_are_refused_in_live_loops(control: str) -> None:
    environment = LiveEnvironment(extensions=["jinja2.ext.loopcontrols"])
    source = "{% for r in rows %}{% if r %}{% " + control + " %}{% endif %}{{ r }}{% endfor %}"
    with pytest.raises(jinja2.TemplateAssertionError, match=control):
        environment.from_string(source)


# -- values that are equal but render differently ------------------------------

SCALAR_LOOP = "{% for w in words %}<i>{{ w }}</i>{% endfor %}"
DICT_LOOP = "{% for r in words %}<i>{{ r.v }}</i>{% endfor %}"
TUPLE_LOOP = "{% for r in words %}<i>{{ r[0] }}</i>{% endfor %}"
SHAPES = {
    SCALAR_LOOP: lambda value: value,
    DICT_LOOP: lambda value: {"v": value},
    TUPLE_LOOP: lambda value: (value,),
}


@pytest.mark.parametrize("source", SHAPES)
@pytest.mark.parametrize(
    "values",
    [
        ["<b>x</b>", Markup("<b>x</b>"), "<b>x</b>"],  # a str reusing a Markup entry is an XSS
        [1, True, 1.0, 1],
        [0.0, -0.0, 0.0],
    ],
)
def test_equal_values_that_render_differently_are_rendered_again(
    source: str, values: list[t.Any]
) -> None:
    shape = SHAPES[source]
    trees = renders({"main.html": source}, [{"words": [shape(value)]} for value in values])
    for old, new in zip(trees, trees[1:], strict=False):
        assert entries(new)[0] is not entries(old)[0]
        assert diff_tree(old, new) != {}


def test_the_type_of_every_value_is_part_of_a_row() -> None:
    text = "<b>x</b>"
    assert snapshot(text) != snapshot(Markup(text))
    assert snapshot({"v": text}) != snapshot({"v": Markup(text)})
    assert snapshot((1, text)) != snapshot((1, Markup(text)))
    assert snapshot({"a": 1, "v": True}) != snapshot({"a": 1, "v": 1})
    assert snapshot({"a": "", "v": 0.0}) != snapshot({"a": "", "v": -0.0})
    # Rows that need their types compared: each type still counts.
    assert snapshot({"v": True, "f": 1.5}) != snapshot({"v": 1, "f": 1.5})
    assert snapshot((Markup(text), True)) != snapshot((text, True))
    assert snapshot({"v": text}) == snapshot({"v": "<b>x</b>"})
    assert snapshot((1.5, True)) == snapshot((1.5, True))
    # A date is a value; a datetime (which may carry a time zone) is not compared.
    assert snapshot({"d": date(2024, 5, 31)}) == snapshot({"d": date(2024, 5, 31)})
    assert snapshot({"d": date(2024, 5, 31)}) != snapshot({"d": date(2024, 6, 1)})
    assert snapshot({"d": datetime(2024, 5, 31, tzinfo=UTC)}) is None


def test_a_dict_and_a_tuple_row_of_the_same_items_are_different_rows() -> None:
    source = "{% for r in rows %}<i>{{ r }}</i>{% endfor %}"
    life = [{"rows": [{"a": "b"}]}, {"rows": [("a", "b")]}, {"rows": [{"a": "b"}]}]
    first, second, third = renders({"main.html": source}, life)
    assert entries(second)[0] is not entries(first)[0]
    assert entries(third)[0] is not entries(second)[0]


def test_a_row_of_every_kind_of_scalar_is_reused() -> None:
    row = {"s": "<b>", "i": 1, "n": None, "f": -0.0, "b": True, "m": Markup("<b>")}
    row["d"] = date.max
    source = "{% for r in rows %}<i>{{ r.s }}{{ r.i }}{{ r.n }}{{ r.f }}{{ r.b }}{{ r.m }}"
    source += "{{ r.d }}</i>"
    source += "{% endfor %}"
    first, second = renders({"main.html": source}, [{"rows": [row]}, {"rows": [dict(row)]}])
    assert entries(second)[0] is entries(first)[0]


def test_keys_are_compared_with_their_types_too() -> None:
    source = "{% for r in rows %}<i>{% for k in r %}{{ k }}{% endfor %}</i>{% endfor %}"
    life = [{"rows": [{1: "a"}]}, {"rows": [{True: "a"}]}, {"rows": [{1.0: "a"}]}]
    first, second, third = renders({"main.html": source}, life)
    assert entries(second)[0] is not entries(first)[0]
    assert entries(third)[0] is not entries(second)[0]
    assert snapshot({"<b>": 1}) != snapshot({Markup("<b>"): 1})


# -- what a loop body may call ---------------------------------------------------


def with_functions(environment: jinja2.Environment) -> None:
    """An impure filter and function (they read the clock), and pure ones."""
    environment.filters.update(stamp=Clock.stamp, twice=pure(lambda value: f"{value}{value}"))
    environment.globals.update(now=lambda: Clock.time, shout=pure(lambda value: f"{value}!"))


@pytest.mark.parametrize(
    ("body", "reused"),
    [
        ("{{ w|stamp }}", False),  # an app filter is impure unless marked pure
        ("{{ w|twice }}", True),
        ("{{ w }}{{ now() }}", False),
        ("{{ shout(w) }}", True),
        ("{% for i in range(w|length) %}.{% endfor %}{{ w|upper }}", True),
        ("{% if w is string %}{{ w }}{% endif %}", True),
        ("{{ w }}{{ [w]|random }}", False),
        ("{{ [w]|map('upper')|join }}", False),  # map reads the context for its filter
        ("{{ w is sameas w }}", False),
    ],
)
def test_a_loop_calling_only_pure_functions_reuses_rows(body: str, reused: bool) -> None:
    source = "{% for w in words %}<i>" + body + "</i>{% endfor %}"
    life = [{"words": ["a", "b"]}, {"words": ["a", "b"]}, {"words": ["b", "c"]}]
    first, second, third = renders({"main.html": source}, life, with_functions)
    assert (entries(second)[0] is entries(first)[0]) is reused
    assert (entries(third)[0] is entries(second)[1]) is reused


def test_a_builtin_filter_replaced_by_the_app_is_not_trusted() -> None:
    def setup(environment: jinja2.Environment) -> None:
        environment.filters["upper"] = Clock.stamp

    first, second = renders(
        {"main.html": "{% for w in words %}{{ w|upper }}{% endfor %}"},
        [{"words": ["a"]}, {"words": ["a"]}],
        setup,
    )
    assert entries(second)[0] == {"0": "a@1"}


def test_a_context_value_shadowing_a_pure_global_is_checked_too() -> None:
    source = "{% for w in words %}<i>{{ shout(w) }}</i>{% endfor %}"
    life = [{"words": ["a"]}, {"words": ["a"], "shout": Clock.stamp}, {"words": ["a"]}]
    first, second, third = renders({"main.html": source}, life, with_functions)
    assert entries(second)[0] == {"0": "a@1"}
    assert entries(third)[0] is not entries(second)[0]


def test_identity_tests_are_not_trusted() -> None:
    same = 10**6
    other = int(str(same))  # equal, but another object
    source = "{% for r in rows %}{{ r.a is sameas r.b }}{% endfor %}"
    renders(
        {"main.html": source},
        [{"rows": [{"a": same, "b": same}]}, {"rows": [{"a": same, "b": other}]}],
    )


def test_pure_refuses_what_it_cannot_vouch_for() -> None:
    @jinja2.pass_context
    def reads(context: t.Any, value: t.Any) -> t.Any:
        return value

    with pytest.raises(TypeError, match="context"):
        pure(reads)
    with pytest.raises(TypeError, match="wrap it"):
        pure(len)


# -- failures ------------------------------------------------------------------


def test_a_failed_render_does_not_spoil_the_next_diff() -> None:
    live = LiveEnvironment().from_string(ROWS)
    memo = Memo()
    rows = [{"name": f"n{i}", "done": False} for i in range(4)]
    first = render_template(live, {"rows": rows}, memo)
    changed = [{**rows[0], "name": "changed"}, *rows[1:]]
    broken = [*changed[:2], {"done": True}, *changed[2:]]  # no name: fails at the third row
    with pytest.raises(jinja2.UndefinedError):
        render_template(live, {"rows": broken}, memo)
    second = render_template(live, {"rows": changed}, memo)
    assert second == render_template(live, {"rows": changed})
    assert entries(second)[1:] == entries(first)[1:]
    assert all(a is b for a, b in zip(entries(second)[1:], entries(first)[1:], strict=True))
    assert diff_tree(first, second) == {"0": {"k": {"0": {"0": "changed"}, "kc": 4}}}



def test_a_render_failing_half_way_through_rows_changed_in_place_leaves_none_half_built() -> None:
    live = LiveEnvironment().from_string("{% for r in rows %}<i>{{ 100 // r.n }}</i>{% endfor %}")
    memo = Memo()
    rows = [{"id": i, "n": i + 1} for i in range(100)]
    first = render_template(live, {"rows": rows}, memo)
    rows[3]["n"], rows[5]["n"] = 0, 7  # row 3 fails before row 5 is rendered
    with pytest.raises(ZeroDivisionError):
        render_template(live, {"rows": rows}, memo)
    rows[3]["n"] = 3
    second = render_template(live, {"rows": rows}, memo)
    assert second == render_template(live, {"rows": rows})
    assert diff_tree(first, second) == {"0": {"k": {"3": {"0": "33"}, "5": {"0": "14"}, "kc": 100}}}

# -- which rows are reused: all that render the same, no others ------------------

LOOKALIKES = ["<b>x</b>", Markup("<b>x</b>"), "x", 1, True, 1.0, 0, False, 0.0, -0.0, None]
VALUE = st.sampled_from(LOOKALIKES)
ROW = VALUE | st.fixed_dictionaries({"v": VALUE, "w": VALUE}) | st.tuples(VALUE, VALUE)
REUSE_LOOP = (
    "<ul>{% for r in rows %}<li>{{ r }}"
    "{% if r is mapping %}{{ r.v }}|{{ r.w }}{% endif %}{% if r %}!{% endif %}</li>"
    "{% endfor %}</ul>"
)


def renders_the_same(a: t.Any, b: t.Any) -> bool:
    """The test's own rule for rows that render the same: same types, same reprs."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(map(renders_the_same, a.values(), b.values()))
    if isinstance(a, tuple):
        return len(a) == len(b) and all(map(renders_the_same, a, b))
    return repr(a) == repr(b)


@st.composite
def row_lives(draw: st.DrawFn) -> list[list[t.Any]]:
    """2 to 4 lists of rows, each made mostly of rows of the one before."""
    lives = [draw(st.lists(ROW, max_size=6))]
    for _ in range(draw(st.integers(1, 3))):
        kept = draw(st.lists(st.sampled_from(lives[-1]), max_size=6)) if lives[-1] else []
        new = draw(st.lists(ROW, max_size=2))
        lives.append(draw(st.permutations(kept + new)))
    return lives


@properties.examples(60)
@given(lives=row_lives())
@example(lives=[["<b>x</b>", 1, 0.0], [Markup("<b>x</b>"), True, -0.0]])
@example(lives=[[{"v": "<b>x</b>", "w": 1}], [{"v": Markup("<b>x</b>"), "w": 1}]])
@example(lives=[[("x", 1.0), ("x", 1)], [("x", 1), ("x", True)]])
@example(lives=[[{"v": True, "w": 1.0}], [{"v": 1, "w": 1.0}]])
def test_exactly_the_rows_that_render_the_same_are_reused(lives: list[list[t.Any]]) -> None:
    trees = renders({"main.html": REUSE_LOOP}, [{"rows": rows} for rows in lives])
    for (old_rows, new_rows), (old, new) in zip(
        zip(lives, lives[1:], strict=False), zip(trees, trees[1:], strict=False), strict=True
    ):
        old_entries = entries(old)
        for row, entry in zip(new_rows, entries(new), strict=True):
            reused_from = [r for r, e in zip(old_rows, old_entries, strict=True) if e is entry]
            assert all(renders_the_same(r, row) for r in reused_from), (row, reused_from)
            assert bool(reused_from) == any(renders_the_same(r, row) for r in old_rows), row


# -- contexts mutated in place: rows compared by identity, by place -----------------

IN_PLACE_LOOP = (
    "<h1>{{ title }}</h1><ul>{% for r in rows %}<li>{{ r }}"
    "{% if r.v is defined %}|{{ r.v }}{% endif %}</li>{% endfor %}</ul>"
)
KEYS = ["id", "v", "w", Markup("v")]
EDIT = st.tuples(
    st.sampled_from(
        ["set", "delete", "rename", "move", "insert", "remove", "copy", "nest", "append", "title"]
    ),
    st.integers(0, 7),
    st.integers(0, 7),
    st.sampled_from(KEYS),
    VALUE,
)


def edit(context: Context, kind: str, i: int, j: int, key: t.Any, value: t.Any) -> None:
    """Change ``context`` in place as a handler would: a row's key or value, or the list."""
    rows = context["rows"]
    if kind == "title":
        context["title"] = value
    elif kind == "insert" or not rows:
        rows.insert(i % (len(rows) + 1), {"id": j, "v": value})
        return
    row = rows[i % len(rows)]
    if kind == "set":
        row[key] = value
    elif kind == "delete":
        row.pop(key, None)
    elif kind == "rename" and row:
        row[key] = row.pop(list(row)[j % len(row)])
    elif kind == "move":
        rows.insert(j % len(rows), rows.pop(i % len(rows)))
    elif kind == "remove":
        rows.pop(i % len(rows))
    elif kind == "copy":
        rows[i % len(rows)] = dict(row)  # equal, but another dict
    elif kind == "nest":
        row["v"] = [value]
    elif kind == "append" and isinstance(row.get("v"), list):
        row["v"].append(value)  # a list inside a row, mutated in place


@properties.examples(80)
@given(
    start=st.lists(st.fixed_dictionaries({"id": st.integers(0, 3), "v": VALUE}), max_size=12),
    steps=st.lists(st.lists(EDIT, min_size=1, max_size=3), min_size=1, max_size=5),
)
@example(start=[{"id": 1, "v": 1}] * 1, steps=[[("set", 0, 0, "v", True)]])
@example(start=[{"id": 1, "v": "x"}], steps=[[("rename", 0, 1, "w", None)]])
@example(start=[{"id": 1, "v": "<b>x</b>"}], steps=[[("set", 0, 0, "v", Markup("<b>x</b>"))]])
@example(start=[{"id": 1, "v": 0.0}], steps=[[("set", 0, 0, "v", -0.0)]])
@example(start=[{"id": 1, "v": "x"}], steps=[[("set", 0, 0, Markup("v"), "x")]])
@example(start=[{"id": 1, "v": 1}], steps=[[("nest", 0, 0, "v", 1)], [("append", 0, 0, "v", 2)]])
@example(  # rows of different lengths: a changed one found and patched in among them
    start=[{"id": 1, "v": 1}, {"id": 2, "v": 2}],
    steps=[[("delete", 0, 0, "v", None)], [("set", 1, 0, "v", "x")], [("rename", 1, 0, "w", 1)]],
)
def test_a_context_mutated_in_place_renders_as_a_fresh_render(
    start: list[dict[str, t.Any]], steps: list[list[tuple[t.Any, ...]]]
) -> None:
    # Rows no edit reaches, so that a few changed rows are patched in by place.
    padding = [{"id": 100 + i, "v": "p"} for i in range(24)]
    context: Context = {"title": "t", "rows": [dict(row) for row in start] + padding}

    def life() -> t.Iterator[Context]:
        yield context
        for step in steps:
            for change in step:
                edit(context, *change)
            yield context

    renders({"main.html": IN_PLACE_LOOP}, t.cast(list[Context], life()))


def test_only_the_rows_changed_in_place_are_rendered_and_diffed_again() -> None:
    rows = [{"id": i, "v": f"n{i}"} for i in range(40)]
    context = {"title": "t", "rows": rows}
    template = LiveEnvironment().from_string(IN_PLACE_LOOP)
    memo = Memo()
    first = render_template(template, context, memo)
    context["title"] = "u"
    second = render_template(template, context, memo)
    assert second["1"]["k"] is first["1"]["k"]  # no row changed: last render's entries
    assert diff_tree(first, second) == {"0": "u"}
    rows[7]["v"] = True
    third = render_template(template, context, memo)
    reused = [a is b for a, b in zip(entries(second, "1"), entries(third, "1"), strict=True)]
    assert reused == [i != 7 for i in range(40)]
    seventh = {"0": "{&#39;id&#39;: 7, &#39;v&#39;: True}", "1": {"0": "True"}}
    assert diff_tree(second, third) == {"1": {"k": {"7": seventh, "kc": 40}}}


@pytest.mark.parametrize("ragged", [False, True])
def test_rows_changed_in_place_are_found_whatever_their_lengths(ragged: bool) -> None:
    rows = [{"id": i, "v": f"n{i}", **({"w": i} if ragged and i % 3 else {})} for i in range(40)]
    context = {"title": "t", "rows": rows}
    template = LiveEnvironment().from_string(IN_PLACE_LOOP)
    memo = Memo()
    first = render_template(template, context, memo)
    rows[10]["v"], rows[22]["id"] = "x", 99
    second = render_template(template, context, memo)
    reused = [a is b for a, b in zip(entries(first, "1"), entries(second, "1"), strict=True)]
    assert reused == [i not in (10, 22) for i in range(40)]
    assert second == render_template(template, context)
    third = render_template(template, context, memo)  # the changed rows are known as they are
    assert third["1"]["k"] is second["1"]["k"]
{%- endraw %}

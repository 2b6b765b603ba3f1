"""Change tracking: a view's loops reuse the entries of rows that did not change.

Reuse must never change what is rendered: every render with a ``Memo`` is
compared with a render without one, and with plain Jinja2.
"""

from __future__ import annotations

import typing as t

import jinja2
import pytest

from {{ cookiecutter.package_name }}.live import LiveEnvironment, diff_tree, render_template, to_html
from {{ cookiecutter.package_name }}.live.memo import Memo, snapshot
{%- raw %}

Context = dict[str, t.Any]
ROWS = (
    "<ul>{% for r in rows %}<li>{{ r.name }}{% if r.done %} (done){% endif %}</li>{% endfor %}</ul>"
)


def renders(templates: dict[str, str], contexts: list[Context]) -> list[dict[str, t.Any]]:
    """Render ``main.html`` through a life of contexts with one memo; check every step."""
    loader = jinja2.DictLoader(templates)
    live = LiveEnvironment(loader=loader).get_template("main.html")
    plain = jinja2.Environment(autoescape=True, loader=loader).get_template("main.html")
    memo = Memo()
    trees = []
    for context in contexts:
        tree = render_template(live, context, memo)
        assert tree == render_template(live, context)
        assert to_html(tree) == plain.render(context)
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


def test_rows_that_cannot_be_compared_are_always_rendered() -> None:
    class Row:
        def __init__(self, name: str) -> None:
            self.name = name

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
{%- endraw %}

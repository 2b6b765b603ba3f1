"""A diff is right when the official client, merging it, renders what Jinja renders.

Random Jinja2 templates (text with HTML special characters, slots, if/elif/else,
nested loops with for-else, keyed and unkeyed rows, includes, macros, call and
filter blocks, extends and blocks, pure and impure app filters and functions)
are rendered for random sequences of contexts, whose values mix ``str`` and
``Markup`` of the same text, and ``1``, ``True`` and ``1.0``. Each state is
rendered as a live view renders it (one ``Memo``, reusing unchanged rows).
Each state's tree, and the diffs between them, are replayed through the
client's own ``rendered.js`` (see ``replay/``), and through the test client's
port of it: after every diff both must hold exactly what plain Jinja2 renders.
Streams too: random inserts (at any place, with limits, update-only),
deletes and resets; the rows the browser keeps, from the rows and operations
the client hands its DOM patch, must be what plain Jinja2 renders of the list
those operations describe.

Views rendering LiveComponents (random templates too) are replayed with the
diff's ``c`` and the client's destroys.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
import typing as t
from dataclasses import dataclass, replace

import jinja2
from hypothesis import event, example, given
from hypothesis import strategies as st
from markupsafe import Markup

from {{ cookiecutter.package_name }}.live import (
    ComponentSocket,
    LiveComponent,
    LiveEnvironment,
    Stream,
    diff_tree,
    js,
    pure,
    render_template,
    render_tree,
    to_html,
)
from {{ cookiecutter.package_name }}.live.component import ComponentsManager
from {{ cookiecutter.package_name }}.live.memo import Memo
from {{ cookiecutter.package_name }}.live.shared_statics import share_statics
from {{ cookiecutter.package_name }}.live.testing import Rendered
from {{ cookiecutter.package_name }}.live.tree import forget_streams

import properties

if t.TYPE_CHECKING:
    from replay import Case, ReplayClient
{#- The templates below are test data: cookiecutter must copy them verbatim. #}
{%- raw %}

# The replay_client fixture; loaded as a plugin, so imported above for types only.
pytest_plugins = ["replay"]

Tree = dict[str, t.Any]
Context = dict[str, t.Any]

# -- contexts ----------------------------------------------------------------

PLAIN_TEXT = st.text("ab <>&\"'é", max_size=3) | st.sampled_from(
    ["undefined", "null", "<i>x</i>", "&amp;", "0"]
)
# The same text as str (escaped) and as Markup (not): equal, rendered differently.
TEXT = PLAIN_TEXT | PLAIN_TEXT.map(Markup)
# Equal numbers that render differently: 1 == True == 1.0, 0.0 == -0.0.
LOOKALIKES = st.sampled_from([1, True, 1.0, 0, False, 0.0, -0.0])
SCALAR = TEXT | st.integers(-2, 12) | LOOKALIKES
STRING = st.text("ab<&", max_size=4)  # looped over character by character
# Ids come from a small range so that duplicates (which disable keying) occur.
# Rows whose tags are a string hold scalars only: change tracking reuses them.
ROW_FIELDS = {
    "name": TEXT,
    "n": st.integers(0, 3) | LOOKALIKES,
    "tags": st.lists(TEXT, max_size=2) | STRING,
    "id": st.integers(0, 5) | st.sampled_from([1.0, True]),
}
ROW = st.fixed_dictionaries(
    {key: ROW_FIELDS[key] for key in ("name", "n", "tags")}, optional={"id": ROW_FIELDS["id"]}
)
CONTEXT = st.fixed_dictionaries(
    {
        "a": SCALAR,
        "b": SCALAR,
        "f": st.booleans(),
        "g": st.integers(0, 2),
        "rows": st.lists(ROW, max_size=5),
        "words": st.lists(SCALAR, max_size=4),
        "s": STRING,
        "grid": st.lists(st.lists(st.integers(0, 9), max_size=3), max_size=3),
    }
)
UNIQUE_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.integers(0, 20),
            "name": TEXT,
            "n": ROW_FIELDS["n"],
            "tags": ROW_FIELDS["tags"],
        }
    ),
    min_size=2,
    max_size=8,
    unique_by=lambda row: row["id"],
)


@st.composite
def edit_list(
    draw: st.DrawFn, items: list[t.Any], new_item: st.SearchStrategy[t.Any]
) -> list[t.Any]:
    """Reorder, insert into, delete from or replace an item of a list, as apps do."""
    items = list(items)
    op = draw(st.sampled_from(["permute", "insert", "delete", "replace", "swap"]))
    if op == "permute":
        return draw(st.permutations(items))
    if op == "insert":
        items.insert(draw(st.integers(0, len(items))), draw(new_item))
    elif items and op == "delete":
        del items[draw(st.integers(0, len(items) - 1))]
    elif items and op == "replace":
        items[draw(st.integers(0, len(items) - 1))] = draw(new_item)
    elif len(items) > 1:
        i, j = draw(st.lists(st.integers(0, len(items) - 1), min_size=2, max_size=2, unique=True))
        items[i], items[j] = items[j], items[i]
    return items


@st.composite
def edit_rows(draw: st.DrawFn, rows: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Edit the rows, or one field of a row: content, or id (dropped, changed, duplicated)."""
    if not rows or draw(st.booleans()):
        return draw(edit_list(rows, ROW))
    rows = list(rows)
    i = draw(st.integers(0, len(rows) - 1))
    row = rows[i] = dict(rows[i])
    field = draw(st.sampled_from(["name", "n", "tags", "id", "no id"]))
    if field == "no id":
        row.pop("id", None)
    else:
        row[field] = draw(ROW_FIELDS[field])
    return rows


# How each context key changes from one state to the next.
EDITS: dict[str, t.Callable[[t.Any], st.SearchStrategy[t.Any]]] = {
    "a": lambda _: SCALAR,
    "b": lambda _: SCALAR,
    "f": lambda f: st.just(not f),
    "g": lambda g: st.sampled_from([n for n in range(3) if n != g]),
    "s": lambda _: STRING,
    "rows": edit_rows,
    "words": lambda words: edit_list(words, SCALAR),
    "grid": lambda grid: edit_list(grid, st.lists(st.integers(0, 9), max_size=3)),
    "keys": lambda keys: edit_list(keys, st.integers(0, 6)),
}


@st.composite
def context_sequences(
    draw: st.DrawFn, first: st.SearchStrategy[Context] = CONTEXT
) -> list[Context]:
    """2 to 6 successive states of a view: each unchanged, unrelated, or with a few keys edited."""
    states = [draw(first)]
    for _ in range(draw(st.integers(1, 5))):
        ctx = copy.deepcopy(states[-1])
        op = draw(st.sampled_from(["edit", "edit", "edit", "same", "fresh"]))
        if op == "fresh":
            ctx = draw(first)
        elif op == "edit":
            # The flags that ``if`` tests mostly read are edited more often.
            keys = [*ctx, *(key for key in ("f", "g") if key in ctx)]
            for key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True)):
                ctx[key] = draw(EDITS[key](ctx[key]))
        states.append(ctx)
    return states


# -- templates ---------------------------------------------------------------

STATIC_TEXT = st.text("ab <>&\"'\n", min_size=1, max_size=4) | st.sampled_from(
    ["<li>", "</li>", '<td class="c">', "</td>", "<p>", " &amp; ", "<br>"]
)
FILTERS = ["", "", "|upper", "|safe", "|string|length", "|default('-')", "|stamp", "|twice"]


class Clock:
    """What the impure ``stamp`` filter and ``now()`` read: it moves when the view's state does.

    A row whose entry change tracking reused although it calls one of them
    would show the time of an earlier render.
    """

    def __init__(self) -> None:
        self.time = 0

    def stamp(self, value: t.Any) -> str:
        return f"{value}@{self.time}"

    def now(self) -> int:
        return self.time

    def follow(self, contexts: list[Context]) -> t.Iterator[Context]:
        """Each context, with the clock set as it was when a view rendered it."""
        for step, ctx in enumerate(contexts):
            if step and repr(ctx) != repr(contexts[step - 1]):
                self.time += 1
            yield ctx


@pure
def twice(value: t.Any) -> str:
    """A pure app filter: loops using it keep change tracking."""
    return f"{value}{value}"


def app_environment(environment: jinja2.Environment, clock: Clock) -> jinja2.Environment:
    """``environment`` with the app's filters and functions, pure and impure."""
    environment.filters.update(stamp=clock.stamp, twice=twice)
    environment.globals.update(now=clock.now, shout=pure(lambda value: f"{value}!"), js=js)
    return environment


@dataclass(frozen=True)
class Scope:
    """What a template fragment may refer to where it is generated."""

    loop_vars: tuple[tuple[str, str], ...] = ()  # (name, kind): row, word, line
    in_loop: bool = False
    include: bool = True
    macros: bool = False


def expressions(scope: Scope) -> list[str]:
    """What ``{{ }}`` may print here: context values, loop variables, ``loop`` counters.

    ``now()`` is an impure app function, ``shout()`` a pure one; ``js`` builds
    JS commands (JSON escaped for an attribute) from any value. The innermost
    loop's own row is the likeliest: a body reading nothing else keeps change
    tracking, so its entries are reused.
    """
    names = ["a", "b", "g", "words|length", "rows|length", "now()"]
    names.append("js.hide('#m').push('e', value={'a': a})")
    for depth, (name, kind) in enumerate(reversed(scope.loop_vars)):
        names += (
            [
                f"{name}.name",
                f"{name}.id|default('')",
                f"{name}.n",
                f"shout({name}.name)",
                f"js.dispatch('x', to={name}.name)",
            ]
            if kind == "row"
            else [name, f"shout({name})"]
        ) * (3 if depth == 0 else 1)
    if scope.in_loop:
        names += ["loop.index", "loop.revindex0"]
    return names


def conditions(scope: Scope) -> list[str]:
    """What ``{% if %}`` may test here; flipping any of them swaps a node's statics."""
    tests = ["f", "not f", "g == 1", "g > 0", "a", "words", "rows|length > 2"]
    for name, kind in scope.loop_vars:
        tests += [f"{name}.n > 1", f"{name}.id is defined"] if kind == "row" else [name]
    if scope.in_loop:
        tests += ["loop.first", "loop.index is even"]
    return tests


def iterables(scope: Scope) -> list[tuple[str, str]]:
    """Loop sources and the kind of their items: dict rows, scalars, characters, lists."""
    sources = [
        ("rows", "row"),
        ("rows|reverse", "row"),
        ("rows|sort(attribute='n')", "row"),
        ("words", "word"),
        ("s", "word"),
        ("range(g)", "word"),
        ("grid", "line"),
    ]
    for name, kind in scope.loop_vars:
        if kind == "row":
            sources.append((f"{name}.tags", "word"))  # a list, or a string's characters
        elif kind == "line":
            sources.append((name, "word"))
    return sources


@st.composite
def fragment(draw: st.DrawFn, scope: Scope, depth: int, single: bool = False) -> str:
    """A template fragment from the grammar, nesting at most ``depth`` levels.

    A ``single`` fragment is one dynamic part, without text, whose own nested
    fragments are single too. The branches of half the ``if`` tags are single:
    they then share their statics (``["", ""]``, all the way down) while
    holding different kinds of slot (a string, a node, a comprehension), the
    case where a differ that trusts equal statics goes wrong.
    """
    kinds = ["expr"] if single else ["expr", "text"]
    if depth > 0:
        # Filter and call blocks render to a string slot: no use in a single fragment.
        kinds += ["if", "if", "for", "for"] + (
            [] if single else ["filter"] + ["call"] * scope.macros
        )
    if scope.include:
        kinds.append("include")

    def nested(inner_scope: Scope) -> str:
        return draw(fragment(inner_scope, depth - 1, single))

    parts = []
    for _ in range(1 if single else draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(kinds))
        if kind == "text":
            parts.append(draw(STATIC_TEXT))
        elif kind == "expr":
            expr = draw(st.sampled_from(expressions(scope)))
            if scope.macros and draw(st.integers(0, 3)) == 0:
                expr = f"m({expr})"
            parts.append(f"{{{{ {expr}{draw(st.sampled_from(FILTERS))} }}}}")
        elif kind == "if":
            branch = fragment(scope, depth - 1, single or draw(st.booleans()))
            parts.append(f"{{% if {draw(st.sampled_from(conditions(scope)))} %}}{draw(branch)}")
            if draw(st.booleans()):
                parts.append(
                    f"{{% elif {draw(st.sampled_from(conditions(scope)))} %}}{draw(branch)}"
                )
            if draw(st.booleans()):
                parts.append(f"{{% else %}}{draw(branch)}")
            parts.append("{% endif %}")
        elif kind == "for":
            source, item_kind = draw(st.sampled_from(iterables(scope)))
            name = f"{item_kind[0]}{depth}"
            body = replace(scope, loop_vars=(*scope.loop_vars, (name, item_kind)), in_loop=True)
            parts.append(f"{{% for {name} in {source} %}}{nested(body)}")
            if draw(st.booleans()):
                parts.append(f"{{% else %}}{nested(scope)}")
            parts.append("{% endfor %}")
        elif kind == "filter":
            parts.append(f"{{% filter upper %}}{nested(scope)}{{% endfilter %}}")
        elif kind == "call":
            parts.append(f"{{% call box() %}}{nested(scope)}{{% endcall %}}")
        else:
            parts.append(draw(st.sampled_from(INCLUDES)))
    return "".join(parts)


INCLUDES = [
    '{% include "part.html" %}',
    '{% include ["nope.html", "part.html"] %}',
    '{% include "nope.html" ignore missing %}',
]
MACRO_IMPORT = '{% from "macros.html" import m, box with context %}'


@st.composite
def programs(draw: st.DrawFn) -> dict[str, str]:
    """The templates of a view: ``main.html``, plain, with a block, or extending ``base.html``.

    ``part.html`` is included, ``macros.html`` defines ``m(x)`` and the call
    block ``box()``; only the view's own template imports the macros.
    """
    top = Scope()
    body = draw(fragment(Scope(macros=True), 3))
    macro = draw(fragment(Scope(loop_vars=(("x", "word"),)), 1))
    templates = {
        "part.html": draw(fragment(replace(top, include=False), 1)),
        "macros.html": f"{{% macro m(x) %}}{macro}{{% endmacro %}}"
        "{% macro box() %}<b>{{ caller() }}</b>{% endmacro %}",
    }
    layout = draw(st.sampled_from(["plain", "block", "extends"]))
    if layout == "plain":
        templates["main.html"] = MACRO_IMPORT + body
    elif layout == "block":
        before, after = draw(fragment(top, 1)), draw(fragment(top, 1))
        templates["main.html"] = (
            f"{MACRO_IMPORT}{before}{{% block content %}}{body}{{% endblock %}}{after}"
        )
    else:
        head, content, foot = (draw(fragment(top, 1)) for _ in range(3))
        templates["base.html"] = (
            f"{head}{{% block content %}}{content}{{% endblock %}}"
            f"{{% block foot %}}{foot}{{% endblock %}}"
        )
        parent = "{{ super() }}" if draw(st.booleans()) else ""
        # Jinja renders what comes before {% extends %}, and nothing outside blocks after it.
        before, ignored = (draw(st.just("") | fragment(top, 1)) for _ in range(2))
        templates["main.html"] = (
            f'{before}{{% extends "base.html" %}}{MACRO_IMPORT}{ignored}'
            f"{{% block content %}}{body}{parent}{{% endblock %}}"
        )
    return templates


@st.composite
def branch_flips(draw: st.DrawFn) -> dict[str, str]:
    """An ``if``/``elif``/``else`` whose branches are single parts, maybe in a loop.

    Flipping between its branches swaps nodes of equal statics that hold a
    string, a node or a comprehension in the same slot.
    """
    scope = Scope()
    loop = draw(st.booleans())
    if loop:
        scope = Scope(loop_vars=(("r9", "row"),), in_loop=True)
    a, b, c = (draw(fragment(scope, 2, single=True)) for _ in range(3))
    source = f"{{% if f %}}{a}{{% elif g == 1 %}}{b}{{% else %}}{c}{{% endif %}}"
    if loop:
        source = f"{{% for r9 in rows %}}{source}{{% endfor %}}"
    return {"main.html": source, "part.html": draw(fragment(Scope(include=False), 1, single=True))}


# -- checking a view's life --------------------------------------------------


def collect_statics_resent(old: t.Any, diff: Tree, path: str = "") -> list[str]:
    """Paths where ``diff`` sends statics the client already holds at that place.

    The client merges an entry sent as ``[j, diff]`` into old entry ``j``, and
    one sent as an object into the entry at its own index (new past the old end).
    """
    found = []
    if "k" in diff:
        old_entries = old["k"]
        for index, entry in diff["k"].items():
            if isinstance(entry, list):
                found += collect_statics_resent(
                    old_entries[str(entry[0])], entry[1], f"{path}/k{index}"
                )
            elif isinstance(entry, dict) and int(index) < old_entries["kc"]:
                found += collect_statics_resent(old_entries[index], entry, f"{path}/k{index}")
        return found
    for key, value in diff.items():
        before = old.get(key) if isinstance(old, dict) else None
        if not isinstance(value, dict) or not isinstance(before, dict):
            continue
        if "s" not in value:
            found += collect_statics_resent(before, value, f"{path}/{key}")
        elif value["s"] == before["s"] and ("k" in value) == ("k" in before):
            found.append(f"{path}/{key}")
    return found


def check_life(
    client: ReplayClient, trees: list[Tree], contexts: list[Context], expected: list[str]
) -> list[Tree]:
    """Replay a view's states through the client; assert every step renders ``expected``.

    Each life is replayed twice: as ``diff_tree`` computes it, and as the
    channel sends it, with repeated statics moved to ``"p"`` by
    ``share_statics``; both through the official client and through the test
    client's port of its merge (``Rendered``). Returns the diffs, for tests
    that look at them.
    """
    diffs = [diff_tree(old, new) for old, new in itertools.pairwise(trees)]
    for step, ctx in enumerate(contexts[1:], 1):
        where = f"step {step}: {json.dumps(diffs[step - 1])}"
        if repr(ctx) == repr(contexts[step - 1]):  # Markup("x") == "x", True == 1
            assert diffs[step - 1] == {}, where
        assert collect_statics_resent(trees[step - 1], diffs[step - 1]) == [], where
    for step, (tree, html) in enumerate(zip(trees, expected, strict=True)):
        assert to_html(tree) == html, f"step {step}"
    cases: list[Case] = [
        {"join": trees[0], "diffs": diffs, "fulls": trees},
        {
            "join": share_statics(trees[0]),
            "diffs": [share_statics(diff) for diff in diffs],
            "fulls": [share_statics(tree) for tree in trees],
        },
    ]
    for case in cases:
        assert ported_merge(case) == expected, f"case: {json.dumps(case)}"
    for case, result in zip(cases, client.replay(cases), strict=True):
        assert result["error"] is None, (
            f"the client threw: {result['error']}\ncase: {json.dumps(case)}"
        )
        assert result["fulls"] is not None
        for step, (ctx, html, merged, fresh) in enumerate(
            zip(contexts, expected, result["html"], result["fulls"], strict=True)
        ):
            where = f"step {step}, case: {json.dumps(case)}"
            assert "undefined" not in merged or "undefined" in json.dumps(ctx), where
            assert merged == fresh, where
            assert fresh == html, where
    return diffs


def ported_merge(case: Case) -> list[str]:
    """The HTML the test client's ``Rendered`` holds after the join and each diff of ``case``."""
    wire = json.loads(json.dumps(case))  # as received; merging changes what it is given
    rendered = Rendered(Rendered.extract(wire["join"]).diff)
    html = [rendered.html]
    for diff in wire["diffs"]:
        rendered.merge(Rendered.extract(diff).diff)
        html.append(rendered.html)
    return html


def reused_entries(old: t.Any, new: t.Any) -> int:
    """How many comprehension entries of ``new`` are entries of ``old`` (change tracking)."""
    seen: set[int] = set()

    def entries(node: t.Any) -> t.Iterator[t.Any]:
        if isinstance(node, dict):
            keyed = node.get("k")
            if isinstance(keyed, dict):
                for index in range(keyed["kc"]):
                    yield keyed[str(index)]
            for value in node.values():
                yield from entries(value)

    seen.update(map(id, entries(old)))
    return sum(id(entry) in seen for entry in entries(new))


def check_source(client: ReplayClient, source: str, contexts: list[Context]) -> list[Tree]:
    """``check_life`` for a single template source rendered by ``render_tree``.

    Rendered as a view renders (one ``Memo`` across the life, so unchanged
    rows are reused), and checked equal to renders without one.
    """
    plain = jinja2.Environment(autoescape=True).from_string(source)
    memo = Memo()
    trees = [render_tree(source, ctx, memo) for ctx in contexts]
    assert trees == [render_tree(source, ctx) for ctx in contexts]
    return check_life(client, trees, contexts, [plain.render(ctx) for ctx in contexts])


def check_program(
    client: ReplayClient, templates: dict[str, str], contexts: list[Context]
) -> list[Tree]:
    """``check_life`` for ``main.html`` of ``templates``, loaded by a ``DictLoader``.

    Every state is rendered three ways at its time on the app's clock: with
    the view's ``Memo``, without one, and by plain Jinja2. Returns the trees.
    """
    clock = Clock()
    loader = jinja2.DictLoader(templates)
    live = app_environment(LiveEnvironment(loader=loader), clock).get_template("main.html")
    plain = app_environment(jinja2.Environment(autoescape=True, loader=loader), clock)
    memo = Memo()
    trees, expected = [], []
    for ctx in clock.follow(contexts):
        trees.append(render_template(live, ctx, memo))
        assert trees[-1] == render_template(live, ctx), f"at {clock.time}"
        expected.append(plain.get_template("main.html").render(ctx))
    check_life(client, trees, contexts, expected)
    return trees


def count_reuse(trees: list[Tree]) -> None:
    """Report how many lives reused entries (``pytest --hypothesis-show-statistics``)."""
    event(f"entries reused: {sum(map(reused_entries, trees, trees[1:])) > 0}")


# -- properties --------------------------------------------------------------

@properties.examples(40)
@given(templates=programs(), contexts=context_sequences())
def test_random_templates_replay_like_fresh_renders(
    replay_client: ReplayClient, templates: dict[str, str], contexts: list[Context]
) -> None:
    count_reuse(check_program(replay_client, templates, contexts))


@properties.examples(20)
@given(templates=branch_flips(), contexts=context_sequences())
def test_branch_flips_replay_like_fresh_renders(
    replay_client: ReplayClient, templates: dict[str, str], contexts: list[Context]
) -> None:
    count_reuse(check_program(replay_client, templates, contexts))


KEYED_TABLE = (
    "<table>{% for r in rows %}"
    '<tr id="r{{ r.id|default("") }}"><td>{{ r.name }}</td>'
    '{% if r.n > 1 %}<td>{{ r.n }}</td>{% else %}<td class="low">{{ r.n }}</td>{% endif %}'
    "{% for t in r.tags %}<i>{{ t }}</i>{% endfor %}</tr>"
    "{% else %}<tr><td>none</td></tr>{% endfor %}</table>"
)


def table_row(id: int, name: str) -> dict[str, t.Any]:
    """A row of scalars (no tags, as a string), which change tracking may reuse."""
    return {"id": id, "name": name, "n": 0, "tags": ""}


@properties.examples(30)
@given(contexts=context_sequences(st.fixed_dictionaries({"rows": UNIQUE_ROWS})))
# A new key given twice: keys must not match entries (the client would show b, X, X).
@example(
    [
        {"rows": [table_row(1, "b"), table_row(2, "X"), table_row(3, "a")]},
        {"rows": [table_row(1, "b"), table_row(2, "X"), table_row(2, "a")]},
    ]
)
# The same entry reused by two equal rows, then one of them changed.
@example(
    [
        {"rows": [table_row(1, "a"), table_row(1, "a")]},
        {"rows": [table_row(1, "a"), table_row(1, "a")]},
        {"rows": [table_row(1, "a"), table_row(1, "b")]},
    ]
)
# str, then Markup of the same text, and back: the row is rendered again each time.
@example(
    [
        {"rows": [table_row(1, "<b>x</b>")]},
        {"rows": [table_row(1, Markup("<b>x</b>"))]},
        {"rows": [table_row(1, "<b>x</b>")]},
    ]
)
def test_keyed_rows_move_insert_delete(
    replay_client: ReplayClient, contexts: list[Context]
) -> None:
    """Rows keyed by id reorder, appear, vanish, change and lose or share ids."""
    check_source(replay_client, KEYED_TABLE, contexts)


# -- streams -----------------------------------------------------------------

STREAM_LIST = (
    '<ul id="s" phx-update="stream">{% for dom_id, row in rows %}'
    '<li id="{{ dom_id }}">{{ row.name }}</li>{% endfor %}</ul>'
)
SHOWN_LIST = (  # what the browser shows: every row kept, as a plain list
    '<ul id="s" phx-update="stream">{% for row in rows %}'
    '<li id="rows-{{ row.id }}">{{ row.name }}</li>{% endfor %}</ul>'
)
LIST_ROW = re.compile(r'<li id="([^"]*)">.*?</li>', re.DOTALL)
STREAM_ID = st.integers(0, 5)
STREAM_CALL = st.one_of(
    st.tuples(
        st.just("insert"),
        STREAM_ID,
        TEXT,
        st.sampled_from([-1, -1, 0, 1, 3]),  # at
        st.sampled_from([None, None, 2, -2, 4]),  # limit
        st.booleans(),  # update_only
    ),
    st.tuples(st.just("delete"), STREAM_ID),
    st.tuples(st.just("reset"), st.lists(STREAM_ID, max_size=3, unique=True)),
)
Kept = list[tuple[str, t.Any]]


def browser_keeps(kept: Kept, operations: list[list[t.Any]], rows: dict[str, t.Any]) -> None:
    """What ``dom_patch`` does with one render's stream ``operations`` and its new ``rows``.

    A reset drops every row, deletes go, then each insert in turn updates its
    row in place when shown, else (unless update-only) goes in at ``at`` and
    trims the list to its ``limit``.
    """
    for _, inserts, deletes, *reset in operations:
        if reset:
            kept.clear()
        kept[:] = [row for row in kept if row[0] not in deletes]
        for dom_id, at, limit, *update_only in inserts:
            shown = [i for i, (key, _) in enumerate(kept) if key == dom_id]
            if shown:
                kept[shown[0]] = (dom_id, rows[dom_id])
            elif not update_only:
                kept.insert(len(kept) if at == -1 else at, (dom_id, rows[dom_id]))
                if limit is not None and limit >= 0:
                    del kept[limit:]
                elif limit is not None:
                    del kept[: max(0, len(kept) + limit)]


def stream_calls(stream: Stream[dict[str, t.Any]], calls: list[tuple[t.Any, ...]]) -> list[t.Any]:
    """Make ``calls`` on ``stream``; the operations they ask for, as the wire says them.

    An id inserted twice by one render would be two elements with one id:
    the second insert is left out, as an app must.
    """
    operations: list[t.Any] = [[], [], False]  # inserts, deletes, reset
    inserted: set[int] = set()
    for name, *args in calls:
        if name == "insert" and args[0] not in inserted:
            row_id, text, at, limit, update_only = args
            stream.insert({"id": row_id, "name": text}, at=at, limit=limit, update_only=update_only)
            operations[0].append([f"rows-{row_id}", at, limit, *([True] * update_only)])
            inserted.add(row_id)
        elif name == "delete":
            stream.delete({"id": args[0]})
            operations[1].append(f"rows-{args[0]}")
        elif name == "reset":
            stream.reset([{"id": row_id, "name": f"r{row_id}"} for row_id in args[0]])
            operations = [[[f"rows-{row_id}", -1, None] for row_id in args[0]], operations[1], True]
            inserted = set(args[0])
    return operations


@properties.examples(40)
@given(
    first=st.lists(STREAM_ID, max_size=4, unique=True),
    steps=st.lists(st.lists(STREAM_CALL, max_size=4), min_size=1, max_size=5),
)
def test_streams_keep_what_their_operations_describe(
    replay_client: ReplayClient, first: list[int], steps: list[list[tuple[t.Any, ...]]]
) -> None:
    """Each render's stream rows and operations, kept as the browser keeps them, show the list."""
    template = LiveEnvironment().from_string(STREAM_LIST)
    shown = jinja2.Environment(autoescape=True).from_string(SHOWN_LIST)
    stream = Stream([{"id": row_id, "name": f"r{row_id}"} for row_id in first], name="rows")
    wanted: list[list[t.Any]] = [[[[f"rows-{i}", -1, None] for i in first], [], False]]
    memo, expected = Memo(), []
    model: Kept = []
    rows = {f"rows-{row_id}": {"id": row_id, "name": f"r{row_id}"} for row_id in first}
    trees, diffs = [render_template(template, {"rows": stream}, memo)], []
    join = json.loads(json.dumps(trees[0]))  # as sent: the server then forgets its rows
    forget_streams(trees[0])
    for step in range(len(steps) + 1):
        if step:
            wanted.append(stream_calls(stream, steps[step - 1]))
            rows.update({f"rows-{row['id']}": row for _, row in stream})
            trees.append(render_template(template, {"rows": stream}, memo))
            diffs.append(json.loads(json.dumps(diff_tree(trees[-2], trees[-1]))))
            forget_streams(trees[-1])
        inserts, deletes, reset = wanted[step]
        operations = [["rows", inserts, deletes, *([True] * reset)]]
        browser_keeps(model, operations if inserts or deletes or reset else [], rows)
        expected.append(shown.render(rows=[row for _, row in model]))
    shared = [share_statics(diff) for diff in diffs]
    cases: list[Case] = [
        {"join": join, "diffs": diffs},
        {"join": share_statics(join), "diffs": shared},
    ]
    for case in cases:
        assert ported_merge(case) == expected, f"case: {json.dumps(case)}"
        (result,) = replay_client.replay([case])
        assert result["error"] is None, f"the client threw: {result['error']}"
        kept: Kept = []
        renders = zip(result["html"], result["streams"], strict=True)
        for step, (html, operations) in enumerate(renders):
            new_rows = {found[1]: found[0] for found in LIST_ROW.finditer(html)}
            browser_keeps(kept, operations, new_rows)
            merged = '<ul id="s" phx-update="stream">' + "".join(row for _, row in kept) + "</ul>"
            assert merged == expected[step], f"step {step}, case: {json.dumps(case)}"


# -- deterministic checks ----------------------------------------------------


def test_one_changed_row_of_a_thousand_is_a_small_diff(replay_client: ReplayClient) -> None:
    """A diff carries what changed, not the table: keyed rows that stayed put are left out."""
    rows = [{"id": i, "name": f"row-{i}", "n": i % 3, "tags": []} for i in range(1000)]
    changed = copy.deepcopy(rows)
    changed[500]["name"] = "changed"
    (diff,) = check_source(replay_client, KEYED_TABLE, [{"rows": rows}, {"rows": changed}])
    wire = json.dumps(diff)
    assert len(wire) < 300, wire
    assert "row-" not in wire and "changed" in wire


def test_if_else_flip_sends_the_whole_node(replay_client: ReplayClient) -> None:
    """The client replaces a node that carries statics; a missing slot would render undefined."""
    source = "<p>{% if f %}<b>{{ a }}</b>{% else %}<i>{{ a }}</i>{% endif %}</p>"
    (diff,) = check_source(replay_client, source, [{"f": True, "a": "x"}, {"f": False, "a": "x"}])
    assert diff == {"0": {"s": ["<i>", "</i>"], "0": "x"}}


def test_moving_keyed_rows_sends_km_and_old_positions(replay_client: ReplayClient) -> None:
    """Moved rows travel as their old index, never as content; the client needs ``km`` for that."""
    rows = [{"id": i, "name": f"n{i}", "n": 0, "tags": []} for i in range(3)]
    (diff,) = check_source(
        replay_client, KEYED_TABLE, [{"rows": rows}, {"rows": [rows[2], rows[0], rows[1]]}]
    )
    assert diff == {"0": {"k": {"0": 2, "1": 0, "2": 1, "kc": 3, "km": True}}}


def test_unchanged_statics_are_never_resent(replay_client: ReplayClient) -> None:
    """Values change and rows move, but no branch flips: no diff may carry statics."""

    def walk(node: t.Any) -> t.Iterator[str]:
        if isinstance(node, dict):
            yield from node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    source = (
        "<div>{% if f %}<b>{{ a }}</b>{% endif %}"
        "{% for w in words %}<i>{{ w }}{% if w %}<u>{{ w + a }}</u>{% endif %}</i>{% endfor %}"
        "{{ b }}</div>"
    )
    contexts = [
        {"f": True, "a": 1, "b": "x", "words": [1, 2, 3]},
        {"f": True, "a": 2, "b": "y", "words": [1, 2, 3]},
        {"f": True, "a": 3, "b": "y", "words": [3, 1, 2]},
    ]
    for diff in check_source(replay_client, source, contexts):
        assert "s" not in set(walk(diff)), diff


def test_branches_with_equal_statics_but_a_loop_in_one(replay_client: ReplayClient) -> None:
    """Equal statics do not make a comprehension and a plain node the same node."""
    source = (
        "{% if f %}{% for w in words %}{{ w }}{% endfor %}"
        "{% else %}{% if g %}{{ a }}{% endif %}{% endif %}"
    )
    contexts = [{"f": f, "g": True, "a": "A", "words": [1, 2]} for f in (False, True, False)]
    check_source(replay_client, source, contexts)


def test_output_before_extends_is_rendered(replay_client: ReplayClient) -> None:
    """Jinja renders what precedes ``{% extends %}``; the child then wraps its parent's output."""
    templates = {
        "base.html": "<b>{% block x %}{{ a }}{% endblock %}</b>",
        "main.html": "{{ a }}\n{% extends 'base.html' %}",
    }
    check_program(replay_client, templates, [{"a": 1}, {"a": 2}])


# -- components --------------------------------------------------------------


class Box(LiveComponent[dict[str, t.Any]]):
    """Renders ``box.html`` with the parent's assigns as its state."""

    template_name = "box.html"

    async def update(
        self, socket: ComponentSocket[dict[str, t.Any]], assigns: dict[str, t.Any]
    ) -> None:
        socket.context = assigns


class Card(Box):
    template_name = "card.html"


ASSIGNS = "a=a, b=b, f=f, g=g, rows=rows, words=words, s=s, grid=grid"
SWAPPED = "a=b, b=a, f=not f, g=g, rows=rows|reverse|list, words=words, s=s, grid=grid"
# Boxes keyed by ``keys`` (moved, added, removed: destroyed and made again), a card
# shown while ``f``; each instance shares its statics with another of its template.
COMPONENTS_MAIN = (
    "<main>{% for k in keys %}{{ live_component(Box, id=k, " + ASSIGNS + ") }}{% endfor %}"
    "{{ a }}{% if f %}{{ live_component(Card, id=0, " + SWAPPED + ") }}"
    "{{ live_component(Box, id='swapped', " + SWAPPED + ") }}{% endif %}</main>"
)
COMPONENT_CONTEXT = st.fixed_dictionaries(
    {"keys": st.lists(st.integers(0, 6), max_size=4, unique=True)}
).flatmap(lambda keys: CONTEXT.map(lambda ctx: {**ctx, **keys}))
# What the client adds to a component's root element.
CLIENT_ATTRIBUTES = re.compile(r' data-phx-(?:id|component|view)="[^"]*"')


@st.composite
def component_programs(draw: st.DrawFn) -> dict[str, str]:
    """The view's template renders components whose templates are random fragments."""
    scope = Scope(include=False)
    return {
        "main.html": COMPONENTS_MAIN,
        "box.html": f"<div class='box'>{draw(fragment(scope, 2))}</div>",
        "card.html": f"\n<p>{draw(fragment(scope, 2))}</p>",
    }


def plain_component(environment: jinja2.Environment) -> t.Callable[..., Markup]:
    """``live_component`` for plain Jinja2: the component's template, rendered in place."""

    def live_component(component: type[Box], id: t.Any, **assigns: t.Any) -> Markup:
        return Markup(environment.get_template(component.template_name).render(assigns))

    return live_component


async def component_life(templates: dict[str, str], contexts: list[Context]) -> Case:
    """A view's life as the channel sends it; the client destroys what it stops showing."""
    live = app_environment(LiveEnvironment(loader=jinja2.DictLoader(templates)), Clock())
    live.globals.update(Box=Box, Card=Card)
    manager, memo = ComponentsManager(t.cast(t.Any, None)), Memo()
    main = live.get_template("main.html")
    messages, prunes, previous = [], [], None
    for ctx in contexts:
        tree = await manager.render(live, main, ctx, memo)
        message = share_statics(tree if previous is None else diff_tree(previous, tree))
        changes = manager.changes()
        if changes:
            message["c"] = changes
        messages.append(message)
        gone = sorted(set(manager.get_all_cids()) - manager.get_seen_cids())
        manager.will_destroy(gone)
        prunes.append(manager.destroyed(gone))
        previous = tree
    return {"join": messages[0], "diffs": messages[1:], "prunes": prunes[:-1]}


def ported_component_merge(case: Case) -> list[str]:
    """``ported_merge``, pruning as the client does."""
    wire = json.loads(json.dumps(case))
    rendered = Rendered(Rendered.extract(wire["join"]).diff)
    html = [rendered.html]
    for diff, pruned in zip(wire["diffs"], wire["prunes"], strict=True):
        rendered.prune(pruned)
        rendered.merge(Rendered.extract(diff).diff)
        html.append(rendered.html)
    return html


def check_component_life(
    client: ReplayClient, templates: dict[str, str], contexts: list[Context]
) -> Case:
    """Every step of the life, merged by the client and by its port, is what Jinja renders.

    The clock stands still: a component renders again only when its assigns
    change, so one showing the time would show the time of its last render.
    """
    loader = jinja2.DictLoader(templates)
    plain = app_environment(jinja2.Environment(autoescape=True, loader=loader), Clock())
    plain.globals.update(live_component=plain_component(plain), Box=Box, Card=Card)
    expected = [plain.get_template("main.html").render(ctx) for ctx in contexts]
    case = asyncio.run(component_life(templates, contexts))
    ported = [CLIENT_ATTRIBUTES.sub("", html) for html in ported_component_merge(case)]
    assert ported == expected, f"case: {json.dumps(case)}"
    (result,) = client.replay([case])
    assert result["error"] is None, f"the client threw: {result['error']}\ncase: {json.dumps(case)}"
    for step, (html, merged) in enumerate(zip(expected, result["html"], strict=True)):
        assert CLIENT_ATTRIBUTES.sub("", merged) == html, f"step {step}, case: {json.dumps(case)}"
    return case


@properties.examples(30)
@given(templates=component_programs(), contexts=context_sequences(COMPONENT_CONTEXT))
def test_components_replay_like_fresh_renders(
    replay_client: ReplayClient, templates: dict[str, str], contexts: list[Context]
) -> None:
    # Edits may repeat a key; ids are unique in a render (a repeat is refused, as in Phoenix).
    unique = [{**ctx, "keys": list(dict.fromkeys(ctx["keys"]))} for ctx in contexts]
    check_component_life(replay_client, templates, unique)


def test_components_share_statics_and_unchanged_ones_send_nothing(
    replay_client: ReplayClient,
) -> None:
    templates = {"main.html": COMPONENTS_MAIN, "box.html": "<i>{{ a }}</i>", "card.html": "<p></p>"}
    base = {"a": 1, "b": 2, "f": False, "g": 0, "rows": [], "words": [], "s": "", "grid": []}
    contexts = [
        {**base, "keys": [1, 2]},
        {**base, "keys": [1, 2, 3]},  # a new box: the statics of one the client has
        {**base, "keys": [2, 3]},  # the first box goes: destroyed, then pruned
        {**base, "keys": [2, 3], "b": 3},  # nothing a box sees changed
        # Box 1 again, a new component, as boxes 2 and 3 change: it takes the statics
        # the client has for box 2.
        {**base, "keys": [2, 3, 1]},
    ]
    case = check_component_life(replay_client, templates, contexts)
    assert case["join"]["c"] == {
        "1": {"s": ["<i>", "</i>"], "0": "1", "r": 1},
        "2": {"s": 1, "0": "1", "r": 1},
    }
    assert case["diffs"][0]["c"] == {"3": {"s": -1, "0": "1", "r": 1}}
    assert case["prunes"] == [[], [], [1], []]
    assert "c" not in case["diffs"][2]
    assert case["diffs"][3]["c"] == {"4": {"s": -2, "0": "1", "r": 1}}
{%- endraw %}

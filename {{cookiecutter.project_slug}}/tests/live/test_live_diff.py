"""Minimal diffs between rendered trees (PROTOCOL.md section c, "Merge rules").

Each diff is compared with a literal expected dict, and merged with the test
client's port of the client's merge rules (``Rendered``, from ``rendered.js``)
to check that it turns the old tree into the new one.
"""

from __future__ import annotations

import json
import typing as t

import jinja2

from {{ cookiecutter.package_name }}.live.diff import diff_tree
from {{ cookiecutter.package_name }}.live.template import LiveEnvironment, render_template
from {{ cookiecutter.package_name }}.live.testing import Rendered
from {{ cookiecutter.package_name }}.live.tree import to_html
{#- The templates below are test data: cookiecutter must copy them verbatim. #}
{%- raw %}

Tree = dict[str, t.Any]

ENV = LiveEnvironment()
ROWS = ENV.from_string(
    '<ul>{% for r in rows %}<li id="{{ r.id }}">{{ r.name }}</li>{% endfor %}</ul>'
)
WORDS = ENV.from_string("{% for w in words %}<b>{{ w }}</b>{% endfor %}")


def render(template: t.Any, **context: t.Any) -> Tree:
    return render_template(template, context)


def wire(tree: Tree) -> Tree:
    """``tree`` as the client receives it: JSON."""
    return t.cast(Tree, json.loads(json.dumps(tree)))


def assert_diff(old: Tree, new: Tree, expected: Tree) -> Tree:
    """Assert the diff, and that the client, merging it into ``old``, holds ``new``."""
    diff = diff_tree(old, new)
    assert diff == expected
    client = Rendered(wire(old))
    client.merge(wire(diff))
    assert client.html == to_html(new)
    assert client.tree == wire(new)
    return diff


def statics_keys(diff: t.Any) -> int:
    """How many ``"s"`` keys a diff carries, anywhere."""
    if isinstance(diff, dict):
        return ("s" in diff) + sum(statics_keys(value) for value in diff.values())
    if isinstance(diff, list):
        return sum(statics_keys(value) for value in diff)
    return 0


def rows(*names: str, start: int = 0) -> list[dict[str, t.Any]]:
    return [{"id": start + i, "name": name} for i, name in enumerate(names)]


# -- nodes ---------------------------------------------------------------------


def test_no_change_is_empty() -> None:
    template = ENV.from_string(
        "<p>{{ a }}</p>{% if f %}{{ b }}{% endif %}{% for x in xs %}{{ x }}{% endfor %}"
    )
    context = {"a": 1, "b": "<", "f": True, "xs": [1, 2]}
    assert_diff(render(template, **context), render(template, **context), {})


def test_one_slot_changes() -> None:
    template = ENV.from_string("<p>{{ a }}</p><p>{{ b }}</p><p>{{ c }}</p>")
    assert_diff(
        render(template, a=1, b=2, c=3), render(template, a=1, b="<2>", c=3), {"1": "&lt;2&gt;"}
    )


def test_slot_inside_an_unchanged_branch() -> None:
    template = ENV.from_string("<div>{% if f %}<a>{{ x }}</a>{{ y }}{% endif %}</div>")
    assert_diff(render(template, f=1, x=1, y=1), render(template, f=1, x=2, y=1), {"0": {"0": "2"}})


def test_if_else_flip_sends_the_whole_new_node() -> None:
    template = ENV.from_string("{% if f %}<a>{{ x }}</a>{% else %}<b>{{ x }}</b>{{ y }}{% endif %}")
    old, new = render(template, f=True, x=1, y=2), render(template, f=False, x=1, y=2)
    assert_diff(old, new, {"0": {"s": ["<b>", "</b>", ""], "0": "1", "1": "2"}})
    assert_diff(new, old, {"0": {"s": ["<a>", "</a>"], "0": "1"}})


def test_elif_flip() -> None:
    template = ENV.from_string("{% if a %}A{% elif b %}B{{ b }}{% else %}C{% endif %}")
    a, b = render(template, a=1, b=0), render(template, a=0, b=5)
    neither = render(template, a=0, b=0)
    assert_diff(a, b, {"0": {"s": ["B", ""], "0": "5"}})
    assert_diff(b, neither, {"0": {"s": ["C"]}})


def test_node_becomes_empty_and_back() -> None:
    template = ENV.from_string("x{% if f %}<a>{{ v }}</a>{% endif %}y")
    shown, hidden = render(template, f=True, v="<"), render(template, f=False, v="<")
    assert_diff(shown, hidden, {"0": ""})
    assert_diff(hidden, shown, {"0": {"s": ["<a>", "</a>"], "0": "&lt;"}})


def test_for_else_flip() -> None:
    template = ENV.from_string("{% for x in xs %}{{ x }}{% else %}<p>empty</p>{% endfor %}")
    full, empty = render(template, xs=[1]), render(template, xs=[])
    assert_diff(full, empty, {"0": {"k": {"kc": 0}}, "1": {"s": ["<p>empty</p>"]}})
    assert_diff(empty, full, {"0": {"k": {"0": {"0": "1"}, "kc": 1}}, "1": ""})


def test_include_switching_template_sends_new_statics() -> None:
    loader = {"a.html": "<a>{{ x }}</a>", "b.html": "<b>{{ x }}</b>"}
    template = LiveEnvironment(loader=jinja2.DictLoader(loader)).from_string("{% include name %}")
    a, b = render(template, name="a.html", x=1), render(template, name="b.html", x=1)
    assert_diff(a, b, {"0": {"s": ["<b>", "</b>"], "0": "1"}})
    assert_diff(a, render(template, name="a.html", x=2), {"0": {"0": "2"}})


def test_branches_with_equal_statics_but_different_shapes() -> None:
    # Both if-branches have statics ["", ""], but one holds a comprehension and
    # the other a plain node whose statics equal the comprehension's.
    template = ENV.from_string(
        "{% if f %}{% for x in xs %}<i>{{ x }}</i>{% endfor %}"
        "{% else %}{% if y %}<i>{{ y }}</i>{% endif %}{% endif %}"
    )
    loop, node = render(template, f=True, xs=[1, 2]), render(template, f=False, y="Y")
    assert_diff(loop, node, {"0": {"0": {"s": ["<i>", "</i>"], "0": "Y"}}})
    assert_diff(
        node,
        loop,
        {"0": {"0": {"s": ["<i>", "</i>"], "k": {"0": {"0": "1"}, "1": {"0": "2"}, "kc": 2}}}},
    )


def test_unchanged_statics_are_never_resent() -> None:
    template = ENV.from_string(
        "<h1>{{ title }}</h1>{% if f %}<p>{{ a }}</p>{% endif %}"
        "{% for r in rows %}<li>{{ r.name }}"
        "{% for t in r.tags %}<t>{{ t }}</t>{% endfor %}</li>{% endfor %}"
    )
    old = render(template, title="a", f=True, a=1, rows=[{"id": 1, "name": "x", "tags": ["p"]}])
    new = render(
        template, title="b", f=True, a=2, rows=[{"id": 1, "name": "y", "tags": ["p", "q"]}]
    )
    diff = assert_diff(
        old,
        new,
        {
            "0": "b",
            "1": {"0": "2"},
            "2": {"k": {"0": {"0": "y", "1": {"k": {"1": {"0": "q"}, "kc": 2}}}, "kc": 1}},
        },
    )
    assert statics_keys(diff) == 0


def test_a_template_reload_sends_the_new_statics() -> None:
    old = render(ENV.from_string("<p>{{ a }}</p>{% if f %}<b>{{ a }}</b>{% endif %}"), a=1, f=True)
    edited = ENV.from_string("<p class='x'>{{ a }}</p>{% if f %}<b>{{ a }}</b>{% endif %}")
    new = render(edited, a=1, f=True)
    statics = ["<p class='x'>", "</p>", ""]
    assert_diff(old, new, {"s": statics, "0": "1", "1": {"s": ["<b>", "</b>"], "0": "1"}})
    same_source = ENV.from_string("<p class='x'>{{ a }}</p>{% if f %}<b>{{ a }}</b>{% endif %}")
    assert_diff(new, render(same_source, a=2, f=True), {"0": "2", "1": {"0": "2"}})


def test_title_and_events_are_not_the_differs_job() -> None:
    template = ENV.from_string("<p>{{ a }}</p>")
    diff = diff_tree(render(template, a=1), render(template, a=2))
    assert diff == {"0": "2"}
    assert not {"t", "e", "r"} & diff.keys()


def test_diff_of_json_round_tripped_trees() -> None:
    # Trees held as plain JSON (no identity, no entry keys) still diff by value and position.
    template = ENV.from_string("<p>{{ a }}</p>{% for r in rows %}{{ r.name }}{% endfor %}")
    old = json.loads(json.dumps(render(template, a=1, rows=rows("a", "b"))))
    new = render(template, a=1, rows=rows("b", "c", start=1))
    expected = {"1": {"k": {"0": {"0": "b"}, "1": {"0": "c"}, "kc": 2}}}
    assert_diff(old, new, expected)
    assert_diff(old, json.loads(json.dumps(new)), expected)


# -- comprehensions ------------------------------------------------------------


def test_one_changed_row_of_a_thousand() -> None:
    names = [f"row {i}" for i in range(1000)]
    old = render(ROWS, rows=rows(*names))
    names[500] = "changed"
    new = render(ROWS, rows=rows(*names))
    diff = assert_diff(old, new, {"0": {"k": {"500": {"1": "changed"}, "kc": 1000}}})
    assert len(json.dumps(diff)) < 300


def test_one_changed_unkeyed_row_of_a_thousand() -> None:
    template = ENV.from_string("{% for r in rows %}<li>{{ r.n }}</li>{% endfor %}")
    items = [{"n": i} for i in range(1000)]
    old = render(template, rows=items)
    items[500] = {"n": -1}
    diff = assert_diff(
        old, render(template, rows=items), {"0": {"k": {"500": {"0": "-1"}, "kc": 1000}}}
    )
    assert len(json.dumps(diff)) < 300


def test_append_sends_the_new_entry_and_kc() -> None:
    old = render(ROWS, rows=rows("a", "b"))
    new = render(ROWS, rows=rows("a", "b", "c"))
    assert_diff(old, new, {"0": {"k": {"2": {"0": "2", "1": "c"}, "kc": 3}}})


def test_append_to_an_empty_loop() -> None:
    assert_diff(
        render(ROWS, rows=[]),
        render(ROWS, rows=rows("a")),
        {"0": {"k": {"0": {"0": "0", "1": "a"}, "kc": 1}}},
    )


def test_delete_last_sends_only_kc() -> None:
    assert_diff(
        render(ROWS, rows=rows("a", "b", "c")),
        render(ROWS, rows=rows("a", "b")),
        {"0": {"k": {"kc": 2}}},
    )
    assert_diff(render(ROWS, rows=rows("a")), render(ROWS, rows=[]), {"0": {"k": {"kc": 0}}})


def test_keyed_insert_at_top_moves_old_entries() -> None:
    before = rows("a", "b", "c", start=1)
    after = [{"id": 9, "name": "new"}, *before]
    assert_diff(
        render(ROWS, rows=before),
        render(ROWS, rows=after),
        {"0": {"k": {"0": {"0": "9", "1": "new"}, "1": 0, "2": 1, "3": 2, "kc": 4, "km": True}}},
    )


def test_keyed_delete_first() -> None:
    before = rows("a", "b", "c")
    assert_diff(
        render(ROWS, rows=before),
        render(ROWS, rows=before[1:]),
        {"0": {"k": {"0": 1, "1": 2, "kc": 2, "km": True}}},
    )


def test_keyed_move_and_change() -> None:
    a, b, c = rows("a", "b", "c")
    assert_diff(
        render(ROWS, rows=[a, b, c]),
        render(ROWS, rows=[{**b, "name": "B"}, a, c]),
        {"0": {"k": {"0": [1, {"1": "B"}], "1": 0, "kc": 3, "km": True}}},
    )


def test_keyed_objects_with_an_id_attribute() -> None:
    class Item:
        def __init__(self, id: int, name: str) -> None:
            self.id, self.name = id, name

    x, y = Item(1, "x"), Item(2, "y")
    assert_diff(
        render(ROWS, rows=[x, y]),
        render(ROWS, rows=[y, x]),
        {"0": {"k": {"0": 1, "1": 0, "kc": 2, "km": True}}},
    )


def test_duplicate_ids_fall_back_to_positions() -> None:
    before = [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]
    assert_diff(
        render(ROWS, rows=before),
        render(ROWS, rows=before[::-1]),
        {"0": {"k": {"0": {"1": "b"}, "1": {"1": "a"}, "kc": 2}}},
    )


def test_duplicate_new_ids_fall_back_to_positions() -> None:
    # Matched by key, both rows with id 2 would be sent as moves of old row 2:
    # the client would show b, X, X.
    before = [{"id": 1, "name": "b"}, {"id": 2, "name": "X"}, {"id": 3, "name": "a"}]
    after = [{"id": 1, "name": "b"}, {"id": 2, "name": "X"}, {"id": 2, "name": "a"}]
    expected = {"0": {"k": {"2": {"0": "2"}, "kc": 3}}}
    assert_diff(render(ROWS, rows=before), render(ROWS, rows=after), expected)


def test_missing_ids_fall_back_to_positions() -> None:
    before = [{"name": "a"}, {"name": "b"}]
    template = ENV.from_string("{% for r in rows %}<li>{{ r.name }}</li>{% endfor %}")
    assert_diff(
        render(template, rows=before),
        render(template, rows=before[::-1]),
        {"0": {"k": {"0": {"0": "b"}, "1": {"0": "a"}, "kc": 2}}},
    )
    some = [{"id": 1, "name": "a"}, {"name": "b"}]
    assert_diff(
        render(template, rows=some),
        render(template, rows=some[::-1]),
        {"0": {"k": {"0": {"0": "b"}, "1": {"0": "a"}, "kc": 2}}},
    )
    # Only one of the two renders has a row without an id: still by position.
    keyed = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert_diff(
        render(template, rows=some[::-1]),
        render(template, rows=keyed),
        {"0": {"k": {"0": {"0": "a"}, "1": {"0": "b"}, "kc": 2}}},
    )
    assert_diff(
        render(template, rows=keyed),
        render(template, rows=some[::-1]),
        {"0": {"k": {"0": {"0": "b"}, "1": {"0": "a"}, "kc": 2}}},
    )


def test_rows_of_strings_are_keyed_by_value() -> None:
    assert_diff(
        render(WORDS, words=["a", "b", "c"]),
        render(WORDS, words=["c", "a", "b"]),
        {"0": {"k": {"0": 2, "1": 0, "2": 1, "kc": 3, "km": True}}},
    )
    assert_diff(
        render(WORDS, words=["a", "b"]),
        render(WORDS, words=["z", "a", "b"]),
        {"0": {"k": {"0": {"0": "z"}, "1": 0, "2": 1, "kc": 3, "km": True}}},
    )


def test_repeated_strings_fall_back_to_positions() -> None:
    assert_diff(
        render(WORDS, words=["a", "a", "b"]),
        render(WORDS, words=["b", "a", "a"]),
        {"0": {"k": {"0": {"0": "b"}, "2": {"0": "a"}, "kc": 3}}},
    )


def test_keyed_rows_unchanged_after_reorder_back() -> None:
    before = rows("a", "b")
    assert_diff(render(ROWS, rows=before), render(ROWS, rows=list(before)), {})


def test_nested_comprehension_changes() -> None:
    template = ENV.from_string(
        "<table>{% for r in grid %}<tr>"
        "{% for c in r.cells %}<td>{{ c }}</td>{% endfor %}"
        "</tr>{% endfor %}</table>"
    )
    old = render(template, grid=[{"id": 1, "cells": [1, 2]}, {"id": 2, "cells": [3]}])
    new = render(template, grid=[{"id": 1, "cells": [1, 2]}, {"id": 2, "cells": [3, 4]}])
    assert_diff(old, new, {"0": {"k": {"1": {"0": {"k": {"1": {"0": "4"}, "kc": 2}}}, "kc": 2}}})
    moved = render(template, grid=[{"id": 2, "cells": [4, 3]}, {"id": 1, "cells": [1, 2]}])
    assert_diff(
        old,
        moved,
        {
            "0": {
                "k": {
                    "0": [1, {"0": {"k": {"0": {"0": "4"}, "1": 0, "kc": 2, "km": True}}}],
                    "1": 0,
                    "kc": 2,
                    "km": True,
                }
            }
        },
    )


def test_if_inside_rows() -> None:
    template = ENV.from_string(
        "{% for r in rows %}<li>"
        "{% if r.done %}<s>{{ r.name }}</s>{% else %}{{ r.name }}{% endif %}"
        "</li>{% endfor %}"
    )
    a, b = {"id": 1, "name": "a", "done": False}, {"id": 2, "name": "b", "done": False}
    old = render(template, rows=[a, b])
    new = render(template, rows=[a, {**b, "done": True}])
    assert_diff(old, new, {"0": {"k": {"1": {"0": {"s": ["<s>", "</s>"], "0": "b"}}, "kc": 2}}})


def test_sequence_of_diffs_tracks_every_state() -> None:
    states = [
        rows("a", "b", "c"),
        rows("a", "b", "c", "d"),
        [*rows("x", start=10), *rows("a", "b", "c", "d")],
        rows("b", "d", start=1),
        [],
        rows("q"),
    ]
    previous = render(ROWS, rows=states[0])
    client = Rendered(wire(previous))
    for state in states[1:]:
        tree = render(ROWS, rows=state)
        client.merge(wire(diff_tree(previous, tree)))
        assert client.html == to_html(tree)
        previous = tree
{%- endraw %}

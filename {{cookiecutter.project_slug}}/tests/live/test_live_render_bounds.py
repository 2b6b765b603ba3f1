"""Rendering keeps no memory that grows with the input: a server renders for days.

A view's renders keep only what its last render needs (its ``Memo``), and
every cache of the runtime is bounded, however large a table or however many
distinct sources it sees.
"""

from __future__ import annotations

import gc
import tracemalloc
import typing as t

from {{ cookiecutter.package_name }}.live import LiveEnvironment, render_template, render_tree, to_html
from {{ cookiecutter.package_name }}.live.memo import Memo
from {{ cookiecutter.package_name }}.live.template import COMPILED_SOURCES, _compile
from {{ cookiecutter.package_name }}.live.tree import SLOT, SLOT_KEYS_KEPT
{#- The templates below are test data: cookiecutter must copy them verbatim. #}
{%- raw %}

ROWS = LiveEnvironment().from_string(
    "<table>{% for r in rows %}<tr><td>{{ r.id }}</td><td>{{ r.name }}</td></tr>{% endfor %}"
    "</table>"
)


def rows(count: int) -> list[dict[str, t.Any]]:
    return [{"id": i, "name": f"n{i}"} for i in range(count)]


def test_a_large_render_leaves_nothing_behind() -> None:
    """After a 20,000-row render, a 1-row render: the view keeps what one row needs."""
    memo = Memo()
    render_template(ROWS, {"rows": rows(SLOT_KEYS_KEPT + 100)}, memo)  # fills every bounded cache
    large = rows(20_000)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        render_template(ROWS, {"rows": large}, memo)
        tree = render_template(ROWS, {"rows": large[:1]}, memo)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert to_html(tree) == "<table><tr><td>0</td><td>n0</td></tr></table>"
    assert kept < 20_000, f"{kept} bytes kept"  # the 20,000-row tree alone is megabytes


def test_slot_keys_are_cached_up_to_a_bound() -> None:
    count = SLOT_KEYS_KEPT * 2
    tree = render_template(ROWS, {"rows": rows(count)})
    assert len(SLOT) <= SLOT_KEYS_KEPT
    assert SLOT[count - 1] == str(count - 1)
    assert tree["0"]["k"][str(count - 1)] == {"0": str(count - 1), "1": f"n{count - 1}"}


def test_render_tree_keeps_a_bounded_number_of_compiled_sources() -> None:
    for i in range(COMPILED_SOURCES + 10):
        assert render_tree(f"<b>{i}</b>{{{{ x }}}}", {"x": i}) == {
            "s": [f"<b>{i}</b>", ""],
            "0": str(i),
        }
    assert _compile.cache_info().currsize == COMPILED_SOURCES
{%- endraw %}

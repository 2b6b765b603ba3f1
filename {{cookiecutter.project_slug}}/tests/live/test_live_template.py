"""Live templates render to exact rendered trees (PROTOCOL.md section c).

Every case compares the tree with a literal expected dict, and checks that the
tree turned back into HTML, and the live template rendered as a string, are
both exactly what plain Jinja2 (with autoescape) renders.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass

import jinja2
import pytest
from markupsafe import Markup

from {{ cookiecutter.package_name }}.live.template import LiveEnvironment, render_template, render_tree
from {{ cookiecutter.package_name }}.live.tree import Comprehension, build_tree, to_html
{#- The templates below are test data: cookiecutter must copy them verbatim. #}
{%- raw %}

Tree = dict[str, t.Any]

LOADER = jinja2.DictLoader(
    {
        "item.html": "<i>{{ x }}</i>",
        "static.html": "<hr>",
        "base.html": "<title>{% block title %}Site{% endblock %}</title>"
        "<main>{% block body %}<p>{{ x }}</p>{% endblock %}</main>",
        "child.html": "{% extends 'base.html' %}"
        "{% block body %}<h1>{{ y }}</h1>{{ super() }}{% endblock %}",
    }
)
LIVE = LiveEnvironment(loader=LOADER)
PLAIN = jinja2.Environment(autoescape=True, loader=LOADER)


def check(source: str, context: dict[str, t.Any], expected: Tree) -> Tree:
    """Assert the tree of ``source`` and that it renders exactly as plain Jinja does."""
    tree = render_template(LIVE.from_string(source), context)
    assert tree == expected
    html = PLAIN.from_string(source).render(context)
    assert to_html(tree) == html
    assert LIVE.from_string(source).render(context) == html
    return tree


@dataclass
class Row:
    id: int
    name: str


# -- text and slots ------------------------------------------------------------


def test_plain_text_only() -> None:
    # Like Jinja, a single trailing newline is dropped.
    check("<p>Hello,\n world</p>\n", {}, {"s": ["<p>Hello,\n world</p>"]})


def test_empty_template() -> None:
    check("", {}, {"s": [""]})


def test_slots_are_escaped() -> None:
    tree = check(
        '<p title="{{ a }}">{{ b }}</p>{{ c }}',
        {"a": 'say "hi"', "b": "<b>&'", "c": 3},
        {
            "s": ['<p title="', '">', "</p>", ""],
            "0": "say &#34;hi&#34;",
            "1": "&lt;b&gt;&amp;&#39;",
            "2": "3",
        },
    )
    assert all(type(tree[key]) in (str, Markup) for key in ("0", "1", "2"))


def test_safe_is_not_escaped() -> None:
    check(
        "{{ html|safe }}|{{ markup }}|{{ html }}",
        {"html": "<b>x</b>", "markup": Markup("<i>&amp;</i>")},
        {
            "s": ["", "|", "|", ""],
            "0": "<b>x</b>",
            "1": "<i>&amp;</i>",
            "2": "&lt;b&gt;x&lt;/b&gt;",
        },
    )


def test_none_and_numbers() -> None:
    check(
        "{{ n }}/{{ f }}/{{ z }}",
        {"n": None, "f": 1.5, "z": 0},
        {"s": ["", "/", "/", ""], "0": "None", "1": "1.5", "2": "0"},
    )


def test_constant_expressions_are_folded_into_statics() -> None:
    check('a{{ 1 + 2 }}b{{ "<x>" }}c{{ "q" ~ "r" }}', {}, {"s": ["a3b&lt;x&gt;cqr"]})


def test_filters_on_slots() -> None:
    check(
        "{{ name|upper }} {{ items|join(', ') }} {{ n|default(7) }}",
        {"name": "ab<", "items": ["x", "<y>"]},
        {"s": ["", " ", " ", ""], "0": "AB&lt;", "1": "x, &lt;y&gt;", "2": "7"},
    )


def test_comments_and_whitespace_control() -> None:
    check(
        "a {#- c #} b\n  {%- if t %}T{% endif %}",
        {"t": True},
        {"s": ["a b", ""], "0": {"s": ["T"]}},
    )


# -- if ------------------------------------------------------------------------

IF_SOURCE = "<div>{% if a %}A{{ a }}{% elif b %}B{% else %}C{{ c }}!{% endif %}</div>"


def test_if_branch() -> None:
    check(
        IF_SOURCE, {"a": "<1>"}, {"s": ["<div>", "</div>"], "0": {"s": ["A", ""], "0": "&lt;1&gt;"}}
    )


def test_elif_branch() -> None:
    check(IF_SOURCE, {"a": 0, "b": 1}, {"s": ["<div>", "</div>"], "0": {"s": ["B"]}})


def test_else_branch() -> None:
    check(
        IF_SOURCE,
        {"a": 0, "b": None, "c": "&"},
        {"s": ["<div>", "</div>"], "0": {"s": ["C", "!"], "0": "&amp;"}},
    )


def test_false_if_without_else_is_empty_string() -> None:
    check("x{% if a %}<b>{{ a }}</b>{% endif %}y", {"a": 0}, {"s": ["x", "y"], "0": ""})
    check(
        "x{% if a %}<b>{{ a }}</b>{% endif %}y",
        {"a": 2},
        {"s": ["x", "y"], "0": {"s": ["<b>", "</b>"], "0": "2"}},
    )


def test_inline_if_expression_is_one_slot() -> None:
    check("{{ 'on' if a else 'off' }}", {"a": True}, {"s": ["", ""], "0": "on"})


def test_nested_if() -> None:
    check(
        "{% if a %}[{% if b %}{{ b }}{% endif %}]{% endif %}",
        {"a": 1, "b": "x"},
        {"s": ["", ""], "0": {"s": ["[", "]"], "0": {"s": ["", ""], "0": "x"}}},
    )


# -- for -----------------------------------------------------------------------

LIST_SOURCE = "<ul>{% for x in xs %}<li>{{ x }}</li>{% endfor %}</ul>"


def test_for_loop_is_a_comprehension() -> None:
    tree = check(
        LIST_SOURCE,
        {"xs": ["a", "<b>", 3]},
        {
            "s": ["<ul>", "</ul>"],
            "0": {
                "s": ["<li>", "</li>"],
                "k": {"0": {"0": "a"}, "1": {"0": "&lt;b&gt;"}, "2": {"0": "3"}, "kc": 3},
            },
        },
    )
    assert isinstance(tree["0"], Comprehension)
    assert tree["0"].entry_keys == ["a", "<b>", 3]  # scalar rows are keyed by value


def test_empty_loop() -> None:
    check(
        LIST_SOURCE,
        {"xs": []},
        {"s": ["<ul>", "</ul>"], "0": {"s": ["<li>", "</li>"], "k": {"kc": 0}}},
    )


def test_loop_with_static_body() -> None:
    check(
        "{% for x in xs %}<br>{% endfor %}",
        {"xs": [1, 2]},
        {"s": ["", ""], "0": {"s": ["<br>"], "k": {"0": {}, "1": {}, "kc": 2}}},
    )


def test_for_else_when_empty() -> None:
    check(
        "{% for x in xs %}<li>{{ x }}</li>{% else %}<p>none {{ y }}</p>{% endfor %}",
        {"xs": [], "y": "<"},
        {
            "s": ["", "", ""],
            "0": {"s": ["<li>", "</li>"], "k": {"kc": 0}},
            "1": {"s": ["<p>none ", "</p>"], "0": "&lt;"},
        },
    )


def test_for_else_when_not_empty() -> None:
    check(
        "{% for x in xs %}<li>{{ x }}</li>{% else %}<p>none {{ y }}</p>{% endfor %}",
        {"xs": ["a"], "y": "<"},
        {
            "s": ["", "", ""],
            "0": {"s": ["<li>", "</li>"], "k": {"0": {"0": "a"}, "kc": 1}},
            "1": "",
        },
    )


def test_for_else_with_filtered_loop() -> None:
    source = "{% for x in xs if x > 1 %}{{ x }}{% else %}-{% endfor %}"
    check(
        source,
        {"xs": [0, 1]},
        {"s": ["", "", ""], "0": {"s": ["", ""], "k": {"kc": 0}}, "1": {"s": ["-"]}},
    )
    check(
        source,
        {"xs": [1, 2]},
        {"s": ["", "", ""], "0": {"s": ["", ""], "k": {"0": {"0": "2"}, "kc": 1}}, "1": ""},
    )


def test_nested_loops() -> None:
    tree = check(
        "<table>{% for row in grid %}<tr>"
        "{% for c in row %}<td>{{ c }}</td>{% endfor %}"
        "</tr>{% endfor %}</table>",
        {"grid": [[1, 2], [], [3]]},
        {
            "s": ["<table>", "</table>"],
            "0": {
                "s": ["<tr>", "</tr>"],
                "k": {
                    "0": {
                        "0": {
                            "s": ["<td>", "</td>"],
                            "k": {"0": {"0": "1"}, "1": {"0": "2"}, "kc": 2},
                        }
                    },
                    "1": {"0": {"s": ["<td>", "</td>"], "k": {"kc": 0}}},
                    "2": {"0": {"s": ["<td>", "</td>"], "k": {"0": {"0": "3"}, "kc": 1}}},
                    "kc": 3,
                },
            },
        },
    )
    inner = [tree["0"]["k"][str(i)]["0"]["s"] for i in range(3)]
    assert inner[0] is inner[1] is inner[2]  # one statics list for every row


def test_a_loop_of_text_slots_and_ifs_yields_its_comprehension_whole() -> None:
    source = "{% for x in xs %}{% if x %}<b>{{ x }}</b>{% endif %}{% endfor %}"
    template = LIVE.from_string(source)
    events = list(template.root_render_func(template.new_context({"xs": [1, 0]})))
    assert [type(event) for event in events if isinstance(event, dict)] == [Comprehension]
    check(
        source,
        {"xs": [1, 0]},
        {
            "s": ["", ""],
            "0": {
                "s": ["", ""],
                "k": {"0": {"0": {"s": ["<b>", "</b>"], "0": "1"}}, "1": {"0": ""}, "kc": 2},
            },
        },
    )


def test_a_loop_built_whole_renders_as_html_where_jinja_joins_output() -> None:
    loader = jinja2.DictLoader(
        {
            "rows.html": "{% for x in xs %}<i>{{ x }}</i>{% endfor %}",
            "base.html": "{% block b %}{% for x in xs %}[{{ x }}]{% endfor %}{% endblock %}",
            "child.html": "{% extends 'base.html' %}{% block b %}({{ super() }}){% endblock %}",
            "macro.html": "{% macro m() %}{% include 'rows.html' %}{% endmacro %}<p>{{ m() }}</p>",
        }
    )
    live, plain = LiveEnvironment(loader=loader), jinja2.Environment(autoescape=True, loader=loader)
    for name in ("child.html", "macro.html"):
        expected = plain.get_template(name).render(xs=[1, "<"])
        assert live.get_template(name).render(xs=[1, "<"]) == expected
        assert to_html(render_template(live.get_template(name), {"xs": [1, "<"]})) == expected


def test_generate_stream_and_modules_give_the_html_render_gives() -> None:
    source = "<ul>{% for r in rows %}<li>{{ r.name }}</li>{% endfor %}</ul>"
    loader = jinja2.DictLoader({"list.html": source})
    live = LiveEnvironment(loader=loader).get_template("list.html")
    plain = jinja2.Environment(autoescape=True, loader=loader).get_template("list.html")
    rows = {"rows": [{"name": "a"}, {"name": "<b>"}]}
    expected = plain.render(rows)
    assert live.render(rows) == expected
    assert "".join(live.generate(rows)) == expected
    buffered = live.stream(rows)
    buffered.enable_buffering(2)
    assert "".join(buffered) == expected
    assert str(live.make_module(rows)) == expected


COLUMNS = (("name", "Name"), ("score", "Score"))
CELLS = (
    "<tr>{% for key, heading in COLUMNS %}<td class='{{ key }}'>{% if key == 'name' %}"
    "<b>{{ row.name }}</b>{% elif row[key] %}{{ row[key] }}{% endif %}</td>{% endfor %}</tr>"
)


def test_a_loop_over_a_constant_is_unrolled_into_text_and_slots() -> None:
    live = LiveEnvironment(constants={"COLUMNS": COLUMNS})
    plain = jinja2.Environment(autoescape=True)
    plain.globals["COLUMNS"] = COLUMNS
    row = {"name": "<Ada>", "score": 3}
    tree = render_template(live.from_string(CELLS), {"row": row})
    assert tree == {
        "s": ["<tr><td class='name'><b>", "</b></td><td class='score'>", "</td></tr>"],
        "0": "&lt;Ada&gt;",
        "1": {"s": ["", ""], "0": "3"},
    }
    assert to_html(tree) == plain.from_string(CELLS).render(row=row)
    assert live.from_string(CELLS).render(row=row) == plain.from_string(CELLS).render(row=row)


def test_a_loop_over_a_constant_is_unrolled_once_the_environment_holds_templates() -> None:
    # Nodes refer to their environment: unrolling copied it, and the templates it held
    # could not be copied, so the loop silently stayed a loop in a served app.
    loader = jinja2.DictLoader({"first.html": "<p>{{ x }}</p>", "cells.html": CELLS})
    live = LiveEnvironment(constants={"COLUMNS": COLUMNS}, loader=loader)
    live.get_template("first.html")
    tree = render_template(live.get_template("cells.html"), {"row": {"name": "Ada", "score": 3}})
    assert tree["s"] == ["<tr><td class='name'><b>", "</b></td><td class='score'>", "</td></tr>"]


@pytest.mark.parametrize(
    "source",
    [
        "{% for key, heading in COLUMNS %}{{ loop.index }}{{ key }}{% endfor %}",
        "{% set COLUMNS = [('a', 'A')] %}{% for key, heading in COLUMNS %}{{ key }}{% endfor %}",
        "{% for key, heading in COLUMNS %}{{ key }}{% else %}none{% endfor %}",
        # What needs the loop's own scope: an include sees the loop's names, a set stays
        # inside the loop, a block is defined once.
        "{% for key, heading in COLUMNS %}<td>{% include 'key.html' %}</td>{% endfor %}",
        "{% set x = 'outer' %}{% for key, heading in COLUMNS %}{% set x = key %}{{ x }}"
        "{% endfor %}|{{ x }}",
        "{% for key, heading in COLUMNS %}{% block cell scoped %}[{{ key }}]{% endblock %}"
        "{% endfor %}",
    ],
)
def test_a_loop_over_a_constant_stays_a_loop_where_unrolling_would_change_it(source: str) -> None:
    loader = jinja2.DictLoader({"key.html": "{{ key }}"})
    live = LiveEnvironment(constants={"COLUMNS": COLUMNS}, loader=loader)
    plain = jinja2.Environment(autoescape=True, loader=loader)
    plain.globals["COLUMNS"] = COLUMNS
    tree = render_template(live.from_string(source), {})
    assert any("k" in slot for slot in tree.values() if isinstance(slot, dict))
    assert to_html(tree) == plain.from_string(source).render()


def test_loop_index_and_if_inside_loop() -> None:
    check(
        "{% for x in xs %}{{ loop.index }}:{{ x }}"
        "{% if loop.last %}.{% else %}, {% endif %}{% endfor %}",
        {"xs": ["a", "b"]},
        {
            "s": ["", ""],
            "0": {
                "s": ["", ":", "", ""],
                "k": {
                    "0": {"0": "1", "1": "a", "2": {"s": [", "]}},
                    "1": {"0": "2", "1": "b", "2": {"s": ["."]}},
                    "kc": 2,
                },
            },
        },
    )


def test_recursive_loop_is_one_slot() -> None:
    check(
        "<ul>{% for n in tree recursive %}<li>{{ n.name }}"
        "{% if n.kids %}<ul>{{ loop(n.kids) }}</ul>{% endif %}</li>{% endfor %}</ul>",
        {"tree": [{"name": "a", "kids": [{"name": "<b>", "kids": []}]}, {"name": "c", "kids": ()}]},
        {"s": ["<ul>", "</ul>"], "0": "<li>a<ul><li>&lt;b&gt;</li></ul></li><li>c</li>"},
    )


def test_scoped_block_inside_a_loop() -> None:
    check(
        "{% for i in xs %}{% block x scoped %}[{{ i }}]{% endblock %}{% endfor %}",
        {"xs": [1, 2]},
        {
            "s": ["", ""],
            "0": {
                "s": ["", ""],
                "k": {
                    "0": {"0": {"s": ["[", "]"], "0": "1"}},
                    "1": {"0": {"s": ["[", "]"], "0": "2"}},
                    "kc": 2,
                },
            },
        },
    )


def test_loop_over_dicts_and_objects_with_attribute_access() -> None:
    tree = check(
        '{% for r in rows %}<p id="{{ r.id }}">{{ r.name }}</p>{% endfor %}',
        {"rows": [{"id": 1, "name": "d<"}, Row(2, "o&")]},
        {
            "s": ["", ""],
            "0": {
                "s": ['<p id="', '">', "</p>"],
                "k": {"0": {"0": "1", "1": "d&lt;"}, "1": {"0": "2", "1": "o&amp;"}, "kc": 2},
            },
        },
    )
    assert tree["0"].entry_keys == [1, 2]  # rows are keyed by their id


def test_loop_over_dict_items_unpacks() -> None:
    tree = check(
        "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
        {"d": {"a": 1, "b": 2}},
        {
            "s": ["", ""],
            "0": {
                "s": ["", "=", ";"],
                "k": {"0": {"0": "a", "1": "1"}, "1": {"0": "b", "1": "2"}, "kc": 2},
            },
        },
    )
    assert tree["0"].entry_keys == [None, None]  # tuple targets are matched by position


def test_dict_attribute_access() -> None:
    check(
        "{{ r.name }}/{{ o.name }}/{{ r['name'] }}/{{ r.id }}",
        {"r": {"name": "dict", "id": 5}, "o": Row(1, "object")},
        {"s": ["", "/", "/", "/", ""], "0": "dict", "1": "object", "2": "dict", "3": "5"},
    )


def test_dict_key_shadows_a_dict_method() -> None:
    # Documented deviation from plain Jinja: on a dict, the key is looked up first.
    tree = render_template(LIVE.from_string("{{ r.items }}"), {"r": {"items": "key wins"}})
    assert tree == {"s": ["", ""], "0": "key wins"}
    plain = PLAIN.from_string("{{ r.items }}").render(r={"items": "key wins"})
    assert plain.startswith("&lt;built-in method items")


# -- set, with, macros, call, filter -------------------------------------------


def test_set_and_with() -> None:
    check(
        "{% set y = a * 2 %}{{ y }}{% with z = a ~ '<' %}[{{ z }}]{% endwith %}",
        {"a": 3},
        {"s": ["", "[", "]"], "0": "6", "1": "3&lt;"},
    )


def test_set_block() -> None:
    check(
        "{% set b %}<i>{{ a }}</i>{% endset %}{{ b }}{{ b }}",
        {"a": "&"},
        {"s": ["", "", ""], "0": "<i>&amp;</i>", "1": "<i>&amp;</i>"},
    )


def test_macro_call_is_one_escaped_html_slot() -> None:
    check(
        "{% macro m(v) %}<b>{{ v }}</b>{% for i in range(2) %}.{% endfor %}{% endmacro %}"
        "<p>{{ m(a) }}</p>",
        {"a": "<"},
        {"s": ["<p>", "</p>"], "0": "<b>&lt;</b>.."},
    )


def test_call_block() -> None:
    check(
        '{% macro box(t) %}<div title="{{ t }}">{{ caller() }}</div>{% endmacro %}'
        "{% call box(title) %}in {{ a }}{% endcall %}!",
        {"title": '"', "a": "<"},
        {"s": ["", "!"], "0": '<div title="&#34;">in &lt;</div>'},
    )


def test_filter_block() -> None:
    check("{% filter upper %}ab{{ a }}{% endfilter %}.", {"a": "c"}, {"s": ["", "."], "0": "ABC"})


def test_imported_macro() -> None:
    loader = jinja2.DictLoader({"m.html": "{% macro b(v) %}<b>{{ v }}</b>{% endmacro %}"})
    source = "{% from 'm.html' import b %}{{ b(x) }}"
    tree = render_template(LiveEnvironment(loader=loader).from_string(source), {"x": "<"})
    assert tree == {"s": ["", ""], "0": "<b>&lt;</b>"}
    plain = jinja2.Environment(autoescape=True, loader=loader).from_string(source)
    assert to_html(tree) == plain.render(x="<")


# -- include, extends ----------------------------------------------------------


def test_include_is_a_nested_node() -> None:
    check(
        "[{% include 'item.html' %}][{% include 'static.html' %}]",
        {"x": "<"},
        {"s": ["[", "][", "]"], "0": {"s": ["<i>", "</i>"], "0": "&lt;"}, "1": {"s": ["<hr>"]}},
    )


def test_include_inside_a_loop_sees_the_loop_variable() -> None:
    check(
        "{% for x in xs %}{% include 'item.html' %}{% endfor %}",
        {"xs": [1, 2]},
        {
            "s": ["", ""],
            "0": {
                "s": ["", ""],
                "k": {
                    "0": {"0": {"s": ["<i>", "</i>"], "0": "1"}},
                    "1": {"0": {"s": ["<i>", "</i>"], "0": "2"}},
                    "kc": 2,
                },
            },
        },
    )


def test_include_ignore_missing() -> None:
    check("[{% include 'missing.html' ignore missing %}]", {}, {"s": ["[", "]"], "0": ""})
    check(
        "[{% include ['missing.html', 'item.html'] ignore missing %}]",
        {"x": 1},
        {"s": ["[", "]"], "0": {"s": ["<i>", "</i>"], "0": "1"}},
    )


def test_include_missing_raises() -> None:
    with pytest.raises(jinja2.TemplateNotFound):
        render_template(LIVE.from_string("{% include 'missing.html' %}"), {})


def test_include_with_a_variable_name() -> None:
    check("{% include name %}", {"name": "static.html"}, {"s": ["", ""], "0": {"s": ["<hr>"]}})


def test_extends_blocks_and_super() -> None:
    tree = check(
        "{% extends 'base.html' %}{% block body %}<h1>{{ y }}</h1>{{ super() }}{% endblock %}",
        {"x": "<x>", "y": "&"},
        {
            "s": ["<title>", "</title><main>", "</main>"],
            "0": {"s": ["Site"]},
            "1": {"s": ["<h1>", "</h1>", ""], "0": "&amp;", "1": "<p>&lt;x&gt;</p>"},
        },
    )
    again = render_template(LIVE.get_template("child.html"), {"x": "<x>", "y": "&"})
    assert again == tree


def test_extends_keeps_parent_blocks_and_drops_text_outside_blocks() -> None:
    check(
        "{% extends 'base.html' %}ignored{% block title %}T {{ y }}{% endblock %}",
        {"x": 1, "y": 2},
        {
            "s": ["<title>", "</title><main>", "</main>"],
            "0": {"s": ["T ", ""], "0": "2"},
            "1": {"s": ["<p>", "</p>"], "0": "1"},
        },
    )


def test_block_without_extends() -> None:
    check(
        "<a>{% block b %}{{ x }}{% endblock %}</a>",
        {"x": "<"},
        {"s": ["<a>", "</a>"], "0": {"s": ["", ""], "0": "&lt;"}},
    )


def test_self_block_reference() -> None:
    check(
        "{% block t %}T{{ x }}{% endblock %}|{{ self.t() }}",
        {"x": 1},
        {"s": ["", "|", ""], "0": {"s": ["T", ""], "0": "1"}, "1": "T1"},
    )


def test_extends_must_be_top_level() -> None:
    with pytest.raises(jinja2.TemplateSyntaxError):
        LIVE.from_string("{% if a %}{% extends 'base.html' %}{% endif %}")


# -- statics are compiled once -------------------------------------------------


def test_statics_are_shared_between_renders() -> None:
    template = LIVE.from_string(
        "<ul>{% for x in xs %}<li>{{ x }}</li>{% endfor %}</ul>{% if a %}<b>{% endif %}"
    )
    tree1 = render_template(template, {"xs": [1], "a": True})
    tree2 = render_template(template, {"xs": [2, 3], "a": True})
    assert tree1 != tree2
    assert tree1["s"] is tree2["s"]
    assert tree1["0"]["s"] is tree2["0"]["s"]
    assert tree1["1"]["s"] is tree2["1"]["s"]


@pytest.mark.parametrize(
    "source",
    [
        "{{ n }}",  # a slot of the page
        "{% for r in rows %}<i>{{ r.n }}</i>{% endfor %}",  # a loop built directly
        "{% for r in rows %}{% if r.n %}<i>{{ r.n }}</i>{% endif %}{% endfor %}",  # in a branch
    ],
)
def test_a_small_int_is_shown_by_the_same_str_at_every_render(source: str) -> None:
    """The differ then finds it unchanged by identity, and views' trees share one str."""
    template = LIVE.from_string(source)

    def texts(node: dict[str, t.Any]) -> t.Iterator[str]:
        for key, value in node.items():
            if key == "k":
                for entry in value.values():
                    yield from texts(entry) if isinstance(entry, dict) else ()
            elif key.isdigit():
                yield from texts(value) if isinstance(value, dict) else [value]

    def shown(n: int) -> list[str]:
        return list(texts(render_template(template, {"n": n, "rows": [{"n": n}]})))

    for n in (17, 4095):
        first, again = shown(n), shown(n)
        assert first == [str(n)] and first[0] is again[0]
    for n in (-17, 4096, 10**30):  # shown right, each render its own str
        first, again = shown(n), shown(n)
        assert first == [str(n)] and first[0] is not again[0]


def test_a_loop_whose_body_sets_nothing_makes_no_dict_each_turn() -> None:
    source = "{% for r in rows %}<i>{{ r }}</i>{% endfor %}"
    assert "_loop_vars = {}" not in LIVE.compile(source, raw=True)
    plain = jinja2.Environment(autoescape=True)
    for source in [
        "{% for r in rows %}{% set x = r * 2 %}<i>{{ x }}</i>{% endfor %}",  # sets: kept
        "{% for r in rows %}{% for c in r|string %}{% set y = c %}{{ y }}{% endfor %}{% endfor %}",
        "{% for r in rows %}<i>{{ r }}</i>\n_loop_vars = {}\n{% endfor %}",  # text stays text
    ]:
        tree = render_template(LIVE.from_string(source), {"rows": [1, 23]})
        assert to_html(tree) == plain.from_string(source).render(rows=[1, 23])


@pytest.mark.parametrize(
    "source",
    [
        "{% for r in rows %}<i>{{ r.name }}</i>{% if r.name %}{{ r.name }}{% endif %}{% endfor %}",
        "{% for r in rows %}{% for c in r.name|string %}{{ r.name }}{{ c }}{% endfor %}{% endfor %}"
        "{{ rows[0].name }}",
        "{% for r in rows %}{{ r.name }}{% set r = 'upper' %}{{ r.upper() }}{% endfor %}",
    ],
)
def test_a_loop_reads_each_rows_attributes_whatever_its_kind(source: str) -> None:
    # Whether a row is a dict is asked once a turn: dicts, objects, and a row the body rebinds.
    rows = [{"name": "a"}, Row(1, "b"), {"name": 3}, Row(2, "<c>")]
    html = jinja2.Environment(autoescape=True).from_string(source).render(rows=rows)
    assert to_html(render_template(LIVE.from_string(source), {"rows": rows})) == html


@pytest.mark.parametrize("render", ["html", "tree"])
def test_an_error_in_a_loops_iterable_points_at_its_line(render: str) -> None:
    # A tree's render too: a view's crash in the log names the template's line.
    template = LIVE.from_string(
        "{% for r in rows %}\n{% for c in (1 // r.z)|string %}\n{{ c }}\n{% endfor %}{% endfor %}"
    )
    with pytest.raises(ZeroDivisionError) as raised:
        if render == "html":
            template.render(rows=[{"z": 0}])
        else:
            render_template(template, {"rows": [{"z": 0}]})
    lines = [entry.lineno + 1 for entry in raised.traceback if entry.path == "<template>"]
    assert lines[-1] == 2, lines


def test_render_tree_caches_the_compiled_source() -> None:
    source = "<p>{{ a }}</p>{% for x in xs %}{{ x }}{% endfor %}"
    tree1 = render_tree(source, {"a": 1, "xs": []})
    tree2 = render_tree(source, {"a": "<", "xs": [1]})
    assert tree1["s"] is tree2["s"] and tree1["1"]["s"] is tree2["1"]["s"]
    assert tree2 == {
        "s": ["<p>", "</p>", ""],
        "0": "&lt;",
        "1": {"s": ["", ""], "k": {"0": {"0": "1"}, "kc": 1}},
    }


def test_autoescape_cannot_be_forgotten() -> None:
    assert LiveEnvironment().autoescape is True
    tree = render_template(LiveEnvironment().from_string("{{ a }}"), {"a": "<"})
    assert tree == {"s": ["", ""], "0": "&lt;"}


def test_tree_survives_a_json_round_trip() -> None:
    tree = render_template(LIVE.get_template("child.html"), {"x": 1, "y": [2]})
    assert to_html(json.loads(json.dumps(tree))) == PLAIN.get_template("child.html").render(
        x=1, y=[2]
    )


def test_build_tree_rejects_an_incomplete_stream() -> None:
    with pytest.raises(ValueError):
        build_tree(iter([]))
    template = LIVE.from_string("<p>{{ a }}</p>")
    stream = list(template.root_render_func(template.new_context({"a": 1})))
    with pytest.raises(ValueError):
        build_tree(iter(stream[:-1]))  # the root node is never closed
    assert build_tree(iter(stream)) == {"s": ["<p>", "</p>"], "0": "1"}
{%- endraw %}

"""``js``: JS commands encoded as the pinned client's ``js.js`` reads them, in attributes."""

from __future__ import annotations

import html
import json
import typing as t

import pytest
from jinja2 import DictLoader

from {{ cookiecutter.package_name }}.live import JsCommands, LiveEnvironment, js, render_template, to_html
from {{ cookiecutter.package_name }}.live.js import _format_transition
from {{ cookiecutter.package_name }}.live.memo import Memo
{%- raw %}


def decoded(commands: JsCommands) -> list[t.Any]:
    return t.cast(list[t.Any], json.loads(str(commands)))


def test_transitions_take_a_class_string_or_a_triple() -> None:
    assert _format_transition("ease-out duration-300") == [["ease-out", "duration-300"], [], []]
    assert _format_transition(("a b", ["c"], "d")) == [["a", "b"], ["c"], ["d"]]
    assert _format_transition(["a", "b"]) == [["a", "b"], [], []]
    with pytest.raises(ValueError, match="triple"):
        _format_transition(("a", "b"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        (js.show(), [["show", {}]]),
        (js.show("#m", display="flex"), [["show", {"display": "flex", "to": "#m"}]]),
        (
            js.hide("#m", transition="fade", time=300, blocking=False),
            [
                [
                    "hide",
                    {"to": "#m", "transition": [["fade"], [], []], "time": 300, "blocking": False},
                ]
            ],
        ),
        (
            js.toggle("#m", in_transition="in", out_transition="out"),
            [
                [
                    "toggle",
                    {"to": "#m", "ins": [["in"], [], []], "outs": [["out"], [], []], "time": 200},
                ]
            ],
        ),
        (js.add_class("a b", to="#m"), [["add_class", {"names": ["a", "b"], "to": "#m"}]]),
        (js.remove_class(["a"]), [["remove_class", {"names": ["a"]}]]),
        (
            js.toggle_class("open", to={"closest": "li"}),
            [["toggle_class", {"names": ["open"], "to": {"closest": "li"}}]],
        ),
        (
            js.transition("shake"),
            [["transition", {"transition": [["shake"], [], []], "time": 200}]],
        ),
        (js.set_attribute(("aria-busy", "true")), [["set_attr", {"attr": ["aria-busy", "true"]}]]),
        (
            js.set_attribute("disabled", to="#b"),
            [["set_attr", {"attr": ["disabled", ""], "to": "#b"}]],
        ),
        (js.remove_attribute("disabled"), [["remove_attr", {"attr": "disabled"}]]),
        (
            js.toggle_attribute(("open", "true", "false")),
            [["toggle_attr", {"attr": ["open", "true", "false"]}]],
        ),
        (js.ignore_attributes("open"), [["ignore_attrs", {"attrs": ["open"]}]]),
        (
            js.push("save", target="#f", value={"id": 1}, loading="#s", page_loading=True),
            [
                [
                    "push",
                    {
                        "event": "save",
                        "target": "#f",
                        "value": {"id": 1},
                        "loading": "#s",
                        "page_loading": True,
                    },
                ]
            ],
        ),
        (js.push("close", value={}), [["push", {"event": "close"}]]),
        (
            js.dispatch("copy", to="#t", detail={"a": 1}, bubbles=False),
            [["dispatch", {"event": "copy", "to": "#t", "detail": {"a": 1}, "bubbles": False}]],
        ),
        (js.navigate("/x", replace=True), [["navigate", {"href": "/x", "replace": True}]]),
        (js.patch("/x?p=2"), [["patch", {"href": "/x?p=2"}]]),
        (js.focus(to="#i"), [["focus", {"to": "#i"}]]),
        (js.focus_first(to="#d"), [["focus_first", {"to": "#d"}]]),
        (js.push_focus(), [["push_focus", {}]]),
        (js.pop_focus(), [["pop_focus", {}]]),
        (js.exec("data-cancel", to="#d"), [["exec", {"attr": "data-cancel", "to": "#d"}]]),
    ],
)
def test_each_command_encodes_the_arguments_the_client_reads(
    commands: JsCommands, expected: list[t.Any]
) -> None:
    assert decoded(commands) == expected


def test_chains_grow_and_never_change() -> None:
    first = js.hide("#row")
    chain = first.push("delete", value={"id": 3})
    assert [kind for kind, _ in decoded(chain)] == ["hide", "push"]
    assert decoded(first) == [["hide", {"to": "#row"}]]
    assert decoded(js) == []
    assert chain == js.hide("#row").push("delete", value={"id": 3})


def test_a_chain_made_again_from_literals_is_the_one_kept_with_its_html() -> None:
    # The flash group builds four chains in every view at every render: one object each.
    first = js.show(to="#a").set_attribute("inert", to="form")
    again = js.show(to="#a").set_attribute("inert", to="form")
    assert again is first
    assert again.__html__() is first.__html__()
    assert js.show(to="#b") is not js.show(to="#a")
    assert decoded(js.show(to="#b")) == [["show", {"to": "#b"}]]


def test_every_views_tree_holds_one_string_for_a_kept_chain() -> None:
    source = """<p phx-click="{{ js.hide('#m') }}">{{ n }}</p>{% for i in [1] %}"""
    source += """<i phx-click="{{ js.hide('#m') }}">{{ i }}</i>{% endfor %}"""
    environment = LiveEnvironment(loader=DictLoader({"t.html": source}))
    template = environment.get_template("t.html")
    one, other = (render_template(template, {"n": n}) for n in (1, 2))
    assert one["0"] is other["0"] == html.escape(str(js.hide("#m")), quote=True)
    assert one["2"]["k"]["0"]["0"] is other["2"]["k"]["0"]["0"] is one["0"]  # in a loop too


@pytest.mark.parametrize(
    ("one", "other"),
    [
        # 1 == True and 0 == False, yet the client reads 1 and true
        (lambda: js.show("#x", transition="fade", time=1), lambda: js.show("#x", time=True)),
        (lambda: js.hide("#x", transition="fade", time=0), lambda: js.hide("#x", time=False)),
        (lambda: js.push("a", target="1"), lambda: js.push("a", target=1)),  # type: ignore
    ],
)
def test_equal_arguments_of_other_types_are_other_chains(
    one: t.Callable[[], JsCommands], other: t.Callable[[], JsCommands]
) -> None:
    assert one() is not other()
    assert str(one()) != str(other())
    assert str(one()) == str(one())


def test_chains_with_mutable_arguments_are_built_each_time_and_still_right() -> None:
    chain = js.push("save", value={"id": 1})
    assert js.push("save", value={"id": 1}) is not chain
    assert chain == js.push("save", value={"id": 1})
    assert decoded(js.hide(to={"closest": "tr"})) == [["hide", {"to": {"closest": "tr"}}]]


def test_no_more_chains_are_kept_than_max_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(JsCommands, "_room", 2)
    kept = [js.toggle(f"#kept-{index}") for index in range(2)]
    assert all(js.toggle(f"#kept-{index}") is kept[index] for index in range(2))
    beyond = js.toggle("#beyond")
    assert js.toggle("#beyond") is not beyond  # built anew, never kept
    assert decoded(beyond) == decoded(JsCommands([("toggle", {"to": "#beyond"})]))
    assert JsCommands._room == 0


def test_in_a_template_it_is_escaped_for_its_attribute() -> None:
    environment = LiveEnvironment(
        loader=DictLoader(
            {
                "t.html": """<button phx-click="{{ js.hide('#m').push('close', value={'q': """
                """"it's <b>"}) }}">x</button>"""
                "<a phx-click='{{ js.dispatch(name) }}'>y</a>",
            }
        )
    )
    out = to_html(render_template(environment.get_template("t.html"), {"name": "a'\"&b"}))
    click = out.split('phx-click="')[1].split('">')[0]
    assert '"' not in click and "<" not in click and "'" not in click
    assert json.loads(html.unescape(click)) == [
        ["hide", {"to": "#m"}],
        ["push", {"event": "close", "value": {"q": "it's <b>"}}],
    ]
    single = out.split("phx-click='")[1].split("'>")[0]
    assert json.loads(html.unescape(single)) == [["dispatch", {"event": "a'\"&b"}]]


def test_a_loop_using_js_keeps_change_tracking() -> None:
    environment = LiveEnvironment(
        loader=DictLoader(
            {
                "t.html": "{% for row in rows %}<li phx-click=\"{{ js.hide('#r' ~ row.id) }}\">"
                "{{ row.name }}</li>{% endfor %}"
            }
        )
    )
    template = environment.get_template("t.html")
    memo = Memo()
    rows = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    before = render_template(template, {"rows": rows}, memo)
    after = render_template(template, {"rows": [rows[0], {"id": 2, "name": "c"}]}, memo)
    entries_before, entries_after = before["0"]["k"], after["0"]["k"]
    assert entries_after["0"] is entries_before["0"]  # the unchanged row was reused
    assert "c" in to_html(after)


def test_a_loop_reading_commands_from_the_context_renders_their_new_value() -> None:
    template = LiveEnvironment().from_string(
        '{% for row in rows %}<li phx-click="{{ action }}">{{ row }}</li>{% endfor %}'
    )
    memo = Memo()
    before = render_template(template, {"rows": ["a"], "action": js.hide("#first")}, memo)
    same = render_template(template, {"rows": ["a"], "action": js.hide("#first")}, memo)
    assert same["0"]["k"]["0"] is before["0"]["k"]["0"]  # equal commands: the row is reused
    after = render_template(template, {"rows": ["a"], "action": js.hide("#second")}, memo)
    assert "#second" in to_html(after) and "#first" not in to_html(after)
{%- endraw %}

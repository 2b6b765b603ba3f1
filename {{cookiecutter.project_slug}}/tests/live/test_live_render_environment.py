"""The live environment: undefined names are errors, options it cannot honour are refused.

A misspelt or missing name must fail loudly, saying where, instead of
rendering as nothing; and an option the rendered-tree compiler cannot honour
(async rendering, autoescape off, another code generator) must fail when
the environment is made, not as a broken tree at the first render.
"""

from __future__ import annotations

import typing as t

import jinja2
import pytest
from jinja2.compiler import CodeGenerator

from {{ cookiecutter.package_name }}.live import LiveEnvironment, LiveUndefined, render_template, to_html
from {{ cookiecutter.package_name }}.live.compiler import SUPPORTED_JINJA, check_jinja_version
{#- The templates below are test data: cookiecutter must copy them verbatim. #}
{%- raw %}

TEMPLATES = {
    "list.html": "<h1>Tasks</h1>\n<ul>\n{% for t in shown %}<li>{{ t }}</li>{% endfor %}\n</ul>",
    "rows.html": "<ul>\n{% for r in rows %}\n<li>{{ r.nmae }}</li>{% endfor %}</ul>",
    "page.html": "<main>\n{% include 'part.html' %}</main>",
    "part.html": "<p>{{ title }}</p>\n<p>{{ subtitle|upper }}</p>",
}
LIVE = LiveEnvironment(loader=jinja2.DictLoader(TEMPLATES))


@pytest.mark.parametrize(
    ("name", "context", "message"),
    [
        ("list.html", {"tasks": []}, "'shown' is undefined (template 'list.html', line 3)"),
        (
            "rows.html",
            {"rows": [{"name": "a"}]},
            "'dict object' has no attribute 'nmae' (template 'rows.html', line 3)",
        ),
        # In an included template, through a filter: the innermost template is named.
        ("page.html", {"title": "T"}, "'subtitle' is undefined (template 'part.html', line 2)"),
    ],
)
def test_an_undefined_name_is_an_error_saying_where(
    name: str, context: dict[str, t.Any], message: str
) -> None:
    template = LIVE.get_template(name)
    with pytest.raises(jinja2.UndefinedError) as live:
        render_template(template, context)
    assert str(live.value) == message
    with pytest.raises(jinja2.UndefinedError) as page:  # the HTTP render renders to a string
        template.render(context)
    assert str(page.value) == message


def test_a_template_from_a_string_is_named_so() -> None:
    message = r"^'x' is undefined \(template '<string>', line 1\)$"
    with pytest.raises(jinja2.UndefinedError, match=message):
        render_template(LiveEnvironment().from_string("{{ x }}"), {})


def test_an_undefined_value_outside_a_template_still_names_itself() -> None:
    with pytest.raises(jinja2.UndefinedError, match=r"^'x' is undefined \(outside any template\)$"):
        str(LiveUndefined(name="x"))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ x is defined }}/{{ x is undefined }}", "False/True"),
        ("{{ x|default('-') }}/{{ x|d('-') }}/{{ r.note|default('-') }}", "-/-/-"),
        ("{% if x is none %}none{% elif x is not none %}not none{% endif %}", "not none"),
        ("{{ r.get('note') }}/{{ 'note' in r }}/{{ r.name }}", "None/False/a"),
        # The flash is a dict of the messages to show, often empty.
        ("{% if flash.get('info') %}{{ flash.info }}{% endif %}", ""),
        ("{% for kind, message in flash.items() %}{{ message }}{% endfor %}", ""),
        ("{{ flash.info|default('') }}", ""),
    ],
)
def test_checking_for_a_name_still_works(source: str, expected: str) -> None:
    context = {"r": {"name": "a"}, "flash": {}}
    tree = render_template(LiveEnvironment().from_string(source), context)
    assert to_html(tree) == expected


def test_an_app_may_choose_lenient_undefined_names() -> None:
    environment = LiveEnvironment(undefined=jinja2.Undefined)
    assert to_html(render_template(environment.from_string("[{{ x }}]"), {})) == "[]"


# -- options ---------------------------------------------------------------------


class PlainCodeGenerator(LiveEnvironment):
    code_generator_class = CodeGenerator


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: LiveEnvironment(enable_async=True), "async"),
        (lambda: LiveEnvironment().overlay(enable_async=True), "async"),
        (lambda: LiveEnvironment(autoescape=False), "autoescape"),
        (lambda: LiveEnvironment(autoescape=jinja2.select_autoescape()), "autoescape"),
        (lambda: LiveEnvironment().overlay(autoescape=False), "autoescape"),
        (PlainCodeGenerator, "LiveCodeGenerator"),
    ],
)
def test_options_the_compiler_cannot_honour_are_refused(
    make: t.Callable[[], LiveEnvironment], reason: str
) -> None:
    with pytest.raises(TypeError, match=reason):
        make()


@pytest.mark.parametrize(
    "options",
    [
        {"finalize": lambda value: "" if value is None else value},
        {"optimized": False},
        {"trim_blocks": True, "lstrip_blocks": True},
        {"line_statement_prefix": "#", "keep_trailing_newline": True},
        {"extensions": ["jinja2.ext.do", "jinja2.ext.i18n"]},
    ],
)
def test_options_the_compiler_honours_render_as_jinja_does(options: dict[str, t.Any]) -> None:
    source = (
        "<p>{{ a }}</p>\n{% for x in xs %}{{ x }}{% else %}none{% endfor %}"
        "{% if f %}{{ n }}{% endif %}\n"
    )
    if "line_statement_prefix" in options:
        source += "# for x in xs\n<i>{{ x }}</i>\n# endfor\n"
    if "extensions" in options:
        source += "{% do xs.append(3) %}{% trans %}hello {{ a }}{% endtrans %}{{ _('bye') }}"
    live, plain = LiveEnvironment(**options), jinja2.Environment(autoescape=True, **options)
    for environment in (live, plain):
        if "extensions" in options:
            environment.install_null_translations()  # type: ignore[attr-defined]
    context = {"a": "<a>", "f": True, "n": None}
    tree = render_template(live.from_string(source), {**context, "xs": [1, None, "<"]})
    assert to_html(tree) == plain.from_string(source).render({**context, "xs": [1, None, "<"]})


@pytest.mark.parametrize("version", ["3.1.0", "3.1.6", "3.1.12", "3.1.7.dev0"])
def test_jinja_versions_the_compiler_was_written_for_are_accepted(version: str) -> None:
    check_jinja_version(version)


@pytest.mark.parametrize("version", ["3.0.3", "3.2.0", "4.0", "2.11.3", "unknown"])
def test_other_jinja_versions_are_refused_naming_the_supported_range(version: str) -> None:
    with pytest.raises(ImportError) as refused:
        check_jinja_version(version)
    assert SUPPORTED_JINJA in str(refused.value) and version in str(refused.value)
{%- endraw %}

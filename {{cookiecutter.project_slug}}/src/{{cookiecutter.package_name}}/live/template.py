"""The Jinja2 environment of live templates, and ``render_tree``."""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing as t

import jinja2
from jinja2.environment import TemplateModule

from .compiler import LiveCodeGenerator
from .component import live_component
from .js import js
from .memo import MEMO_VARIABLE, Memo
from .stream import forget_pending, live_render
from .tree import Tree, build_tree, collecting_streams, join_html, to_html, with_streams
from .uploads.markup import GLOBALS as UPLOAD_GLOBALS


class LiveUndefined(jinja2.StrictUndefined):
    """An undefined name or attribute is an error, never an empty string.

    A misspelt name (``{% for t in shown %}`` for a view property) would
    otherwise render as nothing. The message says where: the template and
    line that used it. ``is defined``, ``default()`` and ``is none`` still work.
    """

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        return f"{super()._undefined_message} ({_template_line()})"


def _template_line() -> str:
    """Where the innermost template being rendered is, from the call stack."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if isinstance(template, jinja2.Template):
            line = template.get_corresponding_lineno(frame.f_lineno)
            return f"template {template.name or '<string>'!r}, line {line}"
        frame = frame.f_back
    return "outside any template"


class LiveTemplate(jinja2.Template):
    """Jinja's template, whose output is HTML wherever Jinja hands it out: a loop the
    compiler built directly is one comprehension, joined as ``render`` joins it."""

    def generate(self, *args: t.Any, **kwargs: t.Any) -> t.Iterator[str]:
        """Jinja's ``generate`` (and so ``stream``): the HTML, part by part."""
        for part in super().generate(*args, **kwargs):
            yield to_html(part)

    def make_module(
        self,
        vars: dict[str, t.Any] | None = None,
        shared: bool = False,
        locals: t.Mapping[str, t.Any] | None = None,
    ) -> TemplateModule:
        """Jinja's ``make_module``: ``str()`` of the module is its HTML."""
        context = self.new_context(vars, shared, locals)
        return TemplateModule(self, context, [join_html(self.root_render_func(context))])


class LiveEnvironment(jinja2.Environment):
    """A Jinja2 environment whose templates render to rendered trees.

    Autoescape is always on, and undefined names are errors (``LiveUndefined``
    unless ``undefined`` says otherwise). Options the tree compiler cannot
    honour are refused. ``obj.name`` on a plain dict looks the key up first
    (Jinja tries the attribute first, paying for an ``AttributeError`` on
    every row of a table); a key that shadows a dict method therefore wins.

    ``constants`` are names whose values are fixed when templates compile
    (a table's columns, say): a ``{% for %}`` over one is unrolled into a
    copy of its body per item, its ``{% if %}`` on the item decided, so its
    cells are text and slots of the enclosing node. They are globals too; a
    template that assigns the name, or a context value of that name, does
    not change what such a loop rendered.
    """

    code_generator_class = LiveCodeGenerator
    template_class = LiveTemplate
    concat = staticmethod(join_html)

    def __init__(self, constants: t.Mapping[str, t.Any] | None = None, **options: t.Any) -> None:
        options.setdefault("autoescape", True)
        options.setdefault("undefined", LiveUndefined)
        super().__init__(**options)
        self.globals.update(UPLOAD_GLOBALS)  # live_file_input, live_img_preview, upload_errors
        self.globals["js"] = js  # JS commands: phx-click="{{ js.hide('#modal').push('close') }}"
        self.globals["live_component"] = live_component
        self.constants = dict(constants or {})
        self.globals.update(self.constants)
        self._refuse_unsupported()

    def overlay(self, *args: t.Any, **options: t.Any) -> t.Self:
        """Jinja's overlay, refusing the same options as a new environment."""
        overlay = super().overlay(*args, **options)
        overlay._refuse_unsupported()
        return overlay

    def _refuse_unsupported(self) -> None:
        if self.is_async:
            raise TypeError("LiveEnvironment cannot render async templates: drop enable_async")
        if self.autoescape is not True:
            raise TypeError(
                f"LiveEnvironment always autoescapes; got autoescape={self.autoescape!r}"
                " (use |safe or Markup for trusted HTML)"
            )
        if not issubclass(self.code_generator_class, LiveCodeGenerator):
            raise TypeError(
                f"LiveEnvironment needs a LiveCodeGenerator, not {self.code_generator_class!r}"
            )

    def getattr(self, obj: t.Any, attribute: str) -> t.Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def context_variables(context: t.Any) -> dict[str, t.Any]:
    """A view's or component's context as template variables: its keys, or its dataclass fields."""
    if type(context) is dict or isinstance(context, t.Mapping):
        return dict(context)
    if dataclasses.is_dataclass(context) and not isinstance(context, type):
        return {field.name: getattr(context, field.name) for field in dataclasses.fields(context)}
    return {}


def render_template(
    template: jinja2.Template, context: t.Mapping[str, t.Any], memo: Memo | None = None
) -> Tree:
    """Render a template compiled by a ``LiveEnvironment`` to its rendered tree.

    Successive renders of one view pass the same ``memo``, so loop entries of
    unchanged rows are reused (see ``memo``). The streams of ``context`` are
    empty afterwards: their operations are in the tree (see ``stream``).
    """
    variables = dict(context)
    if memo is not None:
        variables[MEMO_VARIABLE] = memo
    try:
        with live_render(), collecting_streams() as streams:
            tree = build_tree(template.root_render_func(template.new_context(variables)))
    except BaseException as error:
        if memo is not None:
            memo.discard()
        if isinstance(error, Exception):
            # As ``Template.render`` does: its traceback in the template's own lines.
            template.environment.handle_exception()
        raise
    if memo is not None:
        memo.rendered()
    forget_pending(context)
    return with_streams(tree, streams)


_default_environment = LiveEnvironment()
COMPILED_SOURCES = 256  # the most sources ``render_tree`` keeps compiled


@functools.lru_cache(maxsize=COMPILED_SOURCES)
def _compile(source: str) -> jinja2.Template:
    return _default_environment.from_string(source)


def render_tree(source: str, context: t.Mapping[str, t.Any], memo: Memo | None = None) -> Tree:
    """Compile ``source`` (cached) and return the tree a join reply carries as ``rendered``."""
    return render_template(_compile(source), context, memo)

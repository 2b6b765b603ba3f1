"""The Jinja2 environment of live templates, and ``render_tree``."""

from __future__ import annotations

import functools
import typing as t

import jinja2

from .compiler import LiveCodeGenerator
from .memo import MEMO_VARIABLE, Memo
from .tree import Tree, build_tree


class LiveEnvironment(jinja2.Environment):
    """A Jinja2 environment whose templates render to rendered trees.

    Autoescape is always on. ``obj.name`` on a plain dict looks the key up
    first (Jinja tries the attribute first, paying for an ``AttributeError``
    on every row of a table); a key that shadows a dict method therefore wins.
    """

    code_generator_class = LiveCodeGenerator

    def __init__(self, **options: t.Any) -> None:
        options.setdefault("autoescape", True)
        super().__init__(**options)

    def getattr(self, obj: t.Any, attribute: str) -> t.Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def render_template(
    template: jinja2.Template, context: t.Mapping[str, t.Any], memo: Memo | None = None
) -> Tree:
    """Render a template compiled by a ``LiveEnvironment`` to its rendered tree.

    Successive renders of one view pass the same ``memo``, so loop entries of
    unchanged rows are reused (see ``memo``).
    """
    variables = dict(context)
    if memo is None:
        return build_tree(template.root_render_func(template.new_context(variables)))
    variables[MEMO_VARIABLE] = memo
    try:
        tree = build_tree(template.root_render_func(template.new_context(variables)))
    except BaseException:
        memo.discard()
        raise
    memo.rendered()
    return tree


_default_environment = LiveEnvironment()


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> jinja2.Template:
    return _default_environment.from_string(source)


def render_tree(source: str, context: t.Mapping[str, t.Any], memo: Memo | None = None) -> Tree:
    """Compile ``source`` (cached) and return the tree a join reply carries as ``rendered``."""
    return render_template(_compile(source), context, memo)

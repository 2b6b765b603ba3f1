"""Compile Jinja2 templates so that rendering streams the shape of a rendered tree.

Jinja compiles a template to Python generators that yield strings. This code
generator keeps that machinery (scoping, filters, macros, includes, blocks) and
changes only what is yielded:

* static text is yielded as ``Static`` constants created once, at compile time;
* every ``{{ expr }}``, ``{% include %}``, ``{% block %}`` call, ``{% call %}``,
  ``{% filter %}`` and recursive loop yields exactly one value: a dynamic slot;
* each template, block, ``{% if %}`` branch and ``{% for %}`` body is framed by
  markers (``Open``/``ForOpen`` ... ``CLOSE``) that carry its statics.

A ``{% for %}`` whose body holds only text, slots, ``{% if %}``, ``{% set %}``
and nested loops skips the markers: its code builds the comprehension's dicts
directly and yields the whole comprehension as one value, which is most of a
page's rows at a fraction of the cost. ``LiveEnvironment.concat`` turns it
back into HTML where Jinja joins the output (``render``, macros, ``super()``).

Markers are empty strings (a loop entry reused by change tracking, see
``memo``, carries the entry's HTML), so joining the stream still gives the
exact HTML Jinja would render (``Template.render`` keeps working), while
``tree.build_tree`` turns the same stream into a Phoenix rendered tree without
ever splitting HTML. The statics of every scope are fixed at compile time, and
the same list object is reused by every render, so comparing statics is an
identity check. A loop's iterable is evaluated before its ``ForOpen``: a
``Stream`` gives the marker its operations (see ``stream.open_loop``).
"""

from __future__ import annotations

import copy
import io
import itertools
import re
import typing as t

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame, find_undeclared
from jinja2.filters import FILTERS
from jinja2.tests import TESTS
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, _escape_inner, escape  # type: ignore[attr-defined]

from .js import JsCommands

SUPPORTED_JINJA = ">=3.1, <3.2"


def check_jinja_version(version: str) -> None:
    """Refuse a Jinja2 whose internals this compiler was not written against.

    The compiler extends Jinja's code generator, whose private methods and
    frames change between minor releases without notice.
    """
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None or not (3, 1) <= (int(found[1]), int(found[2])) < (3, 2):
        raise ImportError(
            f"the live template compiler needs Jinja2 {SUPPORTED_JINJA}, found {version}"
        )


check_jinja_version(getattr(jinja2, "__version__", "unknown"))

_LOOP_IDS = itertools.count()
_LOOP_VARS_MADE = re.compile(r"^(\s*)_loop_vars = \{\}$", re.MULTILINE)

# Small ints as shown: one str each, the same object at every render, so the
# differ finds an unchanged number by identity and views' trees share it.
INT_TEXTS = tuple(map(str, range(4096)))


def int_text(value: int) -> str:
    """``str(value)``, the same object each time for a small one (see ``INT_TEXTS``)."""
    return INT_TEXTS[value] if -1 < value < len(INT_TEXTS) else str(value)


class Static(str):
    """Static template text: sent once, in a node's statics."""

    __slots__ = ()


class Open(str):
    """Starts a rendered node (template, block or ``if`` branch)."""

    statics: list[str]

    def __new__(cls, statics: list[str]) -> Open:
        marker = super().__new__(cls, "")
        marker.statics = statics
        return marker


class ForOpen(Open):
    """Starts a comprehension whose entries share ``statics``.

    ``loop_id`` is unique in the process: markers are equal strings, so
    change tracking keeps a loop's entries by this id.
    """

    loop_id: int
    stream: list[t.Any] | None = None  # a stream's operations on the wire (see ``stream``)

    def __new__(cls, statics: list[str]) -> ForOpen:
        marker = t.cast(ForOpen, super().__new__(cls, statics))
        marker.loop_id = next(_LOOP_IDS)
        return marker

    def streaming(self, operations: list[t.Any]) -> ForOpen:
        """This loop's marker for one render of a stream, carrying its operations."""
        marker = t.cast(ForOpen, Open.__new__(ForOpen, self.statics))
        marker.loop_id, marker.stream = self.loop_id, operations
        return marker


class Item(str):
    """Starts one entry of a comprehension; ``key`` identifies it across renders.

    In a loop with change tracking (``memo``), ``built`` is the entry the
    builder made after this marker. A marker that reuses an entry instead
    carries it as ``entry``, and its text is the entry's HTML: nothing else of
    the entry follows it, yet joining the output still gives the page.
    """

    key: t.Hashable | None
    entry: dict[str, t.Any] | None = None
    built: dict[str, t.Any] | None = None

    def __new__(cls, key: t.Hashable | None = None, html: str = "") -> Item:
        marker = super().__new__(cls, html)
        marker.key = key
        return marker


class Close(str):
    """Ends the innermost open node or comprehension."""

    __slots__ = ()


CLOSE = Close()
POSITIONAL_ITEM = Item()


class Cid(str):
    """A live component in a slot (``live_component``): the tree holds its cid, an int.

    It has no HTML of its own: a component's output needs its lifecycle, which
    only a view's render runs (``component``). Escaping it, as the buffered
    parts of a template (macros, ``{% set %}`` blocks, filters) do, is refused.
    """

    cid: int

    def __new__(cls, cid: int) -> Cid:
        marker = super().__new__(cls, "")
        marker.cid = cid
        return marker

    def __html__(self) -> str:
        raise TypeError(
            "live_component() must be output directly by a template,"
            " not inside a macro, a filter or a {% set %} block"
        )


def loop_key(value: t.Any) -> t.Hashable | None:
    """A loop entry's key: its ``id`` (or its own value when scalar), else None.

    Keys let the differ recognise moved rows and send ``km`` moves instead of
    every shifted row; entries without a usable key are matched by position.
    """
    kind = type(value)
    if kind is dict:
        key: t.Hashable | None = value.get("id")
    elif kind is str or kind is int:
        key = value
    else:
        key = getattr(value, "id", None)
    return key


def loop_item(value: t.Any) -> Item:
    """Mark a loop entry (no change tracking)."""
    key = loop_key(value)
    return POSITIONAL_ITEM if key is None else Item(key)


def escape_value(value: t.Any) -> str:
    """``escape`` without allocating a ``Markup`` for a str or an int.

    ``_escape_inner`` is MarkupSafe's own escaping of a str (3.0, see uv.lock):
    a tree's slot is sent, never escaped again, so it needs no Markup.
    """
    kind = type(value)
    if kind is str:
        return _escape_inner(value)
    if kind is int:
        return int_text(value)
    if kind is Cid or kind is Markup:
        return t.cast(str, value)
    if kind is JsCommands:  # its HTML, made once, the same str in every view's tree
        return t.cast(JsCommands, value).__html__()
    return escape(value)


def escape_slot(value: t.Any) -> str | int:
    """A slot's value in a tree built directly: escaped HTML, or a component's cid."""
    kind = type(value)
    if kind is str:
        return _escape_inner(value)
    if kind is int:
        return int_text(value)
    if kind is Markup:
        return t.cast(str, value)
    if kind is Cid:
        return t.cast(Cid, value).cid
    if kind is JsCommands:
        return t.cast(JsCommands, value).__html__()
    return escape(value)


class ThenClose:
    """The parent of a child template whose own root node wraps the parent's output.

    Jinja yields the parent's output last, after the child's root frame is
    done, so this closes the child's node once the parent has rendered.
    """

    def __init__(self, parent: t.Any) -> None:
        self.parent = parent

    def root_render_func(self, context: t.Any) -> t.Iterator[str]:
        yield from self.parent.root_render_func(context)
        yield CLOSE


_MEMO_MODULE = __name__.rpartition(".")[0] + ".memo"
_STREAM_MODULE = __name__.rpartition(".")[0] + ".stream"
_TREE_MODULE = __name__.rpartition(".")[0] + ".tree"
# A template holding any of these reads more than its names: the context itself, or what
# an extension reads.
_OUTSIDE = (
    nodes.ContextReference,
    nodes.DerivedContextReference,
    nodes.ImportedName,
    nodes.ExtensionAttribute,
    nodes.OverlayScope,
)
# A loop body holding any of these reads more than its row.
_CONTEXTUAL = (
    nodes.Include,
    nodes.Block,
    nodes.Import,
    nodes.FromImport,
    nodes.CallBlock,
    nodes.Macro,
    *_OUTSIDE,
)
# Jinja's own filters and tests whose result depends on their arguments only.
# Not: random, sameas (identity, not value), and the filters that call other
# filters or tests by name (map, select, ...), which read the context.
_PURE_FILTERS = frozenset(FILTERS) - {
    "random",
    "map",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
}
_PURE_TESTS = frozenset(TESTS) - {"sameas"}
PURE_MARK = "__live_pure__"

Function = t.TypeVar("Function", bound=t.Callable[..., t.Any])


def pure(function: Function) -> Function:
    """Mark an app's filter, test or global function as pure, for change tracking.

    Pure means its result depends on its arguments alone: no clock, no
    database, no randomness, no state. A loop whose body calls a function
    not marked pure renders every row every time, as it must; marking a
    function pure that is not makes unchanged rows show stale output.
    """
    if _reads_context(function):
        raise TypeError(f"{function!r} reads the template context: it cannot be pure")
    try:
        setattr(function, PURE_MARK, True)
    except (AttributeError, TypeError):
        raise TypeError(f"pure() cannot mark {function!r}: wrap it in a function") from None
    return function


def is_pure(*values: t.Any) -> bool:
    """True when every value is a function marked ``pure``, or Jinja's ``range`` or ``dict``."""
    for value in values:
        if value is range or value is dict:
            continue
        if getattr(value, PURE_MARK, False) is not True or _reads_context(value):
            return False
    return True


def _reads_context(function: t.Any) -> bool:
    passes = getattr(function, "jinja_pass_arg", None)
    return getattr(passes, "name", None) == "context"


def _trusted(name: str, is_filter: bool, environment: t.Any) -> bool:
    """A filter or test that is pure: marked so, or one of Jinja's own pure ones."""
    if is_filter:
        functions, builtins, known = environment.filters, FILTERS, _PURE_FILTERS
    else:
        functions, builtins, known = environment.tests, TESTS, _PURE_TESTS
    function = functions.get(name)
    if name in known and function is builtins[name]:
        return True
    return function is not None and is_pure(function)


def template_reads(template: jinja2.Template) -> frozenset[str] | None:
    """The names a template may read from its context and its globals, with the templates
    it includes, imports or extends; None when its output may depend on more: a template
    named at render time, the context itself, or a filter or test that is not pure (see
    ``pure``). Read from its source, anew at each call."""
    environment, name = template.environment, template.name
    return None if name is None else _reads(environment, name, set())


def _reads(environment: jinja2.Environment, name: str, seen: set[str]) -> frozenset[str] | None:
    if name in seen:
        return frozenset()
    seen.add(name)
    if environment.loader is None:
        return None
    try:
        source = environment.loader.get_source(environment, name)[0]
    except jinja2.TemplateNotFound:
        return None
    body = environment.parse(source)
    if any(body.find_all(_OUTSIDE)):
        return None
    for used in body.find_all((nodes.Filter, nodes.Test)):
        if not _trusted(used.name, isinstance(used, nodes.Filter), environment):
            return None
    # Every name loaded (Jinja's undeclared variables leave the globals out): its own
    # locals too, which is only more than needed.
    names = {used.name for used in body.find_all(nodes.Name) if used.ctx == "load"}
    for other in meta.find_referenced_templates(body):
        more = None if other is None else _reads(environment, other, seen)
        if more is None:
            return None
        names |= more
    return frozenset(names)


def _row_reads(loop: nodes.For, environment: t.Any) -> list[str] | None:
    """The names besides its row that a loop body reads; None if it cannot track changes.

    Change tracking (see ``memo``) needs a body that renders the same entry
    for an equal row: it reads its row, pure filters and tests, and names
    whose values must be pure functions or comparable values (checked at
    render time: the context may supply any value under a global's name).
    """
    if not isinstance(loop.target, nodes.Name) or loop.recursive:
        return None
    for child in loop.body:
        if isinstance(child, _CONTEXTUAL) or any(child.find_all(_CONTEXTUAL)):
            return None
        for used in child.find_all((nodes.Filter, nodes.Test)):
            if not _trusted(used.name, isinstance(used, nodes.Filter), environment):
                return None
    loaded = {
        name.name
        for child in loop.body
        for name in child.find_all(nodes.Name)
        if name.ctx == "load"
    }
    return sorted(find_undeclared(loop.body, loaded) - {loop.target.name})


_QUIET = (
    nodes.Extends,
    nodes.Block,
    nodes.Macro,
    nodes.Import,
    nodes.FromImport,
    nodes.Assign,
    nodes.AssignBlock,
)


def _quiet_child(template: nodes.Template) -> bool:
    """True when a child template renders nothing of its own (its parent's root is the root).

    Otherwise (text before ``{% extends %}``, say) the child gets a root node
    of its own with the parent's output as its last slot, as Jinja renders it.
    """
    body = template.body
    extends = next(i for i, child in enumerate(body) if isinstance(child, nodes.Extends))
    before_quiet = all(isinstance(child, _QUIET) for child in body[:extends])
    after_quiet = all(isinstance(child, (*_QUIET, nodes.Output)) for child in body[extends:])
    return before_quiet and after_quiet


# The statements a loop body built directly may hold (see ``_direct``).
_DIRECT = (nodes.Output, nodes.If, nodes.For, nodes.Assign)


def _direct(body: list[nodes.Node]) -> bool:
    """True when a loop body can build its entries directly: text, slots, ifs and loops.

    Anything else (an include, a block, a call or filter block, a recursive
    loop) keeps the marker stream that ``build_tree`` assembles.
    """
    for child in body:
        for statement in (child, *child.find_all(nodes.Stmt)):
            if not isinstance(statement, _DIRECT):
                return False
            if isinstance(statement, nodes.For) and statement.recursive:
                return False
    return True


# What needs the loop's own scope: an include or a block sees the loop's names, an
# assignment stays inside the loop, a block or macro may be defined once.
_OWN_SCOPE = (
    nodes.Include,
    nodes.Block,
    nodes.Import,
    nodes.FromImport,
    nodes.Macro,
    nodes.CallBlock,
    nodes.Assign,
    nodes.AssignBlock,
)


class _Unroll(NodeTransformer):
    """Loops over a constant (``LiveEnvironment(constants=...)``) become one body per item.

    Each copy of the body has the loop's names replaced by the item's values,
    and its ``{% if %}`` on them decided: a table's cells, one per column of
    a constant list, are then text and slots of its row, not entries of a
    comprehension sent again with each row.
    """

    def __init__(
        self, template: nodes.Template, constants: t.Mapping[str, t.Any], environment: t.Any
    ) -> None:
        bound = _bound_names(template)
        self.constants = {name: value for name, value in constants.items() if name not in bound}
        self.eval_ctx = nodes.EvalContext(environment)
        # Nodes refer to their environment: a copy of a body shares it (its compiled
        # templates, say), rather than copying it.
        self.shared = {id(environment): environment}

    def visit_For(self, node: nodes.For) -> nodes.Node | list[nodes.Node]:
        node = t.cast(nodes.For, self.generic_visit(node))
        names = _target_names(node.target)
        if not (
            isinstance(node.iter, nodes.Name)
            and node.iter.name in self.constants
            and names
            and not (node.recursive or node.else_ or node.test)
            and not find_undeclared(node.body, ("loop",))
            and not names & _bound_names(nodes.Template(node.body))
            and not any(nodes.Template(node.body).find_all(_OWN_SCOPE))
        ):
            return node
        try:
            bodies = [
                _Substitute(dict(_unpack(node.target, item))).visit_body(
                    copy.deepcopy(node.body, dict(self.shared))
                )
                for item in self.constants[node.iter.name]
            ]
        except (nodes.Impossible, TypeError):  # not an iterable of constants
            return node
        decide = _Decide(self.eval_ctx)
        return [child for body in bodies for child in decide.visit_body(body)]


def _bound_names(template: nodes.Template) -> set[str]:
    """Names a template assigns: a loop's, a ``{% set %}``'s, a macro's parameters."""
    return {
        name.name for name in template.find_all(nodes.Name) if name.ctx in ("store", "param")
    }


def _target_names(target: nodes.Node) -> set[str]:
    if isinstance(target, nodes.Name):
        return {target.name}
    if isinstance(target, nodes.Tuple) and all(isinstance(n, nodes.Name) for n in target.items):
        return {t.cast(nodes.Name, n).name for n in target.items}
    return set()


def _unpack(target: nodes.Node, item: t.Any) -> t.Iterator[tuple[str, nodes.Const]]:
    """The constant each name of a loop's target takes for ``item``."""
    if isinstance(target, nodes.Name):
        yield target.name, nodes.Const.from_untrusted(item)
        return
    names = t.cast(nodes.Tuple, target).items
    try:
        values = list(item)
    except TypeError:
        raise nodes.Impossible() from None
    if len(values) != len(names):
        raise nodes.Impossible()
    for name, value in zip(names, values, strict=True):
        yield t.cast(nodes.Name, name).name, nodes.Const.from_untrusted(value)


class _Substitute(NodeTransformer):
    """Replace the names a loop binds by the constants they take."""

    def __init__(self, values: dict[str, nodes.Const]) -> None:
        self.values = values

    def visit_Name(self, node: nodes.Name) -> nodes.Node:
        value = self.values.get(node.name)
        if value is None or node.ctx != "load":
            return node
        return nodes.Const(value.value, lineno=node.lineno)

    def visit_body(self, body: list[nodes.Node]) -> list[nodes.Node]:
        return [t.cast(nodes.Node, self.visit(child)) for child in body]


class _Decide(NodeTransformer):
    """An ``{% if %}`` whose test is now a constant becomes the branch it takes."""

    def __init__(self, eval_ctx: nodes.EvalContext) -> None:
        self.eval_ctx = eval_ctx

    def visit_If(self, node: nodes.If) -> nodes.Node | list[nodes.Node]:
        try:
            taken = t.cast(nodes.Expr, node.test).as_const(self.eval_ctx)
        except nodes.Impossible:  # decided when it renders; the ifs in its branches may be now
            node.body = self.visit_body(node.body)
            for elif_ in node.elif_:
                elif_.body = self.visit_body(elif_.body)
            node.else_ = self.visit_body(node.else_)
            return node
        if taken:
            return self.visit_body(node.body)
        if not node.elif_:
            return self.visit_body(node.else_)
        first, *rest = node.elif_
        following = nodes.If(first.test, first.body, rest, node.else_, lineno=first.lineno)
        return self.visit_If(following)

    def visit_body(self, body: list[nodes.Node]) -> list[nodes.Node]:
        out: list[nodes.Node] = []
        for child in body:
            result = self.visit(child)
            out.extend(result if isinstance(result, list) else [result])
        return out


# A loop built directly: its entries' list, that list's and the entry keys' appends,
# its memo's plan (if any), and whether its row stays the object the loop gave.
Built = tuple[str, str, str, str | None, bool]


class _Scope:
    """Statics collected for one node while its code is generated.

    ``var`` names the dict the generated code fills when the node is built
    directly; None when its code yields markers instead.
    """

    def __init__(self, var: str | None = None) -> None:
        self.statics: list[str] = []
        self.pending: list[str] = []
        self.var = var

    @property
    def slot(self) -> str:
        """The key of the slot that ``end_slot`` began."""
        return str(len(self.statics) - 1)

    def add_text(self, text: str) -> None:
        self.pending.append(text)

    def end_slot(self) -> None:
        self.statics.append("".join(self.pending))
        self.pending = []

    def finish(self) -> list[str]:
        self.end_slot()
        return self.statics


class LiveCodeGenerator(CodeGenerator):
    """Jinja's code generator, emitting the marker stream described above.

    Buffered frames (macro bodies, ``{% filter %}``, ``{% set %}`` blocks,
    recursive loops) keep Jinja's own code: their output becomes one string.
    """

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._scopes: list[_Scope] = []
        self._constants: list[tuple[str, str, t.Any]] = []
        self._scoped_frames: set[int] = set()
        self._child_template = False
        self._wrap_child = False
        # Statements placed first in a loop body to start its entry, each with
        # its for-else flag, memo variable, the names besides its row the body
        # reads and, for a loop built directly, its entries' list, that list's
        # and the entry keys' appends, and its memo's plan, if any (Jinja
        # forbids custom nodes).
        self._loop_items: dict[int, tuple[str | None, str | None, list[str], Built | None]] = {}
        # The rows of the loops built directly around the code being made, each with the
        # variable that says, once a turn, whether the row is a dict (``visit_Getattr``).
        self._dict_rows: dict[str, str] = {}
        # Iterables of live loops, evaluated before the loop: the name holding each.
        self._loop_iterables: dict[int, str] = {}

    # -- scope bookkeeping -------------------------------------------------

    def _constant(self, kind: str, value: t.Any) -> str:
        name = f"_phx_c{len(self._constants)}"
        self._constants.append((name, kind, value))
        return name

    def _open_scope(self, kind: str) -> str:
        """Start a node; returns the name of its marker constant."""
        name = self._new_scope(kind)
        self.writeline(f"yield {name}")
        return name

    def _new_scope(self, kind: str, var: str | None = None) -> str:
        """Start a node whose marker the caller yields; returns its marker constant's name.

        With ``var``, the node is built directly in that variable, and the
        constant is its statics.
        """
        scope = _Scope(var)
        self._scopes.append(scope)
        return self._constant("Statics" if var else kind, scope)

    def _direct_target(self) -> str | None:
        """Where the current slot's value goes when built directly: ``node['i']``."""
        scope = self._scopes[-1]
        return None if scope.var is None else f"{scope.var}[{scope.slot!r}]"

    def _close_scope(self) -> None:
        self._scopes.pop().finish()
        self.writeline("yield _phx_CLOSE")

    def _live(self, frame: Frame) -> bool:
        """True where output goes to the marker stream rather than a buffer."""
        return frame.buffer is None and bool(self._scopes)

    def _slot(self) -> None:
        self._scopes[-1].end_slot()

    def _write_static(self, text: str) -> None:
        if text:
            self._scopes[-1].add_text(text)
            if self._scopes[-1].var is None:
                self.writeline(f"yield {self._constant('Static', text)}")

    def _branch(self, body: list[nodes.Node], frame: Frame, target: str | None) -> None:
        """A node in the current slot: built in ``target`` directly, else by markers."""
        if target is None:
            self._open_scope("Open")
            self.blockvisit(body, frame)
            self._close_scope()
            return
        node = self.temporary_identifier()
        statics = self._new_scope("Open", node)
        self.writeline(f'{target} = {node} = {{"s": {statics}}}')
        self.blockvisit(body, frame)
        self._scopes.pop().finish()

    def _empty_slot(self, target: str | None) -> None:
        self.writeline('yield ""' if target is None else f'{target} = ""')

    # -- template, frames --------------------------------------------------

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        self._child_template = node.find(nodes.Extends) is not None
        for extends in node.find_all(nodes.Extends):
            if extends not in node.body:
                self.fail(
                    "{% extends %} must be at the top level of a live template", extends.lineno
                )
        self._wrap_child = self._child_template and not _quiet_child(node)
        constants = getattr(self.environment, "constants", None)
        if constants:
            _Unroll(node, constants, self.environment).visit(node)
        super().visit_Template(node, frame)
        self.writeline(
            f"from {__name__} import Static as _phx_Static, Open as _phx_Open, "
            "ForOpen as _phx_ForOpen, CLOSE as _phx_CLOSE, loop_item as _phx_item, "
            "escape_value as _phx_escape, escape_slot as _phx_escape_slot, "
            "loop_key as _phx_key, ThenClose as _phx_ThenClose, _escape_inner as _phx_escape_str, "
            "INT_TEXTS as _phx_ints",
            extra=1,
        )
        self.writeline(
            f"from {_TREE_MODULE} import comprehension as _phx_comprehension, "
            "close_comprehension as _phx_close_comprehension"
        )
        self.writeline(f"from {_MEMO_MODULE} import loop_memo as _phx_loop_memo")
        self.writeline(f"from {_STREAM_MODULE} import open_loop as _phx_open_loop")
        for name, kind, value in self._constants:
            if kind == "Static":
                self.writeline(f"{name} = _phx_Static({value!r})")
            elif kind == "Statics":
                self.writeline(f"{name} = {value.statics!r}")
            else:
                self.writeline(f"{name} = _phx_{kind}({value.statics!r})")
        self._drop_unread_loop_vars()

    def _drop_unread_loop_vars(self) -> None:
        """Jinja gives every loop's every turn a new dict for the variables its body sets
        (``_loop_vars = {}``); where no code reads or sets one, the turns skip it. The line
        stays, as ``pass``: a template error's traceback maps code lines to the template's."""
        stream = self.stream
        if not isinstance(stream, io.StringIO):
            return
        self.write("")  # what is pending (a newline) goes out first
        source = stream.getvalue()
        made = _LOOP_VARS_MADE.findall(source)
        if made and len(made) == source.count("_loop_vars"):
            stream.seek(0)
            stream.truncate()
            stream.write(_LOOP_VARS_MADE.sub(r"\1pass", source))

    def enter_frame(self, frame: Frame) -> None:
        super().enter_frame(frame)
        root = frame.rootlevel and (self._wrap_child or not self._child_template)
        if frame.buffer is None and (root or frame.block_frame):
            self._scoped_frames.add(id(frame))
            self._open_scope("Open")

    def leave_frame(self, frame: Frame, with_python_scope: bool = False) -> None:
        if id(frame) in self._scoped_frames:
            self._scoped_frames.discard(id(frame))
            if frame.rootlevel and self._wrap_child:
                # The parent's output fills the last slot; _phx_ThenClose ends the node.
                self._slot()
                self._scopes.pop().finish()
            else:
                self._close_scope()
        super().leave_frame(frame, with_python_scope)

    def start_write(self, frame: Frame, node: nodes.Node | None = None) -> None:
        # Call blocks, filter blocks and recursive loops yield one value each.
        if self._live(frame):
            self._slot()
        super().start_write(frame, node)

    # -- output ------------------------------------------------------------

    def visit_Extends(self, node: nodes.Extends, frame: Frame) -> None:
        super().visit_Extends(node, frame)
        if self._wrap_child:
            self.writeline("parent_template = _phx_ThenClose(parent_template)")

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        if frame.require_output_check and self.has_known_extends:
            return  # Jinja renders nothing after a top-level {% extends %}
        if not self._live(frame):
            if frame.buffer is None and self._child_template:
                return  # text outside blocks of a child template is not rendered
            super().visit_Output(node, frame)
            return
        finalize = self._make_finalize()
        text: list[str] = []
        for child in node.nodes:
            try:
                if not (finalize.const or isinstance(child, nodes.TemplateData)):
                    raise nodes.Impossible()
                text.append(self._output_child_to_const(child, frame, finalize))
                continue
            except (nodes.Impossible, Exception):
                pass
            self._write_static("".join(text))
            text = []
            self._slot()
            target = self._direct_target()
            self.writeline("yield " if target is None else f"{target} = ", child)
            self._output_child_pre(child, frame, finalize)
            self.visit(child, frame)
            self._output_child_post(child, frame, finalize)
        self._write_static("".join(text))

    def visit_If(self, node: nodes.If, frame: Frame) -> None:
        if not self._live(frame):
            super().visit_If(node, frame)
            return
        self._slot()
        target = self._direct_target()
        if_frame = frame.soft()
        for keyword, branch in [("if ", node), *(("elif ", elif_) for elif_ in node.elif_)]:
            self.writeline(keyword, branch)
            self.visit(branch.test, if_frame)
            self.write(":")
            self.indent()
            self._branch(branch.body, if_frame, target)
            self.outdent()
        self.writeline("else:")
        self.indent()
        if node.else_:
            self._branch(node.else_, if_frame, target)
        else:
            self._empty_slot(target)
        self.outdent()

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if node.recursive or not self._live(frame):
            super().visit_For(node, frame)
            return
        # The body becomes a comprehension; a for-else gets a slot of its own
        # right after it, rendered only when the loop ran zero times. A body
        # of text, slots, ifs and loops builds its entries directly (the
        # comprehension goes out whole), any other keeps the marker stream.
        else_body, node.else_ = node.else_, []
        target = node.target
        key = (
            nodes.Name(target.name, "load") if isinstance(target, nodes.Name) else nodes.Const(None)
        )
        ran = self.temporary_identifier() if else_body else None
        reads = _row_reads(node, self.environment)
        memo = None if reads is None else self.temporary_identifier()
        if ran:
            self.writeline(f"{ran} = 0")
        self._slot()
        slot = self._direct_target()
        direct = slot is not None or _direct(node.body)
        # The iterable is evaluated first: a stream gives its marker its operations.
        rows, loop = self.temporary_identifier(), self.temporary_identifier()
        self.writeline(f"{rows} = ", node.iter)  # an error in it points at its line
        self.visit(node.iter, frame)
        entry = self.temporary_identifier() if direct else None
        opened = f"{self._new_scope('ForOpen')}, {rows}" + (", True" if else_body else "")
        self._scopes[-1].var = entry
        self.writeline(f"{loop}, {rows} = _phx_open_loop({opened})")
        built = None
        if direct:
            comprehension, entries = self.temporary_identifier(), self.temporary_identifier()
            self.writeline(f"{comprehension} = _phx_comprehension({loop})")
            self.writeline(f"{entries} = []")
        else:
            self.writeline(f"yield {loop}")
        if memo:
            self.writeline(f"{memo} = _phx_loop_memo(context, {loop})")
        # A body reading only its row, in a loop without filter or else, takes
        # its entries from the memo's plan, which fills the comprehension: it
        # renders only the rows to render.
        plan = None
        if direct and memo and not reads and not else_body and node.test is None:
            plan, todo = self.temporary_identifier(), self.temporary_identifier()
            self.writeline(
                f"{plan} = {memo}.plan({rows}, {comprehension}) if {memo} is not None else None"
            )
            self.writeline(f"if {plan} is not None:")
            self.indent()
            self.writeline(f"{rows}, {todo} = {plan}")
            self.writeline(f"{plan} = iter({todo})")
            self.outdent()
        if direct:
            # The lists' appends, bound once for the loop rather than looked up for each row.
            add_entry, add_key = self.temporary_identifier(), self.temporary_identifier()
            self.writeline(f"{add_entry} = {entries}.append")
            self.writeline(f"{add_key} = {comprehension}.entry_keys.append")
            # A body that assigns might rebind the row: it is not known to stay a dict.
            fixed = not any(True for _ in node.find_all(nodes.Assign))
            built = (entries, add_entry, add_key, plan, fixed)
        item = nodes.ExprStmt(key, lineno=node.lineno)
        self._loop_items[id(item)] = (ran, memo, reads or [], built)
        node.body = [item, *node.body]
        self._loop_iterables[id(node.iter)] = rows
        dict_rows = dict(self._dict_rows)
        try:
            super().visit_For(node, frame)
        finally:
            node.body, node.else_ = node.body[1:], else_body
            self._loop_iterables.pop(id(node.iter), None)
            self._dict_rows = dict_rows
        if built is None:
            self._close_scope()
        else:
            self._scopes.pop().finish()
            if plan is not None:
                self.writeline(f"if {plan} is None:")
                self.indent()
            self.writeline(f"_phx_close_comprehension({comprehension}, {built[0]})")
            if plan is not None:
                self.outdent()
            self.writeline(f"{slot} = {comprehension}" if slot else f"yield {comprehension}")
        if ran:
            self._slot()
            slot = self._direct_target()
            else_frame = frame.inner()
            else_frame.symbols.analyze_node(node, for_branch="else")
            self.writeline(f"if not {ran}:")
            self.indent()
            self.enter_frame(else_frame)
            self._branch(else_body, else_frame, slot)
            self.leave_frame(else_frame)
            self.outdent()
            self.writeline("else:")
            self.indent()
            self._empty_slot(slot)
            self.outdent()

    def visit(self, node: nodes.Node, *args: t.Any, **kwargs: t.Any) -> t.Any:
        rows = self._loop_iterables.pop(id(node), None)
        if rows is not None:
            self.write(rows)  # a live loop's iterable, evaluated before the loop
            return None
        return super().visit(node, *args, **kwargs)

    def _inline_escape(self, frame: Frame, finalize: t.Any) -> bool:
        """True for a slot built directly: a str is escaped in line, without a call."""
        return (
            self._live(frame)
            and self._scopes[-1].var is not None
            and finalize.src is None
            and frame.eval_ctx.autoescape
            and not frame.eval_ctx.volatile
        )

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: t.Any) -> None:
        if self._inline_escape(frame, finalize):
            self.write("(_phx_escape_str(_phx_v) if type(_phx_v := ")
            return
        if self._live(frame) and frame.eval_ctx.autoescape and not frame.eval_ctx.volatile:
            self.write("_phx_escape(" if self._scopes[-1].var is None else "_phx_escape_slot(")
            if finalize.src is not None:
                self.write(finalize.src)
            return
        super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: t.Any) -> None:
        if self._inline_escape(frame, finalize):
            self.write(f") is str else (_phx_ints[_phx_v] if -1 < _phx_v < {len(INT_TEXTS)}")
            self.write(" else str(_phx_v)) if type(_phx_v) is int")
            self.write(" else _phx_escape_slot(_phx_v))")
            return
        super()._output_child_post(node, frame, finalize)

    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        # ``row.name`` on a dict: an inline key lookup instead of a call per row.
        code = self._expression_code(node.node, frame) if isinstance(node.node, nodes.Name) else ""
        if not code.isidentifier() or self.environment.sandboxed:
            super().visit_Getattr(node, frame)
            return
        attr = repr(node.attr)
        is_dict = self._dict_rows.get(code) or f"type({code}) is dict"
        self.write(
            f"({code}[{attr}] if {is_dict} and {attr} in {code}"
            f" else environment.getattr({code}, {attr}))"
        )

    def _expression_code(self, node: nodes.Node, frame: Frame) -> str:
        """The Python code Jinja generates for ``node``, without writing it."""
        stream, self.stream = self.stream, io.StringIO()
        try:
            self.visit(node, frame)
            return self.stream.getvalue()
        finally:
            self.stream = stream

    def _value_code(self, name: str, frame: Frame) -> str:
        """Code for the value ``name`` has in ``frame``'s body and the loops nested in it.

        A name read only by a nested loop is unknown to this frame: that loop
        resolves it from the context, and so does this code.
        """
        if frame.symbols.find_ref(name) is None:
            return f"context.resolve_or_missing({name!r})"
        return self._expression_code(nodes.Name(name, "load"), frame)

    def visit_Continue(self, node: nodes.Continue, frame: Frame) -> None:
        if self._live(frame):
            self.fail("{% continue %} cannot skip part of a live loop's entry", node.lineno)
        super().visit_Continue(node, frame)

    def visit_Break(self, node: nodes.Break, frame: Frame) -> None:
        if self._live(frame):
            self.fail("{% break %} cannot end a live loop inside an entry", node.lineno)
        super().visit_Break(node, frame)

    def visit_ExprStmt(self, node: nodes.ExprStmt, frame: Frame) -> None:
        if id(node) not in self._loop_items:
            super().visit_ExprStmt(node, frame)
            return
        ran, memo, reads, built = self._loop_items.pop(id(node))
        row = self._expression_code(node.node, frame)
        values = "".join(f"{self._value_code(name, frame)}, " for name in reads)
        if ran:
            self.writeline(f"{ran} = 1")
        if built is not None:
            self._direct_entry(row, memo, values, built, isinstance(node.node, nodes.Name))
        elif memo is None:
            self.writeline(f"yield _phx_item({row})")
        else:
            item = self.temporary_identifier()
            self.writeline(
                f"{item} = {memo}.item({row}, ({values})) if {memo} is not None"
                f" else _phx_item({row})"
            )
            self.writeline(f"yield {item}")
            self.writeline(f"if {item}.entry is not None:")
            self.indent()
            self.writeline("continue  # the entry of an equal row, reused")
            self.outdent()

    def _direct_entry(
        self, row: str, memo: str | None, values: str, built: Built, named: bool
    ) -> None:
        """Start a loop entry built directly: a new dict, or the entry of an equal row.

        With the memo's plan, the loop runs over the rows to render only, and
        the plan gives their entries.
        """
        _, add_entry, add_key, plan, fixed = built
        entry = self._scopes[-1].var
        is_dict = f"type({row}) is dict"
        if named and fixed:  # asked once a turn, not by every ``row.name`` of the body
            self._dict_rows[row] = self.temporary_identifier()
            self.writeline(f"{self._dict_rows[row]} = {is_dict}")
            is_dict = self._dict_rows[row]
        if plan is not None:
            self.writeline(f"if {plan} is not None:")
            self.indent()
            self.writeline(f"{entry} = next({plan})")
            self.outdent()
            self.writeline("else:")
            self.indent()
        self.writeline(f"{add_key}({row}.get('id') if {is_dict} else _phx_key({row}))")
        if memo is None:
            self.writeline(f"{entry} = {{}}")
        else:
            self.writeline(
                f"{entry} = {memo}.row({row}, ({values})) if {memo} is not None else {{}}"
            )
        self.writeline(f"{add_entry}({entry})")
        if memo is not None:
            self.writeline(f"if {entry}:")
            self.indent()
            self.writeline("continue  # the entry of an equal row, reused")
            self.outdent()
        if plan is not None:
            self.outdent()

    def visit_Block(self, node: nodes.Block, frame: Frame) -> None:
        if self._live(frame) and not (frame.toplevel and self.has_known_extends):
            self._slot()
        super().visit_Block(node, frame)

    def visit_Include(self, node: nodes.Include, frame: Frame) -> None:
        if not self._live(frame):
            super().visit_Include(node, frame)
            return
        self._slot()
        if isinstance(node.template, nodes.Const) and isinstance(node.template.value, str):
            lookup = "get_template"
        elif isinstance(node.template, (nodes.Const, nodes.Tuple, nodes.List)):
            lookup = "select_template"
        else:
            lookup = "get_or_select_template"
        if node.ignore_missing:
            self.writeline("try:")
            self.indent()
        self.writeline(f"template = environment.{lookup}(", node)
        self.visit(node.template, frame)
        self.write(f", {self.name!r})")
        if node.ignore_missing:
            self.outdent()
            self.writeline("except TemplateNotFound:")
            self.indent()
            self.writeline('yield ""')
            self.outdent()
            self.writeline("else:")
            self.indent()
        if node.with_context:
            self.writeline(
                "yield from template.root_render_func(template.new_context("
                f"context.get_all(), True, {self.dump_local_context(frame)}))"
            )
        else:
            self.writeline("yield from template._get_default_module()._body_stream")
        if node.ignore_missing:
            self.outdent()

"""LiveComponents: parts of a view with their own state, template and events.

A view's template renders one with ``{{ live_component(ContactForm, id="form",
contact=contact) }}``. The component is identified by its class and ``id``
across renders, and by a cid (an integer) on the wire: the parent's slot holds
the cid, and the diff's ``"c"`` map holds each component's tree, whose root
element the client tags so that ``phx-target="{{ myself }}"`` sends events to
it. A component is rendered only when something it sees changed: new assigns
from the parent (see ``freeze``), an event, or ``send_update``; an unchanged
one sends nothing. The client says when one left the page
(``cids_will_destroy``, then ``cids_destroyed``), and only then is it freed,
as in Phoenix. The API follows PyView's (``mount(socket, assigns)``,
``update(socket, assigns)``, ``template(assigns, meta)``), with Jinja templates.
"""

from __future__ import annotations

import logging
import typing as t
from collections import deque
from dataclasses import dataclass, field
from datetime import date

import jinja2
from markupsafe import Markup

from .compiler import Cid
from .diff import diff_tree
from .lifecycle import call_handle_event
from .memo import Memo
from .shared_statics import share_statics
from .tree import Tree, to_html

if t.TYPE_CHECKING:
    from .socket import LiveViewSocket

T = t.TypeVar("T")
COMPONENTS_VARIABLE = "__phx_components"
RENDERED_VARIABLE = "__phx_rendered_cids"  # the components one template render rendered
OWNER_VARIABLE = "__phx_owner"  # the cid of the component whose template renders (0: the view's)
MAX_COMPONENTS = 1000  # reached by one render; a view keeps twice as many (see _make_room)
logger = logging.getLogger(__name__)


@dataclass
class ComponentMeta:
    """What a component's template knows of itself: ``myself`` is its cid, for ``phx-target``."""

    cid: int
    parent_meta: t.Any = None
    slots: dict[str, t.Any] = field(default_factory=dict)

    @property
    def myself(self) -> int:
        return self.cid


@dataclass
class ComponentSocket(t.Generic[T]):
    """The handle a component's callbacks get: its ``context`` (its state) and its cid."""

    context: T
    cid: int
    manager: ComponentsManager

    @property
    def myself(self) -> int:
        return self.cid

    async def send_parent(self, event: str, payload: dict[str, t.Any] | None = None) -> None:
        """Call the parent view's ``handle_event`` with ``payload`` as the event's values."""
        await self.manager.send_to_parent(event, {} if payload is None else payload)


class LiveComponent(t.Generic[T]):
    """Subclass, set ``template_name``, and override the callbacks you need.

    ``mount`` runs once, when the parent first renders the component;
    ``update`` after it and whenever the parent passes different assigns (or
    ``send_update`` sends some); ``handle_event`` for events whose
    ``phx-target`` is the component, with arguments bound from its signature
    as a view's are.
    """

    template_name: t.ClassVar[str]

    async def mount(self, socket: ComponentSocket[T], assigns: dict[str, t.Any]) -> None:
        """Set up ``socket.context`` from the parent's first assigns."""

    async def update(self, socket: ComponentSocket[T], assigns: dict[str, t.Any]) -> None:
        """Take what you need of new assigns into ``socket.context``; the default takes nothing."""

    async def handle_event(self, *args: t.Any, **kwargs: t.Any) -> dict[str, t.Any] | None:
        """React to an event targeted at this component (``phx-target="{{ myself }}"``); a
        dict returned is the reply a hook's ``pushEventTo`` callback receives."""
        return None

    def template(self, assigns: T, meta: ComponentMeta) -> str | jinja2.Template:
        """The template to render: ``template_name`` unless overridden (to choose by state)."""
        name = getattr(self, "template_name", None)
        if name is None:
            raise NotImplementedError(f"{type(self).__name__} needs a template_name")
        return t.cast(str, name)

    def template_context(self, assigns: T, meta: ComponentMeta) -> dict[str, t.Any]:
        """Template variables: the context's keys (or dataclass fields), ``context``,
        ``myself`` (for ``phx-target="{{ myself }}"``) and ``meta``."""
        from .template import context_variables  # template.py imports this module

        variables = context_variables(assigns)
        variables.update(context=assigns, myself=meta.myself, meta=meta)
        return variables


_SCALARS = frozenset({str, int, bool, type(None), Markup, date})


def freeze(value: t.Any) -> t.Hashable:
    """A stand-in for assigns, equal only for values that render the same.

    Types count (``Markup("<b>")`` is not ``"<b>"``, nor ``True`` ``1``), and
    containers are copied: a list the parent changes in place is a change.
    Any other object (a database row, say) could change behind an equal
    stand-in, so it never equals anything: passing one updates every time.
    """
    kind = type(value)
    if kind in _SCALARS:
        return (kind, value)
    if kind is float:
        return (kind, repr(value))
    if kind is dict:
        return (kind, tuple((freeze(key), freeze(item)) for key, item in value.items()))
    if kind is list or kind is tuple:
        return (kind, tuple(map(freeze, value)))
    return object()


class _Instance:
    """One component of a view, and what the client holds of it."""

    def __init__(self, component: LiveComponent[t.Any], key: tuple[type, t.Hashable]) -> None:
        self.component = component
        self.key = key
        self.context: t.Any = {}
        self.assigns: t.Hashable = None  # the parent's, as last given (``freeze``)
        self.memo = Memo()
        self.tree: Tree | None = None  # as the client has it
        self.dirty = True  # its state changed since it was rendered
        self.marked = False  # the client said it will destroy it


class ComponentsManager:
    """The components of one view: cids, state, lifecycle, renders and their changes."""

    def __init__(self, parent_socket: LiveViewSocket[t.Any]) -> None:
        self.parent_socket = parent_socket
        self.liveview: t.Any = None  # set when the view mounts, for ``send_parent``
        self.parent_events = 0  # calls of ``send_parent``: the view may have changed
        self._instances: dict[int, _Instance] = {}
        self._by_key: dict[tuple[type, t.Hashable], int] = {}
        # cid, assigns, mount?; made when needed (an empty deque is 760 bytes, in every view)
        self._pending: deque[tuple[int, dict[str, t.Any], bool]] | None = None
        self._next_cid = 1
        # Rendered by the last render: a dict as a set (64 bytes empty, a set 216, in every view).
        self._seen: dict[int, None] = {}
        # (class, id) → the owner (see OWNER_VARIABLE) that rendered it in this render: one
        # rendered by two templates (the view's and a component's, say) is a duplicate.
        self._owners: dict[tuple[type, t.Hashable], int] = {}
        self._fresh: dict[int, Tree] = {}  # rendered, not yet sent

    # -- PyView's manager API ----------------------------------------------------

    def register(
        self,
        component_class: type[LiveComponent[t.Any]],
        component_id: t.Hashable,
        assigns: dict[str, t.Any],
        owner: int = 0,
    ) -> int:
        """The cid of ``(component_class, component_id)``; a new one mounts, new assigns update.

        ``owner`` is the cid of the component whose template renders it (0: the view's).
        """
        if not (isinstance(component_class, type) and issubclass(component_class, LiveComponent)):
            raise TypeError(f"live_component() takes a LiveComponent class: {component_class!r}")
        key, frozen = (component_class, component_id), freeze(assigns)
        if self._owners.setdefault(key, owner) != owner:
            raise duplicate(component_class, component_id)
        cid = self._by_key.get(key)
        if cid is None:
            self._make_room()
            cid, self._next_cid = self._next_cid, self._next_cid + 1
            self._instances[cid] = _Instance(component_class(), key)
            self._by_key[key] = cid
            self._queue(cid, assigns, True)
        else:
            instance = self._instances[cid]
            instance.marked = False  # rendered again before the client destroyed it
            if frozen != instance.assigns:
                self._queue(cid, assigns, False)
        self._instances[cid].assigns = frozen
        self._seen[cid] = None
        return cid

    def get_component(self, cid: int) -> tuple[LiveComponent[t.Any], t.Any] | None:
        instance = self._instances.get(cid)
        return None if instance is None else (instance.component, instance.context)

    def get_context(self, cid: int) -> t.Any:
        instance = self._instances.get(cid)
        return None if instance is None else instance.context

    def set_context(self, cid: int, context: t.Any) -> None:
        self._instances[cid].context = context
        self._instances[cid].dirty = True

    def _queue(self, cid: int, assigns: dict[str, t.Any], mount: bool) -> None:
        if self._pending is None:
            self._pending = deque()
        self._pending.append((cid, assigns, mount))

    async def run_pending_lifecycle(self) -> None:
        """``mount`` (new components) and ``update`` for what was registered or sent."""
        while self._pending:
            cid, assigns, mount = self._pending.popleft()
            instance = self._instances.get(cid)
            if instance is None:
                continue  # destroyed meanwhile
            socket = self._socket(cid)
            try:
                if mount:
                    await instance.component.mount(socket, assigns)
                await instance.component.update(socket, assigns)
            finally:
                instance.context, instance.dirty = socket.context, True
        self._pending = None

    async def handle_event(
        self, cid: int, event: str, payload: dict[str, t.Any]
    ) -> dict[str, t.Any] | None:
        """The component's ``handle_event``, its arguments bound from the event's values;
        returns its reply."""
        instance = self._instances.get(cid)
        if instance is None:
            logger.warning("event %r for component %s, which does not exist", event, cid)
            return None
        socket = self._socket(cid)
        try:
            return await call_handle_event(instance.component, socket, event, payload)
        finally:
            instance.context, instance.dirty = socket.context, True

    async def send_to_parent(self, event: str, payload: dict[str, t.Any]) -> None:
        if self.liveview is None:
            raise RuntimeError("send_parent() needs a mounted view")
        self.parent_events += 1
        await call_handle_event(self.liveview, self.parent_socket, event, {"value": payload})

    def unregister(self, cid: int) -> None:
        instance = self._instances.pop(cid, None)
        if instance is not None:
            del self._by_key[instance.key]
            self._seen.pop(cid, None)
            self._fresh.pop(cid, None)

    def begin_render(self) -> None:
        self._seen = {}
        self._owners.clear()

    @property
    def component_count(self) -> int:
        return len(self._instances)

    def get_all_cids(self) -> list[int]:
        return list(self._instances)

    def get_seen_cids(self) -> set[int]:
        return set(self._seen)

    def has_pending_lifecycle(self) -> bool:
        return bool(self._pending)

    def __contains__(self, cid: object) -> bool:
        return cid in self._instances

    # -- rendering ---------------------------------------------------------------

    def send_update(
        self,
        component_class: type[LiveComponent[t.Any]],
        component_id: t.Hashable,
        assigns: dict[str, t.Any],
    ) -> None:
        """Queue ``update(socket, assigns)`` for a component; it runs at the next render."""
        cid = self._by_key.get((component_class, component_id))
        if cid is None:
            logger.warning(
                "send_update to %s %r, which is not rendered",
                component_class.__name__,
                component_id,
            )
            return
        self._queue(cid, assigns, False)

    async def render(
        self,
        environment: jinja2.Environment,
        template: jinja2.Template,
        context: dict[str, t.Any],
        memo: Memo | None = None,
    ) -> Tree:
        """The view's tree, then ``render_components``."""
        self.begin_render()
        tree = _render_template(template, context, self, memo, owner=0)
        await self._render_changed(environment)
        return tree

    async def render_components(self, environment: jinja2.Environment) -> None:
        """Mount and update what is pending, then render the components shown that changed.

        After an event that a component handled alone, this is the whole
        render: the view's template is not rendered again, as in Phoenix.
        """
        self._owners.clear()
        await self._render_changed(environment)

    async def _render_changed(self, environment: jinja2.Environment) -> None:
        renders = 0
        while True:
            await self.run_pending_lifecycle()
            # Every one that changed, not only those this render reached: one inside a
            # component left as it was, or in a stream's rows, is on the page all the same.
            instances = self._instances.items()
            due = sorted(cid for cid, one in instances if one.dirty and not one.marked)
            if not due:
                return
            for cid in due:
                renders += 1
                if renders > 2 * MAX_COMPONENTS:
                    raise RuntimeError("components keep updating each other as they render")
                self._fresh[cid] = self._render_component(environment, cid)

    def _render_component(self, environment: jinja2.Environment, cid: int) -> Tree:
        instance = self._instances[cid]
        component, meta = instance.component, ComponentMeta(cid)
        chosen = component.template(instance.context, meta)
        template = environment.get_template(chosen) if isinstance(chosen, str) else chosen
        variables = component.template_context(instance.context, meta)
        tree = _render_template(template, variables, self, instance.memo, owner=cid)
        if not tree["s"][0].lstrip().startswith("<"):
            raise ValueError(
                f"{type(component).__name__}'s template must start with its one root element"
            )
        tree["r"] = 1  # the client tags the root: data-phx-component, the target of events
        instance.dirty = False
        return tree

    def changes(self) -> Tree:
        """The diff's ``"c"``: components rendered since the last call, each sent once.

        A component the client has gets a diff (or nothing); a new one gets its
        tree, but its statics only when no other component with the same
        template is on the client (``"s": -cid``) or in this message (``"s": cid``).
        """
        sources: dict[int, int] = {}  # statics (by id) → the cid to take them from
        for cid, instance in self._instances.items():
            if instance.tree is not None:  # as the client has it, before this message
                sources.setdefault(id(instance.tree["s"]), -cid)
        out: Tree = {}
        for cid in sorted(self._fresh):
            new, instance = self._fresh[cid], self._instances[cid]
            old, instance.tree = instance.tree, new
            if old is not None and old["s"] is new["s"]:
                change = diff_tree(old, new)
                if change:
                    out[str(cid)] = share_statics(change)
                continue
            whole = share_statics(new)
            source = sources.setdefault(id(new["s"]), cid)
            if source != cid:
                whole["s"] = source
            out[str(cid)] = whole
        self._fresh.clear()
        return out

    def html(self, tree: Tree) -> str:
        """The HTML of a tree of this view, its components' included (the HTTP render)."""
        trees = {
            cid: instance.tree
            for cid, instance in self._instances.items()
            if instance.tree is not None
        }
        trees.update(self._fresh)
        return to_html(tree, trees)

    # -- the client's destroys ---------------------------------------------------

    def will_destroy(self, cids: list[int]) -> None:
        """The client removed these from the page; they go unless rendered again meanwhile."""
        for cid in cids:
            instance = self._instances.get(cid)
            if instance is not None:
                instance.marked = True

    def destroyed(self, cids: list[int]) -> list[int]:
        """Free the marked ones; the client forgets those returned (and ones already gone)."""
        gone = []
        for cid in cids:
            instance = self._instances.get(cid)
            if instance is None:
                if 0 < cid < self._next_cid:
                    gone.append(cid)
            elif instance.marked:
                self.unregister(cid)
                gone.append(cid)
        return gone

    def _make_room(self) -> None:
        """Room for one more component, or a refusal.

        A render reaches at most ``MAX_COMPONENTS``, and a view keeps at most twice as
        many: the last render's, until the browser says it removed them, beside this
        one's. Past that, the oldest one the browser removed is freed; with none, the
        render fails. One this render did not reach may be on the page all the same
        (inside a component left as it was, or in a stream's rows): it is never freed.
        """
        if len(self._seen) >= MAX_COMPONENTS:
            raise RuntimeError(f"a render of a view reaches more than {MAX_COMPONENTS} components")
        if len(self._instances) < 2 * MAX_COMPONENTS:
            return
        removed = next((cid for cid, one in self._instances.items() if one.marked), None)
        if removed is None:
            raise RuntimeError(
                f"a view keeps more than {2 * MAX_COMPONENTS} components (one it no longer"
                " renders is freed once the browser has removed it)"
            )
        self.unregister(removed)

    def _socket(self, cid: int) -> ComponentSocket[t.Any]:
        return ComponentSocket(self._instances[cid].context, cid, self)


def _render_template(
    template: jinja2.Template,
    variables: dict[str, t.Any],
    manager: ComponentsManager,
    memo: Memo | None,
    owner: int,
) -> Tree:
    """Render a view's or a component's template (``owner``: its cid, 0 for the view's);
    its components register with ``manager``."""
    from .template import render_template  # template.py imports this module

    variables = {
        **variables,
        COMPONENTS_VARIABLE: manager,
        RENDERED_VARIABLE: set(),
        OWNER_VARIABLE: owner,
    }
    return render_template(template, variables, memo)


def duplicate(component: type[LiveComponent[t.Any]], component_id: t.Hashable) -> ValueError:
    """Phoenix's error for one component rendered twice in a render (its state would be shared)."""
    return ValueError(
        f"found duplicate ID {component_id!r} for component {component.__name__}"
        " when rendering template"
    )


@jinja2.pass_context
def live_component(
    context: jinja2.runtime.Context, component: type[LiveComponent[t.Any]], **assigns: t.Any
) -> Cid:
    """``{{ live_component(Component, id="x", **assigns) }}``: the component, in place."""
    manager = context.get(COMPONENTS_VARIABLE)
    if not isinstance(manager, ComponentsManager):
        raise TypeError("live_component() renders only in a LiveView's template")
    if "id" not in assigns:
        raise TypeError("live_component() needs an id=")
    component_id, rendered = assigns.pop("id"), context[RENDERED_VARIABLE]
    if (component, component_id) in rendered:
        raise duplicate(component, component_id)
    rendered.add((component, component_id))
    return Cid(manager.register(component, component_id, assigns, context[OWNER_VARIABLE]))

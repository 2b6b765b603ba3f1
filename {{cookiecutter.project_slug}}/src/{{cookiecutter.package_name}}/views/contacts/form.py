"""A contact's form, for a new contact (``/contacts/new``) or an existing one (``…/edit``).

The form itself is a LiveComponent (``form_component``): it checks fields as
the person types, and an error shows only once its field has been used. This
page loads the contact, saves (checking every field; the database has the
last word on a taken email) and tells the form what went wrong with
``send_update``. Others see who is editing.

Two people editing one contact: each form saves over the version of the
contact it was loaded at (``Contact.version``). When someone else saves
first, the page shows which fields they changed and to what, and a save
from the stale form is refused; the person takes their values into the form
(keeping their own edits of the other fields) or keeps theirs, then saves.
"""

import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException

from ... import contacts
from ...contacts import ContactGone, EmailTaken, Errors, StaleContact
from ...db import DATABASE_ERRORS, WriteFailed
from ...live import (
    RESYNC,
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveView,
    LiveViewSocket,
    UnhandledEvent,
    is_connected,
)
from ...models import Status
from ...resources import pubsub
from ...writes import write
from ..loading import RETRY, Loading, is_retry
from ..whos_here import WhosHere
from .form_component import FORM_ID, ContactFormComponent
from .show import find, load, presence_topic

LABELS = {  # a field as the form names it
    "name": "Name",
    "email": "Email",
    "company": "Company",
    "status": "Status",
    "score": "Score",
    "since": "Customer since",
    "vip": "VIP",
}


@dataclass
class ContactForm:
    contact_id: int | None = None
    name: str = ""  # as saved: the heading keeps it while the field changes
    loaded: contacts.ContactRow | None = None  # as saved, to compare with after a resync
    values: dict[str, str] = field(default_factory=contacts.form_values)  # as loaded
    whos_here: WhosHere | None = None
    notice: str = ""  # what someone else did to this contact meanwhile
    saved_since: contacts.ContactRow | None = None  # as someone else saved it since ``loaded``
    theirs: dict[str, str] = field(default_factory=dict)  # the fields they changed: their values
    gone: bool = False
    statuses: tuple[str, ...] = tuple(Status)
    page_key: str = field(default_factory=lambda: secrets.token_urlsafe(8))  # "by" in broadcasts
    loading: Loading = field(default_factory=Loading)  # an edit form's read of its contact

    @property
    def their_changes(self) -> list[tuple[str, str]]:
        """What someone else changed since this form was loaded: (label, their value)."""
        return [(LABELS.get(name, name), value) for name, value in self.theirs.items()]


class ContactFormLive(LiveView[ContactForm]):
    template_name = "contacts/form.html"

    async def mount(self, socket: LiveViewSocket[ContactForm], session: dict[str, Any]) -> None:
        socket.context = ContactForm()
        socket.live_title = "New contact"

    async def handle_params(
        self, socket: LiveViewSocket[ContactForm], id: int | None = None
    ) -> None:
        form = socket.context
        if id == form.contact_id:
            return
        if form.contact_id is not None or id is None:
            # A patch to another contact's form, or to a new one's: a fresh mount, with
            # presence on the right topic and nothing of this contact left to save over.
            path = f"{contacts.PATH}/new" if id is None else f"{contacts.PATH}/{id}/edit"
            await socket.push_navigate(path)
            return
        if is_connected(socket):
            await socket.subscribe(contacts.TOPIC)  # first: no change is missed after the load
        form.contact_id = id
        await form.loading.run(socket, lambda: self._open(socket, id))
        form.whos_here = WhosHere(presence_topic(id))
        await form.whos_here.join(socket, doing="editing")

    async def _open(self, socket: LiveViewSocket[ContactForm], contact_id: int) -> None:
        """Fill the form with the contact's values (a 404 page if there is none)."""
        form, contact = socket.context, await load(socket, contact_id)
        form.name, form.values = contact["name"], contacts.form_values(contact)
        form.loaded = contact
        socket.live_title = f"Edit {contact['name']}"

    async def _retry(self, socket: ConnectedLiveViewSocket[ContactForm]) -> None:
        """Read the contact again after a failed read; it may have been deleted meanwhile."""
        form = socket.context
        contact_id = form.contact_id
        if contact_id is None or form.loading.loaded:
            return
        try:
            await form.loading.run(socket, lambda: self._open(socket, contact_id))
        except HTTPException:
            form.gone = True
            form.notice = "Someone else deleted this contact: it can no longer be saved."

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[ContactForm], payload: dict[str, Any]
    ) -> None:
        form = socket.context
        if event == "save":  # sent by the form component (send_parent)
            values = {name: _text(payload[name]) for name in contacts.FIELDS if name in payload}
            checked, errors = contacts.validate(values)  # a field left out takes its default
            if form.contact_id is not None and not form.loading.loaded:
                errors = {"form": "This contact could not be loaded yet: nothing was saved."}
            elif form.loaded is not None and (
                payload.get("version", form.loaded["version"]) != form.loaded["version"]
            ):
                # Filled in over an older version: a form the browser restored after a
                # reconnection, say, while someone else saved. (A save sent to the page
                # itself, not through the form, is over the version loaded.)
                self._filled_over(form, values)
            elif checked is not None:
                errors = await self._save(socket, checked)
            version = form.loaded["version"] if form.loaded else None  # a save moves it on
            socket.send_update(ContactFormComponent, FORM_ID, errors=errors, version=version)
        elif event in ("take_theirs", "keep_mine") and form.saved_since is not None:
            # Their values into the form over what was typed in those fields, or none: either
            # way, what the form holds now stands over the version saved since.
            taken = form.theirs if event == "take_theirs" else {}
            over = form.saved_since["version"]
            socket.send_update(ContactFormComponent, FORM_ID, typed=taken, over=over)
            form.loaded, form.saved_since, form.theirs, form.notice = form.saved_since, None, {}, ""
        elif event == RETRY:
            await self._retry(socket)
        else:
            raise UnhandledEvent(event)

    async def _save(
        self, socket: ConnectedLiveViewSocket[ContactForm], checked: contacts.ContactIn
    ) -> Errors:
        """Save, then show the contact; what went wrong otherwise."""
        form = socket.context
        version = form.loaded["version"] if form.loaded else None
        try:
            saved = await write(
                socket,
                lambda session: contacts.save_contact(session, checked, form.contact_id, version),
            )
        except WriteFailed as failed:  # too many saves, or the database busy or away
            return {"form": failed.message}
        except EmailTaken:
            return {"email": "is already taken by another contact"}
        except StaleContact:
            await self._saved_elsewhere(socket, refused=True)
            return {}
        except ContactGone:
            form.gone = True
            form.notice = "Someone else deleted this contact: it can no longer be saved."
            return {}
        if form.contact_id is not None:  # saved again before the browser left: over this save
            form.loaded = contacts.as_row(saved)
        action: contacts.Action = "created" if form.contact_id is None else "updated"
        await contacts.broadcast(pubsub(socket), action, saved.id, by=form.page_key)
        socket.put_flash("info", f"{saved.name} was {action}.")
        await socket.push_navigate(f"{contacts.PATH}/{saved.id}")
        return {}

    async def handle_info(
        self, event: InfoEvent, socket: ConnectedLiveViewSocket[ContactForm]
    ) -> None:
        form, change = socket.context, contacts.change_of(event)
        if is_retry(event, form.loading):
            await self._retry(socket)
            return
        if change is None:
            if form.whos_here is not None:
                if event.name == RESYNC:  # of the presence topic: who came and went was missed
                    await form.whos_here.refresh(socket)
                form.whos_here.apply(event)
            return
        if form.contact_id is None:
            return  # a new contact's form: no one else's change concerns it
        if change.get("action") == "resync":
            change = await self._missed(socket, form.contact_id)
        if change.get("id") == form.contact_id and change.get("by") != form.page_key:
            if change.get("action") == "deleted":
                form.gone = True
                form.notice = "Someone else deleted this contact: it can no longer be saved."
            elif not form.gone:
                await self._saved_elsewhere(socket)

    def _filled_over(self, form: ContactForm, typed: dict[str, str]) -> None:
        """A save from values typed over an older version than the one loaded: refused, with
        the values saved since wherever they differ from what was typed."""
        assert form.loaded is not None
        saved = contacts.form_values(form.loaded)
        form.saved_since = form.loaded
        form.theirs = {name: value for name, value in saved.items() if typed.get(name) != value}
        form.notice = "Someone else saved this contact meanwhile: nothing was saved."

    async def _saved_elsewhere(
        self, socket: ConnectedLiveViewSocket[ContactForm], refused: bool = False
    ) -> None:
        """Someone else saved this contact: show what they changed, to take or to keep."""
        form = socket.context
        assert form.contact_id is not None and form.loaded is not None
        try:
            current = await find(socket, form.contact_id)
        except DATABASE_ERRORS:
            form.notice = "Someone else saved this contact meanwhile: their changes cannot be read."
            return
        if current is None:
            form.gone = True
            form.notice = "Someone else deleted this contact: it can no longer be saved."
        elif current["version"] != form.loaded["version"]:
            theirs = contacts.changed_values(form.loaded, current)
            if theirs:
                form.saved_since, form.theirs = current, theirs
            else:  # the same values: nothing to choose between
                form.loaded, form.saved_since, form.theirs = current, None, {}
            form.notice = "Someone else saved this contact meanwhile" + (
                ": nothing was saved." if refused else "."
            )

    async def _missed(
        self, socket: ConnectedLiveViewSocket[ContactForm], contact_id: int
    ) -> dict[str, Any]:
        """After a resync: what a missed broadcast said of this contact, found in the database.

        The person's edits stay; only the notice tells them.
        """
        form = socket.context
        try:
            found = await find(socket, contact_id)
        except DATABASE_ERRORS:
            form.notice = "Changes made elsewhere meanwhile could not be checked: no database."
            return {}
        if found == form.loaded:
            return {}
        return {"action": "updated" if found else "deleted", "id": contact_id}


def _text(value: Any) -> str:
    """A field's value; anything but a string (``name[]=…`` sent by hand) is blank."""
    return value if isinstance(value, str) else ""

"""The contact form itself, a LiveComponent: the page (``form``) shows it for new and edit.

It checks the fields as the person types without involving the page (its
events have ``phx-target="{{ myself }}"``) and keeps what was typed while the
page re-renders. On submit it hands the values to the page, which saves them
and sends back what went wrong with ``send_update``.
"""

from dataclasses import dataclass, field
from typing import Any

from ... import contacts
from ...contacts import Errors
from ...live import ComponentSocket, LiveComponent
from ...models import Status

FORM_ID = "contact-form"  # the component's id, and its form's


@dataclass
class FormState:
    values: dict[str, str]  # as typed
    given: dict[str, str]  # as the page last gave them: new ones replace what was typed
    version: int | None = None  # of the contact, that the values were typed over
    given_version: int | None = None
    errors: Errors = field(default_factory=dict)
    disabled: bool = False
    cancel: str = ""  # where Cancel leads
    statuses: tuple[str, ...] = tuple(Status)


class ContactFormComponent(LiveComponent[FormState]):
    template_name = "contacts/form_component.html"

    async def mount(self, socket: ComponentSocket[FormState], assigns: dict[str, Any]) -> None:
        values = dict(assigns["values"])
        version = assigns.get("version")
        socket.context = FormState(values, values, version=version, given_version=version)

    async def update(self, socket: ComponentSocket[FormState], assigns: dict[str, Any]) -> None:
        """From the page: its values and version (the contact as loaded), whether it may save,
        and, by ``send_update``, the errors of a save, or values to put in some fields
        (``typed``: someone else's, taken) and the version they stand over (``over``)."""
        state = socket.context
        if "values" in assigns and assigns["values"] != state.given:
            state.values = state.given = dict(assigns["values"])
        if "version" in assigns and assigns["version"] != state.given_version:
            state.version = state.given_version = assigns["version"]
        state.values = {**state.values, **assigns.get("typed", {})}  # another's, taken
        state.version = assigns.get("over", state.version)  # what the values now stand over
        state.disabled = assigns.get("disabled", state.disabled)
        state.cancel = assigns.get("cancel", state.cancel)
        state.errors = assigns.get("errors", state.errors)

    async def handle_event(
        self, event: str, socket: ComponentSocket[FormState], payload: dict[str, Any]
    ) -> None:
        state = socket.context
        typed = {name: _text(payload[name]) for name in contacts.FIELDS if name in payload}
        state.values = {**state.values, **typed}
        if event == "recover":  # a form the browser restored on rejoining: as it had it
            state.version = _version(payload.get("version"))
            event = "validate"
        if event == "validate":
            # Only fields the person has used: a fresh form is not a wall of red.
            _, errors = contacts.validate(state.values)
            state.errors = {
                name: message
                for name, message in errors.items()
                if f"_unused_{name}" not in payload
            }
        elif event == "save":
            await socket.send_parent("save", {**state.values, "version": state.version})


def _version(value: Any) -> int | None:
    """The form's hidden version; anything but a number is no version (a refused save)."""
    text = _text(value)
    return int(text) if text.isdigit() and len(text) < 10 else None


def _text(value: Any) -> str:
    """A field's value; anything but a string (``name[]=…`` sent by hand) is blank."""
    return value if isinstance(value, str) else ""

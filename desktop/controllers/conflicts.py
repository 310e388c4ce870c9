"""Two saves of one client profile: what each side changed, and what a save overwrote.

When someone saves a profile after another person opened it, the second save is
refused (``StaleVersion``) and the window compares three versions of it: the one
the person opened (*base*), the one saved now (*theirs*) and what they typed
(*mine*). ``differences`` lists the fields to choose between; ``overwritten``
names the fields whose newer value a save replaced, for ``save_profile`` to
audit. Both compare the same text forms, so the window and the audit agree on
who changed what (docs/rules.md, "Conflicting saves").
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop.controllers import validation
from desktop.controllers.errors import InvalidInput
from desktop.domain.models import Client, ClientStatus, InactiveReason

if TYPE_CHECKING:
    from desktop.controllers.clients import ClientDetail

# The profile's own fields, in the edit dialog's order, then its status and why.
FIELDS = ("first_name", "last_name", "preferred_name", "date_of_birth", "email", "phone", "address",
          "diagnosis_codes")
STATUS_FIELDS = ("status", "inactive_reason", "inactive_note")
LABELS = {**{key: validation.LABELS[key] for key in FIELDS}, "status": "Client Status",
          "inactive_reason": "Inactive reason", "inactive_note": "Inactive note"}


def as_text(value: Any) -> str:
    """A stored value as compared and shown: "" for nothing, a date as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def texts(values: Mapping[str, Any]) -> dict[str, str]:
    """A profile's values as compared: each as ``as_text``, no reason or note while active."""
    text = {key: as_text(values.get(key)) for key in (*FIELDS, *STATUS_FIELDS)}
    if text["status"] != ClientStatus.INACTIVE.value:  # an active client has no reason or note
        text["inactive_reason"] = text["inactive_note"] = ""
    return text


def stored(client: Client) -> dict[str, str]:
    """The profile as the database holds it now (inside a save: before or after it applies)."""
    return texts({key: getattr(client, key) for key in (*FIELDS, *STATUS_FIELDS)})


def opened(detail: ClientDetail) -> dict[str, str]:
    """The profile as it was read (``get_client``): what the person opened, or theirs."""
    row = detail.row
    return texts({
        "first_name": row.first_name, "last_name": row.last_name, "preferred_name": row.preferred_name,
        "date_of_birth": row.date_of_birth, "email": row.email, "phone": row.phone,
        "address": detail.address, "diagnosis_codes": detail.diagnosis_codes, "status": row.status,
        "inactive_reason": detail.inactive_reason, "inactive_note": detail.inactive_note})


def typed(fields: Mapping[str, Any], status: ClientStatus | str, reason: InactiveReason | str | None,
          note: str | None) -> dict[str, str]:
    """What the person typed, cleaned as the save would store it (``validation``), so "f41.1"
    typed and "F41.1" saved are the same value. A value the save would refuse stays as typed."""
    def clean(key: str, value: Any) -> Any:
        try:
            return validation.field(key, value)
        except InvalidInput:
            return value.strip() if isinstance(value, str) else value

    values: dict[str, Any] = {key: clean(key, fields.get(key)) for key in FIELDS}
    values.update(status=status, inactive_reason=reason or InactiveReason.OTHER,
                  inactive_note=clean("inactive_note", note))
    return texts(values)


def status_words(values: Mapping[str, str]) -> str:
    """The status part of a profile as a person reads it: "Inactive (Moved): treatment completed"."""
    if values["status"] != ClientStatus.INACTIVE.value:
        return "Active"
    reason = values["inactive_reason"]
    words = f"Inactive ({reason.title()})" if reason else "Inactive"
    return f"{words}: {values['inactive_note']}" if values["inactive_note"] else words


@dataclass(frozen=True)
class Difference:
    """One field whose saved value (theirs) is not what this person typed (mine).

    ``key`` is a field name, or "status" for the status with its reason and note,
    which are chosen together. Values are text as ``as_text`` makes it ("" is empty).
    """

    key: str
    label: str
    base: str
    theirs: str
    mine: str

    @property
    def they_changed(self) -> bool:
        return self.theirs != self.base

    @property
    def i_changed(self) -> bool:
        return self.mine != self.base

    @property
    def both_changed(self) -> bool:
        """A real conflict: each side changed the field from what was opened, differently."""
        return self.they_changed and self.i_changed

    @property
    def mine_by_default(self) -> bool:
        """Mine where this person changed the field; theirs where only they did."""
        return self.i_changed


def differences(base: Mapping[str, str], theirs: Mapping[str, str],
                mine: Mapping[str, str]) -> list[Difference]:
    """Every field where what is saved now differs from what was typed, in the form's order."""
    rows = [Difference(key, LABELS[key], base[key], theirs[key], mine[key])
            for key in FIELDS if theirs[key] != mine[key]]
    if any(theirs[key] != mine[key] for key in STATUS_FIELDS):
        rows.append(Difference("status", LABELS["status"], status_words(base), status_words(theirs),
                               status_words(mine)))
    return rows


def overwritten(base: Mapping[str, str], before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """The fields someone else changed after ``base`` was opened (``before`` differs from it)
    whose value this save replaced (``after`` differs from ``before``), by name."""
    return [key for key in (*FIELDS, *STATUS_FIELDS)
            if before[key] != base[key] and after[key] != before[key]]

"""Small widgets every window and dialog uses the same way, and the words they show."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from desktop.ui.operation import attempt

DANGER = "#b00020"  # refusals, problems and the destructive buttons

# What each audited operation is called where a person reads the trail.
ACTION_WORDS = {
    "audit.read": "Audit trail read",
    "billing.documents": "Billing documents viewed",
    "billing.generate": "Billing document made",
    "billing.run": "Billing run",
    "client.add": "Client added",
    "client.delete": "Client deleted",
    "client.delete_preview": "Deletion considered",
    "client.edit": "Profile edited",
    "client.export": "Record exported",
    "client.find_duplicates": "Duplicates looked for",
    "client.list": "Client list read",
    "client.mark_duplicate": "Marked as a duplicate",
    "client.not_duplicate": "Marked as not a duplicate",
    "client.portal": "Portal access changed",
    "client.portal_read": "Portal access looked at",
    "client.set_status": "Status changed",
    "client.view": "Profile opened",
    "contact.add": "Contact added",
    "contact.edit": "Contact edited",
    "contact.link": "Contact linked",
    "contact.merge": "Contacts merged",
    "contact.merge_into_client": "Contact merged into this profile",
    "contact.unlink": "Contact unlinked",
    "contact.view": "Contact opened",
}
OUTCOME_WORDS = {"allowed": "Done", "denied": "Refused"}


def action_words(action: str) -> str:
    """An audit action as a person says it: "Status changed", not ``client.set_status``."""
    if action in ACTION_WORDS:
        return ACTION_WORDS[action]
    words = action.rsplit(".", 1)[-1].replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else action


def local_time(stamp: str) -> str:
    """A stored moment (ISO, UTC without a zone) in this computer's time, to the minute."""
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return str(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def form_row(form: QFormLayout, text: str, field: QWidget, *, buddy: QWidget | None = None,
             name: str | None = None) -> QLabel:
    """Add a row whose label is the buddy of its field (or of ``buddy``, the part that takes focus).

    The label's mnemonic (``&First name``) then moves the focus, and a screen
    reader says which field the label names.
    """
    label = QLabel(text)
    label.setBuddy(buddy or field)
    if name:
        label.setObjectName(name)
    form.addRow(label, field)
    return label


def leading_alignment(widget: QWidget) -> Qt.AlignmentFlag:
    """Where a value sits beside its label, whatever the direction of its own text.

    Qt aligns right-to-left text (Arabic, Hebrew) to the far side of a stretched
    label; anchored to the layout's leading edge, it sits next to its label.
    """
    side = Qt.AlignmentFlag.AlignLeft if widget.layoutDirection() == Qt.LayoutDirection.LeftToRight \
        else Qt.AlignmentFlag.AlignRight
    return side | Qt.AlignmentFlag.AlignAbsolute | Qt.AlignmentFlag.AlignVCenter


_UNSAFE_IN_FILE_NAMES = re.compile(r'[\\/:*?"<>|]+')


def file_name_part(text: str) -> str:
    """``text`` usable in a file name on every system: separators and reserved characters dropped."""
    kept = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    kept = _UNSAFE_IN_FILE_NAMES.sub(" ", kept)
    return " ".join(kept.split()).strip(". ")[:120]


def problem_label(name: str = "problem") -> QLabel:
    """Where a dialog says, in red and in plain text, why it did not do something."""
    label = QLabel()
    label.setObjectName(name)
    label.setStyleSheet(f"color: {DANGER};")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def heading_label(text: str = "", *, scale: float = 1.6, name: str | None = None) -> QLabel:
    """A bold, larger, plain-text heading (a person's name is never read as markup)."""
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(True)
    label.setFont(font)
    return label


def ask_portal_switch_off(parent, portal: dict[str, bool], *, before_save: bool) -> bool | None:  # type: ignore[no-untyped-def]
    """Say that portal access stays on for an inactive client; ask whether to switch it off.

    True: switch it off; False: keep it on; None: go back (offered only
    ``before_save``, when nothing is saved yet). docs/rules.md, "Status":
    inactivation never switches access off by itself, and the flow says so.
    """
    from PySide6.QtWidgets import QMessageBox

    on = [name for name, key in (("Client Portal", "portal_enabled"),
                                 ("Secure Messaging", "messaging_enabled")) if portal[key]]
    box = QMessageBox(parent)
    box.setObjectName("portalQuestion")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Client Portal access is still on")
    box.setText(f"{' and '.join(on)} access stays on when a client is made inactive.")
    box.setInformativeText("They can still sign in and send messages unless you switch access off. "
                           + ("Switch it off now, with this save?" if before_save else "Switch it off now?"))
    off = box.addButton("Switch off access", QMessageBox.ButtonRole.AcceptRole)
    off.setObjectName("switchOffAccess")
    keep = box.addButton("Keep access on", QMessageBox.ButtonRole.RejectRole)
    keep.setObjectName("keepAccessOn")
    if before_save:
        box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.exec()
    clicked = box.clickedButton()
    if clicked is off:
        return True
    if clicked is keep or not before_save:
        return False
    return None


def offer_portal_switch_off(parent, clients, actor, client_id: int) -> None:  # type: ignore[no-untyped-def]
    """After a client was made inactive elsewhere than the edit dialog: the same question, then act."""
    # Only the two switches are read; if even that is refused there is nothing to ask.
    read = attempt(parent, "Portal access not read", lambda: clients.portal_access(actor, client_id),
                   report=lambda _message: None)
    portal = read.value
    if not read or portal is None or not (portal["portal_enabled"] or portal["messaging_enabled"]):
        return
    if ask_portal_switch_off(parent, portal, before_save=False):
        attempt(parent, "Portal access not changed",
                lambda: clients.set_portal_access(actor, client_id, portal=False, messaging=False))

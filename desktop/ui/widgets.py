"""Small widgets every window and dialog uses the same way."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from desktop.ui.operation import attempt

DANGER = "#b00020"  # refusals, problems and the destructive buttons


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

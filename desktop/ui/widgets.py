"""Small widgets every window and dialog uses the same way."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

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


def offer_portal_switch_off(parent, clients, actor, client_id: int) -> None:  # type: ignore[no-untyped-def]
    """After a client was made inactive: say that portal access stays on, offer to switch it off.

    SPEC §2: inactivation never switches access off by itself; the flow says so.
    """
    from PySide6.QtWidgets import QMessageBox

    from desktop.controllers.errors import CaseloadError

    try:
        portal = clients.get_client(actor, client_id).portal
    except CaseloadError:
        return
    if not (portal["portal_enabled"] or portal["messaging_enabled"]):
        return
    box = QMessageBox(parent)
    box.setObjectName("portalStillOn")
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle("Client Portal access is still on")
    box.setText("The client is inactive now, but can still sign in to the Client Portal and send "
                "secure messages.")
    off = box.addButton("Switch off access", QMessageBox.ButtonRole.AcceptRole)
    off.setObjectName("switchOffAccess")
    keep = box.addButton("Keep access on", QMessageBox.ButtonRole.RejectRole)
    keep.setObjectName("keepAccessOn")
    box.setDefaultButton(keep)
    box.exec()
    if box.clickedButton() is off:
        try:
            clients.set_portal_access(actor, client_id, portal=False, messaging=False)
        except CaseloadError as exc:
            QMessageBox.warning(parent, "Portal access not changed", str(exc))

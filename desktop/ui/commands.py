"""The main window's commands: its menu bar, its keys, and which of them each person is offered.

Menus follow the platform's conventions: standard keys (``QKeySequence``'s
New, Find, Undo, Refresh…), a mnemonic in every title and item, an ellipsis on
items that ask for more. Whether an item is offered comes from the permission
table (``Actor.can``), never from the role's name: an item the role may never
use is hidden; one it allows but not for the selected row (an own-clients
clinician and someone else's client, a contact's row, no row) is disabled.
What an item does is the window's own method; this object only wires them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from desktop.controllers.clients import StatusFilter
from desktop.controllers.permissions import Action, Scope
from desktop.domain.models import ClientStatus

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


def plain(text: str) -> str:
    """An item's words as a sentence reads them: no mnemonic, no ellipsis, no key hint."""
    return text.split("\t")[0].replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…")


def _fill(menu: QMenu, items: tuple[QAction | None, ...]) -> None:
    for item in items:
        if item is None:
            menu.addSeparator()  # a separator beside hidden items collapses (QMenu's default)
        else:
            menu.addAction(item)


class Commands(QObject):
    """Every action of one main window, in its menus (``menus``) and, some, on its toolbar."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        actor, page = window.actor, window.clients_page
        edits = actor.can(Action.EDIT_CLIENT, any_client=True)
        bar = window.menuBar()

        file = bar.addMenu("&File")
        file.setObjectName("fileMenu")
        self.new_client = self._action("&New client…", "newClient", window.new_client,
                                       QKeySequence.StandardKey.New, visible=edits)
        self.new_client.setToolTip("Add a client to the practice")
        # An own-clients clinician adds a contact from a client's profile, linked to that client
        # (the controller refuses them a contact linked to nobody).
        self.new_contact = self._action("New &contact…", "newContact", window.new_contact,
                                        visible=actor.scope(Action.EDIT_CLIENT) is Scope.ALL)
        self.export = self._action("&Export list as CSV…", "exportCsv", window.export_list)
        self.change_password = self._action("Change &password…", "changePassword", window.change_password)
        self.lock_now = self._action("&Lock now", "lockNow", window.lock_now, "Ctrl+L")
        self.lock_now.setToolTip("Cover every window until your password is typed again")
        self.sign_out = self._action("&Sign out", "signOut", window.sign_out)
        quit_keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)  # none on Windows
        self.quit = self._action("&Quit", "quit", window.close,
                                 QKeySequence.StandardKey.Quit if quit_keys else "Ctrl+Q")
        self.quit.setMenuRole(QAction.MenuRole.QuitRole)
        _fill(file, (self.new_client, self.new_contact, None, self.export, None,
                     self.change_password, self.lock_now, self.sign_out, None, self.quit))

        edit = bar.addMenu("&Edit")
        edit.setObjectName("editMenu")
        self.undo = self._stack_action(undo=True)
        self.redo = self._stack_action(undo=False)
        self.find = self._action("&Find", "find", page.focus_search, QKeySequence.StandardKey.Find)
        _fill(edit, (self.undo, self.redo, None, self.find))

        view = bar.addMenu("&View")
        view.setObjectName("viewMenu")
        self.refresh = self._action("&Refresh", "refreshAction", window.refresh,
                                    QKeySequence.StandardKey.Refresh)
        view.addAction(self.refresh)
        view.addSeparator()
        statuses = view.addMenu("Client &status")
        statuses.setObjectName("clientStatusMenu")
        self.status_group = QActionGroup(self)
        self.status_group.setExclusive(True)
        self.status: dict[StatusFilter, QAction] = {}
        for text, value in (("&Active", StatusFilter.ACTIVE), ("&Inactive", StatusFilter.INACTIVE),
                            ("A&ll", StatusFilter.ALL)):
            action = QAction(text, self.status_group)
            action.setObjectName(f"status{value.value.title()}")
            action.setCheckable(True)
            action.setData(value.value)
            statuses.addAction(action)
            self.status[value] = action
        self.status[page.model.status_filter].setChecked(True)
        self.status_group.triggered.connect(self._status_chosen)
        page.statusApplied.connect(self._status_applied)

        client = bar.addMenu("&Client")
        client.setObjectName("clientMenu")
        # Enter on a row opens it (the list's own key); the item names the key without taking it
        # from the search box, the Status drop-down or a dialog's default button.
        self.open_profile = self._action("&Open profile\tEnter", "openProfile", window.open_current)
        self.edit = self._action("&Edit…", "editClient", window.edit_current, visible=edits)
        self.change_status = self._action("Make &inactive", "changeClientStatus", window.change_current_status,
                                          visible=actor.can(Action.CHANGE_STATUS, any_client=True))
        self.delete = self._action("&Delete this Client…", "deleteClient", window.delete_current,
                                   visible=actor.can_delete())
        _fill(client, (self.open_profile, self.edit, self.change_status, None, self.delete))
        page.currentRowChanged.connect(self.follow_row)

        practice = bar.addMenu("&Practice")
        practice.setObjectName("practiceMenu")
        self.users = self._action("&Users…", "users", window.open_users,
                                  visible=actor.can(Action.MANAGE_USERS, any_client=True))
        self.practice_settings = self._action("Practice &settings…", "practiceSettings",
                                              window.open_practice_settings,
                                              visible=actor.can(Action.PRACTICE_SETTINGS, any_client=True))
        self.find_duplicates = self._action("Find &duplicates…", "findDuplicates", window.open_duplicates,
                                            visible=actor.can(Action.MARK_DUPLICATE, any_client=True))
        self.audit_log = self._action("Audit &log…", "auditLog", window.open_audit_log,
                                      visible=actor.can(Action.READ_AUDIT_LOG, any_client=True))
        self.audit_log.setToolTip("Every look at a record, every change and every refusal, newest first")
        _fill(practice, (self.users, self.practice_settings, None, self.find_duplicates, None, self.audit_log))
        practice.menuAction().setVisible(any(a.isVisible() for a in practice.actions() if not a.isSeparator()))

        help_menu = bar.addMenu("&Help")
        help_menu.setObjectName("helpMenu")
        self.shortcuts = self._action("&Keyboard shortcuts", "keyboardShortcuts", window.show_shortcuts)
        self.about = self._action("&About Caseload", "about", window.show_about)
        self.about.setMenuRole(QAction.MenuRole.AboutRole)
        _fill(help_menu, (self.shortcuts, self.about))
        self.menus: dict[str, QMenu] = {"file": file, "edit": edit, "view": view, "client": client,
                                        "practice": practice, "help": help_menu}
        self.follow_row()

    def _action(self, text: str, name: str, slot: Callable[[], object],
                keys: QKeySequence.StandardKey | str | None = None, *, visible: bool = True) -> QAction:
        """One command: its words, its objectName, what it does, its key (the platform's standard
        one, else the given one), and whether this person's role may ever use it (else hidden)."""
        action = QAction(text, self)
        action.setObjectName(name)
        if isinstance(keys, QKeySequence.StandardKey):
            action.setShortcuts(keys)
        elif keys:
            action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        action.setVisible(visible)
        self.window.addAction(action)  # its key works wherever the focus is in the window
        return action

    def _stack_action(self, *, undo: bool) -> QAction:
        """Undo or Redo of the list's undo stack, with a fixed label (the toolbar never shifts);
        what it would do is in its tooltip."""
        stack = self.window.clients_page.undo_stack
        verb = "Undo" if undo else "Redo"
        key = QKeySequence.StandardKey.Undo if undo else QKeySequence.StandardKey.Redo
        action = QAction(f"&{verb}", self)
        action.setObjectName(f"{verb.lower()}Action")
        action.setShortcuts(key)
        keys = QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
        suffix = f" ({keys})" if keys else ""

        def follow(what: str) -> None:
            action.setToolTip(f"{verb} {what}{suffix}" if what else f"Nothing to {verb.lower()}")
            action.setStatusTip(f"{verb} {what}" if what else "")

        action.triggered.connect(stack.undo if undo else stack.redo)
        (stack.canUndoChanged if undo else stack.canRedoChanged).connect(action.setEnabled)
        (stack.undoTextChanged if undo else stack.redoTextChanged).connect(follow)
        action.setEnabled(stack.canUndo() if undo else stack.canRedo())
        follow(stack.undoText() if undo else stack.redoText())
        self.window.addAction(action)
        return action

    # ------------------------------------------------------------- the row

    @Slot()
    def follow_row(self) -> None:
        """The Client menu follows the current row: what the role allows for that client."""
        row = self.window.clients_page.current_row()
        client = row if row is not None and row.kind == "client" else None
        actor = self.window.actor
        self.open_profile.setEnabled(row is not None)
        self.edit.setEnabled(client is not None and actor.can(Action.EDIT_CLIENT, client.clinician_id))
        inactive = client is not None and client.status is ClientStatus.INACTIVE
        self.change_status.setText("Make &active" if inactive else "Make &inactive")
        self.change_status.setEnabled(client is not None
                                      and actor.can(Action.CHANGE_STATUS, client.clinician_id))
        self.delete.setEnabled(client is not None and actor.can(Action.DELETE_CLIENT, client.clinician_id))

    # ---------------------------------------------------------- the status

    @Slot(QAction)
    def _status_chosen(self, action: QAction) -> None:
        self.window.clients_page.show_status(StatusFilter(action.data()))

    @Slot(str)
    def _status_applied(self, value: str) -> None:
        self.status[StatusFilter(value)].setChecked(True)

    # --------------------------------------------------------------- help

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """Every key the window answers, with what it does, read from the actions themselves."""
        native = QKeySequence.SequenceFormat.NativeText
        rows = []
        for menu in self.menus.values():
            for action in menu.actions():
                submenu = action.menu()
                for item in (submenu.actions() if isinstance(submenu, QMenu) else [action]):
                    keys = item.shortcut().toString(native)  # the first of the platform's keys
                    hint = item.text().partition("\t")[2]
                    if (keys or hint) and item.isVisible():
                        rows.append((keys or hint, plain(item.text())))
        rows += [("Double-click", "Open a row's profile"),
                 ("Menu key, right-click", "The row's menu"),
                 ("Esc", "Clear the search box; close a profile, the duplicates window or the audit log"),
                 (QKeySequence("Ctrl+W").toString(native),
                  "Close a profile, the duplicates window or the audit log")]
        return rows

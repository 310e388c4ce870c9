"""Merging a contact into a client profile: find the client, then pick the value that wins per field.

docs/rules.md, "Duplicates": a contact can be merged into a client profile. The
person picks which value wins for each differing field; the client profile
stays, the contact's links go and the contact profile is removed. The client is
found by typing, with the date of birth shown to tell people apart; when the
client is already known (the duplicates window's pair), the dialog opens on
the fields.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.clients import ClientDetail, ClientRow
from desktop.controllers.contacts import Side
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.domain.search import display_name
from desktop.ui.operation import attempt
from desktop.ui.widgets import problem_label

# The fields merge_contact_into_client lets the person choose (a client has no contact notes).
FIELDS = (("first_name", "&First name"), ("last_name", "&Last name"), ("email", "&Email"),
          ("phone", "P&hone"))
SEARCH_LIMIT = 50


# ------------------------------------------------------------------ how people are named

def _right_to_left(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def name_of(first_name: str, last_name: str) -> str:
    """A person's name as its reader expects it, safe to put inside a sentence.

    A name in a right-to-left script is isolated (FSI … PDI), so the words
    around it, and a second name beside it, keep their order.
    """
    name = display_name(first_name, last_name)
    return f"\u2068{name}\u2069" if _right_to_left(name) else name


def born(date_of_birth: dt.date | None) -> str:
    return date_of_birth.isoformat() if date_of_birth else ""


def who(first_name: str, last_name: str, date_of_birth: dt.date | None = None) -> str:
    """A name and what tells two people of that name apart: "Robert Jones (born 1970-04-02)"."""
    name = name_of(first_name, last_name)
    return f"{name} (born {born(date_of_birth)})" if date_of_birth else name


def mnemonic_safe(text: str) -> str:
    """User text on a button or radio button: an '&' in a name is shown, never a shortcut."""
    return text.replace("&", "&&")


def value_label(text: str, name: str | None = None) -> QLabel:
    """A read-only value a form label can be the buddy of: plain text, selectable, focusable."""
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                  | Qt.TextInteractionFlag.TextSelectableByKeyboard)
    label.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    # Beside its form label whatever the direction of its text: Qt would push an Arabic
    # or Hebrew value to the far edge.
    leading = Qt.AlignmentFlag.AlignLeft if label.layoutDirection() == Qt.LayoutDirection.LeftToRight \
        else Qt.AlignmentFlag.AlignRight
    label.setAlignment(leading | Qt.AlignmentFlag.AlignAbsolute | Qt.AlignmentFlag.AlignVCenter)
    return label


def field_choice_row(grid: QGridLayout, row: int, field: str, text: str, values: tuple[str, str],
                     sides: tuple[str, str], owner: QObject) -> tuple[QRadioButton, QRadioButton] | None:
    """One field of a merge: its value once when both sides agree, else a choice of the two.

    Returns the two radio buttons of a choice, named ``field`` + each side's
    word (None when the values agree: a label named ``field`` + "Same"). An
    empty value never wins by default over a filled one.
    """
    a, b = values
    label = QLabel(text + ":")
    grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignTop)
    if a == b:
        same = value_label(a or "—", f"{field}Same")
        label.setBuddy(same)
        grid.addWidget(same, row, 1, 1, 2)
        return None
    group = QButtonGroup(owner)
    left = QRadioButton(mnemonic_safe(a) if a else "(empty)")
    left.setObjectName(field + sides[0])
    right = QRadioButton(mnemonic_safe(b) if b else "(empty)")
    right.setObjectName(field + sides[1])
    group.addButton(left)
    group.addButton(right)
    (left if a else right).setChecked(True)
    label.setBuddy(left if a else right)
    grid.addWidget(left, row, 1)
    grid.addWidget(right, row, 2)
    return left, right


def _bold(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    font = label.font()
    font.setWeight(QFont.Weight.Bold)
    label.setFont(font)
    return label


class MergeIntoClientDialog(QDialog):
    """Choose the client (unless given), then which value wins for each field that differs."""

    def __init__(self, practice: Practice, actor: Actor, contact_id: int, client_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mergeIntoClientDialog")
        self.clients, self.contacts, self.actor = practice.clients, practice.contacts, actor
        # Read on opening: a refusal (merged or removed meanwhile, not theirs) is the opener's to show.
        self.contact: dict[str, Any] = self.contacts.get_contact(actor, contact_id)
        self.client: ClientDetail | None = None
        self.found: list[ClientRow] = []
        self.choices: dict[str, tuple[QRadioButton, QRadioButton]] = {}
        self.client_id: int | None = None  # after merging: the client kept
        self.kept_name = ""  # after merging: the client's name as it now is
        contact_name = name_of(self.contact["first_name"], self.contact["last_name"])
        self.setWindowTitle(f"Merge {contact_name} into a client profile")
        self.setMinimumWidth(660)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._pick_page(contact_name))
        self.fields_page = QWidget()
        self.fields_page.setObjectName("fieldsPage")
        self.fields_layout = QVBoxLayout(self.fields_page)
        self.fields_layout.setContentsMargins(0, 0, 0, 0)
        self.pages.addWidget(self.fields_page)
        self.problem = problem_label()

        self.back_button = QPushButton("< &Back")
        self.back_button.setObjectName("back")
        self.back_button.setAutoDefault(False)
        self.back_button.clicked.connect(self._back)
        self.next_button = QPushButton("&Next >")
        self.next_button.setObjectName("next")
        self.next_button.clicked.connect(self._next)
        self.merge_button = QPushButton("&Merge")
        self.merge_button.setObjectName("merge")
        self.merge_button.clicked.connect(self.merge)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        for button in (self.next_button, self.merge_button, self.cancel_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.problem)
        layout.addLayout(buttons)

        self.fixed_client = client_id is not None
        if client_id is not None:
            self._show_fields(self.clients.get_client(actor, client_id))
        else:
            self._show_pick()
            self.query.setText(self.contact["last_name"])
            self.query.selectAll()

    # ------------------------------------------------------------ finding the client

    def _pick_page(self, contact_name: str) -> QWidget:
        page = QWidget()
        page.setObjectName("pickPage")
        intro = QLabel(f"Which client is {contact_name}? The client profile stays; the contact "
                       "profile is merged into it and removed.")
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        self.query = QLineEdit()
        self.query.setObjectName("clientSearch")
        self.query.setAccessibleName("Find the client")
        self.query.setPlaceholderText("Type a name, date of birth, email or phone")
        self.query.setClearButtonEnabled(True)
        find = QLabel("Find the &client:")
        find.setBuddy(self.query)
        self.results = QTableWidget(0, 5)
        self.results.setObjectName("clientResults")
        self.results.setAccessibleName("Matching clients")
        self.results.setHorizontalHeaderLabels(["Name", "Date of birth", "Phone", "Email", "Status"])
        self.results.verticalHeader().setVisible(False)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setTabKeyNavigation(False)
        self.results.setWordWrap(False)
        header = self.results.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
        matching = QLabel("&Matching clients:")
        matching.setBuddy(self.results)
        self.none_found = QLabel()
        self.none_found.setObjectName("noneFound")
        self.none_found.setTextFormat(Qt.TextFormat.PlainText)
        self.none_found.setWordWrap(True)
        self.query.textChanged.connect(self._search)
        self.query.installEventFilter(self)
        self.results.itemSelectionChanged.connect(self._update_buttons)
        self.results.cellDoubleClicked.connect(lambda _r, _c: self._next())
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(intro)
        row = QHBoxLayout()
        row.addWidget(find)
        row.addWidget(self.query, 1)
        layout.addLayout(row)
        layout.addWidget(matching)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.none_found)
        return page

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Down from the search box goes to the results, as in any search-and-pick dialog.
        if watched is self.query and isinstance(event, QKeyEvent) \
                and event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Down \
                and self.results.rowCount():
            self.results.setFocus()
            if not self.results.selectionModel().selectedRows():
                self.results.selectRow(0)
            return True
        return super().eventFilter(watched, event)

    def _search(self, text: str) -> None:
        self.problem.clear()
        self.results.setRowCount(0)
        self.found = []
        if not text.strip():
            self.none_found.setText("Type part of the client's name, date of birth, email or phone.")
            self._update_buttons()
            return
        found = attempt(self, "Search refused", lambda: self.clients.list_clients(
            self.actor, "all", text, limit=SEARCH_LIMIT), report=self.problem.setText)
        self.found = list(found.value or [])
        self.results.setRowCount(len(self.found))
        for r, client in enumerate(self.found):
            cells = (display_name(client.first_name, client.last_name), born(client.date_of_birth),
                     client.phone or "", client.email or "", client.status.value.title())
            for c, text_ in enumerate(cells):
                item = QTableWidgetItem(text_)
                if c == 0:
                    item.setData(Qt.ItemDataRole.UserRole, client.id)
                    if client.preferred_name:
                        item.setToolTip(f"Goes by {client.preferred_name}")
                self.results.setItem(r, c, item)
        if self.found:
            more = " (the first 50; type more to narrow them down)" if len(self.found) >= SEARCH_LIMIT else ""
            self.none_found.setText(f"{len(self.found)} matching{more}. Choose one, then Next.")
            self.results.selectRow(0)
        elif found:
            self.none_found.setText("No client matches what you typed.")
        self._update_buttons()

    def _chosen_row(self) -> ClientRow | None:
        rows = self.results.selectionModel().selectedRows()
        return self.found[rows[0].row()] if rows and rows[0].row() < len(self.found) else None

    def _show_pick(self) -> None:
        self.pages.setCurrentIndex(0)
        self.problem.clear()
        self._update_buttons()
        self.query.setFocus()

    def _update_buttons(self) -> None:
        picking = self.pages.currentIndex() == 0
        self.back_button.setVisible(not picking and not self.fixed_client)
        self.next_button.setVisible(picking)
        self.merge_button.setVisible(not picking)
        self.next_button.setEnabled(picking and self._chosen_row() is not None)
        default = self.next_button if picking else self.merge_button
        default.setDefault(True)
        (self.merge_button if picking else self.next_button).setDefault(False)

    def _back(self) -> None:
        if not self.fixed_client:
            self._show_pick()

    def _next(self) -> None:
        chosen = self._chosen_row()
        if chosen is None:
            return
        read = attempt(self, "Cannot open the client", lambda: self.clients.get_client(
            self.actor, chosen.id), report=self.problem.setText)
        if read and read.value is not None:
            self._show_fields(read.value)

    # ------------------------------------------------------------ choosing the values

    def _show_fields(self, client: ClientDetail) -> None:
        self.client = client
        self.problem.clear()
        layout = self.fields_layout
        while layout.count():
            item = layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.setParent(None)  # type: ignore[call-overload]  # gone now, not at the next event
                widget.deleteLater()
        body = QWidget()
        layout.addWidget(body)
        self._build_fields(body, client)
        self.pages.setCurrentIndex(1)
        self._update_buttons()
        first = next(iter(self.choices.values()), None)
        (first[0] if first else self.merge_button).setFocus()

    def _build_fields(self, body: QWidget, client: ClientDetail) -> None:
        c, row = self.contact, client.row
        client_name, contact_name = who(row.first_name, row.last_name, row.date_of_birth), \
            name_of(c["first_name"], c["last_name"])
        intro = QLabel(f"Merge the contact {contact_name} into the client profile of {client_name}. "
                       "Choose the value that wins where they differ; the client profile takes it, "
                       "and the contact profile is then removed.")
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        grid.setHorizontalSpacing(16)
        grid.addWidget(_bold("Client profile (stays)"), 0, 1)
        grid.addWidget(_bold("Contact profile (removed)"), 0, 2)
        self.choices = {}
        values = {key: (getattr(row, key) or "", c.get(key) or "") for key, _label in FIELDS}
        r = 1
        for key, text in FIELDS:
            choice = field_choice_row(grid, r, key, text, values[key], ("Client", "Contact"), body)
            if choice:
                self.choices[key] = choice
            r += 1
        birth = QLabel("&Date of birth:")
        birth_value = value_label(born(row.date_of_birth) or "—", "dateOfBirth")
        birth.setBuddy(birth_value)
        grid.addWidget(birth, r, 0)
        grid.addWidget(birth_value, r, 1)
        not_kept = QLabel("not recorded for contacts")
        not_kept.setEnabled(False)
        grid.addWidget(not_kept, r, 2)
        r += 1
        if c.get("notes"):
            notes = QLabel("N&otes:")
            notes_value = value_label(c["notes"], "contactNotes")
            notes.setBuddy(notes_value)
            grid.addWidget(notes, r, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(QLabel("—"), r, 1, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(notes_value, r, 2)
            r += 1
        box = QVBoxLayout(body)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(intro)
        box.addSpacing(6)
        box.addLayout(grid)
        box.addSpacing(6)
        for line in self._consequences(client):
            said = QLabel(line)
            said.setTextFormat(Qt.TextFormat.PlainText)
            said.setWordWrap(True)
            box.addWidget(said)
        box.addStretch(1)
        others = [link for link in c["clients"] if link["client_id"] != row.id]
        if others:
            names = ", ".join(name_of(link["first_name"], link["last_name"]) for link in others)
            self.problem.setText(f"{contact_name} is also a contact of {names}. Unlink "
                                 f"{'that client' if len(others) == 1 else 'those clients'} from the "
                                 "contact first, so no relationship is lost.")
        self.merge_button.setEnabled(not others)

    def _consequences(self, client: ClientDetail) -> list[str]:
        c = self.contact
        lines = []
        own = [link for link in c["clients"] if link["client_id"] == client.row.id]
        if own:
            lines.append(f"The contact is linked to this client as {own[0]['relationship']}; a client "
                         "is not their own contact, so that link goes.")
        if c.get("notes"):
            lines.append("The contact's notes are not kept: a client profile has no place for them. "
                         "Copy anything you need before merging.")
        return lines

    # ------------------------------------------------------------ merging

    def merge(self) -> None:
        client = self.client
        if client is None or not self.merge_button.isEnabled():
            return
        choices: dict[str, Side] = {key: "keep" if client_choice.isChecked() else "other"
                                    for key, (client_choice, _contact_choice) in self.choices.items()}
        client_id, contact_id = client.row.id, self.contact["id"]
        merged = attempt(self, "Not merged", lambda: self.contacts.merge_contact_into_client(
            self.actor, client_id, contact_id, choices), report=self.problem.setText)
        if not merged:
            return
        self.client_id = client_id

        def final(key: str) -> str:
            kept, other = getattr(client.row, key) or "", self.contact.get(key) or ""
            return other if choices.get(key) == "other" else kept

        self.kept_name = who(final("first_name"), final("last_name"), client.row.date_of_birth)
        self.accept()

"""Merging two contact profiles: pick the survivor, then the value that wins for each differing field."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.controllers.contacts import MERGE_FIELDS, Side
from desktop.controllers.permissions import Actor
from desktop.controllers.practice import Practice
from desktop.ui.dialogs.merge_into_client import field_choice_row, mnemonic_safe, name_of
from desktop.ui.operation import attempt
from desktop.ui.widgets import problem_label

LABELS = {"first_name": "&First name", "last_name": "&Last name", "email": "&Email", "phone": "P&hone",
          "notes": "N&otes"}


class MergeContactsDialog(QDialog):
    def __init__(self, practice: Practice, actor: Actor, left_id: int, right_id: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mergeContactsDialog")
        self.setWindowTitle("Merge contacts")
        self.setMinimumWidth(620)
        self.contacts = practice.contacts
        self.actor = actor
        self.left = self.contacts.get_contact(actor, left_id)
        self.right = self.contacts.get_contact(actor, right_id)
        # After merging: who was kept (its name as it now is) and the contact removed.
        self.kept_id: int | None = None
        self.removed_id: int | None = None
        self.kept_name = ""

        intro = QLabel("The contact you keep takes the values chosen below and every client link of "
                       "the other; the other contact profile is then removed.")
        intro.setWordWrap(True)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        grid.setHorizontalSpacing(16)
        keep = QLabel("&Keep:")
        font = keep.font()
        font.setBold(True)
        keep.setFont(font)
        grid.addWidget(keep, 0, 0)
        self.survivor = QButtonGroup(self)
        same_name = self._name(self.left) == self._name(self.right)
        self.keep_left = QRadioButton(mnemonic_safe(self._title(self.left, same_name)))
        self.keep_left.setObjectName("keepLeftContact")
        self.keep_right = QRadioButton(mnemonic_safe(self._title(self.right, same_name)))
        self.keep_right.setObjectName("keepRightContact")
        self.keep_left.setChecked(True)
        keep.setBuddy(self.keep_left)
        self.survivor.addButton(self.keep_left)
        self.survivor.addButton(self.keep_right)
        grid.addWidget(self.keep_left, 0, 1)
        grid.addWidget(self.keep_right, 0, 2)
        self.choices: dict[str, tuple[QRadioButton, QRadioButton]] = {}
        row = 1
        for field in MERGE_FIELDS:
            values = (self.left[field] or "", self.right[field] or "")
            choice = field_choice_row(grid, row, field, LABELS[field], values, ("Left", "Right"), self)
            if choice:
                self.choices[field] = choice
            row += 1
        links = QLabel(f"Clients linked: {len(self.left['clients'])} to the left contact, "
                       f"{len(self.right['clients'])} to the right one; all end up on the contact kept.")
        links.setWordWrap(True)
        self.problem = problem_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.merge_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.merge_button.setText("&Merge")
        self.merge_button.setObjectName("merge")
        buttons.accepted.connect(self.merge)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addWidget(links)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    @staticmethod
    def _name(contact: dict) -> str:
        return name_of(contact["first_name"], contact["last_name"])

    @classmethod
    def _title(cls, contact: dict, same_name: bool) -> str:
        """The contact's name; with the same name on both sides, also what tells them apart."""
        if not same_name:
            return cls._name(contact)
        detail = contact["email"] or contact["phone"]
        if not detail and contact["clients"]:
            link = contact["clients"][0]
            detail = f"{link['relationship']} of {name_of(link['first_name'], link['last_name'])}"
        return f"{cls._name(contact)} ({detail})" if detail else cls._name(contact)

    def merge(self) -> None:
        keep_left = self.keep_left.isChecked()
        keep, other = (self.left, self.right) if keep_left else (self.right, self.left)
        choices: dict[str, Side] = {}
        for field, (left_choice, _right_choice) in self.choices.items():
            chose_left = left_choice.isChecked()
            # "keep"/"other" are relative to the survivor, whichever side it is on.
            choices[field] = "keep" if chose_left == keep_left else "other"
        if not attempt(self, "Not merged", lambda: self.contacts.merge_contacts(
                self.actor, keep["id"], other["id"], choices,
                expected_versions=(keep["version"], other["version"])), report=self.problem.setText):
            return

        def final(field: str) -> str:
            side = choices.get(field, "keep")
            value = (other if side == "other" else keep)[field]
            return value or ""

        self.kept_id, self.removed_id = keep["id"], other["id"]
        self.kept_name = name_of(final("first_name"), final("last_name"))
        self.accept()

"""Practice settings: the practice's own details and the services it offers.

Everyone signed in may read them; only the roles the permission table allows
may change them (docs/rules.md, "Who may do what"), and for everyone else the
dialog shows them read-only, saying who may change them. The form is checked
as it is typed by the controller's own rules (the sentence appears under the
field, or under the services for a service) and Save waits until it is right.
A save from an older version is refused and offers Reload, like a profile's.

Under Security: how long Caseload waits without use before it warns and locks the
screen (saved with the rest), and, for the Account Owner of an encrypted practice,
New recovery key… (the old key stops working; the new one is shown once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# The controller's own checks, run as the person types so Save can wait; the save runs them again.
from desktop.controllers import settings as settings_rules
from desktop.controllers.errors import InvalidInput
from desktop.controllers.permissions import PERMISSIONS, AccessProfile, Action, Actor, Scope
from desktop.controllers.practice import Practice
from desktop.controllers.settings import IDLE_LOCK_MAX, IDLE_LOCK_MIN, Settings
from desktop.domain import clock
from desktop.domain.models import Role
from desktop.ui.dialogs.change_password import field_with_error, say
from desktop.ui.dialogs.recovery_key import RecoveryKeyDialog
from desktop.ui.operation import attempt
from desktop.ui.widgets import ask, form_row, heading_label, problem_label

# Key, label (with mnemonic), object name, placeholder: one line each, the address below them.
LINE_FIELDS = (
    ("name", "Practice &name:", "practiceName", ""),
    ("phone", "P&hone:", "phone", ""),
    ("tax_id", "&Tax id (EIN):", "taxId", "12-3456789"),
    ("npi", "N&PI:", "npi", "Ten digits"),
)
SERVICE_COLUMNS = ("Code", "Description", "Minutes", "Default fee")
CODE, DESCRIPTION, MINUTES, FEE = range(len(SERVICE_COLUMNS))
SERVICE_KEYS = ("code", "description", "minutes", "default_fee")
# The codes most psychotherapy practices bill (CPT). Fees differ by practice and payer, so they
# are left for the practice to fill in; Save says which one is still missing.
COMMON_SERVICES = (
    ("90791", "Psychiatric diagnostic evaluation", 60),
    ("90832", "Psychotherapy, 30 minutes", 30),
    ("90834", "Psychotherapy, 45 minutes", 45),
    ("90837", "Psychotherapy, 60 minutes", 60),
    ("90847", "Family psychotherapy with patient", 50),
)
ADDRESS_LINES = 3


def computer_zone_label() -> str:
    return f"This computer's ({clock.computer_zone_name()})"


def may_change(actor: Actor) -> bool:
    return actor.can(Action.PRACTICE_SETTINGS, any_client=True)


def who_may_change() -> str:
    """The roles that may change the settings, from the permission table: "Account Owner and …"."""
    names = [p.value for p in AccessProfile if PERMISSIONS[p][Action.PRACTICE_SETTINGS] is Scope.ALL]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _same_label_width(*forms: QFormLayout) -> None:
    """Labels of forms stacked one above the other as wide as the widest, so their fields line up."""
    labels: list[QWidget] = []
    for form in forms:
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            label = item.widget() if item is not None else None
            if label is not None:
                labels.append(label)
    width = max((label.sizeHint().width() for label in labels), default=0)
    for label in labels:
        label.setMinimumWidth(width)


def _row_widget(row: QHBoxLayout) -> QWidget:
    widget = QWidget()
    widget.setLayout(row)
    return widget


class PracticeSettingsDialog(QDialog):
    """The settings form; after a save ``saved`` holds what the controller stored."""

    def __init__(self, practice: Practice, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.practice = practice
        self.settings_controller = practice.settings
        self.actor = actor
        self.editable = may_change(actor)
        # The recovery key is the Account Owner's, and only an encrypted file has one.
        self.may_renew_key = practice.encrypted and actor.role is Role.ACCOUNT_OWNER
        self.current: Settings | None = None
        self.saved: Settings | None = None
        self._filling = True  # no checking while the form is being built or filled
        self.setObjectName("practiceSettingsDialog")
        self.setWindowTitle("Practice settings")
        self.setMinimumSize(620, 640)

        self.notice = QLabel(f"Only the {who_may_change()} can change the practice settings.")
        self.notice.setObjectName("readOnlyNotice")
        self.notice.setWordWrap(True)
        self.notice.setVisible(not self.editable)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.edits: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        for key, label, name, placeholder in LINE_FIELDS:
            edit = QLineEdit()
            edit.setObjectName(name)
            edit.setAccessibleName(label.replace("&", "").rstrip(":"))
            edit.setPlaceholderText(placeholder)
            edit.textChanged.connect(self._check)
            self.edits[key] = edit
            box, self.errors[key] = field_with_error(edit, f"{key}Error")
            form_row(form, label, box, buddy=edit)
            if key == "npi":
                self.time_zone = QComboBox()
                self.time_zone.setObjectName("timeZone")
                self.time_zone.setAccessibleName("Time zone")
                self.time_zone.setEditable(True)
                self.time_zone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
                self.time_zone.addItem(computer_zone_label(), "")
                for zone_name in clock.zone_names():
                    self.time_zone.addItem(zone_name, zone_name)
                completer = QCompleter(self.time_zone.model(), self.time_zone)
                self.time_zone.setCompleter(completer)
                completer.setFilterMode(Qt.MatchFlag.MatchContains)
                completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
                completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
                self.time_zone.setToolTip("Appointments are shown and billed on this clock.")
                self.time_zone.currentTextChanged.connect(self._check)
                box, self.errors["time_zone"] = field_with_error(self.time_zone, "timeZoneError")
                form_row(form, "Time &zone:", box, buddy=self.time_zone)
            if key == "name":
                self.address = QPlainTextEdit()
                self.address.setObjectName("address")
                self.address.setAccessibleName("Address")
                self.address.setTabChangesFocus(True)
                lines = self.address.fontMetrics().lineSpacing() * ADDRESS_LINES
                self.address.setFixedHeight(lines + 2 * self.address.frameWidth() + 10)
                self.address.textChanged.connect(self._check)
                box, self.errors["address"] = field_with_error(self.address, "addressError")
                form_row(form, "&Address:", box, buddy=self.address).setAlignment(
                    Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignTop)

        self.services = QTableWidget(0, len(SERVICE_COLUMNS))
        self.services.setObjectName("servicesTable")
        self.services.setAccessibleName("Services")
        self.services.setHorizontalHeaderLabels(SERVICE_COLUMNS)
        # Numbered rows: a problem names "Service 3", and the row says which that is.
        self.services.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.services.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.services.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.services.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed | QAbstractItemView.EditTrigger.SelectedClicked
            if self.editable else QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.services.horizontalHeader()
        for column in (CODE, MINUTES, FEE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(DESCRIPTION, QHeaderView.ResizeMode.Stretch)
        self.services.itemChanged.connect(self._check)
        self.services_error = problem_label("servicesError")
        self.services_error.setVisible(False)

        self.add_service_button = self._button("Add service", "addService", self.add_service)
        self.remove_service_button = self._button("Remove service", "removeService", self.remove_service)
        self.common_button = self._button("Add common services", "addCommonServices", self.add_common)
        self.common_button.setToolTip("Adds " + ", ".join(code for code, _d, _m in COMMON_SERVICES)
                                      + "; fill in your fees.")
        self.services.itemSelectionChanged.connect(self._service_buttons)
        service_row = QHBoxLayout()
        for button in (self.add_service_button, self.remove_service_button, self.common_button):
            service_row.addWidget(button)
            button.setVisible(self.editable)
        service_row.addStretch(1)

        security = QFormLayout()
        security.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.idle_lock = QSpinBox()
        self.idle_lock.setObjectName("idleLockMinutes")
        self.idle_lock.setAccessibleName("Lock after")
        self.idle_lock.setRange(IDLE_LOCK_MIN, IDLE_LOCK_MAX)
        self.idle_lock.setSuffix(" minutes")
        self.idle_lock.valueChanged.connect(
            lambda minutes: self.idle_lock.setSuffix(" minute" if minutes == 1 else " minutes"))
        self.idle_lock.setCorrectionMode(QSpinBox.CorrectionMode.CorrectToPreviousValue)
        # The editor's own signal: the spin box says nothing while its text is not a value ("0").
        self.idle_lock.lineEdit().textChanged.connect(self._check)
        lock_explained = QLabel("Caseload warns, then locks the screen after this much time without use.")
        lock_explained.setObjectName("idleLockExplanation")
        lock_explained.setWordWrap(True)
        self.idle_lock.setAccessibleDescription(lock_explained.text())
        lock_row = QHBoxLayout()
        lock_row.setContentsMargins(0, 0, 0, 0)
        lock_row.addWidget(self.idle_lock)
        lock_row.addWidget(lock_explained, 1)
        box, self.errors["idle_lock_minutes"] = field_with_error(_row_widget(lock_row), "idleLockMinutesError")
        form_row(security, "&Lock after:", box, buddy=self.idle_lock)
        self.new_key_button: QPushButton | None = None
        if self.may_renew_key:
            self.new_key_button = self._button("New recovery key…", "newRecoveryKey", self.new_recovery_key)
            self.new_key_button.setAccessibleName("New recovery key")
            key_explained = QLabel("Makes a new key for setting a new password if yours is forgotten; the "
                                   "one you have now stops working.")
            key_explained.setObjectName("newRecoveryKeyExplanation")
            key_explained.setWordWrap(True)
            self.new_key_button.setAccessibleDescription(key_explained.text())
            key_row = QHBoxLayout()
            key_row.setContentsMargins(0, 0, 0, 0)
            key_row.addWidget(self.new_key_button)
            key_row.addWidget(key_explained, 1)
            form_row(security, "&Recovery key:", _row_widget(key_row), buddy=self.new_key_button)

        self.problem = problem_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Save Settings")
        self.save_button.setObjectName("saveSettings")
        self.save_button.setVisible(self.editable)
        cancel = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setObjectName("cancel")
        if not self.editable:
            cancel.setText("Close")
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)

        _same_label_width(form, security)
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addLayout(form)
        layout.addSpacing(6)
        layout.addWidget(heading_label("Services", scale=1.15, name="servicesHeading"))
        layout.addWidget(self.services, 1)
        layout.addWidget(self.services_error)
        layout.addLayout(service_row)
        layout.addSpacing(6)
        layout.addWidget(heading_label("Security", scale=1.15, name="securityHeading"))
        layout.addLayout(security)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

        if not self.editable:
            for edit in self.edits.values():
                edit.setReadOnly(True)
            self.address.setReadOnly(True)
            self.time_zone.setEnabled(False)
            self.idle_lock.setEnabled(False)
            # Read-only fields look like fields; without their white ground they read as text.
            self.setStyleSheet("QLineEdit[readOnly=\"true\"], QPlainTextEdit[readOnly=\"true\"] "
                               "{ background: transparent; }")
        self._load()

    def _button(self, text: str, name: str, slot: Any) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text)
        button.clicked.connect(slot)
        return button

    # ------------------------------------------------------------- loading

    def _load(self) -> bool:
        read = attempt(self, "Practice settings not read",
                       lambda: self.settings_controller.settings(self.actor), report=self.problem.setText)
        self._filling = False
        if not read or read.value is None:
            for widget in (*self.edits.values(), self.address, self.services, self.time_zone, self.idle_lock):
                widget.setEnabled(False)
            self.save_button.setEnabled(False)
            for button in (self.add_service_button, self.remove_service_button, self.common_button):
                button.setEnabled(False)
            return False
        self._show(read.value)
        return True

    def _reload_saved(self) -> None:
        """After someone else saved: their version, the refusal still said above the buttons."""
        refusal = self.problem.text()
        if self._load():
            self.problem.setText(f"{refusal} The form now shows the saved version.")

    def _show(self, settings: Settings) -> None:
        self.current = settings
        self._filling = True
        for key, edit in self.edits.items():
            edit.setText(getattr(settings, key))
        self.address.setPlainText(settings.address)
        found = self.time_zone.findData(settings.time_zone)
        if found >= 0:
            self.time_zone.setCurrentIndex(found)
        else:  # a zone this computer does not know (set on another workstation): shown as it is
            self.time_zone.setEditText(settings.time_zone)
        self.idle_lock.setValue(settings.idle_lock_minutes)
        self.services.setRowCount(0)
        for service in settings.services:
            self._append((service.code, service.description, str(service.minutes),
                          f"{service.default_fee:.2f}"))
        self._filling = False
        self._check()

    def _append(self, cells: Sequence[str]) -> int:
        row = self.services.rowCount()
        blocked = self.services.blockSignals(True)  # checked once the whole row is there
        self.services.insertRow(row)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column in (MINUTES, FEE):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.services.setItem(row, column, item)
        self.services.blockSignals(blocked)
        return row

    # ------------------------------------------------------------- services

    def add_service(self) -> None:
        row = self._append(("", "", "", ""))
        self._check()
        self.services.setCurrentCell(row, CODE)
        self.services.editItem(self._item(row, CODE))

    def remove_service(self) -> None:
        row = self.services.currentRow()
        if row >= 0:
            self.services.removeRow(row)
            self._check()

    def add_common(self) -> None:
        listed = {cells["code"].strip().upper() for cells in self.service_values()}
        self._filling = True
        for code, description, minutes in COMMON_SERVICES:
            if code not in listed:
                self._append((code, description, str(minutes), ""))
        self._filling = False
        self._check()
        for row in range(self.services.rowCount()):
            if not self._item(row, FEE).text().strip():
                self.services.setCurrentCell(row, FEE)  # where the first missing fee goes
                break

    def _item(self, row: int, column: int) -> QTableWidgetItem:
        item = self.services.item(row, column)
        if item is None:  # every cell gets an item when its row is added; keep it so
            item = QTableWidgetItem()
            self.services.setItem(row, column, item)
        return item

    def _service_buttons(self) -> None:
        self.remove_service_button.setEnabled(self.editable and self.services.currentRow() >= 0)

    # ------------------------------------------------------------- checking

    def values(self) -> dict[str, str]:
        """The form as typed, for the controller's checks and its save."""
        data = {key: edit.text() for key, edit in self.edits.items()}
        data["address"] = self.address.toPlainText()
        typed = self.time_zone.currentText().strip()
        data["time_zone"] = "" if typed in ("", computer_zone_label()) else typed
        data["idle_lock_minutes"] = self.idle_lock.cleanText()  # as typed: "0" is said, not corrected
        return data

    def service_values(self) -> list[dict[str, str]]:
        return [{key: self._item(row, column).text() for column, key in enumerate(SERVICE_KEYS)}
                for row in range(self.services.rowCount())]

    def _check(self, *_args: Any) -> bool:
        """Say each problem where it belongs; Save waits until there is none."""
        if self._filling:
            return False
        problems = settings_rules.problems(self.values(), self.service_values())
        for key, error in self.errors.items():
            say(error, problems.get(key))
        say(self.services_error, problems.get("services"))
        self.common_button.setVisible(self.editable and self.services.rowCount() == 0)
        self._service_buttons()
        self.save_button.setEnabled(self.editable and self.current is not None and not problems)
        return not problems

    # ------------------------------------------------------------- saving

    def save(self) -> None:
        if not self.editable or self.current is None or not self._check():
            return
        self.problem.clear()
        version, values, services = self.current.version, self.values(), self.service_values()
        saved = attempt(self, "Practice settings not saved", lambda: self.settings_controller.save(
            self.actor, version, values, services), report=self.problem.setText, reload=self._reload_saved)
        if not saved:
            error = saved.error
            if isinstance(error, InvalidInput) and error.field in self.errors:
                say(self.errors[error.field], str(error))
                self.problem.clear()
            return
        self.saved = saved.value
        self.accept()

    # ------------------------------------------------------------- the recovery key

    def new_recovery_key(self) -> str | None:
        """Confirm, make a new recovery key (the old one stops working), and show it once."""
        chosen = ask(self, "confirmNewRecoveryKey", QMessageBox.Icon.Question, "New recovery key",
                     "Make a new recovery key?",
                     "The recovery key you have now stops working at once: destroy its paper. Caseload then "
                     "shows the new key once, to print or write down.",
                     ("Make a New Key", "makeNewRecoveryKey", QMessageBox.ButtonRole.AcceptRole))
        if not chosen:
            return None
        self.problem.clear()
        made = attempt(self, "No new recovery key", lambda: self.practice.access.new_recovery_key(self.actor),
                       report=self.problem.setText)
        if not made or made.value is None:
            return None
        name = self.current.name if self.current is not None else ""
        page = RecoveryKeyDialog(made.value, name or "your practice", self)
        page.exec()
        page.deleteLater()
        return made.value

"""Administration → Users: list the accounts, add one with a role, disable or enable it, reset
a password. Everything goes through the station with the session at the console, so the station
checks the administrator role and journals each change (never the password)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.users import MIN_PASSWORD_LEN, Role
from app.station.interface import Station, UserRow
from app.ui.formatting import format_time

COLUMNS = ("User", "Role", "State", "Created")


def _plain(message: str) -> str:
    """'VigilError: user x already exists' -> 'user x already exists' (no class names shown)."""
    head, _, rest = message.partition(": ")
    return rest if rest and head.isidentifier() else message


class PasswordDialog(QDialog):
    """A new password typed twice (for a new account or a reset)."""

    def __init__(self, title: str, *, ask_name: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(380)
        self.name = QLineEdit()
        self.role = QComboBox()
        for r in Role:
            self.role.addItem(r.label, r)
        self.role.setCurrentIndex(int(Role.OPERATOR))
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText(f"at least {MIN_PASSWORD_LEN} characters")
        self.repeat = QLineEdit()
        self.repeat.setEchoMode(QLineEdit.EchoMode.Password)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        form = QFormLayout(self)
        if ask_name:
            form.addRow("User name", self.name)
            form.addRow("Role", self.role)
        form.addRow("Password", self.password)
        form.addRow("Password again", self.repeat)
        form.addRow(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_btn = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self._ask_name = ask_name
        for f in (self.name, self.password, self.repeat):
            f.textChanged.connect(self._check)
        self._check()

    def _check(self) -> None:
        problem = ""
        if self._ask_name and not self.name.text().strip():
            problem = "enter a user name"
        elif len(self.password.text()) < MIN_PASSWORD_LEN:
            problem = f"the password needs at least {MIN_PASSWORD_LEN} characters"
        elif self.password.text() != self.repeat.text():
            problem = "the two passwords differ"
        self.problem.setText(problem if self.password.text() else "")
        self.ok_btn.setEnabled(not problem)


class UsersDialog(QDialog):
    """Account administration. Changes run on the task runner (each one hashes with scrypt and
    writes users.json); the list is re-read from the store after every change."""

    def __init__(
        self,
        station: Station,
        run_async: Callable[[Callable[[], Any], Callable[[Any], None], Callable[[str], None]], Any],
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.station = station
        self._run_async = run_async
        self.setWindowTitle("Users")
        self.setMinimumSize(560, 360)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.add_btn = QPushButton("Add…")
        self.toggle_btn = QPushButton("Disable")
        self.passwd_btn = QPushButton("Reset password…")
        self.add_btn.clicked.connect(self._add_clicked)
        self.toggle_btn.clicked.connect(self._toggle_clicked)
        self.passwd_btn.clicked.connect(self._passwd_clicked)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        bar = QHBoxLayout()
        for b in (self.add_btn, self.toggle_btn, self.passwd_btn):
            bar.addWidget(b)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addLayout(bar)
        lay.addWidget(self.message)
        lay.addWidget(close)
        self.rows: list[UserRow] = []
        self.busy = False
        self.reload()

    # ------------------------------------------------------------------ list
    def reload(self) -> None:
        self.rows = self.station.users()
        selected = self.selected_name()
        self.table.setRowCount(len(self.rows))
        for i, u in enumerate(self.rows):
            state = "disabled" if u.disabled else ("locked (failed log-ins)" if u.locked else "enabled")
            for col, text in enumerate((u.name, u.role, state, format_time(u.created))):
                self.table.setItem(i, col, QTableWidgetItem(str(text)))
        if selected:
            self.select(selected)
        self._selection_changed()

    def select(self, name: str) -> bool:
        for i, u in enumerate(self.rows):
            if u.name == name:
                self.table.selectRow(i)
                return True
        return False

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.rows):
            return None
        return str(self.rows[rows[0].row()].name)

    def _selection_changed(self) -> None:
        name = self.selected_name()
        row = next((u for u in self.rows if u.name == name), None)
        self.toggle_btn.setEnabled(row is not None and not self.busy)
        self.passwd_btn.setEnabled(row is not None and not self.busy)
        self.add_btn.setEnabled(not self.busy)
        self.toggle_btn.setText("Enable" if row is not None and row.disabled else "Disable")

    # ------------------------------------------------------------------ changes
    def _change(self, what: str, fn: Callable[[], Any]) -> None:
        """Run one change as the session at the console; the station checks and journals it."""
        self.busy = True
        self._selection_changed()
        self.message.setText(f"{what}…")

        def done(_: Any) -> None:
            self.busy = False
            self.message.setText(f"done: {what}")
            self.reload()

        def failed(message: str) -> None:
            self.busy = False
            self.message.setText(f"Refused: {_plain(message)}")
            self.reload()

        self._run_async(fn, done, failed)

    def add_user(self, name: str, password: str, role: Role) -> None:
        self._change(f"add {role.label} '{name}'", lambda: self.station.add_user(name, password, role))

    def set_disabled(self, name: str, disabled: bool) -> None:
        self._change(
            f"{'disable' if disabled else 'enable'} '{name}'",
            lambda: self.station.set_user_disabled(name, disabled),
        )

    def reset_password(self, name: str, password: str) -> None:
        self._change(
            f"reset the password of '{name}'", lambda: self.station.set_user_password(name, password)
        )

    def _add_clicked(self) -> None:
        dlg = PasswordDialog("Add user", ask_name=True, parent=self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.add_user(dlg.name.text().strip(), dlg.password.text(), dlg.role.currentData())

    def _toggle_clicked(self) -> None:
        name = self.selected_name()
        row = next((u for u in self.rows if u.name == name), None)
        if row is not None:
            self.set_disabled(row.name, not row.disabled)

    def _passwd_clicked(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        dlg = PasswordDialog(f"Reset password — {name}", ask_name=False, parent=self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.reset_password(name, dlg.password.text())

"""Log-in, shift-handover and first-start dialogs.

The dialogs only collect what the person types; the session controller runs the check off the
GUI thread (scrypt costs ~55 ms per attempt, measured here) and answers with `accept()` or
`refuse(message)`. A refusal never says which part was wrong: the core's message is the same
for an unknown name, a wrong password, a disabled or a locked account. Password fields are
cleared after every attempt and never stored anywhere.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.users import MIN_PASSWORD_LEN

#: what each use of the log-in dialog is called, and what "Cancel" means there
_MODES = {
    "login": ("Log in", "Log in", "Cancel"),
    "switch": ("Switch user — shift handover", "Take over", "Cancel"),
    "locked": ("Session locked", "Log in", "Continue view only"),
}


def _password_field() -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


class LoginDialog(QDialog):
    """Name and password. ``submitted(name, password)`` asks the controller to check them."""

    submitted = Signal(str, str)

    def __init__(self, mode: str = "login", intro: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        title, ok_text, cancel_text = _MODES.get(mode, _MODES["login"])
        self.mode = mode
        self.setWindowTitle(title)
        self.setMinimumWidth(380)
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.intro.setVisible(bool(intro))
        self.name = QLineEdit()
        self.name.setPlaceholderText("user name")
        self.password = _password_field()
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.ok_btn: QPushButton = self.buttons.addButton(ok_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_btn: QPushButton = self.buttons.addButton(
            cancel_text, QDialogButtonBox.ButtonRole.RejectRole
        )
        self.ok_btn.setDefault(True)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("User", self.name)
        form.addRow("Password", self.password)
        lay = QVBoxLayout(self)
        lay.addWidget(self.intro)
        lay.addLayout(form)
        lay.addWidget(self.problem)
        lay.addWidget(self.buttons)
        self.name.textChanged.connect(self._check)
        self.password.textChanged.connect(self._check)
        self._busy = False
        self._check()

    def _check(self) -> None:
        self.ok_btn.setEnabled(not self._busy and bool(self.name.text().strip() and self.password.text()))

    def _submit(self) -> None:
        if not self.ok_btn.isEnabled():
            return
        name, password = self.name.text().strip(), self.password.text()
        self.password.clear()  # the only copy now travels to the check, nowhere else
        self.set_busy(True)
        self.submitted.emit(name, password)

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.problem.setText("checking…" if busy else self.problem.text())
        self.name.setEnabled(not busy)
        self.password.setEnabled(not busy)
        self._check()

    def refuse(self, message: str) -> None:
        """Show the (deliberately generic) refusal and let the person try again."""
        self.set_busy(False)
        self.problem.setText(message)
        self.password.setFocus()


class CreateAdminDialog(QDialog):
    """First start: no account exists yet, so the person at the console creates the
    administrator. There is no default password to fall back on."""

    submitted = Signal(str, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Create the administrator")
        self.setMinimumWidth(420)
        intro = QLabel(
            "No user account exists yet. Create the administrator account: it manages the other "
            "accounts. Until someone logs in, the plant can be watched but not operated."
        )
        intro.setWordWrap(True)
        self.name = QLineEdit()
        self.name.setPlaceholderText("letters, digits, '.', '-', '_'")
        self.password = _password_field()
        self.password.setPlaceholderText(f"at least {MIN_PASSWORD_LEN} characters")
        self.repeat = _password_field()
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.ok_btn: QPushButton = self.buttons.addButton(
            "Create and log in", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Administrator name", self.name)
        form.addRow("Password", self.password)
        form.addRow("Password again", self.repeat)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.problem)
        lay.addWidget(self.buttons)
        for field in (self.name, self.password, self.repeat):
            field.textChanged.connect(self._check)
        self._busy = False
        self._check()

    def problem_text(self) -> str:
        """What still stops the account from being created ('' when nothing does)."""
        name, pw, again = self.name.text().strip(), self.password.text(), self.repeat.text()
        if not name:
            return "enter a name"
        if len(pw) < MIN_PASSWORD_LEN:
            return f"the password needs at least {MIN_PASSWORD_LEN} characters"
        if pw != again:
            return "the two passwords differ"
        return ""

    def _check(self) -> None:
        problem = self.problem_text()
        if not self._busy:
            self.problem.setText(problem if (self.password.text() or self.repeat.text()) else "")
        self.ok_btn.setEnabled(not self._busy and not problem)

    def _submit(self) -> None:
        if not self.ok_btn.isEnabled():
            return
        name, password = self.name.text().strip(), self.password.text()
        self._busy = True
        self.problem.setText("creating the account…")
        for field in (self.name, self.password, self.repeat):
            field.setEnabled(False)
        self._check()
        self.submitted.emit(name, password)

    def refuse(self, message: str) -> None:
        self._busy = False
        for field in (self.name, self.password, self.repeat):
            field.setEnabled(True)
        self.password.clear()
        self.repeat.clear()
        self._check()
        self.problem.setText(message)

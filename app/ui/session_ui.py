"""Who is at the console, as the workstation shows it: log in, log out, switch user (shift
handover), first-start administrator creation and the idle lock.

The station owns the session (`station.login`, `station.logout`, `station.session`) and
journals every change; this controller only runs those calls off the GUI thread, keeps the menu actions and
the role-gated controls in step with the session, and shows the dialogs.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QWidget

from app.station.interface import Session, Station
from app.ui.account_dialogs import CreateAdminDialog, LoginDialog
from app.ui.idle import IdleWatcher
from app.ui.role_gate import RoleGate
from app.ui.tasks import TaskRunner

#: shown for every refused log-in whatever the cause (wrong name, password, disabled, locked)
GENERIC_REFUSAL = "Login refused: wrong user name or password, or the account is locked."


#: without a broker whose nodes witness each other's heads, an exported head kept elsewhere is
#: what shows a later truncation or rewrite of the journal, so each handover asks for one
HANDOVER_REMINDER = (
    "Before you go: keep this shift's signed journal head on other media "
    "(Journal → Export signed head…)."
)


def _alive(dlg: QDialog) -> bool:
    """The person may close a dialog while its check still runs on a worker."""
    return shiboken6.isValid(dlg) and dlg.isVisible()


def describe(session: Session | None) -> str:
    if session is None:
        return "not logged in — view only"
    return f"{session.user} ({session.role.label})"


class SessionController(QObject):
    """``changed(session_or_None)`` fires whenever the person at the console changes."""

    changed = Signal(object)
    message = Signal(str)

    def __init__(
        self,
        station: Station,
        tasks: TaskRunner,
        window: QWidget,
        *,
        idle_lock_s: float,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.station = station
        self.tasks = tasks
        self.window = window
        self.gate = RoleGate()
        self.dialog: QDialog | None = None  # the account dialog currently open, if any
        self.act_login = QAction("Log in…", self)
        self.act_switch = QAction("Switch user…", self)
        self.act_switch.setToolTip("Shift handover: the next person logs in, this session ends")
        self.act_logout = QAction("Log out", self)
        self.act_login.triggered.connect(self.login_or_create)
        self.act_switch.triggered.connect(lambda: self.open_login("switch"))
        self.act_logout.triggered.connect(lambda: self.logout())
        self.idle = IdleWatcher(idle_lock_s, self)
        self.idle.idle.connect(self.lock)
        self._shown: Session | None = None
        self._sync(force=True)

    # ------------------------------------------------------------------ state
    @property
    def session(self) -> Session | None:
        return self.station.session

    def first_start(self) -> bool:
        return not self.station.has_accounts()

    def sync(self) -> None:
        """Pick up a session change made outside the screen (a script, the core itself)."""
        self._sync()

    def _sync(self, force: bool = False) -> None:
        s = self.session
        first = self.first_start()
        self.act_login.setText("Create administrator…" if first else "Log in…")
        self.act_login.setEnabled(s is None)
        self.act_switch.setEnabled(s is not None)
        self.act_logout.setEnabled(s is not None)
        if force or s is not self._shown:
            self._shown = s
            self.gate.apply(s)
            self.changed.emit(s)

    # ------------------------------------------------------------------ flows
    def login_or_create(self) -> QDialog:
        return self.open_create_admin() if self.first_start() else self.open_login("login")

    def open_login(self, mode: str = "login", intro: str = "") -> LoginDialog:
        if mode == "switch" and not intro and self.session is not None:
            intro = (
                f"{describe(self.session)} hands over. The next person logs in; "
                "the current session then ends and both are journaled.\n"
                f"{HANDOVER_REMINDER}"
            )
        dlg = LoginDialog(mode, intro, self.window)
        dlg.submitted.connect(lambda name, pw: self._check_login(dlg, name, pw))
        self._show(dlg)
        return dlg

    def open_create_admin(self) -> CreateAdminDialog:
        dlg = CreateAdminDialog(self.window)
        dlg.submitted.connect(lambda name, pw: self._create_admin(dlg, name, pw))
        self._show(dlg)
        return dlg

    def _show(self, dlg: QDialog) -> None:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dlg
        dlg.finished.connect(lambda _=0, d=dlg: self._closed(d))
        dlg.open()  # window-modal, but the plant stays visible and keeps updating behind it

    def _closed(self, dlg: QDialog) -> None:
        if self.dialog is dlg:
            self.dialog = None
        dlg.deleteLater()

    def _check_login(self, dlg: LoginDialog, name: str, password: str) -> None:
        def done(session: Session) -> None:
            self.idle.reset()
            self._sync()
            self.message.emit(f"logged in: {describe(session)}")
            if _alive(dlg):
                dlg.accept()

        def failed(_message: str) -> None:
            # the core journals the precise reason; the person sees the same words every time
            self._sync()
            if _alive(dlg):
                dlg.refuse(GENERIC_REFUSAL)
            self.message.emit(GENERIC_REFUSAL)

        self.tasks.submit(lambda: self.station.login(name, password), done, failed)

    def _create_admin(self, dlg: CreateAdminDialog, name: str, password: str) -> None:
        def create() -> Session:
            return self.station.create_administrator(name, password)

        def done(session: Session) -> None:
            self.idle.reset()
            self._sync()
            self.message.emit(f"administrator '{session.user}' created and logged in")
            if _alive(dlg):
                dlg.accept()

        def failed(message: str) -> None:
            head, _, rest = message.partition(": ")  # "VigilError: why" -> "why"
            self._sync()
            text = f"Not created: {rest if rest and head.isidentifier() else message}"
            if _alive(dlg):
                dlg.refuse(text)
            self.message.emit(text)

        self.tasks.submit(create, done, failed)

    def logout(self, reason: str = "logout") -> None:
        if self.session is None:
            return
        who = describe(self.session)
        self.station.logout(reason)
        self._sync()
        self.message.emit(f"{who} logged out" + ("" if reason == "logout" else f" ({reason})"))

    def lock(self) -> LoginDialog | None:
        """Idle lock: end the session (journaled by the core with reason 'idle lock') and ask for
        a log-in; the plant view stays visible, view only, behind the dialog."""
        if self.session is None:
            return None
        minutes = self.idle.timeout_s / 60.0
        self.logout("idle lock")
        span = f"{minutes:.0f} min" if minutes >= 1 else f"{self.idle.timeout_s:.0f} s"
        return self.open_login(
            "locked",
            f"The session was locked after {span} without input. The plant stays visible, "
            "view only. Log in to operate again.",
        )

    def stop(self) -> None:
        self.idle.stop()
        if self.dialog is not None:
            self.dialog.close()

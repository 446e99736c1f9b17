"""Alarm handling at the console, added to the main window by one call (``install``): the
annunciator (sound, flashing, Silence, audio state), the sound settings, the off-delay action
for chattering alarms, the bad-actor / KPI view, the shift-log note box and the guard on closing
an embedded workstation.

Kept out of ``main_window.py`` so the window's wiring stays small; everything here talks to the
core through its role-checked actions (``silence``, ``set_off_delay``, ``note``,
``authorize_close``), so each action is attributed and journaled there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.alarms.annunciation import PRIORITY_ORDER, Annunciation, Convention, SoundMode
from app.core.plant import Plant
from app.ui.annunciator import Annunciator, AudioOut
from app.ui.formatting import format_clock


class SoundSettingsDialog(QDialog):
    """Per priority: sound until acknowledged, once, or off; and how long Silence lasts."""

    def __init__(self, policy: Annunciation, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Alarm sound")
        form = QFormLayout(self)
        self.boxes: dict[str, QComboBox] = {}
        for p in reversed(PRIORITY_ORDER):
            box = QComboBox()
            for m in SoundMode:
                box.addItem(m.label, str(m))
            box.setCurrentIndex(box.findData(str(policy.modes[p])))
            self.boxes[p] = box
            form.addRow(f"{p.capitalize()} priority", box)
        self.silence = QDoubleSpinBox()
        self.silence.setRange(10, 900)
        self.silence.setSuffix(" s")
        self.silence.setValue(policy.silence_s)
        form.addRow("Silence lasts", self.silence)
        std = QDialogButtonBox.StandardButton
        buttons = QDialogButtonBox(std.Ok | std.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def modes(self) -> dict[str, str]:
        return {p: str(b.currentData()) for p, b in self.boxes.items()}


class BadActorView(QWidget):
    """The alarm-system KPIs and the worst offenders, refreshed off the GUI thread."""

    def __init__(self, fetch: Callable[[], dict[str, Any]], submit: Callable[..., Any],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._fetch = fetch
        self._submit = submit
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Alarm", "Activations (24 h)", "Chattering (max/min)"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(10_000)
        self.timer.timeout.connect(self.refresh)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()
        self.timer.start()

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self.timer.stop()

    def refresh(self) -> None:
        self._submit(self._fetch, self.show_kpis,
                     lambda msg: self.summary.setText(f"KPIs unavailable: {msg}"))

    def show_kpis(self, k: dict[str, Any]) -> None:
        self.summary.setText(
            f"Last 24 h: {k.get('activations', 0)} alarms, {k.get('alarms_per_10min_avg', 0)} per 10 min "
            f"on average, {k.get('alarms_last_10min', 0)} in the last 10 min · floods {k.get('floods', 0)} "
            f"({k.get('time_in_flood_pct', 0)} % of the time) · now {k.get('annunciating', 0)} on the list, "
            f"{k.get('unacknowledged', 0)} unacknowledged, {k.get('shelved', 0)} shelved, "
            f"{k.get('suppressed', 0)} suppressed"
        )
        chatter = {c["id"]: c for c in k.get("chattering", [])}
        rows = list(k.get("top_bad_actors", []))
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            c = chatter.get(r["id"])
            for j, text in enumerate((r["id"], str(r["activations"]), str(c["max_per_min"]) if c else "")):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()


class ShiftLog(QWidget):
    """A note for the shift log, journaled with the logged-in user (operator role or above)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText(
            "Shift-log note: what happened, what you did, what the next shift must know")
        self.add_btn = QPushButton("Add to shift log")
        self.add_btn.setToolTip("Journal this note, signed with your user name")
        self.result = QLabel("")
        self.result.setObjectName("muted")
        row = QHBoxLayout()
        row.addWidget(self.result, 1)
        row.addWidget(self.add_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.text, 1)
        lay.addLayout(row)


class CloseGuard(QObject):
    """Closing the embedded workstation stops all monitoring: it needs confirmation and a
    logged-in engineer (or, before any account exists, a confirmation that says so). Closing a
    workstation attached to nodes stops nothing there: it asks, saying so, and needs no role. Only an
    operator's close (window button, File → Quit) is guarded; a scripted ``close()`` (signals,
    ``--duration``, tests) goes through."""

    def __init__(self, win: Any):
        super().__init__(win)
        self.win = win
        #: replaced in tests: a modal box would wait for a click
        self.ask: Callable[[str], bool] = self._ask
        self.refusals: list[str] = []

    def request_close(self) -> bool:
        win = self.win
        if not win.station.embedded:
            # a workstation attached to nodes: closing it stops nothing, so no role is needed
            if not self.ask("Close this workstation? The plant's nodes keep polling, alarming and "
                            "recording; only this screen closes."):
                return False
        elif win.accounts.first_start():
            question = ("No user account exists yet, so nobody can be asked for an engineer's "
                        "log-in. Closing stops all polling, alarms and recording. Close anyway?")
            if not self.ask(question):
                return False
        else:
            try:
                user = win.station.authorize_close()
            except Exception as e:  # refused (journaled by the core) or no session
                text = (f"Closing stops all monitoring and needs a logged-in engineer: {e}. "
                        "Log in as an engineer (File → Switch user…) to close.")
                self.refusals.append(text)
                win.show_message(text)
                return False
            if not self.ask(f"{user}: stop monitoring the plant and close Vigil?"):
                return False
        win.close()
        return True

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.win and event.type() == QEvent.Type.Close and event.spontaneous():
            assert isinstance(event, QCloseEvent)
            event.ignore()
            QTimer.singleShot(0, self.request_close)
            return True
        return False

    def _ask(self, text: str) -> bool:
        answer = QMessageBox.question(self.win, "Close Vigil", text)
        return answer == QMessageBox.StandardButton.Yes


def conventions_of(plant: Plant) -> dict[str, Convention]:
    """Device -> the alarm-sound convention its profile declares (plant, or medical)."""
    return {
        d.name: Convention(getattr(plant.profiles[d.name].device, "alarm_signals", "plant"))
        for d in plant.devices
        if d.name in plant.profiles
    }


class AlarmHandling(QObject):
    """Everything ``install`` adds, reachable from the window as ``win.alarm_handling``."""

    def __init__(self, win: Any):
        super().__init__(win)
        self.win = win
        settings = win.settings
        modes = settings.get("alarm_sound", {}) or {}
        self.policy = Annunciation(
            {p: m for p, m in modes.items() if p in PRIORITY_ORDER and m in set(SoundMode)},
            conventions_of(win.plant),
            silence_s=float(settings.get("alarm_silence_s", 120.0) or 120.0),
        )
        self.annunciator = Annunciator(
            views=win.alarm_model.all_views,
            policy=self.policy,
            chip=win.banner.chip,
            scheme_colour=lambda p: win.scheme.alarm.get(p, "#888888"),
            audio=AudioOut(),
            parent=self,
            poll=False,
        )
        # every change of the window's alarm list resets its model: look again then, and
        # otherwise only at the annunciator's own deadlines
        win.alarm_model.modelReset.connect(self.annunciator.wake)
        # -- banner: Silence and the audio state, beside the counts ---------------------------
        self.silence_btn = QPushButton("Silence")
        self.silence_btn.setToolTip("Silence the alarm sound for a while (a higher priority sounds again)")
        self.silence_btn.clicked.connect(self.silence)
        self.audio_label = QLabel("")
        self.audio_label.setObjectName("flood")
        lay = win.banner.layout()
        lay.insertWidget(lay.count() - 1, self.audio_label)
        lay.insertWidget(lay.count() - 1, self.silence_btn)
        self.annunciator.changed.connect(self._refresh)
        # -- the alarm panel: bad actors and the shift log, as tabs ---------------------------
        self.bad_actors = BadActorView(win.station.alarm_kpis, win.tasks.submit)
        win.alarm_panel.tabs.addTab(self.bad_actors, "Bad actors / KPIs")
        self.shift_log = ShiftLog()
        self.shift_log.add_btn.clicked.connect(self.add_note)
        win.alarm_panel.tabs.addTab(self.shift_log, "Shift log")
        win.alarm_panel.off_delay_requested.connect(self._off_delay_dialog)
        # connected before the window's own handler: a device answering only with exceptions
        # is "online" to the poller, but the tree and the status bar must show its fault
        win.bridge.diagnostics.connect(self._mark_device_faults)
        # -- menu ------------------------------------------------------------------------------
        menu = win.menuBar().addMenu("&Alarms")
        self.act_silence = QAction("Silence alarm sound", win)
        self.act_silence.setShortcut("Ctrl+Shift+S")
        self.act_silence.triggered.connect(self.silence)
        menu.addAction(self.act_silence)
        menu.addAction("Alarm sound settings…", self.sound_settings)
        menu.addAction("Shift-log note…", self.show_shift_log)
        for control, permission in (
            (self.silence_btn, "alarm.silence"),
            (self.act_silence, "alarm.silence"),
            (self.shift_log.add_btn, "journal.note"),
            (win.alarm_panel.off_delay_btn, "config.edit"),
        ):
            win.gate.add(control, permission)
        # -- closing -----------------------------------------------------------------------------
        self.close_guard = CloseGuard(win)
        win.installEventFilter(self.close_guard)
        for act in win.menuBar().actions():
            sub = act.menu()
            for a in sub.actions() if sub is not None else ():
                if a.text() == "Quit":
                    a.triggered.disconnect()
                    a.triggered.connect(self.close_guard.request_close)
        self._refresh()

    def _mark_device_faults(self, diags: dict[str, Any]) -> None:
        for name, diag in diags.items():
            v = self.win.alarm_model.by_id(f"{name}:DEVICE")
            if v is not None and getattr(v, "condition", False) and getattr(diag, "state", "") == "online":
                diag.state = "device error"

    # -- actions -------------------------------------------------------------------------------
    def silence(self) -> None:
        ann = self.annunciator
        sounding = ann.due.alarms if ann.due is not None else ()
        until = time.time() + self.policy.silence_s
        audio = "available" if ann.audio.available else f"unavailable: {ann.audio.reason}"
        try:
            self.win.station.silence(list(sounding), until, audio=audio)
        except Exception as e:
            self.win.show_message(f"not silenced: {e}")
            return
        ann.silence(self.policy.silence_s)
        self.win.show_message(f"alarm sound silenced until {format_clock(until)}")

    def set_off_delay(self, alarm_id: str, seconds: float) -> bool:
        try:
            self.win.station.set_off_delay(alarm_id, seconds)
        except Exception as e:
            self.win.show_message(f"{alarm_id}: off-delay not set: {e}")
            return False
        self.win.show_message(f"{alarm_id}: off-delay {seconds:g} s")
        return True

    def _off_delay_dialog(self, alarm_id: str) -> None:
        from PySide6.QtWidgets import QInputDialog

        v = self.win.alarm_model.by_id(alarm_id)
        current = float(getattr(v, "off_delay_s", 0.0) or 0.0)
        seconds, ok = QInputDialog.getDouble(
            self.win, "Off-delay", f"{alarm_id}: clear only after the condition has been gone for (s)",
            current if current else 30.0, 0.0, 3600.0, 0,
        )
        if ok:
            self.set_off_delay(alarm_id, seconds)

    def add_note(self) -> None:
        text = self.shift_log.text.toPlainText().strip()
        if not text:
            self.shift_log.result.setText("write the note first")
            return
        try:
            self.win.station.note(text)
        except Exception as e:
            self.shift_log.result.setText(f"not added: {e}")
            return
        user = getattr(self.win.station.session, "user", "?")
        self.shift_log.text.clear()
        self.shift_log.result.setText(f"added to the shift log at {format_clock(time.time())} by {user}")

    def show_shift_log(self) -> None:
        self.win.docks["alarms"].show()
        self.win.alarm_panel.tabs.setCurrentWidget(self.shift_log)
        self.shift_log.text.setFocus()

    def sound_settings(self) -> None:
        dlg = SoundSettingsDialog(self.policy, self.win)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.apply_sound_settings(dlg.modes(), dlg.silence.value())

    def apply_sound_settings(self, modes: dict[str, str], silence_s: float) -> None:
        for p, m in modes.items():
            self.policy.set_mode(p, m)
        self.policy.silence_s = float(silence_s)
        self.annunciator.wake()
        self.win.settings.set("alarm_sound", dict(self.policy.modes))
        self.win.settings.set("alarm_silence_s", self.policy.silence_s)

    def _refresh(self) -> None:
        ann = self.annunciator
        if not ann.audio.available:
            self.audio_label.setText("audio unavailable")
            self.audio_label.setToolTip(f"The alarm sound cannot play: {ann.audio.reason}. "
                                        "Alarms still flash and show here.")
            self.audio_label.setVisible(True)
        elif self.policy.is_silenced(time.time()):
            until = self.policy.silenced_until
            self.audio_label.setText(f"silenced until {format_clock(until)}")
            self.audio_label.setToolTip("A new alarm of a higher priority sounds at once")
            self.audio_label.setVisible(True)
        else:
            self.audio_label.setVisible(False)
        self.win.banner.update_from(self.win.alarm_model, getattr(self.win, "_flood", None))
        if ann.visual is not None and ann._flash_base:  # the banner must not undo the flash colour
            ann.chip.setStyleSheet(ann._flash_base)

    def stop(self) -> None:
        self.annunciator.stop()
        self.bad_actors.timer.stop()


def install(win: Any) -> AlarmHandling:
    """Add alarm handling to the main window; returns the object holding it."""
    handling = AlarmHandling(win)
    win.alarm_handling = handling
    return handling


__all__ = ["AlarmHandling", "CloseGuard", "install"]

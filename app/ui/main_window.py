"""The operator workstation's main window: docks around a trend, an alarm banner on top and
communication health always visible in the status bar.

Everything slow (history, journal reads and verification, setpoint writes, model fitting) goes
through the TaskRunner; everything live arrives through the CoreBridge. The window talks to a
`Station` alone (in this process or, later, a remote node): operator actions go through its
role-checked actions, so the station, not the screen, decides and journals.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.core.displays import OVERVIEW, DisplayCatalogue
from app.core.model import Sample
from app.core.plant import Plant
from app.station.interface import (
    AlarmQuery,
    AlarmView,
    DeviceDiagnostics,
    JournalFilter,
    Series,
    Session,
    Station,
)
from app.ui import alarm_fields as af
from app.ui.alarm_handling import conventions_of
from app.ui.alarm_handling import install as install_alarm_handling
from app.ui.alarm_panel import AlarmBanner, AlarmModel, AlarmPanel, ReasonDialog, ShelveDialog
from app.ui.bridge import CoreBridge
from app.ui.detector_panel import DetectorPanel
from app.ui.device_tree import DeviceTree, device_state
from app.ui.displays.view import DisplayView
from app.ui.idle import parse_idle_lock_s
from app.ui.journal_view import JournalView
from app.ui.palette import SCHEMES, Scheme, apply_scheme
from app.ui.problems import PluginsDialog, ProblemsDialog, ProblemsIndicator
from app.ui.role_gate import refusal_tip
from app.ui.session_ui import SessionController, describe
from app.ui.setpoint_dialog import SetpointDialog
from app.ui.settings import UiSettings
from app.ui.tag_table import TagTable, TagTableModel, rows_from_plant
from app.ui.tasks import TaskRunner
from app.ui.trend import TrendWidget
from app.ui.users_dialog import UsersDialog

LAYOUT_VERSION = 2  # 2: the alarm list has its own dock, beside (not behind) the journal


def default_pens(plant: Plant, n: int = 4) -> list[str]:
    """A first trend worth looking at: points with alarm limits (the ones that matter), one per
    device first so every device is represented, numeric only."""
    picks: list[str] = []
    for dev in plant.enabled_devices():
        for p in plant.profiles[dev.name].points:
            if p.has_limits and str(p.type) not in ("bool", "string"):
                picks.append(f"{dev.name}.{p.name}")
                break
    return picks[:n]


class MainWindow(QMainWindow):
    def __init__(self, station: Station, *, dark: bool = False, settings_path: Path | None = None):
        super().__init__()
        self.station = station
        self._plant_version = station.plant_version  # read before the plant it numbers
        self.plant = station.plant
        self.settings = UiSettings(settings_path or station.data_dir / "settings.json")
        scheme_name = "dark" if dark else self.settings.get("scheme", "light")
        self.scheme: Scheme = SCHEMES.get(scheme_name, SCHEMES["light"])
        self.setWindowTitle(f"Vigil — {self.plant.info.name}")
        self.setObjectName("VigilMainWindow")
        self.setDockNestingEnabled(True)
        self.resize(1440, 900)
        self.tasks = TaskRunner(self)
        self.bridge = CoreBridge(station, self)
        self.messages: list[str] = []  # every message shown to the operator (tests read it)
        idle_lock_s, idle_problem = parse_idle_lock_s(self.settings.get("idle_lock_s"))
        self.settings.set("idle_lock_s", idle_lock_s)  # the file documents the setting
        station.record_console_setting("idle_lock_s", idle_lock_s)  # journaled when it changed
        self.accounts = SessionController(station, self.tasks, self, idle_lock_s=idle_lock_s, parent=self)
        self.gate = self.accounts.gate
        self.users_dialog: UsersDialog | None = None
        self._points = {
            f"{d.name}.{p.name}": p for d in self.plant.devices for p in self.plant.profiles[d.name].points
        }
        self._open_setpoints: list[SetpointDialog] = []

        # -- widgets ----------------------------------------------------------------------
        self.tag_model = TagTableModel(rows_from_plant(self.plant), self.scheme, self)
        self.tag_model.set_stale_rule(station.stale_rule())
        self.tags = TagTable(self.tag_model, history=self._query_history, run_async=self.tasks.submit)
        self.alarm_model = AlarmModel(self.scheme, self)
        self.alarm_panel = AlarmPanel(self.alarm_model)
        self.banner = AlarmBanner(self.scheme)
        self.trend = TrendWidget(
            history=self._query_history,
            run_async=self.tasks.submit,
            units=lambda tag: self._points[tag].unit if tag in self._points else "",
            points=self._points.get,
            scheme=self.scheme,
        )
        self.devices = DeviceTree(self.plant, self.scheme)
        self.journal = JournalView(
            reader=self._read_journal,
            verifier=self._verify_journal,
            exporter=self._export_head,
            run_async=self.tasks.submit,
        )
        self.detectors = DetectorPanel(
            status=self._detector_status,
            devices=[d.name for d in self.plant.enabled_devices()],
            scheme=self.scheme,
        )

        # process displays (ISA-101 levels 1-3) are the central view; the trend beside them
        # and the tag table and diagnostics in their docks are Level 4
        self.display_catalogue = DisplayCatalogue(self.plant, station.display_folders())
        self.displays = DisplayView(
            station, self.display_catalogue, self.scheme, run_async=self.tasks.submit,
            open_setpoint=self.open_setpoint,
        )
        self.displays.status.connect(self.show_message)
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        self.central_tabs = QTabWidget()
        self.central_tabs.addTab(self.displays, "Process displays")
        self.central_tabs.addTab(self.trend, "Trend")
        cl.addWidget(self.central_tabs, 1)
        self.setCentralWidget(central)
        # the banner spans the whole window, above every dock: the first thing the eye meets
        bar = QToolBar("Alarm banner")
        bar.setObjectName("alarm_banner")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.toggleViewAction().setEnabled(False)
        bar.addWidget(self.banner)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

        self.docks: dict[str, QDockWidget] = {}
        self._dock("plant", "Plant", self.devices, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("tags", "Tags", self.tags, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("alarms", "Alarms", self.alarm_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("journal", "Journal", self.journal, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("detectors", "Detectors", self.detectors, Qt.DockWidgetArea.LeftDockWidgetArea)
        # the alarm list never hides behind the journal: side by side, the list wider
        self.splitDockWidget(self.docks["alarms"], self.docks["journal"], Qt.Orientation.Horizontal)
        self.splitDockWidget(self.docks["plant"], self.docks["detectors"], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["plant"], self.docks["tags"]], [250, 640], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["alarms"]], [230], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["plant"], self.docks["detectors"]], [520, 200], Qt.Orientation.Vertical)
        self._sized = False
        self._default_state = self.saveState(LAYOUT_VERSION)

        # -- status bar: communication health, always visible -------------------------------
        self.comm_label = QLabel("devices: waiting")
        # who is at the console; its menu logs in, hands over or logs out
        self.user_button = QToolButton()
        self.user_button.setObjectName("user")
        self.user_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.user_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        user_menu = QMenu(self.user_button)
        user_menu.addAction(self.accounts.act_login)
        user_menu.addAction(self.accounts.act_switch)
        user_menu.addAction(self.accounts.act_logout)
        self.user_button.setMenu(user_menu)
        self.user_label = self.user_button  # older name, kept for callers
        self.problems = ProblemsIndicator()
        self.problems.open_requested.connect(self.open_problems)
        self.drop_label = QLabel("")
        self.drop_label.setVisible(False)
        self.clock_label = QLabel("")
        self.clock_label.setObjectName("muted")
        # a fixed size: a new text then repaints the label alone, not the status bar's layout
        metrics = self.clock_label.fontMetrics()
        clock_width = metrics.horizontalAdvance("0000-00-00 00:00:00") + 16
        self.clock_label.setFixedSize(clock_width, metrics.height() + 4)
        self.message_label = QLabel("")
        self.message_label.setObjectName("muted")
        sb = self.statusBar()
        sb.addWidget(self.comm_label)
        sb.addWidget(self.message_label, 1)
        sb.addPermanentWidget(self.problems)
        sb.addPermanentWidget(self.drop_label)
        sb.addPermanentWidget(self.user_button)
        sb.addPermanentWidget(self.clock_label)

        self._build_menus()
        for control, permission in (
            (self.alarm_panel.ack_btn, "alarm.acknowledge"),
            (self.alarm_panel.ack_page_btn, "alarm.acknowledge"),
            (self.alarm_panel.shelve_btn, "alarm.shelve"),
            (self.alarm_panel.unshelve_btn, "alarm.shelve"),
            (self.alarm_panel.oos_btn, "alarm.out_of_service"),
            (self.alarm_panel.in_service_btn, "alarm.out_of_service"),
            (self.detectors.learn_btn, "detector.train"),
            (self.act_users, "user.manage"),
        ):
            self.gate.add(control, permission)
        # sound, Silence, shift log, bad actors, close guard
        self.alarm_handling = install_alarm_handling(self)
        self.accounts.changed.connect(self._session_changed)
        self.accounts.message.connect(self.show_message)
        self._session_changed(self.accounts.session)
        self._refresh_problems()

        # -- wiring -------------------------------------------------------------------------
        self.bridge.samples.connect(self._on_samples)
        self.bridge.samples.connect(self.displays.on_samples)
        self.bridge.alarms_changed.connect(self.displays.on_alarms)
        self.bridge.diagnostics.connect(self.displays.on_diagnostics)
        self.bridge.drained.connect(self.displays.flush)
        self.bridge.alarms_changed.connect(self._on_alarms)
        self.bridge.diagnostics.connect(self._on_diagnostics)
        self.bridge.dropped.connect(self._on_dropped)
        self.bridge.flood.connect(self._on_flood)
        self.tags.setpoint_requested.connect(self.open_setpoint)
        self.tags.trend_requested.connect(self.trend.add_pen)
        self.alarm_panel.acknowledge_requested.connect(self.acknowledge)
        self.alarm_panel.shelve_requested.connect(self._shelve_dialog)
        self.alarm_panel.unshelve_requested.connect(self.unshelve)
        self.alarm_panel.out_of_service_requested.connect(self._out_of_service_dialog)
        self.alarm_panel.history.search_requested.connect(self._search_alarm_history)
        self.banner.clicked.connect(self._show_alarms)
        self.detectors.learn_requested.connect(self.learn_normal)
        self.trend.status.connect(self.show_message)
        self._flood = False

        self.alarm_model.set_all(self.bridge.current_alarms())
        self.tag_model.apply_alarms(self.bridge.current_alarms())
        self.banner.update_from(self.alarm_model, False)
        self.tag_model.apply_samples(sorted(station.latest().values(), key=lambda s: s.t))
        self._restored = self._restore()
        if not self.trend.pens:
            for tag in default_pens(self.plant):
                self.trend.add_pen(tag)
        self._slow = QTimer(self)
        self._slow.setInterval(1000)
        self._slow.timeout.connect(self._each_second)
        self._slow.start()
        if self.settings.problem:
            self.show_message(self.settings.problem)
        if idle_problem:
            self.show_message(idle_problem)
        if self.accounts.first_start():
            self.show_message(
                "No user account exists yet: File → Create administrator… (view only until then)"
            )
        self.apply_scheme(self.scheme)
        self.displays.open(OVERVIEW)  # the first thing a new user sees: the whole plant
        self.bridge.start()

    # ------------------------------------------------------------------ construction helpers
    def _dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        return dock

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m_file = mb.addMenu("&File")
        self.act_login = self.accounts.act_login
        self.act_switch = self.accounts.act_switch
        self.act_logout = self.accounts.act_logout
        for act in (self.act_login, self.act_switch, self.act_logout):
            m_file.addAction(act)
        m_file.addSeparator()
        m_file.addAction("Save trend setup…", self._save_trend_dialog)
        m_file.addAction("Load trend setup…", self._load_trend_dialog)
        m_file.addAction("Export signed journal head…", self.journal._export_clicked)
        m_file.addSeparator()
        quit_act = m_file.addAction("Quit", self.close)
        quit_act.setShortcut(QKeySequence.StandardKey.Quit)

        m_view = mb.addMenu("&View")
        group = QActionGroup(self)
        self.scheme_actions: dict[str, QAction] = {}
        for name, label in (("light", "Light palette"), ("dark", "Dark palette (night)")):
            act = QAction(label, self, checkable=True)
            act.setChecked(self.scheme.name == name)
            act.triggered.connect(lambda _=False, n=name: self.apply_scheme(SCHEMES[n]))
            group.addAction(act)
            m_view.addAction(act)
            self.scheme_actions[name] = act
        m_view.addSeparator()
        for dock in self.docks.values():
            m_view.addAction(dock.toggleViewAction())
        m_view.addSeparator()
        m_view.addAction("Reset layout", self.reset_layout)

        m_trend = mb.addMenu("&Trend")
        m_trend.addAction("Pause / resume", lambda: self.trend.set_paused(not self.trend.paused), "Space")
        m_trend.addAction("Back to live", lambda: self.trend.set_paused(False))
        self.act_select = QAction("Select range (for learn normal)", self, checkable=True)
        self.act_select.toggled.connect(self.trend.show_selection)
        m_trend.addAction(self.act_select)
        m_trend.addAction("Remove all pens", self.trend.clear_pens)

        m_admin = mb.addMenu("&Administration")
        self.act_users = m_admin.addAction("Users…", self.open_users)
        self.act_users.setToolTip("Add accounts, disable or enable them, reset passwords")
        m_admin.setToolTipsVisible(True)

        m_help = mb.addMenu("&Help")
        m_help.addAction("Plugins…", self.open_plugins)
        m_help.addAction("Configuration problems…", self.open_problems)
        m_help.addSeparator()
        m_help.addAction("About Vigil", self.about)

    def show_display(self, name: str) -> None:
        """Show a process display by name (``vigil run --display NAME``; 'tank' finds the
        display of device 'tank'); an unknown name shows what is known instead."""
        goto = self.display_catalogue.device_displays().get(name, name)
        self.central_tabs.setCurrentWidget(self.displays)
        self.displays.open(goto)

    def _show_alarms(self) -> None:
        self.docks["alarms"].show()
        self.docks["alarms"].raise_()

    # ------------------------------------------------------------------ live data
    def _on_samples(self, batch: list[Sample]) -> None:
        self.tag_model.apply_samples(batch)
        self.trend.add_samples(batch)
        if self._open_setpoints:
            latest: dict[str, Sample] = {s.tag: s for s in batch}
            for dlg in self._open_setpoints:
                if dlg.tag in latest:
                    dlg.update_current(latest[dlg.tag])
                if dlg.feedback_tag in latest:
                    dlg.update_feedback(latest[dlg.feedback_tag])

    def _on_alarms(self, views: list[AlarmView]) -> None:
        self.alarm_model.apply(views)
        self.tag_model.apply_alarms(views)
        self.banner.update_from(self.alarm_model, self._flood)
        self._refresh_detectors()

    def _on_flood(self, on: bool) -> None:
        if on != self._flood:
            self._flood = on
            self.banner.update_from(self.alarm_model, on)

    def _on_diagnostics(self, diags: dict[str, DeviceDiagnostics]) -> None:
        self.devices.update_diagnostics(diags)
        self.alarm_model.set_device_errors(
            {n: str(d.last_error) for n, d in diags.items() if d.last_error}
        )
        enabled = [d.name for d in self.plant.enabled_devices()]
        bad = [n for n in enabled if n in diags and device_state(diags[n]) != "online"]
        self.tag_model.set_devices_down(bad)
        waiting = [n for n in enabled if n not in diags]
        online = len(enabled) - len(bad) - len(waiting)
        text = f"Devices {online}/{len(enabled)} online"
        if bad:
            text += " · " + ", ".join(f"{n} {device_state(diags[n]).upper()}" for n in bad)
        if waiting:
            text += f" · {len(waiting)} waiting"
        if text != self.comm_label.text():
            self.comm_label.setText(text)
        name = "commBad" if bad else ""
        if name != self.comm_label.objectName():
            # re-polishing restyles (and may relayout) the window: only when the state flips
            self.comm_label.setObjectName(name)
            self.comm_label.style().unpolish(self.comm_label)
            self.comm_label.style().polish(self.comm_label)

    def _on_dropped(self, total: int) -> None:
        self.drop_label.setVisible(total > 0)
        self.drop_label.setText(f"screen skipped {total} samples (values still current)")

    def _each_second(self) -> None:
        self.clock_label.setText(time.strftime("%Y-%m-%d %H:%M:%S"))
        if self.station.plant_version != self._plant_version:
            try:
                self.follow_plant()
            except Exception as e:  # the window goes on showing the plant it had
                self.show_message(f"could not show the plant as it changed: {e}")
        self._refresh_detectors()
        self.accounts.sync()
        self._refresh_problems()

    def follow_plant(self) -> None:
        """The station's plant was replaced (a node joined the group or changed its plant):
        rebuild what was made from it, keeping the operator's state where it still applies.

        The plant tree, the tag table's rows and the overview show the plant as it is now;
        the selected device and tag, the trend's pens, the scroll positions and a hand-made
        display stay. A node that goes away keeps its devices in the plant (shown STALE), so
        only a node that changed its plant makes anything disappear, and then a trend pen of a
        tag that no longer exists is removed, said in the status bar. Values and alarms that
        arrived for the new tags before this are taken from the station at once."""
        self._plant_version = self.station.plant_version
        plant = self.station.plant
        old_tags = set(self._points)
        self.plant = plant
        # in place: the trend and the trend setup loader hold this dict
        self._points.clear()
        self._points.update(
            {f"{d.name}.{p.name}": p for d in plant.devices for p in plant.profiles[d.name].points}
        )
        self.setWindowTitle(f"Vigil — {plant.info.name}")
        self.devices.set_plant(plant)
        added = self.tag_model.set_rows(rows_from_plant(plant))
        latest = self.station.latest()
        self.tag_model.apply_samples(sorted((latest[t] for t in added if t in latest), key=lambda s: s.t))
        self.detectors.devices = [d.name for d in plant.enabled_devices()]
        self.alarm_handling.policy.conventions.update(conventions_of(plant))
        self.display_catalogue = DisplayCatalogue(plant, self.station.display_folders())
        self.displays.set_catalogue(self.display_catalogue)
        gone = [pen for pen in list(self.trend.pens) if pen not in self._points]
        for tag in gone:
            self.trend.remove_pen(tag)
        new_devices = len({t.split(".", 1)[0] for t in set(self._points) - old_tags})
        text = f"plant updated: {len(plant.devices)} devices"
        if new_devices:
            text += f", {new_devices} new"
        if gone:
            text += f"; removed from the trend (no longer in the plant): {', '.join(gone)}"
        self.show_message(text)

    def _refresh_problems(self) -> None:
        try:
            problems = self.station.problems()
        except Exception as e:  # a broken plugin host must not take the status bar with it
            self.show_message(f"could not list configuration problems: {e}")
            return
        self.problems.show_problems(problems)

    def _refresh_detectors(self) -> None:
        if self.docks["detectors"].isVisible():
            self.detectors.refresh()

    # ------------------------------------------------------------------ data sources (workers)
    def _query_history(self, tags: list[str], t0: float, t1: float, max_points: int) -> dict[str, Series]:
        return self.station.history(tags, t0, t1, max_points)

    def _read_journal(self, f: dict[str, Any]) -> list[dict[str, Any]]:
        return self.station.journal_events(
            JournalFilter(
                kind=f.get("kind"), actor=f.get("actor"), text=f.get("text"), limit=int(f.get("limit", 500))
            )
        )

    def _verify_journal(self) -> tuple[bool, str]:
        r = self.station.verify_journal()
        ok = r.status == "intact"
        detail = f"{r.status}: {r.message}"
        if ok:
            detail = (
                f"intact — {r.events} events, {r.sealed} sealed by signed checkpoints, "
                f"{r.unsealed} awaiting the next checkpoint"
            )
        return ok, detail

    def _export_head(self, path: str) -> str:
        head = self.station.export_journal_head()
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(head, sort_keys=True) + "\n")
        what = f"checkpoint {head.get('number', '?')}, {head.get('size', '?')} events"
        return f"signed head ({what}) appended to {path}"

    def _detector_status(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for g in self.station.detector_status():
            alarm = self.alarm_model.by_id(f"detector:{g.group}") or next(
                (
                    v
                    for v in self.alarm_model._all.values()
                    if af.kind(v) == "ANOMALY" and af.alarm_source(v) == g.group
                ),
                None,
            )
            out.append(
                {
                    "name": g.group,
                    "score": g.last_score,
                    "severity": g.severity,
                    "threshold": g.threshold,
                    "state": ("ANOMALY" if g.alarm else "normal")
                    + f" · {g.detector} · {g.rows_scored} rows scored"
                    + (f" · {g.errors} errors: {g.last_error}" if g.errors else ""),
                    # the engine's own record first (it survives the alarm clearing), else the alarm's
                    "explanation": g.explanation or (alarm.explanation if alarm is not None else None),
                    "last_anomaly_at": g.last_anomaly_at
                    or (alarm.activated_at if alarm is not None else None),
                }
            )
        return out

    # ------------------------------------------------------------------ operator actions
    def show_message(self, text: str) -> None:
        self.messages.append(text)
        self.message_label.setText(text)

    def _session(self) -> Session | None:
        return self.station.session

    def _update_user(self) -> None:
        """Bring the screen in step with ``station.session`` (also after a change made elsewhere)."""
        self.accounts.sync()
        self._session_changed(self._session())

    def _session_changed(self, session: Session | None) -> None:
        text = describe(session)
        if session is None and self.accounts.first_start():
            text = "no accounts yet — view only"
        self.user_button.setText(text)
        self.user_button.setToolTip("Log in, switch user (shift handover) or log out")
        ok = self.gate.allows("setpoint.write")
        why = "" if ok else refusal_tip(session, "setpoint.write")
        self.tags.set_write_permission(ok, why)
        for dlg in self._open_setpoints:
            dlg.set_permission(ok, why)

    def acknowledge(self, alarm_ids: list[str]) -> None:
        try:
            self.station.acknowledge(list(alarm_ids))
        except Exception as e:
            self.show_message(f"acknowledge refused: {e}")
            return
        session = self._session()
        self.show_message(f"acknowledged {len(alarm_ids)} alarm(s) as {session.user if session else '?'}")

    def _shelve_dialog(self, alarm_id: str) -> None:
        v = self.alarm_model.by_id(alarm_id)
        text = f"{alarm_id}: {af.message(v)}" if v is not None else alarm_id
        dlg = ShelveDialog(text, self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.shelve(alarm_id, dlg.reason.text().strip(), dlg.until_ts())

    def shelve(self, alarm_id: str, reason: str, until_ts: float) -> None:
        try:
            self.station.shelve(alarm_id, reason, until_ts)
        except Exception as e:
            self.show_message(f"shelve refused: {e}")
            return
        self.show_message(
            f"shelved {alarm_id} until {time.strftime('%H:%M', time.localtime(until_ts))}: {reason}"
        )

    def unshelve(self, alarm_id: str) -> None:
        try:
            self.station.unshelve(alarm_id)
        except Exception as e:
            self.show_message(f"unshelve refused: {e}")

    def _out_of_service_dialog(self, alarm_id: str, on: bool) -> None:
        v = self.alarm_model.by_id(alarm_id)
        text = f"{alarm_id}: {af.message(v)}" if v is not None else alarm_id
        if on:
            title, ok = "Take alarm out of service", "Out of service"
        else:
            title, ok = "Return alarm to service", "Return"
        dlg = ReasonDialog(title, text, ok, self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.set_out_of_service(alarm_id, on, dlg.reason.text().strip())

    def set_out_of_service(self, alarm_id: str, on: bool, reason: str) -> None:
        what = "out of service" if on else "return to service"
        try:
            self.station.set_out_of_service(alarm_id, on, reason)
        except Exception as e:
            self.show_message(f"{what} refused: {e}")
            return
        self.show_message(f"{alarm_id}: {what} ({reason})")

    # ------------------------------------------------------------------ dialogs
    def open_users(self) -> UsersDialog | None:
        """Administrators only: the button is greyed out for others, and the station refuses
        every change from a session without the role anyway."""
        if not self.gate.allows("user.manage"):
            self.show_message(f"Users: {refusal_tip(self._session(), 'user.manage')}")
            return None
        if self.users_dialog is None:
            self.users_dialog = UsersDialog(self.station, self.tasks.submit, self)
            self.users_dialog.finished.connect(lambda _=0: setattr(self, "users_dialog", None))
            self.users_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.users_dialog.show()
        else:
            self.users_dialog.reload()
            self.users_dialog.raise_()  # already open: bring it to the front
        return self.users_dialog

    def open_plugins(self) -> PluginsDialog:
        dlg = PluginsDialog(self.station.plugins(), self, station=self.station,
                            may_approve=self.gate.allows("plugin.approve"),
                            refusal=refusal_tip(self.gate.session, "plugin.approve"))
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def open_problems(self) -> ProblemsDialog:
        dlg = ProblemsDialog(self.station.problems(), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def _search_alarm_history(self, q: dict[str, Any]) -> None:
        query = AlarmQuery(**q)
        self.tasks.submit(
            lambda: self.station.alarm_history(query),
            self.alarm_panel.history.show_rows,
            self.alarm_panel.history.show_error,
        )

    def open_setpoint(self, tag: str) -> SetpointDialog | None:
        point = self._points.get(tag)
        if point is None or not point.writable:
            self.show_message(f"{tag} is not writable")
            return None
        device, name = tag.split(".", 1)
        row = self.tag_model.row_of(tag)
        current = (
            Sample(tag, row.value, row.quality, row.t)
            if row is not None and row.quality is not None and row.t is not None
            else None
        )
        fb_tag = f"{device}.{point.feedback}" if getattr(point, "feedback", None) else None
        fb_row = self.tag_model.row_of(fb_tag) if fb_tag else None
        fb_sample = (Sample(fb_tag, fb_row.value, fb_row.quality, fb_row.t)
                     if fb_tag and fb_row is not None and fb_row.quality is not None
                     and fb_row.t is not None else None)
        dlg = SetpointDialog(
            tag,
            point,
            current,
            write=lambda value: self.station.write_setpoint(device, name, value),
            run_async=self.tasks.submit,
            parent=self,
            feedback=(fb_tag, self._points[fb_tag], fb_sample) if fb_tag in self._points else None,
        )
        self._open_setpoints.append(dlg)
        ok = self.gate.allows("setpoint.write")
        dlg.set_permission(ok, "" if ok else refusal_tip(self._session(), "setpoint.write"))
        dlg.finished.connect(
            lambda _=0, d=dlg: self._open_setpoints.remove(d) if d in self._open_setpoints else None
        )
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def learn_normal(self, group: str) -> None:
        """Open the learn-normal dialog (window choice, coverage checks, backtest, enable)."""
        if not group:
            self.show_message("learn normal: choose a device")
            return
        station = self.station
        self.detectors.open_learn_dialog(
            group,
            preview=lambda t0, t1: station.preview_normal(group, t0, t1),
            enable=lambda t0, t1: station.train_detector(group, t0, t1),
            run_async=self.tasks.submit,
            selected=self.trend.selected_range(),
            can_enable=self.gate.allows("detector.train"),
            refusal=refusal_tip(self._session(), "detector.train"),
        )

    def _save_trend_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save trend setup", "trend.json", "Trend setup (*.json)")
        if path:
            self.trend.save_setup(path)
            self.show_message(f"trend setup saved to {path}")

    def _load_trend_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load trend setup", "", "Trend setup (*.json)")
        if not path:
            return
        try:
            missing = self.trend.load_setup(path, known_tags=self._points)
        except ValueError as e:
            self.show_message(str(e))
            return
        if missing:
            self.show_message(f"trend setup loaded; not in this plant: {', '.join(missing)}")

    def about(self) -> None:
        QMessageBox.about(
            self,
            "About Vigil",
            f"<b>Vigil {__version__}</b><br>SCADA operator workstation<br>"
            f"Plant: {self.plant.info.name} "
            f"({len(self.plant.devices)} devices, {len(self.plant.tags())} tags)<br>"
            f"Data: {self.station.data_dir}",
        )

    # ------------------------------------------------------------------ looks and layout
    def apply_scheme(self, scheme: Scheme) -> None:
        self.scheme = scheme
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_scheme(app, scheme)
        self.tag_model.set_scheme(scheme)
        self.alarm_model.set_scheme(scheme)
        self.banner.scheme = scheme
        self.banner.update_from(self.alarm_model, self._flood)
        self.trend.apply_scheme(scheme)
        if hasattr(self, "displays"):
            self.displays.set_scheme(scheme)
        self.devices.set_scheme(scheme)
        self.detectors.set_scheme(scheme)
        if scheme.name in getattr(self, "scheme_actions", {}):
            self.scheme_actions[scheme.name].setChecked(True)
        self.settings.set("scheme", scheme.name)

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()
        self.default_sizes()

    def default_sizes(self) -> None:
        """Proportions of the default layout; dock sizes only take once the window has its size."""
        w, h = max(self.width(), 800), max(self.height(), 600)
        self.resizeDocks(
            [self.docks["plant"], self.docks["tags"]],
            # the tag table needs ~500 px at 1440 wide for Tag..Alarm (Age and Quality included)
            [int(w * 0.15), int(w * 0.36)],
            Qt.Orientation.Horizontal,
        )
        self.resizeDocks([self.docks["alarms"]], [int(h * 0.30)], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["alarms"], self.docks["journal"]], [int(w * 0.65), int(w * 0.35)],
                         Qt.Orientation.Horizontal)
        self.resizeDocks(
            [self.docks["plant"], self.docks["detectors"]],
            [int(h * 0.45), int(h * 0.2)],
            Qt.Orientation.Vertical,
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            if not self._restored:
                self.default_sizes()
            self._default_state = self.saveState(LAYOUT_VERSION)

    def _restore(self) -> bool:
        """Bring back the last layout; False when there was none (or it did not fit)."""
        geo = self.settings.get_bytes("geometry")
        state = self.settings.get_bytes("window_state")
        restored = False
        if geo:
            self.restoreGeometry(QByteArray(geo))
        if state:
            restored = self.restoreState(QByteArray(state), LAYOUT_VERSION)
            if not restored:
                self.show_message("saved window layout did not fit this version; using the default layout")
        setup = self.settings.get("trend")
        if isinstance(setup, dict):
            for pen in setup.get("pens", []):
                tag = pen.get("tag") if isinstance(pen, dict) else None
                if tag in self._points:
                    self.trend.add_pen(tag)
            span = setup.get("span_s")
            if isinstance(span, (int, float)) and span > 0:
                self.trend.set_span(float(span))
        return restored

    def save_settings(self) -> None:
        self.settings.set_bytes("geometry", bytes(self.saveGeometry().data()))
        self.settings.set_bytes("window_state", bytes(self.saveState(LAYOUT_VERSION).data()))
        self.settings.set("trend", self.trend.setup())
        self.settings.set("scheme", self.scheme.name)
        try:
            self.settings.save()
        except OSError as e:
            self.show_message(f"could not save UI settings: {e}")

    def shutdown(self) -> None:
        """Stop timers and wait for workers, so nothing touches the station after it stops."""
        self.bridge.stop()
        self.displays.stop()
        self.alarm_handling.stop()
        self.accounts.stop()
        self._slow.stop()
        self.trend._timer.stop()
        self.tasks.wait(10_000)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

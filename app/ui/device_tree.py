"""The plant tree: each device with its communication state, and its points beneath it.

Communication health is the first thing an operator must trust before any value on screen, so
each device row carries its state in words (never colour alone) and a device that is not online
gets the bad-quality colour. The details pane lists the runtime's diagnostics for the selected
device (poll counts, errors, latency, last error) exactly as the runtime reports them.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.plant import Plant
from app.station.interface import DeviceDiagnostics
from app.ui.formatting import format_time, format_value
from app.ui.palette import LIGHT, Scheme


def diag_fields(diag: DeviceDiagnostics | None) -> dict[str, object]:
    """A device's diagnostics as name -> value (for display only)."""
    return {} if diag is None else dataclasses.asdict(diag)


def device_state(diag: DeviceDiagnostics | None) -> str:
    if diag is None:
        return "waiting"
    return diag.state or "unknown"


def _fmt_field(name: str, value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and (
        name.endswith(("_at", "_t", "_ts")) or name in ("since", "last_ok", "last_poll")
    ):
        return format_time(value)
    if isinstance(value, float):
        return format_value(value, 3)
    return str(value)


class DeviceTree(QWidget):
    device_selected = Signal(str)

    def __init__(self, plant: Plant, scheme: Scheme = LIGHT, parent: QWidget | None = None):
        super().__init__(parent)
        self.scheme = scheme
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Device / point", "State"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        self.items: dict[str, QTreeWidgetItem] = {}
        self._diags: dict[str, DeviceDiagnostics] = {}
        self._build(plant).setExpanded(True)
        self.details = QLabel("Select a device to see its communication diagnostics.")
        self.details.setObjectName("muted")
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(self.details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self.tree.currentItemChanged.connect(self._selected)

    def _build(self, plant: Plant) -> QTreeWidgetItem:
        """One item per device (its points beneath it) under one root named after the plant,
        which it returns."""
        self.items = {}
        root = QTreeWidgetItem([plant.info.name, ""])
        self.tree.addTopLevelItem(root)
        for dev in plant.devices:
            prof = plant.profiles.get(dev.name)
            model = f"  ({prof.device.vendor} {prof.device.model})".rstrip() if prof else ""
            item = QTreeWidgetItem([dev.name, "disabled" if not dev.enabled else "waiting"])
            item.setToolTip(
                0,
                f"{dev.description or dev.name}{model}\n"
                f"{dev.transport} {dev.host}:{dev.port} unit {dev.unit}, every {dev.interval_ms} ms",
            )
            item.setData(0, Qt.ItemDataRole.UserRole, dev.name)
            if prof is not None:
                for p in prof.points:
                    child = QTreeWidgetItem([p.name, p.unit])
                    child.setToolTip(0, p.description or p.name)
                    child.setData(0, Qt.ItemDataRole.UserRole, dev.name)
                    item.addChild(child)
            root.addChild(item)
            self.items[dev.name] = item
        return root

    def set_plant(self, plant: Plant) -> None:
        """The plant changed (a node joined the group, or changed its plant): show it as it is
        now. What the operator made of the tree stays where it still applies: the device or
        point selected, the devices expanded, the scroll position; each device's state is shown
        at once from the last diagnostics, not as "waiting" until the next ones. Drawn once,
        after the rebuild, so nothing flickers."""
        tree = self.tree
        root = tree.topLevelItem(0)
        root_open = root is None or root.isExpanded()
        expanded = {name for name, item in self.items.items() if item.isExpanded()}
        current = tree.currentItem()
        selected: tuple[str, str | None] | None = None
        if current is not None and current.data(0, Qt.ItemDataRole.UserRole):
            device = str(current.data(0, Qt.ItemDataRole.UserRole))
            selected = (device, None if current.parent() is root else current.text(0))
        scroll = tree.verticalScrollBar().value()
        tree.setUpdatesEnabled(False)
        tree.blockSignals(True)  # the same selection again is no new choice of the operator
        header = tree.header()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)  # sized once, below
        try:
            tree.clear()
            self._build(plant).setExpanded(root_open)
            for name in expanded & self.items.keys():
                self.items[name].setExpanded(True)
            if selected is not None and selected[0] in self.items:
                device_item = self.items[selected[0]]
                points = [device_item.child(i) for i in range(device_item.childCount())]
                point = next((c for c in points if c is not None and c.text(0) == selected[1]), None)
                tree.setCurrentItem(point or device_item)
            self.update_diagnostics(self._diags, restyle=True)
            tree.verticalScrollBar().setValue(scroll)
        finally:
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
            tree.blockSignals(False)
            tree.setUpdatesEnabled(True)

    def selected_device(self) -> str | None:
        """The device of the item selected (itself or one of its points), if any."""
        cur = self.tree.currentItem()
        name = cur.data(0, Qt.ItemDataRole.UserRole) if cur is not None else None
        return str(name) if name else None

    def update_diagnostics(self, diags: dict[str, DeviceDiagnostics], *, restyle: bool = False) -> None:
        """Twice a second: touch an item only when its state changed (every change repaints).

        The state column sizes itself to its contents, which Qt works out again over every row
        of the tree (devices and points) at each item change: hundreds of devices changing at
        once (a node going away, or joining) took seconds. So the changes are made with the
        column at its width, and it is sized to its contents once after them."""
        self._diags = dict(diags)
        s = self.scheme
        changes: list[tuple[QTreeWidgetItem, str, str, bool]] = []
        for name, item in self.items.items():
            diag = diags.get(name)
            state = device_state(diag) if diag is not None else item.text(1)
            bad = diag is not None and state != "online"
            tip = state
            if bad:
                err = diag.last_error if diag is not None else ""
                tip = f"{state}: {err}" if err else state
            if item.toolTip(1) != tip or state != item.text(1) or restyle:
                changes.append((item, state, tip, bad))
        if changes:
            header = self.tree.header()
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
            try:
                for item, state, tip, bad in changes:
                    if item.toolTip(1) != tip:
                        item.setToolTip(1, tip)
                    if state == item.text(1) and not restyle:
                        continue
                    item.setText(1, state)
                    if bad:
                        item.setBackground(1, QBrush(s.qcolor("bad_quality")))
                        item.setForeground(1, QBrush(s.qcolor("bad_quality_text")))
                    else:
                        item.setBackground(1, QBrush())
                        item.setForeground(1, QBrush(s.qcolor("text")))
            finally:
                header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self._show_details()

    def set_scheme(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self.update_diagnostics(self._diags, restyle=True)

    def state_of(self, device: str) -> str:
        return self.items[device].text(1)

    def _selected(self, current: QTreeWidgetItem | None, _prev: QTreeWidgetItem | None = None) -> None:
        if current is None:
            return
        name = current.data(0, Qt.ItemDataRole.UserRole)
        if name:
            self.device_selected.emit(str(name))
        self._show_details()

    def _show_details(self) -> None:
        cur = self.tree.currentItem()
        name = cur.data(0, Qt.ItemDataRole.UserRole) if cur is not None else None
        if not name:
            return
        fields = diag_fields(self._diags.get(name))
        if not fields:
            self.details.setText(f"<b>{name}</b>: no diagnostics yet")
            return
        html = "".join(
            f"<tr><td>{k.replace('_', ' ')}</td><td>&nbsp;&nbsp;{_fmt_field(k, v)}</td></tr>"
            for k, v in fields.items()
            if k != "device"
        )
        text = f"<b>{name}</b><table>{html}</table>"
        if text != self.details.text():
            self.details.setText(text)

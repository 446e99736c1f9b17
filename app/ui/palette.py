"""ISA-101 palettes: a calm grey screen where colour is reserved for abnormal states.

Two palettes (light by default, dark for dim control rooms) share one rule set: normal values
are drawn in plain text colours; only alarms (coloured by priority, never by tag) and bad
quality (one violet hue of its own) get colour. Trend pens use muted hues that cannot be
mistaken for alarm colours.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

PRIORITIES = ("urgent", "high", "medium", "low")


@dataclass(frozen=True)
class Scheme:
    name: str
    window: str  # the calm grey behind everything
    base: str  # tables, lists
    alt_base: str
    panel: str  # dock title bars, banner when quiet
    text: str
    muted: str  # secondary text: units, ages, descriptions
    border: str
    highlight: str  # selection: a neutral blue-grey, not an alarm colour
    highlight_text: str
    plot_bg: str
    plot_grid: str
    plot_axis: str
    bad_quality: str  # the one colour meaning "do not trust this value"
    bad_quality_text: str
    alarm: dict[str, str]  # priority -> fill colour
    alarm_text: dict[str, str]  # priority -> text colour on that fill
    pens: tuple[str, ...]
    #: configuration problems (a plugin or profile missing): amber, used as a thin edge only, so
    #: it is never read as an alarm fill
    notice: str = "#b7791f"

    def qcolor(self, name: str) -> QColor:
        return QColor(getattr(self, name))

    def alarm_color(self, priority: str) -> QColor:
        return QColor(self.alarm.get(priority, self.alarm["low"]))

    def alarm_text_color(self, priority: str) -> QColor:
        return QColor(self.alarm_text.get(priority, self.alarm_text["low"]))

    def pen(self, index: int) -> str:
        return self.pens[index % len(self.pens)]


_ALARM_TEXT = {"urgent": "#ffffff", "high": "#000000", "medium": "#000000", "low": "#ffffff"}

LIGHT = Scheme(
    name="light",
    window="#d4d4d4",
    base="#e4e4e4",
    alt_base="#dcdcdc",
    panel="#c8c8c8",
    text="#1e1e1e",
    muted="#555555",
    border="#a8a8a8",
    highlight="#8fa3b8",
    highlight_text="#000000",
    plot_bg="#e4e4e4",
    plot_grid="#bdbdbd",
    plot_axis="#3c3c3c",
    bad_quality="#8a4fb0",
    bad_quality_text="#ffffff",
    alarm={"urgent": "#c8102e", "high": "#f08c00", "medium": "#f2d20a", "low": "#1e7fbf"},
    alarm_text=_ALARM_TEXT,
    # 20 muted hues, none of them an alarm colour; solid lines only (dashed paths cost ~30 ms
    # each to stroke with 36,000 points, measured in tests/benchmarks/ui.py)
    pens=(
        "#1f3f8f",
        "#2f6f5f",
        "#7a4a1f",
        "#5a3f8a",
        "#2f6f8f",
        "#6f3f5f",
        "#3f3f3f",
        "#4f6f2f",
        "#8a5a5a",
        "#2f4f4f",
        "#4a5fb0",
        "#5f8f6f",
        "#a0703f",
        "#7f6fa8",
        "#3f8fa0",
        "#9f5f8f",
        "#6a6a6a",
        "#70903f",
        "#a87f7f",
        "#4f7f7f",
    ),
)

DARK = Scheme(
    name="dark",
    window="#262626",
    base="#2e2e2e",
    alt_base="#333333",
    panel="#3a3a3a",
    text="#d6d6d6",
    muted="#9a9a9a",
    border="#4a4a4a",
    highlight="#4f6275",
    highlight_text="#ffffff",
    plot_bg="#2a2a2a",
    plot_grid="#3e3e3e",
    plot_axis="#b0b0b0",
    bad_quality="#a070c8",
    bad_quality_text="#ffffff",
    alarm={"urgent": "#e0203a", "high": "#f08c00", "medium": "#e8c80a", "low": "#2f8fd0"},
    alarm_text=_ALARM_TEXT,
    notice="#c99a3a",
    pens=(
        "#8fb0e0",
        "#80c0a8",
        "#c8a880",
        "#a8a8d8",
        "#80b0c8",
        "#c0a0c0",
        "#c8c8c8",
        "#b0c890",
        "#d0b0b0",
        "#90b8b8",
        "#6f90d0",
        "#a0d8b8",
        "#e0c090",
        "#c8c0f0",
        "#a0d0e0",
        "#e0b8e0",
        "#a0a0a0",
        "#d0e0a0",
        "#f0c8c8",
        "#b8e0e0",
    ),
)

SCHEMES = {"light": LIGHT, "dark": DARK}


def stylesheet(s: Scheme) -> str:
    """The few rules QPalette cannot express: flat dock titles, quiet borders, the banner.

    No border or background rule on item views: either makes Qt draw their viewport through
    the style sheet instead of filling it, and a viewport that is not opaque repaints the dock,
    the panel and the main window under every changed cell (twice the cost of a tag table
    update). Their frame comes from the palette (Mid and Dark are the border colour)."""
    return f"""
QMainWindow, QDialog {{ background: {s.window}; }}
QDockWidget {{ color: {s.text}; }}
QDockWidget::title {{ background: {s.panel}; padding: 3px 6px; border-bottom: 1px solid {s.border}; }}
QTableView, QTreeView, QListView {{ gridline-color: {s.border}; }}
QHeaderView::section {{ background: {s.panel}; color: {s.text}; border: 0px;
    border-right: 1px solid {s.border}; border-bottom: 1px solid {s.border}; padding: 2px 4px; }}
QStatusBar {{ background: {s.panel}; color: {s.text}; border-top: 1px solid {s.border}; }}
QStatusBar QLabel {{ padding: 0px 6px; }}
QLabel#muted {{ color: {s.muted}; }}
QFrame#banner {{ background: {s.panel}; border-bottom: 1px solid {s.border}; }}
QLabel#commBad {{ background: {s.bad_quality}; color: {s.bad_quality_text}; padding: 0px 6px; }}
QLabel#flood {{ background: {s.alarm["high"]}; color: {s.alarm_text["high"]}; padding: 1px 6px; }}
QLabel#verifyBad {{ background: {s.alarm["urgent"]}; color: {s.alarm_text["urgent"]}; padding: 1px 6px; }}
QPushButton#problems {{ color: {s.text}; background: transparent; border: 1px solid {s.notice};
    border-left: 6px solid {s.notice}; padding: 0px 8px; margin: 1px 4px; }}
QPushButton#problems:hover {{ background: {s.base}; }}
QToolButton#user {{ color: {s.text}; padding: 0px 6px; border: 0px; }}
QToolButton#user:hover {{ background: {s.base}; }}
QTabWidget::pane {{ border: 1px solid {s.border}; }}
QToolBar {{ background: {s.panel}; border: 0px; border-bottom: 1px solid {s.border}; padding: 0px; }}
"""


def apply_scheme(app: QApplication, s: Scheme) -> None:
    """Install the scheme application-wide (Fusion style, so every platform looks the same)."""
    app.setStyle("Fusion")
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: s.window,
        QPalette.ColorRole.WindowText: s.text,
        QPalette.ColorRole.Base: s.base,
        QPalette.ColorRole.AlternateBase: s.alt_base,
        QPalette.ColorRole.Text: s.text,
        QPalette.ColorRole.Button: s.panel,
        QPalette.ColorRole.ButtonText: s.text,
        QPalette.ColorRole.Highlight: s.highlight,
        QPalette.ColorRole.HighlightedText: s.highlight_text,
        QPalette.ColorRole.ToolTipBase: s.base,
        QPalette.ColorRole.ToolTipText: s.text,
        QPalette.ColorRole.PlaceholderText: s.muted,
        QPalette.ColorRole.Mid: s.border,
        QPalette.ColorRole.Dark: s.border,
        QPalette.ColorRole.Light: s.base,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(s.muted))
    app.setPalette(p)
    app.setStyleSheet(stylesheet(s))

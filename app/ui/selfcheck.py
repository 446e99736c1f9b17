"""Render a plot offscreen and check it drew: catches a broken Qt/pyqtgraph pairing (such as
PySide6 6.12.0, which crashes pyqtgraph's setData) before an operator meets it."""

from __future__ import annotations

import os


def plot_selfcheck() -> str | None:
    """Return None if a plot renders, else one line saying what failed."""
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    try:
        import numpy as np
        import pyqtgraph as pg
        from PySide6 import __version__ as pyside_version

        from app.ui.app import ensure_app

        if pyside_version == "6.12.0":
            return "PySide6 6.12.0 is known to crash pyqtgraph's setData; install another release"
        ensure_app()
        w = pg.PlotWidget()
        w.resize(320, 200)
        w.setBackground("#ffffff")
        t = np.linspace(0.0, 10.0, 500)
        curve = w.plot(t, np.sin(t), pen=pg.mkPen("#000000", width=2))
        curve.setData(t, np.cos(t))
        img = w.grab().toImage()
        if img.isNull() or img.width() < 100:
            return "the plot rendered an empty image"
        dark = sum(
            1
            for x in range(0, img.width(), 4)
            for y in range(0, img.height(), 4)
            if img.pixelColor(x, y).value() < 128
        )
        w.close()
        w.deleteLater()
        if dark == 0:
            return "the plot rendered no curve"
        return None
    except Exception as e:
        return f"{type(e).__name__}: {e}"

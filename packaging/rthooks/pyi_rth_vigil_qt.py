"""PyInstaller runtime hook: pin pyqtgraph to PySide6 before any app code runs.

The bundle carries only PySide6; without this pyqtgraph would probe for PyQt5/PyQt6/PySide2
first, and a user's environment variable pointing elsewhere would break plotting.
"""

import os

os.environ["PYQTGRAPH_QT_LIB"] = "PySide6"

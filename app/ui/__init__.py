"""The operator workstation: the only package that imports Qt (PySide6) and pyqtgraph.

pyqtgraph picks its Qt binding when first imported; pinning it here, before any submodule can
import it, keeps it from wandering to another binding that happens to be installed.
"""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

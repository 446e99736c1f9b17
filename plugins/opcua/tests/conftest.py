"""Make this plugin's package importable in its tests (the host does the same when it loads the
plugin) and the test server helper beside it."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (str(HERE.parent), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

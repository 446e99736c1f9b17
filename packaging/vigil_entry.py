"""Entry point of the frozen Vigil build: the same ``app.cli.main`` as the ``vigil`` script.

``freeze_support`` comes first because a frozen executable re-runs itself for every
``multiprocessing`` child; without it a child would start a second Vigil instead of its task.
"""

import multiprocessing
import sys

from app.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())

"""Entry point of the frozen Vigil build: the same ``app.cli.main`` as the ``vigil`` script.

``freeze_support`` comes first because a frozen executable re-runs itself for every
``multiprocessing`` child; without it a child would start a second Vigil instead of its task.

In a frozen build ``sys.executable`` is this program, not a Python interpreter, yet Vigil code
may run ``[sys.executable, "-c", CODE, args...]`` to isolate risky work in a child process
(``vigil plugins check`` imports a plugin's factories that way, so a plugin that crashes or hangs
at import cannot take the command down). So the frozen program answers ``-c`` the way
``python -c`` does; ``vigil -c`` is not a Vigil option, so nothing is shadowed.
"""

import multiprocessing
import sys


def run_code_like_python_c(argv: list[str]) -> int:
    """``python -c CODE ARGS...``: ``sys.argv`` becomes ``['-c', ARGS...]``, code runs as __main__."""
    code = argv[2] if len(argv) > 2 else ""
    sys.argv = ["-c", *argv[3:]]
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(code, "<string>", "exec"), namespace)
    return 0


if __name__ == "__main__":
    multiprocessing.freeze_support()
    if getattr(sys, "frozen", False) and len(sys.argv) > 1 and sys.argv[1] == "-c":
        sys.exit(run_code_like_python_c(sys.argv))
    from app.cli import main

    sys.exit(main())

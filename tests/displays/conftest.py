"""Display tests run on the real demo plant with the UI tests' set-up: a real Core and
simulator on 127.0.0.1, a logged-in operator, and any Qt warning failing the test."""

from tests.ui.conftest import core, fail_on_qt_warnings, window  # noqa: F401

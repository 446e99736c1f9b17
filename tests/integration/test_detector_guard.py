"""A detector plugin that raises, or returns garbage, is contained by the plugin host the way a
driver is: the caller gets a DetectorError naming the detector and its plugin, and the fault is
counted against the plugin (shown in Help → Plugins… and `vigil plugins list`)."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.sdk import DetectorError

SOURCE = """
import numpy as np
from app.sdk import DetectorState, Scores

class Flaky:
    name = "flaky"

    def __init__(self, mode="raise"):
        self.mode = mode
        self.tags = []
        self.threshold = 1.0

    def fit(self, history, tags):
        self.tags = list(tags)

    def score(self, batch):
        if self.mode == "raise":
            raise ZeroDivisionError("division by zero in score")
        return "not scores"

    def reset(self):
        pass

    def get_state(self):
        return {"not": "a state"}
"""


def _plugin(root: Path) -> tuple[Path, str]:
    unique = uuid.uuid4().hex[:8]
    pkg = f"flaky_{unique}"
    folder = root / pkg
    (folder / pkg).mkdir(parents=True)
    (folder / pkg / "__init__.py").write_text("", encoding="utf-8")
    (folder / pkg / "det.py").write_text(textwrap.dedent(SOURCE), encoding="utf-8")
    plugin_id = f"acme.flaky{unique}"
    (folder / "plugin.toml").write_text(
        f'[plugin]\nid = "{plugin_id}"\nname = "Flaky"\nversion = "0.1.0"\napi = "1.0"\n'
        f'[[detectors]]\nname = "flaky"\nfactory = "{pkg}.det:Flaky"\n',
        encoding="utf-8",
    )
    return folder, plugin_id


def test_a_raising_detector_reaches_the_caller_as_a_named_error(tmp_path: Path, plugin_host: Any) -> None:
    folder, plugin_id = _plugin(tmp_path)
    host = plugin_host(folder)
    det = host.detector_factory("flaky")(mode="raise")
    det.fit(np.zeros((10, 2)), ["a", "b"])
    with pytest.raises(DetectorError, match=rf"detector 'flaky' failed: ZeroDivisionError: division by "
                                            rf"zero in score \(plugin '{plugin_id}', score\)"):
        det.score(np.zeros((3, 2)))
    with pytest.raises(DetectorError, match="get_state\\(\\) returned dict, not DetectorState"):
        det.get_state()
    record = host.record(plugin_id)
    assert any("ZeroDivisionError" in w for w in record.warnings)
    assert det.faults == 2


def test_a_detector_returning_garbage_is_refused(tmp_path: Path, plugin_host: Any) -> None:
    folder, _ = _plugin(tmp_path)
    det = plugin_host(folder).detector_factory("flaky")(mode="garbage")
    with pytest.raises(DetectorError, match="score\\(\\) returned str, not Scores for 3 rows"):
        det.score(np.zeros((3, 2)))

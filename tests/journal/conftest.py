"""Fixtures: journals built through the real writer, once per session, copied for each test.

Building costs fsyncs; copying the closed journal's files gives each test its own identical,
untouched journal in its own tmp_path for a fraction of that.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .helpers import build


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("journal-templates")
    return {"journal": build(root / "journal"), "other": build(root / "other")}


@pytest.fixture
def journal_dir(tmp_path: Path, _templates: dict[str, Path]) -> Path:
    """A clean 63-event journal (60 appended + created/start/stop), checkpoints every 10."""
    return Path(shutil.copytree(_templates["journal"], tmp_path / "journal"))


@pytest.fixture
def make_journal(tmp_path: Path, _templates: dict[str, Path]) -> Callable[..., Path]:
    """Another, unrelated journal (its own id and key)."""

    def make(name: str = "other") -> Path:
        return Path(shutil.copytree(_templates["other"], tmp_path / name))

    return make


# ---- every verify() in this folder is checked against the standalone verifier -----------------

def _agreeing_verify() -> Callable[..., Any]:
    """``verify`` that also runs the standalone verifier on the same input and asserts agreement.

    Installed before the test modules import ``verify`` from ``app.core.journal``, so every
    tamper case in the suite doubles as an agreement test between the two implementations.
    """
    import json
    import tempfile

    import app.core.journal as journal_pkg
    from app.core.journal import Identity
    from app.core.journal import standalone_verify as standalone

    real = journal_pkg.verify

    def verify(journal: Any, *, pubkey: Any = None, anchors: Any = None, witnesses: Any = None,
               workers: int | None = None) -> Any:
        res = real(journal, pubkey=pubkey, anchors=anchors, witnesses=witnesses, workers=workers)
        if witnesses is not None or isinstance(pubkey, Identity):
            return res  # the standalone verifier takes files, and has no witness folders
        with tempfile.TemporaryDirectory() as tmp:
            anchor_file = None
            if anchors is not None and not isinstance(anchors, str | Path):
                anchor_file = Path(tmp) / "anchors.jsonl"
                anchor_file.write_text("".join(json.dumps(a) + "\n" for a in anchors))
            elif anchors is not None:
                anchor_file = Path(anchors)
            other = standalone.verify(str(journal), str(pubkey) if pubkey is not None else None,
                                      str(anchor_file) if anchor_file else None)
        mine = (res.status, res.fault, res.first_bad_seq)
        theirs = (other["status"], other["fault"], other["first_bad_seq"])
        if res.status in ("usage", "corrupt"):
            mine, theirs = mine[:1], theirs[:1]  # the reason is in the message, worded differently
        assert mine == theirs, f"verifiers disagree: vigil {mine} standalone {theirs}: {res.message}"
        AGREEMENTS.append(mine)
        return res

    journal_pkg.verify = verify  # type: ignore[assignment]
    return verify


AGREEMENTS: list[tuple[Any, ...]] = []
_agreeing_verify()

"""Trained detector models back into service after a restart.

Only models the journal vouches for are loaded (their SHA-256 was journaled when trained); a
refused file is journaled (``model.refused``) and listed among the configuration problems, so
the operator sees why detection is off instead of silently losing it.
"""

from __future__ import annotations

from pathlib import Path

from app.core.detection import DetectorEngine
from app.core.detection.store import load_model
from app.core.journal import Journal


def restore_models(
    models_dir: Path, detectors: DetectorEngine, journal: Journal, problems: list[str]
) -> None:
    """Load the newest vouched-for model of each detector group."""
    newest: dict[str, Path] = {}
    # the newest model of a group is the one trained last in the journal, not the newest file
    by_journal = detectors.provenance.newest_models()
    for path in sorted(models_dir.glob("*.npz")):
        try:
            loaded = load_model(path, detectors.provenance.vouches)
        except Exception as e:
            problems.append(str(e))
            journal.append("model.refused", "system", {"file": path.name, "error": str(e)}, critical=True)
            continue
        group = loaded.meta.get("group")
        if isinstance(group, str) and by_journal.get(group) == loaded.sha256:
            newest[group] = path
    for group, path in sorted(newest.items()):
        try:
            detectors.load_model(group, path)
        except Exception as e:  # e.g. its detector's plugin is gone or was renamed
            problems.append(f"detector group '{group}': {e}")
            journal.append(
                "model.refused", "system", {"group": group, "file": path.name, "error": str(e)}, critical=True
            )

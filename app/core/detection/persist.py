"""The live detection state that must survive a restart: each group's latch, the drift it has
absorbed and its alarm episodes, in one small JSON file next to the models.

Keyed by the model's SHA-256 as well as the group, so a retrained (or swapped) model never
inherits another model's latch or drift. Written atomically (temp file + rename); a missing or
unreadable file means "start fresh", which is safe: the latch starts calm and the drift guard
starts from the training baseline.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.core.private import write_private

log = logging.getLogger(__name__)

STATE_VERSION = 1


class LiveState:
    def __init__(self, path: Path):
        self.path = Path(path)

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("detection: ignoring unreadable live state %s: %s", self.path, e)
            return {}
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return {}
        groups = data.get("groups")
        return groups if isinstance(groups, dict) else {}

    def get(self, group: str, sha256: str) -> dict[str, Any] | None:
        """The saved state of ``group`` if it belongs to the model ``sha256``."""
        entry = self.read().get(group)
        if isinstance(entry, dict) and entry.get("sha256") == sha256 and isinstance(entry.get("state"), dict):
            return dict(entry["state"])
        return None

    def save(self, groups: Mapping[str, tuple[str, dict[str, Any]]]) -> None:
        """Replace the saved states of ``groups`` (group -> (model sha256, snapshot)); other
        groups already in the file are kept (their models may simply not be loaded yet)."""
        merged = self.read()
        for name, (sha, snap) in groups.items():
            merged[name] = {"sha256": sha, "state": snap}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_private(self.path, json.dumps({"version": STATE_VERSION, "groups": merged},
                                            sort_keys=True).encode("utf-8"))

"""The persisted list of plugins the user switched off: ``<data dir>/plugins.json``.

Kept as a small JSON file (not in a database) so a person can fix it by hand when a plugin
breaks startup. Written atomically (temp file + rename) so a crash never leaves half a file.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.core.private import write_private

FILE_NAME = "plugins.json"


class DisabledList:
    """Read/modify/write the disabled plugin ids. A corrupt file is reported, not overwritten
    silently: ``problem`` says what is wrong and `save` refuses until it is fixed or removed."""

    def __init__(self, data_dir: Path | None):
        self.path = Path(data_dir) / FILE_NAME if data_dir is not None else None
        self.ids: set[str] = set()
        self.problem = ""
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            ids = raw["disabled"]
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise TypeError("'disabled' must be a list of plugin ids")
        except (OSError, ValueError, KeyError, TypeError) as e:
            self.problem = f"{self.path}: unreadable disabled-plugins list ({e}); fix or delete it"
            return
        self.ids = set(ids)

    def __contains__(self, plugin_id: str) -> bool:
        return plugin_id in self.ids

    def set(self, plugin_id: str, disabled: bool) -> None:
        """Disable or re-enable ``plugin_id`` and persist at once."""
        if self.path is None:
            raise RuntimeError("no data dir: cannot persist the disabled-plugins list")
        if self.problem:
            raise RuntimeError(self.problem)
        (self.ids.add if disabled else self.ids.discard)(plugin_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_private(self.path, (json.dumps({"disabled": sorted(self.ids)}, indent=2) + "\n").encode())

"""UI settings (window layout, palette, trend setup) kept in ``settings.json`` in the data dir.

Plain JSON, written atomically, so a half-written file after a power cut cannot stop the
workstation from opening: an unreadable file is set aside and the defaults are used, with a
message saying so.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any


class UiSettings:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.data: dict[str, Any] = {}
        self.problem: str | None = None
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("top level is not an object")
            self.data = data
        except (OSError, ValueError) as e:
            aside = self.path.with_suffix(".json.unreadable")
            try:
                os.replace(self.path, aside)
                where = f"; moved to {aside.name}"
            except OSError:
                where = ""
            self.problem = f"{self.path}: unreadable UI settings ({e}){where}; using defaults"
            self.data = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    def get_bytes(self, key: str) -> bytes | None:
        raw = self.data.get(key)
        if not isinstance(raw, str):
            return None
        try:
            return base64.b64decode(raw.encode("ascii"), validate=True)
        except ValueError:
            return None

    def set_bytes(self, key: str, value: bytes) -> None:
        self.data[key] = base64.b64encode(value).decode("ascii")

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.data, f, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise

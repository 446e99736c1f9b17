"""Write a device profile as TOML text (``vigil profile import``, ``vigil scan --draft``).

Hand-written rather than a library because profiles hold only strings, numbers and booleans
in two fixed tables, and Vigil has no TOML writer dependency (the standard library only reads
TOML). Every text written here is parsed back with the real loader before it is saved, so a
writer bug can never leave a profile on disk that Vigil refuses.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from app.core.profiles import Profile, parse_profile

ScalarValue = str | int | float | bool


def _toml_value(v: ScalarValue) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to a profile")
        return repr(v)
    # JSON string escapes are valid TOML basic-string escapes (\" \\ \n \uXXXX ...)
    return json.dumps(v, ensure_ascii=False)


def profile_toml(
    device: Mapping[str, ScalarValue],
    points: Sequence[Mapping[str, ScalarValue]],
    header: str = "",
) -> str:
    """TOML text for a ``[device]`` table and ``[[points]]`` entries, in the given order."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    if lines:
        lines.append("")
    lines.append("[device]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in device.items()]
    for p in points:
        lines += ["", "[[points]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in p.items()]
    return "\n".join(lines) + "\n"


def checked_profile(text: str, source: str) -> Profile:
    """Parse ``text`` exactly as Vigil loads profiles (raises ConfigError naming ``source``)."""
    return parse_profile(text.encode("utf-8"), source)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, so a crash or
    a full disk leaves either the old file or the new one, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

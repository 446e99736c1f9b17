"""Reading a TOML configuration file into a dict, with errors that name the file.

Profiles, plant files and plugin manifests all start here, so a binary file, bad UTF-8 or a
TOML syntax error reads the same everywhere: ``FILE: refused ... TOML syntax: ... (at line N)``.
"""

from __future__ import annotations

import tomllib
from typing import Any

from app.core.errors import ConfigError


def parse_toml(data: bytes, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(source, [f"not UTF-8 text: {e}"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, [f"TOML syntax: {e}"]) from None

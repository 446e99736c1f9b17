"""Reading a TOML configuration file into a dict, with errors that name the file.

Profiles, plant files and plugin manifests all start here, so a binary file, bad UTF-8 or a
TOML syntax error reads the same everywhere: ``FILE: refused ... TOML syntax: ... (at line N)``.
A configuration path may be mistyped or hostile, so ``read_config_file`` refuses anything that
is not a regular file of sane size *before* reading it: ``/dev/zero`` would otherwise be read
until memory runs out, and a FIFO would block the start-up forever.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from app.core.errors import ConfigError

#: no real profile or plant file comes near this (the largest library profile is a few kB)
MAX_CONFIG_BYTES = 8 * 1024 * 1024


def read_config_file(path: str | Path, max_bytes: int = MAX_CONFIG_BYTES) -> bytes:
    """The bytes of a regular configuration file; ConfigError naming the file otherwise.

    The file is opened non-blocking (a FIFO with no writer would hang a plain ``open``), checked
    with ``fstat`` on the opened descriptor (no race with a swapped path) and read to at most
    ``max_bytes`` + 1 bytes, so a file that grows while read is refused too.
    """
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise ConfigError(source, [f"cannot read: {e.strerror or e}"]) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(source, [f"cannot read: not a regular file ({_kind(st.st_mode)})"])
        if st.st_size > max_bytes:
            raise ConfigError(
                source, [f"cannot read: {st.st_size} bytes is too large (at most {max_bytes})"]
            )
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise ConfigError(source, [f"cannot read: larger than {max_bytes} bytes"])
        return b"".join(chunks)
    except OSError as e:
        raise ConfigError(source, [f"cannot read: {e.strerror or e}"]) from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def parse_toml(data: bytes, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(source, [f"not UTF-8 text: {e}"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, [f"TOML syntax: {e}"]) from None

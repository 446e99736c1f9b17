"""Keeping the data folder private: it holds patient vital signs, operator names and the
journal's signing key, so no other local account may read it, whatever the umask.

Three layers, because each one alone has a gap:

* `private_umask` makes everything this process creates from now on 0600/0700 (SQLite creates
  its ``-wal``/``-shm`` files itself, and settings, models and exports are written by many
  modules; a umask covers them all without each one remembering);
* `secure_data_dir` checks the folder's owner and mode at every start and refuses a folder that
  another account could write (it could plant a symlink or swap a file) or that belongs to
  someone else, saying what to do; a folder or file that is merely readable by others (made by
  an older version, or copied in) is tightened in place;
* `write_private` / `private_temp` create files with ``O_EXCL|O_NOFOLLOW`` (via `tempfile`), so
  a planted ``users.tmp`` symlink can never redirect a write to another file.

POSIX only: on Windows the per-user profile folder's ACL is what keeps data private, and the
mode bits below are not meaningful there.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from app.core.errors import VigilError

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
_POSIX = os.name == "posix" and sys.platform != "win32"


class UnsafeDataDir(VigilError):
    """The data folder could be read or changed by another account; the message says how to fix it."""


def private_umask() -> None:
    """From here on, files and folders this process creates are private to its account."""
    if _POSIX:
        os.umask(PRIVATE_UMASK)


def secure_data_dir(path: Path, *, create: bool = True) -> Path:
    """Create ``path`` 0700 if missing (``create``), then check and tighten it.

    Refused (`UnsafeDataDir`): a folder owned by another account, or one that group or others may
    write, or a symlink; also any entry inside owned by another account. Tightened silently: a
    folder or file readable by group or others (their modes become 0700/0600).
    """
    path = Path(path)
    if not _POSIX:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path
    private_umask()
    if create and not path.exists() and not path.is_symlink():
        path.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
    st = os.lstat(path)
    me = os.geteuid()
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeDataDir(
            f"data dir {path} is a symbolic link; refusing to follow it (point --data-dir / "
            f"VIGIL_DATA_DIR at the real folder, {os.path.realpath(path)})")
    if st.st_uid != me:
        raise UnsafeDataDir(
            f"data dir {path} belongs to uid {st.st_uid}, not to this account (uid {me}); refusing "
            f"to use it. Run Vigil under the account that owns it, or give it to this account "
            f"(chown -R {me} '{path}') after checking its contents")
    if st.st_mode & 0o022:
        raise UnsafeDataDir(
            f"data dir {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"another account could swap its files. Check its contents, then make it private: "
            f"chmod -R go-rwx '{path}'")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, DIR_MODE)
    _tighten_tree(path, me)
    return path


def _tighten_tree(root: Path, me: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                continue  # never chmod through a link; the link itself has no mode
            if st.st_uid != me:
                raise UnsafeDataDir(
                    f"{p} in the data folder belongs to uid {st.st_uid}, not to this account "
                    f"(uid {me}); remove it or give it to this account after checking it")
            want = DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(p, stat.S_IMODE(st.st_mode) & want)


@contextlib.contextmanager
def private_temp(target: Path) -> Iterator[tuple[int, Path]]:
    """A fresh temporary file beside ``target`` (``mkstemp``: O_EXCL, mode 0600, a random name
    that no one can plant a symlink at). Yields its descriptor and path; removed on failure."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(name)
    try:
        yield fd, tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_private(target: Path, data: bytes) -> None:
    """Atomically replace ``target`` with ``data``, 0600, fsynced; the temporary file is made
    with `private_temp`, so nothing is written through a planted link."""
    target = Path(target)
    with private_temp(target) as (fd, tmp):
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if _POSIX:
            os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)

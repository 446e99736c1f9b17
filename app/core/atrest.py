"""Encryption at rest for the stores that hold patient and plant values.

``historian.sqlite`` and ``alarms.sqlite`` hold heart rates, SpO2, bed labels and operator
names. The data folder is private (`app.core.private`), but a stolen disk or a copied backup is
not. Both stores are therefore SQLCipher 4 databases (AES-256 per page, HMAC-SHA512 per page;
``sqlcipher3``, SQLCipher's fork of the standard ``sqlite3`` module: same API, same SQLite).

**Which files are encrypted.** A data folder is encrypted once it holds ``atrest.json``
(`enable` writes it; the station does at every start). That marker is not secret: it says
where the key is kept and holds a check value (HMAC of a constant under the key), so a wrong
or missing key is told apart from a damaged file. An existing file says for itself what it is:
a plain SQLite file starts with ``SQLite format 3``, an encrypted one with random salt. So a
plain store (an older Vigil, a library user's file, a test's) is still opened as it is, and
`migrate` turns it into an encrypted one when the station starts.

**Where the key is.** 32 random bytes, used as a raw SQLCipher key (no passphrase stretching,
so opening a reader connection costs nothing). Kept in the OS keyring when one is usable
(``keyring``; a headless Linux box has none; ``VIGIL_KEYRING=0`` skips it) and otherwise in a
0600 file in the user's config folder (``VIGIL_KEY_DIR`` overrides), never in the data
folder: a backup of the data folder must not carry its own key. A key that cannot be found
is an error naming where it was looked for; an encrypted file is then never opened, moved or
overwritten.

**Files that are not databases** (trained detector models in ``models/``) are sealed with
AES-256-GCM (``cryptography``) under a key derived from the same data key with HKDF-SHA256, so
one key opens everything and a key used for SQLCipher pages is never used as is for GCM.
A sealed file is ``MAGIC``, a 12-byte random nonce, then the ciphertext with its tag; the magic
is the associated data. What a model's journaled SHA-256 vouches for is the plain file's bytes,
so sealing (and migrating an old plain model) leaves its provenance checkable.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import platformdirs

from app.core.errors import VigilError
from app.core.private import DIR_MODE, FILE_MODE, private_temp, write_private

if TYPE_CHECKING:
    # sqlcipher3 ships no type information; it is the standard module's API, so it is typed as it
    import sqlite3 as dbapi
else:
    import sqlcipher3.dbapi2 as dbapi

__all__ = [
    "MARKER",
    "SEALED_MAGIC",
    "AtRestError",
    "DataKey",
    "KeyMissing",
    "WrongKey",
    "connect",
    "dbapi",
    "enable",
    "is_encrypted",
    "load_key",
    "migrate",
    "open_sealed",
    "seal",
    "sealed",
]

log = logging.getLogger(__name__)

#: the marker in an encrypted data folder
MARKER = "atrest.json"
FORMAT = "vigil-at-rest/1"
CIPHER = "sqlcipher4"
KEYRING_SERVICE = "vigil-at-rest"
_PLAIN_HEADER = b"SQLite format 3\x00"
_CHECK_LABEL = b"vigil at-rest key check"

Store = Literal["keyring", "file"]


class AtRestError(VigilError):
    """An encrypted store cannot be opened; the message says which key, where, and what to do."""


class KeyMissing(AtRestError):
    """The data folder is encrypted but its key is not where its marker says."""


class WrongKey(AtRestError):
    """A key was found but it is not this data folder's key."""


@dataclass(frozen=True)
class DataKey:
    """A data folder's key. ``where`` names its place for messages (never the key itself)."""

    key_id: str
    raw: bytes
    store: Store
    where: str

    def pragma(self) -> str:
        """The SQLCipher ``PRAGMA key`` statement for this raw key."""
        return f"PRAGMA key = \"x'{self.raw.hex()}'\""

    def check(self) -> str:
        return hmac.new(self.raw, _CHECK_LABEL, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # a key never reaches a log through repr()
        return f"DataKey(key_id={self.key_id!r}, store={self.store!r}, where={self.where!r})"


def key_dir() -> Path:
    """Where key files go: ``VIGIL_KEY_DIR``, else ``<user config>/vigil/keys``."""
    env = os.environ.get("VIGIL_KEY_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir("vigil", appauthor=False)) / "keys"


# -- the keyring, where one is usable ---------------------------------------------------------


def _usable_keyring() -> Any | None:
    """The OS keyring backend, or None when there is none (headless Linux: the fail backend)
    or ``VIGIL_KEYRING=0`` asks for the key file (a service account, a throw-away folder)."""
    if os.environ.get("VIGIL_KEYRING", "").strip() == "0":
        return None
    try:
        import keyring
        from keyring.backends import fail
    except Exception:  # not installed, or a backend that breaks on import
        return None
    try:
        kr = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(kr, fail.Keyring) or getattr(kr, "priority", 0) <= 0:
        return None
    return kr


def _keyring_get(key_id: str) -> str | None:
    kr = _usable_keyring()
    if kr is None:
        return None
    try:
        value = kr.get_password(KEYRING_SERVICE, key_id)
    except Exception as e:
        log.warning("OS keyring could not be read (%s)", e)
        return None
    return value if isinstance(value, str) else None


# -- the marker and the key -------------------------------------------------------------------

_cache: dict[tuple[str, str], DataKey] = {}
_cache_lock = threading.Lock()


def _read_marker(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / MARKER
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        marker = json.loads(raw)
        if not isinstance(marker, dict) or marker.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT}")
        if marker.get("store") not in ("keyring", "file") or not isinstance(marker.get("key_id"), str):
            raise ValueError("no key_id/store")
    except ValueError as e:
        raise AtRestError(
            f"{path}: the encryption marker is unreadable ({e}); the stores in this folder cannot be "
            f"opened without it. Restore it from a backup of the data folder") from None
    return marker


def _key_file(key_id: str) -> Path:
    return key_dir() / f"{key_id}.key"


def load_key(data_dir: Path) -> DataKey | None:
    """The data folder's key, or None when the folder is not encrypted (no marker).

    Raises `KeyMissing` when the marker names a key that is not there, `WrongKey` when the key
    found does not match the marker's check value.
    """
    data_dir = Path(data_dir)
    marker = _read_marker(data_dir)
    if marker is None:
        return None
    key_id: str = marker["key_id"]
    cache_key = (str(data_dir.resolve()), key_id)
    with _cache_lock:
        cached = _cache.get(cache_key)
    if cached is not None:
        return cached
    store: Store = marker["store"]
    if store == "keyring":
        where = f"the OS keyring (service '{KEYRING_SERVICE}', entry '{key_id}')"
        text = _keyring_get(key_id)
    else:
        kf = _key_file(key_id)
        where = str(kf)
        try:
            text = kf.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as e:
            raise KeyMissing(f"{data_dir}: its encryption key file {kf} cannot be read ({e})") from None
    if text is None:
        hint = ("set VIGIL_KEY_DIR to the folder that holds it, or copy it back (mode 0600)"
                if store == "file" else "unlock the keyring or restore the entry")
        raise KeyMissing(
            f"{data_dir}: historian, alarm store and models are encrypted and their key was not found in "
            f"{where}. Nothing was opened or changed. Restore the key ({hint}); without it the "
            f"encrypted stores cannot be read")
    try:
        raw = bytes.fromhex(text)
        if len(raw) != 32:
            raise ValueError("not 32 bytes")
    except ValueError as e:
        raise WrongKey(f"{where}: not a Vigil at-rest key ({e})") from None
    key = DataKey(key_id, raw, store, where)
    if not hmac.compare_digest(key.check(), str(marker.get("check", ""))):
        raise WrongKey(
            f"{data_dir}: the key in {where} is not this data folder's key (check value differs); "
            f"nothing was opened or changed. Restore the right key")
    with _cache_lock:
        _cache[cache_key] = key
    return key


def enable(data_dir: Path, *, use_keyring: bool = True) -> DataKey:
    """Make ``data_dir`` encrypted from now on (idempotent): a new key in the OS keyring (if
    usable and ``use_keyring``) or in a 0600 key file outside the data folder, then the marker.
    An already encrypted folder keeps its key (and `load_key`'s errors when it is missing).
    """
    data_dir = Path(data_dir)
    existing = load_key(data_dir)
    if existing is not None:
        return existing
    key_id = secrets.token_hex(16)
    raw = secrets.token_bytes(32)
    store: Store = "file"
    kr = _usable_keyring() if use_keyring else None
    if kr is not None:
        try:
            kr.set_password(KEYRING_SERVICE, key_id, raw.hex())
            store = "keyring"
        except Exception as e:
            log.warning("OS keyring refused the at-rest key (%s); using a key file", e)
    if store == "file":
        kdir = key_dir()
        _refuse_inside(kdir, data_dir)
        kdir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        with contextlib.suppress(OSError):
            os.chmod(kdir, DIR_MODE)
        write_private(_key_file(key_id), (raw.hex() + "\n").encode("ascii"))
    key = DataKey(key_id, raw, store, "the OS keyring" if store == "keyring" else str(_key_file(key_id)))
    marker = {"format": FORMAT, "cipher": CIPHER, "key_id": key_id, "store": store, "check": key.check()}
    write_private(data_dir / MARKER, (json.dumps(marker, indent=1) + "\n").encode("ascii"))
    log.info("data folder %s is now encrypted at rest (key in %s)", data_dir, key.where)
    return key


def _refuse_inside(kdir: Path, data_dir: Path) -> None:
    k, d = kdir.resolve(), data_dir.resolve()
    if k == d or d in k.parents:
        raise AtRestError(
            f"key folder {kdir} is inside the data folder {data_dir}: a backup of the data would "
            f"carry its own key. Point VIGIL_KEY_DIR elsewhere")


# -- opening a store --------------------------------------------------------------------------


def is_encrypted(path: Path) -> bool:
    """True if ``path`` exists, is not empty and is not a plain SQLite file."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_PLAIN_HEADER))
    except FileNotFoundError:
        return False
    return bool(head) and head != _PLAIN_HEADER


def connect(path: Path, *, readonly: bool = False, **kwargs: Any) -> dbapi.Connection:
    """Open a store in a data folder: with the folder's key when the folder is encrypted and
    the file is not a plain SQLite file (a new file is created encrypted), plainly otherwise.
    ``kwargs`` go to ``connect`` (``check_same_thread``...).

    A missing or wrong key raises `KeyMissing`/`WrongKey` (never a DatabaseError), so callers
    that move a damaged database aside never move an intact one. In a folder that was never
    encrypted, a file that is not SQLite is opened plainly and fails as a damaged one does.
    """
    path = Path(path)
    key = load_key(path.parent)
    if key is not None and _is_plain(path):
        key = None  # not migrated yet (or an older Vigil's file): still readable as it is
    target = f"{path.resolve().as_uri()}?mode=ro" if readonly else str(path)
    conn = dbapi.connect(target, uri=readonly, **kwargs)
    if key is not None:
        try:
            conn.execute(key.pragma())
        except BaseException:
            conn.close()
            raise
    return conn


def _is_plain(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(_PLAIN_HEADER)) == _PLAIN_HEADER
    except FileNotFoundError:
        return False


def migrate(path: Path, key: DataKey) -> bool:
    """Turn a plain SQLite store into an encrypted one in place; False if there was nothing to do.

    The encrypted copy is written beside it (``sqlcipher_export``), checked table by table, and
    only then swapped in, so a failure at any step leaves the plain file as it was. Call it
    before anything else opens the store: the old write-ahead log is checkpointed and removed.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0 or is_encrypted(path):
        return False
    with private_temp(path) as (fd, tmp):
        os.close(fd)
        src = dbapi.connect(str(path), isolation_level=None)
        try:
            src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            version = src.execute("PRAGMA user_version").fetchone()[0]
            src.execute(f"ATTACH DATABASE ? AS enc KEY \"x'{key.raw.hex()}'\"", (str(tmp),))
            src.execute("SELECT sqlcipher_export('enc')")
            src.execute(f"PRAGMA enc.user_version = {int(version)}")
            counts = _row_counts(src, "main")
            copied = _row_counts(src, "enc")
            src.execute("DETACH DATABASE enc")
            # back to a rollback journal so closing leaves no plain -wal behind
            src.execute("PRAGMA journal_mode=DELETE")
        finally:
            src.close()
        if counts != copied:
            raise AtRestError(f"{path}: the encrypted copy differs from the original ({counts} != {copied}); "
                              "the plain file was kept")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
        os.replace(tmp, path)
    log.info("%s encrypted at rest", path)
    return True


def _row_counts(conn: dbapi.Connection, schema: str) -> dict[str, int]:
    names = [r[0] for r in conn.execute(
        f"SELECT name FROM {schema}.sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    return {n: conn.execute(f'SELECT count(*) FROM {schema}."{n}"').fetchone()[0] for n in sorted(names)}


# -- sealed files (models) --------------------------------------------------------------------

#: the first bytes of a sealed file (format and version)
SEALED_MAGIC = b"VIGILSEAL1\x00"
_NONCE_BYTES = 12
_FILE_KEY_INFO = b"vigil at-rest file key v1"


def _file_key(key: DataKey) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_FILE_KEY_INFO).derive(key.raw)


def sealed(data: bytes) -> bool:
    """Is ``data`` a sealed file (rather than a plain one)?"""
    return data.startswith(SEALED_MAGIC)


def seal(key: DataKey, data: bytes) -> bytes:
    """``data`` encrypted and authenticated under the data folder's key."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(_NONCE_BYTES)
    return SEALED_MAGIC + nonce + AESGCM(_file_key(key)).encrypt(nonce, data, SEALED_MAGIC)


def open_sealed(key: DataKey, data: bytes, source: str) -> bytes:
    """The plain bytes of a sealed file. Raises `WrongKey` naming ``source`` when the key does
    not open it (another folder's key, or a changed file: GCM cannot tell them apart)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not sealed(data):
        raise AtRestError(f"{source}: not a sealed file")
    body = data[len(SEALED_MAGIC):]
    nonce, ciphertext = body[:_NONCE_BYTES], body[_NONCE_BYTES:]
    try:
        return AESGCM(_file_key(key)).decrypt(nonce, ciphertext, SEALED_MAGIC)
    except (InvalidTag, ValueError):
        raise WrongKey(f"{source}: cannot be decrypted with the data folder's key in {key.where} "
                       "(the file was changed, or it belongs to another data folder); the file was "
                       "left as it is") from None


def read_private_file(path: Path, data_dir: Path) -> bytes:
    """The plain bytes of a file of ``data_dir`` that may be sealed: a sealed one is opened with
    the folder's key (`KeyMissing` when it is not there: nothing is changed); a plain one (an
    older Vigil's, not migrated yet) is returned as it is."""
    data = Path(path).read_bytes()
    if not sealed(data):
        return data
    key = load_key(data_dir)
    if key is None:
        raise KeyMissing(f"{path}: is encrypted but its data folder {data_dir} has no {MARKER} naming "
                         "the key; restore the marker from a backup of the data folder")
    return open_sealed(key, data, str(path))


def write_private_file(path: Path, data: bytes, data_dir: Path) -> None:
    """Write a file of ``data_dir`` atomically and 0600, sealed when the folder is encrypted."""
    key = load_key(data_dir)
    write_private(Path(path), seal(key, data) if key is not None else data)


def seal_in_place(path: Path, key: DataKey) -> bool:
    """Seal a plain file in place (atomic replace); False when it already is sealed or empty."""
    path = Path(path)
    data = path.read_bytes()
    if not data or sealed(data):
        return False
    write_private(path, seal(key, data))
    return True

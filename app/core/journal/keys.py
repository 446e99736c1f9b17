"""The journal's signing key and its identity file.

The private key never leaves the journal folder and is created with mode 0600. The identity file
(journal id + public key) is the thing to copy elsewhere: verification trusts only a pinned
identity, never the public key stored inside the database, because whoever can rewrite the
database can also rewrite a key stored next to it.

Passphrase protection: the ecdsa package cannot encrypt PEM files, so the 32-byte private scalar
is wrapped with key material derived by ``hashlib.scrypt`` from the passphrase and a fresh random
salt: the first 32 derived bytes are XORed with the scalar (a one-time pad, since the salt is new
for every file written), the next 32 key an HMAC-SHA-256 over the wrapped file, which detects a
wrong passphrase or an edited file before the key is used.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ecdsa import NIST256p, SigningKey, VerifyingKey
from ecdsa.ellipticcurve import PointJacobi

from app.core.errors import VigilError

KEY_FILE = "signing_key.pem"
IDENTITY_FILE = "identity.json"
IDENTITY_FORMAT = "vigil-journal-identity/1"
_WRAPPED_BEGIN = "-----BEGIN VIGIL WRAPPED EC PRIVATE KEY-----"
_WRAPPED_END = "-----END VIGIL WRAPPED EC PRIVATE KEY-----"
#: scrypt cost: ~50 ms and 16 MiB here; strong enough to slow guessing, quick enough at start-up
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class KeyFileError(VigilError):
    """The signing key or a pinned identity cannot be used (missing, wrong passphrase, malformed)."""


@dataclass(frozen=True)
class Identity:
    """What a verifier pins: the journal id (None when only a bare public key was given) and key."""

    journal_id: str | None
    public_key: VerifyingKey
    source: str

    @property
    def fingerprint(self) -> str:
        return public_key_fingerprint(self.public_key)


def public_key_fingerprint(vk: VerifyingKey) -> str:
    return hashlib.sha256(vk.to_der()).hexdigest()


def fingerprint_of_pem(pem: str) -> str:
    """Fingerprint of a PEM public key, or "" when it is not one."""
    try:
        return public_key_fingerprint(VerifyingKey.from_pem(pem, hashfunc=hashlib.sha256))
    except Exception:  # ecdsa raises several unrelated types for bad PEM
        return ""


def fast_verifying_key(vk: VerifyingKey) -> VerifyingKey:
    """A copy of ``vk`` with precomputed tables (about 2x faster verification).

    ecdsa 0.19's ``precompute()`` asserts on keys loaded from PEM because their point carries no
    group order; rebuilding the point with the curve order makes it work.
    """
    p = vk.pubkey.point
    point = PointJacobi(NIST256p.curve, p.x(), p.y(), 1, NIST256p.order, generator=True)
    fast = VerifyingKey.from_public_point(point, curve=NIST256p, hashfunc=hashlib.sha256)
    fast.precompute()
    return fast


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (no window where it is world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _derive(passphrase: str, salt: bytes, params: dict[str, int]) -> tuple[bytes, bytes]:
    km = hashlib.scrypt(
        passphrase.encode("utf-8"), salt=salt, n=params["n"], r=params["r"], p=params["p"],
        maxmem=64 * 1024 * 1024, dklen=64,
    )
    return km[:32], km[32:]


def _wrap(sk: SigningKey, passphrase: str) -> bytes:
    salt = secrets.token_bytes(16)
    pad, mac_key = _derive(passphrase, salt, _SCRYPT)
    wrapped = bytes(a ^ b for a, b in zip(sk.to_string(), pad, strict=True))
    doc = {"kdf": "scrypt", **_SCRYPT, "salt": salt.hex(), "curve": "NIST256p", "wrapped": wrapped.hex()}
    body = json.dumps(doc, sort_keys=True).encode()
    doc["mac"] = hmac.new(mac_key, body, hashlib.sha256).hexdigest()
    b64 = base64.encodebytes(json.dumps(doc, sort_keys=True).encode()).decode()
    return f"{_WRAPPED_BEGIN}\n{b64}{_WRAPPED_END}\n".encode()


def _unwrap(text: str, passphrase: str | None, path: Path) -> SigningKey:
    if passphrase is None:
        raise KeyFileError(f"{path}: the signing key is protected by a passphrase; none was given")
    try:
        b64 = text.split(_WRAPPED_BEGIN, 1)[1].split(_WRAPPED_END, 1)[0]
        doc = json.loads(base64.b64decode(b64))
        mac = doc.pop("mac")
        params = {k: int(doc[k]) for k in ("n", "r", "p")}
        salt = bytes.fromhex(doc["salt"])
        wrapped = bytes.fromhex(doc["wrapped"])
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise KeyFileError(f"{path}: passphrase-protected key file is malformed ({e})") from None
    pad, mac_key = _derive(passphrase, salt, params)
    body = json.dumps(doc, sort_keys=True).encode()
    if not hmac.compare_digest(hmac.new(mac_key, body, hashlib.sha256).hexdigest(), mac):
        raise KeyFileError(f"{path}: wrong passphrase, or the key file was altered")
    secret = bytes(a ^ b for a, b in zip(wrapped, pad, strict=True))
    return SigningKey.from_string(secret, curve=NIST256p, hashfunc=hashlib.sha256)


def create_signing_key(journal_dir: Path, passphrase: str | None = None, *,
                       file: str = KEY_FILE) -> SigningKey:
    """Generate a P-256 key and write it (0600), wrapped when a passphrase is given."""
    sk = SigningKey.generate(curve=NIST256p, hashfunc=hashlib.sha256)
    data = _wrap(sk, passphrase) if passphrase else sk.to_pem()
    _write_private(journal_dir / file, data)
    return sk


def key_is_protected(journal_dir: Path) -> bool:
    """True when the journal's signing key file is wrapped with a passphrase."""
    try:
        return _WRAPPED_BEGIN in (journal_dir / KEY_FILE).read_text("ascii")
    except (OSError, UnicodeDecodeError):
        return False


def load_signing_key(journal_dir: Path, passphrase: str | None = None, *,
                     file: str = KEY_FILE) -> SigningKey:
    path = journal_dir / file
    try:
        text = path.read_text("ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError(f"{path}: cannot read the signing key ({e})") from None
    if _WRAPPED_BEGIN in text:
        return _unwrap(text, passphrase, path)
    try:
        return SigningKey.from_pem(text, hashfunc=hashlib.sha256)
    except Exception as e:  # ecdsa raises several unrelated types for bad PEM
        raise KeyFileError(f"{path}: not a valid EC private key ({e})") from None


def write_identity(journal_dir: Path, journal_id: str, vk: VerifyingKey) -> Path:
    """(Re)write ``identity.json``: the public half, meant to be copied to other media."""
    path = journal_dir / IDENTITY_FILE
    doc = {
        "format": IDENTITY_FORMAT,
        "journal_id": journal_id,
        "curve": "NIST256p",
        "public_key_pem": vk.to_pem().decode("ascii"),
        "fingerprint": public_key_fingerprint(vk),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "note": "Keep a copy of this file away from this computer; "
        "verify with: vigil journal verify --pubkey <copy>",
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)
    return path


def load_identity(path: str | os.PathLike[str]) -> Identity:
    """Read a pinned identity: an ``identity.json`` or a bare public-key PEM file."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError(f"{p}: cannot read the pinned public key ({e})") from None
    journal_id: str | None = None
    pem = text
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise KeyFileError(f"{p}: the identity file is corrupt (not valid JSON: {e.msg} at "
                               f"line {e.lineno} column {e.colno})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("public_key_pem"), str) \
                or not isinstance(doc.get("journal_id"), str):
            raise KeyFileError(f"{p}: the identity file is corrupt (a Vigil identity file holds "
                               "the strings journal_id and public_key_pem)")
        pem = doc["public_key_pem"]
        journal_id = doc["journal_id"]
    try:
        vk = VerifyingKey.from_pem(pem, hashfunc=hashlib.sha256)
    except Exception as e:  # ecdsa raises several unrelated types for bad PEM
        raise KeyFileError(f"{p}: not a valid EC public key ({e})") from None
    if vk.curve != NIST256p:
        raise KeyFileError(f"{p}: public key is on {vk.curve.name}, the journal uses NIST P-256")
    return Identity(journal_id=journal_id, public_key=vk, source=str(p))

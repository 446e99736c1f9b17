"""Saving and loading trained detector models without pickle, checked against the journal.

One model is one ``.npz`` file: the detector's numeric arrays plus a ``__meta__`` entry holding
UTF-8 JSON (detector, tags, threshold, parameters, training window). It is read back with
``allow_pickle=False``, so a hostile file can at worst fail to load; it cannot run code.

The file's SHA-256 is journaled when the model is trained (``model.trained``). Loading hashes the
exact bytes it is about to parse and refuses a model whose hash the journal does not vouch for,
so a swapped or edited model file is caught before it can silence (or invent) alarms.

In a data folder encrypted at rest (`app.core.atrest`: ``models/`` sits in the data folder,
which holds ``atrest.json``) the file on disk is sealed (AES-GCM under the folder's key); the
hash the journal keeps is the plain model's, checked after it is opened, so sealing a model an
older Vigil left plain does not break its provenance.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core import atrest
from app.core.errors import VigilError
from app.core.ports.detector import DetectorState

MODEL_FORMAT = "vigil-detector-model"
MODEL_FORMAT_VERSION = 1
MODEL_SUFFIX = ".npz"
_META_KEY = "__meta__"
_ARRAY_PREFIX = "a_"


class ModelError(VigilError):
    """A model file cannot be used: unreadable, malformed, or not vouched for by the journal."""


class ModelRefused(ModelError):
    """The model file's SHA-256 is not recorded by any ``model.trained`` journal event."""


@dataclass(frozen=True)
class LoadedModel:
    state: DetectorState
    sha256: str
    meta: dict[str, Any]
    path: Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_model(state: DetectorState, extra: dict[str, Any] | None = None) -> bytes:
    """The bytes of a model file. Refuses object arrays: they would need pickle to read back."""
    for key, arr in state.arrays.items():
        a = np.asarray(arr)
        if a.dtype.kind not in "biuf":
            raise ModelError(f"array {key!r} has dtype {a.dtype}; only bool/int/float arrays can be saved")
    meta = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "detector": state.detector,
        "tags": list(state.tags),
        "threshold": float(state.threshold),
        "params": state.params,
        **(extra or {}),
    }
    try:
        meta_bytes = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ModelError(f"model parameters are not JSON-serialisable: {e}") from None
    buf = io.BytesIO()
    arrays = {f"{_ARRAY_PREFIX}{k}": np.asarray(v) for k, v in state.arrays.items()}
    arrays[_META_KEY] = np.frombuffer(meta_bytes, dtype=np.uint8)
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub maps ** onto allow_pickle
    return buf.getvalue()


def data_folder(path: Path) -> Path:
    """The data folder of a model file: models live in ``<data folder>/models``."""
    return Path(path).resolve().parent.parent


def save_model(state: DetectorState, path: Path, extra: dict[str, Any] | None = None) -> str:
    """Write the model atomically (temp file + rename), sealed when its data folder is encrypted,
    and return the SHA-256 of the plain model (what the journal records)."""
    data = encode_model(state, extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atrest.write_private_file(path, data, data_folder(path))
    except atrest.AtRestError as e:
        raise ModelError(f"{path}: not saved: {e}") from None
    return sha256_bytes(data)


def read_model_bytes(path: Path) -> bytes:
    """The plain bytes of a model file, opened with its data folder's key when sealed. Raises
    `ModelError` naming the file (a missing key changes nothing on disk)."""
    path = Path(path)
    try:
        return atrest.read_private_file(path, data_folder(path))
    except OSError as e:
        raise ModelError(f"{path}: cannot read model file ({e.strerror or e})") from None
    except atrest.AtRestError as e:
        raise ModelError(f"{path}: refused: the encrypted model cannot be opened: {e}") from None


def decode_model(data: bytes, source: str) -> tuple[DetectorState, dict[str, Any]]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = json.loads(bytes(npz[_META_KEY]).decode("utf-8"))
            arrays = {k[len(_ARRAY_PREFIX):]: npz[k] for k in npz.files if k.startswith(_ARRAY_PREFIX)}
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, UnicodeDecodeError) as e:
        raise ModelError(f"{source}: not a readable model file ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise ModelError(f"{source}: not a Vigil detector model (format field missing or wrong)")
    if meta.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelError(f"{source}: model format version {meta.get('format_version')!r} is not "
                         f"supported (expected {MODEL_FORMAT_VERSION})")
    try:
        state = DetectorState(detector=str(meta["detector"]), tags=[str(t) for t in meta["tags"]],
                              threshold=float(meta["threshold"]), params=dict(meta["params"]),
                              arrays=arrays)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{source}: model metadata incomplete ({type(e).__name__}: {e})") from None
    return state, meta


def load_model(path: Path, vouches: Callable[[str], bool]) -> LoadedModel:
    """Read, hash, check the hash with ``vouches`` (the journal), then parse. Raises
    `ModelRefused` / `ModelError` with the file named; never returns an unvouched model."""
    path = Path(path)
    data = read_model_bytes(path)
    digest = sha256_bytes(data)
    if not vouches(digest):
        raise ModelRefused(
            f"{path}: refused: its SHA-256 {digest[:16]}... is not recorded by any model.trained "
            "event in the journal (the file was changed, replaced, or trained elsewhere). "
            "Retrain the model here with 'vigil detect train' or restore the original file."
        )
    state, meta = decode_model(data, str(path))
    return LoadedModel(state=state, sha256=digest, meta=meta, path=path)

"""The station's stores are encrypted at rest by default (`app.core.atrest`).

At every start, before the historian and the alarm store are opened: the data folder gets its
key (made on the first start), and a store an older Vigil left plain is turned into an
encrypted one in place, and so is a model file (``models/*.npz``, sealed with AES-GCM; its
journaled SHA-256 is the plain model's and stays valid). All are journaled, as is the place
of the key (never the key). A key that cannot be found stops the start with a message naming
where it was looked for; the encrypted stores are then left exactly as they were.
"""

from __future__ import annotations

from pathlib import Path

from app.core import atrest
from app.core.journal import Journal

#: the stores that hold patient and plant values
ENCRYPTED_STORES = ("historian.sqlite", "alarms.sqlite")
#: trained detector models (learnt from those values), sealed whole
MODEL_FILES = "models/*.npz"


def encrypt_stores(data_dir: Path, journal: Journal) -> atrest.DataKey:
    stores = [data_dir / name for name in ENCRYPTED_STORES]
    had_key = (data_dir / atrest.MARKER).exists()
    key = atrest.enable(data_dir)
    if not had_key:
        journal.append(
            "atrest.enabled", "system",
            {"cipher": atrest.CIPHER, "key_id": key.key_id, "key_store": key.store, "key_where": key.where},
            critical=True,
        )
    for path in stores:
        if atrest.migrate(path, key):
            journal.append(
                "atrest.migrated", "system", {"path": str(path), "key_id": key.key_id}, critical=True)
    for path in sorted(data_dir.glob(MODEL_FILES)):
        if atrest.seal_in_place(path, key):
            journal.append("atrest.migrated", "system",
                           {"path": str(path), "key_id": key.key_id, "sealed": "aes-256-gcm"}, critical=True)
    return key

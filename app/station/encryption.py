"""The station's stores are encrypted at rest by default (`app.core.atrest`).

At every start, before the historian and the alarm store are opened: the data folder gets its
key (made on the first start), and a store an older Vigil left plain is turned into an
encrypted one in place. Both are journaled, as is the place of the key (never the key). A key
that cannot be found stops the start with a message naming where it was looked for; the
encrypted stores are then left exactly as they were.
"""

from __future__ import annotations

from pathlib import Path

from app.core import atrest
from app.core.journal import Journal

#: the stores that hold patient and plant values
ENCRYPTED_STORES = ("historian.sqlite", "alarms.sqlite")


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
    return key

"""The historian: every sample in SQLite, trend queries with min/max downsampling, CSV export.

``Historian`` is what the core runs (sink + writer thread + queries); ``HistorianReader`` reads a
historian file on its own (the CLI uses it, and never creates or changes the database).
"""

from app.core.historian.export import export_csv, iso_utc
from app.core.historian.reader import HistorianReader, Series, TagInfo
from app.core.historian.schema import HistorianError
from app.core.historian.store import Historian, HistorianStats

__all__ = [
    "Historian",
    "HistorianError",
    "HistorianReader",
    "HistorianStats",
    "Series",
    "TagInfo",
    "export_csv",
    "iso_utc",
]

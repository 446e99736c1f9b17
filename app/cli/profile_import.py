"""``vigil profile import MAP.csv --id ID --vendor V --model M --addressing CONV [--out FILE]``.

Vendors publish register maps as tables; engineers keep them as spreadsheets. This turns such a
table (saved as CSV) into a profile, with the address convention stated on the command line
because a bare "40001" or "1" means different registers under different conventions and a
guessed convention silently reads the wrong register.

Columns (header row, any order, case-insensitive; only ``name``, ``address`` and, for register
tables, ``type`` are required):

    name, description, unit, table, address, type, count, bit, byte_order, word_order,
    scale, offset, access, min, max, lolo, lo, hi, hihi

Conventions (``--addressing``):

- ``0-based``: ``address`` is the protocol address (0 = first register);
- ``1-based``: ``address`` counts from 1 as many manuals do (1 = protocol 0);
- ``modicon``: five- or six-digit reference numbers whose first digit names the table
  (0xxxx coil, 1xxxx discrete input, 3xxxx input register, 4xxxx holding register; 40001 or
  400001 = holding protocol 0). ``table`` may then be left empty; if given it must agree.

The whole file is checked before anything is written: any bad row is named by its row number,
file line and column, and no file is written.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from app.cli.profile_writer import ScalarValue, checked_profile, profile_toml, write_atomically
from app.core.errors import ConfigError
from app.core.profiles import PROFILE_ID, DataType, Point, Table

COLUMNS = (
    "name",
    "description",
    "unit",
    "table",
    "address",
    "type",
    "count",
    "bit",
    "byte_order",
    "word_order",
    "scale",
    "offset",
    "access",
    "min",
    "max",
    "lolo",
    "lo",
    "hi",
    "hihi",
)
_NUMBER_COLUMNS = ("scale", "offset", "min", "max", "lolo", "lo", "hi", "hihi")
_INT_COLUMNS = ("count", "bit")
ADDRESSING = ("0-based", "1-based", "modicon")
_MODICON_TABLE = {"0": Table.COIL, "1": Table.DISCRETE, "3": Table.INPUT, "4": Table.HOLDING}
#: spellings people use in spreadsheets for the four tables
_TABLE_ALIASES = {
    "coil": Table.COIL,
    "coils": Table.COIL,
    "discrete": Table.DISCRETE,
    "discrete input": Table.DISCRETE,
    "discrete_input": Table.DISCRETE,
    "holding": Table.HOLDING,
    "holding register": Table.HOLDING,
    "holding_register": Table.HOLDING,
    "input": Table.INPUT,
    "input register": Table.INPUT,
    "input_register": Table.INPUT,
}
MAX_ROWS = 10_000


class ImportRefused(Exception):
    """The map cannot be imported; ``problems`` name row, line and column."""

    def __init__(self, source: str, problems: list[str]):
        super().__init__(
            f"{source}: refused ({len(problems)} problem(s))\n" + "\n".join(f"  - {p}" for p in problems)
        )
        self.source = source
        self.problems = problems


@dataclass
class _Row:
    number: int  # data row, 1 = first row under the header
    line: int  # line in the file
    cells: dict[str, str]
    point: dict[str, ScalarValue] = field(default_factory=dict)

    def where(self, column: str | None = None) -> str:
        col = f", column '{column}'" if column else ""
        return f"row {self.number} (line {self.line}){col}"


def protocol_address(text: str, addressing: str) -> tuple[int, Table | None]:
    """The 0-based protocol address (and the table, for modicon numbers) of an address cell.

    Raises ValueError with a message fit to follow "column 'address': ".
    """
    s = text.strip()
    if addressing == "modicon":
        if not s.isdigit() or len(s) not in (5, 6):
            raise ValueError(f"'{s}' is not a modicon reference (5 or 6 digits such as 40001 or 300001)")
        table = _MODICON_TABLE.get(s[0])
        if table is None:
            raise ValueError(f"'{s}': a modicon reference starts with 0, 1, 3 or 4, not {s[0]}")
        offset = int(s[1:])
        if offset < 1:
            raise ValueError(f"'{s}': modicon references count from {s[0]}{'0' * (len(s) - 2)}1")
        address = offset - 1
        if address > 65535:
            raise ValueError(f"'{s}' is beyond the last register (65535)")
        return address, table
    try:
        n = int(s, 0) if s.lower().startswith("0x") else int(s)
    except ValueError:
        raise ValueError(f"'{s}' is not a whole number") from None
    if addressing == "1-based":
        if n < 1:
            raise ValueError(f"{n} is below 1 (--addressing 1-based counts from 1)")
        n -= 1
    if not 0 <= n <= 65535:
        raise ValueError(f"{n} is outside 0-65535")
    return n, None


def _read_rows(data: bytes, source: str) -> list[_Row]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ImportRefused(
            source, [f"not UTF-8 text (byte {e.start}); save the spreadsheet as CSV UTF-8"]
        ) from None
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused(source, ["the file is empty (expected a header row)"]) from None
    except csv.Error as e:
        raise ImportRefused(source, [f"line 1: {e}"]) from None
    columns = [h.strip().lower().replace(" ", "_") for h in header]
    problems = [
        f"line 1, column '{h}': unknown column (known: {', '.join(COLUMNS)})"
        for h in columns
        if h not in COLUMNS
    ]
    seen = set()
    for h in columns:
        if h in seen:
            problems.append(f"line 1, column '{h}': appears twice")
        seen.add(h)
    for required in ("name", "address"):
        if required not in columns:
            problems.append(f"line 1: the required column '{required}' is missing")
    if problems:
        raise ImportRefused(source, problems)
    rows: list[_Row] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank lines between sections of a spreadsheet
            number = len(rows) + 1
            if number > MAX_ROWS:
                raise ImportRefused(source, [f"more than {MAX_ROWS} rows: not a device register map"])
            if len(cells) > len(columns):
                extra = [c for c in cells[len(columns) :] if c.strip()]
                if extra:
                    problems.append(
                        f"row {number} (line {reader.line_num}): {len(cells)} cells, "
                        f"the header has {len(columns)}"
                    )
            row = dict(zip(columns, (c.strip() for c in cells), strict=False))
            rows.append(_Row(number, reader.line_num, row))
    except csv.Error as e:
        raise ImportRefused(source, [f"line {reader.line_num}: {e}"]) from None
    if problems:
        raise ImportRefused(source, problems)
    if not rows:
        raise ImportRefused(source, ["no rows under the header"])
    return rows


def _convert(row: _Row, addressing: str, problems: list[str]) -> None:
    """Fill ``row.point`` from its cells, adding a problem for every bad cell."""
    c = row.cells
    p = row.point
    bad = len(problems)
    name = c.get("name", "")
    if not name:
        problems.append(f"{row.where('name')}: empty")
    p["name"] = name
    if c.get("description"):
        p["description"] = c["description"]
    if c.get("unit"):
        p["unit"] = c["unit"]
    table: Table | None = None
    if c.get("table"):
        table = _TABLE_ALIASES.get(c["table"].strip().lower())
        if table is None:
            problems.append(
                f"{row.where('table')}: unknown table '{c['table']}' (coil, discrete, holding, input)"
            )
    try:
        address, implied = protocol_address(c.get("address", ""), addressing)
    except ValueError as e:
        problems.append(f"{row.where('address')}: {e}")
        address, implied = 0, None
    if implied is not None:
        if table is not None and table is not implied:
            problems.append(
                f"{row.where('table')}: '{c['table']}' disagrees with the modicon address "
                f"{c['address']} ({implied.value})"
            )
        table = implied
    if table is None and len(problems) == bad:
        problems.append(f"{row.where('table')}: empty (needed unless --addressing modicon)")
    if table is not None:
        p["table"] = table.value
    p["address"] = address
    type_text = c.get("type", "").strip().lower()
    if not type_text and table is not None and table.is_bit_table:
        type_text = "bool"
    if not type_text:
        problems.append(
            f"{row.where('type')}: empty ({', '.join(t.value for t in DataType)})"
        )
    elif type_text not in {t.value for t in DataType}:
        problems.append(f"{row.where('type')}: unknown type '{c['type']}'")
    else:
        p["type"] = type_text
    for col in _INT_COLUMNS:
        if c.get(col):
            try:
                p[col] = int(c[col])
            except ValueError:
                problems.append(f"{row.where(col)}: '{c[col]}' is not a whole number")
    for col in _NUMBER_COLUMNS:
        if c.get(col):
            try:
                value = float(
                    c[col].replace(",", ".") if c[col].count(",") == 1 and "." not in c[col] else c[col]
                )
            except ValueError:
                problems.append(f"{row.where(col)}: '{c[col]}' is not a number")
                continue
            if value != value or value in (float("inf"), float("-inf")):
                problems.append(f"{row.where(col)}: '{c[col]}' is not a finite number")
                continue
            p[col] = value
    for col in ("byte_order", "word_order"):
        if c.get(col):
            v = c[col].strip().lower()
            if v not in ("big", "little"):
                problems.append(f"{row.where(col)}: '{c[col]}' must be big or little")
            else:
                p[col] = v
    if c.get("access"):
        v = c["access"].strip().lower()
        v = {"read": "r", "ro": "r", "r/w": "rw", "read/write": "rw", "write": "rw"}.get(v, v)
        if v not in ("r", "rw"):
            problems.append(f"{row.where('access')}: '{c['access']}' must be r or rw")
        else:
            p["access"] = v
    if len(problems) == bad:
        try:
            Point.model_validate(p)
        except ValidationError as e:
            for err in e.errors():
                where_col: str | None = ".".join(str(x) for x in err["loc"]) or None
                msg = str(err["msg"]).removeprefix("Value error, ")
                if where_col == "name":
                    msg = "must be a letter or '_' followed by letters, digits or '_'"
                problems.append(f"{row.where(where_col)}: {msg}")


def import_map(
    data: bytes,
    source: str,
    *,
    profile_id: str,
    vendor: str,
    model: str,
    addressing: str,
    description: str = "",
    document: str = "",
) -> str:
    """Profile TOML for the register map in ``data`` (CSV bytes); raises ImportRefused."""
    if addressing not in ADDRESSING:
        raise ImportRefused(source, [f"unknown --addressing '{addressing}' ({', '.join(ADDRESSING)})"])
    rows = _read_rows(data, source)
    problems: list[str] = []
    for row in rows:
        _convert(row, addressing, problems)
    first: dict[str, _Row] = {}
    for row in rows:
        name = str(row.point.get("name", ""))
        if name and name in first:
            problems.append(f"{row.where('name')}: '{name}' already used by {first[name].where()}")
        first.setdefault(name, row)
    if problems:
        raise ImportRefused(source, problems)
    device: dict[str, ScalarValue] = {"id": profile_id, "vendor": vendor, "model": model}
    if description:
        device["description"] = description
    device["source"] = document or f"imported from {Path(source).name}"
    device["zero_based"] = True
    header = (
        f"Imported by `vigil profile import` from {Path(source).name} (--addressing {addressing}).\n"
        "Addresses below are protocol addresses (0-based), whatever the spreadsheet used."
    )
    text = profile_toml(device, [r.point for r in rows], header)
    try:
        checked_profile(text, source)
    except ConfigError as e:
        raise ImportRefused(source, [_row_of(p, rows) for p in e.problems]) from None
    return text


def _row_of(problem: str, rows: list[_Row]) -> str:
    """Say which spreadsheet row a loader problem ('point 'x' (points[3]), ...') is about."""
    marker = "(points["
    i = problem.find(marker)
    if i >= 0:
        j = problem.find("]", i)
        try:
            idx = int(problem[i + len(marker) : j])
            return f"{rows[idx].where()}: {problem}"
        except (ValueError, IndexError):
            pass
    return problem


def register_import(psub: argparse._SubParsersAction) -> None:
    im = psub.add_parser(
        "import",
        help="turn a register map spreadsheet (CSV) into a profile",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    im.add_argument("csv", metavar="MAP.csv")
    im.add_argument("--id", required=True, dest="profile_id", help="profile id, e.g. acme-lt200")
    im.add_argument("--vendor", required=True)
    im.add_argument("--model", required=True)
    im.add_argument(
        "--addressing",
        required=True,
        choices=ADDRESSING,
        help="how the address column counts: protocol 0-based, 1-based, or modicon 3xxxx/4xxxx",
    )
    im.add_argument("--description", default="")
    im.add_argument("--source", default="", help="the document the map comes from (name and version)")
    im.add_argument("--out", type=Path, help="write the profile here (default: print it)")
    im.add_argument("--force", action="store_true", help="replace --out if it exists")
    im.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    if not re.match(PROFILE_ID, args.profile_id) or args.profile_id.endswith(".toml"):
        print(
            f"vigil profile import: --id '{args.profile_id}': letters, digits, '_', '-', '.' only",
            file=sys.stderr,
        )
        return 2
    src = Path(args.csv)
    try:
        data = src.read_bytes()
    except OSError as e:
        print(f"vigil profile import: cannot read {src}: {e.strerror or e}", file=sys.stderr)
        return 2
    if args.out is not None and args.out.exists() and not args.force:
        print(f"vigil profile import: {args.out} exists (use --force to replace it)", file=sys.stderr)
        return 2
    try:
        text = import_map(
            data,
            str(src),
            profile_id=args.profile_id,
            vendor=args.vendor,
            model=args.model,
            addressing=args.addressing,
            description=args.description,
            document=args.source,
        )
    except ImportRefused as e:
        print(str(e), file=sys.stderr)
        print("nothing was written", file=sys.stderr)
        return 1
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        write_atomically(args.out, text)
    except OSError as e:
        print(f"vigil profile import: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    rows = text.count("[[points]]")
    print(f"{args.out}: {rows} points, profile '{args.profile_id}'", file=sys.stderr)
    return 0


__all__ = ["ADDRESSING", "COLUMNS", "ImportRefused", "import_map", "protocol_address", "register_import"]

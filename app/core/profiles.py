"""Device profiles: a device type's register map, as data (TOML), validated whole on load.

A profile is either accepted completely or refused with every problem listed, each naming the
file, the point (by name and index) and the field. Nothing is half-loaded. The JSON Schema in
``device_profiles/profile.schema.json`` is generated from these models (``vigil profile schema``)
so editors can validate as you type.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.core.errors import ConfigError
from app.core.tomlfile import parse_toml, read_config_file

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
_IDENT_RE = re.compile(IDENT)
#: profile ids name products, so they may also hold hyphens and dots (``eastron-sdm120``,
#: ``acme.lt-200``); they still start with a letter or digit and never end in ``.toml``
#: (a plant file's ``profile`` ending in ``.toml`` is read as a path)
PROFILE_ID = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
#: a scan class polls at its multiple of the device's interval: below 0.1 a profile could make
#: a device be polled ten times faster than its plant file allows; above a day it is a typo
SCAN_MULTIPLE_MIN = 0.1
SCAN_MULTIPLE_MAX = 86_400.0
#: on- and off-delays beyond a day are typos (an alarm that can never be raised in a shift)
MAX_DELAY_S = 86_400.0


class Table(StrEnum):
    COIL = "coil"
    DISCRETE = "discrete"
    HOLDING = "holding"
    INPUT = "input"

    @property
    def is_bit_table(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE)

    @property
    def writable(self) -> bool:
        return self in (Table.COIL, Table.HOLDING)


class DataType(StrEnum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"


#: registers occupied by each fixed-size type (strings use ``count``; bool uses one register
#: when it is a bit inside a holding/input register)
REGISTER_WIDTH: dict[DataType, int] = {
    DataType.BOOL: 1,
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
    DataType.FLOAT32: 2,
    DataType.FLOAT64: 4,
}

Order = Literal["big", "little"]
#: what a library profile describes (``[device] kind``), shown by ``vigil profile list``
DeviceKind = Literal[
    "energy_meter",
    "vfd",
    "pv_inverter",
    "battery",
    "temperature_controller",
    "remote_io",
    "flow_meter",
    "level_transmitter",
    "pressure_transmitter",
    "plc",
    "other",
]
Priority = Literal["low", "medium", "high", "urgent"]


class _Strict(BaseModel):
    # NaN and infinity pass every range check and break every comparison: refused everywhere
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )


class DeviceInfo(_Strict):
    """The ``[device]`` table: identity and how the device lays out its registers."""

    id: str = Field(
        pattern=PROFILE_ID,
        description="Profile id, referenced from plant files (letters, digits, '_', '-', '.')",
    )
    vendor: str = ""
    model: str = ""
    description: str = ""
    source: str = Field("", description="The published document this register map comes from")
    byte_order: Order = Field("big", description="Byte order inside each 16-bit register")
    word_order: Order = Field("big", description="Register order for 32/64-bit values")
    zero_based: bool = Field(
        True, description="true: addresses are protocol addresses (0-based); false: 1-based"
    )
    max_registers_per_read: int = Field(125, ge=1, le=125)
    max_bits_per_read: int = Field(2000, ge=1, le=2000)
    max_gap: int = Field(
        8, ge=0, le=124, description="Unused registers a block read may span to merge neighbours"
    )
    scan_classes: dict[str, float] = Field(
        default_factory=lambda: {"fast": 1.0, "normal": 1.0, "slow": 10.0},
        description="Scan class name -> multiple of the device's poll interval",
    )
    alarm_signals: Literal["plant", "medical"] = Field(
        "plant", description="medical: IEC 60601-1-8 alarm signals (bedside devices); plant: ISA-18.2"
    )
    # -- library metadata (optional): what the product is and how the map was checked --------
    kind: DeviceKind | None = Field(
        None, description="What the product is, for `vigil profile list` (e.g. 'energy_meter')"
    )
    cross_check: str = Field(
        "",
        description="How the addresses were checked: the independent open-source implementation "
        "or published template they were compared with (repository and file)",
    )

    @model_validator(mode="after")
    def _id_is_not_a_path(self) -> DeviceInfo:
        if self.id.endswith(".toml"):
            raise ValueError("field 'id': must not end in '.toml' (plant files would read it as a path)")
        for name, multiple in self.scan_classes.items():
            if not SCAN_MULTIPLE_MIN <= multiple <= SCAN_MULTIPLE_MAX:
                raise ValueError(
                    f"field 'scan_classes.{name}': {multiple:g} is not a usable multiple of the "
                    f"poll interval (between {SCAN_MULTIPLE_MIN:g} and {SCAN_MULTIPLE_MAX:g})"
                )
        return self


class Point(_Strict):
    """One ``[[points]]`` entry: a named value at an address, with its engineering metadata."""

    name: str = Field(pattern=IDENT)
    description: str = ""
    unit: str = ""
    table: Table
    address: int = Field(ge=0, le=65535)
    type: DataType
    count: int | None = Field(None, ge=1, le=123, description="Registers, for strings")
    bit: int | None = Field(None, ge=0, le=15, description="Bit inside a 16-bit register")
    byte_order: Order | None = None
    word_order: Order | None = None
    scale: float = 1.0
    offset: float = 0.0
    access: Literal["r", "rw"] = "r"
    min: float | None = Field(None, description="Lowest value a write may set (engineering units)")
    max: float | None = Field(None, description="Highest value a write may set")
    lolo: float | None = None
    lo: float | None = None
    hi: float | None = None
    hihi: float | None = None
    range: tuple[float, float] | None = Field(
        None,
        description="Engineering range [lowest, highest] for indicators and trend axes; "
        "without it the range comes from the write and alarm limits",
    )
    deadband: float = Field(0.0, ge=0)
    on_delay_s: float = Field(0.0, ge=0, le=MAX_DELAY_S)
    priority: Priority | None = Field(None, description="Overrides the default alarm priority")
    alarm_state: bool | None = Field(None, description="For bool points: the abnormal state")
    scan: str = "normal"
    off_delay_s: float = Field(
        0.0, ge=0, le=MAX_DELAY_S,
        description="Its alarms clear only after the condition has been gone this long"
    )
    feedback: str | None = Field(
        None, pattern=IDENT,
        description="Writable points: the point showing whether the process follows (a valve's position)",
    )
    feedback_tolerance: float | None = Field(
        None, gt=0, description="How far the feedback may differ from the setpoint (engineering units)"
    )
    feedback_time_s: float = Field(
        15.0, gt=0, le=MAX_DELAY_S,
        description="How long the feedback may take to follow before a deviation alarm"
    )

    @model_validator(mode="after")
    def _coherent(self) -> Point:
        if self.table.is_bit_table and self.type is not DataType.BOOL:
            raise ValueError(f"table '{self.table}' holds single bits: type must be 'bool'")
        if self.table.is_bit_table and self.bit is not None:
            raise ValueError("'bit' is only for bools inside holding/input registers")
        if self.type is DataType.STRING and self.count is None:
            raise ValueError("type 'string' needs 'count' (number of registers)")
        if self.type is not DataType.STRING and self.count is not None:
            raise ValueError("'count' is only for type 'string'")
        if self.type is DataType.BOOL and not self.table.is_bit_table and self.bit is None:
            raise ValueError("a bool in a register table needs 'bit' (0-15)")
        if self.bit is not None and self.type is not DataType.BOOL:
            raise ValueError("'bit' is only for type 'bool'")
        if self.access == "rw" and not self.table.writable:
            raise ValueError(f"access 'rw' is impossible on table '{self.table}' (read-only)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("'min' is greater than 'max'")
        if self.scale == 0:
            raise ValueError("'scale' must not be 0")
        limits = [self.lolo, self.lo, self.hi, self.hihi]
        present = [v for v in limits if v is not None]
        if present != sorted(present):
            raise ValueError("alarm limits must satisfy lolo <= lo <= hi <= hihi")
        if present and self.type in (DataType.STRING, DataType.BOOL):
            raise ValueError("analog alarm limits need a numeric type")
        if self.alarm_state is not None and self.type is not DataType.BOOL:
            raise ValueError("'alarm_state' is only for bool points")
        if self.range is not None:
            if self.type in (DataType.STRING, DataType.BOOL):
                raise ValueError("'range' needs a numeric type")
            if not self.range[0] < self.range[1]:
                raise ValueError("'range' must be [lowest, highest] with lowest < highest")
        return self

    @property
    def width(self) -> int:
        """Registers (or bits, for coil/discrete tables) this point occupies."""
        if self.table.is_bit_table:
            return 1
        if self.type is DataType.STRING:
            assert self.count is not None
            return self.count
        return REGISTER_WIDTH[self.type]

    @property
    def writable(self) -> bool:
        return self.access == "rw"

    @property
    def has_limits(self) -> bool:
        return any(v is not None for v in (self.lolo, self.lo, self.hi, self.hihi))

    @property
    def engineering_range(self) -> tuple[float, float] | None:
        """The span an indicator or a trend axis shows for this point, fixed, never autoscaled.

        An explicit ``range`` wins. Otherwise it is derived from the marks the profile already
        has (write limits and alarm limits), padded by a tenth of their span on each side so a
        limit never sits on the frame; with only upper marks the range starts at 0 (a level,
        a flow, a temperature above freezing). ``None`` when there is nothing to go on: the
        caller autoscales and says so.
        """
        if self.range is not None:
            return self.range
        if self.type in (DataType.STRING, DataType.BOOL):
            return None
        upper = [v for v in (self.max, self.hi, self.hihi) if v is not None]
        lower = [v for v in (self.min, self.lo, self.lolo) if v is not None]
        marks = upper + lower
        if not marks:
            return None
        low, high = min(marks), max(marks)
        if not lower and low > 0:
            low = 0.0
        if high <= low:
            return None
        pad = (high - low) / 10
        return (low - pad if lower else low, high + pad)


class Profile(_Strict):
    """A whole device profile. ``points`` are in file order; ``address`` is always 0-based here."""

    device: DeviceInfo
    points: list[Point] = Field(min_length=1)
    #: where it was loaded from and the SHA-256 of the bytes, for the journal
    path: str | None = None
    sha256: str | None = None

    @model_validator(mode="after")
    def _unique_and_scan(self) -> Profile:
        seen: dict[str, int] = {}
        for i, p in enumerate(self.points):
            if p.name in seen:
                raise ValueError(
                    f"points[{i}] '{p.name}': duplicate name (first at points[{seen[p.name]}])"
                )
            seen[p.name] = i
            if p.scan not in self.device.scan_classes:
                raise ValueError(
                    f"points[{i}] '{p.name}': field 'scan': unknown scan class '{p.scan}' "
                    f"(known: {', '.join(sorted(self.device.scan_classes))})"
                )
            end = p.address + p.width
            if end > 65536:
                raise ValueError(f"points[{i}] '{p.name}': field 'address': runs past 65535")
        for i, p in enumerate(self.points):
            if p.feedback is None:
                continue
            fb = next((q for q in self.points if q.name == p.feedback), None)
            if fb is None or fb is p:
                raise ValueError(
                    f"points[{i}] '{p.name}': field 'feedback': no other point named '{p.feedback}'"
                )
            if p.type in (DataType.STRING, DataType.BOOL) or fb.type in (DataType.STRING, DataType.BOOL):
                raise ValueError(f"points[{i}] '{p.name}': field 'feedback': needs numeric points")
        return self

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)

    def byte_order(self, p: Point) -> str:
        return p.byte_order or self.device.byte_order

    def word_order(self, p: Point) -> str:
        return p.word_order or self.device.word_order


def _describe_loc(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """Turn a pydantic error location into 'point 'flow' (points[3]), field 'type''."""
    if len(loc) >= 2 and loc[0] == "points" and isinstance(loc[1], int):
        idx = loc[1]
        name = "?"
        pts = raw.get("points")
        if isinstance(pts, list) and idx < len(pts) and isinstance(pts[idx], dict):
            name = str(pts[idx].get("name", "?"))
        rest = ".".join(str(x) for x in loc[2:] if not str(x).startswith("function-"))
        field = f", field '{rest}'" if rest else ""
        return f"point '{name}' (points[{idx}]){field}"
    return _field(loc)


def _field(loc: tuple[Any, ...]) -> str:
    """``field 'a.b'``; empty for a whole-file check, whose message names its point itself."""
    path = ".".join(str(x) for x in loc if not str(x).startswith("function-"))
    return f"field '{path}'" if path else ""


def format_validation_error(exc: ValidationError, raw: dict[str, Any]) -> list[str]:
    problems = []
    for err in exc.errors():
        where = _describe_loc(tuple(err["loc"]), raw)
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (typo?)"
        problems.append(f"{where}: {msg}" if where else msg)
    return problems


def _normalise_addresses(raw: dict[str, Any]) -> dict[str, Any]:
    """Convert 1-based addresses to 0-based so everything downstream speaks protocol addresses."""
    dev = raw.get("device")
    if isinstance(dev, dict) and dev.get("zero_based") is False:
        pts = raw.get("points")
        if isinstance(pts, list):
            fixed = []
            for p in pts:
                if isinstance(p, dict) and isinstance(p.get("address"), int):
                    p = {**p, "address": p["address"] - 1}
                fixed.append(p)
            raw = {**raw, "points": fixed}
    return raw


def parse_profile(data: bytes, source: str) -> Profile:
    """Parse and validate profile bytes. Raises ConfigError naming ``source`` on any fault."""
    raw = parse_toml(data, source)
    if not isinstance(raw.get("device"), dict):
        raise ConfigError(source, ["missing [device] table"])
    dev = raw["device"]
    if dev.get("zero_based") is False:
        for i, p in enumerate(raw.get("points") or []):
            if isinstance(p, dict) and isinstance(p.get("address"), int) and p["address"] < 1:
                raise ConfigError(
                    source,
                    [f"point '{p.get('name', '?')}' (points[{i}]), field 'address': "
                     "must be >= 1 when zero_based = false"],
                )
    norm = _normalise_addresses(raw)
    try:
        prof = Profile.model_validate(
            {**norm, "path": source, "sha256": hashlib.sha256(data).hexdigest()}
        )
    except ValidationError as e:
        raise ConfigError(source, format_validation_error(e, raw)) from None
    return prof


def load_profile(path: str | Path) -> Profile:
    path = Path(path)
    return parse_profile(read_config_file(path), str(path))


def overlap_warnings(profile: Profile) -> list[str]:
    """Points that share registers, as warnings: an alias (one register read as two types) is
    sometimes meant, but more often a typo in an address, so ``vigil profile validate`` says so.
    Bools on different bits of one register do not overlap."""
    warnings: list[str] = []
    by_table: dict[Table, list[tuple[int, Point]]] = {}
    for i, p in enumerate(profile.points):
        by_table.setdefault(p.table, []).append((i, p))
    for entries in by_table.values():
        entries.sort(key=lambda e: (e[1].address, e[0]))
        for a in range(len(entries)):
            i, p = entries[a]
            for b in range(a + 1, len(entries)):
                j, q = entries[b]
                if q.address >= p.address + p.width:
                    break
                if p.bit is not None and q.bit is not None and p.bit != q.bit:
                    continue
                first, second = sorted(((i, p), (j, q)), key=lambda e: e[0])
                warnings.append(
                    f"point '{second[1].name}' (points[{second[0]}]), field 'address': registers "
                    f"{_span(second[1])} overlap point '{first[1].name}' (points[{first[0]}], "
                    f"{_span(first[1])}) in table '{p.table}'"
                )
    return warnings


def _span(p: Point) -> str:
    return str(p.address) if p.width == 1 else f"{p.address}-{p.address + p.width - 1}"


class ProfileLibrary:
    """All known profiles by id: the built-in ``device_profiles/`` plus any added later
    (plugin contributions, a plant file's own folder)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Profile] = {}

    def add(self, profile: Profile) -> None:
        existing = self._by_id.get(profile.device.id)
        if existing is not None and existing.sha256 != profile.sha256:
            raise ConfigError(
                str(profile.path),
                [f"profile id '{profile.device.id}' is already defined by {existing.path}"],
            )
        self._by_id[profile.device.id] = profile

    def add_folder(self, folder: Path) -> list[ConfigError]:
        """Load every ``*.toml`` in ``folder``; broken ones are returned, not raised, so one bad
        file does not hide the good ones."""
        errors: list[ConfigError] = []
        for f in sorted(folder.glob("*.toml")):
            try:
                self.add(load_profile(f))
            except ConfigError as e:
                errors.append(e)
        return errors

    def get(self, profile_id: str) -> Profile | None:
        return self._by_id.get(profile_id)

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def __iter__(self) -> Iterator[Profile]:
        return iter(self._by_id.values())


def is_identifier(s: str) -> bool:
    return bool(_IDENT_RE.match(s))


def json_schema() -> dict[str, Any]:
    """The JSON Schema for profile files (what editors use; the loader is the authority)."""
    schema = Profile.model_json_schema()
    schema["properties"].pop("path", None)
    schema["properties"].pop("sha256", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Vigil device profile"
    return schema

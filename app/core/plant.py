"""The plant file: which devices exist, where they are, and which profile describes each.

```toml
[plant]
name = "Demo plant"

[node]                    # optional, for `vigil node`: trust Sparkplug writes without a
accept_foreign_writes_as = "ignition-gw"   # Vigil session from this host (the broker ACL decides who)

[historian]               # optional: days each resolution is kept (0 = forever)
raw_days = 30
rollup_1m_days = 730      # also rollup_10s_days, rollup_10m_days, rollup_1h_days

[station]                 # optional
disk_alarm_free_mb = 500  # technical alarm when the data folder's disk has less free

[[devices]]
name = "pump1"            # tags are named "pump1.<point>"
profile = "skab_pump"     # a profile id, or a path relative to this file
transport = "tcp"         # tcp | rtu | a plugin driver's transport
host = "127.0.0.1"
port = 5020
unit = 1
interval_ms = 1000
timeout_ms = 1000
reconnect_max_ms = 5000   # reconnect tries back off up to this (with jitter)
enabled = true

[devices.serial]          # transport = "rtu" only
port = "/dev/ttyUSB0"
baudrate = 19200
parity = "N"
stopbits = 1
bytesize = 8
```
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.core.errors import ConfigError
from app.core.ports.driver import LinkConfig, SerialSettings
from app.core.profiles import IDENT, Profile, ProfileLibrary, load_profile
from app.core.tomlfile import parse_toml, read_config_file

#: Modbus unit ids a serial or TCP device answers on: 0 is the RTU broadcast (nobody answers,
#: a write would reach every device on the bus) and 248-255 are reserved
UNIT_MIN, UNIT_MAX = 1, 247
#: the transports that speak Modbus unit ids (a plugin's transport keeps 0-255)
MODBUS_TRANSPORTS = ("tcp", "rtu")
#: the host a device of another transport is given when it names none (a TCP device must)
DEFAULT_HOST = "127.0.0.1"


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )


class SerialConfig(_Strict):
    port: str
    baudrate: int = Field(19200, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class DeviceConfig(_Strict):
    name: str = Field(pattern=IDENT)
    description: str = ""
    profile: str | None = Field(None, description="Profile id or path; optional with device_type")
    device_type: str | None = Field(
        None, description="A plugin device type that discovers the register map (e.g. 'sunspec')"
    )
    transport: str = "tcp"
    host: str = Field(DEFAULT_HOST, min_length=1, description="Required for transport 'tcp'")
    port: int = Field(502, ge=1, le=65535)
    unit: int = Field(1, ge=0, le=255)
    interval_ms: int = Field(1000, ge=10, le=3_600_000)
    timeout_ms: int = Field(1000, ge=10, le=60_000)
    reconnect_max_ms: int = Field(
        5000, ge=100, le=600_000,
        description="Longest wait between reconnect attempts (the wait doubles up to it, with jitter)",
    )
    enabled: bool = True
    serial: SerialConfig | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _transport(self) -> DeviceConfig:
        if self.profile is None and self.device_type is None:
            raise ValueError("needs 'profile' (a profile id or file) or 'device_type'")
        if self.transport == "rtu" and self.serial is None:
            raise ValueError("transport 'rtu' needs a [devices.serial] table with 'port'")
        if self.transport == "tcp" and self.serial is not None:
            raise ValueError("[devices.serial] given but transport is 'tcp'")
        if self.transport == "tcp" and "host" not in self.model_fields_set:
            # never guessed: polling 127.0.0.1 instead of the meter would show a wrong device
            raise ValueError("field 'host': required for transport 'tcp' (the device's address)")
        if self.transport in MODBUS_TRANSPORTS and not UNIT_MIN <= self.unit <= UNIT_MAX:
            raise ValueError(
                f"field 'unit': {self.unit} is not a Modbus device address "
                f"({UNIT_MIN}-{UNIT_MAX}; 0 is the broadcast address, which no device answers)"
            )
        return self

    def link_config(self) -> LinkConfig:
        serial = None
        if self.serial is not None:
            s = self.serial
            serial = SerialSettings(s.port, s.baudrate, s.parity, s.stopbits, s.bytesize)
        return LinkConfig(
            transport=self.transport,
            host=self.host,
            port=self.port,
            serial=serial,
            timeout_s=self.timeout_ms / 1000.0,
            options=dict(self.options),
        )

    def link_key(self) -> tuple[Any, ...]:
        """Devices with the same key share one link (and are polled one after another).

        Serial devices share their bus; each TCP device gets its own connection so a slow
        device never delays a healthy one.
        """
        if self.serial is not None:
            return (self.transport, self.serial.port)
        return (self.transport, self.host, self.port, self.name)


class PlantInfo(_Strict):
    name: str = "Plant"
    description: str = ""


class HistorianSettings(_Strict):
    """``[historian]``: how long each resolution is kept, in days (0 = forever). A coarser
    level is never kept shorter than a finer one (the historian lengthens it)."""

    raw_days: float = Field(default=30.0, ge=0)
    rollup_10s_days: float = Field(default=30.0, ge=0)
    rollup_1m_days: float = Field(default=730.0, ge=0)
    rollup_10m_days: float = Field(default=730.0, ge=0)
    rollup_1h_days: float = Field(default=0.0, ge=0)

    def historian_kwargs(self) -> dict[str, Any]:
        """The retention arguments of ``Historian(...)``."""
        return {
            "retention_days": self.raw_days,
            "rollup_retention_days": {
                10: self.rollup_10s_days,
                60: self.rollup_1m_days,
                600: self.rollup_10m_days,
                3600: self.rollup_1h_days,
            },
        }


class NodeSettings(_Strict):
    """``[node]``: how this plant behaves when served by ``vigil node`` over Sparkplug B.

    ``accept_foreign_writes_as``: a Sparkplug command (DCMD) that carries no Vigil session is
    refused unless this names the foreign host it is trusted from (e.g. "ignition-gw"); such
    writes are then journaled as that host. Who may publish a DCMD at all is decided by the
    broker's ACL, so set this only when the ACL lets that host, and nothing else, command.
    """

    accept_foreign_writes_as: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class StationSettings(_Strict):
    """``[station]``: the workstation's own limits."""

    #: free space (MB) on the data folder's disk below which the technical alarm
    #: ``station.disk:SYSTEM`` is raised, before writes start failing
    disk_alarm_free_mb: float = Field(default=500.0, ge=0, le=10_000_000)


class PlantFile(_Strict):
    plant: PlantInfo = Field(default_factory=PlantInfo)
    historian: HistorianSettings = Field(default_factory=HistorianSettings)
    node: NodeSettings = Field(default_factory=NodeSettings)
    station: StationSettings = Field(default_factory=StationSettings)
    devices: list[DeviceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> PlantFile:
        seen: set[str] = set()
        for i, d in enumerate(self.devices):
            if d.name in seen:
                raise ValueError(f"devices[{i}] '{d.name}': duplicate device name")
            seen.add(d.name)
        return self


class Plant:
    """A validated plant: device configs, each with its resolved profile."""

    def __init__(
        self,
        info: PlantInfo,
        devices: list[DeviceConfig],
        profiles: dict[str, Profile],
        path: str,
        sha256: str,
        historian: HistorianSettings | None = None,
        node: NodeSettings | None = None,
        station: StationSettings | None = None,
    ):
        self.info = info
        self.historian = historian or HistorianSettings()
        self.node = node or NodeSettings()
        self.station = station or StationSettings()
        self.devices = devices
        self.profiles = profiles  # device name -> profile
        self.path = path
        self.sha256 = sha256
        #: accepted, but worth saying (e.g. a TCP device with no ``host``): shown at start
        self.warnings: list[str] = []

    def device(self, name: str) -> DeviceConfig:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)

    def enabled_devices(self) -> list[DeviceConfig]:
        return [d for d in self.devices if d.enabled]

    def tags(self) -> list[str]:
        return [
            f"{d.name}.{p.name}"
            for d in self.enabled_devices()
            if d.name in self.profiles
            for p in self.profiles[d.name].points
        ]

    def pending_discovery(self) -> list[DeviceConfig]:
        """Enabled devices whose register map a device-type plugin must discover first."""
        return [d for d in self.enabled_devices() if d.name not in self.profiles and d.device_type]

    def with_discovered(self, found: dict[str, Profile]) -> Plant:
        """The plant after discovery: discovered profiles added; devices whose discovery failed
        are left out (the core journals and shows why) so nothing downstream sees a device
        without a register map."""
        devices = [d for d in self.devices if d.name in self.profiles or d.name in found]
        plant = Plant(
            self.info, devices, {**self.profiles, **found}, self.path, self.sha256, historian=self.historian,
            node=self.node, station=self.station,
        )
        plant.warnings = list(self.warnings)
        return plant


def _loc(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] == "devices" and isinstance(loc[1], int):
        idx = loc[1]
        devs = raw.get("devices")
        name = "?"
        if isinstance(devs, list) and idx < len(devs) and isinstance(devs[idx], dict):
            name = str(devs[idx].get("name", "?"))
        rest = ".".join(str(x) for x in loc[2:] if not str(x).startswith("function-"))
        return f"device '{name}' (devices[{idx}])" + (f", field '{rest}'" if rest else "")
    path = ".".join(str(x) for x in loc if not str(x).startswith("function-"))
    return f"field '{path}'" if path else ""


def parse_plant(
    data: bytes, source: str, library: ProfileLibrary, base_dir: Path | None = None
) -> Plant:
    """Validate a plant file and resolve every device's profile; refuse the whole file on any
    fault, listing all of them."""
    raw = parse_toml(data, source)
    try:
        pf = PlantFile.model_validate(raw)
    except ValidationError as e:
        refused: list[str] = []
        for err in e.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field (typo?)"
            where = _loc(tuple(err["loc"]), raw)
            refused.append(f"{where}: {msg}" if where else msg)
        raise ConfigError(source, refused) from None
    profiles: dict[str, Profile] = {}
    problems: list[str] = []
    for i, d in enumerate(pf.devices):
        if d.profile is None:
            continue  # a device type discovers it when the core starts
        prof = library.get(d.profile)
        if prof is None and (d.profile.endswith(".toml") or "/" in d.profile):
            p = Path(d.profile)
            if not p.is_absolute() and base_dir is not None:
                p = base_dir / p
            try:
                prof = load_profile(p)
            except ConfigError as e:
                problems.append(
                    f"device '{d.name}' (devices[{i}]), field 'profile': {e}".replace("\n", "\n    ")
                )
                continue
        if prof is None:
            known = ", ".join(library.ids()) or "none"
            problems.append(
                f"device '{d.name}' (devices[{i}]), field 'profile': unknown profile "
                f"'{d.profile}' (known ids: {known})"
            )
            continue
        profiles[d.name] = prof
    if problems:
        raise ConfigError(source, problems)
    plant = Plant(
        pf.plant, list(pf.devices), profiles, source, hashlib.sha256(data).hexdigest(),
        historian=pf.historian, node=pf.node, station=pf.station,
    )
    plant.warnings = _warnings(raw, pf)
    return plant


def _warnings(raw: dict[str, Any], pf: PlantFile) -> list[str]:
    """What the plant file leaves to a default that may not be meant (a TCP device without
    ``host`` is refused by the model, not warned about)."""
    return []


def load_plant(path: str | Path, library: ProfileLibrary) -> Plant:
    path = Path(path)
    return parse_plant(read_config_file(path), str(path), library, base_dir=path.parent)

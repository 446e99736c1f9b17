"""Station values to JSON and back: the same frozen values `LocalStation` hands the window.

Every function pair here is a lossless round trip for what the window uses (tests check them),
so the window cannot tell a remote station's answers from a local one's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from app.core.alarms.types import AlarmState, AlarmView
from app.core.detection import GroupStatus, ModelInfo
from app.core.detection.candidate import Backtest, CandidateReport
from app.core.diagnostics import DeviceDiagnostics
from app.core.historian import Series
from app.core.journal import VerifyResult
from app.core.plant import DeviceConfig, HistorianSettings, Plant, PlantInfo
from app.core.profiles import Profile
from app.core.runtime import WriteResult
from app.core.users import Role, Session
from app.station.interface import ConfigProblem, UserRow

from . import protocol


def _finite(x: Any) -> Any:
    """JSON has no NaN or infinity: they travel as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


# ---------------------------------------------------------------- plant
def plant_to_json(plant: Plant) -> dict[str, Any]:
    return {
        "info": plant.info.model_dump(mode="json"),
        "historian": plant.historian.model_dump(mode="json"),
        "devices": [d.model_dump(mode="json") for d in plant.devices],
        "profiles": {name: p.model_dump(mode="json") for name, p in plant.profiles.items()},
        "path": plant.path,
        "sha256": plant.sha256,
    }


def plant_from_json(d: dict[str, Any]) -> Plant:
    """Validated again on this side: a node cannot hand a station a profile Vigil would refuse."""
    return Plant(
        PlantInfo.model_validate(d["info"]),
        [DeviceConfig.model_validate(x) for x in d["devices"]],
        {name: Profile.model_validate(p) for name, p in d["profiles"].items()},
        str(d.get("path", "")),
        str(d.get("sha256", "")),
        historian=HistorianSettings.model_validate(d.get("historian", {})),
    )


def merge_plants(plants: list[Plant], where: str) -> Plant:
    """One plant tree for the window from every node of the group (device names are unique
    across a group: they are the Sparkplug device ids). Its name says where it comes from
    (``where``: nodes and broker), so a connected window never passes for the plant itself."""
    devices = [d for p in plants for d in p.devices]
    profiles = {k: v for p in plants for k, v in p.profiles.items()}
    names = " + ".join(dict.fromkeys(p.info.name for p in plants))
    info = PlantInfo(name=f"{names} ({where})", description=", ".join(p.info.description for p in plants))
    return Plant(info, devices, profiles, "mqtt", "", historian=plants[0].historian if plants else None)


# ---------------------------------------------------------------- alarms
def alarm_to_json(v: AlarmView) -> dict[str, Any]:
    d = {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
    d["state"] = v.state.value
    return dict(_finite(d))


def alarm_from_json(d: dict[str, Any]) -> AlarmView:
    names = {f.name for f in dataclasses.fields(AlarmView)}
    kw = {k: v for k, v in d.items() if k in names}
    kw["state"] = AlarmState(kw["state"])
    return AlarmView(**kw)


# ---------------------------------------------------------------- accounts
def user_to_json(u: UserRow) -> dict[str, Any]:
    return u._asdict()


def user_from_json(d: dict[str, Any]) -> UserRow:
    return UserRow(str(d["name"]), str(d["role"]), bool(d["disabled"]), bool(d["locked"]),
                   float(d["created"]))


# ---------------------------------------------------------------- sessions, writes
def session_to_json(s: Session) -> dict[str, Any]:
    return {"user": s.user, "role": s.role.label, "since": s.since, "token": s.token, "station": s.station}


def session_from_json(d: dict[str, Any]) -> Session:
    return Session(str(d["user"]), Role.parse(str(d["role"])), float(d["since"]), str(d.get("token", "")),
                   str(d.get("station", "")))


def write_from_json(d: dict[str, Any]) -> WriteResult:
    return WriteResult(d["old"], d["new"], d["readback"])


# ---------------------------------------------------------------- diagnostics, detectors
_DIAGNOSTICS_FIELDS = tuple(f.name for f in dataclasses.fields(DeviceDiagnostics))


def diagnostics_to_json(d: DeviceDiagnostics) -> dict[str, Any]:
    """Field by field (the node's status carries one per device every few seconds, and
    `dataclasses.asdict`'s deep copy cost more than the rest of the status)."""
    out: dict[str, Any] = {}
    for name in _DIAGNOSTICS_FIELDS:
        v = getattr(d, name)
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif isinstance(v, dict):
            v = {str(k): n for k, n in v.items()}
        out[name] = v
    return out


def diagnostics_from_json(d: dict[str, Any]) -> DeviceDiagnostics:
    kw = dict(d)
    kw["exception_codes"] = {int(k): int(v) for k, v in (kw.get("exception_codes") or {}).items()}
    names = {f.name for f in dataclasses.fields(DeviceDiagnostics)}
    return DeviceDiagnostics(**{k: v for k, v in kw.items() if k in names})


def group_to_json(g: GroupStatus) -> dict[str, Any]:
    return dict(_finite(dataclasses.asdict(g)))


def group_from_json(d: dict[str, Any]) -> GroupStatus:
    names = {f.name for f in dataclasses.fields(GroupStatus)}
    kw = {k: v for k, v in d.items() if k in names}
    if kw.get("threshold") is None:
        kw["threshold"] = float("nan")
    return GroupStatus(**kw)


def model_info_to_json(m: ModelInfo) -> dict[str, Any]:
    return dict(_finite(dataclasses.asdict(m)))


def model_info_from_json(d: dict[str, Any]) -> ModelInfo:
    return ModelInfo(d["group"], d["detector"], list(d["tags"]), d["sha256"], Path(d["path"]),
                     float(d["threshold"]), dict(d["training"]))


def candidate_to_json(c: CandidateReport) -> dict[str, Any]:
    return dict(_finite(dataclasses.asdict(c)))


def candidate_from_json(d: dict[str, Any]) -> CandidateReport:
    bt = d.get("backtest")
    return CandidateReport(
        d["group"], d["detector"], float(d["t0"]), float(d["t1"]), list(d["tags"]), int(d["rows"]),
        list(d.get("warnings", [])), list(d.get("left_out", [])),
        Backtest(**bt) if isinstance(bt, dict) else None,
    )


def verify_to_json(r: VerifyResult) -> dict[str, Any]:
    return dict(_finite(dataclasses.asdict(r)))


def verify_from_json(d: dict[str, Any]) -> VerifyResult:
    names = {f.name for f in dataclasses.fields(VerifyResult)}
    return VerifyResult(**{k: v for k, v in d.items() if k in names})


def problem_from_json(d: list[Any]) -> ConfigProblem:
    return ConfigProblem(str(d[0]), str(d[1]), str(d[2]))


# ---------------------------------------------------------------- history, in chunks
def series_chunks(tag: str, s: Series, size: int | None = None) -> Iterator[dict[str, Any]]:
    """One tag's series as messages of at most ``size`` samples (default
    `protocol.HISTORY_CHUNK`); at least one message, maybe empty."""
    size = size or protocol.HISTORY_CHUNK
    n = len(s)
    for start in range(0, max(n, 1), size):
        sl = slice(start, start + size)
        values = s.value[sl]
        if values.dtype == object:
            vals: list[Any] = [None if v is None else str(v) for v in values]
        else:
            vals = [None if not math.isfinite(v) else float(v) for v in values.tolist()]
        yield {"tag": tag, "t": s.t[sl].tolist(), "value": vals, "quality": s.quality[sl].tolist()}


class SeriesBuilder:
    """Puts streamed chunks back together into `Series` per tag."""

    def __init__(self) -> None:
        self._parts: dict[str, list[dict[str, Any]]] = {}

    def add(self, chunk: dict[str, Any]) -> None:
        self._parts.setdefault(str(chunk["tag"]), []).append(chunk)

    def result(self) -> dict[str, Series]:
        out = {}
        for tag, parts in self._parts.items():
            t = np.array([x for p in parts for x in p["t"]], dtype=np.float64)
            raw = [x for p in parts for x in p["value"]]
            q = np.array([x for p in parts for x in p["quality"]], dtype=np.int8)
            if any(isinstance(x, str) for x in raw):
                value = np.array(raw, dtype=object)
            else:
                value = np.array([np.nan if x is None else float(x) for x in raw], dtype=np.float64)
            out[tag] = Series(t, value, q)
        return out

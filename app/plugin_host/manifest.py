"""``plugin.toml``: what a plugin is and what it contributes, validated whole without importing
any of its code.

Contributions are ``module:attr`` strings; they are only checked for shape here. Importing them
is the loader's job, and only happens when a contribution is used.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from app.core.errors import ConfigError
from app.core.tomlfile import parse_toml

PLUGIN_ID = r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$"
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
OBJECT_REF = rf"^{_DOTTED}:{_DOTTED}$"
CONTRIB_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
API = r"^\d+\.\d+$"

MANIFEST_NAME = "plugin.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class PluginInfo(_Strict):
    """The ``[plugin]`` table."""

    id: str = Field(pattern=PLUGIN_ID, description="Unique, dotted, lower case: 'acme.flowmeter'")
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    api: str = Field(pattern=API, description="The app.sdk.API_VERSION this plugin targets")
    description: str = ""
    author: str = ""
    url: str = ""


class DriverEntry(_Strict):
    transport: str = Field(pattern=CONTRIB_NAME)
    factory: str = Field(pattern=OBJECT_REF)


class DetectorEntry(_Strict):
    name: str = Field(pattern=CONTRIB_NAME)
    factory: str = Field(pattern=OBJECT_REF)


class DeviceTypeEntry(_Strict):
    name: str = Field(pattern=CONTRIB_NAME)
    factory: str = Field(pattern=OBJECT_REF)


class WidgetEntry(_Strict):
    name: str = Field(pattern=CONTRIB_NAME)
    factory: str = Field(pattern=OBJECT_REF)


class ProfilesEntry(_Strict):
    path: str = Field(min_length=1, description="Folder of profile TOML files, relative to the plugin")

    @field_validator("path")
    @classmethod
    def _inside(cls, v: str) -> str:
        p = Path(v)
        if p.is_absolute() or ".." in p.parts:
            raise ValueError("must be a relative path inside the plugin folder")
        return v


class DisplaysEntry(ProfilesEntry):
    """``[[displays]]``: a folder of process display SVG files, relative to the plugin."""


class Manifest(_Strict):
    plugin: PluginInfo
    drivers: list[DriverEntry] = Field(default_factory=list)
    detectors: list[DetectorEntry] = Field(default_factory=list)
    device_types: list[DeviceTypeEntry] = Field(default_factory=list)
    profiles: list[ProfilesEntry] = Field(default_factory=list)
    widgets: list[WidgetEntry] = Field(default_factory=list)
    #: folders of process display SVG files (``[[displays]] path = "displays"``)
    displays: list[DisplaysEntry] = Field(default_factory=list)

    @property
    def id(self) -> str:
        return self.plugin.id

    def object_refs(self) -> list[tuple[str, str, str]]:
        """Every ``(kind, name, 'module:attr')`` this plugin contributes, in manifest order."""
        refs: list[tuple[str, str, str]] = []
        refs += [("driver", d.transport, d.factory) for d in self.drivers]
        refs += [("detector", d.name, d.factory) for d in self.detectors]
        refs += [("device_type", d.name, d.factory) for d in self.device_types]
        refs += [("widget", w.name, w.factory) for w in self.widgets]
        return refs


def _where(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """'drivers[0] (transport 'tcp'), field 'factory'' rather than pydantic's tuple."""
    if len(loc) >= 2 and isinstance(loc[1], int):
        section, idx = str(loc[0]), loc[1]
        label = ""
        items = raw.get(section)
        if isinstance(items, list) and idx < len(items) and isinstance(items[idx], dict):
            key = next((k for k in ("transport", "name", "path") if k in items[idx]), None)
            if key:
                label = f" ({key} '{items[idx][key]}')"
        rest = ".".join(str(x) for x in loc[2:])
        return f"[[{section}]] #{idx + 1}{label}" + (f", field '{rest}'" if rest else "")
    if len(loc) >= 2 and loc[0] == "plugin":
        return f"[plugin] field '{'.'.join(str(x) for x in loc[1:])}'"
    return "field '" + ".".join(str(x) for x in loc) + "'"


def _friendly(err: ErrorDetails) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field (typo?)"
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "string_pattern_mismatch":
        field = str(err["loc"][-1]) if err["loc"] else ""
        hints = {
            "factory": "must be 'package.module:attribute'",
            "id": "must be lower-case and dotted, e.g. 'acme.flowmeter'",
            "api": "must be 'MAJOR.MINOR', e.g. '1.0'",
        }
        return hints.get(field, f"invalid value {err.get('input')!r}")
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def parse_manifest(data: bytes, source: str) -> Manifest:
    """Parse and validate manifest bytes. Raises ConfigError naming ``source`` and each field."""
    raw = parse_toml(data, source)
    if not isinstance(raw.get("plugin"), dict):
        raise ConfigError(source, ["missing [plugin] table (id, name, version, api)"])
    try:
        return Manifest.model_validate(raw)
    except ValidationError as e:
        problems = [f"{_where(tuple(err['loc']), raw)}: {_friendly(err)}" for err in e.errors()]
        raise ConfigError(source, problems) from None


def load_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(str(path), [f"cannot read: {e.strerror or e}"]) from None
    return parse_manifest(data, str(path))


def api_problem(target: str, host: str) -> str | None:
    """None when a plugin targeting SDK ``target`` can run on SDK ``host``, else why not.

    Same MAJOR (breaking changes bump it) and the plugin's MINOR not newer than the host's
    (it may use additions this host lacks).
    """
    t_major, t_minor = (int(x) for x in target.split("."))
    h_major, h_minor = (int(x) for x in host.split("."))
    if t_major != h_major:
        return f"targets SDK API {target}, this Vigil provides {host} (major version differs)"
    if t_minor > h_minor:
        return f"targets SDK API {target}, newer than this Vigil's {host}; update Vigil"
    return None


def is_object_ref(s: str) -> bool:
    return bool(re.match(OBJECT_REF, s))

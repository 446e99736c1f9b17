"""The plant file's ``[devices.options]`` for an OPC UA device, checked before anything connects.

```toml
[[devices]]
name = "press"
transport = "opcua"
device_type = "opcua"          # the register map is built from the points below
timeout_ms = 2000
[devices.options]
endpoint = "opc.tcp://10.0.0.5:4840"
security_policy = "Basic256Sha256"   # None (default), Basic256Sha256, Aes128Sha256RsaOaep, ...
security_mode = "SignAndEncrypt"     # Sign | SignAndEncrypt (with a policy other than None)
certificate = "/etc/vigil/opcua-client.der"
private_key = "/etc/vigil/opcua-client.pem"
username = "vigil"
password_env = "PRESS_OPCUA_PASSWORD"  # read from the environment, never from the plant file
sampling_ms = 250                      # default for every point
publishing_ms = 250
[[devices.options.points]]
name = "oil_temperature"
node = "ns=2;s=Press.OilTemp"          # or: browse_path = ["0:Objects", "2:Press", "2:OilTemp"]
unit = "°C"
deadband = 0.2                         # absolute, engineering units
hi = 70.0
```

A mistake here must not disable the plugin for every other device, so parsing never raises
from the driver factory: `parse_options` returns the problems, and the driver reports them as
a connect failure naming the field, which the core shows as the device's configuration fault.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

SECURITY_POLICIES = (
    "None",
    "Basic128Rsa15",
    "Basic256",
    "Basic256Sha256",
    "Aes128Sha256RsaOaep",
    "Aes256Sha256RsaPss",
)
SECURITY_MODES = ("Sign", "SignAndEncrypt")
POINT_TYPES = ("bool", "int64", "uint64", "float64")
#: profile fields a point may carry through to Vigil's alarm engine and setpoint dialog
PASS_THROUGH = (
    "description",
    "unit",
    "min",
    "max",
    "lolo",
    "lo",
    "hi",
    "hihi",
    "on_delay_s",
    "priority",
    "alarm_state",
    "scan",
)


@dataclass(frozen=True)
class PointConfig:
    name: str
    node: str | None
    browse_path: tuple[str, ...]
    type: str | None  # None: from the node's data type at connect
    access: str
    deadband: float
    sampling_ms: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return self.node or "/".join(self.browse_path)


@dataclass(frozen=True)
class OpcUaConfig:
    endpoint: str
    security_policy: str = "None"
    security_mode: str = "SignAndEncrypt"
    certificate: str = ""
    private_key: str = ""
    username: str = ""
    password: str = ""
    sampling_ms: float = 250.0
    publishing_ms: float = 250.0
    uncertain_as_good: bool = False
    points: tuple[PointConfig, ...] = ()


def _number(
    raw: dict[str, Any], key: str, default: float, where: str, problems: list[str], low: float = 0.0
) -> float:
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or v < low:
        problems.append(f"{where}'{key}': must be a number >= {low:g}")
        return default
    return float(v)


def parse_options(options: dict[str, Any]) -> tuple[OpcUaConfig | None, list[str]]:
    """(config, []) or (None, problems), each problem naming the options field."""
    problems: list[str] = []
    known = {
        "endpoint",
        "security_policy",
        "security_mode",
        "certificate",
        "private_key",
        "username",
        "password",
        "password_env",
        "sampling_ms",
        "publishing_ms",
        "uncertain_as_good",
        "points",
    }
    for k in options:
        if k not in known:
            problems.append(f"options.'{k}': unknown field (typo?)")
    endpoint = options.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith("opc.tcp://"):
        problems.append("options.'endpoint': needs an opc.tcp://host:port/... address")
        endpoint = ""
    policy = str(options.get("security_policy", "None"))
    if policy not in SECURITY_POLICIES:
        problems.append(f"options.'security_policy': '{policy}' is not one of {', '.join(SECURITY_POLICIES)}")
    mode = str(options.get("security_mode", "SignAndEncrypt"))
    if mode not in SECURITY_MODES:
        problems.append(f"options.'security_mode': '{mode}' is not Sign or SignAndEncrypt")
    cert, key = str(options.get("certificate", "")), str(options.get("private_key", ""))
    if policy != "None" and not (cert and key):
        problems.append("options: security_policy other than None needs 'certificate' and 'private_key'")
    password = str(options.get("password", ""))
    if "password_env" in options:
        env = str(options["password_env"])
        if env not in os.environ:
            problems.append(f"options.'password_env': environment variable {env} is not set")
        password = os.environ.get(env, "")
    sampling = _number(options, "sampling_ms", 250.0, "options.", problems)
    publishing = _number(options, "publishing_ms", 250.0, "options.", problems, low=10.0)
    points: list[PointConfig] = []
    raw_points = options.get("points")
    if not isinstance(raw_points, list) or not raw_points:
        problems.append("options.'points': needs at least one [[devices.options.points]] entry")
        raw_points = []
    for i, rp in enumerate(raw_points):
        where = f"options.points[{i}]"
        if not isinstance(rp, dict):
            problems.append(f"{where}: must be a table")
            continue
        name = rp.get("name")
        where = f"options.points[{i}] '{name}'"
        if not isinstance(name, str) or not name:
            problems.append(f"{where}: needs 'name'")
            continue
        node, path = rp.get("node"), rp.get("browse_path")
        if (node is None) == (path is None):
            problems.append(f"{where}: give exactly one of 'node' (a node id) or 'browse_path'")
        if node is not None and not isinstance(node, str):
            problems.append(f"{where}, 'node': must be a node id string such as \"ns=2;s=Tank.Level\"")
        if path is not None and (not isinstance(path, list) or not all(isinstance(p, str) for p in path)):
            problems.append(f'{where}, \'browse_path\': must be a list such as ["0:Objects", "2:Tank"]')
        type_ = rp.get("type")
        if type_ is not None and type_ not in POINT_TYPES:
            problems.append(f"{where}, 'type': '{type_}' is not one of {', '.join(POINT_TYPES)}")
        access = rp.get("access", "r")
        if access not in ("r", "rw"):
            problems.append(f"{where}, 'access': must be r or rw")
        for k in rp:
            if k not in {
                "name",
                "node",
                "browse_path",
                "type",
                "access",
                "deadband",
                "sampling_ms",
                *PASS_THROUGH,
            }:
                problems.append(f"{where}, '{k}': unknown field (typo?)")
        points.append(
            PointConfig(
                name=name,
                node=node if isinstance(node, str) else None,
                browse_path=tuple(path) if isinstance(path, list) else (),
                type=type_ if isinstance(type_, str) else None,
                access=str(access),
                deadband=_number(rp, "deadband", 0.0, f"{where}, ", problems),
                sampling_ms=_number(rp, "sampling_ms", sampling, f"{where}, ", problems),
                extra={k: rp[k] for k in PASS_THROUGH if k in rp},
            )
        )
    if problems:
        return None, problems
    return OpcUaConfig(
        endpoint=str(endpoint),
        security_policy=policy,
        security_mode=mode,
        certificate=cert,
        private_key=key,
        username=str(options.get("username", "")),
        password=password,
        sampling_ms=sampling,
        publishing_ms=publishing,
        uncertain_as_good=bool(options.get("uncertain_as_good", False)),
        points=tuple(points),
    ), []

"""An entry-point plugin: a real wheel, built in the test (zipfile + dist-info, no network) and
installed with pip into a temporary target folder put on sys.path."""

from __future__ import annotations

import base64
import hashlib
import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from plugin_factory import DETECTOR_SOURCE

from app.plugin_host import PluginHost, PluginState, Source


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(out_dir: Path, dist: str, package: str, ep_value: str) -> Path:
    """A minimal, valid wheel: the package (with its plugin.toml as package data) and a
    dist-info declaring ``[vigil.plugins]``."""
    files = {
        f"{package}/__init__.py": b"",
        f"{package}/det.py": DETECTOR_SOURCE.format(name="wheel_z").encode(),
        f"{package}/plugin.toml": (
            f'[plugin]\nid = "acme.{package}"\nname = "Wheel plugin"\nversion = "2.0.1"\napi = "1.0"\n'
            f'[[detectors]]\nname = "wheel_z"\nfactory = "{package}.det:ZShift"\n'
        ).encode(),
    }
    stem = dist.replace("-", "_")  # wheel and dist-info file names use the normalised name
    info = f"{stem}-2.0.1.dist-info"
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {dist}\nVersion: 2.0.1\n".encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: vigil-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{info}/entry_points.txt"] = f"[vigil.plugins]\n{package} = {ep_value}\n".encode()
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out_dir / f"{stem}-2.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return wheel


def pip_install(wheel: Path, target: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def _host(tmp_path):
    return PluginHost(
        data_dir=tmp_path / "data", builtin_dir=None, user_dir=None, frozen_dir=None, entry_points=True
    )


@pytest.fixture
def installed(tmp_path, unique, monkeypatch):
    """Install two wheels: a good one, and one whose entry point names an object, not a package."""
    site = tmp_path / "site"
    good_pkg, odd_pkg = f"wheelplug_{unique}", f"oddplug_{unique}"
    pip_install(build_wheel(tmp_path, f"vigil-wheelplug-{unique}", good_pkg, good_pkg), site)
    pip_install(build_wheel(tmp_path, f"vigil-oddplug-{unique}", odd_pkg, f"{odd_pkg}.det:ZShift"), site)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return good_pkg, odd_pkg


def test_wheel_plugin_is_found_through_its_entry_point_and_used(tmp_path, installed):
    good_pkg, _ = installed
    host = _host(tmp_path)
    rec = host.record(f"acme.{good_pkg}")
    assert rec is not None, [r.as_dict() for r in host.records()]
    assert rec.source is Source.ENTRY_POINT and rec.version == "2.0.1" and rec.state is PluginState.AVAILABLE
    assert f"vigil-wheelplug-{good_pkg.split('_')[1]}" in rec.entry_point
    assert good_pkg not in sys.modules  # located with find_spec, not imported
    det = host.detector_factory("wheel_z")()
    det.fit(np.zeros((50, 1)) + np.arange(50)[:, None] % 3, ["t.x"])
    assert det.score(np.array([[100.0]])).score[0] > det.threshold
    assert rec.state is PluginState.LOADED and len(rec.sha256) == 64


def test_entry_point_naming_an_object_is_rejected_with_its_distribution(tmp_path, installed):
    _, odd_pkg = installed
    odd = [r for r in _host(tmp_path).records() if odd_pkg in r.entry_point]
    assert len(odd) == 1 and odd[0].state is PluginState.REJECTED
    assert "must name a top-level package" in odd[0].reason and "distribution vigil-oddplug" in odd[0].reason
    assert odd_pkg not in sys.modules

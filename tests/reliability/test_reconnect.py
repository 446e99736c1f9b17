"""Issue #18, defect 10: reconnect waits grew to 30 s between tries; they are capped by the
plant file (``reconnect_max_ms``, default 5 s) and jittered so devices that failed together do
not retry in the same instant."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import ConfigError
from app.core.paths import device_profiles_dir
from app.core.plant import load_plant
from app.core.profiles import ProfileLibrary
from app.core.runtime import Runtime


@pytest.fixture(scope="module")
def library() -> ProfileLibrary:
    lib = ProfileLibrary()
    assert lib.add_folder(device_profiles_dir()) == []
    return lib


def _runtime(tmp_path: Path, library: ProfileLibrary, extra: str = "") -> Runtime:
    path = tmp_path / "plant.toml"
    path.write_text(
        '[[devices]]\nname = "a"\nprofile = "demo_tank"\nhost = "127.0.0.1"\nport = 1502\n'
        f'[[devices]]\nname = "b"\nprofile = "demo_tank"\nhost = "127.0.0.1"\nport = 1503\n{extra}\n'
    )

    def no_driver(cfg: object) -> object:
        raise AssertionError("not started: no driver is made")

    return Runtime(load_plant(path, library), no_driver)  # type: ignore[arg-type]


def test_the_reconnect_wait_is_capped_at_5_s_by_default_and_jittered(tmp_path, library):
    rt = _runtime(tmp_path, library)
    waits = [rt.reconnect_delay("a", attempt) for attempt in range(40, 140)]
    assert max(waits) <= 5.0
    assert min(waits) >= 2.5  # equal jitter: half the ceiling at least
    assert len({round(w, 6) for w in waits}) > 50  # jittered, not one fixed value
    # the first retries still start small and double
    assert rt.reconnect_delay("a", 0) <= 0.5


def test_the_plant_file_sets_each_devices_cap(tmp_path, library):
    rt = _runtime(tmp_path, library, "reconnect_max_ms = 1200")
    assert max(rt.reconnect_delay("b", 30) for _ in range(50)) <= 1.2
    assert max(rt.reconnect_delay("a", 30) for _ in range(50)) > 1.2  # "a" keeps the default


@pytest.mark.parametrize("value", ["0", "-5", "100000000"])
def test_an_unusable_reconnect_cap_is_refused(tmp_path, library, value):
    with pytest.raises(ConfigError, match="reconnect_max_ms"):
        _runtime(tmp_path, library, f"reconnect_max_ms = {value}")

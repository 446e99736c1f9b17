"""``vigil --self-test``: prove an install (or a frozen bundle) works, in one line.

Starts the core offscreen on the demo plant in a throw-away data folder, waits for good values
from every demo device, checks that plugins and profiles loaded, renders a plot, stops cleanly,
and verifies the journal it wrote. Prints one line and exits 0 (all good) or 1.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def self_test(timeout_s: float = 20.0) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    t0 = time.monotonic()
    problems: list[str] = []
    facts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vigil-selftest-") as tmp, \
            tempfile.TemporaryDirectory(prefix="vigil-selftest-keys-") as keys:
        # the throw-away stores' at-rest key goes with them, not into the user's keyring
        os.environ["VIGIL_KEY_DIR"], os.environ["VIGIL_KEYRING"] = keys, "0"
        try:
            _check_core(Path(tmp), timeout_s, problems, facts)
        except Exception as e:  # the self-test reports, it never crashes
            problems.append(f"core: {type(e).__name__}: {e}")
    try:
        from app.ui.selfcheck import plot_selfcheck

        err = plot_selfcheck()
        if err:
            problems.append(f"plot: {err}")
        else:
            facts.append("plot ok")
    except Exception as e:
        problems.append(f"plot: {type(e).__name__}: {e}")
    from app import __version__

    took = time.monotonic() - t0
    if problems:
        print(f"vigil {__version__} self-test: FAILED in {took:.1f} s: " + "; ".join(problems))
        return 1
    print(f"vigil {__version__} self-test: ok in {took:.1f} s ({', '.join(facts)})")
    return 0


def _check_core(data_dir: Path, timeout_s: float, problems: list[str], facts: list[str]) -> None:
    from app.core.journal import verify
    from app.station import Core

    core = Core(data_dir, demo_interval_ms=200)
    core.start()
    try:
        devices = [d.name for d in core.plant.enabled_devices()]
        deadline = time.monotonic() + timeout_s
        good: set[str] = set()
        while time.monotonic() < deadline:
            good = {s.tag.split(".", 1)[0] for s in core.latest().values() if s.quality.is_good}
            if good >= set(devices):
                break
            time.sleep(0.1)
        missing = sorted(set(devices) - good)
        if missing:
            problems.append(f"no good values from {', '.join(missing)}")
        facts.append(f"{len(devices)} devices, {len(core.plant.tags())} tags")
        if core.profile_errors:
            problems.append(f"{len(core.profile_errors)} profile(s) refused")
        _check_detectors(core.plugins, problems, facts)
        listing = core.plugins.records()
        failed = [p for p in listing if p.state not in ("loaded", "available", "enabled")]
        if failed:
            problems.append("plugins failed: " + ", ".join(f"{p.id} ({p.reason})" for p in failed))
        facts.append(f"{len(listing)} plugins")
    finally:
        core.stop()
    result = verify(data_dir / "journal")
    if result.exit_code != 0:
        problems.append(f"journal: {result.message}")
    else:
        facts.append("journal verified")


def _check_detectors(host, problems: list[str], facts: list[str]) -> None:
    """Fit and score every built-in detector on a small synthetic plant: proves the plugin
    imports and its numeric stack (numpy, scipy, scikit-learn) work, which a bundle can break."""
    import numpy as np

    rng = np.random.default_rng(7)
    normal = rng.normal(size=(300, 3))
    step = normal[:50].copy()
    step[20:, 1] += 12.0
    names = [n for n in ("robust_z", "pca_t2q", "isolation_forest") if n in host.detector_names()]
    if not names:
        problems.append("no built-in detector found")
        return
    for name in names:
        try:
            det = host.detector_factory(name)()
            det.fit(normal, ["a", "b", "c"])
            scores = det.score(step)
            top = scores.score[25:].max()
            if not np.isfinite(top) or top <= det.threshold:
                problems.append(f"detector {name}: did not flag an obvious step")
        except Exception as e:
            problems.append(f"detector {name}: {type(e).__name__}: {e}")
    facts.append(f"{len(names)} detectors fit")

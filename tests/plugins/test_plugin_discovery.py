"""Discovery: where plugins are found, in which order, and how problems are reported."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from plugin_factory import write_detector_plugin, write_plugin

from app.plugin_host import PluginHost, PluginState, PluginUnavailable, Source
from app.plugin_testing import journal_events


def _host(tmp_path, journal=None, **kw):
    opts = dict(
        data_dir=tmp_path / "data",
        journal=journal,
        builtin_dir=tmp_path / "builtin",
        user_dir=tmp_path / "user",
        frozen_dir=tmp_path / "frozen",
        entry_points=False,
    )
    opts.update(kw)
    return PluginHost(**opts)


def test_folder_dropped_into_user_plugins_dir_is_found_and_used(
    tmp_path, monkeypatch, unique, plugin_journal
):
    user = tmp_path / "my-plugins"
    pkg = f"zshift_{unique}"
    write_detector_plugin(user, "zshift", f"acme.zshift{unique}", pkg, "zshift")
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(user))
    # the default user dir comes from app.core.paths, honouring VIGIL_USER_PLUGINS_DIR
    host = PluginHost(
        data_dir=tmp_path / "data", journal=plugin_journal, builtin_dir=None, entry_points=False
    )
    rec = host.record(f"acme.zshift{unique}")
    assert rec is not None and rec.source is Source.USER and rec.state is PluginState.AVAILABLE
    assert "zshift" in host.detector_names()
    assert pkg not in sys.modules  # discovered, not imported

    det = host.detector_factory("zshift")(k=4.0)
    rng = np.random.default_rng(1)
    history = rng.normal(10.0, 1.0, size=(500, 2))
    det.fit(history, ["a.x", "a.y"])
    scores = det.score(np.array([[10.0, 10.0], [10.0, 25.0]])).score
    assert scores[0] < det.threshold < scores[1]
    assert rec.state is PluginState.LOADED and len(rec.sha256) == 64
    load = [e for e in journal_events(plugin_journal, "plugin.load") if e.body["plugin"] == rec.id]
    assert load and load[0].body["sha256"] == rec.sha256 and f"{pkg}/det.py" in load[0].body["files"]


def test_sources_are_scanned_in_order_and_first_duplicate_wins(tmp_path, unique):
    for where in ("builtin", "user", "frozen"):
        write_plugin(tmp_path / where, "dup", "acme.dup", contributions="")
    write_plugin(tmp_path / "frozen", "only_frozen", "acme.frozen")
    host = _host(tmp_path)
    recs = [r for r in host.records() if r.id == "acme.dup"]
    assert [r.source for r in recs] == [Source.BUILTIN, Source.USER, Source.FROZEN]
    assert recs[0].state is PluginState.AVAILABLE
    for dup in recs[1:]:
        assert dup.state is PluginState.REJECTED
        assert "duplicate plugin id 'acme.dup'" in dup.reason
        assert str(tmp_path / "builtin" / "dup" / "plugin.toml") in dup.reason  # names the winner
        assert str(dup.manifest_path) in dup.reason  # and itself
    assert host.record("acme.frozen").source is Source.FROZEN


@pytest.mark.parametrize("api", ["2.0", "0.9", "1.9"])
def test_incompatible_api_versions_are_rejected_by_name(tmp_path, api):
    write_plugin(tmp_path / "user", "future", "acme.future", api=api)
    rec = _host(tmp_path).record("acme.future")
    assert rec.state is PluginState.REJECTED
    assert f"targets SDK API {api}" in rec.reason and "plugin.toml" in rec.reason


def test_older_minor_api_is_accepted(tmp_path):
    write_plugin(tmp_path / "user", "old", "acme.old", api="1.0")
    assert _host(tmp_path, api_version="1.3").record("acme.old").state is PluginState.AVAILABLE


def test_broken_manifests_and_bare_folders_are_reported_by_file(tmp_path, plugin_journal):
    user = tmp_path / "user"
    (user / "syntax").mkdir(parents=True)
    (user / "syntax" / "plugin.toml").write_text("[plugin\nid = 'x'", encoding="utf-8")
    write_plugin(
        user, "badref", "acme.badref", contributions='[[drivers]]\ntransport = "x"\nfactory = "nocolon"\n'
    )
    (user / "empty").mkdir()
    (user / "_template").mkdir()  # skipped: folders starting with "_" are not plugins
    write_plugin(user, "good", "acme.good")
    host = _host(tmp_path, journal=plugin_journal)
    by_folder = {r.location.name: r for r in host.records()}
    assert set(by_folder) == {"syntax", "badref", "empty", "good"}
    assert by_folder["syntax"].state is PluginState.REJECTED
    assert "TOML syntax" in by_folder["syntax"].reason and "syntax/plugin.toml" in by_folder["syntax"].reason
    assert "[[drivers]] #1 (transport 'x'), field 'factory'" in by_folder["badref"].reason
    assert "package.module:attribute" in by_folder["badref"].reason
    assert "no plugin.toml" in by_folder["empty"].reason
    assert by_folder["good"].state is PluginState.AVAILABLE
    assert len(host.problems()) == 3
    rejected = journal_events(plugin_journal, "plugin.rejected")
    assert {e.body["plugin"] for e in rejected} == {"?syntax", "acme.badref", "?empty"}


def test_no_plugins_env_keeps_builtins_only(tmp_path, monkeypatch):
    write_plugin(tmp_path / "builtin", "core", "vigil.core_thing")
    write_plugin(tmp_path / "user", "extra", "acme.extra")
    monkeypatch.setenv("VIGIL_NO_PLUGINS", "1")
    host = _host(tmp_path)
    assert [r.id for r in host.records()] == ["vigil.core_thing"]
    monkeypatch.setenv("VIGIL_NO_PLUGINS", "0")
    assert {r.id for r in _host(tmp_path).records()} == {"vigil.core_thing", "acme.extra"}


def test_disabled_plugin_is_never_imported(tmp_path, unique, plugin_journal):
    pkg = f"zoff_{unique}"
    write_detector_plugin(tmp_path / "user", "zoff", f"acme.zoff{unique}", pkg, f"zoff{unique}")
    _host(tmp_path, journal=plugin_journal).set_enabled(f"acme.zoff{unique}", False, actor="alice")
    host = _host(tmp_path, journal=plugin_journal)  # a fresh start reads the persisted list
    rec = host.record(f"acme.zoff{unique}")
    assert rec.state is PluginState.DISABLED and "vigil plugins enable" in rec.reason
    assert f"zoff{unique}" not in host.detector_names()
    with pytest.raises(PluginUnavailable, match="disabled"):
        host.detector_factory(f"zoff{unique}")
    assert pkg not in sys.modules and not any(m.startswith(pkg + ".") for m in sys.modules)
    assert str(tmp_path / "user" / "zoff") not in sys.path
    events = journal_events(plugin_journal, "plugin.disabled")
    assert events[-1].actor == "alice" and events[-1].critical
    host.set_enabled(f"acme.zoff{unique}", True)
    assert _host(tmp_path).record(f"acme.zoff{unique}").state is PluginState.AVAILABLE


def test_corrupt_disabled_list_is_reported_not_overwritten(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "plugins.json").write_text("{not json", encoding="utf-8")
    host = _host(tmp_path)
    assert "unreadable disabled-plugins list" in host.disabled.problem
    with pytest.raises(RuntimeError, match="fix or delete it"):
        host.set_enabled("acme.x", False)
    assert (data / "plugins.json").read_text(encoding="utf-8") == "{not json"


def test_unknown_contribution_names_what_exists(tmp_path, unique):
    write_detector_plugin(tmp_path / "user", "z", f"acme.z{unique}", f"z_{unique}", "zz")
    with pytest.raises(PluginUnavailable, match=r"no plugin provides detector 'nope' \(available: zz\)"):
        _host(tmp_path).detector_factory("nope")

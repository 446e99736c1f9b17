"""Lazy loading: installed plugins cost a manifest read at start-up, never an import."""

from __future__ import annotations

import sys

from plugin_factory import write_detector_plugin, write_plugin

from app.plugin_host import PluginHost, PluginState


def test_twenty_installed_plugins_import_nothing_until_one_is_used(tmp_path, unique):
    user = tmp_path / "user"
    packages = []
    for i in range(20):
        pkg = f"lazy{i}_{unique}"
        packages.append(pkg)
        write_detector_plugin(user, f"p{i:02d}", f"acme.lazy{i}{unique}", pkg, f"lazy{i}")
    host = PluginHost(
        data_dir=tmp_path / "data", builtin_dir=None, user_dir=user, frozen_dir=None, entry_points=False
    )
    assert len(host.records()) == 20
    assert len(host.detector_names()) == 20
    assert all(r.state is PluginState.AVAILABLE for r in host.records())
    assert not [m for m in sys.modules if m.split(".")[0] in packages]
    assert not [p for p in sys.path if str(user) in p]

    host.detector_factory("lazy7")()
    imported = {m.split(".")[0] for m in sys.modules if m.split(".")[0] in packages}
    assert imported == {f"lazy7_{unique}"}
    assert [r.id for r in host.records() if r.state is PluginState.LOADED] == [f"acme.lazy7{unique}"]


def test_profile_only_plugin_contributes_profiles_without_code(tmp_path, plugin_host, plugin_journal):
    from app.core.profiles import ProfileLibrary

    folder = write_plugin(
        tmp_path,
        "meters",
        "acme.meters",
        contributions='[[profiles]]\npath = "profiles"\n',
        files={
            "profiles/m1.toml": """
                [device]
                id = "acme_m1"
                vendor = "Acme"
                [[points]]
                name = "kw"
                table = "input"
                address = 0
                type = "float32"
                """,
            "profiles/broken.toml": "[device]\nid = 'x'\n[[points]]\nname = 'p'\ntable = 'nope'\n",
        },
    )
    host = plugin_host(folder)
    library = ProfileLibrary()
    errors = host.add_profiles_to(library)
    assert library.ids() == ["acme_m1"]
    assert len(errors) == 1 and "broken.toml" in errors[0].source and "acme.meters" in str(errors[0])
    assert host.profile_folders() == [folder / "profiles"]
    assert host.record("acme.meters").state is PluginState.LOADED

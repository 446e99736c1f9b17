"""``vigil display validate``: names every problem with element id and line; exit code 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.core.displays.catalogue import BUILTIN_DIR

HEAD = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:vigil="https://vigil-scada.org/display/1" viewBox="0 0 10 10">'  # noqa: E501


def test_validate_names_unknown_tag_symbol_feature_and_hostile_xml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.svg"
    bad.write_text(
        HEAD + "\n"
        '<rect id="level" x="0" y="0" width="5" height="5" vigil:symbol="vessel" vigil:tag="tank.nope"/>\n'
        '<rect id="gauge" x="0" y="0" width="5" height="5" vigil:symbol="speedometer" vigil:tag="tank.level"/>\n'  # noqa: E501
        '<foreignObject id="html"/>\n'
        "</svg>\n",
        encoding="utf-8",
    )
    evil = tmp_path / "evil.svg"
    evil.write_text(
        '<?xml version="1.0"?>\n\n<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<svg>&x;</svg>'
    )
    good = tmp_path / "good.svg"
    good.write_text(
        HEAD
        + '<rect id="v" x="0" y="0" width="5" height="5" vigil:symbol="value" vigil:tag="tank.level"/></svg>'
    )
    code = main(["display", "validate", str(bad), str(evil), str(good)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{bad}:2: #level: unknown tag 'tank.nope' in vigil:tag" in out
    assert f"{bad}:3: #gauge: unknown symbol 'speedometer'" in out
    assert f"{bad}:4: #html: <foreignObject>" in out
    assert f"{evil}:3: <!DOCTYPE>: a DOCTYPE (DTD) is not allowed" in out
    assert "root:" not in out  # nothing of /etc/passwd
    assert f"{good}: ok (1 bound elements, 1 tags)" in out


def test_validate_builtin_displays_clean_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in BUILTIN_DIR.glob("*.svg"))
    assert main(["display", "validate", *files]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok (") == len(files)


def test_validate_against_another_plant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plant = tmp_path / "plant.toml"
    plant.write_text(
        '[plant]\nname = "P"\n[[devices]]\nname = "m1"\nprofile = "sdm630"\nport = 5020\nhost = "127.0.0.1"\n'
    )
    f = tmp_path / "d.svg"
    f.write_text(
        HEAD
        + '\n<rect id="t" x="0" y="0" width="5" height="5" vigil:symbol="value" vigil:tag="tank.level"/></svg>'  # noqa: E501
    )
    assert main(["display", "validate", "--plant", str(plant), str(f)]) == 1
    assert f"{f}:2: #t: unknown tag 'tank.level'" in capsys.readouterr().out
    assert main(["display", "validate", "--plant", str(tmp_path / "missing.toml"), str(f)]) == 2

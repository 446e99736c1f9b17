"""``vigil detect replay`` writes tag names from its input file into top_tags: a column named
like a formula comes out as text, not as a formula (#17)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from app.cli import main

EVIL = '=HYPERLINK("http://evil.example","x")'


def test_replay_output_escapes_formula_tag_names(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(3)
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", EVIL, "flow"])
        for i in range(300):
            jump = 50.0 if i >= 260 else 0.0
            stamp = f"2024-01-01 00:{i // 60:02d}:{i % 60:02d}"
            w.writerow([stamp, 10 + rng.normal() + jump, 5 + rng.normal()])
    rc = main(["detect", "replay", str(src), "--detector", "robust_z", "--train-rows", "200",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    rows = list(csv.DictReader(out.open(newline="")))
    tops = [r["top_tags"] for r in rows if r["top_tags"]]
    assert any(EVIL in t for t in tops), tops[-5:]
    assert all(not t.startswith("=") for t in tops)
    assert any(t.startswith("'" + EVIL) for t in tops)

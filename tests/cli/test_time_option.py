"""Every ``vigil`` verb reads a time the same way (one parser, app.cli._common.parse_when)."""

from __future__ import annotations

import argparse

import pytest

from app.cli import build_parser
from app.cli._common import TimeError, parse_when


def test_one_parser_reads_every_form() -> None:
    assert parse_when("90m", now=10_000.0) == 10_000.0 - 5400
    assert parse_when("1.5h", now=10_000.0) == 10_000.0 - 5400
    assert parse_when("1700000000") == 1_700_000_000.0
    assert parse_when("2026-01-01T00:00:00Z") == parse_when("2026-01-01T00:00") == 1767225600.0
    assert parse_when("2026-01-01T01:00:00+01:00") == 1767225600.0


@pytest.mark.parametrize("bad", ["yesterday", "nan", "inf", "12x", ""])
def test_a_bad_time_names_the_forms(bad: str) -> None:
    with pytest.raises(TimeError) as e:
        parse_when(bad)
    assert isinstance(e.value, ValueError) and isinstance(e.value, argparse.ArgumentTypeError)
    assert "epoch seconds" in str(e.value) and "2h" in str(e.value)


@pytest.mark.parametrize(
    "argv, dest",
    [
        (["history", "export", "--out", "x.csv", "--from", "2h"], "t_from"),
        (["alarms", "history", "--since", "2h"], "since"),
    ],
)
def test_verbs_accept_the_same_forms(argv: list[str], dest: str) -> None:
    """`vigil history export --from 2h` used to be refused while `vigil alarms history --since
    2h` was accepted: the verbs now share one reading."""
    args = build_parser().parse_args(argv)
    assert isinstance(getattr(args, dest), float)

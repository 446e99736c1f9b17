"""``vigil alarms list`` and ``vigil alarms history`` against a data dir a real engine wrote."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from app.cli import main
from app.cli.alarms import parse_when
from tests.alarms.conftest import Clock, Rig


@pytest.fixture
def data_dir(tmp_path: Path, clock: Clock) -> Path:
    r = Rig(tmp_path, clock)
    r.feed("tank.level", 95.0)
    clock.advance(60)
    r.engine.acknowledge("tank.level:HIHI", "alice")
    r.feed("tank.overflow", True)
    r.engine.shelve("tank2.level:LO", "bob", "tank 2 drained", clock() + 3600)
    r.close()
    return tmp_path


def test_list_shows_abnormal_alarms_highest_priority_first(data_dir: Path, capsys) -> None:
    assert main(["alarms", "list", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["id", "priority", "state"]
    ids = [line.split()[0] for line in out[1:]]
    assert ids[0] == "tank.level:HIHI" and set(ids) == {
        "tank.level:HIHI", "tank.level:HI", "tank.overflow:STATE", "tank2.level:LO"}
    assert "alice" in out[1] and "shelved: tank 2 drained" in "\n".join(out)


def test_list_json_and_all(data_dir: Path, capsys) -> None:
    assert main(["alarms", "list", "--data-dir", str(data_dir), "--all", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    states = {a["id"]: a["state"] for a in doc["alarms"]}
    assert states["tank.level:HIHI"] == "ack_active" and states["tank.level:LO"] == "normal"
    assert states["tank2.level:LO"] == "shelved"


def test_history_filters_and_formats(data_dir: Path, capsys, clock: Clock) -> None:
    assert main(["alarms", "history", "--data-dir", str(data_dir), "--actor", "alice", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["alarm_id"], r["event"], r["to_state"]) for r in rows] == [
        ("tank.level:HIHI", "ack", ""), ("tank.level:HIHI", "transition", "ack_active")]
    assert main(["alarms", "history", "--data-dir", str(data_dir), "--json", "--tag", "tank.overflow",
                 "--priority", "MEDIUM", "--state", "unack-active"]) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    assert [e["alarm_id"] for e in events] == ["tank.overflow:STATE"]
    since = str(clock() + 1)
    assert main(["alarms", "history", "--data-dir", str(data_dir), "--since", since]) == 0
    assert "no alarm events match" in capsys.readouterr().out


def test_missing_or_broken_state_file_is_a_message_not_a_traceback(tmp_path: Path, capsys) -> None:
    assert main(["alarms", "list", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "alarms.sqlite: no alarm state here" in err and "Traceback" not in err
    (tmp_path / "alarms.sqlite").write_bytes(b"garbage" * 500)
    assert main(["alarms", "history", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not a readable alarm database" in err


def test_bad_arguments_are_named(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["alarms", "history", "--data-dir", str(tmp_path), "--since", "yesterday-ish"])
    assert e.value.code == 2
    assert "'yesterday-ish' is not a time" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["alarms", "history", "--data-dir", str(tmp_path), "--priority", "critical"])
    assert "unknown priority 'critical'" in capsys.readouterr().err


def test_parse_when_forms() -> None:
    assert parse_when("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_when("1700000000") == 1_700_000_000.0
    assert parse_when("2026-01-01T00:00:00") == parse_when("2026-01-01T00:00:00+00:00")


def test_kpis_offline_replay_matches_the_live_engine(tmp_path: Path, capsys) -> None:
    import time

    clock = Clock(time.time() - 3 * 3600)  # a storm three hours ago, within the 24 h window
    r = Rig(tmp_path, clock)
    for i in range(12):
        r.engine.set_anomaly(f"det{i}", True, tag_or_device="tank")
        clock.advance(2)
    for _ in range(3):
        r.feed("tank.level", 85.0)
        clock.advance(5)
        r.feed("tank.level", 50.0)
        clock.advance(5)
    clock.advance(1200)
    live = r.engine.kpis()
    r.close()
    assert live["floods"] == 1
    assert main(["alarms", "kpis", "--data-dir", str(tmp_path), "--json"]) == 0
    offline = json.loads(capsys.readouterr().out)
    assert offline["floods"] == 1 and offline["activations"] == live["activations"] == 15
    assert offline["time_in_flood_s"] == pytest.approx(live["time_in_flood_s"], abs=1.0)
    assert [c["id"] for c in offline["chattering"]] == ["tank.level:HI"]
    assert offline["top_bad_actors"][0] == {"id": "tank.level:HI", "activations": 3}
    assert main(["alarms", "kpis", "--data-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "floods (>10 new alarms in 10 min): 1" in text and "tank.level:HI  3/min" in text
    assert main(["alarms", "kpis", "--data-dir", str(tmp_path), "--window", "tomorrow"]) == 2
    assert "--window" in capsys.readouterr().err


def test_check_vouches_for_an_honest_table_and_names_an_edited_row(data_dir: Path, capsys) -> None:
    from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)

    assert main(["alarms", "check", "--data-dir", str(data_dir)]) == 0
    assert "journaled transitions replay to the state of all" in capsys.readouterr().out
    con = sqlite3.connect(data_dir / "alarms.sqlite")
    con.execute("UPDATE alarm_state SET data = json_set(data, '$.state', 'normal') "
                "WHERE id = 'tank.overflow:STATE'")
    con.commit()
    con.close()
    assert main(["alarms", "check", "--data-dir", str(data_dir)]) == 1
    out = capsys.readouterr().out
    assert "tank.overflow:STATE: journal says unack_active, state table says normal" in out
    assert main(["alarms", "check", "--data-dir", str(data_dir / "nowhere")]) == 2


def test_kpis_are_consistent_with_the_stated_window_when_records_are_young(tmp_path: Path, capsys) -> None:
    """The audit's case: a data dir that has recorded alarms for a few minutes, KPIs asked over
    24 h. Every figure must be over the 24 h: the average per 10 min cannot exceed the number of
    new alarms, and the time in flood is a share of the 24 h."""
    import time

    clock = Clock(time.time() - 400)
    r = Rig(tmp_path, clock)
    for i in range(17):  # 17 new alarms in under 6 minutes: a flood
        r.engine.set_anomaly(f"det{i}", True, tag_or_device="tank")
        clock.advance(20)
    r.close()
    assert main(["alarms", "kpis", "--data-dir", str(tmp_path), "--json"]) == 0
    k = json.loads(capsys.readouterr().out)
    day = 24 * 3600.0
    assert k["activations"] == 17 and k["floods"] == 1
    assert k["alarms_per_10min_avg"] == pytest.approx(17 / 144, abs=1e-3)
    assert k["alarms_per_10min_avg"] <= k["activations"]
    assert 0 < k["time_in_flood_s"] <= k["observed_s"] < 600
    assert k["time_in_flood_pct"] == pytest.approx(100 * k["time_in_flood_s"] / day, abs=1e-3)
    assert main(["alarms", "kpis", "--data-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "new alarms: 17" in text and "average per 10 min: 0.118" in text
    assert "note: alarms recorded only since" in text and "of the 24h" in text

"""A node and its broker failing: the Will (NDEATH with the NBIRTH's bdSeq) when the node is
killed, and a broker restart survived with a re-birth and no gap in the node's historian."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from mqtt_support import MosquittoBroker

from app.core.sparkplug import BDSEQ, REBIRTH, MessageType, SpDataType
from app.core.sparkplug.payload import add_metric, new_payload
from node.mqtt_probe import Probe
from node.sp_host import GROUP, HostView, start_node, wait_until, watch

ROOT = Path(__file__).resolve().parents[2]
VIGIL = "import sys; from app.cli import main; sys.exit(main())"


def _bdseq(d) -> int:  # type: ignore[no-untyped-def]
    value = d.payload.by_name()[BDSEQ].value
    assert isinstance(value, int)
    return value


def _since_last_nbirth(probe: Probe) -> int:
    """Messages seen from the last NBIRTH on (it included)."""
    view = HostView.of(probe)
    return len(view.messages) - view.messages.index(view.of_type(MessageType.NBIRTH)[-1])


def _rebirth_request() -> bytes:
    p = new_payload(int(time.time() * 1000), None)
    add_metric(p, SpDataType.Boolean, True, name=REBIRTH)
    return p.SerializeToString()


def test_broker_restart_is_survived_with_a_rebirth_and_no_historian_gap(
        mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    interval_s = 0.1
    with watch(mosquitto.config()) as probe:
        node = start_node(tmp_path, mosquitto.config(), interval_ms=int(interval_s * 1000))
        try:
            wait_until(lambda: bool(HostView.of(probe).of_type(MessageType.NBIRTH)), 15, "the first NBIRTH")
            tag = "tank.level"
            historian = node.core.historian
            t_start = time.time()
            wait_until(lambda: len(historian.query([tag], t_start, t_start + 60)[tag].t) >= 5, 10,
                       "polls stored before the outage")
            t_down = time.time()
            mosquitto.stop()
            time.sleep(2.0)  # the plant goes on without a broker
            mosquitto.start()
            t_up = time.time()
            # node and watcher both reconnect by themselves (paho's backoff, at most 5 s); when
            # the node was back first, the watcher missed its NBIRTH and asks for a rebirth, as
            # any Sparkplug host that joins late does
            wait_until(lambda: probe.connected, 20, "the watcher back")
            try:
                wait_until(lambda: len(HostView.of(probe).of_type(MessageType.NBIRTH)) >= 2, 8,
                           "the node's NBIRTH after the broker came back")
            except AssertionError:
                probe.publish(f"spBv1.0/{GROUP}/NCMD/area-1", _rebirth_request())
                wait_until(lambda: len(HostView.of(probe).of_type(MessageType.NBIRTH)) >= 2, 15,
                           "the node's NBIRTH after the broker came back")
            wait_until(lambda: _since_last_nbirth(probe) >= 5, 5, "the DBIRTHs that follow the NBIRTH")
            view = HostView.of(probe)
            births = view.of_type(MessageType.NBIRTH)
            assert _bdseq(births[-1]) == _bdseq(births[0]) + 1  # a new session, a new bdSeq
            after = view.messages[view.messages.index(births[-1]):]
            assert [d.payload.seq for d in after[:5] if d.payload] == [0, 1, 2, 3, 4]
            assert {d.topic.device for d in after if d.topic.type is MessageType.DBIRTH} == {
                "pump", "meter", "tank", "vitals"}
            wait_until(lambda: len(HostView.of(probe).of_type(MessageType.DDATA)) > len(view.of_type(
                MessageType.DDATA)), 10, "data after the rebirth")
            # the historian stored every poll while the broker was away
            t_end = time.time()
            wait_until(lambda: len(historian.query([tag], t_end - 0.5, t_end + 1)[tag].t) > 0, 5, "stored")
            series = historian.query([tag], t_start, t_end)[tag]
            gaps = np.diff(series.t)
            assert series.t[0] < t_down and series.t[-1] > t_up
            assert gaps.max() < 5 * interval_s, f"historian gap of {gaps.max():.2f} s across the outage"
        finally:
            node.stop()


def test_killed_node_death_carries_the_bdseq_of_its_birth(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", VIGIL, "node", "--broker", mosquitto.url(), "--group", GROUP,
           "--node-id", "doomed", "--data-dir", str(tmp_path / "data"), "--duration", "60"]
    with watch(mosquitto.config()) as probe:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: bool(HostView.of(probe).of_type(MessageType.NBIRTH)), 30, "the NBIRTH")
            # a second session: the broker restarts, the node re-births with the next bdSeq
            mosquitto.restart()
            wait_until(lambda: probe.connected and len(probe.suback) >= 2, 15, "the watcher back")
            probe.suback.clear()
            probe.publish(f"spBv1.0/{GROUP}/NCMD/doomed", _rebirth_request())
            wait_until(lambda: len(HostView.of(probe).of_type(MessageType.NBIRTH)) >= 2, 20,
                       "the NBIRTH again")
            birth = HostView.of(probe).of_type(MessageType.NBIRTH)[-1]
            assert _bdseq(birth) == 1
            # the first session's death may already be there (its connection dropped with the
            # broker): wait for the one the kill causes
            deaths_before = len(HostView.of(probe).of_type(MessageType.NDEATH))
            proc.send_signal(signal.SIGKILL)
            wait_until(lambda: len(HostView.of(probe).of_type(MessageType.NDEATH)) > deaths_before, 20,
                       "the NDEATH (Will)")
        finally:
            proc.kill()
            out = proc.communicate(timeout=30)[0].decode(errors="replace")
    death = HostView.of(probe).of_type(MessageType.NDEATH)[-1]
    assert death.payload is not None and death.payload.seq is None  # NDEATH has no seq
    assert [m.name for m in death.payload.metrics] == [BDSEQ]
    assert _bdseq(death) == _bdseq(birth) == 1, out
    # the Will is published when the broker sees the connection drop, not after keepalive
    mosquitto.stop()  # it writes its log out as it stops
    broker_log = mosquitto.log_path.read_text(errors="replace")
    assert f"Client vigil-node-{GROUP}-doomed closed its connection" in broker_log, broker_log[-2000:]
    assert "exceeded timeout" not in broker_log, broker_log[-2000:]


def test_sigterm_stops_the_node_cleanly(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    """systemd's stop: the node says goodbye (NDEATH with its bdSeq), exits 0, and its journal
    verifies, with the node's start and stop in it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    data = tmp_path / "data"
    cmd = [sys.executable, "-c", VIGIL, "node", "--broker", mosquitto.url(), "--group", GROUP,
           "--node-id", "calm", "--data-dir", str(data), "--duration", "60"]
    with watch(mosquitto.config()) as probe:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: len(HostView.of(probe).of_type(MessageType.DDATA)) >= 2, 30, "the node's data")
            proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=30)[0].decode(errors="replace")
        finally:
            proc.kill()
        assert proc.returncode == 0, out
        wait_until(lambda: bool(HostView.of(probe).of_type(MessageType.NDEATH)), 5, "the NDEATH")
    death = HostView.of(probe).of_type(MessageType.NDEATH)[0]
    assert _bdseq(death) == _bdseq(HostView.of(probe).of_type(MessageType.NBIRTH)[0])
    assert "vigil node: stopped" in out
    verify = subprocess.run([sys.executable, "-c", VIGIL, "journal", "verify", "--data-dir", str(data)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    shown = subprocess.run([sys.executable, "-c", VIGIL, "journal", "show", "--data-dir", str(data)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60).stdout
    assert "node.start" in shown and "node.stop" in shown

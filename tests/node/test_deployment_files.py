"""The files packaging/ ships for a deployment work as shipped: the systemd unit's command line
is one `vigil node` accepts, and Mosquitto starts from vigil.conf (paths and ports swapped for
the test's) and enforces its log-in and ACL."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from mqtt_support import MOSQUITTO, SECURED_USERS, MosquittoBroker, free_port, shipped_acl

from app.cli import build_parser, main
from app.station.mqtt_link import BrokerConfig
from node.mqtt_probe import Probe
from node.sp_host import wait_until

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def _unit() -> dict[str, list[str]]:
    text = (PACKAGING / "systemd" / "vigil-node.service").read_text().replace("\\\n", " ")
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key}", []).append(value.strip())
    return settings


def test_systemd_unit_runs_the_node_as_its_own_user_with_a_private_data_folder(
        tmp_path: Path) -> None:
    unit = _unit()
    assert unit["Service.User"] == ["vigil"] and unit["Service.Group"] == ["vigil"]
    assert unit["Service.StateDirectory"] == ["vigil-node"]
    assert unit["Service.StateDirectoryMode"] == ["0700"] and unit["Service.UMask"] == ["0077"]
    assert unit["Service.KillSignal"] == ["SIGTERM"]
    for hardening in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "RestrictSUIDSGID"):
        assert unit[f"Service.{hardening}"] == ["yes"], hardening
    assert unit["Service.ProtectSystem"] == ["strict"]
    assert unit["Service.CapabilityBoundingSet"] == [""]
    argv = shlex.split(unit["Service.ExecStart"][0].replace("%d", str(tmp_path)))
    assert argv[0].endswith("/vigil") and argv[1] == "node"
    args = build_parser().parse_args(argv[1:])  # the shipped command line is one vigil accepts
    assert args.data_dir == "/var/lib/vigil-node"
    assert args.broker.startswith("mqtts://") and args.username == args.node_id
    # the password comes from systemd's credential folder, never from an argument
    assert str(args.password_file) == f"{tmp_path}/broker-password"


def test_shipped_mosquitto_conf_starts_and_enforces_log_in(tmp_path: Path) -> None:
    certs = MosquittoBroker(tmp_path / "certs", tls=True)  # only for its CA and server certificate
    assert certs.ca_path is not None
    passwd = tmp_path / "vigil.passwd"
    for i, (user, password) in enumerate(SECURED_USERS.items()):
        subprocess.run(
            ["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), str(passwd), user, password],
            check=True, timeout=30, capture_output=True)
    acl = tmp_path / "vigil.acl"
    acl.write_text(shipped_acl())
    tls_port, local_port = free_port(), free_port()
    conf = (PACKAGING / "mosquitto" / "vigil.conf").read_text()
    for old, new in (("/etc/mosquitto/vigil.passwd", str(passwd)),
                     ("/etc/mosquitto/vigil.acl", str(acl)),
                     ("/etc/mosquitto/certs/ca.pem", str(certs.ca_path)),
                     ("/etc/mosquitto/certs/broker.pem", str(certs.workdir / "server.pem")),
                     ("/etc/mosquitto/certs/broker.key", str(certs.workdir / "server.key")),
                     ("listener 8883", f"listener {tls_port} 127.0.0.1"),
                     ("listener 1883 127.0.0.1", f"listener {local_port} 127.0.0.1"),
                     ("/var/lib/mosquitto/", f"{tmp_path}/")):
        assert old in conf, old
        conf = conf.replace(old, new)
    (tmp_path / "mosquitto.conf").write_text(conf + "user root\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def accepting() -> bool:
            import socket

            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                for port in (tls_port, local_port):
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_until(accepting, 10, "the shipped configuration to start")
        anonymous = Probe(BrokerConfig("127.0.0.1", local_port), "anon")
        assert anonymous.connect_rc is not None and anonymous.connect_rc.is_failure
        anonymous.close()
        station = BrokerConfig("127.0.0.1", tls_port, "station", SECURED_USERS["station"],
                               tls_ca=certs.ca_path)
        with Probe(station, "station-1") as ok:
            assert ok.connected
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(("argv", "said"), [
    (["--broker", "http://b:1"], "scheme 'http'"),
    (["--broker", "mqtt://b:1", "--node-id", "a/b"], "node id 'a/b'"),
    (["--broker", "mqtt://b:1", "--username", "u", "--password-file", "/nonexistent/pw"], "cannot be read"),
])
def test_node_command_refuses_bad_arguments_by_name(
        argv: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["node", "--data-dir", str(tmp_path / "data"), *argv])
    assert code == 2
    assert said in capsys.readouterr().err

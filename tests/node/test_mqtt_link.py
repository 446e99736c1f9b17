"""Broker addresses and clients (app/station/mqtt_link.py), and the test broker itself, against a
real Mosquitto: credentials, the shipped ACL and TLS with a CA made in the test."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mqtt_support import SECURED_USERS, MosquittoBroker, shipped_acl

from app.station.mqtt_link import BrokerConfig, BrokerConfigError, make_client
from node.mqtt_probe import Probe


def test_url_forms(tmp_path: Path) -> None:
    assert BrokerConfig.from_url("mqtt://10.0.0.5:1884") == BrokerConfig("10.0.0.5", 1884)
    assert BrokerConfig.from_url("mqtt://broker").port == 1883
    tls = BrokerConfig.from_url("mqtts://broker.plant")
    assert (tls.port, tls.uses_tls) == (8883, True)
    pw = tmp_path / "pw"
    pw.write_text("s3cret\nignored\n")
    cfg = BrokerConfig.from_url("mqtt://h:1", username="area-1", password_file=pw)
    assert (cfg.username, cfg.password) == ("area-1", "s3cret")
    assert "s3cret" not in cfg.describe() and "s3cret" not in repr(cfg)
    assert cfg.describe() == "mqtt://h:1 as area-1"


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("broker:1883", "no scheme"),
        ("http://broker:1883", "scheme 'http'"),
        ("mqtt://broker:99999", "port"),
        ("mqtt://broker:abc", "port 'abc'"),
        ("mqtt://:1883", "no host"),
        ("mqtt://u:pw@broker", "--password-file"),
        ("mqtt://broker/plant", "'/plant'"),
    ],
)
def test_bad_url_names_the_bad_part(url: str, named: str) -> None:
    with pytest.raises(BrokerConfigError, match="broker URL") as e:
        BrokerConfig.from_url(url)
    assert named in str(e.value)
    assert ":pw@" not in str(e.value)


def test_bad_credentials_and_tls_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(BrokerConfigError, match=r"--password-file .*cannot be read"):
        BrokerConfig.from_url("mqtt://h", username="u", password_file=tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(BrokerConfigError, match="is empty"):
        BrokerConfig.from_url("mqtt://h", username="u", password_file=empty)
    with pytest.raises(BrokerConfigError, match=r"--tls-ca .*no such file"):
        BrokerConfig.from_url("mqtts://h", tls_ca=tmp_path / "ca.pem")
    with pytest.raises(BrokerConfigError, match="--tls-cert and --tls-key go together"):
        BrokerConfig.from_url("mqtts://h", tls_cert=empty)


def test_client_connects_and_the_will_is_published_on_an_unclean_end(mosquitto: MosquittoBroker) -> None:
    cfg = mosquitto.config()
    with Probe(cfg, "watcher", subscribe=("last/#",)) as watcher:
        watcher.wait_subscribed(1)
        client = make_client(cfg, "dying", will=("last/words", b"gone", 1, False))
        client.connect(cfg.host, cfg.port, keepalive=10)
        client.loop_start()
        deadline = time.monotonic() + 5
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.is_connected()
        client.loop_stop()
        client.socket().close()  # no DISCONNECT: the broker must publish the Will
        msg = watcher.wait_message(lambda m: m.topic == "last/words", what="the Will")
        assert msg.payload == b"gone"


def test_secured_broker_refuses_a_wrong_password(secured_mosquitto: MosquittoBroker) -> None:
    good = secured_mosquitto.config("station")
    with Probe(good, "station-1") as ok:
        assert ok.connected
    bad = BrokerConfig(good.host, good.port, username="station", password="wrong")
    with Probe(bad, "station-2") as refused:
        assert refused.connect_rc is not None and refused.connect_rc.is_failure


def test_shipped_acl_keeps_a_node_inside_its_own_namespace(secured_mosquitto: MosquittoBroker) -> None:
    watch = ("spBv1.0/#", "vigil/#")
    with Probe(secured_mosquitto.config("admin"), "admin-watch", subscribe=watch) as admin, \
            Probe(secured_mosquitto.config("node"), "node") as node, \
            Probe(secured_mosquitto.config("station"), "station-1") as station:
        admin.wait_subscribed(2)
        node.publish("spBv1.0/G/NDATA/other", b"forged")  # another node's namespace
        node.publish("spBv1.0/G/DCMD/node/pump", b"self-command")  # commands are not the node's
        station.publish("spBv1.0/G/NBIRTH/node", b"impersonation")  # a station is not a node
        station.publish("spBv1.0/G/DCMD/node/pump", b"command")  # allowed
        station.publish("vigil/G/node/req/station", b"request")  # allowed: in its own name
        station.publish("vigil/G/node/req/other-station", b"posing")  # another station's name
        station.publish("vigil/G/node/reply/station", b"fake reply")  # only nodes answer
        node.publish("spBv1.0/G/NDATA/node", b"own")  # allowed; arrives after the ones above
        admin.wait_message(lambda m: m.payload == b"own", what="the node's own NDATA")
        got = {m.payload for m in admin.messages}
        assert {b"command", b"request", b"own"} <= got
        assert not {b"forged", b"self-command", b"impersonation", b"posing", b"fake reply"} & got


def test_tls_with_a_ca_made_in_the_test(tmp_path: Path) -> None:
    with MosquittoBroker(tmp_path / "tls", tls=True, users=SECURED_USERS, acl=shipped_acl()) as broker:
        assert broker.ca_path is not None and broker.url().startswith("mqtts://")
        cfg = BrokerConfig.from_url(broker.url(), username="admin", tls_ca=broker.ca_path,
                                    password_file=_pwfile(tmp_path, "admin-secret-1"))
        with Probe(cfg, "tls-admin", subscribe=("t/#",)) as probe:
            probe.wait_subscribed(1)
            probe.publish("t/x", b"over tls")
            probe.wait_message(lambda m: m.payload == b"over tls")
        # a client that does not trust the test CA cannot connect
        stranger = BrokerConfig(broker.host, broker.port, username="admin", password="admin-secret-1",
                                tls=True)
        client = make_client(stranger, "stranger")
        with pytest.raises(OSError):
            client.connect(stranger.host, stranger.port)


def test_restart_keeps_the_port(mosquitto: MosquittoBroker) -> None:
    port = mosquitto.port
    mosquitto.restart()
    assert mosquitto.port == port and mosquitto.running
    with Probe(mosquitto.config(), "after-restart") as probe:
        assert probe.connected


def _pwfile(tmp_path: Path, password: str) -> Path:
    p = tmp_path / "broker-password"
    p.write_text(password + "\n")
    return p

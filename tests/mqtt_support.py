"""A real Mosquitto broker for tests, started on a free 127.0.0.1 port with a generated config.

Consumers import the fixtures into their own conftest.py (tests/ is on sys.path):

    from mqtt_support import MosquittoBroker, mosquitto, secured_mosquitto  # noqa: F401

``mosquitto`` is anonymous with no ACL; ``secured_mosquitto`` has the accounts "node",
"station" and "admin" and the ACL that packaging/mosquitto/vigil.acl ships (read from that
file, so the tests check the deployed rules). A node on the secured broker logs in as "node"
and so has the Sparkplug node id "node" (the ACL ties a node's namespace to its user name).
TLS brokers get a CA and a server certificate generated here with `cryptography`.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.station.mqtt_link import BrokerConfig

ROOT = Path(__file__).resolve().parents[1]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
SHIPPED_ACL = ROOT / "packaging" / "mosquitto" / "vigil.acl"
#: the accounts of `secured_mosquitto` (user -> password)
SECURED_USERS = {"node": "node-secret-1", "station": "station-secret-1", "admin": "admin-secret-1"}
#: how long a starting broker may take to accept connections
START_TIMEOUT_S = 10.0


def shipped_acl() -> str:
    """The ACL text packaging/mosquitto/ ships (node patterns, "station" and "admin" users)."""
    return SHIPPED_ACL.read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MosquittoBroker:
    """One ``mosquitto`` process owned by a test. The port is chosen once and kept across
    `restart()`, so clients reconnect to the same address."""

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        tls: bool = False,
    ) -> None:
        if not Path(MOSQUITTO).exists():
            raise RuntimeError(
                f"{MOSQUITTO} is missing: run packaging/dev-setup.sh as root (apt-get install mosquitto)"
            )
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.acl = acl
        self.tls = tls
        self.port = free_port()
        self.ca_path: Path | None = None
        self.log_path = self.workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        if tls:
            self.ca_path, self._cert_path, self._key_path = _make_tls_files(self.workdir)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Write the config and start the broker; returns once it accepts TCP connections."""
        if self.running:
            return
        conf = self._write_config()
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self._proc.returncode}:\n{self.log_path.read_text()[-2000:]}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"mosquitto did not accept connections on port {self.port} within "
                           f"{START_TIMEOUT_S:.0f} s:\n{self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without a goodbye."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    # ------------------------------------------------------------------ clients
    def config(self, user: str | None = None) -> BrokerConfig:
        """How a client reaches this broker, logged in as ``user`` (None: anonymous)."""
        if user is not None and user not in self.users:
            raise KeyError(f"no broker account '{user}' (have: {', '.join(self.users) or 'none'})")
        return BrokerConfig(
            host=self.host,
            port=self.port,
            username=user,
            password=self.users[user] if user is not None else None,
            tls_ca=self.ca_path,
        )

    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    # ------------------------------------------------------------------ config
    def _write_config(self) -> Path:
        lines = [
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            "persistence false",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
        ]
        if os.getuid() == 0:  # as root mosquitto would switch to the 'mosquitto' account
            lines.append(f"user {pwd.getpwuid(os.getuid()).pw_name}")
        if self.tls:
            lines += [f"cafile {self.ca_path}", f"certfile {self._cert_path}", f"keyfile {self._key_path}"]
        if self.users:
            passwd = self.workdir / "passwd"
            passwd.unlink(missing_ok=True)
            for i, (name, password) in enumerate(self.users.items()):
                args = [MOSQUITTO_PASSWD, "-b", *(["-c"] if i == 0 else []), str(passwd), name, password]
                subprocess.run(args, check=True, capture_output=True, timeout=30)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            acl = self.workdir / "acl"
            acl.write_text(self.acl, encoding="utf-8")
            lines.append(f"acl_file {acl}")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return conf


def _make_tls_files(workdir: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vigil test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False, data_encipherment=False,
                          key_agreement=False, encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = workdir / "ca.pem", workdir / "server.pem", workdir / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                          serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """An anonymous broker with no ACL on a free 127.0.0.1 port."""
    with MosquittoBroker(tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture
def secured_mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker with accounts "node", "station", "admin" and the shipped ACL."""
    with MosquittoBroker(tmp_path / "mosquitto", users=SECURED_USERS, acl=shipped_acl()) as broker:
        yield broker

"""A real asyncua OPC UA server on 127.0.0.1 in its own thread, for the driver tests and the
benchmark: a "Boiler" object with a few variables, values and status codes settable from the
test thread, optional user/password login, and stop/start on the same port."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager

URI = "urn:vigil:test"
#: name -> (initial value, variant type, writable)
VARIABLES: dict[str, tuple[Any, ua.VariantType, bool]] = {
    "Temperature": (21.5, ua.VariantType.Double, False),
    "Level": (7, ua.VariantType.Int32, False),
    "Running": (True, ua.VariantType.Boolean, True),
    "Setpoint": (50.0, ua.VariantType.Double, True),
    "Pressure": (1.25, ua.VariantType.Float, False),
}


class _Passwords(UserManager):
    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = dict(users)

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username is None:  # anonymous sessions stay allowed (most tests use them)
            return User(role=UserRole.User)
        if self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


class UaTestServer:
    def __init__(
        self,
        port: int = 0,
        users: Mapping[str, str] | None = None,
        extra: int = 0,
        secure_dir: Path | None = None,
    ) -> None:
        self.port = port
        self.users = users
        #: with a folder: also offer Basic256Sha256 SignAndEncrypt, with self-signed certificates
        #: for the server and for a client made there (``client_cert``, ``client_key``)
        self.secure_dir = secure_dir
        self.client_cert = self.client_key = ""
        self.extra = extra  # additional Double variables "V0".."Vn-1" (benchmark)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self.nodes: dict[str, Any] = {}
        self.idx = 0
        for name in ("asyncua",):
            logging.getLogger(name).setLevel(logging.CRITICAL)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/vigil/"

    def start(self) -> UaTestServer:
        ready = threading.Event()
        error: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start())
            except BaseException as e:
                error.append(e)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="test-opcua-server")
        self._thread.start()
        if not ready.wait(30) or error:
            raise RuntimeError(f"OPC UA test server did not start: {error}")
        return self

    async def _start(self) -> None:
        server = Server(user_manager=_Passwords(self.users) if self.users else None)
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{self.port}/vigil/")
        if self.secure_dir is None:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            await self._certificates(server, self.secure_dir)
        self.idx = await server.register_namespace(URI)
        boiler = await server.nodes.objects.add_object(self.idx, "Boiler")
        for name, (value, vtype, writable) in VARIABLES.items():
            node = await boiler.add_variable(
                f"ns={self.idx};s=Boiler.{name}", f"{self.idx}:{name}", ua.Variant(value, vtype)
            )
            if writable:
                await node.set_writable()
            self.nodes[name] = node
        for i in range(self.extra):
            name = f"V{i}"
            self.nodes[name] = await boiler.add_variable(
                f"ns={self.idx};s=Boiler.{name}",
                f"{self.idx}:{name}",
                ua.Variant(0.0, ua.VariantType.Double),
            )
        await server.start()
        self.port = server.bserver._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        # a restart (stop, start) must bind the same port again, not a new random one
        server.set_endpoint(f"opc.tcp://127.0.0.1:{self.port}/vigil/")
        self._server = server

    async def _certificates(self, server: Server, folder: Path) -> None:
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        from cryptography.x509.oid import ExtendedKeyUsageOID

        host = socket.gethostname()
        await server.set_application_uri("urn:vigil:test:server")
        await setup_self_signed_certificate(
            folder / "server-key.pem",
            folder / "server-cert.der",
            "urn:vigil:test:server",
            host,
            [ExtendedKeyUsageOID.SERVER_AUTH],
            {"organizationName": "Vigil tests"},
        )
        await server.load_certificate(str(folder / "server-cert.der"))
        await server.load_private_key(str(folder / "server-key.pem"))
        server.set_security_policy(
            [ua.SecurityPolicyType.NoSecurity, ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
        )
        # the client certificate carries asyncua's default client application uri
        await setup_self_signed_certificate(
            folder / "client-key.pem",
            folder / "client-cert.der",
            "urn:example.org:FreeOpcUa:opcua-asyncio",
            host,
            [ExtendedKeyUsageOID.CLIENT_AUTH],
            {"organizationName": "Vigil tests"},
        )
        self.client_cert, self.client_key = str(folder / "client-cert.der"), str(folder / "client-key.pem")

    def call(self, coro_fn: Any, timeout: float = 10.0) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(timeout)

    def set(self, name: str, value: Any, status: int = ua.StatusCodes.Good) -> None:
        vtype = VARIABLES[name][1] if name in VARIABLES else ua.VariantType.Double
        dv = ua.DataValue(ua.Variant(value, vtype), StatusCode=ua.StatusCode(ua.UInt32(status)))

        async def write() -> None:
            await self.nodes[name].write_value(dv)

        self.call(write)

    def get(self, name: str) -> Any:
        async def read() -> Any:
            return await self.nodes[name].read_value()

        return self.call(read)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop serving (every session and connection dropped) and serve again on the same
        port, as a PLC's server does when it restarts; the address space is kept."""
        server = self._server
        assert server is not None

        async def bounce() -> None:
            await server.stop()
            await asyncio.sleep(down_s)
            await server.start()

        self.call(bounce, timeout=30 + down_s)

    def down(self) -> None:
        server = self._server
        assert server is not None

        async def stop() -> None:
            await server.stop()

        self.call(stop, timeout=30)

    def up(self) -> None:
        server = self._server
        assert server is not None

        async def start() -> None:
            await server.start()

        self.call(start, timeout=30)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        server = self._server

        async def stop() -> None:
            if server is not None:
                await server.stop()

        try:
            self.call(stop, timeout=15)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)
            self._loop = self._thread = self._server = None

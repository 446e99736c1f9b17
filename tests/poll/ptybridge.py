"""A virtual serial cable in pure Python: two pseudo-terminals whose master ends are joined by
a copying thread, so a serial client on one end and a serial server on the other talk as if
over a null-modem cable (the role ``socat pty,raw pty,raw`` usually plays)."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty


class PtyBridge:
    def __init__(self) -> None:
        self._ma, self._sa = os.openpty()
        self._mb, self._sb = os.openpty()
        for fd in (self._sa, self._sb):
            tty.setraw(fd)  # no echo, no line editing until pyserial opens the port itself
        self.port_a = os.ttyname(self._sa)
        self.port_b = os.ttyname(self._sb)
        self.bytes_copied = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="pty-bridge", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        peer = {self._ma: self._mb, self._mb: self._ma}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peer), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # the other side closed its end for a moment
                    continue
                if data:
                    os.write(peer[fd], data)
                    self.bytes_copied += len(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for fd in (self._ma, self._sa, self._mb, self._sb):
            with contextlib.suppress(OSError):
                os.close(fd)

"""A loopback TCP proxy in front of PostgreSQL that can refuse or black-hole the traffic, to see
what the application does when its database goes away.

    with FaultProxy("127.0.0.1", 5432) as proxy:
        url = proxy.url_for(database_url)   # the same SQLAlchemy URL, pointed at the proxy
        proxy.refuse()       # open connections dropped, new ones closed at once
        proxy.blackhole()    # connections stay open, nothing is forwarded either way
        proxy.passthrough()  # back to normal

Black-holing is the fault that timeouts alone miss: the kernel still accepts and ACKs the bytes,
so neither TCP keepalive nor ``tcp_user_timeout`` fires; only a deadline on the answer does.

Bounded: it listens on 127.0.0.1 only, forwards only to a loopback upstream, keeps at most
``MAX_CONNECTIONS`` connections (two daemon threads each), and closes itself after
``MAX_LIFETIME_SECONDS`` if a test forgets to.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

from sqlalchemy.engine import make_url

_POLL_SECONDS = 0.05
_CHUNK = 65536


class FaultProxy:
    """A loopback TCP proxy in front of PostgreSQL; threads; a context manager."""

    MAX_CONNECTIONS = 128
    MAX_LIFETIME_SECONDS = 600.0

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        resolved = socket.getaddrinfo(upstream_host, upstream_port, socket.AF_INET,
                                      socket.SOCK_STREAM)[0][4][0]
        if not ipaddress.ip_address(resolved).is_loopback:
            raise ValueError(f"FaultProxy forwards only to loopback addresses, not {resolved}")
        self._upstream = (str(resolved), upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        self._mode = "passthrough"
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self._started_at = time.monotonic()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FaultProxy:
        self._started_at = time.monotonic()
        self._spawn(self._accept_loop, "faultproxy-accept")
        return self

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with self._changed:
            self._changed.notify_all()
        self._drop_all()
        self._listener.close()
        current = threading.current_thread()
        for thread in list(self._threads):
            if thread is not current:
                thread.join(timeout=2)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ faults

    def passthrough(self) -> None:
        self._set_mode("passthrough")

    def refuse(self) -> None:
        self._set_mode("refuse")
        self._drop_all()

    def blackhole(self) -> None:
        self._set_mode("blackhole")

    def url_for(self, database_url: str) -> str:
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    # ------------------------------------------------------------------ internals

    def _set_mode(self, mode: str) -> None:
        with self._changed:
            self._mode = mode
            self._changed.notify_all()

    def _expired(self) -> bool:
        return time.monotonic() - self._started_at > self.MAX_LIFETIME_SECONDS

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [alive for alive in self._threads if alive.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            if self._expired():
                threading.Thread(target=self.close, daemon=True).start()
                return
            try:
                client, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            with self._changed:
                mode = self._mode
            if mode == "refuse" or len(self._pairs) >= self.MAX_CONNECTIONS:
                _close_quietly(client)
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=3)
            except OSError:
                _close_quietly(client)
                continue
            for end in (client, upstream):
                end.settimeout(_POLL_SECONDS)
            with self._changed:
                self._pairs.append((client, upstream))
            self._spawn(self._pump, "faultproxy-up", client, upstream)
            self._spawn(self._pump, "faultproxy-down", upstream, client)

    def _wait_for_passthrough(self) -> bool:
        """Block while black-holed; False once the proxy closes or refuses."""
        with self._changed:
            while self._mode == "blackhole" and not self._closed.is_set():
                self._changed.wait(_POLL_SECONDS)
            return self._mode == "passthrough" and not self._closed.is_set()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while self._wait_for_passthrough():
                try:
                    data = source.recv(_CHUNK)
                except TimeoutError:
                    continue
                if not data:
                    break
                # Bytes read just before a black-hole are held, not forwarded, until it lifts.
                if not self._wait_for_passthrough():
                    break
                self._send_all(target, data)
        except OSError:
            pass  # the other side or refuse() closed it
        finally:
            self._drop_pair_of(source)

    def _send_all(self, target: socket.socket, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._closed.is_set():
                raise OSError("proxy closed")
            try:
                sent = target.send(view)
            except TimeoutError:
                continue  # the receiver is slow: keep trying until it drains or we close
            view = view[sent:]

    def _drop_pair_of(self, end: socket.socket) -> None:
        with self._changed:
            pairs = [pair for pair in self._pairs if end in pair]
            self._pairs = [pair for pair in self._pairs if end not in pair]
        for pair in pairs:
            for sock in pair:
                _close_quietly(sock)

    def _drop_all(self) -> None:
        with self._changed:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _close_quietly(sock)


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()

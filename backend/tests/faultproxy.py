"""A loopback TCP proxy in front of PostgreSQL that can refuse or black-hole the database.

A stand-in with the API of the ``faults`` branch's proxy, for the fault drill until that one
lands (it replaces this file at merge):

* ``passthrough()``: bytes flow both ways (connections held during a black hole resume);
* ``refuse()``: the port is closed (connects get ECONNREFUSED) and open connections are reset,
  as when the database is down;
* ``blackhole()``: connects are accepted, but nothing flows either way on any connection, as in
  a network partition: a client waits until its own timeouts give up.
"""

from __future__ import annotations

import contextlib
import enum
import selectors
import socket
import struct
import threading
import time

from sqlalchemy.engine import make_url

_POLL_S = 0.05
_CHUNK = 65536


class Mode(enum.Enum):
    PASSTHROUGH = "passthrough"
    REFUSE = "refuse"
    BLACKHOLE = "blackhole"
    CLOSED = "closed"


class FaultProxy:
    MAX_LIFETIME_SECONDS = 600.0  # the API of the faults branch's proxy (not enforced here)

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._mode = Mode.PASSTHROUGH
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()

    # ------------------------------------------------------------ control

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def passthrough(self) -> None:
        self._set(Mode.PASSTHROUGH)
        self._listen()

    def blackhole(self) -> None:
        self._set(Mode.BLACKHOLE)
        self._listen()

    def refuse(self) -> None:
        self._set(Mode.REFUSE)
        self._unlisten()
        self._reset_all()

    def close(self) -> None:
        self._set(Mode.CLOSED)
        self._unlisten()
        self._reset_all()

    def url_for(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by this proxy's."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    @property
    def mode(self) -> Mode:
        return self._mode

    # ------------------------------------------------------------ internals

    def _set(self, mode: Mode) -> None:
        with self._lock:
            self._mode = mode

    def _listen(self) -> None:
        with self._lock:
            if self._listener is not None or self._mode is Mode.CLOSED:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))  # the same port again after a refusal
            listener.listen(128)
            listener.settimeout(_POLL_S)
            self.port = listener.getsockname()[1]
            self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True,
                         name=f"faultproxy-accept-{self.port}").start()

    def _unlisten(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _reset_all(self) -> None:
        with self._lock:
            open_sockets, self._sockets = self._sockets, set()
        for sock in open_sockets:
            with contextlib.suppress(OSError):  # RST, not FIN: a database that went away
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.close()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._mode in {Mode.REFUSE, Mode.CLOSED}:
                return False
            self._sockets.add(sock)
            return True

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except TimeoutError:
                if self._listener is not listener:
                    return
                continue
            except OSError:
                return  # closed: refused or closed
            client.settimeout(None)
            if not self._track(client):
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        while self._mode is Mode.BLACKHOLE:  # accepted, but the database never hears of it
            time.sleep(_POLL_S)
        if self._mode is not Mode.PASSTHROUGH:
            self._drop(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            self._drop(client)
            return
        upstream.settimeout(None)
        if not self._track(upstream):
            self._drop(client, upstream)
            return
        self._pump(client, upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while True:
                mode = self._mode
                if mode in {Mode.REFUSE, Mode.CLOSED}:
                    break
                if mode is Mode.BLACKHOLE:
                    time.sleep(_POLL_S)  # nothing flows; the bytes wait in the kernel
                    continue
                try:
                    ready = selector.select(timeout=_POLL_S)
                    done = False
                    for key, _events in ready:
                        source: socket.socket = key.fileobj  # type: ignore[assignment]
                        data = source.recv(_CHUNK)
                        if not data:
                            done = True
                            break
                        peers[source].sendall(data)
                    if done:
                        break
                except (OSError, ValueError):
                    break
        self._drop(client, upstream)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with self._lock:
                self._sockets.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

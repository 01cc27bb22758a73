"""An HTTP server on a thread of this process: what the WeChat Pay and SMS stand-ins speak from
(tests, demos, the benchmark). One thread per request; ``stop()`` refuses connections after."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHttpServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler], *, name: str,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: ThreadingHTTPServer | None = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name=name, daemon=True).start()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        assert self._server is not None, "stopped"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop answering; calling it twice is harmless."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class LocalStandin:
    """A stand-in for an outside service that serves itself on a ``LocalHttpServer``: the
    server's life cycle and address, shared by the stand-ins (``start()`` builds the handler)."""

    _server: LocalHttpServer | None = None

    def _serve(self, handler: type[BaseHTTPRequestHandler], *, name: str, host: str,
               port: int) -> None:
        self._server = LocalHttpServer(handler, name=name, host=host, port=port)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return self._server.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

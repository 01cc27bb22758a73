"""The app server under test: ``huiminbao serve`` (gunicorn) in production mode, in a process of
its own, on a free port of 127.0.0.1.

``huiminbao serve`` always runs gunicorn's ``gthread`` workers. To compare worker models the
benchmark can also start this module (``python -m huiminbao_bench.server``), which serves the
same application with the same options but lets the worker class be chosen.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huiminbao.core.config import PORT_SETTING_PREFIXES, REPO_ROOT

WORKER_CLASSES = ("gthread", "sync")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class WorkerModel:
    worker_class: str
    workers: int
    threads: int

    def __str__(self) -> str:
        if self.worker_class == "gthread":
            return f"gthread, {self.workers} workers × {self.threads} threads"
        return f"{self.worker_class}, {self.workers} workers"


@dataclass
class AppServer:
    process: subprocess.Popen[bytes]
    port: int
    model: WorkerModel
    log_path: Path
    env: dict[str, str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, limit: int = 4000) -> str:
        return tail_of(self.log_path, limit)


def tail_of(log_path: Path, limit: int = 4000) -> str:
    """The end of a server's log (empty if there is none yet), for a failure's message."""
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def server_env(database_url: str, redis_url: str, secret_key: str,
               ports: Mapping[str, str]) -> dict[str, str]:
    """Production settings for ``huiminbao serve``; ``ports`` wires every port to a real service
    (``standins.LocalServices.env``): production refuses the built-in simulators."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(PORT_SETTING_PREFIXES)}
    for name in ("HUIMINBAO_NOW", "HUIMINBAO_FRONTEND_DIR", "WECHAT_APP_ID", "WECHAT_APP_SECRET"):
        env.pop(name, None)
    env.update(ports)
    env.update({
        "HUIMINBAO_MODE": "production",
        "HUIMINBAO_SECRET_KEY": secret_key,
        # Personal-account enrollments only: payers never come back from a gateway here.
        "HUIMINBAO_PUBLIC_URL": "http://127.0.0.1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT / "backend"), env.get("PYTHONPATH")])),
    })
    return env


def start(model: WorkerModel, env: dict[str, str], workdir: Path,
          port: int | None = None) -> AppServer:
    """Start the server (on ``port``, else a free one) and return once ``/api/v1/health``
    answers 200."""
    port = port or free_port()
    common = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(model.workers),
              "--threads", str(model.threads)]
    if model.worker_class == "gthread":
        command = [sys.executable, "-m", "huiminbao.cli", "serve", *common]
    else:
        command = [sys.executable, "-m", "huiminbao_bench.server", *common,
                   "--worker-class", model.worker_class]
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        # A process group of its own (master and workers), so ``kill`` can end all of it at once.
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log,  # noqa: S603
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = AppServer(process, port, model, log_path, env)
    try:
        wait_until_healthy(server)
    except BaseException:
        stop(server)
        raise
    return server


def wait_until_healthy(server: AppServer) -> None:
    wait_until_answering(server.process, server.port, "/api/v1/health", "the server",
                         server.log_tail)


def wait_until_answering(process: subprocess.Popen[bytes], port: int, path: str, what: str,
                         log_tail: Callable[[], str],
                         timeout_s: float = START_TIMEOUT_S) -> None:
    """Return once ``GET path`` on 127.0.0.1:``port`` answers 200; raise with the log's tail if
    the process exits first or the time runs out."""
    deadline = time.monotonic() + timeout_s
    problem = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log_tail()}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", path)
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            problem = repr(exc)
        else:
            if status == 200:
                return
            problem = f"{path} answered {status}"
        finally:
            connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {timeout_s:.0f}s ({problem}):\n"
                       f"{log_tail()}")


def stop(server: AppServer) -> None:
    """Graceful stop (SIGTERM to the gunicorn master), then SIGKILL if it will not go."""
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)


def kill(server: AppServer) -> None:
    """``kill -9`` of the whole server, master and workers at once, as a crash would end it."""
    if server.process.poll() is not None:
        return
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=STOP_TIMEOUT_S)


# ---------------------------------------------------------------- python -m huiminbao_bench.server


def main(argv: list[str] | None = None) -> None:
    """``huiminbao serve`` with a choosable gunicorn worker class (production settings only)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", choices=WORKER_CLASSES, default="sync")
    args = parser.parse_args(argv)

    from huiminbao.app import create_app, start_background_workers
    from huiminbao.cli import _run_gunicorn
    from huiminbao.commands import settings_from_env

    app = create_app(settings_from_env())  # the benchmark has migrated its database already
    options: dict[str, Any] = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "worker_class": args.worker_class,
        "threads": args.threads,
        "accesslog": None,
        "graceful_timeout": 10,
        "timeout": 30,
        "post_fork": lambda _server, _worker: app.extensions["huiminbao"].db.engine.dispose(
            close=False),
        "post_worker_init": lambda _worker: start_background_workers(app),
    }
    _run_gunicorn(app, options)


if __name__ == "__main__":
    main()

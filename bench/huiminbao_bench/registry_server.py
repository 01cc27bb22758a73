"""The registry stand-in of the benchmarks as a process of its own, served by gunicorn.

The benchmarks reach the registry over its protocol, as production reaches a city's bridge. The
stand-in used to run inside the benchmark's own process on werkzeug's development server, which
starts a thread for every connection and closes every connection after one answer: on this
2-core box it took a third of the machine at 50 enrollments/s, competing with the app it was
meant to serve, and its CPU could not be told apart from the load generator's. Here it runs as
a city's bridge would: its own process (its CPU counted on its own), gunicorn's threaded
workers, connections kept alive for the app's pool.

    standin = start(database_url, sender_id, keys, workdir)   # waits until it answers
    ... HUIMINBAO_REGISTRY_URL = standin.url ...
    stop(standin)
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from huiminbao.core.config import REPO_ROOT
from huiminbao.registry.protocol import ProtocolKeys
from huiminbao.registry.server import WsgiApp
from huiminbao_bench.server import free_port, tail_of, wait_until_answering

STOP_TIMEOUT_S = 10.0
THREADS = 8  # the app's 2 workers × 4 threads make at most 8 registry calls at once
_DATABASE_ENV = "HUIMINBAO_STANDIN_DATABASE_URL"


@dataclass
class RegistryProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        from huiminbao.registry.server import ENDPOINT_PATH

        return f"http://127.0.0.1:{self.port}{ENDPOINT_PATH}"

    def log_tail(self, limit: int = 4000) -> str:
        return tail_of(self.log_path, limit)


def app_from_env() -> WsgiApp:
    """gunicorn's application factory: the simulator on the benchmark's database (migrated
    already), speaking the protocol with the sender's keys, sealing with the stand-ins' keys."""
    from huiminbao.core import crypto
    from huiminbao.core.crypto import Keyring
    from huiminbao.registry.server import simulator_server
    from huiminbao.standins import STANDIN_FIELD_KEYS, STANDIN_INDEX_KEY

    crypto.install(Keyring.parse(STANDIN_FIELD_KEYS, STANDIN_INDEX_KEY))
    keys = ProtocolKeys.from_base64(os.environ["HUIMINBAO_REGISTRY_SIGNING_KEY"],
                                    os.environ["HUIMINBAO_REGISTRY_ENCRYPTION_KEY"])
    protocol, _db = simulator_server(os.environ[_DATABASE_ENV],
                                     {os.environ["HUIMINBAO_REGISTRY_SENDER_ID"]: keys},
                                     migrate=False)
    return protocol.wsgi_app()


def start(database_url: str, sender_id: str, keys: ProtocolKeys,
          workdir: Path) -> RegistryProcess:
    port = free_port()
    env = {**os.environ, _DATABASE_ENV: database_url,
           "HUIMINBAO_REGISTRY_SENDER_ID": sender_id,
           "HUIMINBAO_REGISTRY_SIGNING_KEY": keys.signing_key_b64(),
           "HUIMINBAO_REGISTRY_ENCRYPTION_KEY": keys.encryption_key_b64(),
           "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
               "--worker-class", "gthread", "--workers", "1", "--threads", str(THREADS),
               "--keep-alive", "30", "--log-level", "warning",
               "huiminbao_bench.registry_server:app_from_env()"]
    log_path = workdir / f"registry-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log,  # noqa: S603
                                   stderr=subprocess.STDOUT, start_new_session=True)
    standin = RegistryProcess(process, port, log_path)
    try:
        wait_until_answering(process, port, "/healthz", "the registry stand-in",
                             standin.log_tail)
    except BaseException:
        stop(standin)
        raise
    return standin


def stop(standin: RegistryProcess) -> None:
    if standin.process.poll() is not None:
        return
    standin.process.terminate()
    try:
        standin.process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        standin.process.kill()
        standin.process.wait(timeout=5)

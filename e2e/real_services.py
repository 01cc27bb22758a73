"""The journeys again, with every port on its real adapter over HTTP.

A module that imports ``live_server`` from here gets ``huiminbao serve`` (demo mode: demo city,
movable clock) whose registry is reached through the registry protocol (``registry
serve-simulator`` on the server's own SQLite file, so the demo city is the same one), whose
payments go to the WeChat Pay v3 stand-in, whose texts go to the Tencent Cloud SMS fake (codes at
once, the rest through the in-process worker) and whose claim documents go to an S3 endpoint
(moto's server). Each module gets fresh servers, so the journeys' people are new in each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.support import LiveServer, database_path, free_port, start_server, stop_server
from huiminbao.standins import LocalServices


@dataclass
class RealServices:
    services: LocalServices
    workdir: Path  # the app's SQLite file lives here, and the registry reads the same file
    port: int  # the app's, known before it starts: the gateway notifies it

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def real_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServices]:
    workdir = tmp_path_factory.mktemp("e2e-real-services")
    running = LocalServices.start(f"sqlite:///{database_path(workdir)}")
    try:
        yield RealServices(running, workdir, free_port())
    finally:
        running.stop()


@pytest.fixture(scope="module")
def live_server(real_services: RealServices) -> Iterator[LiveServer]:
    server = start_server(real_services.workdir, port=real_services.port,
                          ports_env=real_services.services.env(real_services.base_url))
    yield server
    stop_server(server)

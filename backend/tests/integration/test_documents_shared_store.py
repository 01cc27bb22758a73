"""Claim documents scale out (issue "Going live"): two app instances share one PostgreSQL
schema and one S3 endpoint (moto's server over HTTP). A document uploaded through one is
downloaded through the other, byte for byte; a stranger gets the same 404 on both. Once with
two in-process apps built from two containers (each with its own S3 client and its own, unused,
local folder), once with two served processes (gunicorn) on two ports. The S3_* settings alone
wire the object store (wiring.py), in-process and served alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from huiminbao.app import build_container, create_app
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.claims.models import ClaimDocument
from huiminbao.claims.object_store import S3DocumentStore
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import REPO_ROOT, Settings
from huiminbao.core.container import Container
from huiminbao.registry.demo import load_demo_population
from huiminbao_bench import server
from tests.api.helpers import login
from tests.api.test_claims_support import (
    IN_COVERAGE,
    PDF_BYTES,
    PNG_BYTES,
    WORKED_EXAMPLE,
    enrolled,
    into_coverage,
    staff,
    submit,
    upload,
)
from tests.conftest import TEST_NOW
from tests.log_scan import watch_log_file

pytestmark = pytest.mark.postgres


@dataclass
class Instance:
    app: Flask
    container: Container


def _instance(pg_url: str, s3_env: dict[str, str], clock: MovableClock, folder: Path) -> Instance:
    settings = Settings(database_url=pg_url, testing=True, port_env=s3_env,
                        extra={"documents_dir": str(folder)})
    container = build_container(settings, clock=clock)
    assert isinstance(container.documents, S3DocumentStore)
    return Instance(create_app(container=container), container)


@pytest.fixture
def pair(pg_url: str, s3_env: dict[str, str],
         tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    clock = MovableClock(TEST_NOW)  # one clock: both servers read the same time
    a = _instance(pg_url, s3_env, clock, tmp_path / "a")
    b = _instance(pg_url, s3_env, clock, tmp_path / "b")
    assert a.container.documents is not b.container.documents
    load_demo_population(a.container.db, clock)
    ensure_demo_product(a.container.db, clock)
    yield a, b
    a.container.db.dispose()
    b.container.db.dispose()


def test_a_document_uploaded_through_one_server_is_downloaded_through_the_other(
    pair: tuple[Instance, Instance], tmp_path: Path,
) -> None:
    a, b = pair
    clock = a.container.clock
    assert isinstance(clock, MovableClock)
    zhang = enrolled(a.app.test_client())
    [zhang] = into_coverage(clock, a.container, zhang)
    number = submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]
    pdf = upload(zhang, number, "发票.pdf", PDF_BYTES)
    assert pdf.status_code == 201, pdf.get_json()
    png = upload(zhang, number, "出院小结.png", PNG_BYTES)
    assert png.status_code == 201, png.get_json()

    on_b = b.app.test_client()
    for answer, data, content_type in ((pdf, PDF_BYTES, "application/pdf"),
                                       (png, PNG_BYTES, "image/png")):
        url = answer.get_json()["document"]["url"]
        got = on_b.get(url, headers=zhang.bearer)
        assert got.status_code == 200, got.get_json()
        assert got.data == data and got.headers["Content-Type"] == content_type
    detail = on_b.get(f"/api/v1/claims/{number}", headers=zhang.bearer).get_json()
    assert [d["filename"] for d in detail["documents"]] == ["发票.pdf", "出院小结.png"]

    reviewer = staff(b.app.test_client(), b.container)
    url = pdf.get_json()["document"]["url"]
    assert reviewer.client.get(url, headers=reviewer.bearer).data == PDF_BYTES

    stranger = login(a.app.test_client(), "13800000006")
    for instance in (a, b):
        hidden = instance.app.test_client().get(url, headers=stranger.bearer)
        assert hidden.status_code == 404 and hidden.get_json()["code"] == "not_found"
        ghost = instance.app.test_client().get(f"/api/v1/claims/{number}/documents/999999",
                                               headers=stranger.bearer)
        assert {k: v for k, v in ghost.get_json().items() if k != "request_id"} == {
            k: v for k, v in hidden.get_json().items() if k != "request_id"}
    anonymous = b.app.test_client().get(url)
    assert anonymous.status_code in {401, 404}

    with a.container.db.read() as session:
        keys = session.scalars(select(ClaimDocument.storage_key)).all()
    assert len(keys) == 2 and all(number not in key for key in keys)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # nothing on either server's disk


# ---------------------------------------------------------------- two served processes


def _start_served(env: dict[str, str], workdir: Path) -> server.AppServer:
    port = server.free_port()
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            # gunicorn serving create_app() from the environment, as ``huiminbao serve`` does
            # (without its migrations and demo data: the test has made its own).
            [sys.executable, "-m", "huiminbao_bench.server", "--port", str(port),
             "--workers", "1", "--worker-class", "sync"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    instance = server.AppServer(process, port, server.WorkerModel("threaded", 1, 1), log_path,
                                env)
    watch_log_file(log_path)  # the session's scan for ID and phone numbers
    try:
        server.wait_until_healthy(instance)
    except BaseException:
        server.stop(instance)
        raise
    return instance


@pytest.fixture
def served(pair: tuple[Instance, Instance], pg_url: str, s3_env: dict[str, str],
           tmp_path: Path) -> Iterator[tuple[server.AppServer, server.AppServer]]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("HUIMINBAO_", "S3_", "REDIS_URL", "DATABASE_URL"))}
    env.update(s3_env)
    env.update({
        "HUIMINBAO_MODE": "demo",  # the demo secret key, as the in-process app that signs in
        "HUIMINBAO_NOW": IN_COVERAGE.isoformat(),
        "DATABASE_URL": pg_url,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "backend"),
                                                    os.environ.get("PYTHONPATH")])),
    })
    started: list[server.AppServer] = []
    try:
        for _ in range(2):
            started.append(_start_served(env, tmp_path))
        yield started[0], started[1]
    finally:
        for instance in started:
            server.stop(instance)


def test_two_served_processes_share_documents_through_the_object_store(
    pair: tuple[Instance, Instance], served: tuple[server.AppServer, server.AppServer],
) -> None:
    a, _ = pair
    clock = a.container.clock
    assert isinstance(clock, MovableClock)
    zhang = enrolled(a.app.test_client(), "李娜")  # the module's schema has 张伟 insured
    [zhang] = into_coverage(clock, a.container, zhang)
    number = submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]
    stranger = login(a.app.test_client(), "13800000007")
    first, second = served
    assert first.process.pid != second.process.pid

    http = requests.Session()
    http.trust_env = False  # straight to 127.0.0.1, whatever proxy the environment names
    sent = http.post(f"{first.base_url}/api/v1/claims/{number}/documents",
                     headers=zhang.bearer, timeout=30,
                     files={"file": ("发票.pdf", PDF_BYTES, "application/octet-stream")})
    assert sent.status_code == 201, (sent.text, first.log_tail())
    url = sent.json()["document"]["url"]

    got = http.get(f"{second.base_url}{url}", headers=zhang.bearer, timeout=30)
    assert got.status_code == 200, (got.text, second.log_tail())
    assert got.content == PDF_BYTES and got.headers["Content-Type"] == "application/pdf"
    for instance in (first, second):
        hidden = http.get(f"{instance.base_url}{url}", headers=stranger.bearer, timeout=30)
        assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
    http.close()

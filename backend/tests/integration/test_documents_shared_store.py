"""Claim documents scale out (issue "Going live"): two app instances, each built from its own
container with its own S3 client and its own (unused) local folder, share one PostgreSQL
schema and one S3 endpoint (moto's server over HTTP). A document uploaded through one is
downloaded through the other, byte for byte; a stranger gets the same 404 on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from huiminbao.app import build_container, create_app
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.claims.models import ClaimDocument
from huiminbao.claims.object_store import DocumentStoreConfig, S3DocumentStore
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.registry.demo import load_demo_population
from tests.api.helpers import login
from tests.api.test_claims_support import (
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

pytestmark = pytest.mark.postgres


@dataclass
class Instance:
    app: Flask
    container: Container


def _instance(pg_url: str, s3_env: dict[str, str], clock: MovableClock, folder: Path) -> Instance:
    settings = Settings(database_url=pg_url, testing=True, extra={"documents_dir": str(folder)})
    config = DocumentStoreConfig.from_env(s3_env)
    assert config is not None
    container = replace(build_container(settings, clock=clock),
                        documents=S3DocumentStore(config))
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

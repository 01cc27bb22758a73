"""Claim documents in S3-compatible object storage, against moto's S3 server over HTTP: the
store's round trip, encryption on every object, the sniffed content type, missing keys; and
through the API, an upload when the store is down answers 503 and leaves no document row, a
download when it is down answers 503, an upload whose row cannot be written leaves no object,
one whose commit has an unknown outcome keeps it.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import SessionTransaction

from huiminbao.app import create_app
from huiminbao.claims.models import Claim, ClaimDocument
from huiminbao.claims.object_store import DocumentStoreConfig, S3DocumentStore
from huiminbao.claims.s3_standin import S3Server
from huiminbao.claims.storage import DocumentStoreUnavailable, new_document_key
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.core.crypto import DOCUMENT_MAGIC

from .test_claims_support import (
    PDF_BYTES,
    PNG_BYTES,
    WORKED_EXAMPLE,
    enrolled,
    into_coverage,
    submit,
    upload,
)

FAST = {"connect_timeout_s": 0.5, "read_timeout_s": 0.5, "max_attempts": 2}


def _config(env: dict[str, str], **overrides: Any) -> DocumentStoreConfig:
    config = DocumentStoreConfig.from_env(env)
    assert config is not None
    return replace(config, **overrides)


def _raw_client(env: dict[str, str]) -> Any:
    return boto3.client("s3", endpoint_url=env["S3_ENDPOINT_URL"], region_name=env["S3_REGION"],
                        aws_access_key_id=env["S3_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["S3_SECRET_ACCESS_KEY"])


def _keys(env: dict[str, str]) -> list[str]:
    listed = _raw_client(env).list_objects_v2(Bucket=env["S3_BUCKET"])
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture
def closed_port() -> int:
    """A local port nobody listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A local port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


# ---------------------------------------------------------------- the store itself


def test_put_get_delete_round_trip_with_encryption_and_content_type(
    s3_env: dict[str, str],
) -> None:
    store = S3DocumentStore(_config(s3_env))
    store.probe()
    key = new_document_key("pdf")
    store.put(key, PDF_BYTES, "application/pdf")
    assert store.get(key) == PDF_BYTES
    head = _raw_client(s3_env).head_object(Bucket=s3_env["S3_BUCKET"], Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/pdf"
    assert head["ContentLength"] == len(PDF_BYTES)
    assert head.get("Metadata", {}) == {}
    store.delete(key)
    with pytest.raises(KeyError):
        store.get(key)
    store.delete(key)  # deleting what is gone is harmless


def test_kms_encryption_with_a_key_id(s3_env: dict[str, str]) -> None:
    kms = boto3.client("kms", endpoint_url=s3_env["S3_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    store = S3DocumentStore(_config({**s3_env, "S3_SSE": "aws:kms",
                                     "S3_SSE_KMS_KEY_ID": key_id}))
    key = new_document_key("png")
    store.put(key, PNG_BYTES, "image/png")
    head = _raw_client(s3_env).head_object(Bucket=s3_env["S3_BUCKET"], Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]
    assert store.get(key) == PNG_BYTES


def test_an_unknown_key_is_a_key_error(s3_env: dict[str, str]) -> None:
    with pytest.raises(KeyError):
        S3DocumentStore(_config(s3_env)).get("claims/never-stored.pdf")


def test_sizes_are_checked_before_anything_is_sent(s3_env: dict[str, str]) -> None:
    store = S3DocumentStore(_config(s3_env, max_bytes=16))
    with pytest.raises(ValueError, match="bytes"):
        store.put(new_document_key("pdf"), b"%PDF-" + b"x" * 16, "application/pdf")
    with pytest.raises(ValueError, match="bytes"):
        store.put(new_document_key("pdf"), b"", "application/pdf")
    assert _keys(s3_env) == []


def test_a_missing_bucket_or_a_dead_endpoint_fails_the_probe(
    s3_env: dict[str, str], closed_port: int,
) -> None:
    with pytest.raises(DocumentStoreUnavailable, match=r"NoSuchBucket|404"):
        S3DocumentStore(_config({**s3_env, "S3_BUCKET": "no-such-bucket"})).probe()
    dead = _config({**s3_env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"}, **FAST)
    with pytest.raises(DocumentStoreUnavailable):
        S3DocumentStore(dead).probe()


def test_a_store_that_never_answers_times_out(s3_env: dict[str, str], black_hole: int) -> None:
    store = S3DocumentStore(_config(
        {**s3_env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{black_hole}"}, **FAST))
    started = time.monotonic()
    with pytest.raises(DocumentStoreUnavailable):
        store.put(new_document_key("pdf"), PDF_BYTES, "application/pdf")
    with pytest.raises(DocumentStoreUnavailable):
        store.get("claims/x.pdf")
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- through the API


def _app_with(wired: Container, store: S3DocumentStore) -> Flask:
    return create_app(container=replace(wired, documents=store))


def _document_rows(wired: Container) -> int:
    with wired.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(ClaimDocument)) or 0)


def test_an_upload_goes_to_the_bucket_typed_by_its_content_and_comes_back(
    wired: Container, clock: MovableClock, s3_env: dict[str, str],
) -> None:
    client = _app_with(wired, S3DocumentStore(_config(s3_env))).test_client()
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    number = submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]
    # The client says it is a Windows program; the content says PNG.
    answer = zhang.client.post(
        f"/api/v1/claims/{number}/documents", headers=zhang.bearer,
        data={"file": (io.BytesIO(PNG_BYTES), "出院小结.png", "application/x-msdownload")},
        content_type="multipart/form-data")
    assert answer.status_code == 201, answer.get_json()
    document = answer.get_json()["document"]

    [key] = _keys(s3_env)
    assert number not in key and "张" not in key
    head = _raw_client(s3_env).head_object(Bucket=s3_env["S3_BUCKET"], Key=key)
    assert head["ContentType"] == "image/png" and head["ServerSideEncryption"] == "AES256"
    # Sealed by the app before it left (core/crypto.py): the bucket never holds the image.
    stored = _raw_client(s3_env).get_object(Bucket=s3_env["S3_BUCKET"], Key=key)["Body"].read()
    assert stored.startswith(DOCUMENT_MAGIC) and PNG_BYTES[8:40] not in stored
    with wired.db.read() as session:
        assert session.scalars(select(ClaimDocument.storage_key)).one() == key
    assert not (wired.documents.root / "claims").exists()  # type: ignore[attr-defined]

    mine = zhang.client.get(document["url"], headers=zhang.bearer)
    assert mine.status_code == 200 and mine.data == PNG_BYTES
    assert mine.headers["Content-Type"] == "image/png"


def _claim(client: FlaskClient, wired: Container, clock: MovableClock) -> tuple[Any, str]:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    return zhang, submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]


def _assert_store_down(answer: Any, *, upload_refused: bool) -> None:
    assert answer.status_code == 503, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["code"] == "document_store_unavailable"
    assert "存储服务暂时无法访问" in body["message"]
    if upload_refused:
        assert "未上传" in body["message"]
    assert int(answer.headers["Retry-After"]) > 0


def test_an_upload_while_the_store_refuses_connections_answers_503_and_keeps_no_row(
    wired: Container, clock: MovableClock, s3_env: dict[str, str], closed_port: int,
) -> None:
    dead = _config({**s3_env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"}, **FAST)
    client = _app_with(wired, S3DocumentStore(dead)).test_client()
    zhang, number = _claim(client, wired, clock)
    _assert_store_down(upload(zhang, number, "发票.pdf", PDF_BYTES), upload_refused=True)
    assert _document_rows(wired) == 0
    detail = zhang.client.get(f"/api/v1/claims/{number}", headers=zhang.bearer).get_json()
    assert detail["documents"] == [] and detail["status"] == "submitted"


def test_an_upload_after_the_store_stopped_answers_503_and_keeps_no_row(
    wired: Container, clock: MovableClock,
) -> None:
    own = S3Server.start()
    env = own.env("stopped-store")
    client = _app_with(wired, S3DocumentStore(_config(env, **FAST))).test_client()
    zhang, number = _claim(client, wired, clock)
    assert upload(zhang, number, "发票.pdf", PDF_BYTES).status_code == 201
    own.stop()
    _assert_store_down(upload(zhang, number, "清单.pdf", PDF_BYTES), upload_refused=True)
    assert _document_rows(wired) == 1


def test_an_upload_to_a_store_that_never_answers_answers_503_in_bounded_time(
    wired: Container, clock: MovableClock, s3_env: dict[str, str], black_hole: int,
) -> None:
    hung = _config({**s3_env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{black_hole}"}, **FAST)
    client = _app_with(wired, S3DocumentStore(hung)).test_client()
    zhang, number = _claim(client, wired, clock)
    started = time.monotonic()
    _assert_store_down(upload(zhang, number, "发票.pdf", PDF_BYTES), upload_refused=True)
    assert time.monotonic() - started < 10
    assert _document_rows(wired) == 0


def test_a_download_while_the_store_is_down_answers_503(
    wired: Container, clock: MovableClock, s3_env: dict[str, str], closed_port: int,
) -> None:
    client = _app_with(wired, S3DocumentStore(_config(s3_env))).test_client()
    zhang, number = _claim(client, wired, clock)
    document = upload(zhang, number, "发票.pdf", PDF_BYTES).get_json()["document"]
    dead = _config({**s3_env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"}, **FAST)
    down = _app_with(wired, S3DocumentStore(dead)).test_client()
    _assert_store_down(down.get(document["url"], headers=zhang.bearer), upload_refused=False)


class ClosingStore(S3DocumentStore):
    """Stores the object, then the claim closes before its row is written (a reviewer's
    decision landing in between)."""

    def __init__(self, config: DocumentStoreConfig, wired: Container) -> None:
        super().__init__(config)
        self.wired = wired

    def put(self, key: str, data: bytes, content_type: str) -> None:
        super().put(key, data, content_type)
        with self.wired.db.transaction() as session:
            session.execute(update(Claim).values(status="rejected"))


def test_an_object_whose_row_cannot_be_written_is_removed_again(
    wired: Container, clock: MovableClock, s3_env: dict[str, str],
) -> None:
    client = _app_with(wired, ClosingStore(_config(s3_env), wired)).test_client()
    zhang, number = _claim(client, wired, clock)
    refused = upload(zhang, number, "发票.pdf", PDF_BYTES)
    assert refused.status_code == 422 and refused.get_json()["code"] == "claim_closed"
    assert _document_rows(wired) == 0
    assert _keys(s3_env) == []


def test_a_commit_with_an_unknown_outcome_keeps_the_object(
    wired: Container, clock: MovableClock, s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The commit fails on the way back: the row may have been written, so its object stays
    (at worst an orphan, harmless); deleting it could leave a row naming nothing."""
    client = _app_with(wired, S3DocumentStore(_config(s3_env))).test_client()
    zhang, number = _claim(client, wired, clock)

    commit = SessionTransaction.commit

    def lost(self: SessionTransaction, _to_root: bool = False) -> None:
        if self.nested or self.parent is not None:  # a savepoint inside the block
            commit(self, _to_root)
            return
        raise psycopg.OperationalError("the connection was lost during COMMIT")

    with monkeypatch.context() as patch:
        patch.setattr(SessionTransaction, "commit", lost)
        answer = upload(zhang, number, "发票.pdf", PDF_BYTES)
    assert answer.status_code == 503, answer.get_json()
    assert len(_keys(s3_env)) == 1

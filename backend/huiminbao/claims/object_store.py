"""Claim documents in S3-compatible object storage (AWS S3, MinIO, Aliyun OSS, Tencent COS), so
that every app server reads what any of them stored.

Every object is written with server-side encryption (``AES256`` unless ``aws:kms`` is chosen),
the content type sniffed from its bytes, and no metadata about the person; keys are random
(``storage.new_document_key``). Nothing is public and no presigned URL is ever made: documents
leave only through the claims API's access gate.

A store that does not answer within the timeouts (after botocore's retries) or refuses a call
raises ``DocumentStoreUnavailable``, which the API answers with 503 and ``Retry-After``.

Configuration (``DocumentStoreConfig.from_env``):

- ``S3_ENDPOINT_URL``  e.g. ``http://minio:9000``, ``https://oss-cn-hangzhou.aliyuncs.com``,
  ``https://cos.ap-shanghai.myqcloud.com``
- ``S3_BUCKET``, ``S3_ACCESS_KEY_ID``, ``S3_SECRET_ACCESS_KEY``
- ``S3_REGION``            optional, default ``us-east-1`` (MinIO's default)
- ``S3_SSE``               ``AES256`` (default) or ``aws:kms``
- ``S3_SSE_KMS_KEY_ID``    optional, only with ``aws:kms`` (else the store's default KMS key)
- ``S3_ADDRESSING_STYLE``  ``virtual`` (default; OSS and COS need it) or ``path`` (MinIO)
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from huiminbao.claims.storage import MAX_DOCUMENT_BYTES, DocumentStoreUnavailable
from huiminbao.core.config import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

ENV_ENDPOINT_URL = "S3_ENDPOINT_URL"
ENV_BUCKET = "S3_BUCKET"
ENV_ACCESS_KEY_ID = "S3_ACCESS_KEY_ID"
ENV_SECRET_ACCESS_KEY = "S3_SECRET_ACCESS_KEY"  # noqa: S105 - the variable's name, not a secret
ENV_REGION = "S3_REGION"
ENV_SSE = "S3_SSE"
ENV_SSE_KMS_KEY_ID = "S3_SSE_KMS_KEY_ID"
ENV_ADDRESSING_STYLE = "S3_ADDRESSING_STYLE"
ENV_VARIABLES = (ENV_ENDPOINT_URL, ENV_BUCKET, ENV_ACCESS_KEY_ID, ENV_SECRET_ACCESS_KEY,
                 ENV_REGION, ENV_SSE, ENV_SSE_KMS_KEY_ID, ENV_ADDRESSING_STYLE)
_REQUIRED = (ENV_ENDPOINT_URL, ENV_BUCKET, ENV_ACCESS_KEY_ID, ENV_SECRET_ACCESS_KEY)

DEFAULT_REGION = "us-east-1"
# A store that has not connected in 2 s, or stalls 8 s in the middle of sending or answering, is
# treated as down. botocore's "standard" retry mode makes 2 attempts in all (with a short
# backoff) on throttling, 5xx and connection errors, so the worst upload answers 503 in about
# 20 s: inside gunicorn's 30 s worker timeout (cli.py). A slow but moving 10 MB upload is not
# cut off: the read timeout bounds each stalled socket operation, not the whole transfer.
DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_READ_TIMEOUT_S = 8.0
DEFAULT_MAX_ATTEMPTS = 2

# S3's bucket naming rules (OSS and COS allow a subset of them).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Error codes that mean "no such object" (GetObject says NoSuchKey; HEAD only has the status).
_MISSING = {"NoSuchKey", "404", "NotFound"}


class ServerSideEncryption(StrEnum):
    AES256 = "AES256"
    KMS = "aws:kms"


class AddressingStyle(StrEnum):
    VIRTUAL = "virtual"
    PATH = "path"


@dataclass(frozen=True)
class DocumentStoreConfig:
    endpoint_url: str
    bucket: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = DEFAULT_REGION
    sse: ServerSideEncryption = ServerSideEncryption.AES256
    sse_kms_key_id: str | None = None
    addressing_style: AddressingStyle = AddressingStyle.VIRTUAL
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_bytes: int = MAX_DOCUMENT_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DocumentStoreConfig | None:
        """The object store the environment describes; ``None`` when none of the ``S3_*``
        variables is set (documents stay in the local folder). ``ConfigError`` naming the
        variable when the description is partial or invalid."""
        values = {name: env.get(name, "").strip() for name in ENV_VARIABLES}
        if not any(values.values()):
            return None
        missing = [name for name in _REQUIRED if not values[name]]
        if missing:
            given = ", ".join(name for name in ENV_VARIABLES if values[name])
            raise ConfigError(f"{', '.join(missing)} must be set too: claim documents go to "
                              f"S3 object storage once any S3_* variable is set ({given} is)")

        endpoint = values[ENV_ENDPOINT_URL]
        parts = urlsplit(endpoint)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"{ENV_ENDPOINT_URL} must be an http(s) URL such as "
                              f"http://minio:9000, not {_shown_url(endpoint)!r}")
        if parts.username or parts.password:
            raise ConfigError(f"{ENV_ENDPOINT_URL} must not carry credentials: use "
                              f"{ENV_ACCESS_KEY_ID} and {ENV_SECRET_ACCESS_KEY}")
        if parts.query or parts.fragment:
            raise ConfigError(f"{ENV_ENDPOINT_URL} must not have a query or fragment")

        bucket = values[ENV_BUCKET]
        if not _BUCKET_NAME.match(bucket) or ".." in bucket:
            raise ConfigError(f"{ENV_BUCKET} must be a bucket name (3-63 lower-case letters, "
                              f"digits, '.' or '-'), not {bucket!r}")

        region = values[ENV_REGION] or DEFAULT_REGION
        if not _REGION_NAME.match(region):
            raise ConfigError(f"{ENV_REGION} must be a region name such as cn-hangzhou, "
                              f"not {region!r}")

        raw_sse = values[ENV_SSE] or ServerSideEncryption.AES256.value
        sse = next((s for s in ServerSideEncryption if s.value.lower() == raw_sse.lower()), None)
        if sse is None:
            raise ConfigError(f"{ENV_SSE} must be 'AES256' or 'aws:kms', not {raw_sse!r}")
        kms_key_id = values[ENV_SSE_KMS_KEY_ID] or None
        if kms_key_id is not None and sse is not ServerSideEncryption.KMS:
            raise ConfigError(f"{ENV_SSE_KMS_KEY_ID} is only used with {ENV_SSE}=aws:kms")

        raw_style = (values[ENV_ADDRESSING_STYLE] or AddressingStyle.VIRTUAL.value).lower()
        try:
            style = AddressingStyle(raw_style)
        except ValueError as exc:
            raise ConfigError(f"{ENV_ADDRESSING_STYLE} must be 'path' or 'virtual', "
                              f"not {raw_style!r}") from exc

        return cls(endpoint_url=endpoint.rstrip("/"), bucket=bucket,
                   access_key_id=values[ENV_ACCESS_KEY_ID],
                   secret_access_key=values[ENV_SECRET_ACCESS_KEY], region=region, sse=sse,
                   sse_kms_key_id=kms_key_id, addressing_style=style)

    def describe(self) -> str:
        """One line for ``huiminbao doctor`` and the startup log; secrets masked."""
        kms = f" key {_masked(self.sse_kms_key_id)}" if self.sse_kms_key_id else ""
        return (f"S3 bucket {self.bucket!r} at {self.endpoint_url} (region {self.region}, "
                f"{self.addressing_style.value}-style), access key "
                f"{_masked(self.access_key_id)}, secret ****, encryption "
                f"{self.sse.value}{kms}")


def _masked(value: str) -> str:
    return f"{value[:4]}****" if len(value) > 8 else "****"


def _shown_url(value: str) -> str:
    """A URL as it may be shown in an error: without anything before an ``@``."""
    return re.sub(r"//[^/@]*@", "//****@", value)


class S3DocumentStore:
    """``DocumentStore`` on one bucket. The boto3 client is thread-safe and opens connections
    lazily, so one store serves all of a process's threads."""

    def __init__(self, config: DocumentStoreConfig, *, client: S3Client | None = None) -> None:
        self.config = config
        self._client: S3Client = client or boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=Config(
                connect_timeout=config.connect_timeout_s,
                read_timeout=config.read_timeout_s,
                retries={"max_attempts": config.max_attempts, "mode": "standard"},
                s3={"addressing_style": config.addressing_style.value},
                signature_version="s3v4",
                # S3-compatible stores (older MinIO, OSS, COS) do not all accept the CRC
                # checksums botocore adds by default since 1.36; send them only when required.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def _unavailable(self, operation: str, error: Exception) -> DocumentStoreUnavailable:
        reason, level = type(error).__name__, logging.WARNING
        if isinstance(error, ClientError):
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            reason = f"{error.response.get('Error', {}).get('Code', '?')} (HTTP {status})"
            if 400 <= status < 500 and status != 429:
                level = logging.ERROR  # refused (credentials, bucket, policy): configuration
        # Keys are random and name nobody, but stay out of logs anyway: nothing to gain.
        log.log(level, "document store %s failed on bucket %s: %s", operation,
                self.config.bucket, reason)
        return DocumentStoreUnavailable(f"document store {operation} failed: {reason}")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if not data or len(data) > self.config.max_bytes:
            raise ValueError(f"a document is 1 to {self.config.max_bytes} bytes, "
                             f"not {len(data)}")
        encryption: dict[str, Any] = {"ServerSideEncryption": self.config.sse.value}
        if self.config.sse_kms_key_id:
            encryption["SSEKMSKeyId"] = self.config.sse_kms_key_id
        # Content-MD5 lets the store refuse a body damaged on the way (every S3-compatible
        # store checks it; the newer CRC checksums are not understood everywhere).
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        try:
            self._client.put_object(
                Bucket=self.config.bucket, Key=key, Body=data, ContentLength=len(data),
                ContentMD5=digest, ContentType=content_type, CacheControl="private, no-store",
                **encryption)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("put", exc) from exc

    def get(self, key: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self.config.bucket, Key=key)
            with answer["Body"] as body:
                return body.read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise KeyError(key) from exc
            raise self._unavailable("get", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("get", exc) from exc

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.config.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("delete", exc) from exc

    def probe(self) -> None:
        """A harmless call (HEAD on the bucket) for ``huiminbao doctor``;
        ``DocumentStoreUnavailable`` saying why when the bucket cannot be reached or used."""
        try:
            self._client.head_bucket(Bucket=self.config.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("probe", exc) from exc

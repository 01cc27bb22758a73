"""The object store's configuration from S3_* variables: none set means the local folder; a
partial or invalid description names the variable; secrets never show."""

from __future__ import annotations

import pytest

from huiminbao.claims.object_store import (
    AddressingStyle,
    DocumentStoreConfig,
    ServerSideEncryption,
)
from huiminbao.core.config import ConfigError

SECRET = "s3cr3t-value-that-must-never-show"
FULL = {
    "S3_ENDPOINT_URL": "http://minio:9000/",
    "S3_BUCKET": "claim-documents",
    "S3_ACCESS_KEY_ID": "AKIAEXAMPLEKEY123",
    "S3_SECRET_ACCESS_KEY": SECRET,
}


def test_no_variable_means_no_object_store() -> None:
    assert DocumentStoreConfig.from_env({}) is None
    assert DocumentStoreConfig.from_env({"S3_BUCKET": "  ", "OTHER": "x"}) is None


def test_the_four_required_variables_make_a_store_with_safe_defaults() -> None:
    config = DocumentStoreConfig.from_env(FULL)
    assert config is not None
    assert config.endpoint_url == "http://minio:9000"
    assert config.bucket == "claim-documents"
    assert config.region == "us-east-1"
    assert config.sse is ServerSideEncryption.AES256 and config.sse_kms_key_id is None
    assert config.addressing_style is AddressingStyle.VIRTUAL
    assert config.connect_timeout_s > 0 and config.read_timeout_s > 0 and config.max_attempts >= 1


def test_optional_variables_are_read() -> None:
    config = DocumentStoreConfig.from_env({
        **FULL, "S3_REGION": "cn-hangzhou", "S3_SSE": "AWS:KMS",
        "S3_SSE_KMS_KEY_ID": "arn:aws:kms:cn-hangzhou:1:key/abcd-1234",
        "S3_ADDRESSING_STYLE": "Path"})
    assert config is not None
    assert config.region == "cn-hangzhou"
    assert config.sse is ServerSideEncryption.KMS
    assert config.sse_kms_key_id == "arn:aws:kms:cn-hangzhou:1:key/abcd-1234"
    assert config.addressing_style is AddressingStyle.PATH


@pytest.mark.parametrize("missing", ["S3_ENDPOINT_URL", "S3_BUCKET", "S3_ACCESS_KEY_ID",
                                     "S3_SECRET_ACCESS_KEY"])
def test_a_partial_description_names_what_is_missing(missing: str) -> None:
    env = {name: value for name, value in FULL.items() if name != missing}
    with pytest.raises(ConfigError, match=missing) as raised:
        DocumentStoreConfig.from_env(env)
    assert SECRET not in str(raised.value)


def test_one_optional_variable_alone_is_partial_too() -> None:
    with pytest.raises(ConfigError, match="S3_ENDPOINT_URL, S3_BUCKET"):
        DocumentStoreConfig.from_env({"S3_REGION": "cn-hangzhou"})


@pytest.mark.parametrize(("name", "value"), [
    ("S3_ENDPOINT_URL", "minio:9000"),
    ("S3_ENDPOINT_URL", "ftp://minio"),
    ("S3_ENDPOINT_URL", "http://user:pw@minio:9000"),
    ("S3_ENDPOINT_URL", "http://minio:9000/?x=1"),
    ("S3_BUCKET", "Claim_Documents"),
    ("S3_BUCKET", "ab"),
    ("S3_REGION", "Hangzhou City"),
    ("S3_SSE", "SSE-C"),
    ("S3_ADDRESSING_STYLE", "auto"),
])
def test_an_invalid_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name) as raised:
        DocumentStoreConfig.from_env({**FULL, name: value})
    assert "pw@" not in str(raised.value)


def test_a_kms_key_without_kms_encryption_is_refused() -> None:
    with pytest.raises(ConfigError, match="S3_SSE_KMS_KEY_ID"):
        DocumentStoreConfig.from_env({**FULL, "S3_SSE_KMS_KEY_ID": "key-1"})


def test_describe_and_repr_mask_the_secrets() -> None:
    config = DocumentStoreConfig.from_env({**FULL, "S3_SSE": "aws:kms",
                                           "S3_SSE_KMS_KEY_ID": "kms-key-0123456789"})
    assert config is not None
    description = config.describe()
    assert "claim-documents" in description and "http://minio:9000" in description
    assert "aws:kms" in description
    for hidden in (SECRET, "AKIAEXAMPLEKEY123", "kms-key-0123456789"):
        assert hidden not in description
    assert SECRET not in repr(config)

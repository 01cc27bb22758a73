"""刘䶮's online claim with documents, reviewed by the insurer, with every port on its real adapter
over HTTP (``e2e/real_services.py``): he pays through WeChat Pay v3, his photos go to the S3
endpoint (none to the server's disk), and the reviewer reads them back through the app."""

from __future__ import annotations

import boto3
import pytest
from playwright.sync_api import Browser, Page

from e2e.real_services import RealServices, live_server, real_services  # noqa: F401 - fixtures
from e2e.support import LiveServer
from e2e.test_claims_online import (
    test_liu_yan_claims_online_and_the_insurer_reviews_it as claims_journey,
)
from huiminbao.claims import s3_standin

pytestmark = pytest.mark.e2e


def test_liu_yan_claims_with_documents_in_object_storage(
    page: Page, base_url: str, live_server: LiveServer,  # noqa: F811 - imported fixture
    browser: Browser, real_services: RealServices,  # noqa: F811 - imported fixture
) -> None:
    claims_journey(page, base_url, live_server, browser)

    services = real_services.services
    s3 = boto3.client("s3", endpoint_url=services.documents.url, region_name=s3_standin.REGION,
                      aws_access_key_id=s3_standin.ACCESS_KEY_ID,
                      aws_secret_access_key=s3_standin.SECRET_ACCESS_KEY)
    keys = [item["Key"] for item in
            s3.list_objects_v2(Bucket=services.bucket).get("Contents", [])]
    assert len(keys) >= 2  # the receipt, then the supplement
    for key in keys:
        head = s3.head_object(Bucket=services.bucket, Key=key)
        assert head["ServerSideEncryption"] == "AES256"
        assert head["ContentType"] in {"image/png", "image/jpeg", "application/pdf"}
        assert "330105198109040613" not in key
    assert not list((real_services.workdir / "documents").rglob("*.*"))  # nothing on disk

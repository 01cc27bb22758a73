"""The public e-policy check (GET /api/v1/verify/<token>): the token names the policy and
expires 180 days after its coverage ends; every answer reads the policy's current state; old
(itsdangerous) tokens are honoured to the same date; every answer is no-store with the security
headers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from joserfc import jwt
from joserfc.jwk import OctKey

from huiminbao.core.clock import CHINA_TZ, MovableClock
from huiminbao.core.container import Container
from huiminbao.core.headers import PAGE_CSP
from huiminbao.enrollment.policies import VERIFY_GRACE
from huiminbao.identity.domain import hash_secret

from .enrollment_helpers import enroll, sign_in
from .helpers import Session


def _new_policy(client: FlaskClient) -> tuple[Session, dict[str, Any], str]:
    zhang = sign_in(client, "张伟")
    policy_no = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    policy = client.get(f"/api/v1/policies/{policy_no}", headers=zhang.bearer).get_json()
    return zhang, policy, policy["verify_url"].rsplit("/", 1)[1]


def _last_valid_instant(coverage_ends_on: str) -> datetime:
    last_day = date.fromisoformat(coverage_ends_on) + timedelta(days=180)
    return datetime.combine(last_day, time(23, 59, 30), CHINA_TZ).astimezone(UTC)


def _assert_not_stored(response, path: str) -> None:  # type: ignore[no-untyped-def]
    headers = response.headers
    assert "no-store" in headers.get("Cache-Control", ""), (path, response.status_code)
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "no-referrer", path  # the token is in the URL
    assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), path


def test_the_token_names_the_policy_and_ends_180_days_after_its_coverage(
        client: FlaskClient, wired: Container) -> None:
    zhang, policy, token = _new_policy(client)
    claims = jwt.decode(token, OctKey.import_key(
        hash_secret(wired.settings.secret_key, "policy-verify-key"))).claims
    assert claims["sub"] == policy["policy_no"]
    assert isinstance(claims["pid"], int)
    assert claims["aud"] == "policy-verify"
    ends = date.fromisoformat(policy["coverage_ends_on"])
    expected = datetime.combine(ends + VERIFY_GRACE + timedelta(days=1), time.min, CHINA_TZ)
    assert claims["exp"] == int(expected.timestamp())
    assert "status" not in claims and "valid" not in claims  # never a frozen state
    again = client.get(f"/api/v1/policies/{policy['policy_no']}",
                       headers=zhang.bearer).get_json()
    assert again["verify_url"] == policy["verify_url"]  # stable: the page link matches the QR


def test_a_token_answers_until_180_days_after_coverage_then_says_expired(
        client: FlaskClient, clock: MovableClock) -> None:
    _, policy, token = _new_policy(client)
    path = f"/api/v1/verify/{token}"
    assert client.get(path).get_json()["validity"] == "有效（待生效）"

    clock.travel_to(_last_valid_instant(policy["coverage_ends_on"]))
    late = client.get(path)
    assert late.status_code == 200, late.get_json()
    assert late.get_json()["valid"] is True and late.get_json()["validity"] == "已到期"

    clock.advance(timedelta(seconds=60))  # the next day, China time
    expired = client.get(path)
    assert expired.status_code == 410
    answer = expired.get_json()
    assert answer["code"] == "verify_expired"
    assert answer["message"].startswith("此验证码已过期")
    text = expired.get_data(as_text=True)
    assert policy["policy_no"] not in text and "张" not in text  # no details any more
    _assert_not_stored(expired, path)


def test_a_token_shows_the_current_state_of_a_cancelled_policy(client: FlaskClient) -> None:
    zhang, policy, token = _new_policy(client)
    before = client.get(f"/api/v1/verify/{token}").get_json()
    assert before["valid"] is True
    cancelled = client.post(f"/api/v1/policies/{policy['policy_no']}/cancel",
                            headers={**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()
    after = client.get(f"/api/v1/verify/{token}").get_json()  # the QR printed before
    assert after["valid"] is False
    assert after["validity"] == "已退保"


def test_legacy_tokens_are_honoured_until_the_same_date_then_expire(
        client: FlaskClient, wired: Container, clock: MovableClock) -> None:
    _, policy, _ = _new_policy(client)
    legacy = URLSafeSerializer(wired.settings.secret_key, salt="policy-verify").dumps(
        policy["policy_no"])
    assert legacy.count(".") == 1
    answer = client.get(f"/api/v1/verify/{legacy}")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["policy_no"] == policy["policy_no"]
    forged = URLSafeSerializer("not-our-secret", salt="policy-verify").dumps(policy["policy_no"])
    assert client.get(f"/api/v1/verify/{forged}").status_code == 404

    clock.travel_to(_last_valid_instant(policy["coverage_ends_on"]))
    assert client.get(f"/api/v1/verify/{legacy}").status_code == 200
    clock.advance(timedelta(seconds=60))
    expired = client.get(f"/api/v1/verify/{legacy}")
    assert expired.status_code == 410
    assert expired.get_json()["code"] == "verify_expired"


def test_forged_and_foreign_tokens_are_invalid(client: FlaskClient, wired: Container) -> None:
    zhang, policy, token = _new_policy(client)
    other_key = OctKey.import_key(hash_secret("another-secret", "policy-verify-key"))
    claims = jwt.decode(token, OctKey.import_key(
        hash_secret(wired.settings.secret_key, "policy-verify-key"))).claims
    forged = jwt.encode({"alg": "HS256"}, claims, other_key)
    # A sign-in token is signed with another key: it is no verify token.
    bearer = zhang.bearer["Authorization"].split(" ", 1)[1]
    # The right key, but the id of another policy: refused, not answered for the number.
    own_key = OctKey.import_key(hash_secret(wired.settings.secret_key, "policy-verify-key"))
    swapped = jwt.encode({"alg": "HS256"}, {**claims, "pid": claims["pid"] + 1000}, own_key)
    unsigned = token.rsplit(".", 1)[0] + "."
    for bad in (forged, bearer, swapped, unsigned, token[:-2] + "xx", "a.b.c"):
        answer = client.get(f"/api/v1/verify/{bad}")
        assert answer.status_code == 404, (bad, answer.get_json())
        assert "篡改" in answer.get_json()["message"]
        assert policy["policy_no"] not in answer.get_data(as_text=True)


def test_every_verify_answer_is_not_stored_and_carries_the_security_headers(
        client: FlaskClient) -> None:
    _, _, token = _new_policy(client)
    for path, status in ((f"/api/v1/verify/{token}", 200), ("/api/v1/verify/a.b.c", 404),
                         (f"/verify/{token}", 200)):
        response = client.get(path)
        response.close()  # the page is a file answer
        assert response.status_code == status, path
        _assert_not_stored(response, path)
        if path.startswith("/verify/"):
            assert response.headers["Content-Security-Policy"] == PAGE_CSP

"""One-click enrollment through the API: personal account, online, subsidy; the refusals."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
import zxingcpp
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.enrollment import completing
from huiminbao.enrollment.models import Order, OrderItem, Policy
from huiminbao.identity.models import SmsMessage
from huiminbao.payments.ledger import LedgerEntry

from .enrollment_helpers import balance, body, enroll, payment_code, sign_in
from .helpers import latest_code


def _count(wired: Container, model: type) -> int:
    with wired.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------- personal account


def test_preview_shows_the_confirm_sheet(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    response = client.post("/api/v1/enrollments/preview", headers=zhang.bearer,
                           json=body(client, "personal_account"))
    assert response.status_code == 200, response.get_json()
    sheet = response.get_json()
    assert sheet["payable_fen"] == 15000
    assert sheet["lines"][0]["name"] == "张*"
    assert sheet["account"] == {"holder": "张*", "balances": ["prior_years"],
                                "balance_before_fen": 200000, "balance_after_fen": 185000,
                                "shortfall_fen": 0}
    assert sheet["needs_sms_code"] is False
    assert "不是基本医疗保险" in sheet["notice"]


def test_zhang_wei_enrolls_from_his_account_once(client: FlaskClient, wired: Container) -> None:
    zhang = sign_in(client, "张伟")
    before = balance(zhang)
    response = enroll(zhang, "personal_account", key="zw-enroll-0001")
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert order["status"] == "issued"
    assert len(order["policies"]) == 1
    after = balance(zhang)
    assert before["prior_years_fen"] - after["prior_years_fen"] == 15000
    assert after["current_year_fen"] == before["current_year_fen"]
    debit = after["entries"][0]
    assert debit["amount_fen"] == -15000 and debit["kind"] == "debit"
    assert "西湖益联保" in debit["purpose"]

    replay = enroll(zhang, "personal_account", key="zw-enroll-0001")
    assert replay.status_code == 201
    assert replay.get_json() == order
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert balance(zhang)["prior_years_fen"] == after["prior_years_fen"]

    different = enroll(zhang, "personal_account", tier="premium", key="zw-enroll-0001")
    assert different.status_code == 409
    assert different.get_json()["code"] == "idempotency_key_reused"

    again = enroll(zhang, "personal_account")
    assert again.status_code == 422
    assert again.get_json()["code"] == "already_insured"
    assert again.get_json()["message"].startswith("已参保")
    assert _count(wired, Policy) == 1

    sms = client.get("/api/v1/dev/sms?phone=13800000001").get_json()["items"][0]["text"]
    assert "¥150.00" in sms and "330106198803150130" not in sms


def test_a_balance_one_fen_short_is_told_the_shortfall_and_nothing_is_written(
    client: FlaskClient, wired: Container
) -> None:
    zhou = sign_in(client, "周强")
    preview = client.post("/api/v1/enrollments/preview", headers=zhou.bearer,
                          json=body(client, "personal_account")).get_json()
    assert preview["account"]["shortfall_fen"] == 1
    response = enroll(zhou, "personal_account")
    assert response.status_code == 422
    assert response.get_json()["code"] == "insufficient_balance"
    assert "还差¥0.01" in response.get_json()["message"]
    assert "在线支付" in response.get_json()["message"]
    assert _count(wired, Order) == 0
    assert balance(zhou)["prior_years_fen"] == 14999


def test_the_confirmed_amount_must_match(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    response = enroll(zhang, "personal_account", amount_fen=14000)
    assert response.status_code == 422
    assert response.get_json()["code"] == "amount_not_confirmed"
    assert balance(zhang)["prior_years_fen"] == 200000


def test_terms_and_notice_must_be_confirmed(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    request = body(client, "personal_account")
    request["confirmations"]["terms_version"] = "old"
    refused = client.post("/api/v1/enrollments", json=request,
                          headers={**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert refused.get_json()["code"] == "terms_not_agreed"
    request = body(client, "personal_account")
    request["confirmations"]["not_basic_insurance"] = False
    refused = client.post("/api/v1/enrollments", json=request,
                          headers={**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert refused.get_json()["code"] == "notice_not_confirmed"


def test_an_old_sign_in_needs_a_fresh_sms_code(client: FlaskClient, clock: MovableClock) -> None:
    zhang = sign_in(client, "张伟")
    clock.advance(timedelta(minutes=11))
    client.delete_cookie("hmb_session")
    # The bearer token lives 15 minutes, so it still works, but the sign-in is 11 minutes old.
    missing = enroll(zhang, "personal_account")
    assert missing.status_code == 422
    assert missing.get_json()["code"] == "sms_code_required"
    sent = payment_code(zhang)
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["phone"] == "138****0001"
    code = latest_code(client, "13800000001")
    wrong = enroll(zhang, "personal_account", sms_code="000000" if code != "000000" else "111111")
    assert wrong.get_json()["code"] == "wrong_code"
    ok = enroll(zhang, "personal_account", sms_code=code)
    assert ok.status_code == 201, ok.get_json()


def test_idempotency_key_is_required_and_checked(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    missing = client.post("/api/v1/enrollments", json=body(client, "personal_account"),
                          headers=zhang.bearer)
    assert missing.status_code == 422
    assert missing.get_json()["code"] == "idempotency_key_required"
    bad = client.post("/api/v1/enrollments", json=body(client, "personal_account"),
                      headers={**zhang.bearer, "Idempotency-Key": "x"})
    assert bad.get_json()["code"] == "idempotency_key_invalid"


def test_bad_input_gets_chinese_field_errors_and_writes_nothing(
    client: FlaskClient, wired: Container
) -> None:
    zhang = sign_in(client, "张伟")
    response = client.post("/api/v1/enrollments",
                           json={"product_id": "abc", "payment_method": "cash"},
                           headers={**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors["product_id"] == ["应为整数"]
    assert errors["payment_method"] == ["请选择支付方式"]
    assert _count(wired, Order) == 0


# ---------------------------------------------------------------- who may not


def test_suspended_and_other_city_are_told_why(client: FlaskClient) -> None:
    zhao = sign_in(client, "赵敏")
    refused = enroll(zhao, "personal_account")
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "insurance_suspended"
    assert "暂停" in refused.get_json()["message"]
    wu = sign_in(client, "吴芳")
    refused = enroll(wu, "online")
    assert refused.get_json()["code"] == "other_city"
    assert "杭州市" in refused.get_json()["message"]


def test_residents_have_no_personal_account(client: FlaskClient) -> None:
    liu = sign_in(client, "刘䶮")
    refused = enroll(liu, "personal_account")
    assert refused.get_json()["code"] == "no_personal_account"
    assert "在线支付" in refused.get_json()["message"]


# ---------------------------------------------------------------- online and subsidy


def _pay_at_gateway(client: FlaskClient, wired: Container, pay_url: str) -> None:
    page = client.get(pay_url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token, "the gateway page carries its own form token"
    confirmed = client.post(f"{pay_url}/confirm", data={"token": token.group(1)})
    assert confirmed.status_code in {302, 303}
    # The gateway's notification, delivered to the app like the dispatcher would.
    def transport(url: str, payload: bytes) -> bool:
        answer = client.post("/api/v1/payments/online/notify", data=payload,
                             content_type="application/json")
        return answer.status_code == 200

    assert wired.gateway.notifications.deliver_due(transport) == 1  # type: ignore[attr-defined]


def test_liu_yan_pays_online_and_the_notification_issues_the_policy(
    client: FlaskClient, wired: Container
) -> None:
    liu = sign_in(client, "刘䶮")
    response = enroll(liu, "online")
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert order["status"] == "pending_payment"
    assert order["pay_url"].startswith("/gateway/pay/")
    _pay_at_gateway(client, wired, order["pay_url"])
    done = client.get(f"/api/v1/enrollments/{order['order_no']}", headers=liu.bearer).get_json()
    assert done["status"] == "issued"
    assert len(done["policies"]) == 1
    with wired.db.read() as session:
        gateway = session.scalar(select(func.sum(LedgerEntry.amount_fen))
                                 .where(LedgerEntry.account == "gateway:online"))
    assert gateway == -15000


def test_an_unpaid_online_order_expires_after_thirty_minutes(
    client: FlaskClient, clock: MovableClock
) -> None:
    liu = sign_in(client, "刘䶮")
    order = enroll(liu, "online").get_json()
    clock.advance(timedelta(minutes=31))
    # The bearer token is gone after 15 minutes; the web session cookie lives on.
    expired = client.get(f"/api/v1/enrollments/{order['order_no']}")
    assert expired.status_code == 200, expired.get_json()
    assert expired.get_json()["status"] == "expired"
    csrf = client.get("/api/v1/me").get_json()["csrf_token"]
    again = client.post("/api/v1/enrollments", json=body(client, "online"),
                        headers={"X-CSRF-Token": csrf, "Idempotency-Key": uuid.uuid4().hex})
    assert again.status_code == 201, again.get_json()  # the place was released


def test_sun_li_enrolls_at_no_cost_once_a_year(client: FlaskClient, wired: Container) -> None:
    sun = sign_in(client, "孙丽")
    preview = client.post("/api/v1/enrollments/preview", headers=sun.bearer,
                          json=body(client, "subsidy")).get_json()
    assert (preview["premium_fen"], preview["subsidy_fen"], preview["payable_fen"]) == (
        15000, 15000, 0)
    response = enroll(sun, "subsidy")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "issued"
    assert response.get_json()["payable_fen"] == 0
    with wired.db.read() as session:
        fund = session.scalar(select(func.sum(LedgerEntry.amount_fen))
                              .where(LedgerEntry.account == "subsidy_fund:330100"))
    assert fund == -15000


def test_a_higher_tier_pays_only_the_difference(client: FlaskClient) -> None:
    sun = sign_in(client, "孙丽")
    refused = enroll(sun, "subsidy", tier="premium")
    assert refused.get_json()["code"] == "subsidy_difference"
    assert "¥149.00" in refused.get_json()["message"]
    online = enroll(sun, "online", tier="premium")
    assert online.status_code == 201
    assert online.get_json()["payable_fen"] == 14900
    assert online.get_json()["subsidy_fen"] == 15000


def test_the_subsidy_follows_the_products_categories(client: FlaskClient,
                                                     wired: Container) -> None:
    """A product that subsidizes only some assistance groups (here 特困 and 残疾人员) gives a
    低保 recipient no subsidy online, exactly as its roster import skips her."""
    from huiminbao.catalog.models import Product

    with wired.db.transaction() as session:
        product = session.scalars(select(Product)).first()
        assert product is not None
        product.subsidized_categories = "tekun,disabled"
    wired.products.forget()
    sun = sign_in(client, "孙丽")
    preview = client.post("/api/v1/enrollments/preview", headers=sun.bearer,
                          json=body(client, "online")).get_json()
    assert "premium_fen" in preview, preview
    assert (preview["premium_fen"], preview["subsidy_fen"], preview["payable_fen"]) == (
        15000, 0, 15000)
    refused = enroll(sun, "subsidy")
    assert refused.get_json()["code"] == "not_subsidized"


def test_others_are_not_subsidized(client: FlaskClient) -> None:
    liu = sign_in(client, "刘䶮")
    refused = enroll(liu, "subsidy")
    assert refused.get_json()["code"] == "not_subsidized"


# ---------------------------------------------------------------- cancel and refund


def test_cancel_before_coverage_refunds_to_the_account(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    order = enroll(zhang, "personal_account").get_json()
    policy_no = order["policies"][0]["policy_no"]
    cancelled = client.post(f"/api/v1/policies/{policy_no}/cancel",
                            headers={**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()
    policy = cancelled.get_json()
    assert policy["status"] == "cancelled"
    assert policy["refund"]["status"] == "succeeded"
    account = balance(zhang)
    assert account["prior_years_fen"] == 200000
    assert account["entries"][0]["kind"] == "refund"
    assert account["entries"][0]["amount_fen"] == 15000
    again = enroll(zhang, "personal_account")  # free to enroll again
    assert again.status_code == 201


def test_cancel_after_coverage_starts_is_refused(client: FlaskClient, clock: MovableClock,
                                                wired: Container) -> None:
    zhang = sign_in(client, "张伟")
    order = enroll(zhang, "personal_account").get_json()
    policy_no = order["policies"][0]["policy_no"]
    clock.advance(timedelta(days=60))
    # Sixty days later he signs in again (a new app instance: the send limit counts real time).
    from huiminbao.app import create_app

    zhang = sign_in(create_app(container=wired).test_client(), "张伟")
    refused = zhang.client.post(f"/api/v1/policies/{policy_no}/cancel",
                                headers={**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "coverage_started"
    assert "不能退保" in refused.get_json()["message"]


def test_online_refund_goes_back_through_the_gateway(client: FlaskClient,
                                                     wired: Container) -> None:
    liu = sign_in(client, "刘䶮")
    order = enroll(liu, "online").get_json()
    _pay_at_gateway(client, wired, order["pay_url"])
    policy_no = client.get(f"/api/v1/enrollments/{order['order_no']}",
                           headers=liu.bearer).get_json()["policies"][0]["policy_no"]
    cancelled = client.post(f"/api/v1/policies/{policy_no}/cancel",
                            headers={**liu.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.get_json()["refund"]["status"] == "succeeded"
    result = wired.gateway.query(order["order_no"])
    assert result is not None and result.refunded_fen == 15000


# ---------------------------------------------------------------- e-policy


def test_the_e_policy_qr_decodes_to_a_verify_url_that_shows_a_valid_policy(
    client: FlaskClient,
) -> None:
    zhang = sign_in(client, "张伟")
    order = enroll(zhang, "personal_account").get_json()
    policy_no = order["policies"][0]["policy_no"]
    policy = client.get(f"/api/v1/policies/{policy_no}", headers=zhang.bearer).get_json()
    png = client.get(policy["qr_url"], headers=zhang.bearer)
    assert png.status_code == 200 and png.mimetype == "image/png"
    import io

    # QR codes only: a scan for every symbology once read a stray 4-character 1D code in the
    # QR's modules (seen once in CI); what the resident's phone reads is the QR.
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)),
                                     formats=zxingcpp.BarcodeFormat.QRCode)
    assert [d.text for d in decoded] == [policy["verify_url"]]
    token = policy["verify_url"].rsplit("/", 1)[1]
    verified = client.get(f"/api/v1/verify/{token}").get_json()
    assert verified["valid"] is True
    assert verified["insured_name"] == "张*"
    assert verified["validity"] == "有效（待生效）"
    assert "330106198803150130" not in str(verified)
    tampered = client.get(f"/api/v1/verify/{token[:-2]}xx")
    assert tampered.status_code == 404
    assert "篡改" in tampered.get_json()["message"]


def test_strangers_cannot_see_a_policy_or_its_qr(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    zhang = sign_in(client, "张伟")
    policy_no = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    stranger = sign_in(app.test_client(), "刘䶮")
    for path in (f"/api/v1/policies/{policy_no}", f"/api/v1/policies/{policy_no}/qr.png"):
        response = stranger.client.get(path, headers=stranger.bearer)
        assert response.status_code == 404
        assert "张" not in response.get_data(as_text=True)
    listed = stranger.client.get("/api/v1/policies", headers=stranger.bearer).get_json()
    assert listed["items"] == []


def test_auto_renew_needs_consent_and_can_be_turned_off(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    policy_no = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    refused = client.put(f"/api/v1/policies/{policy_no}/auto-renew", headers=zhang.bearer,
                         json={"enabled": True})
    assert refused.status_code == 422
    consent = client.get("/api/v1/auto-renew-consent").get_json()
    assert "短信提醒" in consent["text"]
    on = client.put(f"/api/v1/policies/{policy_no}/auto-renew", headers=zhang.bearer,
                    json={"enabled": True, "consent_version": consent["version"]})
    assert on.get_json()["auto_renew"] is True
    off = client.put(f"/api/v1/policies/{policy_no}/auto-renew", headers=zhang.bearer,
                     json={"enabled": False})
    assert off.get_json()["auto_renew"] is False


def test_my_pending_order_can_be_found_and_auto_renew_needs_an_account_payment(
    client: FlaskClient,
) -> None:
    liu = sign_in(client, "刘䶮")
    order = enroll(liu, "online").get_json()
    pending = client.get("/api/v1/enrollments?status=pending_payment",
                         headers=liu.bearer).get_json()["items"]
    assert [o["order_no"] for o in pending] == [order["order_no"]]
    assert pending[0]["pay_url"] == order["pay_url"]
    bad = client.get("/api/v1/enrollments?status=whatever", headers=liu.bearer)
    assert bad.get_json()["errors"] == {"status": ["订单状态不正确"]}


def test_auto_renew_is_refused_for_an_online_paid_policy(client: FlaskClient,
                                                         wired: Container) -> None:
    liu = sign_in(client, "刘䶮")
    order = enroll(liu, "online").get_json()
    _pay_at_gateway(client, wired, order["pay_url"])
    policy_no = client.get(f"/api/v1/enrollments/{order['order_no']}",
                           headers=liu.bearer).get_json()["policies"][0]["policy_no"]
    consent = client.get("/api/v1/auto-renew-consent").get_json()
    refused = client.put(f"/api/v1/policies/{policy_no}/auto-renew", headers=liu.bearer,
                         json={"enabled": True, "consent_version": consent["version"]})
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "auto_renew_unavailable"


def test_the_debit_text_goes_out_even_when_a_read_of_the_order_issued_it_first(
        client: FlaskClient, wired: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the registry's debit and the completion, another call (the result page's read,
    settling a pending order) may issue the order first: the owner is still told of the debit,
    once."""
    real = completing._complete_payment

    def read_settles_it_first(c: Container, order_number: str, transaction_id: str | None,
                              offline_source: str | None = None,
                              texts: Sequence[tuple[str, str]] = (),
                              known_items: Sequence[OrderItem] | None = None,
                              ) -> completing.Completion:
        assert real(c, order_number, transaction_id, offline_source).issued is not None
        return real(c, order_number, transaction_id, offline_source, texts, known_items)

    monkeypatch.setattr(completing, "_complete_payment", read_settles_it_first)
    answer = enroll(sign_in(client, "张伟"), "personal_account")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["status"] == "issued"
    with wired.db.read() as session:
        # Texts are encrypted at rest: searched after decryption.
        texts = [text for text in session.scalars(select(SmsMessage.text))
                 if "您的医保个人账户已支付" in text]
    assert len(texts) == 1


def test_an_online_paid_policy_has_no_payer_who_may_turn_auto_renewal_on(
        client: FlaskClient, wired: Container) -> None:
    liu = sign_in(client, "刘䶮")
    order = enroll(liu, "online").get_json()
    _pay_at_gateway(client, wired, order["pay_url"])
    policy_no = client.get(f"/api/v1/enrollments/{order['order_no']}",
                           headers=liu.bearer).get_json()["policies"][0]["policy_no"]
    policy = client.get(f"/api/v1/policies/{policy_no}", headers=liu.bearer).get_json()
    assert policy["payment_method"] == "online"
    assert policy["can_set_auto_renew"] is False
    assert policy["payer_name"] is None

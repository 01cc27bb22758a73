"""Payments under one grant, at the same moment, on PostgreSQL: together they never exceed the
grant's yearly limit (the order-creating transaction locks the grant row FOR UPDATE)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from flask import Flask

from huiminbao.core.container import Container
from huiminbao.core.ratelimit import limiter
from huiminbao.proxy.payments import paid_this_year
from tests.api.enrollment_helpers import PEOPLE, product, sign_in
from tests.api.helpers import latest_code
from tests.api.test_proxy import granted
from tests.races import race

pytestmark = pytest.mark.postgres

WANG_XIUYING_ID = "33010219430618052X"


def test_simultaneous_payments_under_one_grant_stay_within_its_limit(
    pg_app: Flask, pg_wired: Container,
) -> None:
    app, container = pg_app, pg_wired
    agent = sign_in(app.test_client(), "张伟")
    principal = sign_in(app.test_client(), "张建国")
    family = {"王秀英": (WANG_XIUYING_ID, "spouse"), "张伟": (PEOPLE["张伟"][1], "child")}
    insured = [principal.me["identity"]["person_id"]]
    for name, (id_number, relation) in family.items():
        added = principal.client.post("/api/v1/me/family", headers=principal.bearer,
                                      json={"name": name, "id_number": id_number,
                                            "relation": relation})
        assert added.status_code == 201, added.get_json()
        insured.append(added.get_json()["person_id"])
    # Room for two premiums of ¥150, not three.
    grant = granted(app, container, agent, ["enroll", "pay_from_principal_account"],
                    limit=30000)
    item = product(agent.client)

    acting = {**agent.bearer, "X-Acting-For": str(grant["principal_person_id"])}

    def request(index: int) -> dict[str, Any]:
        return {"product_id": item["id"], "payment_method": "personal_account",
                "insured": [{"person_id": insured[index], "tier": "standard"}],
                "confirmations": {"terms_version": item["terms"]["version"],
                                  "not_basic_insurance": True, "debit_amount_fen": 15000}}

    # The principal confirms each debit with its own code, read out to the agent.
    codes = []
    for index in range(3):
        sent = agent.client.post("/api/v1/me/payment-code", json=request(index), headers=acting)
        assert sent.status_code == 200, sent.get_json()
        codes.append(latest_code(agent.client, PEOPLE["张建国"][0]))
        limiter.reset()  # one code a minute per account, in real time

    def pay_for(index: int) -> tuple[int, Any]:
        body = request(index)
        body["confirmations"]["sms_code"] = codes[index]
        response = app.test_client().post("/api/v1/enrollments", json=body, headers={
            **acting, "Idempotency-Key": uuid.uuid4().hex})
        return response.status_code, response.get_json()

    results = race(3, pay_for)
    statuses = Counter(status for status, _answer in results)
    assert statuses == {201: 2, 422: 1}, results
    refused = next(answer for status, answer in results if status == 422)
    assert refused["code"] == "proxy_pay_limit"
    assert refused["message"] == "超出授权的缴费额度：本年度剩余¥0.00"

    balance = container.registry.balance(PEOPLE["张建国"][1])
    assert balance is not None and balance.prior_years_fen == 300000 - 30000
    with container.db.read() as session:
        assert paid_this_year(session, grant["id"], container.clock.today()) == 30000

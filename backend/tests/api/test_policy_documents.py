"""The PDF e-policy and premium receipt: the PDF parses, shows the masked names, the product and
the amounts, embeds the CJK font (a subset), and its QR code decodes to a verify link the verify
endpoint accepts. Who may download: the holder and the insured, an agent whose grant covers
查看保单 (audited); a stranger or an agent under another scope gets the missing-policy 404."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.audit.models import AuditEvent
from huiminbao.core.container import Container
from huiminbao.enrollment import documents
from huiminbao.enrollment.paper import PdfFont
from tests.pdfs import pdf_fonts, pdf_qr_texts, pdf_text, read_pdf

from .enrollment_helpers import PEOPLE, enroll, sign_in
from .helpers import Session
from .test_family import _add, _buy
from .test_proxy import granted, staff_session


def _policy(session: Session) -> dict[str, Any]:
    answer = enroll(session, "personal_account")
    assert answer.status_code == 201, answer.get_json()
    policy_no = answer.get_json()["policies"][0]["policy_no"]
    return session.client.get(f"/api/v1/policies/{policy_no}",  # type: ignore[no-any-return]
                              headers=session.bearer).get_json()


def test_the_holder_downloads_an_e_policy_that_parses_and_whose_qr_verifies(
        client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    policy = _policy(zhang)
    response = client.get(f"/api/v1/policies/{policy['policy_no']}/epolicy.pdf",
                          headers=zhang.bearer)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response.headers["Cache-Control"]
    assert len(response.data) < 400_000  # the font is a subset, not the whole collection

    reader = read_pdf(response.data)
    text = pdf_text(reader)
    assert policy["product_name"] in text
    assert "电子保单" in text and policy["policy_no"] in text
    assert "张*" in text and policy["insured_id_number"] in text  # masked, as on the page
    assert "张伟" not in text and PEOPLE["张伟"][1] not in text
    assert policy["terms"]["version"] in text  # the terms summary of the agreed version

    font = pdf_fonts(reader)[0]
    descriptor = font["/FontDescriptor"].get_object()
    assert any(key in descriptor for key in ("/FontFile2", "/FontFile3"))  # embedded
    assert re.match(r"^/[A-Z]{6}\+", str(font["/BaseFont"]))  # a subset

    [url] = pdf_qr_texts(reader)
    assert url == policy["verify_url"]
    verified = client.get("/api/v1/verify/" + url.rsplit("/verify/", 1)[1])
    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["policy_no"] == policy["policy_no"]
    assert verified.get_json()["valid"] is True


def test_the_receipt_shows_the_amount_payer_channel_order_and_time(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    policy = _policy(zhang)
    response = client.get(f"/api/v1/policies/{policy['policy_no']}/receipt.pdf",
                          headers=zhang.bearer)
    assert response.status_code == 200
    text = pdf_text(read_pdf(response.data))
    order = client.get("/api/v1/enrollments", headers=zhang.bearer).get_json()["items"][0]
    assert "保费缴纳凭证" in text and policy["product_name"] in text
    assert order["order_no"] in text and policy["policy_no"] in text
    paid = policy["paid_fen"]
    assert f"¥{paid // 100}.{paid % 100:02d}" in text
    assert "医保个人账户（张*）" in text
    assert re.search(r"缴费时间\d{4}-\d{2}-\d{2}\d{2}:\d{2}:\d{2}", text)
    assert "张伟" not in text


def _events(wired: Container, action: str, policy_no: str) -> list[AuditEvent]:
    with wired.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.object_id == policy_no)))


def test_strangers_and_agents_without_the_scope_get_404_and_an_agent_with_it_is_audited(
        app: Flask, wired: Container) -> None:
    father = sign_in(app.test_client(), "张建国")
    policy_no = _policy(father)["policy_no"]
    paths = [f"/api/v1/policies/{policy_no}/epolicy.pdf",
             f"/api/v1/policies/{policy_no}/receipt.pdf"]

    anonymous = app.test_client()
    assert all(anonymous.get(path).status_code == 401 for path in paths)

    stranger = sign_in(app.test_client(), "李娜")
    for path in paths:
        refused = stranger.client.get(path, headers=stranger.bearer)
        assert refused.status_code == 404
        assert refused.get_json()["message"] == "未找到该保单"
    assert _events(wired, "access.view_policies", policy_no)  # the denial is audited

    agent = sign_in(app.test_client(), "张伟")
    staff = staff_session(app, wired)
    grant = granted(app, wired, agent, ["claims_view"], staff=staff)  # not 查看保单
    assert all(agent.client.get(path, headers=agent.bearer).status_code == 404
               for path in paths)
    assert not _events(wired, "policy.epolicy_download", policy_no)

    agent.client.delete(f"/api/v1/proxy/grants/{grant['id']}", headers=agent.bearer)
    grant = granted(app, wired, agent, ["view_policies"], staff=staff)
    for path, what in zip(paths, ("epolicy", "receipt"), strict=True):
        response = agent.client.get(path, headers=agent.bearer)
        assert response.status_code == 200
        [event] = _events(wired, f"policy.{what}_download", policy_no)
        assert event.actor_account_id == agent.me["account_id"]
        assert event.grant_id == grant["id"]
        assert event.acting_for_person_id == grant["principal_person_id"]

    # The insured (here also the holder) downloads without an audit entry of his own.
    assert father.client.get(paths[0], headers=father.bearer).status_code == 200
    assert len(_events(wired, "policy.epolicy_download", policy_no)) == 1


def test_the_insured_may_download_what_a_relative_bought(app: Flask, wired: Container) -> None:
    """张伟 buys for his father (the holder is 张伟, the insured 张建国): both may download."""
    zhang = sign_in(app.test_client(), "张伟")
    added = _add(zhang, "张建国", PEOPLE["张建国"][1], "parent")
    assert added.status_code == 201, added.get_json()
    bought = _buy(zhang, [added.get_json()["person_id"]])
    assert bought.status_code == 201, bought.get_json()
    policy_no = bought.get_json()["policies"][0]["policy_no"]

    father = sign_in(app.test_client(), "张建国")
    for session in (father, zhang):
        response = session.client.get(f"/api/v1/policies/{policy_no}/epolicy.pdf",
                                      headers=session.bearer)
        assert response.status_code == 200
        text = pdf_text(read_pdf(response.data))
        assert "被保险人张*国" in text and "投保人张*" in text
    assert not _events(wired, "policy.epolicy_download", policy_no)


def test_without_its_font_the_pdf_is_a_503_in_chinese(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    zhang = sign_in(client, "张伟")
    policy_no = _policy(zhang)["policy_no"]
    monkeypatch.setattr(documents, "pdf_font", lambda c: PdfFont(tmp_path / "gone.ttc", 2))
    response = client.get(f"/api/v1/policies/{policy_no}/receipt.pdf", headers=zhang.bearer)
    assert response.status_code == 503
    assert response.get_json()["code"] == "pdf_unavailable"
    assert response.get_json()["message"] == documents.PDF_UNAVAILABLE

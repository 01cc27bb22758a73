"""Helpers for API tests: signing in through the real SMS flow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, event

from huiminbao.audit.consents import CONSENT_TEXTS
from huiminbao.identity.agreements import current_versions

CURRENT_CONSENTS = {kind.value: text.version for kind, text in CONSENT_TEXTS.items()}
AGREED = current_versions()  # the user agreement and privacy policy ticked at login


@dataclass
class Session:
    client: FlaskClient
    token: str
    csrf: str
    me: dict[str, Any]

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def latest_code(client: FlaskClient, phone: str) -> str:
    """The newest one-time code texted to the phone (other notices may have come since)."""
    items = client.get(f"/api/v1/dev/sms?phone={phone}").get_json()["items"]
    for item in items:
        if match := re.search(r"验证码为?(\d{6})", item["text"]):
            return match.group(1)
    raise AssertionError(f"no code among {len(items)} messages")


def login(client: FlaskClient, phone: str) -> Session:
    sent = client.post("/api/v1/auth/otp", json={"phone": phone})
    assert sent.status_code == 200, sent.get_json()
    response = client.post("/api/v1/auth/login",
                           json={"phone": phone, "code": latest_code(client, phone),
                                 "agreements": AGREED})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return Session(client, body["access_token"], body["csrf_token"], body["me"])


def bind(session: Session, name: str, id_number: str) -> dict[str, Any]:
    response = session.client.post(
        "/api/v1/me/identity", headers=session.bearer,
        json={"name": name, "id_number": id_number, "consents": CURRENT_CONSENTS},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def login_bound(client: FlaskClient, phone: str, name: str, id_number: str) -> Session:
    session = login(client, phone)
    session.me = bind(session, name, id_number)
    return session


@contextmanager
def statements_sent(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements the engine sends while the block runs, in order."""
    sent: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", listen)

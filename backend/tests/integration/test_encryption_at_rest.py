"""Personal data at rest, on PostgreSQL: after real journeys — bind and enroll,
buy for family, a proxy grant, a claim with a document, texts sent — a ``pg_dump`` of the schema
holds no ID number and no phone in plain text, and the stored claim document is sealed."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from huiminbao.app import build_container, create_app
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.claims.models import ClaimDocument
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.core.crypto import DOCUMENT_MAGIC, blind_index
from huiminbao.identity.models import OtpChallenge, Person, SmsMessage, UserAccount
from huiminbao.proxy.models import ProxyGrant
from huiminbao.registry.demo import load_demo_population
from huiminbao.registry.models import RegistryOperationRow, RegistryPersonRow
from tests.api.enrollment_helpers import PEOPLE
from tests.api.test_claims_support import (
    WORKED_EXAMPLE,
    enrolled,
    into_coverage,
    submit,
    upload,
)
from tests.api.test_family import FAMILY, _add_family, _buy
from tests.api.test_proxy import granted
from tests.conftest import TEST_NOW

pytestmark = pytest.mark.postgres

# A discharge summary that names the patient: the document store must never see it in plain.
SUMMARY = ("%PDF-1.4\n% 出院小结 患者 张伟 身份证号 330106198803150130 电话 13800000001\n"
           "1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n").encode()


@pytest.fixture
def journeys(pg_url: str, tmp_path: Path) -> Iterator[tuple[Flask, Container, Path]]:
    clock = MovableClock(TEST_NOW)
    documents = tmp_path / "documents"
    settings = Settings(database_url=pg_url, testing=True,
                        extra={"documents_dir": str(documents)})
    container = build_container(settings, clock=clock)
    load_demo_population(container.db, clock)
    ensure_demo_product(container.db, clock)
    yield create_app(container=container), container, documents
    container.db.dispose()


def _pg_dump(pg_url: str) -> str:
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump is needed for this test"
    url = make_url(pg_url)
    parts = urlsplit(url.render_as_string(hide_password=False).replace("+psycopg", ""))
    command = [pg_dump, "--no-owner", "--schema=public",
               f"--dbname=postgresql://{parts.netloc}{parts.path}"]
    return subprocess.run(command, check=True, capture_output=True, text=True,
                          timeout=120).stdout


def test_a_dump_after_the_journeys_holds_no_id_number_or_phone(
    journeys: tuple[Flask, Container, Path], pg_url: str,
) -> None:
    app, wired, documents = journeys
    zhang = enrolled(app.test_client())  # bind (login code texted), enroll, debit notice
    family = _add_family(zhang)
    bought = _buy(zhang, [family["李娜"], family["张小宇"]])
    assert bought.status_code == 201, bought.get_json()
    grant = granted(app, wired, zhang, ["enroll", "claims_view"])
    assert grant["status"] == "active"
    [zhang] = into_coverage(wired.clock, wired, zhang)  # type: ignore[arg-type]
    claim = submit(zhang, WORKED_EXAMPLE)
    assert claim.status_code == 201, claim.get_json()
    number = claim.get_json()["claim_no"]
    stored = upload(zhang, number, "出院小结.pdf", SUMMARY)
    assert stored.status_code == 201, stored.get_json()
    again = zhang.client.get(stored.get_json()["document"]["url"], headers=zhang.bearer)
    assert again.status_code == 200 and again.data == SUMMARY  # reads decrypt

    # Everything personal the database now holds, read back through the models (plain).
    with wired.db.read() as session:
        id_numbers = set(session.scalars(select(Person.id_number)))
        id_numbers |= set(session.scalars(select(RegistryPersonRow.id_number)))
        phones = set(session.scalars(select(UserAccount.phone)))
        phones |= {p for p in session.scalars(select(RegistryPersonRow.phone)) if p}
        phones |= set(session.scalars(select(SmsMessage.phone)))
        counts = {
            "people": session.scalar(select(func.count()).select_from(Person)),
            "texts": session.scalar(select(func.count()).select_from(SmsMessage)),
            "codes": session.scalar(select(func.count()).select_from(OtpChallenge)),
            "grants": session.scalar(select(func.count()).select_from(ProxyGrant)),
            "debits": session.scalar(select(func.count()).select_from(RegistryOperationRow)),
            "documents": session.scalar(select(func.count()).select_from(ClaimDocument)),
        }
        # The registry's own records are found by their blind index too.
        zhang_debits = session.scalars(select(RegistryOperationRow.id_number).where(
            RegistryOperationRow.id_number_index == blind_index(PEOPLE["张伟"][1]))).all()
    # The journeys really wrote personal data (no vacuous pass).
    assert counts["people"] >= 5 and counts["texts"] >= 3 and counts["codes"] >= 2, counts
    assert counts["grants"] == 1 and counts["debits"] >= 2 and counts["documents"] == 1, counts
    assert zhang_debits and set(zhang_debits) == {PEOPLE["张伟"][1]}, zhang_debits
    assert PEOPLE["张伟"][1] in id_numbers and FAMILY["李娜"][0] in id_numbers
    assert PEOPLE["张伟"][0] in phones and len(phones) >= 5
    assert len(id_numbers) >= 10

    dump = _pg_dump(pg_url)
    assert "COPY" in dump and "people" in dump and "v1:demo1:" in dump
    # Whole values, and their digits alone (an ID number without its check character).
    needles = id_numbers | {n[:17] for n in id_numbers} | phones
    leaked = sorted(n for n in needles if n in dump)
    assert leaked == [], f"in plain text in the dump: {leaked[:5]}"

    # The document store holds the summary sealed: no name, ID number or phone inside.
    [path] = [p for p in documents.rglob("*") if p.is_file()]
    sealed = path.read_bytes()
    assert sealed.startswith(DOCUMENT_MAGIC)
    for needle in (PEOPLE["张伟"][1], PEOPLE["张伟"][0], "张伟", "%PDF"):
        assert needle.encode() not in sealed

"""Helpers for the disclosure, complaints and console tests (no tests here): staff sign-in,
extra registry persons with valid ID numbers, CSV uploads, and counting rows in the database."""

from __future__ import annotations

import io
import uuid
from datetime import date
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from huiminbao.core import idnumber
from huiminbao.core.container import Container
from huiminbao.identity.domain import Role
from huiminbao.identity.services import create_staff
from huiminbao.registry.importer import Population, load_population
from huiminbao.registry.port import Assistance, PersonStatus, RegistryPerson, Scheme

from .helpers import Session, login

ADMIN_PHONE = "13600000001"
INSURER_PHONE = "13600000002"
COUNTER_PHONE = "13600000003"
HANGZHOU = "330100"


def staff_session(client: FlaskClient, wired: Container, role: Role, phone: str,
                  name: str = "工作人员") -> Session:
    create_staff(wired, phone, role, name)
    return login(client, phone)


def admin(client: FlaskClient, wired: Container) -> Session:
    return staff_session(client, wired, Role.ADMIN, ADMIN_PHONE, "管理员")


def new_id_number(birth: date, sequence: int, area: str = "330106") -> str:
    return idnumber.make(area, birth, sequence)


def add_registry_persons(wired: Container, *persons: RegistryPerson) -> None:
    """More people in the built-in registry (the demo population stays as it is)."""
    load_population(wired.db, wired.clock, Population(persons=list(persons)))


def registry_person(name: str, birth: date, sequence: int, *, scheme: Scheme = Scheme.EMPLOYEE,
                    status: PersonStatus = PersonStatus.ACTIVE,
                    assistance: Assistance = Assistance.NONE, city_code: str = HANGZHOU,
                    phone: str | None = None) -> RegistryPerson:
    return RegistryPerson(id_number=new_id_number(birth, sequence), name=name, phone=phone,
                          city_code=city_code, scheme=scheme, status=status,
                          assistance=assistance)


def csv_bytes(header: str, rows: list[str], *, bom: bool = True) -> bytes:
    text = "\n".join([header, *rows]) + "\n"
    return (("\ufeff" if bom else "") + text).encode("utf-8")


def upload(session: Session, path: str, data: bytes, form: dict[str, Any], *,
           key: str | None = None, filename: str = "名单.csv"):  # type: ignore[no-untyped-def]
    return session.client.post(
        path, data={**{k: str(v) for k, v in form.items()},
                    "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        headers={**(session.bearer if session.token else {}),
                 "Idempotency-Key": key or uuid.uuid4().hex},
    )


def count(wired: Container, model: type, *conditions: Any) -> int:
    with wired.db.read() as session:
        query = select(func.count()).select_from(model)
        for condition in conditions:
            query = query.where(condition)
        return int(session.scalar(query) or 0)


def demo_product_id(client: FlaskClient) -> int:
    return int(client.get("/api/v1/products").get_json()["items"][0]["id"])

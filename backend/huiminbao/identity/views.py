"""How identity objects look in API responses (always masked)."""

from __future__ import annotations

from typing import Any

from huiminbao.audit.consents import CONSENT_TEXTS, ConsentKind
from huiminbao.audit.models import Consent
from huiminbao.core.clock import Clock
from huiminbao.core.idnumber import age_on
from huiminbao.core.masking import mask_id_number, mask_name, mask_phone
from huiminbao.identity.domain import BindingVerification, Role
from huiminbao.identity.services import Profile


def me_view(profile: Profile, clock: Clock, csrf_token: str | None, *,
            identity_check_available: bool = False) -> dict[str, Any]:
    account, person = profile.account, profile.person
    verified_by = (BindingVerification(account.binding_verified_by)
                   if person is not None and account.binding_verified_by else None)
    identity: dict[str, Any] = {"bound": person is not None, "person_id": None, "name": None,
                                "id_number": None, "birth_date_year": None, "age": None,
                                "sex": None, "verified": verified_by is not None,
                                "verified_by": verified_by.value if verified_by else None,
                                "verified_by_label": verified_by.label if verified_by else None,
                                "verified_at": account.binding_verified_at if verified_by else None,
                                "identity_check_available": identity_check_available}
    if person is not None:
        identity.update(
            person_id=person.id, name=mask_name(person.name),
            id_number=mask_id_number(person.id_number), birth_date_year=person.birth_date.year,
            age=age_on(person.birth_date, clock.today()), sex=person.sex,
        )
    role = Role(account.role)
    return {
        "account_id": account.id,
        "phone": mask_phone(account.phone),
        "role": role.value,
        "role_label": role.label,
        "elderly_mode": account.elderly_mode,
        "identity": identity,
        "consents": [consent_view(consent) for consent in profile.consents],
        "csrf_token": csrf_token,
    }


def consent_view(consent: Consent) -> dict[str, Any]:
    return {
        "kind": consent.kind,
        "title": CONSENT_TEXTS[ConsentKind(consent.kind)].title,
        "text_version": consent.text_version,
        "granted_at": consent.granted_at,
        "withdrawn_at": consent.withdrawn_at,
    }

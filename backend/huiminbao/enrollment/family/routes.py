"""Family endpoints: whom the caller buys for, with each member's coverage status."""

from __future__ import annotations

from typing import Any, ClassVar

from flask.views import MethodView
from flask_smorest import Blueprint

from huiminbao.core.container import container
from huiminbao.core.ratelimit import limiter
from huiminbao.enrollment.family import from_registry
from huiminbao.enrollment.family import members as family
from huiminbao.enrollment.schemas import (
    AddMemberSchema,
    CodeSentSchema,
    MemberListSchema,
    MemberSchema,
    PickRelativeSchema,
    RegistryRelativeListSchema,
    Relative,
    VerifyMemberSchema,
)
from huiminbao.identity.access import subject_for
from huiminbao.identity.auth import current_actor
from huiminbao.identity.domain import Action
from huiminbao.registry.port import Relation

blp = Blueprint("family", __name__, url_prefix="/api/v1", description="家庭成员")


# Adding a relative (typed, which may text their phone, or picked from the registry): bounded
# per account, one bound for both ways (a family is small).
_ADDING = limiter.shared_limit("12 per 10 minutes;30 per day", scope="family-add",
                               key_func=lambda: _account_key(), methods=["POST"])


@blp.route("/me/family")
class Family(MethodView):
    decorators: ClassVar[list[Any]] = [_ADDING]

    @blp.response(200, MemberListSchema)
    def get(self) -> dict[str, Any]:
        """The caller's family members with their coverage status for the open product."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        today = container().clock.today()
        return {"items": [Relative(m, today)
                          for m in family.list_members(container(), subject.person_id)]}

    @blp.arguments(AddMemberSchema)
    @blp.response(201, MemberSchema)
    def post(self, body: dict[str, Any]) -> Relative:
        """Add a spouse, child or parent. Verified at once when the registry links you;
        otherwise a code goes to the relative's own registered phone."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        view, texted = family.add_member(container(), actor, subject.person_id, body["name"],
                                         body["id_number"], Relation(body["relation"]))
        return Relative(view, container().clock.today(), texted)


@blp.route("/me/family/from-registry")
class FamilyFromRegistry(MethodView):
    decorators: ClassVar[list[Any]] = [_ADDING]

    @blp.response(200, RegistryRelativeListSchema)
    def get(self) -> dict[str, Any]:
        """The spouse, children and parents the registry links to the caller (a verified
        binding), masked, each with a pick token; never an ID number."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        return {"items": from_registry.list_relatives(container(), actor, subject.person_id)}

    @blp.arguments(PickRelativeSchema)
    @blp.response(201, MemberSchema)
    def post(self, body: dict[str, Any]) -> Relative:
        """Add a relative picked from that list: verified at once by the registry's link."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        view = from_registry.add_picked(container(), actor, subject.person_id, body["pick"])
        return Relative(view, container().clock.today())


def _account_key() -> str:
    return f"account:{current_actor().account_id}"


@blp.route("/me/family/<int:member_id>/code")
class ResendMemberCode(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("1 per minute;10 per day", key_func=_account_key, methods=["POST"],
                      scope="family-code"),
    ]

    @blp.response(200, CodeSentSchema)
    def post(self, member_id: int) -> dict[str, Any]:
        """Text a new code to a pending relative's own phone."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        return {"sent_to": family.resend_code(container(), subject.person_id, member_id)}


@blp.route("/me/family/<int:member_id>/verify")
class VerifyMember(MethodView):
    @blp.arguments(VerifyMemberSchema)
    @blp.response(200, MemberSchema)
    def post(self, body: dict[str, Any], member_id: int) -> Relative:
        """Enter the code the relative received on their own phone."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        view = family.verify_member(container(), actor, subject.person_id, member_id,
                                    body["code"])
        return Relative(view, container().clock.today())


@blp.route("/me/family/<int:member_id>")
class FamilyMemberItem(MethodView):
    @blp.response(204)
    def delete(self, member_id: int) -> None:
        """Remove a member (their policies stay as they are)."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        family.remove_member(container(), actor, subject.person_id, member_id)

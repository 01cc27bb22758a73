"""Family endpoints: whom the caller buys for, with each member's coverage status."""

from __future__ import annotations

from typing import Any, ClassVar

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from huiminbao.core.container import container
from huiminbao.core.idnumber import age_on
from huiminbao.core.masking import mask_id_number, mask_name
from huiminbao.core.ratelimit import limiter
from huiminbao.core.responses import ResponseSchema
from huiminbao.enrollment.family import members as family
from huiminbao.identity.access import subject_for
from huiminbao.identity.auth import current_actor
from huiminbao.identity.domain import Action
from huiminbao.registry.port import Relation

blp = Blueprint("family", __name__, url_prefix="/api/v1", description="家庭成员")


class MemberSchema(ResponseSchema):
    id = fields.Integer()
    person_id = fields.Integer()
    name = fields.String(metadata={"description": "masked"})
    id_number = fields.String(metadata={"description": "masked"})
    relation = fields.String()
    relation_label = fields.String()
    verified = fields.Boolean()
    verification = fields.String(metadata={"description": "registry | sms | pending"})
    age = fields.Integer()
    coverage = fields.String(metadata={"description": "未参保 / 待支付 / 已参保 / 已由他人投保"})
    policy_no = fields.String(allow_none=True)
    code_sent_to = fields.String(allow_none=True,
                                 metadata={"description": "pending: the relative's masked phone"})


class MemberListSchema(ResponseSchema):
    items = fields.List(fields.Nested(MemberSchema))


class AddMemberSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64,
                                                                 error="请输入亲属姓名"))
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=32,
                                                                      error="请输入身份证号码"))
    relation = fields.String(required=True, validate=validate.OneOf(
        [r.value for r in Relation], error="关系只能是配偶、子女或父母"))


class VerifyMemberSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^\d{6}$",
                                                                 error="请输入6位数字验证码"))


def _view(item: family.MemberView, code_sent_to: str | None = None) -> dict[str, Any]:
    age = age_on(item.person.birth_date, container().clock.today())
    relation = Relation(item.member.relation)
    return {
        "id": item.member.id, "person_id": item.person.id, "name": mask_name(item.person.name),
        "id_number": mask_id_number(item.person.id_number), "relation": relation.value,
        "relation_label": family.RELATION_LABELS[relation],
        "verified": item.member.verification != "pending",
        "verification": item.member.verification, "age": age, "coverage": item.coverage,
        "policy_no": item.policy_no, "code_sent_to": code_sent_to,
    }


@blp.route("/me/family")
class Family(MethodView):
    # Adding a relative may text their phone: bounded per account (a family is small).
    decorators: ClassVar[list[Any]] = [
        limiter.limit("12 per 10 minutes;30 per day", key_func=lambda: _account_key(),
                      methods=["POST"], scope="family-add"),
    ]

    @blp.response(200, MemberListSchema)
    def get(self) -> dict[str, Any]:
        """The caller's family members with their coverage status for the open product."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        return {"items": [_view(m) for m in family.list_members(container(), subject.person_id)]}

    @blp.arguments(AddMemberSchema)
    @blp.response(201, MemberSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a spouse, child or parent. Verified at once when the registry links you;
        otherwise a code goes to the relative's own registered phone."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        view, texted = family.add_member(container(), actor, subject.person_id, body["name"],
                                         body["id_number"], Relation(body["relation"]))
        return _view(view, texted)


def _account_key() -> str:
    return f"account:{current_actor().account_id}"


class CodeSentSchema(ResponseSchema):
    sent_to = fields.String()


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
    def post(self, body: dict[str, Any], member_id: int) -> dict[str, Any]:
        """Enter the code the relative received on their own phone."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        return _view(family.verify_member(container(), actor, subject.person_id, member_id,
                                          body["code"]))


@blp.route("/me/family/<int:member_id>")
class FamilyMemberItem(MethodView):
    @blp.response(204)
    def delete(self, member_id: int) -> None:
        """Remove a member (their policies stay as they are)."""
        actor = current_actor()
        subject = subject_for(Action.MANAGE_FAMILY, actor)
        family.remove_member(container(), actor, subject.person_id, member_id)

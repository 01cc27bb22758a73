"""How orders, quotes and policies look in responses: masked names, amounts in fen."""

from __future__ import annotations

from typing import Any

from huiminbao.core.clock import Clock
from huiminbao.core.masking import mask_id_number, mask_name, mask_phone
from huiminbao.enrollment.domain import OrderStatus, PaymentMethod, PolicyStatus, cancel_refusal
from huiminbao.enrollment.models import Order
from huiminbao.enrollment.policies import (
    PolicyDetails,
    auto_renew_refusal,
    is_payer,
    validity,
)
from huiminbao.enrollment.quoting import Quote


def quote_view(quote: Quote) -> dict[str, Any]:
    terms = quote.product.current_terms
    account = None
    if quote.payment_method is PaymentMethod.PERSONAL_ACCOUNT and quote.payer is not None:
        account = {
            "holder": mask_name(quote.payer.name),
            "balances": quote.product.payable_balances.split(","),
            "balance_before_fen": quote.balance_before_fen,
            "balance_after_fen": quote.balance_after_fen,
            "shortfall_fen": quote.shortfall_fen,
        }
    return {
        "product_id": quote.product.id,
        "product_name": quote.product.name,
        "terms_version": terms.version if terms else None,
        "notice": terms.notice if terms else None,
        "payment_method": quote.payment_method.value,
        "lines": [{
            "person_id": line.person.id, "name": mask_name(line.person.name),
            "relation": line.relation, "tier": line.tier.code, "tier_name": line.tier.name,
            "premium_fen": line.premium_fen, "subsidy_fen": line.subsidy_fen,
            "payable_fen": line.payable_fen,
        } for line in quote.lines],
        "premium_fen": quote.premium_fen,
        "subsidy_fen": quote.subsidy_fen,
        "payable_fen": quote.payable_fen,
        "account": account,
        "needs_sms_code": quote.needs_sms_code,
        # Where the owner's confirmation code goes: the registry's phone for them, masked.
        "sms_code_phone": (mask_phone(quote.payer.phone) if quote.needs_sms_code
                           and quote.payer is not None and quote.payer.phone else None),
    }


def order_view(order: Order, product_name: str, names: dict[int, str], tier_names: dict[str, str],
               pay_url: str | None) -> dict[str, Any]:
    status = OrderStatus(order.status)
    return {
        "order_no": order.order_no,
        "status": status.value,
        "status_label": status.label,
        "product_id": order.product_id,
        "product_name": product_name,
        "payment_method": order.payment_method,
        "premium_fen": order.premium_fen,
        "subsidy_fen": order.subsidy_fen,
        "payable_fen": order.payable_fen,
        "refunded_fen": order.refunded_fen,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
        "pay_url": pay_url if status is OrderStatus.PENDING_PAYMENT else None,
        "failure_reason": order.failure_reason,
        "lines": [{
            "person_id": item.insured_person_id,
            "name": mask_name(names.get(item.insured_person_id, "")),
            "relation": item.relation, "tier": item.tier_code,
            "tier_name": tier_names.get(item.tier_code, item.tier_code),
            "premium_fen": item.premium_fen, "subsidy_fen": item.subsidy_fen,
            "payable_fen": item.premium_fen - item.subsidy_fen,
        } for item in order.items],
        "policies": [{
            "policy_no": item.policy.policy_no,
            "person_id": item.insured_person_id,
            "insured_name": mask_name(names.get(item.insured_person_id, "")),
            "status": item.policy.status,
        } for item in order.items if item.policy is not None],
    }


def policy_view(details: PolicyDetails, clock: Clock, verify_url: str, qr_url: str,
                viewer_person_id: int | None = None,
                actor_person_id: int | None = None) -> dict[str, Any]:
    """``viewer_person_id``: whom the caller is (or acts for); only the holder may cancel.
    ``actor_person_id``: who is signed in; only the payer in person may turn auto-renewal on."""
    policy, product = details.policy, details.product
    status = PolicyStatus(policy.status)
    tier = product.tier(policy.tier_code)
    terms = product.current_terms
    refund = details.refund
    return {
        "policy_no": policy.policy_no,
        "status": status.value,
        "status_label": status.label,
        "validity": validity(details, clock.today()),
        "product_id": product.id,
        "product_name": product.name,
        "insurer": product.insurer,
        "tier": policy.tier_code,
        "tier_name": tier.name if tier else policy.tier_code,
        "insured_person_id": policy.insured_person_id,
        "insured_name": mask_name(details.insured.name),
        "insured_id_number": mask_id_number(details.insured.id_number),
        "holder_name": mask_name(details.holder.name),
        "premium_fen": policy.premium_fen,
        "subsidy_fen": policy.subsidy_fen,
        "paid_fen": policy.premium_fen - policy.subsidy_fen,
        "payment_method": details.order.payment_method,
        "coverage_starts_on": policy.coverage_starts_on,
        "coverage_ends_on": policy.coverage_ends_on,
        "issued_at": policy.issued_at,
        "cancelled_at": policy.cancelled_at,
        "can_cancel": viewer_person_id == policy.holder_person_id
        and cancel_refusal(status, policy.coverage_starts_on, clock.today()) is None,
        "refund": None if refund is None else {
            "refund_no": refund.refund_no, "amount_fen": refund.amount_fen,
            "subsidy_fen": refund.subsidy_fen, "status": refund.status,
            "settled_at": refund.settled_at,
        },
        "auto_renew": policy.auto_renew,
        "viewer_is_payer": is_payer(policy, actor_person_id),
        "can_set_auto_renew": auto_renew_refusal(
            policy, details.order.payment_method, actor_person_id) is None,
        "payer_name": mask_name(details.payer.name) if details.payer is not None else None,
        "verify_url": verify_url,
        "qr_url": qr_url,
        "notice": terms.notice if terms else "",
    }


def verify_view(details: PolicyDetails, clock: Clock) -> dict[str, Any]:
    """The public check of an e-policy (QR code): genuine or not, product, validity and the
    masked name; nothing else about the person."""
    policy = details.policy
    return {
        "valid": policy.status == PolicyStatus.ACTIVE.value,
        "policy_no": policy.policy_no,
        "product_name": details.product.name,
        "insurer": details.product.insurer,
        "insured_name": mask_name(details.insured.name),
        "validity": validity(details, clock.today()),
        "coverage_starts_on": policy.coverage_starts_on,
        "coverage_ends_on": policy.coverage_ends_on,
    }

"""What residents read an audit action as: one Chinese label per action, shared by the data
export (identity/export.py) and the proxy activity feed (proxy/schemas.py)."""

from __future__ import annotations

ACTION_LABELS = {
    "auth.login": "登录", "auth.logout": "退出登录", "auth.wechat_login": "微信登录",
    "auth.wechat_link": "绑定微信", "identity.bind": "实名认证",
    "agreement.accept": "同意用户协议和隐私政策",
    "consent.grant": "同意授权", "consent.withdraw": "撤回授权",
    "consent.blocked": "因授权已撤回而暂停的操作",
    "order.create": "提交参保订单", "order.paid": "缴费成功并出单", "order.closed": "订单关闭",
    "order.expired": "订单过期", "order.cancelled": "订单取消",
    "order.stray_payment": "订单异常缴费",
    "policy.cancel": "办理退保", "policy.auto_renew_on": "开启自动续保",
    "policy.auto_renew_off": "关闭自动续保",
    "family.add": "添加家庭成员", "family.verify": "核验家庭成员", "family.remove": "移除家庭成员",
    "proxy.grant.create": "申请代办授权", "proxy.grant.confirm": "确认代办授权",
    "proxy.grant.revoke": "撤销代办授权", "proxy.grant.cancel": "取消代办授权申请",
    "proxy.grant.decline": "拒绝代办授权申请", "proxy.grant.expire": "代办授权到期",
    "proxy.act": "亲友代办", "proxy.counter_lookup": "窗口查询代办授权",
    "claim.submit": "提交理赔申请", "claim.document_add": "上传理赔材料",
    "claim.document_read": "查看理赔材料", "claim.review_view": "理赔审核查看",
    "claim.approve": "理赔审核通过", "claim.reject": "理赔审核不通过",
    "claim.request_supplement": "要求补充理赔材料", "claim.settle": "一站式结算",
    "claim.start_review": "开始理赔审核", "claim.mark_paid": "理赔款已支付",
    "claim.first_approval": "理赔初审通过，待复核", "claim.appeal": "提出理赔申诉",
    "claim.payout_sending": "理赔款支付中", "claim.payout_paid": "理赔款已到账",
    "claim.payout_failed": "理赔款支付未成功", "settlement.refused": "一站式结算未通过",
    "claim_records.authorize": "授权查询医保结算记录",
    "claim_records.revoke": "撤回医保结算记录授权",
    "claim_records.read": "查询医保结算记录", "claim_records.prefill": "按结算记录填写理赔申请",
    "claim_records.file": "按结算记录提交理赔申请",
    "identity.verify": "核验身份", "identity.check": "人脸或电子身份证核验",
    "identity.displace": "实名认证，并解除该身份证号原绑定的账号",
    "policy.lookup": "通过身份证号查询保单", "policy.epolicy_download": "下载电子保单",
    "policy.receipt_download": "下载保费缴纳凭证",
    "rating.submit": "提交满意度评价", "account.delete": "注销账号",
    "claim.payee_change": "更改理赔收款账户",
    "policy.auto_renew_revoked": "自动续保因非付款人本人开启被关闭",
    "complaint.file": "提交投诉", "complaint.reply": "投诉回复",
    "counter.enroll": "窗口代为参保", "counter.evidence": "窗口核验材料",
    "counter.note": "窗口备注", "data.export": "导出个人信息",
}


# An action without a label of its own is named by its domain, never by its code (residents read
# them: the data export, the proxy activity feed).
DOMAIN_LABELS = {
    "access": "查看或办理您的业务", "auth": "账号登录相关操作", "identity": "实名认证相关操作",
    "consent": "授权相关操作", "order": "投保订单相关操作", "policy": "保单相关操作",
    "family": "家庭成员相关操作", "proxy": "亲友代办相关操作", "claim": "理赔相关操作",
    "claim_records": "医保结算记录相关操作", "settlement": "一站式结算相关操作",
    "complaint": "投诉相关操作", "counter": "经办窗口办理", "data": "个人信息相关操作",
}


def action_label(action: str) -> str:
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    return DOMAIN_LABELS.get(action.split(".", 1)[0], "其他操作")

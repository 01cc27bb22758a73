"""The one place that chooses an adapter for each port from the settings (cosmicpython's bootstrap).

Every port - the basic-insurance registry, the payment gateway, the SMS provider and the claim
document store - has a real adapter, chosen when its settings are present, and a built-in stand-in
for demo mode. Production mode refuses to start while any port would fall back to its stand-in or
while a port's settings are incomplete; the refusal names the setting to set. The app, every
command and the worker build their container through here, so none of them can run production on a
simulator. ``huiminbao doctor`` reads the same choices and asks each adapter to answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from huiminbao.core.clock import Clock
from huiminbao.core.config import ConfigError, Settings, on_this_machine
from huiminbao.core.db import Database


class Port(StrEnum):
    REGISTRY = "registry"
    GATEWAY = "gateway"
    SMS = "sms"
    DOCUMENTS = "documents"

    @property
    def label(self) -> str:
        return {Port.REGISTRY: "医保信息平台（参保登记与个人账户）", Port.GATEWAY: "在线支付",
                Port.SMS: "短信", Port.DOCUMENTS: "理赔材料存储"}[self]


class PortConfig(Protocol):
    """What every real adapter's settings offer: where it points, with secrets masked."""

    def describe(self) -> str: ...


@dataclass(frozen=True)
class PortSpec:
    """How one port is configured: the variable that switches the real adapter on (named in a
    refusal), the real adapter's settings parser, and the stand-in's description."""

    port: Port
    prefix: str  # every variable of the real adapter starts with it
    key_setting: str  # the first variable an operator sets to leave the stand-in
    settings_help: str  # every variable of the real adapter, for the refusal
    real_adapter: str
    stand_in: str
    parse: Callable[[Mapping[str, str]], PortConfig | None]
    address_setting: str  # where the real service is (its default, if any, is the real one)
    address: Callable[[Any], str]  # that URL, from the parsed settings


@dataclass(frozen=True)
class PortChoice:
    """What a port will be wired to. ``config`` is None for the stand-in; ``problem`` says why
    the port cannot be wired (incomplete settings, or a stand-in in production)."""

    spec: PortSpec
    config: PortConfig | None
    problem: str | None = None

    @property
    def port(self) -> Port:
        return self.spec.port

    @property
    def simulated(self) -> bool:
        return self.config is None

    @property
    def adapter(self) -> str:
        return self.spec.stand_in if self.simulated else self.spec.real_adapter

    @property
    def target(self) -> str:
        return self.config.describe() if self.config is not None else "本进程内（仅演示模式）"


def _parse_registry(env: Mapping[str, str]) -> PortConfig | None:
    from huiminbao.registry.http_adapter import RegistryConfig

    return RegistryConfig.from_env(env)


def _parse_gateway(env: Mapping[str, str]) -> PortConfig | None:
    from huiminbao.payments.wechatpay_v3 import WechatPayConfig

    return WechatPayConfig.from_env(env)


def _parse_sms(env: Mapping[str, str]) -> PortConfig | None:
    from huiminbao.identity.sms_tencent import SmsProviderConfig

    return SmsProviderConfig.from_env(env)


def _parse_documents(env: Mapping[str, str]) -> PortConfig | None:
    from huiminbao.claims.object_store import DocumentStoreConfig

    return DocumentStoreConfig.from_env(env)


PORTS: tuple[PortSpec, ...] = (
    PortSpec(Port.REGISTRY, "HUIMINBAO_REGISTRY_", "HUIMINBAO_REGISTRY_URL",
             "HUIMINBAO_REGISTRY_URL, HUIMINBAO_REGISTRY_SENDER_ID, "
             "HUIMINBAO_REGISTRY_SIGNING_KEY, HUIMINBAO_REGISTRY_ENCRYPTION_KEY",
             "HTTP：医保平台对接协议（docs/registry-protocol.md）", "内置医保模拟器",
             _parse_registry, "HUIMINBAO_REGISTRY_URL", lambda config: str(config.url)),
    PortSpec(Port.GATEWAY, "WECHATPAY_", "WECHATPAY_MCHID",
             "WECHATPAY_MCHID, WECHATPAY_APPID, WECHATPAY_CERT_SERIAL_NO, "
             "WECHATPAY_PRIVATE_KEY_FILE, WECHATPAY_APIV3_KEY, WECHATPAY_PUBLIC_KEY_FILE, "
             "WECHATPAY_PUBLIC_KEY_ID, WECHATPAY_NOTIFY_URL",
             "微信支付 API v3", "内置支付模拟器", _parse_gateway,
             "WECHATPAY_BASE_URL", lambda config: str(config.base_url)),
    PortSpec(Port.SMS, "SMS_", "SMS_PROVIDER",
             "SMS_PROVIDER, SMS_SECRET_ID, SMS_SECRET_KEY, SMS_SDK_APP_ID, SMS_SIGN_NAME, "
             "SMS_TEMPLATE_IDS",
             "短信服务商（腾讯云短信）", "开发用短信发件箱（不发出）", _parse_sms,
             "SMS_ENDPOINT", lambda config: f"{config.scheme}://{config.endpoint}"),
    PortSpec(Port.DOCUMENTS, "S3_", "S3_ENDPOINT_URL",
             "S3_ENDPOINT_URL, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY",
             "S3 兼容对象存储", "本机目录", _parse_documents,
             "S3_ENDPOINT_URL", lambda config: str(config.endpoint_url)),
)


def choose_ports(settings: Settings) -> list[PortChoice]:
    """Each port's adapter for these settings, with the problem (if any) that forbids wiring it.
    Never raises: ``huiminbao doctor`` shows every problem at once."""
    choices = []
    for spec in PORTS:
        try:
            config = spec.parse(settings.port_env)
        except ConfigError as exc:
            choices.append(PortChoice(spec, None, str(exc)))
            continue
        problem = None
        if config is None and not settings.is_demo:
            problem = (f"production mode needs a real {spec.port.value} adapter: set "
                       f"{spec.key_setting} (with {spec.settings_help}); the built-in "
                       f"{spec.port.value} simulator serves demo mode only")
        elif config is not None and settings.is_demo and not _on_this_machine(spec.address(config)):
            # Demo mode opens /api/v1/dev (texted codes, a movable clock) to anyone: it may
            # talk to stand-ins on this machine, never to a city's real services.
            problem = (f"demo mode only talks to stand-ins on this machine, not to "
                       f"{spec.address(config)} ({spec.address_setting}): real services need "
                       "HUIMINBAO_MODE=production")
        choices.append(PortChoice(spec, config, problem))
    return choices


def _on_this_machine(url: str) -> bool:
    return on_this_machine(urlsplit(url if "//" in url else f"//{url}").hostname)


IDENTITY_CHECK_SETTING = "IDENTITY_CHECK_PROVIDER"


def identity_check_problem(settings: Settings) -> str | None:
    """The identity-verification port (face / eID, identity/verification.py) is optional: a
    city may verify bindings by the registry's phone and at the counter only. Unset, demo mode
    wires the simulator and production offers no face check. Production refuses the simulator
    by name, and any provider this build has no adapter for."""
    provider = settings.port_env.get(IDENTITY_CHECK_SETTING, "").strip()
    if not provider:
        return None
    if provider == "simulator":
        if settings.is_demo:
            return None
        return (f"{IDENTITY_CHECK_SETTING}=simulator: the identity-check simulator serves demo "
                "mode only; unset it (no face check offered) or wire a real adapter")
    return (f"{IDENTITY_CHECK_SETTING}={provider}: no adapter for it in this build (implement "
            "huiminbao.identity.verification.IdentityVerifier and wire it here)")


def build_identity_checks(settings: Settings, clock: Clock, registry: Any) -> Any:
    """The face / eID verifier, or None where none is offered (production without an adapter).
    ``checked_ports`` has already refused the simulator in production."""
    if identity_check_problem(settings) is not None or not settings.is_demo:
        return None
    from huiminbao.identity.verification import SimulatedIdentityVerifier

    return SimulatedIdentityVerifier(settings.secret_key, clock, registry)


BANK_CARD_CHECK_SETTING = "BANK_CARD_CHECK_PROVIDER"
CLAIM_PAYOUT_SETTING = "CLAIM_PAYOUT_PROVIDER"
_CLAIM_PORTS = {
    BANK_CARD_CHECK_SETTING: ("bank-card verification", "huiminbao.claims.payees.BankCardVerifier"),
    CLAIM_PAYOUT_SETTING: ("claim payout", "huiminbao.claims.payouts.PayoutPort"),
}


def claim_port_problem(settings: Settings, setting: str) -> str | None:
    """The claims' bank-card verification and payout ports: demo mode wires their simulators
    (unset or ``simulator``); production refuses the simulator by name and any provider this
    build has no adapter for. Unset in production, the port is not offered: payees cannot be
    named and payout runs refuse, until a real adapter is wired here."""
    provider = settings.port_env.get(setting, "").strip()
    what, protocol = _CLAIM_PORTS[setting]
    if not provider or provider == "simulator":
        if provider and not settings.is_demo:
            return (f"{setting}=simulator: the {what} simulator serves demo mode only; "
                    "unset it or wire a real adapter")
        return None
    return (f"{setting}={provider}: no adapter for it in this build (implement {protocol} "
            "and wire it here)")


def build_bank_cards(settings: Settings, db: Database, clock: Clock) -> Any:
    if claim_port_problem(settings, BANK_CARD_CHECK_SETTING) is not None or not settings.is_demo:
        return None
    from huiminbao.claims.payees import SimulatedBankCards

    return SimulatedBankCards(db, clock)


def build_payouts(settings: Settings, db: Database, clock: Clock) -> Any:
    if claim_port_problem(settings, CLAIM_PAYOUT_SETTING) is not None or not settings.is_demo:
        return None
    from huiminbao.claims.payouts import SimulatedPayouts

    return SimulatedPayouts(db, clock)


def checked_ports(settings: Settings) -> dict[Port, PortChoice]:
    """The choices, or ``ConfigError`` naming every setting that is missing or wrong."""
    choices = choose_ports(settings)
    problems = [choice.problem for choice in choices if choice.problem]
    if (identity_problem := identity_check_problem(settings)) is not None:
        problems.append(identity_problem)
    problems += [problem for setting in _CLAIM_PORTS
                 if (problem := claim_port_problem(settings, setting)) is not None]
    if problems:
        raise ConfigError("; ".join(problems))
    return {choice.port: choice for choice in choices}


def build_adapters(settings: Settings, db: Database, clock: Clock) -> dict[Port, Any]:
    """One adapter per port: the real one where configured, else the stand-in (demo mode only;
    ``checked_ports`` refuses a stand-in in production before anything is built)."""
    choices = checked_ports(settings)
    return {port: build_port(choice, settings, db, clock) for port, choice in choices.items()}


def build_port(choice: PortChoice, settings: Settings, db: Database, clock: Clock) -> Any:
    config: Any = choice.config
    if choice.port is Port.REGISTRY:
        if config is None:
            from huiminbao.registry.simulator import SimulatedRegistry

            return SimulatedRegistry(db, clock)
        from huiminbao.registry.http_adapter import HttpRegistry

        return HttpRegistry(config)
    if choice.port is Port.GATEWAY:
        if config is None:
            from huiminbao.payments.gateway.port import default_merchant_key
            from huiminbao.payments.gateway.simulator import SimulatedGateway

            return SimulatedGateway(db, clock, default_merchant_key(settings.secret_key))
        from huiminbao.payments.wechatpay_v3 import WechatPayV3Gateway

        return WechatPayV3Gateway(config, clock)
    if choice.port is Port.SMS:
        # Texts always go to the outbox with the event that causes them; this is who delivers
        # them (the worker, and a request sending a one-time code). None in demo mode: texts
        # stay in the outbox, where /api/v1/dev/sms shows them.
        return config.provider_client() if config is not None else None
    if config is None:
        from huiminbao.claims.storage import LocalDocumentStore, documents_dir

        return LocalDocumentStore(documents_dir(settings))
    from huiminbao.claims.object_store import S3DocumentStore

    return S3DocumentStore(config)

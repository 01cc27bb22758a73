"""Settings read once from the environment.

The embedded default is demo mode on a SQLite file under ``instance/``; production mode refuses to
start without a real secret key and never exposes development endpoints.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from huiminbao.core.crypto import (
    DEMO_FIELD_KEYS,
    DEMO_INDEX_KEY,
    FIELD_KEYS_ENV,
    INDEX_KEY_ENV,
    Keyring,
    KeyringError,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_INSTANCE_DIR = REPO_ROOT / "instance"
DEFAULT_FRONTEND_DIR = REPO_ROOT / "frontend"
# The CJK font the PDF e-policy and premium receipt embed (subset): Debian's fonts-noto-cjk, face 2
# of the collection (Noto Sans CJK SC). HUIMINBAO_PDF_FONT / HUIMINBAO_PDF_FONT_INDEX change it.
DEFAULT_PDF_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
DEFAULT_PDF_FONT_INDEX = 2
DEMO_SECRET_KEY = "demo-only-secret-key-do-not-use-in-production"  # noqa: S105
MIN_SECRET_KEY_LENGTH = 32
# How long a running Idempotency-Key is held before a retry may take it over. Longer
# than a healthy enrollment ever runs (a few database round trips and one registry or gateway
# call: well under a second, a few seconds under load), so a live request is not taken over;
# short enough that a retry after a crash is answered from its order within seconds.
DEFAULT_IDEMPOTENCY_LEASE_SECONDS = 15.0
MAX_IDEMPOTENCY_LEASE_SECONDS = 600.0
# The prefixes of the real adapters' settings (wiring.PORTS says which adapter reads which).
PORT_SETTING_PREFIXES = ("HUIMINBAO_REGISTRY_", "WECHATPAY_", "SMS_", "S3_", "IDENTITY_CHECK_",
                         "BANK_CARD_CHECK_", "CLAIM_PAYOUT_")


class Mode(StrEnum):
    DEMO = "demo"
    PRODUCTION = "production"


class ConfigError(RuntimeError):
    """The environment describes a configuration the product must not start with."""


@dataclass(frozen=True)
class Settings:
    mode: Mode = Mode.DEMO
    database_url: str = f"sqlite:///{DEFAULT_INSTANCE_DIR / 'huiminbao.sqlite3'}"
    # A PostgreSQL streaming replica of database_url (HUIMINBAO_REPLICA_DATABASE_URL) for the
    # reads that may be a little behind (Database.replica_read); unset: they use the primary.
    replica_database_url: str | None = None
    redis_url: str | None = None
    secret_key: str = DEMO_SECRET_KEY
    now_override: datetime | None = None
    frontend_dir: Path = DEFAULT_FRONTEND_DIR
    city_code: str = "330100"
    # How low a product's pre-existing-condition (既往症) ratio may go, in basis points (issue 17:
    # a city setting; by default the floor of the general ratios, 003 三(五) 70 %).
    min_pre_existing_ratio_bp: int = 7_000
    testing: bool = False
    # PostgreSQL's statement_timeout for this process (seconds; core/db.py explains the default).
    # A batch command over a very large database may need more: HUIMINBAO_DB_STATEMENT_TIMEOUT.
    db_statement_timeout: float = 5.0
    # WeChat login: off unless both the app id and the secret are set.
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_base_url_open: str = "https://open.weixin.qq.com"
    wechat_base_url_api: str = "https://api.weixin.qq.com"
    idempotency_lease_seconds: float = DEFAULT_IDEMPOTENCY_LEASE_SECONDS
    # Where residents reach the product (https://hmb.example.gov.cn): the payment gateway sends
    # payers back here. Production needs it: a request's Host header is the client's to choose.
    public_url: str | None = None
    # How many proxies (load balancers) in front of the app set X-Forwarded-For/-Proto: the
    # payer's address that WeChat Pay H5 checks is the one they saw. 0: none, trust no header.
    trusted_proxies: int = 0
    # The variables of the real adapters behind each port (registry, payment gateway, SMS,
    # document store); wiring.py parses them. Kept out of repr: they hold keys.
    port_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Keys of personal data at rest (core/crypto.py): field keys "kid:base64,..." (the first
    # seals new values) and the blind-index key. Demo mode: the published demo keys.
    field_keys: str = field(default=DEMO_FIELD_KEYS, repr=False)
    index_key: str = field(default=DEMO_INDEX_KEY, repr=False)
    # The font of the PDF documents (enrollment/paper.py): a TrueType/OpenType file or collection
    # (.ttc, with the face's index) that has the Chinese glyphs.
    pdf_font: Path = DEFAULT_PDF_FONT
    pdf_font_index: int = DEFAULT_PDF_FONT_INDEX
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_demo(self) -> bool:
        return self.mode is Mode.DEMO

    @property
    def wechat_enabled(self) -> bool:
        return bool(self.wechat_app_id and self.wechat_app_secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw_mode = env.get("HUIMINBAO_MODE", Mode.DEMO.value).strip().lower()
        try:
            mode = Mode(raw_mode)
        except ValueError as exc:
            raise ConfigError(
                f"HUIMINBAO_MODE must be 'demo' or 'production', not {raw_mode!r}"
            ) from exc
        lease_seconds = DEFAULT_IDEMPOTENCY_LEASE_SECONDS
        if raw_lease := env.get("HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS", "").strip():
            lease_seconds = parse_seconds(raw_lease, "HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS")
        now_override = None
        if raw_now := env.get("HUIMINBAO_NOW", "").strip():
            now_override = parse_aware_datetime(raw_now, "HUIMINBAO_NOW")
        db_statement_timeout = cls.db_statement_timeout
        if raw_timeout := env.get("HUIMINBAO_DB_STATEMENT_TIMEOUT", "").strip():
            db_statement_timeout = parse_seconds(raw_timeout, "HUIMINBAO_DB_STATEMENT_TIMEOUT")
            if not 0 < db_statement_timeout <= 3600:
                raise ConfigError("HUIMINBAO_DB_STATEMENT_TIMEOUT must be between 0 and 3600 "
                                  f"seconds, not {raw_timeout!r}")
        settings = cls(
            mode=mode,
            database_url=env.get("DATABASE_URL") or cls.database_url,
            replica_database_url=env.get("HUIMINBAO_REPLICA_DATABASE_URL", "").strip() or None,
            redis_url=env.get("REDIS_URL") or None,
            secret_key=env.get("HUIMINBAO_SECRET_KEY") or DEMO_SECRET_KEY,
            now_override=now_override,
            frontend_dir=Path(env.get("HUIMINBAO_FRONTEND_DIR") or DEFAULT_FRONTEND_DIR),
            city_code=env.get("HUIMINBAO_CITY_CODE") or cls.city_code,
            min_pre_existing_ratio_bp=_parse_count(
                env.get("HUIMINBAO_MIN_PRE_EXISTING_RATIO_BP", "").strip()
                or str(cls.min_pre_existing_ratio_bp), "HUIMINBAO_MIN_PRE_EXISTING_RATIO_BP"),
            db_statement_timeout=db_statement_timeout,
            wechat_app_id=env.get("WECHAT_APP_ID", "").strip() or None,
            wechat_app_secret=env.get("WECHAT_APP_SECRET", "").strip() or None,
            wechat_base_url_open=(env.get("WECHAT_OPEN_BASE_URL", "").strip().rstrip("/")
                                  or cls.wechat_base_url_open),
            wechat_base_url_api=(env.get("WECHAT_API_BASE_URL", "").strip().rstrip("/")
                                 or cls.wechat_base_url_api),
            idempotency_lease_seconds=lease_seconds,
            public_url=env.get("HUIMINBAO_PUBLIC_URL", "").strip().rstrip("/") or None,
            trusted_proxies=_parse_count(env.get("HUIMINBAO_TRUSTED_PROXIES", "").strip() or "0",
                                         "HUIMINBAO_TRUSTED_PROXIES"),
            port_env={name: value for name, value in env.items()
                      if name.startswith(PORT_SETTING_PREFIXES) and value.strip()},
            field_keys=env.get(FIELD_KEYS_ENV, "").strip() or DEMO_FIELD_KEYS,
            index_key=env.get(INDEX_KEY_ENV, "").strip() or DEMO_INDEX_KEY,
            pdf_font=Path(env.get("HUIMINBAO_PDF_FONT", "").strip() or DEFAULT_PDF_FONT),
            pdf_font_index=_parse_count(env.get("HUIMINBAO_PDF_FONT_INDEX", "").strip()
                                        or str(DEFAULT_PDF_FONT_INDEX),
                                        "HUIMINBAO_PDF_FONT_INDEX"),
        )
        settings.check()
        return settings

    def with_changes(self, **changes: Any) -> Settings:
        updated = replace(self, **changes)
        updated.check()
        return updated

    def keyring(self) -> Keyring:
        return Keyring.parse(self.field_keys, self.index_key)

    def check(self) -> None:
        if not 0 < self.idempotency_lease_seconds <= MAX_IDEMPOTENCY_LEASE_SECONDS:
            raise ConfigError("HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS must be more than 0 and at "
                              f"most {MAX_IDEMPOTENCY_LEASE_SECONDS:g} seconds")
        if not 0 < self.min_pre_existing_ratio_bp <= 10_000:
            raise ConfigError("HUIMINBAO_MIN_PRE_EXISTING_RATIO_BP must be 1..10000 basis points")
        if self.replica_database_url is not None and not (
                self.database_url.startswith("postgresql")
                and self.replica_database_url.startswith("postgresql")):
            raise ConfigError("HUIMINBAO_REPLICA_DATABASE_URL is a PostgreSQL streaming replica "
                              "of DATABASE_URL: both must be postgresql:// URLs")
        if bool(self.wechat_app_id) != bool(self.wechat_app_secret):
            raise ConfigError("WECHAT_APP_ID and WECHAT_APP_SECRET must be set together")
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            local = on_this_machine(parts.hostname)
            if parts.scheme not in ("https", "http") or not parts.hostname \
                    or (parts.scheme == "http" and not local) or parts.query or parts.fragment:
                raise ConfigError("HUIMINBAO_PUBLIC_URL must be the https:// address residents "
                                  f"open (http only on this machine), not {self.public_url!r}")
        if not 0 <= self.trusted_proxies <= 5:
            raise ConfigError("HUIMINBAO_TRUSTED_PROXIES must be between 0 and 5")
        try:
            ring = self.keyring()
        except KeyringError as exc:
            raise ConfigError(str(exc)) from exc
        if self.mode is Mode.PRODUCTION:
            if self.secret_key == DEMO_SECRET_KEY or len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
                raise ConfigError(
                    "production mode needs HUIMINBAO_SECRET_KEY: a random value of at least "
                    f"{MIN_SECRET_KEY_LENGTH} characters"
                )
            if self.now_override is not None:
                raise ConfigError("HUIMINBAO_NOW may only be set in demo mode")
            if self.public_url is None:
                raise ConfigError("production mode needs HUIMINBAO_PUBLIC_URL: the https:// "
                                  "address residents open (payers return there from WeChat Pay)")
            if not self.redis_url:
                raise ConfigError("production mode needs REDIS_URL: rate limits and one-time "
                                  "codes are shared by every worker and app server (in-process "
                                  "counters let each worker allow its own share)")
            demo = Keyring.demo()
            if set(ring.keys.values()) & set(demo.keys.values()) \
                    or ring.index_key == demo.index_key:
                raise ConfigError(
                    f"production mode needs {FIELD_KEYS_ENV} (kid:base64key,...) and "
                    f"{INDEX_KEY_ENV}: random 32-byte keys, not the published demo keys "
                    "(ID numbers, phones and claim documents are encrypted with them)")


def parse_aware_datetime(raw: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an ISO 8601 time, not {raw!r}") from exc
    if parsed.tzinfo is None:
        raise ConfigError(f"{name} must carry a UTC offset, e.g. 2026-11-22T09:00:00+08:00")
    return parsed


def on_this_machine(host: str | None) -> bool:
    """Whether a URL's host is this machine (localhost, ::1, 127.0.0.0/8): the one place where
    plain http is allowed and where demo mode may reach a real adapter's stand-in."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_count(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


def parse_seconds(raw: str, name: str) -> float:
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from exc

"""Every port's stand-in as a real server over HTTP, on 127.0.0.1: what the e2e journeys, the
fault drill, the scale-out test and the benchmark run production-shaped apps against.

- the registry: ``registry/server.py`` speaking docs/registry-protocol.md on a database of its
  own choosing (the app's, so tests and the benchmark can read and seed registry rows);
- WeChat Pay API v3: ``payments/wechatpay_v3_standin.py`` (keys made at start, a confirm page);
- SMS: ``identity/sms_fake_tencent.py`` speaking Tencent Cloud API 3.0 (TC3 signatures checked);
- claim documents: moto's S3 server (``claims/s3_standin.py``; moto is a development dependency).

``env(app_base_url)`` gives the variables that point an app at all four, exactly as a city points
it at its real services; the app then runs on its real adapters (``wiring.py``) - production mode
accepts them, demo mode uses them instead of the in-process simulators.

    with LocalServices.start(database_url) as services:
        env = services.env("http://127.0.0.1:8000")
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huiminbao.claims.s3_standin import S3Server
from huiminbao.core import crypto
from huiminbao.core.config import Mode, Settings
from huiminbao.core.crypto import FIELD_KEYS_ENV, INDEX_KEY_ENV, Keyring
from huiminbao.identity.sms_fake_tencent import FakeTencentSms
from huiminbao.payments.gateway.port import NOTIFY_PATH
from huiminbao.payments.wechatpay_v3_standin import WechatPayStandin
from huiminbao.registry.server import RunningRegistryServer


class RequestCounter:
    """WSGI middleware counting the requests a stand-in served (tests show the app called it)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def wrap(self, app: Callable[..., Any]) -> Callable[..., Any]:
        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            with self._lock:
                self.count += 1
            return app(environ, start_response)

        return counted


# Keys of personal data for production-shaped runs on these stand-ins (benchmarks, drills): not
# the demo keys, which production refuses; fixed, so every process of one run shares them.
STANDIN_FIELD_KEYS = "standin1:c3RhbmRpbi1maWVsZC1rZXktaHVpbWluYmFvLTAwMDE="
STANDIN_INDEX_KEY = "c3RhbmRpbi1pbmRleC1rZXktaHVpbWluYmFvLTAwMDE="


@dataclass
class LocalServices:
    registry: RunningRegistryServer
    gateway: WechatPayStandin
    sms: FakeTencentSms
    documents: S3Server
    bucket: str
    registry_calls: RequestCounter

    @classmethod
    def start(cls, database_url: str, *, demo: bool = False) -> LocalServices:
        """All four servers, each on a free port. ``database_url`` is the registry's database
        (migrated; ``demo`` also loads the demo city into it)."""
        started: list[object] = []
        calls = RequestCounter()
        # The registry server runs in this process and seals what it stores with this process's
        # keyring: the one the served apps get (``env``).
        crypto.install(Keyring.parse(STANDIN_FIELD_KEYS, STANDIN_INDEX_KEY))
        try:
            registry = RunningRegistryServer.start(database_url, demo=demo, wrap=calls.wrap)
            started.append(registry)
            gateway = WechatPayStandin().start()
            started.append(gateway)
            sms = FakeTencentSms().start()
            started.append(sms)
            documents = S3Server.start()
        except BaseException:
            for server in reversed(started):
                server.stop()  # type: ignore[attr-defined]
            raise
        return cls(registry, gateway, sms, documents, f"claim-documents-{secrets.token_hex(4)}",
                   calls)

    def env(self, app_base_url: str) -> dict[str, str]:
        """The settings of an app served at ``app_base_url`` (where the gateway notifies)."""
        return {
            **self.registry.env(),
            **self.gateway.env(app_base_url.rstrip("/") + NOTIFY_PATH),
            **self.sms.env(),
            **self.documents.env(self.bucket),
            FIELD_KEYS_ENV: STANDIN_FIELD_KEYS,
            INDEX_KEY_ENV: STANDIN_INDEX_KEY,
        }

    def stop(self) -> None:
        for server in (self.documents, self.sms, self.gateway, self.registry):
            server.stop()

    def __enter__(self) -> LocalServices:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def production_settings(database_url: str, services: LocalServices, *,
                        app_base_url: str = "http://127.0.0.1:8000", **fields: Any) -> Settings:
    """Production settings with every port on ``services`` (the benchmark's and the drills'
    in-process containers; their served apps get the same through ``services.env``)."""
    fields = {"field_keys": STANDIN_FIELD_KEYS, "index_key": STANDIN_INDEX_KEY, **fields}
    return Settings(mode=Mode.PRODUCTION, database_url=database_url, public_url=app_base_url,
                    port_env=services.env(app_base_url), **fields)

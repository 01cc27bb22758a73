"""Application factory: settings, adapters, extensions, blueprints and error handlers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g

from huiminbao import __version__
from huiminbao.core import crypto
from huiminbao.core.api import Api, register_error_handlers
from huiminbao.core.clock import Clock, MovableClock, SystemClock
from huiminbao.core.config import Mode, Settings
from huiminbao.core.container import Container
from huiminbao.core.db import Database
from huiminbao.core.headers import init_security_headers
from huiminbao.core.inputs import init_input_checks
from huiminbao.core.logging import configure_logging
from huiminbao.core.ratelimit import init_rate_limits
from huiminbao.core.requests import init_request_ids
from huiminbao.core.web import frontend_blueprint, swagger_assets_blueprint
from huiminbao.identity.access import init_access
from huiminbao.identity.consent_gate import init_consent_gate
from huiminbao.identity.wechat import init_wechat

API_DESCRIPTION = """\
惠民保 (city inclusive commercial health insurance) enrollment API, version 1.

Money is integer fen (分). Times are ISO 8601 with an offset. Every error answers
`{"code", "message" (Chinese), "errors" {field: [messages]}, "request_id"}`.
Every POST that moves money or creates a policy takes an `Idempotency-Key` header.
"""


def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    """Wire each port's adapter for these settings (``wiring.py`` chooses; production refuses a
    stand-in with ``ConfigError``). Tests may pass their own clock."""
    from huiminbao.catalog.cache import PublishedProducts
    from huiminbao.identity.sms import OutboxSmsSender
    from huiminbao.identity.tokens import TokenService
    from huiminbao.proxy.finder import ProxyGrantFinder
    from huiminbao.wiring import (
        Port,
        build_adapters,
        build_bank_cards,
        build_identity_checks,
        build_payouts,
    )

    if clock is None:
        # Demo mode always has a movable clock (HUIMINBAO_NOW or the real time as its start) so
        # demos and e2e journeys can move time through /api/v1/dev/clock.
        start = settings.now_override or datetime.now(UTC)
        clock = MovableClock(start) if settings.is_demo else SystemClock()
    crypto.install(settings.keyring())  # personal data at rest: the keys of these settings
    db = Database(settings.database_url, replica_url=settings.replica_database_url,
                  statement_timeout=settings.db_statement_timeout)
    try:
        adapters = build_adapters(settings, db, clock)
    except BaseException:
        db.dispose()
        raise
    _subscribe_to_enrollment()
    return Container(
        settings=settings,
        db=db,
        clock=clock,
        registry=adapters[Port.REGISTRY],
        sms=OutboxSmsSender(clock),
        sms_provider=adapters[Port.SMS],
        tokens=TokenService(settings.secret_key, clock),
        grants=ProxyGrantFinder(),
        gateway=adapters[Port.GATEWAY],
        documents=adapters[Port.DOCUMENTS],
        products=PublishedProducts(db),
        identity_checks=build_identity_checks(settings, clock, adapters[Port.REGISTRY]),
        bank_cards=build_bank_cards(settings, db, clock),
        payouts=build_payouts(settings, db, clock),
    )


def _subscribe_to_enrollment() -> None:
    """What follows an issued order, in this order: the insured relatives' notice, then the
    principal's notice of an order an agent made under a grant."""
    from huiminbao.enrollment import events
    from huiminbao.enrollment.family.notices import tell_insured_relatives
    from huiminbao.proxy.notices import tell_principal

    events.subscribe_order_issued(tell_insured_relatives)
    events.subscribe_order_issued(tell_principal)


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> Flask:
    settings = settings or (container.settings if container else Settings.from_env())
    wired = container or build_container(settings)
    if not settings.testing:
        configure_logging(logging.INFO)

    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        JSON_SORT_KEYS=False,
        # A 10 MB claim document plus the multipart envelope must fit.
        MAX_CONTENT_LENGTH=11 * 1024 * 1024,
        API_TITLE="惠民保 API",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/swagger-ui/",
        # validatorUrl None keeps Swagger UI from calling validator.swagger.io: nothing leaves.
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        API_SPEC_OPTIONS={"info": {"description": API_DESCRIPTION}},
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["huiminbao"] = wired

    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)
    init_request_ids(app)
    init_security_headers(app, production=settings.mode is Mode.PRODUCTION)
    _hold_one_connection_per_request(app, wired)
    init_rate_limits(app, settings)
    init_input_checks(app)
    init_wechat(app, settings)
    init_access(app)
    init_consent_gate(app)  # after init_access: its hook reads the admitted subject
    api = Api(app)
    register_error_handlers(app)
    _register_blueprints(app, api, settings)
    from huiminbao.payments.gateway.simulator import SimulatedGateway

    if isinstance(wired.gateway, SimulatedGateway):  # only ever in demo mode (wiring.py)
        from huiminbao.payments.gateway.routes import gateway_pages

        app.register_blueprint(gateway_pages)
    app.register_blueprint(swagger_assets_blueprint())
    app.register_blueprint(frontend_blueprint(settings.frontend_dir))
    return app


def _hold_one_connection_per_request(app: Flask, wired: Container) -> None:
    """A request's sessions share one pooled connection (see ``Database.holding_connection``)."""

    @app.before_request
    def _hold() -> None:
        hold = wired.db.holding_connection()
        hold.__enter__()
        g.db_connection_hold = hold

    @app.teardown_request
    def _release(_error: BaseException | None) -> None:
        hold = g.pop("db_connection_hold", None)
        if hold is not None:
            hold.__exit__(None, None, None)


def _register_blueprints(app: Flask, api: Any, settings: Settings) -> None:
    from huiminbao.catalog.routes import blp as catalog_blp
    from huiminbao.core.health import blp as health_blp
    from huiminbao.enrollment.family.routes import blp as family_blp
    from huiminbao.enrollment.routes import blp as enrollment_blp
    from huiminbao.identity.routes import blp as identity_blp
    from huiminbao.identity.wechat_routes import blp as wechat_blp
    from huiminbao.payments.routes import blp as payments_blp

    for blueprint in (health_blp, catalog_blp, identity_blp, wechat_blp, enrollment_blp,
                      family_blp, payments_blp):
        api.register_blueprint(blueprint)
    from huiminbao.claims import routes as claims_routes

    api.register_blueprint(claims_routes.blp)
    api.register_blueprint(claims_routes.admin_blp)
    from huiminbao.claims import record_routes

    api.register_blueprint(record_routes.blp)
    from huiminbao.proxy.routes import blp as proxy_blp

    api.register_blueprint(proxy_blp)
    from huiminbao.identity.privacy_routes import blp as privacy_blp

    api.register_blueprint(privacy_blp)
    from huiminbao.console.routes import blp as console_blp
    from huiminbao.disclosure.routes import blp as disclosure_blp

    api.register_blueprint(disclosure_blp)
    api.register_blueprint(console_blp)
    from huiminbao.reports.routes import blp as reports_blp

    api.register_blueprint(reports_blp)
    if settings.is_demo:
        from huiminbao.dev import blp as dev_blp

        api.register_blueprint(dev_blp)


def start_background_workers(app: Flask) -> None:
    """Demo mode, one process: deliver the built-in gateway's notifications, and the SMS outbox
    when a real provider is configured (production runs ``huiminbao worker`` beside the app
    servers instead). Called in each serving process (after gunicorn forks), never at import or
    in tests."""
    import threading

    from huiminbao.identity.sms_worker import SmsWorker
    from huiminbao.payments.gateway.notifications import NotificationDispatcher
    from huiminbao.payments.gateway.simulator import SimulatedGateway

    wired: Container = app.extensions["huiminbao"]
    if not wired.settings.is_demo:
        return
    if isinstance(wired.gateway, SimulatedGateway):
        dispatcher = NotificationDispatcher(wired.gateway.notifications)
        dispatcher.start()
        app.extensions["gateway_dispatcher"] = dispatcher
    if wired.sms_provider is not None:
        sms_worker = SmsWorker(wired, wired.sms_provider, idle_seconds=0.5)
        threading.Thread(target=sms_worker.run, name="sms-worker", daemon=True).start()
        app.extensions["sms_worker"] = sms_worker

"""The registry protocol served over HTTP: the built-in simulator as a stand-alone registry.

``RegistryProtocolServer`` turns any ``RegistryPort`` into a WSGI app that speaks the documented
protocol (``docs/registry-protocol.md``) at ``ENDPOINT_PATH``. ``huiminbao registry
serve-simulator`` runs it on ``SimulatedRegistry``; ``RunningRegistryServer`` starts one on a
thread (werkzeug's threaded server) for tests and harnesses.

Every answer to an authenticated request (its signature verified) is signed, refusals included
(replayed message id, undecryptable body, unknown transaction, busy). A request refused before
its signature verified (malformed, unknown sender, unsupported profile, stale timestamp, bad
signature) is answered unsigned: the registry never signs anything for a sender it has not
authenticated, and clients treat an unsigned answer as a refusal they cannot trust. Envelope
refusals carry their protocol error code with an HTTP 4xx status, business answers (including
business errors) HTTP 200.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import InternalServerError, MethodNotAllowed, NotFound
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_input_stream

from huiminbao.core.clock import Clock, SystemClock
from huiminbao.core.db import Database
from huiminbao.registry import wire
from huiminbao.registry.port import BalanceKind, RegistryPort, RequestNumberReused
from huiminbao.registry.protocol import (
    DEFAULT_SKEW_SECONDS,
    Errors,
    OpenedRequest,
    ProtocolError,
    ProtocolKeys,
    ReplayCache,
    RequestHeader,
    Transaction,
    build_answer,
    open_request,
    request_header,
    wall_clock,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

ENDPOINT_PATH = "/hmb/registry/v1"
_log = logging.getLogger(__name__)

Handler = Callable[[RegistryPort, dict[str, Any]], dict[str, Any]]
WsgiApp = Callable[..., Any]


def _person(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    person = registry.find_person(wire.text(body, "id_number"))
    return {"person": wire.person_out(person) if person else None}


def _persons(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    id_numbers = wire.text_list(body, "id_numbers", wire.MAX_BATCH)
    if body.get("balances_of") is None:
        found = registry.find_persons(id_numbers)
        return {"persons": [wire.person_out(person) for person in found.values()]}
    both = registry.persons_and_balances(
        id_numbers, wire.text_list(body, "balances_of", wire.MAX_BATCH))
    return {"persons": [wire.person_out(person) for person in both.persons.values()],
            "balances": [wire.balance_out(balance) for balance in both.balances.values()]}


def _contact_check(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    return {"matches": registry.contact_matches(wire.text(body, "id_number"),
                                                wire.text(body, "phone"))}


def _relations(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    links = registry.relations(wire.text(body, "id_number"))
    return {"relations": [wire.link_out(link) for link in links]}


def _prior_diagnoses(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    found = registry.prior_diagnoses(wire.text(body, "id_number"),
                                     wire.day(body.get("before"), "before"))
    return {"diagnoses": [wire.diagnosis_out(diagnosis) for diagnosis in found]}


def _settlements(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    since = wire.day(body.get("since"), "since")
    until = wire.day(body.get("until"), "until")
    if until < since:
        raise ValueError("until must not be before since")
    found = registry.settlements(wire.text(body, "id_number"), since, until)
    return {"settlements": [wire.settlement_out(record) for record in found]}


def _scheme_counts(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    counts = registry.scheme_counts(wire.text_list(body, "id_numbers", wire.MAX_COUNT_BATCH))
    return {"counts": {scheme.value: count for scheme, count in counts.items()}}


def _district_counts(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    found = registry.district_counts(
        wire.text_list(body, "id_numbers", wire.MAX_COUNT_BATCH))
    return {"counts": found.counts, "without_district": list(found.without_district)}


def _balance(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    balance = registry.balance(wire.text(body, "id_number"))
    return {"balance": wire.balance_out(balance) if balance else None}


def _entries(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    return {"entries": [wire.entry_out(e) for e in registry.entries(wire.text(body, "id_number"))]}


def _debit(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    sources = [BalanceKind(s) for s in wire.text_list(body, "sources", 2)]
    result = registry.debit(wire.text(body, "request_no"), wire.text(body, "id_number"),
                            wire.integer(body, "amount_fen"), sources=sources,
                            purpose=wire.text(body, "purpose"))
    return {"result": wire.result_out(result)}


def _refund(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    result = registry.refund(wire.text(body, "request_no"),
                             wire.text(body, "original_request_no"),
                             wire.integer(body, "amount_fen"), purpose=wire.text(body, "purpose"))
    return {"result": wire.result_out(result)}


def _query(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    result = registry.query(wire.text(body, "request_no"))
    return {"found": result is not None,
            "result": wire.result_out(result) if result else None}


def _statement(registry: RegistryPort, body: dict[str, Any]) -> dict[str, Any]:
    since = wire.instant(body.get("since"), "since")
    until = wire.instant(body.get("until"), "until")
    cursor = body.get("cursor")
    offset = 0
    if cursor is not None:
        if not isinstance(cursor, str) or not cursor.isdigit():
            raise ValueError("cursor must be the next_cursor of the previous page")
        offset = int(cursor)
    # The simulator reads the whole period and pages it; a bridge may page in its own way as long
    # as the cursor is opaque to the caller and the order is oldest first.
    results = registry.statement(since, until)
    page = results[offset: offset + wire.STATEMENT_PAGE]
    more = offset + wire.STATEMENT_PAGE < len(results)
    return {"results": [wire.result_out(result) for result in page],
            "next_cursor": str(offset + wire.STATEMENT_PAGE) if more else None}


def _ping(_registry: RegistryPort, _body: dict[str, Any]) -> dict[str, Any]:
    return {"pong": True}


HANDLERS: dict[str, Handler] = {
    Transaction.PING.value: _ping,
    Transaction.PERSON.value: _person,
    Transaction.PERSONS.value: _persons,
    Transaction.CONTACT_CHECK.value: _contact_check,
    Transaction.RELATIONS.value: _relations,
    Transaction.SCHEME_COUNTS.value: _scheme_counts,
    Transaction.PRIOR_DIAGNOSES.value: _prior_diagnoses,
    Transaction.SETTLEMENTS.value: _settlements,
    Transaction.DISTRICT_COUNTS.value: _district_counts,
    Transaction.BALANCE.value: _balance,
    Transaction.ENTRIES.value: _entries,
    Transaction.DEBIT.value: _debit,
    Transaction.REFUND.value: _refund,
    Transaction.QUERY.value: _query,
    Transaction.STATEMENT.value: _statement,
}


class RegistryProtocolServer:
    """The protocol's server side over a ``RegistryPort``.

    ``senders`` maps each sender id to the keys it shares with the registry."""

    def __init__(self, registry: RegistryPort, senders: Mapping[str, ProtocolKeys], *,
                 skew_seconds: float = DEFAULT_SKEW_SECONDS,
                 replay_cache: ReplayCache | None = None,
                 now: Callable[[], float] = wall_clock) -> None:
        self.registry = registry
        self._senders = dict(senders)
        self._skew = skew_seconds
        # ``is None``, not ``or``: an empty cache has length 0 and is falsy.
        self._replay = (replay_cache if replay_cache is not None
                        else ReplayCache(2 * skew_seconds))
        self._now = now

    def handle(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """One request body in, (HTTP status, answer envelope) out."""
        now = self._now()
        try:
            envelope = json.loads(raw)
            if not isinstance(envelope, dict):
                raise ValueError("not an object")
        except ValueError:
            unknown = RequestHeader("HMB0000", "-", "-", None)
            return Errors.MALFORMED.http_status, build_answer(
                unknown, now=now, error=Errors.MALFORMED, detail="not a JSON object")
        try:
            header = request_header(envelope, self._senders.get)
        except ProtocolError as exc:
            unknown = RequestHeader(str(envelope.get("infno", ""))[:16] or "HMB0000",
                                    str(envelope.get("msgid", "-"))[:64] or "-",
                                    str(envelope.get("sender_id", "-"))[:32] or "-", None)
            return exc.code.http_status, build_answer(unknown, now=now, error=exc.code,
                                                      detail=exc.detail)
        try:
            opened = open_request(envelope, self._senders.get, self._replay, now=now,
                                  skew_seconds=self._skew)
        except ProtocolError as exc:
            # Signed only when the request's signature had verified (see the module docstring).
            answer_to = header if exc.authenticated else header.unauthenticated()
            return exc.code.http_status, build_answer(answer_to, now=now, error=exc.code,
                                                      detail=exc.detail)
        return self._dispatch(opened)

    def _dispatch(self, opened: OpenedRequest) -> tuple[int, dict[str, Any]]:
        handler = HANDLERS.get(opened.infno)
        if handler is None:
            return Errors.UNKNOWN_TRANSACTION.http_status, build_answer(
                opened, now=self._now(), error=Errors.UNKNOWN_TRANSACTION)
        try:
            body = handler(self.registry, opened.body)
        except RequestNumberReused:
            return 200, build_answer(opened, now=self._now(), error=Errors.REQUEST_NO_REUSED)
        except (ValueError, KeyError) as exc:
            return 200, build_answer(opened, now=self._now(), error=Errors.INVALID_ARGUMENT,
                                     detail=str(exc)[:200])
        except Exception as exc:
            # The type only: a driver's message may quote parameters (ID numbers).
            _log.error("registry transaction %s failed: %s", opened.infno, type(exc).__name__)
            return Errors.INTERNAL.http_status, build_answer(opened, now=self._now(),
                                                             error=Errors.INTERNAL)
        return 200, build_answer(opened, now=self._now(), body=body)

    def wsgi_app(self) -> WsgiApp:
        return _ProtocolApp(self)


# The Allow header of each route, as Flask wrote it.
_ALLOWED_METHODS = {ENDPOINT_PATH: "POST, OPTIONS", "/healthz": "GET, OPTIONS, HEAD"}


def _json_answer(start_response: StartResponse, status: int, body: bytes,
                 *, with_body: bool = True) -> list[bytes]:
    start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body] if with_body else []


class _ProtocolApp:
    """The protocol's WSGI app: the endpoint (POST) and ``/healthz`` (GET, HEAD).

    Plain WSGI rather than a framework: every registry call of the product passes here, and a
    stand-alone registry serves them all. Other paths and methods are answered as Flask's routing
    answered them: 404, 405 with ``Allow``, OPTIONS with ``Allow``."""

    def __init__(self, protocol: RegistryProtocolServer) -> None:
        self._protocol = protocol

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == ENDPOINT_PATH and method == "POST":
            # As Flask's get_data(): no Content-Length and no terminated input reads nothing.
            raw = get_input_stream(environ, max_content_length=None).read()
            try:
                status, answer = self._protocol.handle(raw)
            except Exception as exc:  # a bug: answered as Flask answered it (500, logged)
                _log.error("registry request failed: %s", type(exc).__name__)
                return InternalServerError()(environ, start_response)
            return _json_answer(start_response, status,
                                json.dumps(answer, ensure_ascii=False).encode())
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json_answer(start_response, 200, b'{"status":"ok"}',
                                with_body=method == "GET")
        allowed = _ALLOWED_METHODS.get(path)
        if allowed is None:
            return NotFound()(environ, start_response)
        if method == "OPTIONS":
            return Response(headers={"Allow": allowed}, mimetype="text/html")(
                environ, start_response)
        return MethodNotAllowed(valid_methods=allowed.split(", "))(environ, start_response)


def simulator_server(database_url: str, senders: Mapping[str, ProtocolKeys], *,
                     demo: bool = False, migrate: bool = True, clock: Clock | None = None,
                     server_class: type[RegistryProtocolServer] = RegistryProtocolServer,
                     ) -> tuple[RegistryProtocolServer, Database]:
    """The simulator on ``database_url`` (migrated, and seeded with the demo city if asked)
    behind the protocol. The caller disposes of the database."""
    from huiminbao.core.migrate import upgrade
    from huiminbao.registry.demo import load_demo_population
    from huiminbao.registry.simulator import SimulatedRegistry

    if migrate:
        upgrade(database_url)
    db = Database(database_url)
    registry = SimulatedRegistry(db, clock or SystemClock())
    if demo:
        load_demo_population(registry, registry.clock)
    return server_class(registry, senders), db


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (tests send thousands)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class RunningRegistryServer:
    """A protocol server on a thread (werkzeug's threaded server: one thread per request).

        server = RunningRegistryServer.start(database_url)     # keys generated here
        os.environ.update(server.env())                        # HUIMINBAO_REGISTRY_*
        ...
        server.stop()
    """

    def __init__(self, server: BaseWSGIServer, protocol: RegistryProtocolServer,
                 db: Database | None, sender_id: str, keys: ProtocolKeys) -> None:
        self._server = server
        self.protocol = protocol
        self._db = db
        self.sender_id = sender_id
        self.keys = keys
        self.host = str(server.host)
        self.port = int(server.port)
        self._thread = threading.Thread(target=server.serve_forever, name="registry-server",
                                        daemon=True)

    @property
    def url(self) -> str:
        """The endpoint URL (the value of ``HUIMINBAO_REGISTRY_URL``)."""
        return f"http://{self.host}:{self.port}{ENDPOINT_PATH}"

    @classmethod
    def start(cls, database_url: str | None = None, host: str = "127.0.0.1", port: int = 0, *,
              demo: bool = False, sender_id: str = "HMBTEST", keys: ProtocolKeys | None = None,
              protocol: RegistryProtocolServer | None = None,
              wrap: Callable[[WsgiApp], WsgiApp] | None = None,
              clock: Clock | None = None) -> RunningRegistryServer:
        """Serve the simulator on ``database_url`` (migrated; demo city with ``demo``), or the
        given ``protocol`` server. ``wrap`` puts WSGI middleware in front (tests' faults)."""
        keys = keys or ProtocolKeys.generate()
        db = None
        if protocol is None:
            if database_url is None:
                raise ValueError("give a database_url or a protocol server")
            protocol, db = simulator_server(database_url, {sender_id: keys}, demo=demo,
                                            clock=clock)
        app: WsgiApp = protocol.wsgi_app()
        if wrap is not None:
            app = wrap(app)
        server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        running = cls(server, protocol, db, sender_id, keys)
        running._thread.start()
        return running

    def env(self) -> dict[str, str]:
        return {
            "HUIMINBAO_REGISTRY_URL": self.url,
            "HUIMINBAO_REGISTRY_SENDER_ID": self.sender_id,
            "HUIMINBAO_REGISTRY_SIGNING_KEY": self.keys.signing_key_b64(),
            "HUIMINBAO_REGISTRY_ENCRYPTION_KEY": self.keys.encryption_key_b64(),
        }

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._db is not None:
            self._db.dispose()

    def __enter__(self) -> RunningRegistryServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

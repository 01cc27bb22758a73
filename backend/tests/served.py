"""Talking to the ``huiminbao serve`` processes that integration tests start on 127.0.0.1: one
HTTP request at a time (never anywhere else), and the Redis database they share."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

import pytest
import redis

REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    cookies: list[str]


def call(base_url: str, method: str, path: str, *, body: Any = None,
         headers: dict[str, str] | None = None,
         timeout: float = REQUEST_TIMEOUT_S) -> Answer:
    """One HTTP request to a local server (never anywhere else); ``OSError`` (refused, reset,
    timed out) when there is no answer."""
    host, port = base_url.removeprefix("http://").split(":")
    assert host == "127.0.0.1", base_url
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload, headers={
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if payload is not None else {}),
            **(headers or {})})
        response = connection.getresponse()
        raw = response.read()
        parsed = json.loads(raw) if raw and "json" in (response.getheader("Content-Type") or "") \
            else None
        return Answer(response.status, parsed, {k.lower(): v for k, v in response.getheaders()},
                      response.msg.get_all("Set-Cookie") or [])
    finally:
        connection.close()


def redis_or_fail(url: str) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {url}: {exc}", pytrace=False)
    return client

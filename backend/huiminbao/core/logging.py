"""Structured JSON logs with the request id on every line and personal data scrubbed."""

from __future__ import annotations

import logging
import sys
from typing import Any

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter

from huiminbao.core.masking import scrub_text


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class ScrubbingJsonFormatter(JsonFormatter):
    """Masks ID and phone numbers in the finished line, whatever field they slipped into."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub_text(super().format(record))


def configure_logging(level: int = logging.INFO, stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(
        ScrubbingJsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_huiminbao", False):
            root.removeHandler(existing)
    handler._huiminbao = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)

"""A pytest plugin: every log line the whole run produced is scanned for full ID numbers and
mobile numbers. The app's own records go through the production JSON formatter into a file for
the session; the e2e servers' log files are registered with ``watch_log_file``. A leak fails the
run (as an error of the session's last test) and names the file and line (with the number
masked)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from huiminbao.core.logging import configure_logging
from huiminbao.core.masking import scrub_text

# Same boundaries as the masking: a run of digits inside a hex request id is not a number.
_FULL_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_FULL_PHONE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
_watched: list[Path] = []
_session_log: Path | None = None


def watch_log_file(path: Path) -> None:
    _watched.append(path)


def find_leaks(paths: list[Path]) -> list[str]:
    leaks = []
    for path in paths:
        if not path.exists():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if _FULL_ID_NUMBER.search(line) or _FULL_PHONE.search(line):
                leaks.append(f"{path}:{number}: {scrub_text(line)[:300]}")
    return leaks


def pytest_sessionstart(session: pytest.Session) -> None:
    global _session_log
    # Not test-results/: pytest-playwright empties that folder when its session starts.
    directory = Path(session.config.rootpath) / "instance"
    directory.mkdir(exist_ok=True)
    # One file per pytest-xdist worker ("gw0", ...), so parallel workers never share one.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    _session_log = directory / f"test-app-log{'.' + worker if worker else ''}.jsonl"
    _session_log.write_text("")
    stream = _session_log.open("a", encoding="utf-8")  # closed at session end
    configure_logging(logging.INFO, stream)
    session.config.stash[_stream_key] = stream


_stream_key = pytest.StashKey[Any]()


@pytest.fixture(scope="session", autouse=True)
def _no_personal_data_in_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Scans when the session's last test tears down: a leak is then an error of that test,
    which pytest-xdist reports from a worker like any other (a change of exit status made in a
    worker's sessionfinish would not reach the controller)."""
    yield
    stream = request.config.stash.get(_stream_key, None)
    if stream is not None:
        stream.flush()
    files = [_session_log, *_watched] if _session_log else list(_watched)
    leaks = find_leaks(files)
    if leaks:
        pytest.fail("personal data found in logs:\n" + "\n".join(leaks[:50]), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stream = session.config.stash.get(_stream_key, None)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_huiminbao", False):
            root.removeHandler(handler)
    if stream is not None:
        stream.close()

"""The log scan itself finds what it must find."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.log_scan import find_leaks


def test_finds_full_numbers_and_ignores_masked_ones(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(
        '{"message": "GET /api/v1/health 200"}\n'
        '{"message": "bound 3****************0 and 138****0001"}\n'
        '{"message": "oops 330106198803150130"}\n'
        '{"message": "call 13800000001"}\n'
        '{"request_id": "f3b1c0d2e4a5968778695a4b3c2d1e0f"}\n'
    )
    leaks = find_leaks([log])
    assert [leak.split(":")[1] for leak in leaks] == ["3", "4"]
    assert "330106198803150130" not in "".join(leaks)


def test_a_leak_fails_a_parallel_run(tmp_path: Path) -> None:
    """Run under pytest-xdist, as the suite runs: a worker's leak must reach the exit status."""
    (tmp_path / "test_leaky.py").write_text(
        "from tests.log_scan import watch_log_file\n\n"
        "def test_a_server_logs_a_full_number(tmp_path):\n"
        "    log = tmp_path / 'server.log'\n"
        "    log.write_text('bound 330106198803150130\\n')\n"
        "    watch_log_file(log)\n\n"
        "def test_other():\n"
        "    pass\n"
    )
    backend = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(backend), os.environ.get(
        "PYTHONPATH", "")])}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.log_scan", "-n", "2",
         "-p", "no:cacheprovider", "-p", "no:playwright", "test_leaky.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode != 0, run.stdout
    assert "personal data found in logs" in run.stdout
    assert "330106198803150130" not in run.stdout  # named masked, never in full

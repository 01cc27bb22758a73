"""The log scan itself finds what it must find."""

from __future__ import annotations

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

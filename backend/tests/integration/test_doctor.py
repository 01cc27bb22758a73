"""``huiminbao doctor`` on PostgreSQL, with every port on its real adapter over HTTP: it passes on
a correctly wired production setup and fails (exit 1), naming the port, on a broken one."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

from huiminbao.cli import main
from huiminbao.core.migrate import upgrade
from huiminbao.standins import LocalServices

pytestmark = pytest.mark.postgres

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture(scope="module")
def services(pg_url: str) -> Iterator[LocalServices]:
    upgrade(pg_url)
    with LocalServices.start(pg_url) as running:
        yield running


@pytest.fixture
def production_env(pg_url: str, services: LocalServices) -> dict[str, str]:
    return {
        "HUIMINBAO_MODE": "production",
        "HUIMINBAO_SECRET_KEY": secrets.token_urlsafe(32),
        "HUIMINBAO_PUBLIC_URL": "https://hmb.example.gov.cn",
        "DATABASE_URL": pg_url,
        "REDIS_URL": REDIS_URL,
        **services.env("https://hmb.example.gov.cn"),
    }


def _doctor(env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["doctor"], env=env)
    return result.exit_code, result.output


def test_doctor_passes_on_a_correctly_wired_production(production_env: dict[str, str]) -> None:
    code, output = _doctor(production_env)
    assert code == 0, output
    assert output.count("[正常]") == 7  # database, Redis, the four ports and the PDF font
    assert "结论：全部正常" in output
    for adapter in ("医保平台对接协议", "微信支付 API v3", "腾讯云短信", "S3 兼容对象存储"):
        assert adapter in output
    # Where each port points is shown; no secret is.
    for name, value in production_env.items():
        if name.endswith("KEY"):  # the signing, encryption, API and access secrets
            assert value not in output, name


@pytest.mark.parametrize(("broken", "port_label"), [
    ({"HUIMINBAO_REGISTRY_SIGNING_KEY": base64.b64encode(b"k" * 32).decode()}, "医保信息平台"),
    ({"HUIMINBAO_REGISTRY_URL": "http://127.0.0.1:9/hmb/registry/v1"}, "医保信息平台"),
    ({"SMS_SECRET_KEY": "not-the-providers-secret"}, "短信"),
    ({"S3_BUCKET": "no-such-bucket"}, "理赔材料存储"),
    ({"WECHATPAY_BASE_URL": "http://127.0.0.1:9"}, "在线支付"),
])
def test_doctor_fails_naming_the_port_that_does_not_answer(
        production_env: dict[str, str], broken: dict[str, str], port_label: str) -> None:
    code, output = _doctor(production_env | broken)
    assert code == 1, output
    failing = [line for line in output.splitlines() if line.startswith("[有问题]")]
    assert len(failing) == 1 and port_label in failing[0], output
    assert "结论：1 项有问题" in output


def _latin_font(path: Path) -> None:
    """A real TrueType font with one glyph, "A": no Chinese."""
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef", "A"])
    builder.setupCharacterMap({ord("A"): "A"})
    builder.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "A": TTGlyphPen(None).glyph()})
    builder.setupHorizontalMetrics({".notdef": (500, 0), "A": (500, 0)})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Latin", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    builder.save(str(path))


def test_doctor_says_when_the_pdf_font_is_missing_or_not_chinese(
        production_env: dict[str, str], tmp_path: Path) -> None:
    not_a_font = tmp_path / "font.ttf"
    not_a_font.write_bytes(b"not a font")
    latin = tmp_path / "latin.ttf"
    _latin_font(latin)
    for font, words in ((str(tmp_path / "none.ttc"), "找不到字体文件"),
                        (str(not_a_font), "无法读取字体"), (str(latin), "缺少中文字形")):
        code, output = _doctor(production_env | {"HUIMINBAO_PDF_FONT": font,
                                                 "HUIMINBAO_PDF_FONT_INDEX": "0"})
        assert code == 1, output
        failing = [line for line in output.splitlines() if line.startswith("[有问题]")]
        assert len(failing) == 1 and "电子保单字体" in failing[0] and words in failing[0], output


def test_doctor_shows_every_missing_port_at_once_in_production(
        production_env: dict[str, str]) -> None:
    env = {name: value for name, value in production_env.items()
           if not name.startswith(("SMS_", "S3_"))}
    code, output = _doctor(env)
    assert code == 1
    assert "SMS_PROVIDER" in output and "S3_ENDPOINT_URL" in output
    assert "结论：2 项有问题" in output


def test_doctor_in_demo_mode_checks_the_stand_ins(pg_url: str) -> None:
    code, output = _doctor({"DATABASE_URL": pg_url, "HUIMINBAO_MODE": "demo"})
    assert code == 0, output
    assert "内置医保模拟器" in output and "本进程内（仅演示模式）" in output

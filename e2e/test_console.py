"""Operator console journeys: an administrator uploads an employer's CSV with 3 good and
2 bad rows (3 policies, the 2 bad rows listed with reasons) and uploading it again adds nothing;
the subsidy roster is enrolled with the subsidy fund; counter staff enroll 王秀英 for cash at the
counter; a product cloned for next year validates, publishes and shows on the home page when its
window opens (the demo clock moved).

Staff accounts come from the command line (``huiminbao staff create``) run against the live
server's database, registry persons from ``huiminbao registry import``; figures are checked
against the live server's SQLite file, opened read-only. Helpers here are shared by the
disclosure and complaints journeys. One code per phone per minute: every journey uses its own
staff phone."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import Engine, create_engine, text

from e2e.support import (
    REPO_ROOT,
    LiveServer,
    api_json,
    assert_no_axe_violations,
    http_put_json,
    keep_screenshot,
    log_in,
    small_touch_targets,
    sms_code,
)
from huiminbao.audit.consents import CONSENT_TEXTS
from huiminbao.core import idnumber
from huiminbao.identity.agreements import current_versions

pytestmark = pytest.mark.e2e

DEMO_PRODUCT = "西湖益联保（演示版）"
WANG_XIUYING = ("王秀英", "33010219430618052X")


# ------------------------------------------------------------------ helpers (shared, not tests)


def server_env(server: LiveServer) -> dict[str, str]:
    """The environment the live server runs with (its DATABASE_URL), for the CLI."""
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.pop("HUIMINBAO_NOW", None)
    env.update(server.keys_env)
    env.update({
        "DATABASE_URL": f"sqlite:///{server.workdir / 'e2e.sqlite3'}",
        "HUIMINBAO_MODE": "demo",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT / "backend"), env.get("PYTHONPATH")])),
    })
    return env


def cli(server: LiveServer, *args: str) -> str:
    """``huiminbao …`` against the live server's database."""
    done = subprocess.run([sys.executable, "-m", "huiminbao.cli", *args], cwd=REPO_ROOT,
                          env=server_env(server), capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, f"huiminbao {' '.join(args[:2])} failed:\n{done.stderr[-2000:]}"
    return done.stdout


def create_staff(server: LiveServer, phone: str, role: str, name: str) -> None:
    cli(server, "staff", "create", "--phone", phone, "--role", role, "--name", name)


def import_registry(server: LiveServer, directory: Path,
                    persons: list[tuple[str, str, str, str]]) -> None:
    """Add persons (id_number, name, scheme, assistance) to the registry, in Hangzhou, active,
    without a phone."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "persons.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id_number", "name", "phone", "city_code", "scheme", "status",
                         "assistance"])
        for id_number, name, scheme, assistance in persons:
            writer.writerow([id_number, name, "", "330100", scheme, "active", assistance])
    cli(server, "registry", "import", str(directory))


def new_id(birth: date, sequence: int) -> str:
    return idnumber.make("330106", birth, sequence)


def read_only(server: LiveServer) -> Engine:
    """The live server's SQLite file, opened read-only."""
    path = server.workdir / "e2e.sqlite3"
    return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")


def scalar(server: LiveServer, query: Any) -> Any:
    engine = read_only(server)
    try:
        with engine.connect() as conn:
            return conn.execute(query).scalar()
    finally:
        engine.dispose()


def staff_log_in(page: Page, base_url: str, phone: str, next_path: str) -> None:
    log_in(page, base_url, phone, path=f"/login.html?next={next_path}")
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def api_session(base_url: str, phone: str, *, bind: tuple[str, str] | None = None
                ) -> requests.Session:
    """Sign in through the API (the same SMS flow), optionally binding the identity."""
    session = requests.Session()
    sent = session.post(f"{base_url}/api/v1/auth/otp", json={"phone": phone}, timeout=10)
    assert sent.status_code == 200, sent.text
    signed = session.post(f"{base_url}/api/v1/auth/login",
                          json={"phone": phone, "code": sms_code(base_url, phone),
                                "agreements": current_versions()}, timeout=10)
    assert signed.status_code == 200, signed.text
    session.headers["Authorization"] = f"Bearer {signed.json()['access_token']}"
    if bind is not None:
        consents = {kind.value: text.version for kind, text in CONSENT_TEXTS.items()}
        bound = session.post(f"{base_url}/api/v1/me/identity", timeout=10, json={
            "name": bind[0], "id_number": bind[1], "consents": consents})
        assert bound.status_code == 200, bound.text
    return session


def demo_product(base_url: str) -> dict[str, Any]:
    items = api_json(base_url, "/api/v1/products")["items"]
    return next(item for item in items if item["name"] == DEMO_PRODUCT)


def open_products_as_admin(page: Page, base_url: str, server: LiveServer, phone: str,
                           name: str) -> tuple[dict[str, Any], Locator]:
    """A new administrator signed in to 产品配置: the demo product and its row."""
    product = demo_product(base_url)
    create_staff(server, phone, "admin", name)
    staff_log_in(page, base_url, phone, "/admin/products.html")
    return product, page.locator(f"tr[data-product='{product['code']}']")


def csv_file(rows: list[str], header: str) -> dict[str, Any]:
    data = ("\ufeff" + "\n".join([header, *rows]) + "\n").encode("utf-8")
    return {"name": "名单.csv", "mimeType": "text/csv", "buffer": data}


# ------------------------------------------------------------------ journeys


@pytest.fixture(scope="module")
def employees(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
              ) -> list[tuple[str, str]]:
    people = [(new_id(date(1990, 5, 1), 11), "周一鸣"), (new_id(date(1985, 8, 12), 22), "吴二娟"),
              (new_id(date(1968, 2, 29), 33), "郑三")]
    import_registry(live_server, tmp_path_factory.mktemp("employees"),
                    [(id_number, name, "employee", "none") for id_number, name in people])
    return people


def employer_policies(server: LiveServer) -> int:
    return int(scalar(server, text(
        "SELECT COUNT(*) FROM policies p JOIN order_items i ON i.id = p.order_item_id "
        "JOIN orders o ON o.id = i.order_id "
        "WHERE o.payment_method = 'employer' AND p.status = 'active'")))


def test_an_employer_upload_enrolls_the_good_rows_and_lists_the_bad_ones(
    page: Page, base_url: str, live_server: LiveServer, employees: list[tuple[str, str]]
) -> None:
    create_staff(live_server, "13700000001", "admin", "管理员甲")
    staff_log_in(page, base_url, "13700000001", "/admin/bulk.html")
    expect(page.get_by_role("heading", level=1, name="单位团体参保")).to_be_visible()
    (zhou_id, zhou), (wu_id, wu), (zheng_id, zheng) = employees
    bad_checksum = zhou_id[:17] + ("0" if zhou_id[17] != "0" else "1")
    upload = csv_file([
        f"{zhou_id},{zhou},standard",
        f"{wu_id},{wu},升级版",
        f"{bad_checksum},{zhou},standard",
        f"{zheng_id},{zheng},standard",
        f"{new_id(date(1999, 1, 1), 44)},查无此人,standard",
    ], "id_number,name,tier")

    page.get_by_label("单位名称").fill("杭州示范科技有限公司")
    page.get_by_label("单位代码").fill("91330100MA2ABCDE1X")
    page.get_by_label("名单文件（CSV）").set_input_files(upload)
    page.get_by_role("button", name="上传并参保").click()

    summary = page.locator("#report-summary")
    expect(summary).to_have_text("共5行：3人参保成功，0人此前已由本单位投保，2行未通过")
    expect(page.locator("tr[data-outcome=enrolled]")).to_have_count(3)
    failed = page.locator("tr[data-outcome=failed]")
    expect(failed).to_have_count(2)
    expect(failed.nth(0)).to_have_attribute("data-line", "4")
    expect(failed.nth(0)).to_contain_text("身份证号码校验位不正确，请核对后重新输入")
    expect(failed.nth(1)).to_have_attribute("data-line", "6")
    expect(failed.nth(1)).to_contain_text("未查询到该人员的基本医疗保险参保信息")
    expect(page.locator("#report")).not_to_contain_text(zhou)  # masked only
    assert employer_policies(live_server) == 3
    assert_no_axe_violations(page, "on the bulk upload report")
    keep_screenshot(page, "console-bulk-report")

    # The same file again: nobody is enrolled twice.
    page.get_by_label("名单文件（CSV）").set_input_files(upload)
    page.get_by_role("button", name="上传并参保").click()
    expect(summary).to_contain_text("本次未重复投保")
    expect(page.locator("tr[data-outcome=enrolled]")).to_have_count(3)
    assert employer_policies(live_server) == 3


def test_the_subsidy_roster_is_enrolled_with_the_subsidy_fund(
    page: Page, base_url: str, live_server: LiveServer,
    tmp_path_factory: pytest.TempPathFactory
) -> None:
    tekun = new_id(date(1950, 1, 2), 61)
    import_registry(live_server, tmp_path_factory.mktemp("roster"),
                    [(tekun, "钱特困", "resident", "tekun")])
    create_staff(live_server, "13700000002", "admin", "管理员乙")
    staff_log_in(page, base_url, "13700000002", "/admin/subsidy.html")
    page.get_by_label("名单文件（CSV）").set_input_files(csv_file([
        "330110196504300923,孙丽,低保", f"{tekun},钱特困,特困人员", "330106198803150130,张伟,富裕",
    ], "id_number,name,category"))
    page.get_by_role("button", name="导入并资助参保").click()
    expect(page.locator("#report-summary")).to_have_text("共3行：2人资助参保成功，0人已跳过，1行未通过")
    expect(page.locator("tr[data-line='4']")).to_contain_text("资助类别“富裕”无法识别")
    assert scalar(live_server, text(
        "SELECT COUNT(*) FROM subsidy_uses WHERE active")) == 2
    assert_no_axe_violations(page, "on the subsidy roster report")


def test_counter_staff_enroll_wang_xiuying_for_cash(page: Page, base_url: str,
                                                    live_server: LiveServer) -> None:
    create_staff(live_server, "13700000003", "counter_staff", "窗口王小二")
    staff_log_in(page, base_url, "13700000003", "/admin/counter.html")
    expect(page.get_by_role("heading", level=1, name="窗口办理")).to_be_visible()
    nav = page.get_by_role("navigation", name="后台功能")
    expect(nav.locator("a[aria-current=page]")).to_have_text("窗口办理")
    expect(nav.get_by_role("link", name="代办授权确认")).to_have_attribute(
        "href", "/counter/proxy.html")  # one navigation for every console page
    assert_no_axe_violations(page, "on the counter form")

    page.get_by_label("姓名").fill(WANG_XIUYING[0])
    page.get_by_label("身份证号码").fill(WANG_XIUYING[1].lower())  # typed with a small x
    page.get_by_label("保障档次").select_option("standard")
    page.get_by_label("缴费方式").select_option("counter_cash")
    page.get_by_label("现金收据编号").fill("XJ-20261122-0001")
    page.get_by_role("button", name="确认参保").click()
    # The identity document must be checked first.
    expect(page.locator("#id-checked-error")).to_have_text(re.compile("请先核验本人有效身份证件原件"))
    page.get_by_label("已核验本人有效身份证件原件").check()
    page.get_by_role("button", name="确认参保").click()

    result = page.locator("#result")
    expect(page.get_by_role("heading", name="参保成功")).to_be_focused()
    expect(result.locator("[data-fact=insured]")).to_contain_text("王*英")
    expect(result.locator("[data-fact=payment]")).to_contain_text("窗口现金缴费")
    expect(result.locator("[data-fact=paid]")).to_contain_text("¥150.00")
    expect(result.locator("[data-fact=channel]")).to_contain_text("窗口办理（经办人：窗口王小二）")
    policy_no = result.locator("[data-fact=policy-no] dd").inner_text().strip()
    engine = read_only(live_server)
    try:
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT o.channel, o.payment_method, pe.name FROM policies p "
                "JOIN order_items i ON i.id = p.order_item_id JOIN orders o ON o.id = i.order_id "
                "JOIN people pe ON pe.id = p.insured_person_id WHERE p.policy_no = :no"),
                {"no": policy_no}).one()
            staff_event = conn.execute(text(
                "SELECT actor_role FROM audit_events WHERE action = 'counter.enroll'")).scalar()
    finally:
        engine.dispose()
    assert tuple(row) == ("counter", "counter_cash", "王秀英")
    assert staff_event == "counter_staff"
    assert_no_axe_violations(page, "on the counter result")
    keep_screenshot(page, "console-counter-result")


def test_residents_see_that_the_console_is_not_for_them(page: Page, base_url: str) -> None:
    log_in(page, base_url, "13800000006", path="/login.html?next=/admin/bulk.html")
    expect(page.get_by_text("无权使用此功能")).to_be_visible()
    expect(page.locator("#page-content")).to_be_hidden()
    assert_no_axe_violations(page, "on the console refusal")


def add_year(day: str) -> str:
    parsed = date.fromisoformat(day)
    try:
        return parsed.replace(year=parsed.year + 1).isoformat()
    except ValueError:
        return parsed.replace(year=parsed.year + 1, day=28).isoformat()


@pytest.fixture
def restore_clock(base_url: str) -> Iterator[None]:
    yield
    status, _ = http_put_json(base_url, "/api/v1/dev/clock", {
        "now": datetime.now(UTC).isoformat()})
    assert status == 200


def test_a_product_cloned_for_next_year_publishes_and_opens_with_its_window(
    page: Page, base_url: str, live_server: LiveServer, restore_clock: None
) -> None:
    source, row = open_products_as_admin(page, base_url, live_server, "13700000004", "管理员丙")
    row.get_by_role("button", name=re.compile("复制为下一年度")).click()
    expect(page.get_by_label("新产品年度")).to_have_value(str(source["year"] + 1))
    expect(page.get_by_label("投保开始日期")).to_have_value(add_year(source["enrollment"]["opens_on"]))
    assert_no_axe_violations(page, "on the clone form")
    page.get_by_role("button", name="复制为草稿").click()

    # The copy is a draft: edit it, first with a mistake the rules catch, then properly.
    expect(page.locator("#list-status")).to_contain_text("已生成草稿")
    expect(page.get_by_role("heading", name=re.compile("编辑草稿"))).to_be_focused()
    page.get_by_label("产品名称", exact=True).fill("西湖益联保（下一年度版）")
    premium = page.get_by_label("标准版保费（元/人/年）")
    premium.fill("0")
    page.get_by_role("button", name="保存并校验").click()
    expect(page.locator("#edit-premium-0-error")).to_have_text(re.compile("标准版的保费应大于0元"))
    expect(premium).to_be_focused()
    assert_no_axe_violations(page, "on the edit form with a rule broken")
    premium.fill("169")
    page.get_by_role("button", name="保存并校验").click()
    expect(page.locator("#list-status")).to_contain_text("校验通过")
    draft_row = page.locator("tr[data-status=draft]")
    expect(draft_row).to_contain_text("西湖益联保（下一年度版）")

    draft_row.get_by_role("button", name=re.compile("^发布")).click()
    page.get_by_role("dialog").get_by_role("button", name="发布").click()
    expect(page.locator("#list-status")).to_contain_text("已发布")
    expect(page.locator("tr[data-status=draft]")).to_have_count(0)
    keep_screenshot(page, "console-products")

    # Not on the home page before its window opens; there from its first morning.
    page.goto("/")
    expect(page.get_by_role("heading", level=2, name=DEMO_PRODUCT)).to_be_visible()
    expect(page.get_by_role("heading", level=2, name="西湖益联保（下一年度版）")).to_have_count(0)
    opens_on = date.fromisoformat(add_year(source["enrollment"]["opens_on"]))
    morning = datetime.combine(opens_on, datetime.min.time()).replace(tzinfo=UTC) \
        + timedelta(hours=1)  # 09:00 in Hangzhou
    status, _ = http_put_json(base_url, "/api/v1/dev/clock", {"now": morning.isoformat()})
    assert status == 200
    page.reload()
    heading = page.get_by_role("heading", level=2, name="西湖益联保（下一年度版）")
    expect(heading).to_be_visible()
    expect(page.get_by_text("投保进行中")).to_be_visible()
    # This year's product stays listed for its coverage year (its window closed), after it.
    next_year = page.get_by_role("article", name="西湖益联保（下一年度版）")
    expect(next_year.get_by_role("region", name="标准版")).to_contain_text("¥169.00")
    expect(page.get_by_role("article")).to_have_count(2)
    published = scalar(live_server, text("SELECT COUNT(*) FROM products "
                                         "WHERE status = 'published'"))
    assert published == 2
    assert not small_touch_targets(page, 44)


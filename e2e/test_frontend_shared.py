"""The frontend's shared rules, checked in the browser that runs them: yuan as people type it
(format.js `parseYuan`, the one rule for every money field) and the list of endpoints that act
for someone (acting.js `ACTING_ENDPOINTS`), which must match the views the backend marks with
`@acts_for`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from huiminbao.app import create_app
from huiminbao.core.config import Settings

pytestmark = pytest.mark.e2e

PARSE = """async (inputs) => {
  const { parseYuan } = await import("/assets/format.js");
  return inputs.map(([raw, options]) => parseYuan(raw, options || {}));
}"""


def test_parse_yuan_accepts_what_people_type_and_refuses_the_rest(page: Page) -> None:
    page.goto("/")
    accepted: list[tuple[str, int]] = [
        ("150", 15000), ("150.5", 15050), ("150.05", 15005), ("150.", 15000),
        ("30,000.5", 3000050), ("¥1,234.56", 123456), ("￥88", 8800), ("３００００元", 3000000),
        ("３０，０００．５", 3000050), (" 1 234 ", 123400), ("0", 0), ("999999999.99", 99999999999),
    ]
    results = page.evaluate(PARSE, [[raw, None] for raw, _ in accepted])
    assert results == [{"fen": fen} for _, fen in accepted]

    refused: list[tuple[str, dict[str, Any], str]] = [
        ("-5", {}, "负数"), ("－5", {}, "负数"), ("1.234", {}, "两位"), ("12元5角", {}, "金额数字"),
        ("abc", {}, "金额数字"), ("1e5", {}, "金额数字"), ("", {"required": True}, "请填写"),
        ("0", {"positive": True}, "大于0"), ("10000.01", {"max": 1000000}, "不能超过"),
    ]
    results = page.evaluate(PARSE, [[raw, options] for raw, options, _ in refused])
    for (raw, _, words), result in zip(refused, results, strict=True):
        assert "fen" not in result, raw
        assert words in result["error"], (raw, result)
    assert page.evaluate(PARSE, [["", None]]) == [{"fen": None}]


def _backend_acting_endpoints(tmp_path: Path) -> set[tuple[str, str]]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'routes.sqlite3'}", testing=True)
    app = create_app(settings)
    marked: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in rule.methods or ():
            handler = getattr(view_class, method.lower(), None) if view_class else view
            if getattr(handler, "acting_for_action", None) is not None:
                marked.add((method, rule.rule.removeprefix("/api/v1")))
    return marked


def test_acting_endpoints_match_the_backends_acts_for_views(page: Page, tmp_path: Path) -> None:
    backend = _backend_acting_endpoints(tmp_path)
    assert len(backend) >= 8, backend
    page.goto("/")
    frontend = page.evaluate("""async (endpoints) => {
      const { ACTING_ENDPOINTS } = await import("/assets/acting.js");
      return {
        size: ACTING_ENDPOINTS.length,
        matched: endpoints.map(([method, path]) =>
          ACTING_ENDPOINTS.filter(([m, pattern]) => m === method && pattern.test(path)).length),
      };
    }""", sorted([method, path] for method, path in backend))
    missing = [e for e, n in zip(sorted(backend), frontend["matched"], strict=True) if n != 1]
    assert not missing, f"acting.js lacks (or matches twice) these @acts_for views: {missing}"
    assert frontend["size"] == len(backend), "acting.js lists endpoints the backend does not mark"
    assert all(re.fullmatch(r"/[\w/-]+", path) for _, path in backend)

"""The layers import downwards only: ``core/`` names nothing above it, and enrollment reaches the
features built on it (proxy) only through the events they subscribe to at wiring time."""

from __future__ import annotations

import ast
from pathlib import Path

import huiminbao

PACKAGE = Path(huiminbao.__file__).parent


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (at any depth: function-level imports count too), with its
    line. Type-only imports under ``if TYPE_CHECKING:`` are included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}:{node.lineno}: relative import")
    return sorted(found)


def _type_only_lines(path: Path) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _offenders(folder: str, allowed: tuple[str, ...], forbidden: tuple[str, ...],
               *, type_only_ok: frozenset[str] = frozenset()) -> list[str]:
    offenders = []
    files = sorted((PACKAGE / folder).rglob("*.py"))
    assert files, folder
    for path in files:
        relative = path.relative_to(PACKAGE).as_posix()
        type_only = _type_only_lines(path) if relative in type_only_ok else set()
        for line, name in _imports(path):
            if not name.startswith(forbidden) or name.startswith(allowed) or line in type_only:
                continue
            offenders.append(f"{relative}:{line} imports {name}")
    return offenders


def test_core_imports_nothing_above_it() -> None:
    # The package root only for its version. The container is the typed record of the wired
    # ports: it names their interfaces for type checking, never at run time.
    assert _offenders("core", allowed=("huiminbao.core.", "huiminbao.__version__"),
                      forbidden=("huiminbao.",),
                      type_only_ok=frozenset({"core/container.py"})) == []


def test_enrollment_does_not_import_proxy() -> None:
    # Proxy builds on enrollment: it checks an agent's payment through ``c.grants`` and hears of
    # issued orders through ``enrollment.events``.
    assert _offenders("enrollment", allowed=(), forbidden=("huiminbao.proxy",)) == []


def test_the_layering_check_sees_an_import_above_core(tmp_path: Path) -> None:
    module = tmp_path / "example.py"
    module.write_text("def f():\n    from huiminbao.enrollment import quoting\n"
                      "from huiminbao.core import db\n", encoding="utf-8")
    assert _imports(module) == [(2, "huiminbao.enrollment.quoting"), (3, "huiminbao.core.db")]

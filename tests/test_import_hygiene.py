"""The engine and the headless paths never load Textual or Rich."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "statement",
    [
        "import sockviz",
        "import sockviz.engine",
        "import sockviz.engine.run.runner, sockviz.engine.record.trace_format",
        "import sockviz.engine.scenarios",
        "import sockviz.engine.run.engine_process",
        "import sockviz.cli",
        "import sockviz.view, sockviz.view.fold, sockviz.view.history, sockviz.view.export",
        "import sockviz.options, sockviz.headless, sockviz.peers, sockviz.launch",
    ],
)
def test_no_textual_in_the_engine(statement):
    code = (
        f"{statement}\n"
        "import sys\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


ROOT = pathlib.Path(__file__).resolve().parents[1] / "sockviz"


def _imports() -> dict[str, set[str]]:
    """Module -> the sockviz modules it imports, at the top or inside a function alike."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        tree = ast.parse(path.read_text())  # (imports for type checking count too: a
        # circle a type hint needs is still a circle - a Protocol breaks it)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1]
                        + ([base] if base else [])
                    )
                found.add(base)
                found |= {f"{base}.{alias.name}" for alias in node.names}
        graph[name] = found
    return {name: {m for m in found if m in graph and m != name} for name, found in graph.items()}


def test_no_module_imports_a_module_that_imports_it_back():
    """Imports go one way (engine -> view -> app; options -> launch -> cli): no cycle, not
    even through an import inside a function or one for type checking only."""
    graph = _imports()
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                raise AssertionError(" -> ".join([*path, name, other]))
            if other not in state:
                visit(other, [*path, name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_the_app_and_the_view_import_nothing_of_the_command_line():
    graph = _imports()
    line = {"sockviz.cli", "sockviz.options", "sockviz.launch", "sockviz.headless", "sockviz.peers"}
    for name, found in graph.items():
        if name.startswith(("sockviz.app", "sockviz.view", "sockviz.engine")):
            assert not found & line, (name, found & line)

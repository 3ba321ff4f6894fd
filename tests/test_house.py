"""The house a newcomer walks (issue 25): rooms by subject, names that say it, objects and not
file-splitting mixins. Each rule here is measured on the source as it stands."""

from __future__ import annotations

import ast
import collections
import enum
import functools
import importlib
import inspect
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sockviz"
MOST_METHODS = 30
ENGINE_TOP = 12


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_no_two_modules_share_a_name():
    """A module's file name says its subject, once: in sockviz, its tests and its scripts."""
    seen: dict[str, list[str]] = collections.defaultdict(list)
    for top in ("sockviz", "tests", "scripts"):
        for path in (ROOT / top).rglob("*.py"):
            if path.name not in ("__init__.py", "__main__.py", "conftest.py"):
                seen[path.name].append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}


def test_the_engine_keeps_few_modules_at_its_top():
    """The engine's rooms are sub-packages; only what every room uses stays at the top."""
    top = sorted(p.name for p in (PACKAGE / "engine").glob("*.py"))
    assert len(top) <= ENGINE_TOP, top


def test_every_module_says_why_it_exists():
    missing = [
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("*.py")
        if p.name != "__main__.py" and not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert missing == []


def _classes():
    for name in _modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name:
                yield cls


def _ours(cls: type) -> list[type]:
    """``cls`` and those of its bases that sockviz defines."""
    return [c for c in cls.__mro__ if c.__module__.split(".")[0] == "sockviz"]


@functools.cache  # (each class's base, Textual's Widget among them, parsed once)
def _tree(cls: type) -> ast.ClassDef | None:
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return None
    lines = source.splitlines()
    indent = len(lines[0]) - len(lines[0].lstrip())
    node = ast.parse("\n".join(line[indent:] for line in lines)).body[0]
    return node if isinstance(node, ast.ClassDef) else None


def _methods(cls: type) -> set[str]:
    tree = _tree(cls)
    if tree is None:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


@pytest.mark.parametrize("cls", list(_classes()), ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_no_class_takes_more_than_30_methods_counting_its_mixins(cls):
    methods = set().union(*(_methods(c) for c in _ours(cls)))
    assert len(methods) <= MOST_METHODS, sorted(methods)


def _defined(cls: type) -> set[str]:
    """The names an instance of ``cls`` has: everything its class and bases define (Textual's
    and the standard library's too), what they assign to ``self`` or annotate, and slots."""
    names = set(dir(cls))
    if issubclass(cls, enum.Enum):
        names |= {"name", "value"}  # (each member's: not in the class's dir())
    for klass in cls.__mro__[:-1]:
        names |= set(getattr(klass, "__annotations__", {}))
        names |= set(getattr(klass, "__slots__", ()))
        tree = _tree(klass)
        for node in ast.walk(tree) if tree is not None else ():
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if (
                        isinstance(leaf, ast.Attribute)
                        and isinstance(leaf.value, ast.Name)
                        and leaf.value.id == "self"
                    ):
                        names.add(leaf.attr)
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) == "setattr"
                and node.args
                and ast.unparse(node.args[0]) == "self"
                and isinstance(node.args[1], ast.Constant)
            ):
                names.add(node.args[1].value)
    return names


@pytest.mark.parametrize("cls", list(_classes()), ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_no_class_reads_a_name_it_does_not_define(cls):
    """A mixin that reads ``self.x`` which only the class it is mixed into defines is a file
    split, not an object: every ``self.x`` a class reads, it (or a base it names) defines."""
    tree = _tree(cls)
    if tree is None:
        return
    read = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    }
    assert sorted(read - _defined(cls)) == []

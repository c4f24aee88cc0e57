"""Modules stay under 500 lines and functions under 60 in ``marl/``, ``scenarios/`` and
``worlds/`` (STYLE.md: a module does one thing, a function fits on a screen). A long one that is
better long is listed here with the reason."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("marl", "scenarios", "worlds")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
BETTER_LONG: dict[str, str] = {}


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_are_at_most_500_lines(package):
    long = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for path in python_files(package)
        if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES
        and str(path.relative_to(ROOT)) not in BETTER_LONG
    ]
    assert not long, "modules over 500 lines:\n" + "\n".join(long)


@pytest.mark.parametrize("package", PACKAGES)
def test_functions_are_at_most_60_lines(package):
    long = []
    for path in python_files(package):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                count = node.end_lineno - node.lineno + 1
                name = f"{path.relative_to(ROOT)}::{node.name}"
                if count > MAX_FUNCTION_LINES and name not in BETTER_LONG:
                    long.append(f"{name}: {count} lines")
    assert not long, "functions over 60 lines:\n" + "\n".join(long)

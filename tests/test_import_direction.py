"""The four packages import in one direction only (DESIGN.md): worlds <- scenarios <- marl,
policies <- marl; worlds imports no RL, scenarios no torch, policies no scenario."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "worlds": {"scenarios", "policies", "marl", "torch", "gymnasium", "pettingzoo", "tools"},
    "scenarios": {"policies", "marl", "torch", "tools"},
    "policies": {"worlds", "scenarios", "marl", "tools"},
    "marl": {"tools"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_the_right_way(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"package {package} has no modules"
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in imported_roots(path) & FORBIDDEN[package]
    }
    assert not wrong, "imports against the dependency direction:\n" + "\n".join(sorted(wrong))


def test_checker_sees_a_wrong_arrow(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nfrom scenarios.core import Scenario\n")
    assert imported_roots(bad) == {"torch", "scenarios"}

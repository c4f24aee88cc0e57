"""``marl new scenario``: the template writes a scenario that passes the registry-wide tests as
written, in a copy of the project, through the real command line."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copy_project(target: Path) -> None:
    for name in ("scenarios", "worlds", "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / name)
    (target / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", target / "tests" / "conftest.py")
    shutil.copytree(
        ROOT / "tests" / "scenarios",
        target / "tests" / "scenarios",
        ignore=shutil.ignore_patterns("__pycache__"),
    )


def test_a_scenario_from_the_template_passes_the_registry_wide_tests(tmp_path):
    copy_project(tmp_path)
    env = {"PYTHONPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    made = subprocess.run(
        ["marl", "new", "scenario", "demo/goal_reach", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    path = tmp_path / "scenarios" / "demo" / "goal_reach.py"
    assert "demo/goal-reach-v0" in made.stdout and path.is_file()
    assert len(path.read_text().splitlines()) < 160
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(path)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    # The new scenario is registered and runs every registry-wide test as they are written.
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/scenarios", "-p", "no:cacheprovider"]
        + ["-k", "demo/goal-reach-v0", "-x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    passed = int(re.search(r"(\d+) passed", tests.stdout).group(1))
    assert passed >= 15, tests.stdout[-2000:]
    # A second scenario of the same name is refused, in one line.
    again = subprocess.run(
        ["marl", "new", "scenario", "demo/goal_reach", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert again.returncode == 2 and "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1

"""``marl new scenario FAMILY/NAME``: write a working scenario from the template.

The new module ``scenarios/FAMILY/NAME.py`` is registered as ``FAMILY/NAME-v0`` (underscores
become dashes), documented, with an observation layout, a frame, rewards with named terms, metrics
and a scripted baseline; it passes the registry-wide tests as written. A new family gets its
package (``scenarios/FAMILY/__init__.py``). ``docs/authoring.md`` walks through the file.
Run it from the project checkout (the folder holding ``scenarios/``) or pass ``--root``.
"""

from __future__ import annotations

import argparse
import re
import string
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("templates") / "scenario.py.txt"
_PART = re.compile(r"^[a-z][a-z0-9_]*$")


def new_scenario(target: str, root: Path) -> Path:
    """Write ``scenarios/<family>/<name>.py`` under ``root`` from the template; return its path.
    Raises ``ValueError`` (one line, naming the problem) for a bad name or an existing file."""
    family, _, name = target.partition("/")
    if not (_PART.match(family) and _PART.match(name)):
        raise ValueError(
            f"scenario must be FAMILY/NAME in lowercase letters, digits and underscores, "
            f"got {target!r}"
        )
    package = root / "scenarios"
    if not (package / "__init__.py").is_file():
        raise ValueError(f"no scenarios package in {root} (run from the checkout or pass --root)")
    path = package / family / f"{name}.py"
    if path.exists():
        raise ValueError(f"{path} already exists")
    title = "".join(part.capitalize() for part in name.split("_"))
    text = string.Template(TEMPLATE.read_text()).substitute(
        scenario_id=f"{family}/{name.replace('_', '-')}-v0",
        scenario_class=title,
        config_class=f"{title}Config",
        frame_class=f"{title}Frame",
        observation="{observation}",
    )
    path.parent.mkdir(exist_ok=True)
    init = path.parent / "__init__.py"
    if not init.exists():
        init.write_text(f'"""The {family} family: each module registers one scenario."""\n')
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marl new", description=__doc__)
    parser.add_argument("kind", choices=["scenario"], help="what to create")
    parser.add_argument("target", metavar="FAMILY/NAME", help="e.g. warehouse/sorting")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project checkout")
    args = parser.parse_args(argv)
    try:
        path = new_scenario(args.target, args.root)
    except (ValueError, OSError) as error:
        print(f"marl new: {error}", file=sys.stderr)
        return 2
    family, _, name = args.target.partition("/")
    scenario_id = f"{family}/{name.replace('_', '-')}-v0"
    print(f"wrote {path}: {scenario_id}")
    print(f"  marl scenarios {scenario_id} --obs --config    its spaces, layout and fields")
    print(f"  marl play {scenario_id}                       a replay of its scripted baseline")
    print(f"  python -m pytest tests/scenarios -k {scenario_id}  the registry-wide tests")
    return 0

"""The house: imports go downward (core <- framework <- cli; inside the framework, each stage imports only earlier
stages), no private name crosses a module, and the CLI stays thin."""

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "lstmprune_cli"
STAGES = ("data", "models", "surgery", "stats", "prune", "train", "jobs")  # the framework's, in pipeline order


def modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if ".venv" not in p.parts)


def imported(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, names) of every `from X import ...` in `path`, lazy ones included."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
    return found


def where(module: str) -> tuple[str, int]:
    """(floor, stage index) of a module of ours: core, framework (stage 0: its root) or cli."""
    parts = module.split(".")
    floor = parts[1] if len(parts) > 1 else ""
    stage = STAGES.index(parts[2]) + 1 if floor == "framework" and len(parts) > 2 and parts[2] in STAGES else 0
    return floor, stage


def test_the_framework_is_one_package_per_stage():
    found = sorted(p.name for p in (PACKAGE / "framework").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert found == sorted(STAGES)
    loose = sorted(p.name for p in (PACKAGE / "framework").glob("*.py"))
    assert loose == ["__init__.py"]  # every module lives in its stage


def test_imports_go_downward_only():
    floors = {"core": 0, "framework": 1, "cli": 2, "": 3}
    wrong = []
    for path in modules(PACKAGE):
        mine = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        floor, stage = where(mine)
        floor = floor if floor in floors else ""  # the package root: __init__, __main__
        for module, _ in imported(path):
            if not module.startswith("lstmprune_cli.") or module == "lstmprune_cli.__main__":  # the root: a version
                continue
            other_floor, other_stage = where(module)
            other_floor = other_floor if other_floor in floors else ""
            if floors[other_floor] > floors[floor] or (floor == other_floor == "framework" and other_stage > stage):
                wrong.append(f"{mine} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_no_private_name_crosses_a_module():
    crossing = []
    for root in ("lstmprune_cli", "tests", "bench", "scripts"):
        for path in modules(ROOT / root):
            for module, names in imported(path):
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private:
                    crossing.append(f"{path.relative_to(ROOT)}: {private} from {module}")
    assert not crossing, "\n".join(crossing)


def test_the_cli_is_thin():
    long = {
        str(p.relative_to(ROOT)): n for p in modules(PACKAGE / "cli") if (n := len(p.read_text().splitlines())) > 300
    }
    assert not long
    for path in modules(PACKAGE / "cli" / "commands"):  # a command parses, calls one job and renders
        found = [m for m, _ in imported(path)]
        assert len([m for m in found if m.startswith("lstmprune_cli.framework")]) <= 1, (path.name, found)
        assert not [m for m in found if m.split(".")[0] in ("tensorflow", "keras", "numpy")], (path.name, found)

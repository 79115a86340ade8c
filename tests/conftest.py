import os
import re
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("PYTEST_XDIST_WORKER"):  # xdist gives its workers COLUMNS=80, as if a user had narrowed the output
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tf():
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    import tensorflow

    return tensorflow


@pytest.fixture(scope="session")
def audioset() -> Path:
    return shared("audioset")


def shared(name: str) -> Path:
    """A folder of the real data beside the repository (../shared/data); its tests are skipped, with the reason,
    on a machine without it."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"the shared data is missing: {path} (clone the project beside ../shared to run this test)")
    return path


def invoke(*args, ws: Path | None = None):
    """The command line in process (typer's CliRunner); the workspace option last when `ws` is given."""
    from typer.testing import CliRunner

    from lstmprune_cli.cli.app import app

    return CliRunner().invoke(app, [*map(str, args), *(["--workspace", str(ws)] if ws else [])])


@pytest.fixture
def cli():
    """The shared CLI invoker: cli("prune", "--theta", 0.5, ws=tmp_path)."""
    return invoke


def one_error_line(result, pattern: str) -> None:
    """A CLI result that failed as bad input must: exit code 2, one `error:` line matching `pattern`, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.output

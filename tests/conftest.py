import os
import re
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

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
    path = SHARED_DATA / "audioset"
    if not path.is_dir():
        pytest.fail(f"the shared data is missing: {path}")
    return path


def one_error_line(result, pattern: str) -> None:
    """A CLI result that failed as bad input must: exit code 2, one `error:` line matching `pattern`, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.output

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.parent.name for p in (REPO / "starter_kits").glob("*/challenge.yml"))


@pytest.fixture
def root(tmp_path):
    """A private copy of the shipped challenges, for tests that write into a challenge."""
    dst = tmp_path / "root"
    for part in ("starter_kits", "grading"):
        shutil.copytree(REPO / part, dst / part)
    return dst


@pytest.fixture
def workdir(tmp_path):
    return tmp_path / "work"

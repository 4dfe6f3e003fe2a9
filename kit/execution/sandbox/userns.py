"""Whether this machine lets an unprivileged grader create user namespaces, and if not, why.

bubblewrap needs a user namespace when the grader is not root. Four things can refuse
one, each with its own fix, and all of them can be read in ``/proc/sys``:

* a kernel built without user namespaces (no ``user.max_user_namespaces`` at all);
* ``kernel.unprivileged_userns_clone = 0`` (older Debian and Ubuntu kernels);
* ``user.max_user_namespaces = 0``;
* ``kernel.apparmor_restrict_unprivileged_userns = 1`` (Ubuntu 24.04): only programs with
  an AppArmor profile that allows ``userns`` may create one.

:func:`diagnose_user_namespaces` reads them (from another folder in tests) and returns
one :class:`~kit.errors.Problem` per setting that refuses; :func:`userns_error` turns a
failed sandbox start into a :class:`~kit.errors.KitError` that says what is missing and
how to enable it. Both the sandbox's check and the probe of ``kit doctor`` use them.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from ...errors import KitError, Problem

PROC_SYS = "/proc/sys"
#: Linux counts RLIMIT_NPROC per user namespace from this release on (ucounts): an
#: unprivileged grader's run, which keeps the grader's uid, is then counted on its own.
NPROC_PER_USERNS_SINCE = (5, 14)


def read_sysctl(key: str, proc_sys: str | os.PathLike = PROC_SYS) -> str | None:
    """The value of sysctl *key* (``"kernel/foo"`` or ``"kernel.foo"``), None when absent."""
    try:
        return (Path(proc_sys) / key.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def apparmor_profile(bwrap: str) -> str:
    """An AppArmor profile that lets *bwrap* create user namespaces (Ubuntu 24.04)."""
    return (
        f"abi <abi/4.0>,\ninclude <tunables/global>\nprofile kit-bwrap {bwrap} flags=(unconfined) {{\n  userns,\n}}\n"
    )


def diagnose_user_namespaces(proc_sys: str | os.PathLike | None = None, *, bwrap: str = "bwrap") -> list[Problem]:
    """The kernel settings that refuse an unprivileged user namespace here (empty: none does).

    *proc_sys*: the folder to read (default :data:`PROC_SYS`; tests give a fake one).
    *bwrap*: the binary an AppArmor profile must name.
    """
    proc_sys = PROC_SYS if proc_sys is None else proc_sys
    problems = []
    where = Path(proc_sys)
    if read_sysctl("user/max_user_namespaces", proc_sys) is None:
        problems.append(
            Problem(
                "this kernel has no user namespaces (it was built without CONFIG_USER_NS)",
                where=str(where / "user" / "max_user_namespaces"),
                fix="use a kernel built with CONFIG_USER_NS=y, or run the grader as root",
            )
        )
        return problems
    if read_sysctl("kernel/unprivileged_userns_clone", proc_sys) == "0":
        problems.append(
            Problem(
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)",
                where=str(where / "kernel" / "unprivileged_userns_clone"),
                fix="sysctl -w kernel.unprivileged_userns_clone=1 (to keep it after a reboot: "
                "echo kernel.unprivileged_userns_clone=1 > /etc/sysctl.d/90-userns.conf)",
            )
        )
    if read_sysctl("user/max_user_namespaces", proc_sys) == "0":
        problems.append(
            Problem(
                "no user namespace may be created (user.max_user_namespaces = 0)",
                where=str(where / "user" / "max_user_namespaces"),
                fix="sysctl -w user.max_user_namespaces=15000 (to keep it after a reboot: "
                "echo user.max_user_namespaces=15000 > /etc/sysctl.d/90-userns.conf)",
            )
        )
    if read_sysctl("kernel/apparmor_restrict_unprivileged_userns", proc_sys) == "1":
        problems.append(
            Problem(
                "AppArmor lets only programs with a profile create user namespaces "
                "(kernel.apparmor_restrict_unprivileged_userns = 1, as on Ubuntu 24.04)",
                where=str(where / "kernel" / "apparmor_restrict_unprivileged_userns"),
                fix=f"give bwrap an AppArmor profile: write /etc/apparmor.d/kit-bwrap with\n"
                f"{apparmor_profile(bwrap)}then run apparmor_parser -r /etc/apparmor.d/kit-bwrap; "
                "or lift the restriction for every program: "
                "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
            )
        )
    return problems


def userns_error(stderr: str, *, bwrap: str, proc_sys: str | os.PathLike | None = None) -> KitError:
    """The error for an unprivileged sandbox that bwrap could not create (*stderr*: bwrap's)."""
    problems = diagnose_user_namespaces(proc_sys, bwrap=bwrap)
    if problems:
        fix = "; ".join(p.fix for p in problems)
        fix += "; or run the grader as root (each run then gets a host uid of its own)"
    else:
        fix = (
            "the kernel's settings allow user namespaces, so something else refuses them: in a "
            "container, allow them (Docker: --security-opt seccomp=unconfined --security-opt "
            "apparmor=unconfined, or a seccomp profile that allows unshare and clone with "
            "CLONE_NEWUSER); otherwise check the security modules (SELinux, AppArmor) in the "
            "system log; or run the grader as root"
        )
    return KitError(
        f"bubblewrap cannot create a sandbox here: {stderr.strip() or 'it failed without a message'}",
        where=f"sandbox 'bubblewrap' ({bwrap})",
        fix=fix,
        problems=problems,
    )


def kernel_release() -> tuple[int, int]:
    """(major, minor) of the running Linux kernel; (0, 0) when it cannot be read."""
    parts = platform.release().split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def nproc_counted_per_user_namespace(release: tuple[int, int] | None = None) -> bool:
    """True if RLIMIT_NPROC counts a uid's processes per user namespace (Linux >= 5.14)."""
    return (release or kernel_release()) >= NPROC_PER_USERNS_SINCE

"""Sandboxes for participant notebooks: a registry of backends keyed by name.

A *sandbox* turns the command that starts a Jupyter kernel into a contained one. Two
backends are registered:

``bubblewrap`` (:mod:`.bubblewrap`)
    every run in its own bubblewrap container: its own PID, network, IPC, UTS and cgroup
    namespaces, a read-only system, only its own folders visible, a seccomp filter, no
    capability, limits set by our own non-dumpable PID 1; as root, a host uid of its own.
``none`` (:mod:`.none`)
    no isolation: rlimits only, a loud warning every time. Trusted notebooks only.

:func:`get_sandbox` gives a backend by name, :func:`get_sandbox_names` lists them,
:func:`register_sandbox` adds one (a plug-in can also name a :class:`Sandbox` subclass or
instance in the entry-point group ``challenge_kit.sandboxs``). :func:`probe_sandbox`
tests what a backend guarantees on this machine, for this user (``kit doctor``).

The package, one job per module:

- :mod:`.base`: :class:`Sandbox` (the backends' base class), :class:`SandboxRun` (one
  run: folders, uid, limits, ending it), :func:`sandbox_env`, :func:`rlimits_for`;
- :mod:`.inside`: the stdlib-only code that runs inside a sandbox (limits, capabilities,
  seccomp filter, PID 1) and the command lines that ship it there;
- :mod:`.processes`: uid leases, sweeps of a uid or a PID namespace, reading back files a
  sandbox could have replaced by links;
- :mod:`.userns`: why an unprivileged user namespace is refused here, and the fix;
- :mod:`.probe`: the sandbox probe.

Jupyter's side (kernel managers) lives in :mod:`kit.execution.kernels`; importing this
package does not import jupyter_client.
"""

from __future__ import annotations

from typing import Any

from ...errors import KitError
from ...registry import Registry
from .base import (
    AS_HEADROOM_MB,
    BLAS_THREADS,
    CLIENT_CONNECTION_FILE,
    CPU_GRACE_SECONDS,
    IPC_PREFIX,
    KERNEL_ARGS,
    KERNEL_CONNECTION_FILE,
    KERNEL_EXIT_FILE,
    KERNEL_LOG_FILE,
    KERNEL_OWN_TASKS,
    SANDBOX_DATA_DIR,
    SANDBOX_RUNTIME_DIR,
    SANDBOX_WORK_DIR,
    Sandbox,
    SandboxRun,
    rlimits_for,
    sandbox_env,
)
from .bubblewrap import BubblewrapSandbox, find_bwrap, package_folders, python_prefixes
from .inside import init_argv, trampoline_argv
from .none import NoSandbox
from .probe import SandboxProbe, probe_sandbox
from .processes import (
    UID_BASE,
    UID_COUNT,
    UidLease,
    is_private_dir,
    kill_pidns_processes,
    kill_uid_processes,
    processes_in_pidns,
    processes_of_uid,
    read_sandbox_file,
)
from .userns import diagnose_user_namespaces


def _as_sandbox(obj: Any) -> Sandbox:
    """What the registry keeps: a :class:`Sandbox` instance (a subclass is instantiated)."""
    if isinstance(obj, type) and issubclass(obj, Sandbox):
        obj = obj()
    if not isinstance(obj, Sandbox):
        raise KitError(
            f"{obj!r} is not a sandbox",
            where="kit.execution.sandbox",
            fix="register an instance (or a subclass) of kit.execution.sandbox.Sandbox",
        )
    return obj


#: Every sandbox backend, keyed by name (instances).
SANDBOXES: Registry[Sandbox] = Registry(
    "sandbox", plural="sandboxes", coerce=_as_sandbox, hint="kit.execution.sandbox.get_sandbox_names()"
)


def register_sandbox(sandbox: Sandbox | type[Sandbox], *, replace: bool = False) -> Sandbox:
    """Add *sandbox* (an instance, or a subclass to instantiate) under its ``name``.

    A name taken already is refused unless ``replace=True``. Returns the registered instance.
    """
    instance = _as_sandbox(sandbox)
    SANDBOXES.register(instance, replace=replace)
    return instance


def get_sandbox_names() -> list[str]:
    """Names of the registered sandboxes, sorted."""
    return SANDBOXES.names()


def get_sandbox(name: str | Sandbox) -> Sandbox:
    """The sandbox registered as *name* (a :class:`Sandbox` is returned unchanged).

    An unknown name raises :class:`~kit.errors.KitError` whose fix lists the choices.
    """
    if isinstance(name, Sandbox):
        return name
    return SANDBOXES.get(name)


register_sandbox(BubblewrapSandbox())
register_sandbox(NoSandbox())

_KERNELS = ("SandboxKernelManager", "SandboxProvisioner", "kernel_argv")


def __getattr__(name: str) -> Any:
    # PEP 562: the kernel managers (jupyter_client) load only when asked for
    if name in _KERNELS:
        from .. import kernels

        return getattr(kernels, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AS_HEADROOM_MB",
    "BLAS_THREADS",
    "CLIENT_CONNECTION_FILE",
    "CPU_GRACE_SECONDS",
    "IPC_PREFIX",
    "KERNEL_ARGS",
    "KERNEL_CONNECTION_FILE",
    "KERNEL_EXIT_FILE",
    "KERNEL_LOG_FILE",
    "KERNEL_OWN_TASKS",
    "SANDBOXES",
    "SANDBOX_DATA_DIR",
    "SANDBOX_RUNTIME_DIR",
    "SANDBOX_WORK_DIR",
    "UID_BASE",
    "UID_COUNT",
    "BubblewrapSandbox",
    "NoSandbox",
    "Sandbox",
    "SandboxProbe",
    "SandboxRun",
    "UidLease",
    "diagnose_user_namespaces",
    "find_bwrap",
    "get_sandbox",
    "get_sandbox_names",
    "init_argv",
    "is_private_dir",
    "kill_pidns_processes",
    "kill_uid_processes",
    "package_folders",
    "probe_sandbox",
    "processes_in_pidns",
    "processes_of_uid",
    "python_prefixes",
    "read_sandbox_file",
    "register_sandbox",
    "rlimits_for",
    "sandbox_env",
    "trampoline_argv",
]

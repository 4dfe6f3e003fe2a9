"""Warm kernels: a fresh, sandboxed kernel per submission without paying for imports.

Where the time goes for a light notebook (FIELD-NOTES, and measured again here): a
kernel start takes ~0.5 s, ``import pandas, sklearn`` another ~1 s, the notebook itself
~0.2 s. A pool of pre-started kernels that import those libraries at start-up (the
brief's option (b)) hides the latency but not the CPU: every kernel still spends
~1.5 CPU-seconds importing, so 2 cores cannot do better than ~0.8 s per notebook.

So this module combines the pool with a **zygote** (a fork server, as Android and
CPython's ``forkserver`` do):

* The zygote is a separate interpreter (``python -I -c``: no user site, no
  environment of the grader, nothing of the grader imported) that imports the
  participants' libraries once: numpy, pandas, scipy, scikit-learn, matplotlib's heavy
  modules (not pyplot: see DEFAULT_PRELOAD), ipykernel and what its start-up imports
  (debugpy alone was 0.15 of 0.2 CPU-seconds). It never runs participant code, and it
  is single-threaded when it forks (BLAS threads = 1; checked at start).
* For every kernel, a bubblewrap sandbox is started empty (a sleeper), exactly as a
  cold run would be (same mounts, namespaces, uid). The zygote forks; the child joins
  the sandbox's namespaces with ``setns`` (PID, mount, network, IPC, UTS, cgroup) and
  its root with ``chroot``, forks again (to be inside the PID namespace), drops to the
  run's uid, applies the rlimits and ``no_new_privs``, reseeds the random generators,
  and starts the ipykernel application in place: a fresh process per submission,
  copy-on-write pages of already imported libraries, nothing shared between
  submissions.
* :class:`WarmKernelPool` keeps ``size`` such kernels started and answering, each in
  its own sandbox with its own empty work folder, and hands a never-used one to each
  submission (:meth:`WarmKernelPool.acquire`); the next one starts while the current
  one runs (missing kernels are launched side by side, then awaited). A one-shot batch
  tells the pool how many it will take (:meth:`WarmKernelPool.expect`), so none is
  started for nothing; closing the pool while the zygote still imports stops it. At
  hand-out the submission's work folder is moved into place (a rename on the same
  filesystem; a copy otherwise).

Ending a run is the same as for a cold kernel: killing the sandbox's bwrap kills its
PID namespace (the forked kernel is a member), and the run's uid is swept.

Measured on 2 cores (``benchmarks/kernels.py``): a kernel is ready 0.25-0.33 s after
the fork, for 0.07 CPU-seconds; the light benchmark notebook then runs in ~0.3 s
(0.3 CPU-s, most of it the notebook's own model fit); a batch of 40 takes 0.24 s per
notebook with two at a time, against 2.3 s for a sequential papermill loop.

Differences from a cold kernel, all deliberate: the preloaded modules count towards the
memory limit from the start (~0.3 GB of data segment); the kernel runs in Python's
isolated mode (``-I``: ``PYTHON*`` variables and the user site are ignored, which the
sandbox's environment does not set anyway); hash randomisation is shared with the
zygote (``PYTHONHASHSEED``: the set iteration order is the same in every kernel of a
pool; ``random`` and numpy's global generator are reseeded per kernel).
Create a pool in the process that uses it (not before a ``fork``): its sandboxes are
tied to its filler thread (``--die-with-parent`` follows the parent *thread*).

The package: :mod:`.zygote` (the fork server and the code it runs), :mod:`.kernel` (one
warm kernel, its kernel manager and provisioner), :mod:`.pool` (the pool).
The names below are imported on first use: the zygote can be started (``kit grade``
starts it first thing) before jupyter_client is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .kernel import WarmKernel, WarmKernelManager
    from .pool import FAILED_KERNELS_DIR, PoolStats, WarmKernelPool
    from .zygote import DEFAULT_PRELOAD, Zygote

_LAZY = {
    "DEFAULT_PRELOAD": ".zygote",
    "FAILED_KERNELS_DIR": ".pool",
    "PoolStats": ".pool",
    "WarmKernel": ".kernel",
    "WarmKernelManager": ".kernel",
    "WarmKernelPool": ".pool",
    "Zygote": ".zygote",
}
__all__ = [
    "DEFAULT_PRELOAD",
    "FAILED_KERNELS_DIR",
    "PoolStats",
    "WarmKernel",
    "WarmKernelManager",
    "WarmKernelPool",
    "Zygote",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

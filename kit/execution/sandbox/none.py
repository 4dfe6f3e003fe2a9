"""The ``none`` sandbox: no isolation at all, for notebooks the grader trusts.

The kernel runs as the grader, sees the whole filesystem and the network. Only the
rlimits are applied. It must be chosen explicitly, and it warns (``warnings.warn`` and
the log) every time it is used.
"""

from __future__ import annotations

import logging
import os
import warnings

from .base import Sandbox, SandboxRun

log = logging.getLogger(__name__)


class NoSandbox(Sandbox):
    """No isolation: the kernel runs as the grader. Only for trusted notebooks."""

    name = "none"
    isolated = False
    description = "no isolation (rlimits only); trusted notebooks only"

    def _announce(self) -> None:
        message = (
            "sandbox 'none': the notebook runs WITHOUT isolation, as the grader's user, "
            "with access to every file (hidden labels, the ledger, other submissions) and "
            "to the network. Use it only for notebooks you trust; grade participants with "
            "sandbox='bubblewrap'."
        )
        log.warning(message)
        warnings.warn(message, UserWarning, stacklevel=4)

    def wrap(
        self, run: SandboxRun, inner: list[str], *, extra_args: tuple[str, ...] = (), extra_ro: tuple[str, ...] = ()
    ) -> list[str]:
        return inner

    def _prepare(self, run: SandboxRun) -> None:
        # rlimits only; the grader's own environment minus what would confuse ipykernel
        env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
        env.update(
            {
                k: v
                for k, v in run.env.items()
                if k
                in (
                    "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS",
                    "PYDEVD_DISABLE_FILE_VALIDATION",
                    "JUPYTER_PLATFORM_DIRS",
                )
            }
        )
        run.env = env

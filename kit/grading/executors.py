"""Executors run participant notebooks of a batch; a registry keyed by name.

- ``local``: a pool of threads in this process (each notebook runs in its own
  sandboxed kernel process, so threads only wait), with a pool of pre-warmed
  kernels when the sandbox supports it;
- ``dask``: notebooks spread over a Dask distributed cluster; each worker keeps
  its own warm kernels. Only the coordinating process writes the ledger.

An executor yields outcomes as they complete; it never raises for a participant's
error (those are outcomes), only for infrastructure failures.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import KitError
from ..registry import Registry
from .submission_run import RunOutcome, notebook_runner, run_submission

log = logging.getLogger(__name__)
#: executor classes by name (``--executor``)
EXECUTORS: Registry[type[Executor]] = Registry("executor", hint="kit.grading.executors.get_executor_names()")


def register_executor(name: str):
    """Class decorator: register an :class:`Executor` subclass as *name*."""

    def deco(cls):
        cls.name = name
        EXECUTORS.register(cls, name=name)
        return cls

    return deco


def get_executor_names() -> list[str]:
    return EXECUTORS.names()


def get_executor(name: str) -> type[Executor]:
    return EXECUTORS.get(name)


def pools_apply(*, sandbox: str, warm: bool) -> bool:
    """Whether runs take pre-warmed kernels (a sandbox that isolates them, and ``warm``)."""
    return warm and sandbox != "none"


def make_pool(*, sandbox: str, data_dir, limits: dict, size: int, work_root, kernel_name: str, warm: bool, zygote=None):
    """A pool of pre-warmed sandboxed kernels, or None where it does not apply.

    ``zygote``: one started ahead (:func:`~kit.execution.warm.zygote.start_zygote`), handed to the pool.
    """
    if not pools_apply(sandbox=sandbox, warm=warm):
        if zygote is not None:
            zygote.close()
        return None
    from ..challenge import Limits
    from ..execution.warm.pool import WarmKernelPool

    return WarmKernelPool(
        data_dir=data_dir,
        limits=Limits(**limits),
        sandbox=sandbox,
        size=size,
        kernel_name=kernel_name,
        work_root=work_root,
        zygote=zygote,
    )


class Executor:
    name = "base"

    @classmethod
    def prestart(cls, *, sandbox: str, warm: bool) -> Any:
        """Start, before the batch's data folder exists, what takes longest to warm up (or None).

        The session calls it first thing and hands the result to the executor (``prestarted=``);
        the executor owns it from then on, and closes it whatever happens.
        """
        return None

    def __init__(
        self,
        *,
        workers: int = 1,
        sandbox: str,
        data_dir,
        limits: dict,
        scratch_dir,
        kernel_name: str = "python3",
        warm: bool = True,
        scheduler: str | None = None,
        keep_warm: bool = True,
        prestarted: Any = None,
    ):
        if workers < 1:
            raise KitError(f"--workers must be at least 1, got {workers}", fix="pass --workers 1 or more")
        self.workers = workers
        self.sandbox = sandbox
        self.data_dir = str(data_dir)
        self.limits = limits
        self.scratch_dir = str(scratch_dir)
        self.kernel_name = kernel_name
        self.warm = warm
        self.scheduler = scheduler
        self.keep_warm = keep_warm  # False: one batch, warm kernels are released as soon as it has run
        self.prestarted = prestarted

    def job_kwargs(self, job: dict) -> dict:
        return dict(
            job,
            data_dir=self.data_dir,
            limits=self.limits,
            sandbox=self.sandbox,
            scratch_dir=self.scratch_dir,
            kernel_name=self.kernel_name,
        )

    def run(self, jobs: Iterable[dict]) -> Iterator[RunOutcome]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        self._close_prestarted()

    def _close_prestarted(self) -> None:
        prestarted, self.prestarted = self.prestarted, None
        if prestarted is not None:
            prestarted.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@register_executor("local")
class LocalExecutor(Executor):
    """Threads in this process; kernels from a warm pool of ``workers`` kernels.

    With ``keep_warm=False`` (``kit grade``: one batch), the pool starts exactly as many
    kernels as the batch needs and is closed, in the background, once the last notebook
    has run: its clean-up overlaps the scoring instead of following it. The pool's zygote
    is started ahead (:meth:`prestart`), while the session reads the challenge and the
    hand-ins.
    """

    @classmethod
    def prestart(cls, *, sandbox: str, warm: bool) -> Any:
        if not pools_apply(sandbox=sandbox, warm=warm):
            return None
        from ..execution.warm.zygote import start_zygote

        return start_zygote()

    def __init__(self, **kw):
        super().__init__(**kw)
        self.pool = None
        self._lock = threading.Lock()
        self._closing: threading.Thread | None = None

    def _pool(self):
        with self._lock:
            if self.pool is None:
                zygote, self.prestarted = self.prestarted, None
                self.pool = (
                    make_pool(
                        sandbox=self.sandbox,
                        data_dir=self.data_dir,
                        limits=self.limits,
                        size=self.workers,
                        work_root=self.scratch_dir,
                        kernel_name=self.kernel_name,
                        warm=self.warm,
                        zygote=zygote,
                    )
                    or False
                )
            return self.pool or None

    def run(self, jobs):
        jobs = list(jobs)
        if not jobs:
            return
        notebook_runner()  # imported here, not by the worker threads side by side (concurrent imports can fail)
        pool = self._pool()
        if pool is not None and not self.keep_warm:
            pool.expect(len(jobs))
        with concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="kit-grade") as ex:
            futures = [ex.submit(run_submission, **self.job_kwargs(j), pool=pool) for j in jobs]
            for f in concurrent.futures.as_completed(futures):
                yield f.result()
        if pool is not None and not self.keep_warm:
            self._release_pool()

    def _release_pool(self) -> None:
        """Close the pool in the background; the next batch, if any, starts a new one."""
        with self._lock:
            pool, self.pool = self.pool, None
        if pool:
            self._join_closing()
            self._closing = threading.Thread(target=pool.close, name="kit-pool-close", daemon=True)
            self._closing.start()

    def _join_closing(self) -> None:
        if self._closing is not None:
            self._closing.join()
            self._closing = None

    def close(self):
        with self._lock:
            pool, self.pool = self.pool, None
        if pool:
            pool.close()
        self._join_closing()
        self._close_prestarted()


# -- dask ------------------------------------------------------------------------------
_WORKER_POOLS: dict = {}
_WORKER_LOCK = threading.Lock()


def _execute_on_worker(kwargs: dict, warm: bool, size: int) -> RunOutcome:
    """Runs on a Dask worker: one warm pool per worker process and batch settings."""
    key = (kwargs["data_dir"], tuple(sorted(kwargs["limits"].items())), kwargs["sandbox"], kwargs["kernel_name"])
    with _WORKER_LOCK:
        pool = _WORKER_POOLS.get(key)
        if pool is None and warm:
            pool = make_pool(
                sandbox=kwargs["sandbox"],
                data_dir=kwargs["data_dir"],
                limits=kwargs["limits"],
                size=size,
                work_root=kwargs["scratch_dir"],
                kernel_name=kwargs["kernel_name"],
                warm=warm,
            )
            _WORKER_POOLS[key] = pool
    return run_submission(**kwargs, pool=pool)


def close_worker_pools(data_dir: str) -> int:
    """Runs on a Dask worker at the end of a batch: close its pools for ``data_dir``."""
    closed = 0
    with _WORKER_LOCK:
        for key in [k for k in _WORKER_POOLS if k[0] == data_dir]:
            pool = _WORKER_POOLS.pop(key)
            if pool:
                pool.close()
                closed += 1
    return closed


@register_executor("dask")
class DaskExecutor(Executor):
    """Notebook runs on a Dask distributed cluster (``scheduler``: its address, or a Client)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        if not self.scheduler:
            raise KitError("the dask executor needs a scheduler address", fix="pass --scheduler tcp://HOST:PORT")
        try:
            from distributed import Client
        except ImportError:
            raise KitError(
                "the dask executor needs the 'distributed' package", fix="pip install 'challenge-kit[dask]'"
            ) from None
        self.client: Client = self.scheduler if isinstance(self.scheduler, Client) else Client(self.scheduler)
        self._own_client = not hasattr(self.scheduler, "submit")

    def run(self, jobs):
        from distributed import as_completed

        jobs = list(jobs)
        if not jobs:
            return
        futures = [
            self.client.submit(
                _execute_on_worker,
                self.job_kwargs(j),
                self.warm,
                self.workers,
                pure=False,
                key=f"kit-sub-{j['submission_id']}-{id(self)}",
            )
            for j in jobs
        ]
        for f in as_completed(futures):
            yield f.result()

    def close(self):
        self._close_prestarted()
        try:
            self.client.run(close_worker_pools, self.data_dir)
        except Exception as exc:  # noqa: BLE001 - workers may be gone; their pools die with them
            log.warning("could not close the workers' kernel pools: %s", exc)
        if self._own_client:
            self.client.close()

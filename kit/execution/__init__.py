"""Running participant notebooks: sandboxes (registry), the papermill runner, warm kernels.

- :mod:`kit.execution.sandbox`: ``bubblewrap`` and ``none``, keyed by name, and the probe
  of what a sandbox guarantees on this machine (``kit doctor``);
- :mod:`kit.execution.kernels`: jupyter_client's side of a sandboxed kernel (kernel manager,
  provisioner);
- :mod:`kit.execution.runner`: :func:`~kit.execution.runner.run_notebook`, one contained
  run, with :mod:`~kit.execution.engine` (papermill's engine ``kit``: limits, output cap,
  watchdog) and :mod:`~kit.execution.outcome` (:class:`~kit.execution.outcome.RunResult`,
  the reasons, the executed notebook);
- :mod:`kit.execution.warm`: a fork server and a pool of pre-warmed sandboxed kernels.

Nothing is imported here, so ``import kit.execution`` stays cheap.
"""

from __future__ import annotations

import sys


def skip_slow_optional_imports() -> None:
    """Keep jsonschema, in this process, from importing ``rfc3987_syntax`` (the ``kit`` command calls it).

    nbformat (papermill, nbclient) imports jsonschema, which imports rfc3987-syntax when it is
    installed, to check the ``iri`` formats: that import builds Lark parsers, 1.5 s of every
    ``kit grade`` before its first hand-in (jsonschema#1428). No schema here uses those
    formats (nbformat's notebook schema has none, and validates with fastjsonschema), so the
    command's own process goes without them. A library caller's process is left as it is.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # None: "cannot be imported"

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

"""Running participant notebooks: sandboxes (registry), the papermill runner, warm kernels.

- :mod:`kit.execution.sandbox`: ``bubblewrap`` and ``none``, keyed by name;
- :mod:`kit.execution.runner`: :func:`~kit.execution.runner.run_notebook`, one contained run;
- :mod:`kit.execution.warm`: a fork server and a pool of pre-warmed sandboxed kernels.

Nothing is imported here, so ``import kit.execution`` stays cheap.
"""

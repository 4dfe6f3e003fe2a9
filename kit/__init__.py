"""challenge-kit: run data challenges in medicine from Jupyter.

The library behind the ``kit`` command line: challenge specs, the metric
registry, notebook grading, the ledger, leaderboards and data cards.
"""

__version__ = "0.1.0"

from .handin import submit as submit  # kit.submit(): hand in from the notebook to the challenge server


def check(predictions_path, data_dir=None, **kwargs):
    """Validate a predictions file as the grader will; see :func:`kit.checker.check`."""
    from .checker import check as _check

    return _check(predictions_path, data_dir, **kwargs)


def load_challenge(challenge, root=None):
    """Load a challenge by id or spec path; see :func:`kit.challenge.load_challenge`."""
    from .challenge import load_challenge as _load

    return _load(challenge, root=root)


__all__ = ["__version__", "check", "load_challenge"]

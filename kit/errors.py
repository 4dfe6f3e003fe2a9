"""One exception root for the whole kit.

Every error says *what* went wrong, *where* (a file, a field, a row, a cell) and
*how to fix it*. Errors carry structured fields so that the grader can record
them in the ledger, and they pickle cleanly so they can cross process
boundaries (worker pools, Dask).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in an input: what, where and the fix."""

    what: str
    where: str = ""
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return f"{text} (fix: {self.fix})" if self.fix else text

    def to_dict(self) -> dict:
        return asdict(self)


class KitError(Exception):
    """Root of every error the kit raises on purpose.

    ``what``: the problem; ``where``: the file, field, row or cell; ``fix``: what to do.
    ``problems``: several :class:`Problem` when an input has more than one.
    """

    exit_code = 1
    kind = "error"

    def __init__(self, what: str, *, where: str = "", fix: str = "", problems=()):
        self.what = what
        self.where = where
        self.fix = fix
        self.problems = tuple(problems)
        super().__init__(self._format())

    def _format(self) -> str:
        head = f"{self.where}: {self.what}" if self.where else self.what
        lines = [head]
        for p in self.problems:
            lines.append(f"  - {p}")
        if self.fix:
            lines.append(f"Fix: {self.fix}")
        return "\n".join(lines)

    def __reduce__(self):
        return (_rebuild, (type(self), self.what, self.where, self.fix, self.problems))

    def _render_traceback_(self) -> list[str]:
        """How IPython and Jupyter show it: the message alone, without the kit's traceback.

        An error the kit raises on purpose is a message for the person at the keyboard (what,
        where, the fix); the frames of the kit that found the problem do not help them. A bug
        of the kit raises something else, and keeps its traceback; ``%debug`` still opens this
        one's frames.
        """
        lines = f"{type(self).__name__}: {self}".splitlines()
        cause = self.__cause__
        if cause is not None and not isinstance(cause, KitError):
            lines.append(f"(caused by {type(cause).__name__}: {cause})")
        return lines

    def as_problems(self) -> list[Problem]:
        """Its problems, or the error itself as the one problem."""
        return list(self.problems) or [Problem(self.what, where=self.where, fix=self.fix)]

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "what": self.what,
            "where": self.where,
            "fix": self.fix,
            "problems": [p.to_dict() for p in self.problems],
        }


def _rebuild(cls, what, where, fix, problems):
    return cls(what, where=where, fix=fix, problems=problems)


class SpecError(KitError):
    """A challenge spec that does not validate (one problem per field)."""

    kind = "spec"


class ChallengeNotFound(KitError):
    kind = "not-found"


class DataIntegrityError(KitError):
    """A data file whose content does not match the sha256 recorded in the spec."""

    kind = "integrity"


class MetricError(KitError):
    """Unknown metric name, or inputs a metric cannot score (shape, values)."""

    kind = "metric"


class SubmissionError(KitError):
    """A predictions file that fails validation: every problem is listed."""

    kind = "invalid-predictions"


class NotebookError(KitError):
    """A submitted notebook that cannot be run at all (not JSON, no parameters cell)."""

    kind = "invalid-notebook"


class ExecutionError(KitError):
    """A participant notebook that raised, timed out or was killed while running."""

    kind = "execution"

    def __init__(self, what, *, where="", fix="", problems=(), cell_index=None, ename="", evalue="", traceback=""):
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        super().__init__(what, where=where, fix=fix, problems=problems)

    def __reduce__(self):
        return (
            _rebuild_exec,
            (self.what, self.where, self.fix, self.problems, self.cell_index, self.ename, self.evalue, self.traceback),
        )

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(cell_index=self.cell_index, ename=self.ename, evalue=self.evalue, traceback=self.traceback)
        return d


def _rebuild_exec(what, where, fix, problems, cell_index, ename, evalue, traceback):
    return ExecutionError(
        what,
        where=where,
        fix=fix,
        problems=problems,
        cell_index=cell_index,
        ename=ename,
        evalue=evalue,
        traceback=traceback,
    )


class GradingError(KitError):
    """The trusted grading step itself failed (organiser-side problem)."""

    kind = "grading"


class LedgerError(KitError):
    kind = "ledger"

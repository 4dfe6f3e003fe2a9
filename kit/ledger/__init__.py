"""The ledger: the append-only SQLite record of every hand-in, grading run and score.

- :mod:`kit.ledger.store`: the schema, the append-only writes and the record's reads
  (:class:`Ledger`, :class:`RunRecord`);
- :mod:`kit.ledger.queries`: the read side's questions (each team's representative
  submission for a board, the scores of selected runs, a change mark for live boards).

Every SQL statement of the kit lives in this package.
"""

from .store import SCHEMA_VERSION, STATUSES, Ledger, RefusalRecord, RunRecord, utcnow

__all__ = ["SCHEMA_VERSION", "STATUSES", "Ledger", "RefusalRecord", "RunRecord", "utcnow"]

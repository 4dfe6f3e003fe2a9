"""``kit watch``: grade hand-ins as they arrive (a workshop's live loop).

A folder of team folders (``<team>/<name>.ipynb|.csv``) is scanned a few times a
second; a file is handed in once its size and time stop changing (so a file still
being copied is never read half-written). Each new file is graded at once in a
session whose participant kernels and grading kernel are already warm, so the
score is in the ledger (and on the live board) about a second after the hand-in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .intake import KINDS, HandIn
from .session import GradingSession


def _scan(folder: Path) -> dict[Path, tuple[int, int]]:
    found = {}
    for p in folder.glob("*/*"):
        if p.suffix.lower() in KINDS and not p.name.startswith(".") and p.is_file():
            st = p.stat()
            found[p] = (st.st_size, st.st_mtime_ns)
    return found


def watch(
    challenge,
    folder,
    *,
    workdir,
    sandbox: str = "bubblewrap",
    workers: int = 2,
    interval: float = 0.1,
    root=None,
    echo: Callable[[str], None] = print,
    stop: Callable[[], bool] | None = None,
    on_report=None,
) -> None:
    """Grade every file that appears in ``folder`` until ``stop()`` is true (or Ctrl-C)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with GradingSession(
        challenge, workdir=workdir, sandbox=sandbox, workers=workers, warm_scorer=True, root=root
    ) as session:
        session.start()
        done: dict[Path, tuple[int, int]] = {}
        last = _scan(folder)
        echo(f"watching {folder} for <team>/<file>.ipynb|.csv hand-ins (Ctrl-C to stop)")
        try:
            while not (stop and stop()):
                time.sleep(interval)
                now = _scan(folder)
                stable = [p for p, sig in now.items() if last.get(p) == sig and done.get(p) != sig]
                last = now
                if not stable:
                    continue
                report = session.grade(
                    hand_ins=[HandIn(path=p, team=p.parent.name, source=str(folder)) for p in sorted(stable)],
                    progress=False,
                )
                for p in stable:
                    done[p] = now[p]
                echo(repr(report))
                if on_report is not None:
                    on_report(report)
        except KeyboardInterrupt:
            echo("stopped")

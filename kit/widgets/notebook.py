"""The leaderboard notebook (notebooks/leaderboard.ipynb) and serving it with Voilà (`kit board`):
the command line of :mod:`kit.widgets.serve`, a Voilà with a preheated, already rendered kernel."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from ..challenge import find_root, load_challenge
from .live import POLL_SECONDS

#: kernels Voilà keeps rendered and waiting for the next visitor
PREHEATED_KERNELS = 1
#: the only JupyterLab extensions the page loads: the widgets' (others in the environment, such as
#: nbgrader's, cost seconds of JavaScript and fail outside JupyterLab)
FRONTEND_EXTENSIONS = (
    "@jupyter-widgets/jupyterlab-manager",
    "@voila-dashboards/widgets-manager8",  # Voilà's widget manager (ipywidgets 8)
    "@voila-dashboards/widgets-manager7",  # (ipywidgets 7)
)
#: seconds before Voilà replaces a preheated kernel a visitor took (not while the page loads)
REFILL_DELAY = 5.0

NOTEBOOK = Path("notebooks") / "leaderboard.ipynb"


def board_notebook():
    """The leaderboard notebook. It has no Markdown: Voilà shows a notebook's Markdown and strips
    its code, so what a room sees is the app alone; what a reader of the notebook needs is in
    the comments."""
    cells = [
        new_code_cell(
            "# The live leaderboard of a challenge, read from the ledger that `kit grade` and `kit watch`\n"
            "# write: `kit board ID` serves this notebook with Voila (the public class screen by default),\n"
            "# and it opens in JupyterLab for the organiser. It redraws when a new result arrives.\n"
            "# Parameters: the environment variables `kit board` sets (papermill can override them).\n"
            "import os\n\n"
            'challenge = os.environ.get("KIT_BOARD_CHALLENGE", "breast-cancer")\n'
            'workdir = os.environ.get("KIT_BOARD_WORKDIR", "../kit-demo")  # where the ledger is\n'
            'root = os.environ.get("KIT_BOARD_ROOT") or None  # folder of starter_kits/ and grading/\n'
            'audience = os.environ.get("KIT_BOARD_AUDIENCE", "organiser")  # "public": the read-only class screen\n'
            'view = os.environ.get("KIT_BOARD_VIEW") or None  # "screen" or "desk" (default: by audience)\n'
            'refresh_seconds = float(os.environ.get("KIT_BOARD_REFRESH", "0.25"))  # 0: no live updates\n'
            'export_dir = os.environ.get("KIT_BOARD_EXPORTS") or None',
            metadata={"tags": ["parameters"]},
        ),
        new_code_cell(
            "from kit.widgets import LeaderboardApp\n\n"
            "app = LeaderboardApp(challenge, workdir=workdir, root=root, audience=audience, view=view,\n"
            "                     refresh_seconds=refresh_seconds, export_dir=export_dir)\n"
            "app"
        ),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i:02d}"
    return nb


def notebook_path(root=None) -> Path:
    """The repository's leaderboard notebook, or a fresh copy when the kit is installed without it."""
    p = find_root(root) / NOTEBOOK
    if p.exists():
        return p
    tmp = Path(tempfile.mkdtemp(prefix="kit-board-")) / "leaderboard.ipynb"
    nbformat.write(board_notebook(), tmp)
    return tmp


def voila_command(
    challenge,
    *,
    workdir,
    root=None,
    audience="organiser",
    view=None,
    port=8866,
    ip="127.0.0.1",
    refresh_seconds=POLL_SECONDS,
    export_dir=None,
    pool_size=PREHEATED_KERNELS,
) -> tuple[list[str], dict]:
    """The Voilà command line and environment that serve the board of ``challenge``.

    Voilà keeps ``pool_size`` kernels that have already run the notebook (its preheated pool),
    and :mod:`kit.widgets.serve` listens only once they have: a visitor gets a rendered board at
    once instead of waiting for a kernel to start and import the kit. A kernel taken from the
    pool is replaced :data:`REFILL_DELAY` seconds later. Tracebacks are shown to the organiser
    only.
    """
    ch = load_challenge(challenge, root=root)
    env = dict(os.environ)
    env.update(
        {
            "KIT_BOARD_CHALLENGE": ch.id,
            "KIT_BOARD_WORKDIR": str(Path(workdir).resolve()),
            "KIT_BOARD_ROOT": str(ch.root.resolve()),
            "KIT_BOARD_AUDIENCE": audience,
            "KIT_BOARD_VIEW": view or "",
            "KIT_BOARD_REFRESH": str(refresh_seconds),
            "KIT_BOARD_EXPORTS": str(Path(export_dir).resolve()) if export_dir else "",
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "kit.widgets.serve",
        str(notebook_path(ch.root)),
        f"--port={port}",
        "--no-browser",
        f"--Voila.ip={ip}",
        f"--show_tracebacks={audience == 'organiser'}",
        *(f"--VoilaConfiguration.extension_allowlist={ext}" for ext in FRONTEND_EXTENSIONS),
    ]
    if pool_size > 0:
        cmd += ["--preheat_kernel=True", f"--pool_size={pool_size}", f"--VoilaKernelManager.fill_delay={REFILL_DELAY}"]
    return cmd, env


def serve_board(challenge, **kwargs):
    """Serve the board until interrupted: this process becomes the Voilà server (exec), so a
    signal sent to it reaches Voilà, which shuts its kernels down."""
    cmd, env = voila_command(challenge, **kwargs)
    os.execve(cmd[0], cmd, env)

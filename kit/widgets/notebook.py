"""The leaderboard notebook (notebooks/leaderboard.ipynb) and serving it with Voilà (`kit board`)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ..challenge import find_root, load_challenge

NOTEBOOK = Path("notebooks") / "leaderboard.ipynb"


def board_notebook():
    cells = [
        new_markdown_cell(
            "# Leaderboard\n\n"
            "The live leaderboard of a challenge, read from the ledger that `kit grade` writes. Choose the\n"
            "challenge and the board (public while the challenge is open, private after it closes), search a\n"
            "team, sort, tick *intervals* for the paired bootstrap confidence intervals and rank ranges, see a\n"
            "team's history, draw the plots, export the board. It refreshes itself when new results arrive.\n\n"
            "`kit board ID` serves this notebook with Voilà for a class screen; papermill can run it headless.\n"
            "The next cell holds its parameters (environment variables set by `kit board`)."
        ),
        new_code_cell(
            "import os\n\n"
            'challenge = os.environ.get("KIT_BOARD_CHALLENGE", "breast-cancer")\n'
            'workdir = os.environ.get("KIT_BOARD_WORKDIR", "../kit-demo")  # where the ledger is\n'
            'root = os.environ.get("KIT_BOARD_ROOT") or None  # folder of starter_kits/ and grading/\n'
            'audience = os.environ.get("KIT_BOARD_AUDIENCE", "organiser")  # "public": no private results while open\n'
            'refresh_seconds = float(os.environ.get("KIT_BOARD_REFRESH", "10"))\n'
            'export_dir = os.environ.get("KIT_BOARD_EXPORTS") or None',
            metadata={"tags": ["parameters"]},
        ),
        new_code_cell(
            "from kit.widgets import LeaderboardApp\n\n"
            "app = LeaderboardApp(challenge, workdir=workdir, root=root, audience=audience,\n"
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
    port=8866,
    ip="127.0.0.1",
    refresh_seconds=10.0,
    export_dir=None,
) -> tuple[list[str], dict]:
    """The Voilà command line and environment that serve the board of ``challenge``."""
    ch = load_challenge(challenge, root=root)
    env = dict(os.environ)
    env.update(
        {
            "KIT_BOARD_CHALLENGE": ch.id,
            "KIT_BOARD_WORKDIR": str(Path(workdir).resolve()),
            "KIT_BOARD_ROOT": str(ch.root.resolve()),
            "KIT_BOARD_AUDIENCE": audience,
            "KIT_BOARD_REFRESH": str(refresh_seconds),
            "KIT_BOARD_EXPORTS": str(Path(export_dir).resolve()) if export_dir else "",
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(notebook_path(ch.root)),
        f"--port={port}",
        "--no-browser",
        f"--Voila.ip={ip}",
        "--show_tracebacks=True",
    ]
    return cmd, env


def serve_board(challenge, **kwargs):
    """Serve the board until interrupted: this process becomes the Voilà server (exec), so a
    signal sent to it reaches Voilà, which shuts its kernels down."""
    cmd, env = voila_command(challenge, **kwargs)
    os.execve(cmd[0], cmd, env)

"""Write notebooks/leaderboard.ipynb (the widget leaderboard that `kit board` serves with Voilà)."""

from pathlib import Path

import nbformat

from kit.widgets.notebook import NOTEBOOK, board_notebook

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    nbformat.write(board_notebook(), ROOT / NOTEBOOK)
    print(f"wrote {NOTEBOOK}")

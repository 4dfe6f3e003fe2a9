"""Write the starter notebook, the starter kit's README and the hidden grading notebook
of each shipped challenge (kit.authoring.notebooks.write_notebooks).

The files are committed; this script is how they are made, so that every
challenge's kit shares one structure. Run: python scripts/make_notebooks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit.authoring.notebooks import grading_notebook, starter_notebook, starter_readme, write_notebooks  # noqa: E402
from kit.challenge import list_challenges, load_challenge  # noqa: E402

# the names tests/test_docs.py compares the committed files with
starter, grader = starter_notebook, grading_notebook
__all__ = ["grader", "main", "starter", "starter_readme"]


def main() -> None:
    for cid in list_challenges(ROOT):
        for path in write_notebooks(load_challenge(cid, root=ROOT)):
            print("wrote", path.relative_to(ROOT))


if __name__ == "__main__":
    main()

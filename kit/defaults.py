"""Defaults shared by the library and the ``kit`` command line, each written once.

The library's functions take their defaults from here, and so do the CLI's options: this
module imports nothing, so that ``kit --help`` stays instant.
"""

from __future__ import annotations

#: the work folder of a grader (the CLI also reads ``$KIT_WORKDIR``)
DEFAULT_WORKDIR = "kit-work"
#: the folder `kit demo` writes into (replaced on every run)
DEMO_WORKDIR = "kit-demo"
DEMO_CHALLENGE = "breast-cancer"

# -- grading ----------------------------------------------------------------------------
#: notebooks run at once; on 2 cores, 3 were no faster than 2
DEFAULT_WORKERS = 2
DEFAULT_SANDBOX = "bubblewrap"
DEFAULT_EXECUTOR = "local"
#: scored results are recorded at least every so many submissions of a batch
DEFAULT_SCORE_EVERY = 200
#: seconds between looks at a watched hand-in folder, when inotify is not available
WATCH_INTERVAL = 0.1

# -- boards -----------------------------------------------------------------------------
PHASES = ("auto", "public", "private")
DEFAULT_PHASE = "auto"
SELECTIONS = ("best", "last", "chosen")
#: ``chosen`` is ``best`` on a public board and honours the teams' chosen finals on the private one
DEFAULT_SELECTION = "chosen"
#: bootstrap resamples of the board statistics (intervals, rank ranges, P(first), tied top)
DEFAULT_RESAMPLES = 1000
DEFAULT_FORMAT = "table"
#: winners, and teams whose subgroup results a card reports
DEFAULT_TOP = 3

# -- the live board ----------------------------------------------------------------------
AUDIENCES = ("organiser", "public")
BOARD_AUDIENCE = "public"
BOARD_PORT = 8866
BOARD_IP = "127.0.0.1"
BOARD_REFRESH = 0.25  # seconds between cheap checks of the ledger's size and time (kit.widgets.live)

# -- the board's statistics (the names of kit.leaderboard.stats' registries, for the CLI's choices without
# importing them; a test checks they agree)
LADDER_RULES = ("fixed", "parameter-free")
INTERVALS = ("auto", "bca", "percentile", "studentized")

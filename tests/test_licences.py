"""Licences of the winners' code: SPDX expressions and names through license-expression, licence files
recognised by their text, declarations in notebooks, and the hand-in folder a release carries."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from kit.challenge import load_challenge
from kit.labels import read_labels
from kit.ledger import Ledger, RunRecord, utcnow
from kit.release import release
from kit.release.licences import (
    NOT_OSI,
    OSI_APPROVED,
    hand_in_licence,
    licence_id,
    licence_of_text,
    notebook_licence,
    spdx_check,
)
from kit.release.winners import MAX_FILE_BYTES, folder_files, hand_in_folder
from kit.scoring import score_file

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

MIT_TEXT = """MIT License

Copyright (c) 2026 Team Alpha

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
"""
BSD3_TEXT = """BSD 3-Clause License

Copyright (c) 2026, Team Beta
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.
"""
APACHE_TEXT = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION
"""
GPL3_TEXT = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
"""
GPL_NOTICE = """Copyright (C) 2026 Team Gamma

This program is free software: you can redistribute it and/or modify
it under the terms of the GNU General Public License as published by
the Free Software Foundation, either version 3 of the License, or
(at your option) any later version.
"""


def nb_json(cells=(), metadata=None) -> dict:
    return {
        "cells": [{"cell_type": kind, "source": text, "metadata": {}} for kind, text in cells],
        "metadata": metadata or {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


# -- SPDX ids, names and expressions -----------------------------------------------------------------
def test_every_osi_id_is_an_spdx_id_license_expression_knows():
    from license_expression import get_spdx_licensing

    known = get_spdx_licensing().known_symbols
    assert sorted(OSI_APPROVED - set(known)) == []
    for spdx in sorted(OSI_APPROVED):
        assert spdx_check(spdx) == (True, spdx, ""), spdx
        assert spdx_check(spdx.lower())[:2] == (True, spdx), spdx  # case does not matter


def test_every_known_non_osi_licence_is_refused_with_its_reason():
    for spdx, why in NOT_OSI.items():
        ok, expr, reason = spdx_check(spdx)
        assert (ok, expr, reason) == (False, spdx, why), spdx


@pytest.mark.parametrize(
    "name, spdx",
    [
        ("Apache License 2.0", "Apache-2.0"),
        ("Apache License, Version 2.0", "Apache-2.0"),
        ("Apache 2", "Apache-2.0"),
        ("apache-2.0", "Apache-2.0"),
        ("MIT License", "MIT"),
        ("The MIT License (MIT)", "MIT"),
        ("MIT No Attribution", "MIT-0"),
        ("BSD 3-Clause", "BSD-3-Clause"),
        ('BSD 3-Clause "New" or "Revised" License', "BSD-3-Clause"),
        ("3-clause BSD", "BSD-3-Clause"),
        ('BSD 2-Clause "Simplified" License', "BSD-2-Clause"),
        ("GNU GPL v3", "GPL-3.0-only"),
        ("GPLv3+", "GPL-3.0-or-later"),
        ("GNU General Public License v3.0 or later", "GPL-3.0-or-later"),
        ("GPL-3.0", "GPL-3.0-only"),  # deprecated id
        ("GNU Lesser General Public License v2.1", "LGPL-2.1-only"),
        ("AGPLv3", "AGPL-3.0-only"),
        ("Mozilla Public License 2.0", "MPL-2.0"),
        ("EUPL 1.2", "EUPL-1.2"),
        ("Boost Software License 1.0", "BSL-1.0"),
        ("The Unlicense", "Unlicense"),
        ("ISC License", "ISC"),
        ("CC BY 4.0", "CC-BY-4.0"),
        ("Creative Commons Attribution 4.0 International", "CC-BY-4.0"),
        ("CC BY-NC-SA 4.0", "CC-BY-NC-SA-4.0"),
        ("CC0", "CC0-1.0"),
        ("proprietary", None),
        ("GPL", None),  # which version?
        ("BSD", None),
    ],
)
def test_licence_names_map_to_spdx_ids(name, spdx):
    assert licence_id(name) == spdx


@pytest.mark.parametrize(
    "expression, canonical, eligible",
    [
        ("MIT", "MIT", True),
        ("Apache-2.0 OR MIT", "Apache-2.0 OR MIT", True),
        ("mit or apache-2.0", "MIT OR Apache-2.0", True),
        ("GPL-3.0-or-later WITH Classpath-exception-2.0", "GPL-3.0-or-later WITH Classpath-exception-2.0", True),
        ("Apache License 2.0 OR MIT License", "Apache-2.0 OR MIT", True),
        ("(MIT OR Apache-2.0) AND BSD-2-Clause", "(MIT OR Apache-2.0) AND BSD-2-Clause", True),
        ("MIT OR CC0-1.0", "MIT OR CC0-1.0", True),  # one OSI alternative is enough
        ("MIT AND CC0-1.0", "MIT AND CC0-1.0", False),  # both must be
        ("GPL-3.0+", "GPL-3.0-or-later", True),
        ("CC BY 4.0", "CC-BY-4.0", False),
        ("LicenseRef-our-terms", "LicenseRef-our-terms", False),
        ("MIT WITH Apache-2.0", "MIT WITH Apache-2.0", False),  # not an exception
        ("MIT OR", "MIT OR", False),
    ],
)
def test_spdx_expressions(expression, canonical, eligible):
    ok, expr, reason = spdx_check(expression)
    assert (ok, expr) == (eligible, canonical)
    assert bool(reason) != eligible


def test_reasons_name_what_was_found_and_the_fix():
    ok, _, reason = spdx_check("proprietary")
    assert not ok and "'proprietary' is not an SPDX licence id" in reason and "LICENSE file" in reason
    assert "not an SPDX licence expression" in spdx_check("MIT OR")[2]
    assert "cannot be used as an exception" in spdx_check("MIT WITH Apache-2.0")[2]
    assert "which version?" in spdx_check("GNU GPL")[2] and "GPL-3.0-or-later" in spdx_check("GNU GPL")[2]
    assert "custom licence" in spdx_check("LicenseRef-our-terms")[2]
    assert "content, not code" in spdx_check("CC BY 4.0")[2]


# -- licence files -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, spdx",
    [
        (MIT_TEXT, "MIT"),
        (MIT_TEXT.replace("MIT License\n", "").replace("Copyright", "# Copyright"), "MIT"),  # no title, markdown
        (BSD3_TEXT, "BSD-3-Clause"),
        (BSD3_TEXT.split("3. Neither")[0], "BSD-2-Clause"),
        (APACHE_TEXT, "Apache-2.0"),
        ("Copyright 2026 Team Delta\n" + APACHE_TEXT, "Apache-2.0"),
        (GPL3_TEXT, "GPL-3.0-only"),  # the text alone does not say "or later"
        (GPL_NOTICE, "GPL-3.0-or-later"),
        (GPL3_TEXT.replace("GENERAL", "LESSER GENERAL"), "LGPL-3.0-only"),
        ("SPDX-License-Identifier: MPL-2.0\n\nsee https://mozilla.org/MPL/2.0/", "MPL-2.0"),
        (BSD3_TEXT + "\n\nBundled code:\n" + GPL3_TEXT, "BSD-3-Clause"),  # the first licence is the team's
        (MIT_TEXT.replace("copies or substantial", "copies, for non-commercial use only, or substantial"), None),
        ("Copyright 2026 Team Epsilon. All rights reserved.", None),
        ("", None),
    ],
)
def test_licence_files_are_recognised_by_their_text(text, spdx):
    assert licence_of_text(text) == spdx


# -- where a hand-in declares its licence -----------------------------------------------------------------
def folder_with(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "hand-in"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_licence_file_in_the_hand_in_folder_is_found(tmp_path):
    folder = folder_with(tmp_path, {"LICENSE": MIT_TEXT})
    check = hand_in_licence(nb_json([("code", "import pandas")]), folder)
    assert (check.licence, check.source, check.eligible, check.reason) == ("MIT", "LICENSE", True, "")
    # the notebook alone declares nothing: its folder was the only place
    assert not notebook_licence(nb_json([("code", "import pandas")])).eligible
    for name in ("LICENSE.md", "LICENCE.txt", "COPYING", "license"):
        other = tmp_path / name.replace(".", "-")
        other.mkdir()
        (other / name).write_text(BSD3_TEXT, encoding="utf-8")
        assert hand_in_licence(nb_json(), other).licence == "BSD-3-Clause", name


@pytest.mark.parametrize(
    "nb, licence, source",
    [
        (nb_json(metadata={"license": "Apache License 2.0"}), "Apache-2.0", "metadata.license"),
        (nb_json([("code", "# License: MIT\nimport numpy")]), "MIT", "cell 0"),
        (
            nb_json([("code", "import numpy\n# SPDX-License-Identifier: Apache-2.0 OR MIT")]),
            "Apache-2.0 OR MIT",
            "cell 0",
        ),
        (nb_json([("markdown", "# Team\n"), ("markdown", "**Licence:** [MIT](LICENSE)")]), "MIT", "cell 1"),
        (nb_json([("markdown", "This notebook is released under the MIT License.")]), "MIT", "cell 0"),
        (nb_json([("markdown", "Licensed under the Apache License, Version 2.0")]), "Apache-2.0", "cell 0"),
        (
            nb_json([("code", "# License: MIT")], metadata={"license": {"spdx": "mit"}}),
            "MIT",
            "metadata.license, cell 0",
        ),
    ],
)
def test_declarations_in_the_notebook(nb, licence, source):
    check = hand_in_licence(nb)
    assert (check.licence, check.source, check.eligible) == (licence, source, True)


def test_what_is_not_a_declaration():
    # code that happens to hold a licence, and the data's licence, are not the code's licence
    nb = nb_json([("code", 'license = "MIT"'), ("markdown", "The data are released under CC BY 4.0.")])
    assert "no licence declared" in hand_in_licence(nb).reason


def test_an_unknown_or_proprietary_licence_is_not_eligible_with_a_clear_message(tmp_path):
    check = hand_in_licence(nb_json([("markdown", "License: proprietary")]))
    assert not check.eligible and check.licence == "proprietary" and check.source == "cell 0"
    assert check.reason.startswith("cell 0: 'proprietary' is not an SPDX licence id")
    assert "add a LICENSE file" in check.reason and "SPDX-License-Identifier" in check.reason
    # a licence file the kit cannot read: not eligible, the file and its first line named
    folder = folder_with(tmp_path, {"LICENSE": "Copyright 2026 Team Epsilon. All rights reserved.\n"})
    check = hand_in_licence(nb_json([("markdown", "License: MIT")]), folder)
    assert not check.eligible and check.source == "LICENSE"
    assert "'Copyright 2026 Team Epsilon. All rights reserved.'" in check.reason
    assert "is not a licence the kit recognises" in check.reason and "SPDX-License-Identifier" in check.reason


def test_places_must_agree(tmp_path):
    folder = folder_with(tmp_path, {"LICENSE": MIT_TEXT})
    clash = hand_in_licence(nb_json(metadata={"license": "Apache-2.0"}), folder)
    assert not clash.eligible and clash.licence == "MIT | Apache-2.0" and clash.source == "LICENSE, metadata.license"
    assert "conflicting" in clash.reason and "declare one licence" in clash.reason
    # a GNU licence text says neither "only" nor "or later": the notebook may say which
    gpl = tmp_path / "gpl"
    gpl.mkdir()
    (gpl / "COPYING").write_text(GPL3_TEXT, encoding="utf-8")
    check = hand_in_licence(nb_json([("code", "# SPDX-License-Identifier: GPL-3.0-or-later")]), gpl)
    assert (check.licence, check.source, check.eligible) == ("GPL-3.0-or-later", "COPYING, cell 0", True)


def test_notebooks_are_read_from_json_bytes_and_paths(tmp_path):
    nb = nb_json([("code", "# License: MIT")])
    path = tmp_path / "model.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert hand_in_licence(path) == hand_in_licence(json.dumps(nb).encode()) == hand_in_licence(nb)
    assert "not valid JSON" in hand_in_licence(b"{nope").reason


# -- the hand-in folder ----------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def team_folder(root: Path, team: str = "Alpha", licence: str | None = MIT_TEXT, data: Path | None = None) -> Path:
    """``root/<team>/``: a notebook and everything else a team may leave beside it."""
    folder = root / team
    (folder / "src").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), folder / "model.ipynb")
    if licence:
        (folder / "LICENSE").write_text(licence, encoding="utf-8")
    (folder / "environment.yml").write_text("name: alpha\ndependencies: [python=3.11, pandas]\n", encoding="utf-8")
    (folder / "requirements-extra.txt").write_text("lightgbm\n", encoding="utf-8")
    (folder / "src" / "features.py").write_text("def features(df):\n    return df\n", encoding="utf-8")
    (folder / "README.md").write_text("# Alpha\n", encoding="utf-8")
    # never released:
    (folder / "train.csv").write_text("id,y\n1,2\n", encoding="utf-8")  # data
    (folder / "draft.ipynb").write_text("{}", encoding="utf-8")  # another hand-in
    (folder / "weights.pkl").write_bytes(b"\x80\x04")  # not code
    (folder / ".env").write_text("TOKEN=secret\n", encoding="utf-8")  # hidden
    (folder / ".cache").mkdir()
    (folder / ".cache" / "x.py").write_text("", encoding="utf-8")
    (folder / "huge.py").write_bytes(b"#" * (MAX_FILE_BYTES + 1))  # over the size limit
    if data is not None:
        shutil.copy(data, folder / "data.md")  # a challenge data file under another name
    os.symlink("/etc/passwd", folder / "passwd.txt")
    os.symlink(folder / "src" / "features.py", folder / "link.py")
    return folder


def test_folder_files_keep_code_and_drop_data(tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("id,y\n1,2\n3,4\n", encoding="utf-8")
    folder = team_folder(tmp_path / "submissions", data=data)
    files = folder_files(folder, recursive=True, shipped=frozenset({sha256(data)}))
    assert list(files) == ["LICENSE", "README.md", "environment.yml", "requirements-extra.txt", "src/features.py"]
    assert list(folder_files(folder, recursive=False)) == [
        "LICENSE",
        "README.md",
        "data.md",  # the challenge's file is only known by its hash
        "environment.yml",
        "requirements-extra.txt",
    ]


def test_the_hand_in_folder_is_found_from_the_ledger_row(tmp_path):
    root = tmp_path / "submissions"
    folder = team_folder(root)
    nb = folder / "model.ipynb"
    row = {"team": "Alpha", "filename": "model.ipynb", "sha256": sha256(nb), "size": nb.stat().st_size}
    # kit grade submissions/ : <root>/<team>/<file>, the team folder read recursively
    assert hand_in_folder({**row, "source": str(root)}) == (folder, nb, True)
    # kit grade submissions/Alpha : the team's files directly in the folder, its sub-folders are other teams'
    assert hand_in_folder({**row, "source": str(folder)}) == (folder, nb, False)
    # another team's name (kit grade --team) is found by content
    assert hand_in_folder({**row, "team": "Renamed", "source": str(root)}) == (folder, nb, True)
    # not there, changed since, or an nbgrader course: the stored notebook alone
    assert hand_in_folder({**row, "source": str(tmp_path / "gone")}) is None
    assert hand_in_folder({**row, "source": str(root), "sha256": "0" * 64}) is None
    assert hand_in_folder({**row, "source": "nbgrader:ps1"}) is None
    assert hand_in_folder({**row, "source": ""}) is None


# -- the release -----------------------------------------------------------------------------------------------
def record(led: Ledger, ch, labels, *, team, stored: Path, source: str, kind: str, skill: float, at: int) -> None:
    """Record a scored hand-in as intake does: its stored copy, its original name and the folder it came from."""
    y = labels.y_true()
    rng = np.random.default_rng(at)
    predictions = stored.parent / f"{at}.predictions.csv"
    p = skill * y + (1 - skill) * rng.normal(y.mean(), y.std(), len(y))
    pd.DataFrame({ch.spec.id_column: labels.ids, ch.spec.target[0]: p}).to_csv(predictions, index=False)
    res = score_file(ch, labels, predictions)
    assert res.status == "scored", res.error
    filename = "model.ipynb"
    if kind == "predictions":
        stored, filename = predictions, predictions.name
    sid, _ = led.add_submission(
        challenge=ch.id,
        team=team,
        kind=kind,
        filename=filename,
        sha256=sha256(stored),
        size=stored.stat().st_size,
        stored_path=str(stored),
        source=source,
        submitted_at=f"2026-02-0{at}T10:00:00+00:00",
    )
    run = RunRecord(
        sid, "scored", "score", utcnow(), scores=res.scores, case_predictions=res.per_case["prediction"].to_numpy()
    )
    led.add_run(run)


def test_a_release_carries_the_winners_hand_in_folder_and_its_licence(tmp_path):
    from test_release import CLOSED, RESAMPLES

    ch = load_challenge("diabetes", root=ROOT)
    labels = read_labels(ch)
    root = tmp_path / "submissions"
    folder = team_folder(root, "Alpha", data=ch.path("train"))
    team_folder(root, "Beta", licence=None)  # no licence anywhere: not eligible, nothing released
    store = tmp_path / "work" / "store"
    store.mkdir(parents=True)
    with Ledger(tmp_path / "work" / "ledger.sqlite") as led:
        for i, (team, skill) in enumerate([("Alpha", 0.9), ("Beta", 0.7)], start=1):
            stored = store / f"{i}.ipynb"
            shutil.copy(root / team / "model.ipynb", stored)
            record(led, ch, labels, team=team, stored=stored, source=str(root), kind="notebook", skill=skill, at=i)
        record(led, ch, labels, team="Gamma", stored=store / "x", source="", kind="predictions", skill=0.5, at=3)
    result = release(ch, workdir=tmp_path / "work", now=CLOSED, n_resamples=RESAMPLES)

    alpha, beta, gamma = result.winners
    base = "winners/1-Alpha-1"
    assert (alpha.licence, alpha.licence_source, alpha.eligible) == ("MIT", "LICENSE", True)
    assert alpha.notebook == f"{base}/model.ipynb"
    expected = [
        f"{base}/{rel}"
        for rel in (
            "LICENSE",
            "README.md",
            "environment.yml",
            "model.ipynb",
            "requirements-extra.txt",
            "src/features.py",
        )
    ]
    assert list(alpha.files) == expected
    assert sorted(p for p in result.files if p.startswith("winners/")) == expected  # nothing of Beta's
    for rel in ("model.ipynb", "LICENSE", "environment.yml", "src/features.py"):
        assert (result.folder / base / rel).read_bytes() == (folder / rel).read_bytes(), rel
    assert not beta.eligible and "no licence declared" in beta.reason and beta.files == ()
    assert not gamma.eligible and "predictions file" in gamma.reason
    # the winners' table records the licence and where it was found, and the files
    table = pd.read_csv(result.folder / "winners.csv", keep_default_na=False)
    row = table.iloc[0]
    assert (row["licence"], row["licence_source"], row["prize_eligible"]) == ("MIT", "LICENSE", "yes")
    assert row["files"].split(";") == expected
    md = (result.folder / "winners.md").read_text(encoding="utf-8")
    assert "| MIT | LICENSE | yes |" in md and f"{base}/environment.yml" in md
    # listed in the manifest and the zip, like every other file
    manifest = (result.folder / "MANIFEST.sha256").read_text(encoding="utf-8")
    with zipfile.ZipFile(result.zip_path) as zf:
        names = set(zf.namelist())
    for rel in expected:
        assert f"  {rel}\n" in manifest and f"{result.folder.name}/{rel}" in names

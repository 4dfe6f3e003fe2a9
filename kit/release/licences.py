"""Licences of the winners' code: where a hand-in declares one, its SPDX expression, and whether it is open source.

**Where** (:func:`hand_in_licence`), in this order, every place found being reported:

1. a licence file at the top of the team's hand-in folder (``LICENSE``, ``LICENCE``,
   ``COPYING``, with or without ``.md``/``.txt``/``.rst``): an ``SPDX-License-Identifier:``
   line in it, else its text recognised by :func:`licence_of_text`;
2. the notebook's ``metadata.license`` (or ``licence``; a string, or a mapping with
   ``spdx``/``id``/``name``);
3. a code cell: an ``SPDX-License-Identifier: ...`` line or a ``# License: ...`` comment;
4. a markdown cell: a ``License: ...`` line (``**Licence:** [MIT](LICENSE)``), a
   ``Licensed under ...`` line, or "this code/notebook is released under ...".

Every place must name the same licence: two different ones are a conflict (not
eligible; the organiser cannot tell which applies), and so is a licence file whose
text is not recognised. The GNU licence texts do not say "only" or "or later": a
GNU licence file agrees with a declaration of either.

**What** (:func:`spdx_check`): an SPDX expression (``MIT``, ``Apache-2.0 OR MIT``,
``GPL-3.0-or-later WITH Classpath-exception-2.0``) parsed and validated by
``license-expression``; ids are case-insensitive and deprecated ids are updated
(``GPL-3.0+`` -> ``GPL-3.0-or-later``). Common names are mapped to SPDX ids
(:func:`licence_id`: ``Apache License 2.0``, ``MIT License``, ``BSD 3-Clause``,
``GNU GPL v3``, ``CC BY 4.0``) through the library's own key data (SPDX ids, their
aliases and ScanCode keys) after a few documented rewrites of the usual words.

**Rule** (kept from the kit's first release): prize-eligible means OSI-approved.
``license-expression`` carries no OSI flag, so the OSI-approved SPDX ids are listed
here (:data:`OSI_APPROVED`, the SPDX list's ``isOsiApproved``; the tests check that
the library knows each one). ``A OR B`` is eligible when one alternative is;
``A AND B`` when both are; ``A WITH exception`` when ``A`` is (an exception only adds
permissions; the library checks that it is one). CC0-1.0 is *not* accepted: the OSI
never approved it (its waiver explicitly keeps patent rights); a public-domain-like
alternative is MIT-0 or 0BSD.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# -- the rule ------------------------------------------------------------------------------------------
#: OSI-approved licences by SPDX identifier (canonical spelling)
OSI_APPROVED = frozenset(
    """
0BSD AAL AFL-1.1 AFL-1.2 AFL-2.0 AFL-2.1 AFL-3.0 AGPL-3.0-only AGPL-3.0-or-later Apache-1.1 Apache-2.0
APL-1.0 APSL-1.0 APSL-1.1 APSL-1.2 APSL-2.0 Artistic-1.0 Artistic-1.0-cl8 Artistic-1.0-Perl Artistic-2.0
BlueOak-1.0.0 BSD-1-Clause BSD-2-Clause BSD-2-Clause-Patent BSD-3-Clause BSD-3-Clause-LBNL BSL-1.0 CAL-1.0
CAL-1.0-Combined-Work-Exception CATOSL-1.1 CDDL-1.0 CECILL-2.1 CERN-OHL-P-2.0 CERN-OHL-S-2.0 CERN-OHL-W-2.0
CNRI-Python CPAL-1.0 CPL-1.0 CUA-OPL-1.0 ECL-1.0 ECL-2.0 EFL-1.0 EFL-2.0 Entessa EPL-1.0 EPL-2.0 EUDatagrid
EUPL-1.1 EUPL-1.2 Fair Frameworx-1.0 GPL-2.0-only GPL-2.0-or-later GPL-3.0-only GPL-3.0-or-later HPND Intel
IPA IPL-1.0 ISC LGPL-2.0-only LGPL-2.0-or-later LGPL-2.1-only LGPL-2.1-or-later LGPL-3.0-only LGPL-3.0-or-later
LiLiQ-P-1.1 LiLiQ-R-1.1 LiLiQ-Rplus-1.1 LPL-1.0 LPL-1.02 LPPL-1.3c MirOS MIT MIT-0 MIT-Modern-Variant Motosoto
MPL-1.0 MPL-1.1 MPL-2.0 MPL-2.0-no-copyleft-exception MS-PL MS-RL MulanPSL-2.0 Multics NASA-1.3 Naumen NCSA
NGPL Nokia NPOSL-3.0 NTP OCLC-2.0 OFL-1.1 OFL-1.1-no-RFN OFL-1.1-RFN OGTSL OLDAP-2.8 OSET-PL-2.1 OSL-1.0
OSL-2.0 OSL-2.1 OSL-3.0 PHP-3.0 PHP-3.01 PostgreSQL Python-2.0 QPL-1.0 RPL-1.1 RPL-1.5 RPSL-1.0 RSCPL
SimPL-2.0 SISSL Sleepycat SPL-1.0 UCL-1.0 Unicode-DFS-2016 Unlicense UPL-1.0 VSL-1.0 W3C Watcom-1.0 Xnet Zlib
ZPL-2.0 ZPL-2.1
""".split()
)
#: licences people declare for code that the OSI has not approved, and why
NOT_OSI = {
    "CC0-1.0": "CC0-1.0 is not OSI-approved (its waiver explicitly keeps patent rights); for public-domain-like "
    "code use MIT-0 or 0BSD",
    "CC-BY-4.0": "CC-BY-4.0 is a licence for content, not code, and is not OSI-approved",
    "CC-BY-SA-4.0": "CC-BY-SA-4.0 is a licence for content, not code, and is not OSI-approved",
    "CC-BY-NC-4.0": "CC-BY-NC-4.0 forbids commercial use: not an open-source licence",
    "CC-BY-NC-SA-4.0": "CC-BY-NC-SA-4.0 forbids commercial use: not an open-source licence",
    "CC-BY-ND-4.0": "CC-BY-ND-4.0 forbids derivatives: not an open-source licence",
    "WTFPL": "WTFPL is not OSI-approved",
    "JSON": 'the JSON licence is not OSI-approved ("for Good, not Evil")',
    "SSPL-1.0": "SSPL-1.0 is not OSI-approved",
    "BUSL-1.1": "BUSL-1.1 is source-available, not open source",
    "Elastic-2.0": "Elastic-2.0 is source-available, not open source",
    "NONE": "NONE: no licence is granted",
    "NOASSERTION": "NOASSERTION: no licence is stated",
}
HOW_TO_DECLARE = (
    "add a LICENSE file with an OSI-approved licence's text to the hand-in folder, or declare its SPDX id "
    "in the notebook: a markdown line `License: MIT`, a comment `# SPDX-License-Identifier: MIT`, "
    "or metadata.license"
)
#: the names of a licence file in a hand-in folder
LICENCE_FILE = re.compile(r"(?:licen[cs]e|copying)(?:\.(?:md|txt|rst))?", re.I)
MAX_LICENCE_FILE_BYTES = 512 * 1024


@dataclass(frozen=True)
class LicenceCheck:
    """The licence a hand-in declares and whether it makes the team prize-eligible."""

    licence: str = ""  # the declared SPDX expression (canonical spelling), "" when none
    source: str = ""  # where it was found, in order: LICENSE, metadata.license, cell 3
    eligible: bool = False
    reason: str = ""  # why not eligible ("" when eligible)


# -- SPDX ids and common names ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _licensing():
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@lru_cache(maxsize=1)
def _known_ids() -> dict[str, str]:
    """Lower-case key -> SPDX id: the SPDX ids, their other SPDX keys, then the ScanCode keys (``bsd-new``)."""
    from license_expression import get_license_index

    index = [e for e in get_license_index() if e.get("spdx_license_key") and not e.get("is_deprecated")]
    ids: dict[str, str] = {e["spdx_license_key"].lower(): e["spdx_license_key"] for e in index}
    for e in index:
        for alias in e.get("other_spdx_license_keys") or ():
            if not alias.lower().startswith("licenseref-"):
                ids.setdefault(alias.lower(), e["spdx_license_key"])
    for e in index:
        if not e["spdx_license_key"].startswith("LicenseRef-"):
            ids.setdefault(e["license_key"].lower(), e["spdx_license_key"])
    return ids


#: rewrites of a lower-cased licence name, in order, before its words are looked up as a key
_REWRITES = [
    (r"\b(?:gnu\s+)?affero\s+(?:general\s+public|gpl)\b", "agpl"),
    (r"\b(?:gnu\s+)?(?:lesser|library)\s+(?:general\s+public|gpl)\b|\bgnu\s+lgpl\b", "lgpl"),
    (r"\b(?:gnu\s+)?general\s+public\b|\bgnu\s+gpl\b", "gpl"),
    (r"\bmozilla\s+public\b", "mpl"),
    (r"\beclipse\s+public\b", "epl"),
    (r"\beuropean\s+union\s+public\b", "eupl"),
    (r"\bboost\s+software\b", "bsl"),
    (r"\bacademic\s+free\b", "afl"),
    (r"\bopen\s+software\b", "osl"),
    (r"\buniversal\s+permissive\b", "upl"),
    (r"[\"“”]?new[\"“”]?\s+or\s+[\"“”]?revised[\"“”]?", " "),  # BSD 3-Clause "New" or "Revised"
    (r"\bmit\s+no\s+attribution\b", "mit-0"),
    (r"\b(?:creative\s+commons|cc)\s+zero\b", "cc0"),
    (r"\bcc0(?:\s+universal)?$", "cc0 1.0"),
    (r"\bcreative\s+commons\b", "cc"),
    (r"\battribution\b", "by"),
    (r"\bshare\s*-?\s*alike\b", "sa"),
    (r"\bnon\s*-?\s*commercial\b", "nc"),
    (r"\bno\s*-?\s*deriv(?:ative)?s?\b", "nd"),
    (r"\b(?:zero|0)\s*-?\s*clause\s+bsd\b|\bbsd\s+(?:zero|0)\s*-?\s*clause\b", "0bsd"),
    (r"\b([1-4])\s*-?\s*clause\s+bsd\b", r"bsd \1 clause"),
    (r"\b(a?gpl|lgpl|apache|mpl|epl|eupl|afl|osl|bsl|cc0|artistic)v\.?(?=\d)", r"\1 "),  # GPLv3 -> gpl 3
    (r"\bv\.?\s*(?=\d)", ""),  # v3, v. 1.2 -> 3, 1.2
]
_NOISE = frozenset(
    "the a an license licence licensed licenses version public software international universal generic unported "
    "new revised simplified modified".split()
)
_GNU = ("GPL-", "LGPL-", "AGPL-")
#: names without the version or variant that would make them one licence, and the fix
_AMBIGUOUS = {
    "gpl": "GPL-3.0-or-later, GPL-3.0-only or GPL-2.0-or-later",
    "lgpl": "LGPL-3.0-or-later or LGPL-2.1-or-later",
    "agpl": "AGPL-3.0-or-later or AGPL-3.0-only",
    "bsd": "BSD-3-Clause or BSD-2-Clause",
    "apache": "Apache-2.0",
    "mpl": "MPL-2.0",
    "epl": "EPL-2.0",
    "eupl": "EUPL-1.2",
}


def licence_id(name: str) -> str | None:
    """The SPDX id of a licence given by its id or a common name, or ``None``.

    ``apache-2.0`` -> ``Apache-2.0``; ``Apache License 2.0``, ``Apache License, Version 2.0``,
    ``Apache 2`` -> ``Apache-2.0``; ``MIT License`` -> ``MIT``; ``BSD 3-Clause`` -> ``BSD-3-Clause``;
    ``GNU GPL v3`` -> ``GPL-3.0-only`` (``... or later``, ``GPLv3+`` -> ``GPL-3.0-or-later``);
    ``CC BY 4.0`` -> ``CC-BY-4.0``. A trailing ``+`` on a non-GNU licence is kept (``Apache-2.0+``).
    """
    ids = _known_ids()
    text, words, plus, only = _name_words(name)
    if not words or "-".join(words) in _AMBIGUOUS:
        return None
    if text in ids:
        return _plus(ids[text], plus)
    versions = [
        f"{w}.0" if w.isdigit() and (i + 1 == len(words) or words[i + 1] != "clause") else w
        for i, w in enumerate(words)
    ]
    for key in dict.fromkeys(("-".join(versions), "-".join(words))):
        if key in ids:
            found = ids[key]
            if only and found.startswith(_GNU) and found.endswith("-or-later"):
                return None
            return _plus(found, plus)
    return None


def _name_words(name: str) -> tuple[str, list[str], bool, bool]:
    """``(text, words, plus, only)``: a licence name lower-cased, and its words after the rewrites."""
    text = name.strip().lower()
    text = re.sub(r"\s+or\s+(?:\(at\s+your\s+option\)\s+)?(?:any\s+)?later(?:\s+version)?\b", "+", text)
    plus = text.endswith("+")
    text = text.rstrip("+ ").strip()
    only = bool(re.search(r"\bonly$", text))
    rewritten = re.sub(r"\bonly$", "", text)
    for pattern, repl in _REWRITES:
        rewritten = re.sub(pattern, repl, rewritten)
    words = [w for w in re.split(r"[\s,;:/_()\"'`“”-]+", rewritten) if w and w not in _NOISE]
    if len(words) % 2 == 0 and words[: len(words) // 2] == words[len(words) // 2 :]:
        words = words[: len(words) // 2]  # "The MIT License (MIT)"
    words = [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]
    return text, words, plus, only


def _plus(spdx: str, plus: bool) -> str:
    if not plus:
        return spdx
    if spdx.startswith(_GNU):
        return re.sub(r"-only$", "", spdx) + ("" if spdx.endswith("-or-later") else "-or-later")
    return spdx + "+"


def _normalised(expression: str) -> str:
    """The expression with each licence name replaced by its SPDX id (operators and parentheses kept)."""
    text = re.sub(r"[\"“”]?new[\"“”]?\s+or\s+[\"“”]?revised[\"“”]?", " ", expression, flags=re.I)
    text = re.sub(r"\s+or\s+(?:\(at\s+your\s+option\)\s+)?(?:any\s+)?later(?:\s+version)?\b", "+", text, flags=re.I)
    whole = licence_id(text)
    if whole is not None:
        return whole
    out: list[str] = []
    run: list[str] = []

    def flush():
        if run:
            name = " ".join(run)
            out.append(licence_id(name) or name)
            run.clear()

    for tok in re.findall(r"\(|\)|[^\s()]+", text):
        if tok in "()" or tok.upper() in ("AND", "OR", "WITH"):
            flush()
            out.append(tok.upper() if tok not in "()" else tok)
        else:
            run.append(tok)
    flush()
    return " ".join(out).replace("( ", "(").replace(" )", ")")


# -- SPDX expressions ----------------------------------------------------------------------------------
def spdx_check(expression: str) -> tuple[bool, str, str]:
    """``(osi_approved, canonical_expression, reason)`` of an SPDX licence expression (or a licence name).

    Parsed and validated by ``license-expression``; see the module docstring for the rule.
    """
    from license_expression import ExpressionError

    licensing = _licensing()
    family = "-".join(_name_words(expression)[1])
    if family in _AMBIGUOUS:
        reason = f"{expression!r} names no single licence (which version?): write {_AMBIGUOUS[family]}, for example"
        return False, expression, reason
    text = _normalised(expression)
    if text in OSI_APPROVED:  # MPL-2.0-no-copyleft-exception is a licence, though the library files it as an exception
        return True, text, ""
    try:
        parsed = licensing.parse(text, strict=True)
    except (ExpressionError, TypeError, ValueError) as exc:
        detail = re.sub(r"\s+for token:.*$", "", str(exc)).rstrip(".")
        return False, expression, f"{expression!r} is not an SPDX licence expression ({detail}); {HOW_TO_DECLARE}"
    if parsed is None:
        return False, expression, f"the licence is empty; {HOW_TO_DECLARE}"
    problems: list[str] = []
    ok = _judge(parsed, problems)
    return ok, parsed.render(), ("" if ok else "; ".join(dict.fromkeys(problems)))


def _judge(node, problems: list[str]) -> bool:
    from license_expression import LicenseSymbol, LicenseWithExceptionSymbol

    licensing = _licensing()
    if isinstance(node, licensing.OR):
        return any([_judge(arg, problems) for arg in node.args])  # a list: every alternative's problem is named
    if isinstance(node, licensing.AND):
        return all([_judge(arg, problems) for arg in node.args])
    if isinstance(node, LicenseWithExceptionSymbol):
        return _judge(node.license_symbol, problems)
    if not isinstance(node, LicenseSymbol):  # pragma: no cover - the parser yields only these
        problems.append(f"{node} is not a licence")
        return False
    key = node.key
    if key in OSI_APPROVED or (key.endswith("+") and key[:-1] in OSI_APPROVED):
        return True
    if key in NOT_OSI:
        problems.append(NOT_OSI[key])
    elif key.lower().startswith(("licenseref-", "documentref-")):
        problems.append(f"{key} is a custom licence, not an OSI-approved one; {HOW_TO_DECLARE}")
    elif "-".join(_name_words(key)[1]) in _AMBIGUOUS:
        fix = _AMBIGUOUS["-".join(_name_words(key)[1])]
        problems.append(f"{key!r} names no single licence (which version?): write {fix}, for example")
    elif key.lower() in _known_ids():
        problems.append(f"{key} is not OSI-approved; {HOW_TO_DECLARE}")
    else:
        problems.append(f"{key!r} is not an SPDX licence id nor a licence name the kit knows; {HOW_TO_DECLARE}")
    return False


# -- licence texts ---------------------------------------------------------------------------------------------
_MIT_GRANT = "permission is hereby granted, free of charge, to any person obtaining a copy"
_ISC_GRANT = "distribute this software for any purpose with or without fee is hereby granted"
_BSD_GRANT = "redistribution and use in source and binary forms"
#: (SPDX id, phrases the text must hold, whether they are a title: in its first 400 characters).
#: The first match wins. The long licences are recognised by their title; the short permissive ones
#: by their grant and their conditions, so that a dropped condition is not taken for the licence.
_TEXTS: list[tuple[str, tuple[str, ...], bool]] = [
    ("Apache-2.0", ("apache license", "version 2.0"), True),
    ("MPL-2.0", ("mozilla public license", "2.0"), True),
    ("EPL-2.0", ("eclipse public license", "2.0"), True),
    ("EUPL-1.2", ("european union public licence", "1.2"), True),
    ("BSL-1.0", ("boost software license", "version 1.0"), True),
    ("CC0-1.0", ("cc0 1.0 universal",), True),
    ("CC-BY-NC-4.0", ("attribution-noncommercial 4.0 international",), True),
    ("CC-BY-4.0", ("attribution 4.0 international",), True),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",), False),
    ("MIT", (_MIT_GRANT, "the above copyright notice and this permission notice shall be included"), False),
    ("MIT-0", (_MIT_GRANT, "to whom the software is furnished to do so. the software is provided"), False),
    ("ISC", (_ISC_GRANT, "provided that the above copyright notice and this permission notice appear"), False),
    ("0BSD", (_ISC_GRANT, "hereby granted. the software is provided"), False),
    ("BSD-4-Clause", (_BSD_GRANT, "all advertising materials"), False),
    (
        "BSD-3-Clause",
        (_BSD_GRANT, "redistributions in binary form must reproduce", "to endorse or promote"),
        False,
    ),
    ("BSD-2-Clause", (_BSD_GRANT, "redistributions in binary form must reproduce"), False),
    ("Zlib", ("the origin of this software must not be misrepresented",), False),
]
#: the first GNU licence a text names: its title ("GNU GENERAL PUBLIC LICENSE Version 3") or the
#: usual notice ("... under the terms of the GNU General Public License as published by the Free
#: Software Foundation, either version 3 of the License, or (at your option) any later version")
_GNU_TEXT = re.compile(
    r"gnu (affero |lesser |library )?general public license,?"
    r"(?: as published by the free software foundation,?(?: either)?)? version (\d(?:\.\d)?)"
    r"(?: of the license)?(,? or \(at your option\) any later version)?"
)
_GNU_FAMILY = {"affero ": "AGPL", "lesser ": "LGPL", "library ": "LGPL", "": "GPL"}
#: words that make a permissive-looking text something else (a non-commercial or a custom licence)
_RESTRICTED = ("non-commercial", "noncommercial", "not for commercial", "academic use only", "research use only")
_SPDX_LINE = re.compile(r"SPDX-License-Identifier:\s*(.+?)\s*(?:\*/|-->)?\s*$", re.I | re.M)


def licence_of_text(text: str) -> str | None:
    """The SPDX id (or expression) of a licence file's text, or ``None`` when it is not recognised.

    An ``SPDX-License-Identifier:`` line in its first ten lines wins. Else the licence whose mark
    comes first in the text: a title at its top (:data:`_TEXTS`), the first GNU licence it names
    (its title or its usual notice; "or later" only when the notice says so), or the key phrases of
    a short licence's standard text, all of them present (:data:`_TEXTS`). The first mark wins
    because a licence file often goes on with the notices of bundled code. Case, spacing, line
    breaks and quotes do not matter.
    """
    m = _SPDX_LINE.search("\n".join(text.splitlines()[:10]))
    if m:
        return _clean(m.group(1))
    flat = text.lower().replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    flat = re.sub(r"[\s*#>=_-]*\n[\s*#>=_-]*|[ \t]+", " ", flat).strip()
    marks: list[tuple[int, int, str | None]] = []
    for order, (spdx, needed, title) in enumerate(_TEXTS):
        where = flat[:400] if title else flat
        if all(p in where for p in needed):
            at = where.index(needed[0])
            around = flat[max(0, at - 500) : at + 2500]  # the short licence's text and what precedes it
            marks.append((at, order, spdx if title or not any(p in around for p in _RESTRICTED) else None))
    gnu = _GNU_TEXT.search(flat)
    if gnu:
        version = gnu.group(2) if "." in gnu.group(2) else f"{gnu.group(2)}.0"
        family = _GNU_FAMILY[gnu.group(1) or ""]
        known = not (family == "LGPL" and version == "2.0" and gnu.group(1) == "lesser ")
        marks.append(
            (gnu.start(), -1, f"{family}-{version}-{'or-later' if gnu.group(3) else 'only'}" if known else None)
        )
    return min(marks)[2] if marks else None


# -- declarations in a hand-in -------------------------------------------------------------------------------
_COMMENT_LINE = re.compile(r"^\s*#+\s*licen[cs]e\s*:\s*(.+?)\s*$", re.I | re.M)
_LICENCE_LINE = re.compile(r"^[\s>#*_-]*licen[cs]e[\s*_]*:\s*(.+?)\s*$", re.I | re.M)
_UNDER_LINE = re.compile(
    r"^[\s>#*_-]*(?:(?:this|the|our)\s+(?:code|notebook|solution|work|software|repository|project)\s+is\s+"
    r"(?:released|licen[cs]ed|distributed|made\s+available|available)\s+|licen[cs]ed\s+)"
    r"under\s+(?:the\s+(?:terms\s+of\s+(?:the\s+)?)?)?(.+?)\s*$",
    re.I | re.M,
)
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _clean(value: str) -> str:
    value = _MD_LINK.sub(r"\1", value)
    return value.strip().strip("*_`'\" ").rstrip(".").strip().strip("*_`'\" ")


def licence_files(folder: Path) -> list[Path]:
    """The licence files at the top of a hand-in folder (regular files only), sorted by name."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [p for p in entries if LICENCE_FILE.fullmatch(p.name) and p.is_file() and not p.is_symlink()]


def _file_declarations(folder: Path) -> list[tuple[str, str | None, str]]:
    """(file name, its licence or None, its first line) of each licence file of a hand-in folder."""
    out: list[tuple[str, str | None, str]] = []
    for path in licence_files(folder):
        if path.stat().st_size > MAX_LICENCE_FILE_BYTES:
            out.append((path.name, None, f"a file of {path.stat().st_size} bytes"))
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        out.append((path.name, licence_of_text(text), f"it begins {first[:80]!r}" if first else "it is empty"))
    return out


def _notebook_declarations(nb: dict) -> list[tuple[str, str]]:
    """(where, text) of every licence declaration in a notebook's JSON: metadata, code cells, markdown cells."""
    out = []
    meta = nb.get("metadata") or {}
    for key in ("license", "licence"):
        value = meta.get(key)
        if isinstance(value, dict):
            value = next((value[k] for k in ("spdx", "id", "name") if isinstance(value.get(k), str)), None)
        if isinstance(value, str) and value.strip():
            out.append((f"metadata.{key}", _clean(value)))
    cells = [c for c in nb.get("cells") or [] if isinstance(c, dict)]
    texts = []
    for i, cell in enumerate(cells):
        source = cell.get("source", "")
        texts.append((i, cell.get("cell_type"), "".join(source) if isinstance(source, list) else str(source)))
    for i, kind, text in texts:
        if kind != "markdown":
            for m in _SPDX_LINE.finditer(text):
                out.append((f"cell {i}", _clean(m.group(1))))
            if kind == "code":
                for m in _COMMENT_LINE.finditer(text):
                    out.append((f"cell {i}", _clean(m.group(1))))
    for i, kind, text in texts:
        if kind == "markdown":
            for pattern in (_SPDX_LINE, _LICENCE_LINE, _UNDER_LINE):
                for m in pattern.finditer(text):
                    out.append((f"cell {i}", _clean(m.group(1))))
    return out


def _load(notebook) -> dict | str:
    """The notebook's JSON, or why it cannot be read."""
    if isinstance(notebook, (str, os.PathLike)) and not str(notebook).lstrip().startswith("{"):
        notebook = Path(notebook).read_bytes()
    if isinstance(notebook, (bytes, str)):
        try:
            notebook = json.loads(notebook)
        except ValueError:
            return "the stored notebook is not valid JSON"
    if not isinstance(notebook, dict):
        return "the stored notebook is not a notebook (a JSON object)"
    return notebook


def hand_in_licence(
    notebook: dict | bytes | str | os.PathLike, folder: str | os.PathLike | None = None
) -> LicenceCheck:
    """The licence of a hand-in (its notebook and, when known, its folder), and whether it is OSI-approved.

    See the module docstring for where it is looked for and the rule. ``source`` lists every
    place it was found, in order (``LICENSE, cell 1``); ``reason`` names what was found where
    and the fix.
    """
    nb = _load(notebook)
    if isinstance(nb, str):
        return LicenceCheck(reason=nb)
    files = _file_declarations(Path(folder)) if folder is not None else []
    unread = [(where, first) for where, text, first in files if text is None]
    if unread:
        return LicenceCheck(
            source=", ".join(where for where, _ in unread),
            reason="; ".join(
                f"the text of {where} ({first}) is not a licence the kit recognises" for where, first in unread
            )
            + ": put `SPDX-License-Identifier: <SPDX id>` on its first line, or use the standard text of an "
            "OSI-approved licence (https://opensource.org/licenses)",
        )
    found = [(where, text) for where, text, _ in files if text] + _notebook_declarations(nb)
    if not found:
        return LicenceCheck(reason=f"no licence declared: {HOW_TO_DECLARE}")
    checked = [(where, *spdx_check(text)) for where, text in found]
    from_files = {where for where, *_ in files}
    exprs = {expr for _, _, expr, _ in checked}
    checked = [
        (where, ok, _or_later(expr) if where in from_files and _or_later(expr) in exprs else expr, reason)
        for where, ok, expr, reason in checked
    ]
    distinct = list(dict.fromkeys(expr for _, _, expr, _ in checked))
    sources = ", ".join(dict.fromkeys(where for where, *_ in checked))
    if len(distinct) > 1:
        return LicenceCheck(
            licence=" | ".join(distinct),
            source=sources,
            eligible=False,
            reason="conflicting licence declarations: "
            + "; ".join(f"{expr} ({where})" for where, _, expr, _ in checked)
            + "; declare one licence",
        )
    where, ok, expr, reason = checked[0]
    return LicenceCheck(licence=expr, source=sources, eligible=ok, reason="" if ok else f"{where}: {reason}")


def _or_later(expr: str) -> str:
    return re.sub(r"-only$", "-or-later", expr) if expr.startswith(_GNU) else expr


def notebook_licence(notebook: dict | bytes | str | os.PathLike) -> LicenceCheck:
    """The licence a notebook alone declares (:func:`hand_in_licence` without a folder)."""
    return hand_in_licence(notebook)

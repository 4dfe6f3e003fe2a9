"""Licences of the winners' code: the SPDX expression a notebook declares, and whether it is OSI-approved.

A winner is prize-eligible when the notebook of its selected submission declares an
OSI-approved licence by its SPDX identifier (:func:`notebook_licence`). CC0-1.0 is *not*
accepted: the OSI never approved it (its waiver explicitly keeps patent rights); a
public-domain-like alternative is MIT-0 or 0BSD.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

# -- licences -----------------------------------------------------------------------------------------
#: OSI-approved licences by SPDX identifier (canonical spelling; compared case-insensitively)
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
#: deprecated SPDX identifiers of OSI-approved licences -> today's identifier
DEPRECATED = {
    "GPL-2.0": "GPL-2.0-only",
    "GPL-2.0+": "GPL-2.0-or-later",
    "GPL-3.0": "GPL-3.0-only",
    "GPL-3.0+": "GPL-3.0-or-later",
    "LGPL-2.0": "LGPL-2.0-only",
    "LGPL-2.0+": "LGPL-2.0-or-later",
    "LGPL-2.1": "LGPL-2.1-only",
    "LGPL-2.1+": "LGPL-2.1-or-later",
    "LGPL-3.0": "LGPL-3.0-only",
    "LGPL-3.0+": "LGPL-3.0-or-later",
    "AGPL-3.0": "AGPL-3.0-only",
}
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
_CANONICAL = {x.lower(): x for x in (*OSI_APPROVED, *DEPRECATED, *NOT_OSI)}
HOW_TO_DECLARE = (
    "declare an OSI-approved licence by its SPDX id in the notebook: a markdown line "
    "`License: MIT`, a comment `# SPDX-License-Identifier: MIT`, or metadata.license"
)
_SPDX_LINE = re.compile(r"SPDX-License-Identifier:\s*(.+?)\s*(?:\*/|-->)?\s*$", re.I | re.M)
_LICENCE_LINE = re.compile(r"^[\s>#*_-]*licen[cs]e[\s*_]*:\s*(.+?)\s*$", re.I | re.M)
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


@dataclass(frozen=True)
class LicenceCheck:
    """The licence a notebook declares and whether it makes the team prize-eligible."""

    licence: str = ""  # the declared SPDX expression (canonical spelling), "" when none
    source: str = ""  # where it was declared: metadata.license, cell 3
    eligible: bool = False
    reason: str = ""  # why not eligible ("" when eligible)


def _tokens(text: str) -> list[str]:
    return re.findall(r"\(|\)|[^\s()]+", text)


def spdx_check(expression: str) -> tuple[bool, str, str]:
    """``(osi_approved, canonical_expression, reason)`` of an SPDX licence expression.

    ``A OR B`` is OSI-approved when one alternative is; ``A AND B`` when both are;
    ``A WITH exception`` when ``A`` is (exceptions only add permissions). Ids are
    matched case-insensitively; deprecated ids (``GPL-3.0+``) are accepted.
    """
    toks = _tokens(expression)
    pos = 0
    problems: list[str] = []

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def term():
        tok = peek()
        if tok is None:
            raise ValueError("the expression ends early")
        if tok == "(":
            take()
            ok, text = disjunction()
            if peek() != ")":
                raise ValueError("a parenthesis is not closed")
            take()
            return ok, f"({text})"
        if tok.upper() in ("AND", "OR", "WITH") or tok == ")":
            raise ValueError(f"{tok!r} is out of place")
        take()
        ok, name = _licence_id(tok, problems)
        if (peek() or "").upper() == "WITH":
            take()
            if peek() is None or peek() in "()":
                raise ValueError("WITH needs an exception id")
            name = f"{name} WITH {take()}"
        return ok, name

    def conjunction():
        ok, text = term()
        while (peek() or "").upper() == "AND":
            take()
            ok2, t2 = term()
            ok, text = ok and ok2, f"{text} AND {t2}"
        return ok, text

    def disjunction():
        ok, text = conjunction()
        while (peek() or "").upper() == "OR":
            take()
            ok2, t2 = conjunction()
            ok, text = ok or ok2, f"{text} OR {t2}"
        return ok, text

    try:
        ok, text = disjunction()
        if peek() is not None:
            raise ValueError(f"{peek()!r} is out of place")
    except ValueError as exc:
        return False, expression, f"{expression!r} is not an SPDX licence expression ({exc}); {HOW_TO_DECLARE}"
    return ok, text, ("" if ok else "; ".join(dict.fromkeys(problems)))


def _licence_id(token: str, problems: list[str]) -> tuple[bool, str]:
    name = _CANONICAL.get(token.lower())
    if name is None and token.endswith("+"):
        base = _CANONICAL.get(token[:-1].lower())
        if base in OSI_APPROVED:
            return True, f"{base}+"
    if name is None:
        if token.lower().startswith(("licenseref-", "documentref-")):
            problems.append(f"{token} is a custom licence, not an OSI-approved one")
        else:
            problems.append(f"{token!r} is not an SPDX id of an OSI-approved licence; {HOW_TO_DECLARE}")
        return False, token
    if name in NOT_OSI:
        problems.append(NOT_OSI[name])
        return False, name
    return True, DEPRECATED.get(name, name)


def _clean(value: str) -> str:
    value = _MD_LINK.sub(r"\1", value)
    value = value.strip().strip("*_`'\" ").rstrip(".").strip()
    return re.sub(r"\s+licen[cs]e$", "", value, flags=re.I)  # "MIT License" -> "MIT"


def _declarations(nb: dict) -> list[tuple[str, str]]:
    """(where, text) of every licence declaration in a notebook's JSON."""
    out = []
    meta = nb.get("metadata") or {}
    for key in ("license", "licence"):
        value = meta.get(key)
        if isinstance(value, dict):
            value = next((value[k] for k in ("spdx", "id", "name") if isinstance(value.get(k), str)), None)
        if isinstance(value, str) and value.strip():
            out.append((f"metadata.{key}", _clean(value)))
    for i, cell in enumerate(nb.get("cells") or []):
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        for m in _SPDX_LINE.finditer(text):
            out.append((f"cell {i}", _clean(m.group(1))))
        if cell.get("cell_type") == "markdown":
            for m in _LICENCE_LINE.finditer(text):
                out.append((f"cell {i}", _clean(m.group(1))))
    return out


def notebook_licence(notebook: dict | bytes | str | os.PathLike) -> LicenceCheck:
    """The licence a notebook declares, and whether it is OSI-approved.

    Looked for in ``metadata.license`` (or ``licence``; a string or a mapping with
    ``spdx``/``id``/``name``), in ``SPDX-License-Identifier: ...`` lines of any
    cell, and in ``License: ...`` lines of markdown cells (``**License:** MIT``,
    ``Licence: [Apache-2.0](LICENSE)``). Values are SPDX expressions
    (``MIT OR Apache-2.0``); two different declarations are a conflict, which is
    not eligible.
    """
    if isinstance(notebook, (str, os.PathLike)) and not str(notebook).lstrip().startswith("{"):
        notebook = Path(notebook).read_bytes()
    if isinstance(notebook, (bytes, str)):
        try:
            notebook = json.loads(notebook)
        except ValueError:
            return LicenceCheck(reason="the stored notebook is not valid JSON")
    if not isinstance(notebook, dict):
        return LicenceCheck(reason="the stored notebook is not a notebook (a JSON object)")
    found = _declarations(notebook)
    if not found:
        return LicenceCheck(reason=f"no licence declared: {HOW_TO_DECLARE}")
    checked = [(where, *spdx_check(text)) for where, text in found]
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
    return LicenceCheck(licence=expr, source=sources, eligible=ok, reason=reason)

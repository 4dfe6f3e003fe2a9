"""Per-submission feedback reports (HTML, by nbconvert).

A report says what a participant may know: the status, the checks of the
predictions, the error with its cell and traceback, and the PUBLIC scores only
(private scores, per-case results and the split of the test cases are never in feedback:
they are in files the grader alone may read, see :mod:`kit.grading.recording`), why a
hand-in was refused at intake, and, for an invalid prediction file, the
columns a prediction file holds (several for class probabilities or a survival
curve: :meth:`kit.tasks.Task.prediction_columns`). Below it comes the cell that failed,
rendered by nbconvert with its HTML outputs sanitised (a notebook's own
HTML/JavaScript never runs in the reader's browser). Every participant-supplied
string is escaped.
"""

from __future__ import annotations

import html
import json
import re
import threading
from pathlib import Path

from ..metrics import get_metric

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CSS = """<style>
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
.kit-feedback{border:1px solid #ccc;border-radius:6px;padding:1em 1.5em;margin-bottom:2em}
.kit-feedback table{border-collapse:collapse}.kit-feedback td,.kit-feedback th{padding:2px 10px;text-align:left}
.kit-ok{color:#137333}.kit-bad{color:#b3261e}pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}
.jp-InputPrompt,.jp-OutputPrompt{display:none}.jp-Cell{margin:.6em 0}
</style>"""


_EXPORTERS = threading.local()


def _exporter():
    """One nbconvert HTML exporter per thread (building one costs more than using it)."""
    exp = getattr(_EXPORTERS, "exp", None)
    if exp is None:
        from nbconvert import HTMLExporter

        exp = HTMLExporter(template_name="basic")
        exp.sanitize_html = True
        _EXPORTERS.exp = exp
    return exp


def failing_cell(executed_path: str | Path | None, cell_index: int | None) -> dict | None:
    """The code cell that failed, with its outputs, from the executed notebook (no validation: fast)."""
    if executed_path is None or cell_index is None or not Path(executed_path).exists():
        return None
    try:
        cells = json.loads(Path(executed_path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None
    code = [
        c
        for c in cells
        if c.get("cell_type") == "code"
        and not {"injected-parameters", "kit-execution-stopped"} & set(c.get("metadata", {}).get("tags", []))
    ]
    # cell_index counts the cells of the notebook as handed in
    handed_in = [
        c
        for c in cells
        if not {"injected-parameters", "kit-execution-stopped"} & set(c.get("metadata", {}).get("tags", []))
    ]
    if 0 <= cell_index < len(handed_in) and handed_in[cell_index].get("cell_type") == "code":
        return handed_in[cell_index]
    return code[-1] if code else None


def write_feedback(
    run_dir: str | Path,
    *,
    challenge,
    team: str,
    filename: str,
    status: str,
    scores: dict | None = None,
    error: dict | None = None,
    executed_path: str | Path | None = None,
) -> Path:
    """Write ``feedback.html`` into the run folder and return its path.

    The summary is HTML we build (every participant string escaped); the cell that failed,
    with its outputs, is rendered by nbconvert with HTML outputs sanitised. The whole
    executed notebook stays beside it (``executed.ipynb``), addressed from the ledger.
    """
    e = html.escape
    spec = challenge.spec
    ok = status == "scored"
    rows = [("team", team), ("file", filename), ("status", status)]
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback: {e(spec.title)}</title>{_CSS}"
        "</head><body><div class='kit-feedback'>",
        f"<h2>{e(spec.title)} <small>({e(spec.id)})</small></h2>",
        "<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows) + "</table>",
    ]
    public = (scores or {}).get("public") or {}
    if ok and public:
        parts.append(
            "<h3 class='kit-ok'>&#10004; Scored on the public test cases</h3><table>"
            "<tr><th>metric</th><th></th><th>public score</th></tr>"
        )
        for name in spec.metrics.all:
            m = get_metric(name)
            primary = " (ranks the leaderboard)" if name == spec.metrics.primary else ""
            parts.append(
                f"<tr><td>{e(name)}{primary}</td><td>{e(m.arrow)}</td><td>{e(m.format(public.get(name)))}</td></tr>"
            )
        parts.append("</table><p>The private test cases decide the final ranking after the challenge closes.</p>")
    if status == "refused":
        parts.append(
            "<p>This hand-in was not taken in: it was not graded and does not count against the team's submissions.</p>"
        )
    if error:
        what = _ANSI.sub("", str(error.get("what", "")))
        parts.append(f"<h3 class='kit-bad'>&#10008; {e(what)}</h3>")
        if error.get("where"):
            parts.append(f"<p>Where: {e(str(error['where']))}</p>")
        problems = error.get("problems") or []
        if problems:
            parts.append(
                "<ul>"
                + "".join(
                    f"<li><b>{e(p.get('where', ''))}</b> {e(p.get('what', ''))}"
                    + (f"<br><i>Fix:</i> {e(p['fix'])}" if p.get("fix") else "")
                    + "</li>"
                    for p in problems
                )
                + "</ul>"
            )
        if error.get("fix"):
            parts.append(f"<p><b>How to fix it:</b> {e(str(error['fix']))}</p>")
        if status == "invalid":  # the prediction file was refused: say what one holds
            columns = ", ".join(f"<code>{e(c)}</code>" for c in [spec.id_column, *spec.prediction_columns])
            parts.append(f"<p>A prediction file has one row per test case and the columns {columns}.</p>")
        if error.get("traceback"):
            parts.append(f"<pre>{e(_ANSI.sub('', str(error['traceback'])))}</pre>")
    parts.append("</div>")
    cell = failing_cell(executed_path, (error or {}).get("cell_index")) if error else None
    if cell is not None:
        import nbformat

        nb = nbformat.reads(
            json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), as_version=4
        )  # rejoins the JSON's line lists
        body, _ = _exporter().from_notebook_node(nb)
        parts.append("<h3>The cell that failed, as the grader ran it</h3>")
        parts.append(body)
    parts.append("</body></html>\n")
    out = Path(run_dir) / "feedback.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(parts), encoding="utf-8")
    return out

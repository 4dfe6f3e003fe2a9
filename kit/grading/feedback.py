"""Per-submission feedback reports (HTML, by nbconvert).

A report says what a participant may know: the status, the checks of the
predictions, the error with its cell and traceback, and the PUBLIC scores only
(private scores are never in feedback). Below it comes the executed notebook,
rendered by nbconvert with its HTML outputs sanitised (a notebook's own
HTML/JavaScript never runs in the reader's browser). Every participant-supplied
string is escaped.
"""
from __future__ import annotations

import html
import re
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


def render_notebook(executed_path: str | Path, out_path: str | Path) -> Path:
    """The executed notebook as sanitised HTML (nbconvert's light 'basic' template)."""
    import nbformat
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="basic")
    exporter.sanitize_html = True
    body, _ = exporter.from_notebook_node(nbformat.read(executed_path, as_version=4))
    out = Path(out_path)
    out.write_text(body, encoding="utf-8")
    return out


def write_feedback(run_dir: str | Path, *, challenge, team: str, filename: str, status: str,
                   scores: dict | None = None, error: dict | None = None,
                   notebook_html: str | Path | None = None) -> Path:
    """Write ``feedback.html`` into the run folder and return its path."""
    e = html.escape
    spec = challenge.spec
    ok = status == "scored"
    rows = [("team", team), ("file", filename), ("status", status)]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback: {e(spec.title)}</title>{_CSS}"
             "</head><body><div class='kit-feedback'>",
             f"<h2>{e(spec.title)} <small>({e(spec.id)})</small></h2>",
             "<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows) + "</table>"]
    public = (scores or {}).get("public") or {}
    if ok and public:
        parts.append("<h3 class='kit-ok'>&#10004; Scored on the public test cases</h3><table>"
                     "<tr><th>metric</th><th></th><th>public score</th></tr>")
        for name in spec.metrics.all:
            m = get_metric(name)
            primary = " (ranks the leaderboard)" if name == spec.metrics.primary else ""
            parts.append(f"<tr><td>{e(name)}{primary}</td><td>{e(m.arrow)}</td>"
                         f"<td>{e(m.format(public.get(name)))}</td></tr>")
        parts.append("</table><p>The private test cases decide the final ranking after the challenge closes.</p>")
    if error:
        what = _ANSI.sub("", str(error.get("what", "")))
        parts.append(f"<h3 class='kit-bad'>&#10008; {e(what)}</h3>")
        if error.get("where"):
            parts.append(f"<p>Where: {e(str(error['where']))}</p>")
        problems = error.get("problems") or []
        if problems:
            parts.append("<ul>" + "".join(
                f"<li><b>{e(p.get('where', ''))}</b> {e(p.get('what', ''))}"
                + (f"<br><i>Fix:</i> {e(p['fix'])}" if p.get("fix") else "") + "</li>" for p in problems) + "</ul>")
        if error.get("fix"):
            parts.append(f"<p><b>How to fix it:</b> {e(str(error['fix']))}</p>")
        if error.get("traceback"):
            parts.append(f"<pre>{e(_ANSI.sub('', str(error['traceback'])))}</pre>")
    parts.append("</div>")
    if notebook_html and Path(notebook_html).exists():
        parts.append("<h3>Your notebook as the grader ran it</h3>")
        parts.append(Path(notebook_html).read_text(encoding="utf-8"))
    parts.append("</body></html>\n")
    out = Path(run_dir) / "feedback.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(parts), encoding="utf-8")
    return out

"""The pages of ``kit serve``: plain HTML rendered on the server, one small stylesheet, one script.

Every page works with JavaScript off: forms post, links link, the team page reloads itself
while a hand-in is being graded (``<meta http-equiv="refresh">``). The board's script
(:data:`BOARD_JS`) only makes the board live: it asks for the board's version every few
seconds and swaps the table when it changed; without it the board page reloads each minute.
Templates are autoescaped: team names, member names and file names are participants' text.
The pages are served with a Content-Security-Policy that allows this server's stylesheet and
script and nothing else (no inline script, no other origin).
"""

from __future__ import annotations

import functools

import jinja2

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#fff}
header{background:#24292f;color:#fff;padding:.6em 1.2em;display:flex;gap:1.5em;align-items:baseline;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .title{font-weight:600;font-size:1.1em}
header nav{display:flex;gap:1em;margin-left:auto}
main{max-width:1040px;margin:1.5em auto;padding:0 1em}
table{border-collapse:collapse;margin:.6em 0}th,td{padding:4px 12px;text-align:left;border-bottom:1px solid #d0d7de}
th{background:#f6f8fa}.num{text-align:right;font-variant-numeric:tabular-nums}
.box{border:1px solid #d0d7de;border-radius:6px;padding:1em 1.4em;margin:1em 0}
.ok{color:#1a7f37}.bad{color:#cf222e}.wait{color:#9a6700}
.token{font-family:ui-monospace,monospace;font-size:1.05em;background:#fff8c5;padding:.4em .6em;word-break:break-all}
pre{background:#f6f8fa;padding:.7em;overflow-x:auto;white-space:pre-wrap}
label{display:block;margin:.5em 0 .2em}
input[type=text],input[type=email],input[type=password]{padding:.3em;width:22em;max-width:100%}
button{padding:.35em 1em;margin-top:.6em}.hint{color:#59636e;font-size:.92em}
.kit-leaderboard table{min-width:60%}
"""

BOARD_JS = """
// The live board: every few seconds, ask for the board's version; when it changed, swap the table.
(function () {
  var board = document.getElementById("board");
  if (!board || !window.fetch) { return; }
  var url = board.getAttribute("data-live-url");
  function look() {
    fetch(url + "?since=" + encodeURIComponent(board.getAttribute("data-version")), {cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d && d.version !== board.getAttribute("data-version")) {
          board.innerHTML = d.html;  // rendered and escaped by the server
          board.setAttribute("data-version", d.version);
        }
      })
      .catch(function () {})
      .then(function () { setTimeout(look, 3000); });
  }
  var stop = document.querySelector("meta[http-equiv=refresh]");
  if (stop) { stop.parentNode.removeChild(stop); }
  setTimeout(look, 3000);
})();
"""

ASSETS = {"kit.css": ("text/css; charset=utf-8", CSS), "board.js": ("text/javascript; charset=utf-8", BOARD_JS)}

_TEMPLATES = {
    "base.html": """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ page_title }} · {{ spec.title }}</title>
<link rel="stylesheet" href="{{ base }}kit-static/kit.css">
{% block head %}{% endblock %}
</head><body>
<header><a class="title" href="{{ base }}board">{{ spec.title }}</a>
<nav><a href="{{ base }}board">Board</a>
{% if team %}<a href="{{ base }}team">Team {{ team.name }}</a><a href="{{ base }}logout">Log out</a>
{% else %}<a href="{{ base }}signup">Sign up</a><a href="{{ base }}login">Log in</a>{% endif %}</nav></header>
<main>{% block main %}{% endblock %}</main>
</body></html>
""",
    "board.html": """{% extends "base.html" %}
{% block head %}<noscript><meta http-equiv="refresh" content="60"></noscript>
<script src="{{ base }}kit-static/board.js" defer></script>{% endblock %}
{% block main %}
<h1>{{ spec.title }}</h1>
<p>{{ spec.description }}</p>
<p>{{ phase_line }}</p>
<div id="board" data-version="{{ snapshot.version }}" data-live-url="{{ base }}board/live">
{{ snapshot.html | safe }}</div>
<p class="hint">Also as JSON: <a href="{{ base }}board.json">board.json</a>. {{ open_line }}</p>
{% endblock %}
""",
    "signup.html": """{% extends "base.html" %}
{% block main %}
<h1>Sign up a team</h1>
{% if error %}<div class="box bad"><b>{{ error.what }}</b>
{% if error.fix %}<br>{{ error.fix }}{% endif %}</div>{% endif %}
<form method="post" action="{{ base }}signup">{{ xsrf_form_html() | safe }}
<label for="team">Team name</label>
<input type="text" id="team" name="team" maxlength="100" required value="{{ form.team }}">
{% if workshop %}<label for="class_code">Class code (your teacher shows it)</label>
<input type="text" id="class_code" name="class_code" required autocomplete="off"
 value="{{ form.class_code }}">{% endif %}
<fieldset><legend>Members (a first name or a pseudonym will do)</legend>
{% for i in range(member_rows) %}
<label for="member{{ i }}">Member {{ i + 1 }}</label>
<input type="text" id="member{{ i }}" name="member_name" maxlength="100"
 value="{{ form.members[i] if i < form.members|length else '' }}">
<input type="email" name="member_email" maxlength="254" placeholder="e-mail (optional)"
 aria-label="e-mail of member {{ i + 1 }} (optional)">
{% endfor %}</fieldset>
<button type="submit">Sign up</button>
</form>
<div class="box hint"><b>What is kept.</b> The team's name (shown on the board), the members' names (shown
to the team only), and an e-mail address only if you give one: the organisers may write to it; it is never
shown, on any page or to anyone. Your hand-ins and their results are kept for the challenge and its
results. The secret token you get next is stored only as a hash.</div>
{% endblock %}
""",
    "signed_up.html": """{% extends "base.html" %}
{% block main %}
<h1>Team {{ team.name }} is signed up</h1>
<div class="box"><p><b>Your team's token</b> (shown this once: copy it now; it is stored only as a hash and
cannot be shown again):</p>
<p class="token">{{ token }}</p></div>
<h2>Hand in from the notebook</h2>
<p>Keep the token out of your notebook. Either start JupyterLab with</p>
<pre>export KIT_SERVER={{ server_url }}
export KIT_TOKEN=&lt;your token&gt;
jupyter lab</pre>
<p>or save both in your configuration file, readable by you alone:</p>
<pre>mkdir -p ~/.config/challenge-kit
cat &gt; ~/.config/challenge-kit/token   # paste the two lines below, then Ctrl-D
chmod 600 ~/.config/challenge-kit/token</pre>
<pre>server = {{ server_url }}
token = &lt;your token&gt;</pre>
<p>then run <code>kit.submit()</code> in the last cell of the starter notebook (save it first), or
<code>kit.submit("predictions.csv")</code>.</p>
<p>This browser is logged in: <a href="{{ base }}team">your team's page</a> takes hand-ins too.</p>
{% endblock %}
""",
    "login.html": """{% extends "base.html" %}
{% block main %}
<h1>Log in</h1>
{% if error %}<div class="box bad">{{ error }}</div>{% endif %}
<form method="post" action="{{ base }}login">{{ xsrf_form_html() | safe }}
<label for="token">Your team's token</label>
<input type="password" id="token" name="token" required autocomplete="off">
<button type="submit">Log in</button></form>
<p class="hint">No token yet? <a href="{{ base }}signup">Sign your team up</a>.</p>
{% endblock %}
""",
    "team.html": """{% extends "base.html" %}
{% block head %}{% if waiting %}<meta http-equiv="refresh" content="3">{% endif %}{% endblock %}
{% block main %}
<h1>Team {{ team.name }}</h1>
{% if members %}<p>Members: {{ members | join(", ") }}</p>{% endif %}
{% if notice %}<div class="box {{ notice_class }}">{{ notice }}</div>{% endif %}
<div class="box"><form method="post" action="{{ base }}team/handins" enctype="multipart/form-data">
{{ xsrf_form_html() | safe }}
<label for="file">Hand in a notebook (.ipynb) or a predictions file (.csv)</label>
<input type="file" id="file" name="file" accept=".ipynb,.csv" required>
<button type="submit">Hand in</button></form>
<p class="hint">{{ rules }}</p></div>
<h2>Your hand-ins</h2>
{% if rows %}<table><thead><tr><th>#</th><th>received (UTC)</th><th>file</th><th>status</th>
<th class="num">public {{ metric.name }} {{ metric.arrow }}</th><th></th></tr></thead><tbody>
{% for r in rows %}<tr><td>{{ r.id }}</td><td>{{ r.received }}</td><td>{{ r.filename }}</td>
<td class="{{ r.css }}">{{ r.status }}</td><td class="num">{{ r.score }}</td>
<td><a href="{{ base }}team/handins/{{ r.id }}">details</a></td></tr>
{% endfor %}</tbody></table>{% else %}<p>None yet.</p>{% endif %}
{% endblock %}
""",
    "handin.html": """{% extends "base.html" %}
{% block head %}{% if not status.final %}<meta http-equiv="refresh" content="3">{% endif %}{% endblock %}
{% block main %}
<h1>Hand-in #{{ row.id }}: {{ row.filename }}</h1>
<p>Received {{ received }} UTC · {{ size }}</p>
<p class="{{ css }}"><b>{{ status.status }}</b></p>
{% if status.public %}<table><thead><tr><th>metric</th><th class="num">public score</th></tr></thead><tbody>
{% for name, value in scores %}<tr><td>{{ name }}</td><td class="num">{{ value }}</td></tr>{% endfor %}
</tbody></table>
<p class="hint">The private test cases decide the final ranking after the challenge closes.</p>{% endif %}
{% if status.message %}<pre>{{ status.message }}</pre>{% endif %}
{% if status.feedback_path %}
<p><a href="{{ base }}team/handins/{{ row.id }}/feedback">The full feedback</a></p>{% endif %}
<p><a href="{{ base }}team">Back to the team's page</a></p>
{% endblock %}
""",
    "message.html": """{% extends "base.html" %}
{% block main %}<h1>{{ heading }}</h1><p>{{ text }}</p>
{% if link %}<p><a href="{{ link }}">{{ link_text }}</a></p>{% endif %}{% endblock %}
""",
}


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.DictLoader(_TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True
    )


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)


__all__ = ["ASSETS", "BOARD_JS", "CSS", "environment", "render"]

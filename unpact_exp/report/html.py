"""``index.html``: the report's tables and plots, and a browser of every run's questions.

The page is one file with inline CSS and a few lines of inline JavaScript (no CDN, no fetch),
so it opens offline from disk; only the PNGs are separate files, linked relatively. The
tables are the ones ``report.md`` shows (converted from the same markdown), so the two never
disagree. The question browser reads each completed run's ``questions.jsonl`` (the rows of
its latest evaluation: question, gold, M0's and M1's answers, every attack's answers and
recovered flag, the units and their contributions) and renders one table row per question,
with the details (answers of each attack, contributions shaded red/blue, KeyTokens
underlined) in a collapsible cell. The rows are plain HTML: without JavaScript the page still
shows everything; the script only filters (by run, by text, forgotten or recovered only).
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unpact_exp.evaluation.writing import QUESTIONS_JSONL, heatmap_path
from unpact_exp.report.collect import COMPLETED, SweepJob
from unpact_exp.report.controls import TEXT as CONTROLS
from unpact_exp.report.controls import controls_table
from unpact_exp.report.markdown import ATTACKS, SEEDS, UNITS, not_completed
from unpact_exp.report.table import (
    Row,
    attack_table,
    markdown_table,
    metric_tables,
    seed_table,
)

INDEX_HTML = "index.html"
_PIPE = re.compile(r"(?<!\\)\|")
_CODE = re.compile(r"`([^`]+)`")

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1400px;
  padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap}
p.note{color:#555;font-size:12px;max-width:1100px}
figure{margin:1em 0}figure img{max-width:min(100%,1100px);border:1px solid #eee}
figcaption{color:#555;font-size:12px}
#browser-controls{display:flex;gap:1em;align-items:center;flex-wrap:wrap;margin:.5em 0}
.ok{color:#0a7d28;font-weight:600}.no{color:#999}
span.u{padding:0 2px;margin:0 1px;border-radius:2px}
span.key{text-decoration:underline;font-weight:600}
details summary{cursor:pointer;color:#245}
"""

SCRIPT = """
function filterRows(){
  const run=document.getElementById('run').value;
  const which=document.getElementById('which').value;
  const text=document.getElementById('text').value.toLowerCase();
  let shown=0;
  for(const tr of document.querySelectorAll('#questions tbody tr')){
    const ok=(run===''||tr.dataset.run===run)
      &&(which==='all'||tr.dataset[which]==='1')
      &&(text===''||tr.textContent.toLowerCase().includes(text));
    tr.hidden=!ok; if(ok) shown++;
  }
  document.getElementById('shown').textContent=shown;
}
for(const id of ['run','which','text']){
  document.getElementById(id).addEventListener('input',filterRows);
}
filterRows();
"""


def render_html(
    records: Sequence[SweepJob],
    rows: Sequence[Row],
    sources: Sequence[Path],
    plots: Sequence[Path],
    out_dir: Path,
) -> str:
    """Return the full ``index.html`` text (``out_dir``: where it is written, for links)."""
    done = [r for r in records if r.state == COMPLETED]
    bad = not_completed(records)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Unlearning sweep report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Unlearning sweep report</h1>",
        "<p>Sources: " + ", ".join(f"<code>{_esc(s)}</code>" for s in sources) + "</p>",
        f"<p>Jobs: {len(records)} found: {len(done)} completed, {len(bad)} not completed "
        "(listed below). The same tables are in <code>report.md</code>; unrounded values in "
        "<code>report.csv</code>.</p>",
        '<h2 id="results">Results (final eval step)</h2>',
        table_html(markdown_table(rows)) if rows else "<p>No completed runs.</p>",
        _note(UNITS),
    ]
    controls = controls_table(rows) if rows else None
    if controls is not None:
        parts += ["<h2>FocusOnKey against its controls</h2>", table_html(controls)]
        parts.append(_note(CONTROLS))
    attacks = attack_table(rows) if rows else None
    if attacks is not None:
        parts += ["<h2>Recovery attacks</h2>", table_html(attacks), _note(ATTACKS)]
    for title, table, text in metric_tables(rows) if rows else []:
        parts += [f"<h2>{_esc(title)}</h2>", table_html(table), _note(text)]
    if rows:
        parts += ["<h2>Across seeds</h2>", table_html(seed_table(rows)), _note(SEEDS)]
    if plots:
        parts.append('<h2 id="plots">Plots</h2>')
        for plot in plots:
            link = _esc(os.path.relpath(plot, out_dir))
            parts.append(
                f'<figure><a href="{link}"><img src="{link}" alt="{_esc(plot.stem)}"></a>'
                f"<figcaption>{_esc(plot.name)}</figcaption></figure>"
            )
    parts += [f"<h2>Failed and unfinished jobs ({len(bad)})</h2>", _failed_html(bad)]
    parts += question_browser(done, out_dir)
    parts += [f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _inline(text: str) -> str:
    """Escaped text with markdown ``code`` spans as ``<code>``."""
    return _CODE.sub(r"<code>\1</code>", _esc(text))


def _note(text: str) -> str:
    return f'<p class="note">{_inline(text)}</p>'


def table_html(markdown: str) -> str:
    """A GitHub markdown table (as :mod:`unpact_exp.report.table` writes them) as HTML.

    ``\\|`` inside a cell is a literal pipe; a ``---:`` alignment makes the column numeric
    (right-aligned).
    """
    lines = [line.strip() for line in markdown.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        return f"<p>{_inline(markdown)}</p>"

    def cells(line: str) -> list[str]:
        inner = line.strip().removeprefix("|").removesuffix("|")
        return [c.strip().replace("\\|", "|") for c in _PIPE.split(inner)]

    head, align = cells(lines[0]), cells(lines[1])
    right = [a.endswith(":") and not a.startswith(":") for a in align]
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in head) + "</tr>"]
    out.append("</thead><tbody>")
    for line in lines[2:]:
        tds = [
            f'<td class="num">{_inline(c)}</td>'
            if i < len(right) and right[i]
            else f"<td>{_inline(c)}</td>"
            for i, c in enumerate(cells(line))
        ]
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _failed_html(bad: Sequence[SweepJob]) -> str:
    if not bad:
        return "<p>None: every job completed.</p>"
    lines = ["<table><thead><tr><th>job</th><th>state</th><th>setting</th><th>reason</th>"]
    lines.append("</tr></thead><tbody>")
    for r in bad:
        cells = (r.label, r.state, r.setting, r.reason)
        lines.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    return "\n".join(lines + ["</tbody></table>"])


def read_questions(run: SweepJob) -> list[dict[str, Any]]:
    """The rows of ``run``'s ``questions.jsonl`` (none when absent; bad lines are skipped)."""
    path = run.path / QUESTIONS_JSONL
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            out.append(row)
    return out


def attack_names(row: dict[str, Any]) -> list[str]:
    """The attack columns of a question row: every ``recovered_<name>`` key, in order."""
    return [k.removeprefix("recovered_") for k in row if k.startswith("recovered_")]


def question_browser(runs: Sequence[SweepJob], out_dir: Path) -> list[str]:
    """The browser section: filters, then one ``<tr class="q">`` per question of every run."""
    per_run = [(run, read_questions(run)) for run in runs]
    per_run = [(run, qs) for run, qs in per_run if qs]
    parts = ['<h2 id="questions-browser">Questions, run by run</h2>']
    if not per_run:
        return parts + [f"<p>No run has a <code>{QUESTIONS_JSONL}</code>: nothing to browse.</p>"]
    parts.append(
        f'<p class="note">From each completed run\'s <code>{QUESTIONS_JSONL}</code> (its latest '
        "evaluation). M0 = the original model, M1 = the unlearned one. Attack cells: "
        '<span class="ok">✓</span> recovered, ✗ not recovered (attacks that did not run on a '
        "question are left out). In the "
        "details, each unit is shaded by its contribution (red helps the answer, blue works "
        "against it) and KeyTokens are underlined.</p>"
    )
    options = "".join(
        f'<option value="{_esc(run.label)}">{_esc(run.label)} ({_esc(run.setting)}, '
        f"seed {_esc(run.seed)})</option>"
        for run, _ in per_run
    )
    parts.append(
        '<div id="browser-controls">'
        f'<label>run <select id="run"><option value="">all runs</option>{options}</select></label>'
        '<label>show <select id="which"><option value="all">all questions</option>'
        '<option value="forgotten">forgotten by M1</option>'
        '<option value="recovered">recovered by some attack</option></select></label>'
        '<label>search <input id="text" type="search" placeholder="question, answer..."></label>'
        '<span><span id="shown">?</span> questions shown</span></div>'
    )
    parts.append(
        '<table id="questions"><thead><tr><th>run</th><th>#</th><th>question</th><th>gold</th>'
        "<th>M0 answer</th><th>M1 answer</th><th>status</th><th>attacks</th>"
        "<th>details</th></tr></thead><tbody>"
    )
    for run, questions in per_run:
        heatmap = _heatmap_link(run, out_dir)
        for q in questions:
            parts.append(_question_row(run, q, heatmap))
    parts.append("</tbody></table>")
    return parts


def _heatmap_link(run: SweepJob, out_dir: Path) -> str | None:
    candidates = []
    if run.final_step is not None:
        candidates.append(heatmap_path(run.path, run.final_step))
    candidates.append(heatmap_path(run.path, "final"))
    candidates += sorted((run.path / "plots").glob("contributions_*.png"), reverse=True)
    for path in candidates:
        if path.is_file():
            return os.path.relpath(path, out_dir)
    return None


def _status(q: dict[str, Any]) -> str:
    if q.get("forgotten"):
        return "forgotten"
    if q.get("known"):
        return "known, kept"
    return "unstable" if q.get("unstable") else "not known by M0"


def _mark(flag: Any) -> str:
    if flag is True:
        return '<span class="ok">✓</span>'
    return "✗" if flag is False else '<span class="no">–</span>'


def _question_row(run: SweepJob, q: dict[str, Any], heatmap: str | None) -> str:
    names = attack_names(q)
    recovered = any(q.get(f"recovered_{n}") is True for n in names)
    attacked = [n for n in names if q.get(f"recovered_{n}") is not None]
    badges = "<br>".join(f"{_esc(n)} {_mark(q.get(f'recovered_{n}'))}" for n in attacked)
    badges = badges or '<span class="no">not attacked</span>'
    details = []
    if q.get("focus_keys"):
        details.append(f"<p><b>FocusOnKey phrase</b>: {_esc(q['focus_keys'])}</p>")
    for n in attacked:
        answers = q.get(f"{n}_answers") or []
        items = "".join(f"<li>{_esc(a)}</li>" for a in answers) or "<li>(none)</li>"
        details.append(f"<p><b>{_esc(n)}</b> {_mark(q.get(f'recovered_{n}'))}</p><ol>{items}</ol>")
    units = q.get("units") or []
    for who, key, keys in (
        ("M0", "contributions_original", "keytokens_original"),
        ("M1", "contributions_unlearned", "keytokens_unlearned"),
    ):
        details.append(
            f"<p><b>contributions {who}</b>: {_shaded(units, q.get(key), q.get(keys))}</p>"
        )
    if heatmap:
        details.append(f'<p><a href="{_esc(heatmap)}">heatmap of this run</a></p>')
    flags = f'data-forgotten="{int(bool(q.get("forgotten")))}" data-recovered="{int(recovered)}"'
    cells = [
        _esc(run.label),
        _esc(q.get("index", "")),
        _esc(q.get("question", "")),
        _esc(q.get("gold", "")),
        _esc(q.get("original_answer", "")),
        _esc(q.get("unlearned_answer", "")),
        _esc(_status(q)),
        badges,
        "<details><summary>answers, contributions</summary>" + "".join(details) + "</details>",
    ]
    return (
        f'<tr class="q" data-run="{_esc(run.label)}" {flags}>'
        + "".join(f"<td>{c}</td>" for c in cells)
        + "</tr>"
    )


def _shaded(units: Sequence[Any], contributions: Any, keytokens: Any) -> str:
    """Each unit on a red (positive) or blue (negative) background, KeyTokens underlined."""
    values = contributions if isinstance(contributions, list) else []
    if len(values) != len(units):
        return _esc(" ".join(str(u) for u in units)) + " (no contributions)"
    finite = [abs(v) for v in values if isinstance(v, int | float)]
    bound = max(finite, default=0.0) or 1.0
    keys = set(keytokens) if isinstance(keytokens, list) else set()
    spans = []
    for unit, value in zip(units, values):
        v = float(value) if isinstance(value, int | float) else 0.0
        rgb = "214,39,40" if v > 0 else "31,119,180"
        style = f"background:rgba({rgb},{abs(v) / bound * 0.6:.2f})"
        cls = "u key" if unit in keys else "u"
        spans.append(f'<span class="{cls}" style="{style}" title="C={v:.3g}">{_esc(unit)}</span>')
    return "".join(spans)

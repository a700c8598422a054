"""``report.md``: the results table, the plots, every job that did not complete, and notes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from unpact_exp.report.collect import COMPLETED, FAILED, UNFINISHED, SweepJob
from unpact_exp.report.controls import TEXT as CONTROLS
from unpact_exp.report.controls import controls_table
from unpact_exp.report.table import (
    MISSING,
    PARTIAL,
    Row,
    attack_table,
    markdown_table,
    metric_tables,
    seed_table,
    table_notes,
)

UNITS = (
    "Units: rates (forget, FocusOnKey recovery, PROBAB recovery, destructive, utility) are "
    "percentages, i.e. the stored fraction x 100, one decimal; knowmem forget/retain are "
    "mean ROUGE-L F1 x 100 as stored (docs/science.md §4), one decimal; keytoken similarity is "
    "the cosine of the KeyToken sets of M0 and M1, 0-1, three decimals, over the known forget "
    "questions, and split into those M1 forgot (`forgotten`) and those it still answers "
    "(`retained`). "
    "Values are from each run's final eval step (`step`), averaged over the `n` completed runs "
    "(seeds) of the row; `n forgotten` = forgotten questions |F| (mean over runs), the "
    "denominator of the recovery rates. A rate with stored counts is written "
    "`rate [low, high] (k/n)`: k/n are the counts summed over the row's runs, the rate is k/n "
    "(pooled, so it always lies in its interval) and the interval is their 95% Wilson interval, "
    "in percent; the mean over seeds of the per-run rates is in the Across seeds table; "
    "`McNemar p (b/c)` is the two-sided exact McNemar test of FocusOnKey against PROBAB on "
    "the same forgotten questions, b = recovered by FocusOnKey only, c = by PROBAB only "
    "(summed over runs; p = 1 without discordant pairs). "
    f"{MISSING} = missing; {PARTIAL} = mean over fewer than n runs (see notes). "
    "`report.csv` holds the unrounded stored values with the counts, intervals and standard "
    "deviations over seeds; `runs.csv` has one line per job."
)
ATTACKS = (
    "Of the forgotten questions, the percentage each attack recovers (docs/science.md §10): "
    "FocusOnKey and PROBAB as above; paraphrase = the question reworded; ICL = known retain "
    "question/answer pairs before it; relearn = a few fine-tuning steps on the other half of "
    "the forgotten facts (measured on the held-out half); FocusOnKey control = FocusOnKey on "
    "forget questions the original model never answered (recovery from the prompt alone). "
    "`(k/n)`: recovered / attacked, summed over runs, with the 95% Wilson interval."
)
SEEDS = (
    "Mean ± sample standard deviation (n - 1 denominator) over the completed runs of each "
    "setting, same units as above; `n=` is how many runs report the metric."
)


def render_markdown(
    records: Sequence[SweepJob],
    rows: Sequence[Row],
    sources: Sequence[Path],
    plots: Sequence[Path],
) -> str:
    """Return the full ``report.md`` text."""
    done = [r for r in records if r.state == COMPLETED]
    bad = not_completed(records)
    n_failed = sum(r.state == FAILED for r in bad)
    lines = [
        "# Unlearning sweep report",
        "",
        "Sources: " + ", ".join(f"`{s}`" for s in sources),
        "",
        f"Jobs: {len(records)} found: {len(done)} completed, {n_failed} failed, "
        f"{len(bad) - n_failed} unfinished.",
        "",
        "## Results (final eval step)",
        "",
        markdown_table(rows) if rows else "No completed runs: nothing to tabulate.",
        "",
        UNITS,
        "",
    ]
    controls = controls_table(rows) if rows else None
    if controls is not None:
        lines += ["## FocusOnKey against its controls (final eval step)", "", controls, ""]
        lines += [CONTROLS, ""]
    attacks = attack_table(rows) if rows else None
    if attacks is not None:
        lines += ["## Recovery attacks (final eval step)", "", attacks, "", ATTACKS, ""]
    for title, table, text in metric_tables(rows) if rows else []:
        lines += [f"## {title} (final eval step)", "", table, "", text, ""]
    lines += [
        "## Across seeds",
        "",
        seed_table(rows) if rows else "No completed runs.",
        "",
        SEEDS,
        "",
    ]
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{p.stem}]({p.name})" for p in plots] + [""]
    lines += [f"## Failed and unfinished jobs ({len(bad)})", ""]
    if bad:
        lines += ["| job | state | setting | reason |", "|---|---|---|---|"]
        for r in bad:
            cells = [r.label, r.state, r.setting, r.reason]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    else:
        lines.append("None: every job completed.")
    notes = table_notes(rows) + [f"{r.label}: {n}" for r in records for n in r.notes]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def not_completed(records: Sequence[SweepJob]) -> list[SweepJob]:
    """Failed jobs first, then unfinished ones, each in discovery order."""
    return [r for r in records if r.state == FAILED] + [r for r in records if r.state == UNFINISHED]

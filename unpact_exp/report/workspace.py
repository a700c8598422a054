"""The W&B workspace of a sweep, defined in code: ``unpact workspace ENTITY/PROJECT --group G``.

Built with ``wandb-workspaces`` (``pip install 'unpact-exp[workspace]'``) from the keys the
runs log (:mod:`unpact_exp.evaluation.writing`) and the attacks' declarations, so a new
attack gets its panel without an edit here. Its runs are the group's (a sweep, every seed
stream of it, its eval runs and its report run), grouped by ``setting``; its sections:

- **Dilemma**: forget rate against destructive rate, one point per run at its final
  evaluation (the W&B summary); and forget rate against FocusOnKey's recovery.
- **Trajectories**: forget, destructive and FocusOnKey recovery rates, utility and KeyToken
  similarity against the training step, the mean and range over the seeds of each setting.
- **Attack rates**: every attack's recovery rate at the final evaluation; FocusOnKey against
  its same-budget controls (``control = True``) with the 95% interval; its excess over the
  strongest control.
- **Questions**: the per-question table (``eval/questions``, every attack's columns).
- **Report**: the report run's tables and plots (``report.py --wandb``).

``--dry-run`` prints the spec W&B would store (the JSON ``Workspace.save`` uploads), without a
network; tests build the spec the same way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

STEP = "trainer/global_step"
"""The x axis of every series (Lightning's W&B logger steps them by the training step)."""
TRAJECTORIES = (
    "forget_rate",
    "destructive_rate",
    "recovery_rate",
    "utility",
    "keytoken_similarity",
)
QUESTIONS_TABLE = "eval/questions"
REPORT_TABLES = ("report/results", "report/focusonkey_against_its_controls", "report/csv")
REPORT_PLOTS = ("report/plots/dilemma", "report/plots/recovery_vs_step")
MAX_RUNS = 200
"""Runs a panel draws (W&B's default, 10, is fewer than one seven-setting, two-seed sweep)."""
EXIT_USAGE = 2
INSTALL = "pip install 'unpact-exp[workspace]' (wandb-workspaces)"


def attack_rates() -> tuple[str, list[str], list[str]]:
    """``(FocusOnKey's rate, every attack's rate, the controls' rates)`` from the registry."""
    from unpact_exp.attacks import registry

    classes = [registry.get(name) for name in registry.names()]
    focus = registry.get("focus_on_key").rate
    return focus, [c.rate for c in classes], [c.rate for c in classes if c.control]


def workspace_spec(entity: str, project: str, group: str, name: str | None = None) -> Any:
    """The workspace of ``group`` (a ``wandb_workspaces.workspaces.Workspace``, not saved)."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws
    from wandb_workspaces import expr

    def summary(key: str) -> Any:
        return wr.SummaryMetric(f"eval/{key}")

    by_setting = {
        "groupby": wr.Config("setting"),
        "groupby_aggfunc": "mean",
        "groupby_rangefunc": "minmax",
    }
    focus, rates, controls = attack_rates()
    dilemma = [
        wr.ScatterPlot(
            title="the dilemma: forgotten vs destroyed (final evaluation)",
            x=summary("destructive_rate"),
            y=summary("forget_rate"),
        ),
        wr.ScatterPlot(
            title="forgotten, yet recovered by FocusOnKey (final evaluation)",
            x=summary("forget_rate"),
            y=summary(focus),
        ),
    ]
    trajectories = [
        wr.LinePlot(title=f"{key} by step", x=STEP, y=[f"eval/{key}"], **by_setting)
        for key in TRAJECTORIES
    ]
    attacks = [
        wr.BarPlot(
            title="recovery by attack (final evaluation)",
            metrics=[f"eval/{rate}" for rate in rates],
            **by_setting,
        ),
        wr.LinePlot(
            title="FocusOnKey against its same-budget controls",
            x=STEP,
            y=[f"eval/{rate}" for rate in (focus, *controls)],
            **by_setting,
        ),
        wr.LinePlot(
            title="FocusOnKey with its 95% interval",
            x=STEP,
            y=[f"eval/{focus}", f"eval/{focus}_ci_low", f"eval/{focus}_ci_high"],
            **by_setting,
        ),
        wr.LinePlot(
            title="FocusOnKey's excess over the strongest control",
            x=STEP,
            y=["eval/focus_on_key_excess"],
            **by_setting,
        ),
    ]
    wide = wr.Layout(w=24, h=12)
    questions = [wr.WeavePanelSummaryTable(table_name=QUESTIONS_TABLE, layout=wide)]
    report = [wr.WeavePanelSummaryTable(table_name=key) for key in REPORT_TABLES]
    report.append(wr.MediaBrowser(title="report plots", media_keys=list(REPORT_PLOTS)))
    return ws.Workspace(
        entity=entity,
        project=project,
        name=name or f"unpact {group}",
        sections=[
            ws.Section(name="Dilemma", panels=dilemma, is_open=True),
            ws.Section(name="Trajectories", panels=trajectories, is_open=True),
            ws.Section(name="Attack rates", panels=attacks, is_open=True),
            ws.Section(name="Questions", panels=questions),
            ws.Section(name="Report", panels=report),
        ],
        settings=ws.WorkspaceSettings(x_axis=STEP, max_runs=MAX_RUNS),
        runset_settings=ws.RunsetSettings(
            filters=[expr.Metric("Group") == group],
            groupby=[expr.Config("setting")],
        ),
    )


def spec_json(workspace: Any) -> str:
    """The view spec ``Workspace.save`` would upload, as JSON (no network)."""
    return workspace._to_model().spec.model_dump_json(by_alias=True, exclude_none=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``unpact workspace ENTITY/PROJECT --group G [--name N] [--dry-run]``; the exit code."""
    parser = argparse.ArgumentParser(
        prog="unpact workspace",
        description="Create the W&B workspace of a sweep group (dilemma, trajectories, attacks, "
        "questions, report).",
    )
    parser.add_argument("where", metavar="ENTITY/PROJECT", help="the W&B project of the runs")
    parser.add_argument("--group", required=True, help="the sweep's W&B group")
    parser.add_argument("--name", default=None, help="the workspace's name (default: unpact G)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the spec instead of saving it to W&B"
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    entity, sep, project = args.where.partition("/")
    if not sep or not entity or not project or "/" in project:
        example = "e.g. my-team/unpact-exp"
        print(f"error: {args.where!r} is not ENTITY/PROJECT ({example})", file=sys.stderr)
        return EXIT_USAGE
    try:
        workspace = workspace_spec(entity, project, args.group, args.name)
    except ImportError:
        print(f"error: the workspace needs wandb-workspaces: {INSTALL}", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run:
        print(spec_json(workspace))
        return 0
    saved = workspace.save()
    print(f"workspace saved: {saved.url}")
    return 0

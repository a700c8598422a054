"""Figure 4: where the wall time of ``make run``'s grid goes.

``make run`` is ``train.py -m experiment=paper_grid_tiny`` (one job per setting of the
paper grid, on the tiny target, built first when absent) followed by ``report.py``.
This script runs the same jobs in-process, in a fresh artifacts folder so the target
build is part of it, and splits the wall time into exclusive phases by wrapping the
framework's own functions with timers (time inside a nested phase counts only there):

- ``start-up``: importing the framework in a new interpreter (``train.py -m`` and
  ``report.py`` each pay it once), measured in a subprocess;
- ``data``: generating the synthetic benchmark;
- ``target build``: training and saving the tiny target (``stage=target``);
- ``unlearning``: each job minus everything below (config, encoding, model loading,
  Lightning set-up, the training steps themselves);
- ``evaluation: generation`` / ``UNPACT scoring`` / ``multiple-choice scoring`` /
  ``heatmaps`` / ``other`` (answers judged by ROUGE, KeyTokens, copies of the policy,
  loading M0, logging), from the evaluation callback;
- ``saving``: checkpoints and the unlearned model folder;
- ``reporting``: ``report.py``'s tables and plots over the grid's run folders.

One pass (the grid is the repeat: its jobs are summed).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common

GRID = ("ga+gd", "ga+kl", "npo+gd", "npo+kl", "tv", "rmu", "ga", "npo")
QUICK_GRID = ("ga+gd", "npo+kl")


class Phases:
    """Exclusive wall time per phase: a nested phase's time is taken out of its parent."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[list[Any]] = []  # [phase, start, time spent in children]

    def enter(self, phase: str) -> None:
        self._stack.append([phase, time.perf_counter(), 0.0])

    def exit(self) -> None:
        phase, start, children = self._stack.pop()
        elapsed = time.perf_counter() - start
        self.totals[phase] = self.totals.get(phase, 0.0) + elapsed - children
        self.calls[phase] = self.calls.get(phase, 0) + 1
        if self._stack:
            self._stack[-1][2] += elapsed

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(phase)
            try:
                return fn(*args, **kwargs)
            finally:
                self.exit()

        return timed

    def run(self, phase: str, fn: Callable[[], Any]) -> Any:
        return self.wrap(phase, fn)()


def instrument(phases: Phases) -> Callable[[], None]:
    """Wrap the framework's functions where they are looked up; returns the undo."""
    import lightning.pytorch as pl

    import unpact_exp.callbacks.evaluation as callback
    import unpact_exp.callbacks.finalize as finalize
    import unpact_exp.evaluation.multiple_choice as multiple_choice
    import unpact_exp.evaluation.tasks as tasks
    import unpact_exp.evaluation.writing as writing

    targets = [
        (callback.EvaluationCallback, "evaluate", "evaluation: other"),
        (tasks, "greedy_answers", "evaluation: generation"),
        (tasks, "sampled_answers", "evaluation: generation"),
        (tasks, "prompt_contributions", "evaluation: UNPACT scoring"),
        (multiple_choice, "mean_target_logprobs", "evaluation: multiple-choice scoring"),
        (writing, "plot_heatmaps", "evaluation: heatmaps"),
        (finalize.SaveUnlearned, "on_fit_end", "saving"),
        (pl.Trainer, "save_checkpoint", "saving"),
    ]
    undo = []
    for owner, name, phase in targets:
        original = getattr(owner, name, None)
        if original is None:
            print(f"[pipeline] {owner.__name__}.{name} not found; not timed", file=sys.stderr)
            continue
        setattr(owner, name, phases.wrap(phase, original))
        undo.append((owner, name, original))

    def restore() -> None:
        for owner, name, original in undo:
            setattr(owner, name, original)

    return restore


def startup_seconds() -> float:
    """Wall time of a fresh interpreter importing what ``train.py`` needs to start a job."""
    code = (
        "import train, unpact_exp.run, unpact_exp.stages.unlearn, lightning.pytorch, transformers, "
        "unpact_exp.evaluation.evaluator"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=common.ROOT, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = common.figure_parser(
        __doc__, "pipeline", "tiny world, 2 jobs of 2 steps", artifacts=False
    )
    parser.add_argument("--settings", default=",".join(GRID))
    parser.add_argument("--keep", type=Path, default=None, help="keep the grid's folders here")
    args = parser.parse_args(argv)
    threads = common.set_threads(args.threads)
    common.quiet()
    from unpact_exp.report import write_report
    from unpact_exp.run import main as run_stage

    settings = QUICK_GRID if args.quick else tuple(args.settings.split(","))
    base = ["experiment=paper_grid_tiny", "logger=none", "trainer.enable_progress_bar=false"]
    if args.quick:
        base += [
            *common.QUICK_WORLD,
            "trainer.max_steps=2",
            "callbacks.evaluation.every_n_steps=1",
            "eval.max_new_tokens=4",
        ]
    phases = Phases()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    artifacts, grid_dir = tmp / "artifacts", tmp / "grid"
    restore = instrument(phases)
    jobs = []
    started = time.perf_counter()
    try:
        startup = startup_seconds()
        phases.totals["start-up"] = 2 * startup  # train.py -m, then report.py
        cfg = common.compose([*base, "stage=target"], artifacts)
        phases.run("data", lambda: common.benchmark_data(cfg))
        cfg.paths.output_dir = str(tmp / "target")
        phases.run("target build", lambda: run_stage(cfg))
        for index, setting in enumerate(settings):
            cfg = common.compose([*base, f"setting={setting}"], artifacts)
            cfg.paths.output_dir = str(grid_dir / f"{index}_setting={setting}")
            before = dict(phases.totals)
            job_start = time.perf_counter()
            phases.run("unlearning", lambda cfg=cfg: run_stage(cfg))
            job = {
                "setting": setting,
                "seconds": time.perf_counter() - job_start,
                "phases": {
                    k: v - before.get(k, 0.0)
                    for k, v in phases.totals.items()
                    if v - before.get(k, 0.0) > 0
                },
            }
            jobs.append(job)
            print(f"[pipeline] {setting}: {job['seconds']:.1f} s", flush=True)
        phases.run("reporting", lambda: write_report([grid_dir], grid_dir / "report"))
    finally:
        restore()
        if args.keep:
            shutil.copytree(tmp, args.keep, dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    measured = time.perf_counter() - started
    total = sum(phases.totals.values())
    result = {
        "figure": "pipeline",
        "quick": args.quick,
        "threads": threads,
        "settings": list(settings),
        "overrides": base,
        "machine": common.machine_info(),
        "total_s": total,
        "in_process_s": measured,
        "phases": dict(sorted(phases.totals.items(), key=lambda kv: -kv[1])),
        "calls": phases.calls,
        "jobs": jobs,
    }
    for phase, seconds in result["phases"].items():
        print(f"[pipeline] {phase:38s} {seconds:7.1f} s  {seconds / total:5.1%}", flush=True)
    common.write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()

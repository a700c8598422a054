"""``make gpu-check``: SmolLM2 worldfacts on CUDA GPUs, plain, DDP and FSDP, bf16.

Everything else in the test suite runs on CPU; this is the check that the paths a GPU user
takes work end to end: a few unlearning steps of ``experiment=smollm2_worldfacts
setting=ga+gd`` with ``trainer=gpu`` and with ``trainer=fsdp trainer.devices=1`` (both
``bf16-mixed``), each followed by the UNPACT evaluation on the GPU. When two or more GPUs
are visible it also runs two ranks: ``trainer=ddp``, ``trainer=fsdp`` (FSDP v1, the
paper experiments' strategy) and ``trainer=fsdp2``, each with ``trainer.devices=2``
(:func:`configs`). For each it asserts that M0 (analysed once) and M1 (every evaluation)
sit on CUDA, and prints the mean step time, the evaluation time and the peak GPU memory
(of rank 0 for the two-rank runs, whose second rank Lightning starts itself).

Each configuration runs in its own interpreter (``--one NAME``), so FSDP's process group and
the peak-memory counter start fresh; the parent collects their JSON lines and prints a table.
Needs the SmolLM2 weights (``make install-real``).

Exit codes: 0 all checks passed; 1 a configuration failed or a model was not on the GPU;
2 no CUDA GPU (nothing was run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXIT_FAILED, EXIT_NO_GPU = 1, 2
NO_GPU = (
    "gpu-check: no CUDA GPU is visible (torch.cuda.is_available() is False); nothing was run. "
    "Run it on a machine with an NVIDIA GPU and a CUDA build of torch."
)
CONFIGS = {
    "gpu": ["trainer=gpu"],
    "fsdp": ["trainer=fsdp", "trainer.devices=1"],
}
TWO_RANK_CONFIGS = {
    "ddp-2": [
        "trainer=ddp",
        "trainer.accelerator=gpu",
        "trainer.devices=2",
        "trainer.precision=bf16-mixed",
    ],
    "fsdp-2": ["trainer=fsdp", "trainer.devices=2"],
    "fsdp2-2": [
        "trainer=fsdp2",
        "trainer.accelerator=gpu",
        "trainer.devices=2",
        "trainer.precision=bf16-mixed",
    ],
}
ALL_CONFIGS = {**CONFIGS, **TWO_RANK_CONFIGS}
RESULT_PREFIX = "GPU_CHECK_RESULT "


def configs(n_gpus: int) -> dict[str, list[str]]:
    """The configurations to run with ``n_gpus`` visible: the one-GPU pair, and the
    two-rank ones when there are at least two GPUs."""
    return dict(ALL_CONFIGS) if n_gpus >= 2 else dict(CONFIGS)


def is_rank_zero(env: dict[str, str]) -> bool:
    """Whether this process is rank 0 (Lightning starts the other ranks with ``LOCAL_RANK``)."""
    return int(env.get("LOCAL_RANK", "0")) == 0


def overrides(name: str, steps: int) -> list[str]:
    """The Hydra overrides of configuration ``name``: a short ga+gd run evaluated at its end.

    Raises:
        KeyError: ``name`` is not one of :data:`ALL_CONFIGS`.
    """
    return [
        "experiment=smollm2_worldfacts",
        "setting=ga+gd",
        *ALL_CONFIGS[name],
        f"trainer.max_steps={steps}",
        f"callbacks.evaluation.every_n_steps={steps}",
        "callbacks.evaluation.at_start=false",
        "logger=none",
    ]


def child_command(name: str, steps: int, out: Path) -> list[str]:
    """The command that runs one configuration in a fresh interpreter."""
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        name,
        "--steps",
        str(steps),
        "--out",
        str(out),
    ]


def placement_errors(record: dict[str, Any]) -> list[str]:
    """What is wrong with where the models lived (empty: M0 and every M1 on CUDA only)."""
    errors = []
    if not record.get("m0_devices"):
        errors.append("M0 was never analysed (no evaluation ran)")
    elif set(record["m0_devices"]) != {"cuda"}:
        errors.append(f"M0 sat on {sorted(record['m0_devices'])}, expected cuda")
    if not record.get("m1_devices"):
        errors.append("M1 was never evaluated")
    for i, devices in enumerate(record.get("m1_devices", [])):
        if set(devices) != {"cuda"}:
            errors.append(f"M1 at evaluation {i} sat on {sorted(devices)}, expected cuda")
    return errors


def summary_line(record: dict[str, Any]) -> str:
    """One row of the printed table."""
    return (
        f"| {record['name']} | {record['steps']} | {record['step_s']:.3f} | "
        f"{record['m0_analysis_s']:.1f} | {record['eval_s']:.1f} | "
        f"{record['peak_gib']:.2f} | {record['forget_rate']} | "
        f"{'ok' if not placement_errors(record) else 'FAIL'} |"
    )


TABLE_HEADER = (
    "| trainer | steps | mean step s | M0 analysis s | M1 evaluation s | peak GPU GiB | "
    "forget_rate | placement |\n|---|---|---|---|---|---|---|---|"
)


def _devices(model: Any) -> list[str]:
    return sorted({p.device.type for p in model.parameters()})


def run_one(name: str, steps: int, out: Path) -> dict[str, Any]:
    """Run configuration ``name`` in this process, instrumented; return its record.

    ``Evaluator`` is wrapped to note the devices of the models it is given and the
    time it takes (CUDA synchronised); the mean step time is the fit's wall time less the
    analysis time, over the steps (so it includes the first step's warm-up).
    """
    import torch

    from unpact_exp.compose import compose_config
    from unpact_exp.evaluation.evaluator import Evaluator
    from unpact_exp.results import read_results
    from unpact_exp.run import main

    record: dict[str, Any] = {
        "name": name,
        "steps": steps,
        "m0_devices": [],
        "m1_devices": [],
        "m0_analysis_s": 0.0,
        "eval_s": 0.0,
    }
    init, evaluate = Evaluator.__init__, Evaluator.evaluate

    def timed_init(self: Any, model: Any, *args: Any, **kwargs: Any) -> None:
        record["m0_devices"] = _devices(model)
        torch.cuda.synchronize()
        start = time.perf_counter()
        init(self, model, *args, **kwargs)
        torch.cuda.synchronize()
        record["m0_analysis_s"] += time.perf_counter() - start

    def timed_evaluate(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        record["m1_devices"].append(_devices(model))
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = evaluate(self, model, *args, **kwargs)
        torch.cuda.synchronize()
        record["eval_s"] += time.perf_counter() - start
        return result

    Evaluator.__init__, Evaluator.evaluate = timed_init, timed_evaluate  # type: ignore[method-assign]
    run_dir = out / name
    cfg = compose_config(overrides(name, steps), run_dir, ROOT / "artifacts", ROOT)
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    main(cfg)
    torch.cuda.synchronize()
    wall = time.perf_counter() - start
    results = read_results(run_dir)
    final = results["eval"][max(results["eval"], key=int)] if results.get("eval") else {}
    record.update(
        status=results.get("status"),
        wall_s=wall,
        step_s=(wall - record["m0_analysis_s"] - record["eval_s"]) / steps,
        peak_gib=torch.cuda.max_memory_allocated() / 2**30,
        forget_rate=final.get("forget_rate"),
    )
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="gpu_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="unlearning steps per configuration")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "gpu_check")
    parser.add_argument("--one", choices=sorted(ALL_CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(NO_GPU, file=sys.stderr)
        return EXIT_NO_GPU
    if args.one:
        record = run_one(args.one, args.steps, args.out)
        if is_rank_zero(dict(os.environ)):
            print(RESULT_PREFIX + json.dumps(record), flush=True)
        return 0
    n_gpus = torch.cuda.device_count()
    print(f"gpu-check on {n_gpus} x {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    records, failed = [], []
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "WANDB_MODE": "disabled",
    }
    for name in configs(n_gpus):
        proc = subprocess.run(
            child_command(name, args.steps, args.out), env=env, capture_output=True, text=True
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
        if proc.returncode != 0 or not lines:
            failed.append(name)
            print(f"{name}: exit {proc.returncode}\n{proc.stderr[-4000:]}", file=sys.stderr)
            continue
        record = json.loads(lines[-1][len(RESULT_PREFIX) :])
        records.append(record)
        for error in placement_errors(record):
            failed.append(name)
            print(f"{name}: {error}", file=sys.stderr)
        if record.get("status") != "completed":
            failed.append(name)
            print(f"{name}: run status {record.get('status')!r}", file=sys.stderr)
    print(TABLE_HEADER)
    for record in records:
        print(summary_line(record))
    if failed:
        print(f"gpu-check FAILED: {', '.join(sorted(set(failed)))}", file=sys.stderr)
        return EXIT_FAILED
    print("gpu-check passed: M0 and M1 on cuda in every configuration.")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))

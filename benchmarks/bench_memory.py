"""Memory: peak training memory and tokens/s of ``npo+kl``, full fine-tuning vs LoRA.

Sides, on the same model folder, data, batch size, learning rate and steps:

- ``full``: the framework with ``peft=none`` (NPO's cached reference log-probs, a frozen
  reference copy loaded for KL);
- ``full+gc``: the same with ``trainer.gradient_checkpointing=true``;
- ``lora`` / ``lora+gc``: ``peft=lora`` (adapters only; the reference is the base with its
  adapters disabled, no copy), without and with gradient checkpointing;
- ``baseline``: the HF-Trainer baseline of ``bench_unlearn.py`` (a ``copy.deepcopy`` of the
  model as the reference).

Memory: each side runs in its own fresh interpreter. After the imports (Lightning,
transformers.Trainer, peft) and the data generation, the resident set size is read and
the kernel's peak counter is reset (``/proc/self/clear_refs`` = 5); at the end of the
last training step the peak (``VmHWM``) is read again. *Training memory* is that peak
above the post-import RSS: models, reference, gradients, optimizer state, activations
(Python/CPU: torch's CPU allocator returns freed blocks to the system, so RSS follows
the tensors; ``tracemalloc`` does not see torch). Tokens/s: real tokens of the trained
batches over the timed steps after one warm-up step (one fit per side: indicative).
The estimate of ``python -m unpact_exp.memory`` for the same workload is set beside it.

``--quick``: the bench model at its real size, 1 warm-up + 2 timed steps, no SmolLM2
(about 2 minutes on 2 cores). ``--tiny``: test sizes (numbers meaningless).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_unlearn, common

SIDES: dict[str, list[str]] = {
    "full": ["peft=none"],
    "full+gc": ["peft=none", "trainer.gradient_checkpointing=true"],
    "lora": ["peft=lora"],
    "lora+gc": ["peft=lora", "trainer.gradient_checkpointing=true"],
    "baseline": [],
}
GOALS = {"lora / full": 0.5, "lora / baseline": 0.4}  # issue 14: at most these ratios
MARK = "BENCH-RESULT "


def vm_kib(key: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status (Linux only)")


def reset_peak() -> None:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


class PeakClock(bench_unlearn.Clock):
    """The step clock of bench_unlearn, reading the resettable kernel peak at each step end."""

    def end(self) -> None:
        super().end()
        self.peak_rss_mb = vm_kib("VmHWM") / 1024


def compose_side(spec: dict[str, Any], side: str, steps: int) -> Any:
    """The framework config of ``npo+kl`` for one side on the benchmark model folder."""
    return common.compose(
        [
            "method=npo",
            "regularizer=kl",
            *SIDES[side],
            f"model.path={spec['model_dir']}",
            "callbacks=none",
            "logger=none",
            "trainer.enable_progress_bar=false",
            f"trainer.max_steps={steps}",
            f"trainer.checkpoint_every_n_steps={10 * steps}",
            *(common.QUICK_WORLD if spec["tiny"] else []),
        ],
        Path(spec["artifacts"]) if spec["artifacts"] else None,
    )


def memory_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One side in this (fresh) process: post-import RSS, training peak, tokens/s."""
    common.set_threads(str(spec["threads"]))
    common.quiet()
    import lightning.pytorch  # noqa: F401
    import peft  # noqa: F401
    import transformers.trainer  # noqa: F401

    side = spec["side"]
    steps = spec["warmup"] + spec["steps"]
    cfg = compose_side(spec, side, steps)
    common.benchmark_data(cfg)  # generated once, outside the measurement
    clock = PeakClock()
    start_mb = vm_kib("VmRSS") / 1024
    reset_peak()
    with tempfile.TemporaryDirectory() as tmp:
        if side == "baseline":
            bench_unlearn.run_baseline(cfg, clock, Path(tmp))
        else:
            bench_unlearn.run_framework(cfg, clock, Path(tmp))
    summary = clock.summary(spec["warmup"], spec["steps"], 1)
    return {
        "rss_after_imports_mb": start_mb,
        "peak_rss_training_mb": clock.peak_rss_mb,
        "training_mb": clock.peak_rss_mb - start_mb,
        "tokens_per_s": summary["tokens_per_s"],
        "tokens_per_step": summary["tokens_per_step"],
        "batch_size": int(cfg.method.batch_size),
        "lora_r": int(cfg.peft.r) if side.startswith("lora") else None,
    }


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """:func:`memory_worker` in a fresh interpreter (its peak is its own)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=common.ROOT)
    lines = [line[len(MARK) :] for line in out.stdout.splitlines() if line.startswith(MARK)]
    if out.returncode or not lines:
        raise RuntimeError(f"memory worker failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def estimate_mb(model_dir: str, side: dict[str, Any], lora_r: int) -> dict[str, float]:
    """``unpact_exp.memory``'s one-GPU full-FT and LoRA totals for the measured workload."""
    from transformers import AutoConfig

    from unpact_exp.memory import Workload, estimate, model_shape

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    shape = model_shape(AutoConfig.from_pretrained(model_dir), lora_r, targets)
    batch = side["batch_size"]
    seq = max(1, round(side["tokens_per_step"] / (2 * batch)))
    rows = {}
    for gc in (False, True):
        work = Workload(batch, seq, 2, 4, True, gc, 1, kl=True)  # npo+kl
        full, *_, lora = estimate(shape, work)
        suffix = "+gc" if gc else ""
        rows[f"full{suffix}"] = full.total / 2**20
        rows[f"lora{suffix}"] = lora.total / 2**20
    return rows


def measure_model(name: str, model_dir: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Every side on one model folder, each in its own process, one after the other."""
    sides = {side: run_worker({**spec, "model_dir": model_dir, "side": side}) for side in SIDES}
    full, lora, base = (sides[s]["training_mb"] for s in ("full", "lora", "baseline"))
    ratios = {"lora / full": lora / full, "lora / baseline": lora / base}
    estimates = estimate_mb(model_dir, sides["full"], sides["lora"]["lora_r"])
    for side, value in sides.items():
        print(
            f"[memory] {name} {side:9s} training {value['training_mb']:7.1f} MiB, "
            f"{value['tokens_per_s']:8.0f} tok/s"
            + (f", estimate {estimates[side]:7.1f} MiB" if side in estimates else ""),
            flush=True,
        )
    return {"sides": sides, "ratios": ratios, "estimate_mb": estimates}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = common.figure_parser(__doc__, "memory", "bench model only, 2 timed steps")
    parser.add_argument("--tiny", action="store_true", help="test sizes (numbers meaningless)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(MARK + json.dumps(memory_worker(json.loads(args.worker))), flush=True)
        return {}
    common.quiet()
    threads = common.set_threads(args.threads)
    warmup, steps = (1, 1) if args.tiny else (1, 2) if args.quick else (2, 4)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "bench-model"
        model = bench_unlearn.save_bench_model(args.tiny, args.artifacts, model_dir)
        spec = {
            "artifacts": str(args.artifacts) if args.artifacts else None,
            "tiny": args.tiny,
            "threads": threads,
            "warmup": warmup,
            "steps": steps,
        }
        models = {"bench": model}
        results["bench"] = measure_model("bench", str(model_dir), spec)
        smol = None if (args.quick or args.tiny) else common.smollm2(args.artifacts)
        if smol is not None:
            models["smollm2_135m"] = common.describe_model("smollm2_135m", smol[0])
            del smol
            cfg = common.compose(["model=smollm2_135m"], args.artifacts)
            from unpact_exp.models.loading import resolve_source

            source = resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
            results["smollm2_135m"] = measure_model("smollm2_135m", source, spec)
    body = {"warmup": warmup, "steps": steps, "models": models, "goals": GOALS, "results": results}
    return common.write_figure("memory", args, threads, body)


if __name__ == "__main__":
    main()

"""Shared pieces of the benchmark scripts: configs, models, timing, machine facts.

Every figure script measures a framework path side by side with the baseline a user
would otherwise run, in the same process, interleaved (A, B, A, B, ...) so that load
from other processes on a shared machine hits both sides alike, and reports medians.

Models (each figure says which one it used):

- ``tiny``: the framework's own target (``artifacts/targets/tiny-synthetic``, a 2-layer,
  64-wide Llama with a word-level vocabulary), built in-process when absent;
- ``bench``: a randomly initialised Llama built in-process with the same tokenizer,
  6 layers x 384 wide (about 15M parameters), a fairer stand-in for a real model when
  throughput is measured (its matmuls are large enough to be compute-bound);
- ``smollm2_135m``: used only when ``conf/model/smollm2_135m.yaml`` exists and loads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "unpact_exp" / "conf"
OUT_DIR = ROOT / "benchmarks" / "out"

BENCH_MODEL = {"num_layers": 6, "hidden_size": 384, "num_heads": 6, "intermediate_size": 1536}
QUICK_BENCH_MODEL = {"num_layers": 2, "hidden_size": 64, "num_heads": 4, "intermediate_size": 128}
# ``--quick`` (tests): a small synthetic world, so data generation and any build take seconds.
QUICK_WORLD = [
    "data.n_forget=4",
    "data.n_retain=8",
    "data.n_holdout=2",
    "data.n_general_lands=3",
    "data.n_icl=2",
    "model.build.hidden_size=32",
    "model.build.max_epochs=2",
    "model.build.check_every_n_epochs=1",
]


def compose(overrides: list[str], artifacts_dir: Path | None = None) -> Any:
    """``conf/train.yaml`` composed in-process with ``overrides`` (no Hydra run dir).

    Args:
        overrides: Hydra overrides, as on the command line.
        artifacts_dir: where targets and generated data live (default: the repo's).
    """
    from unpact_exp.compose import compose_config

    artifacts = Path(artifacts_dir) if artifacts_dir else ROOT / "artifacts"
    return compose_config(overrides, artifacts.parent / "outputs" / "bench", artifacts, ROOT)


def set_threads(threads: str) -> int:
    """Set torch's intra-op threads: a number, or ``auto`` (all cores if the machine is idle).

    Why ``auto`` is not simply "all cores": on a 2-core machine shared with other
    processes, two OpenMP threads per matmul wait on each other behind the other load
    and run up to 20x slower than one thread (measured while writing these scripts).
    ``auto`` takes every core only when the 1-minute load average is below 1.
    """
    import torch

    if threads == "auto":
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        count = (os.cpu_count() or 1) if load < 1.0 else 1
    else:
        count = int(threads)
    torch.set_num_threads(count)
    return count


def quiet() -> None:
    """Silence library chatter (progress bars, warnings about eval-mode modules)."""
    import logging
    import warnings

    from unpact_exp.run import quiet_libraries

    quiet_libraries()
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def benchmark_data(cfg: Any) -> Any:
    """The synthetic benchmark named by ``cfg.data`` (generated on first use)."""
    from unpact_exp.data.prepare import get_benchmark

    return get_benchmark(cfg.data, cfg.paths.data_dir)


def tiny_target(cfg: Any, quick: bool = False) -> tuple[Any, Any, str | None]:
    """``(model, tokenizer, folder)`` of the framework's tiny target, built if absent.

    With ``quick`` the model is the target's architecture, untrained (no folder), so
    tests of the scripts do not pay for a training run.
    """
    from unpact_exp.models.loading import load_pretrained, resolve_source
    from unpact_exp.stages.settings import run_settings
    from unpact_exp.stages.target import build_target, target_ready, vocabulary_texts

    settings = run_settings(cfg)
    if quick:
        from unpact_exp.models.tiny import build_tiny_llama, build_word_tokenizer

        words = list(cfg.model.build.get("vocabulary") or ())
        tokenizer = build_word_tokenizer(vocabulary_texts(benchmark_data(cfg), settings, words))
        b = cfg.model.build
        model = build_tiny_llama(
            tokenizer,
            b.hidden_size,
            b.num_layers,
            b.num_heads,
            b.intermediate_size,
            cfg.model.max_length,
            b.init_seed,
        )
        return model.eval(), tokenizer, None
    if not target_ready(cfg):
        build_target(cfg, settings, Path(cfg.paths.output_dir) / "target_build", loggers=[])
    source = resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
    model, tokenizer = load_pretrained(source, cfg.model.dtype, False)
    return model.eval(), tokenizer, source


def bench_model(tokenizer: Any, quick: bool = False, seed: int = 0) -> Any:
    """A random Llama of :data:`BENCH_MODEL` size (or a tiny one with ``quick``), in eval mode."""
    from unpact_exp.models.tiny import build_tiny_llama

    spec = QUICK_BENCH_MODEL if quick else BENCH_MODEL
    model = build_tiny_llama(tokenizer, max_position_embeddings=512, seed=seed, **spec)
    return model.eval()


def smollm2(artifacts_dir: Path | None = None) -> tuple[Any, Any, str] | None:
    """SmolLM2-135M through ``model=smollm2_135m`` when that config exists and loads, else None."""
    if not (CONF / "model" / "smollm2_135m.yaml").exists():
        return None
    try:
        from unpact_exp.models.loading import load_pretrained, resolve_source

        cfg = compose(["model=smollm2_135m"], artifacts_dir)
        source = resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
        model, tokenizer = load_pretrained(source, "float32", bool(cfg.model.trust_remote_code))
        return model.eval(), tokenizer, source
    except Exception as err:  # noqa: BLE001 - any failure means "not usable here"
        print(f"smollm2_135m not usable: {type(err).__name__}: {err}", file=sys.stderr)
        return None


def describe_model(name: str, model: Any) -> dict[str, Any]:
    """Name, size and shape of a model, for the results."""
    config = model.config
    return {
        "name": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "intermediate": config.intermediate_size,
        "heads": config.num_attention_heads,
        "vocab": config.vocab_size,
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
    }


def median(values: list[float]) -> float:
    """The median (the figure every script reports)."""
    return float(statistics.median(values))


def interleaved(
    sides: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall times of each side, run in turn ``repeats`` times after ``warmup`` untimed rounds.

    Alternating the sides spreads any background load over both rather than over one.
    """
    for _ in range(warmup):
        for fn in sides.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


@dataclass
class Timer:
    """Accumulates wall time per phase name (``with timer("phase"): ...``)."""

    totals: dict[str, float]

    def __init__(self) -> None:
        self.totals = {}

    def __call__(self, phase: str) -> _Phase:
        return _Phase(self, phase)


class _Phase:
    def __init__(self, timer: Timer, phase: str) -> None:
        self.timer, self.phase = timer, phase

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        elapsed = time.perf_counter() - self.start
        self.timer.totals[self.phase] = self.timer.totals.get(self.phase, 0.0) + elapsed


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, library versions and the load when measured."""
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    versions["transformers"] = transformers.__version__
    try:
        import lightning

        versions["lightning"] = lightning.__version__
    except ImportError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory": memory,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
        "commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if out.returncode:
        return None
    return out.stdout.strip() + (" (uncommitted changes)" if dirty.stdout.strip() else "")


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def figure_parser(
    doc: str | None, figure: str, quick_help: str, artifacts: bool = True
) -> argparse.ArgumentParser:
    """The options every figure script takes (``run_all.py`` passes them to each).

    ``--quick`` (test sizes), ``--threads``, ``--out`` (default ``out/<figure>.json``) and,
    for scripts that read a built target, ``--artifacts``; each script adds its own.
    """
    parser = argparse.ArgumentParser(description=(doc or figure).splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--threads", default="auto", help="torch threads, or auto")
    parser.add_argument("--out", type=Path, default=OUT_DIR / f"{figure}.json")
    if artifacts:
        parser.add_argument("--artifacts", type=Path, default=None, help="default: repo artifacts/")
    return parser


def write_figure(figure: str, args: Any, threads: int, body: dict[str, Any]) -> dict[str, Any]:
    """Write a figure's JSON: its name, sizes, threads and machine, then ``body``."""
    result = {
        "figure": figure,
        "quick": args.quick,
        "threads": threads,
        "machine": machine_info(),
        **body,
    }
    write_json(args.out, result)
    return result


def cprofile_top(fn: Callable[[], Any], limit: int = 12) -> list[dict[str, Any]]:
    """Run ``fn`` under cProfile; the ``limit`` functions with the most own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values()) or 1.0
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:limit]
    return [
        {
            "function": f"{Path(file).name}:{line}({name})",
            "calls": calls,
            "own_s": round(own, 4),
            "own_share": round(own / total, 3),
            "cumulative_s": round(cum, 4),
        }
        for (file, line, name), (_, calls, own, cum, _) in rows
    ]


def torch_profile_top(fn: Callable[[], Any], limit: int = 10) -> list[dict[str, Any]]:
    """Run ``fn`` under ``torch.profiler`` (CPU); the ``limit`` ops with the most self time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:limit]
    return [
        {
            "op": e.key,
            "calls": e.count,
            "self_ms": round(e.self_cpu_time_total / 1000, 2),
            "self_share": round(e.self_cpu_time_total / total, 3),
        }
        for e in top
    ]


PACKAGES = ("lightning", "transformers", "torch", "unpact_exp", "accelerate", "hydra", "omegaconf")


def cprofile_by_package(fn: Callable[[], Any], limit: int = 8) -> dict[str, Any]:
    """Run ``fn`` under cProfile; own time grouped by the package of each function.

    Built-in functions (``torch._C`` ops, ``tensor.method``) are grouped as
    ``builtins (C: torch ops and others)``: that is where the arithmetic happens; the
    named packages' shares are Python overhead spent in that package's own code.
    """
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    return summarize_profile(profiler, limit)


def summarize_profile(profiler: Any, limit: int = 8) -> dict[str, Any]:
    """Own time of a finished ``cProfile.Profile`` grouped by package (see above)."""
    import pstats

    stats = pstats.Stats(profiler).stats
    total = sum(row[2] for row in stats.values()) or 1.0
    groups: dict[str, float] = {}
    for (file, _, _), (_, _, own, _, _) in stats.items():
        if file == "~":
            group = "builtins (C: torch ops and others)"
        else:
            parts = Path(file).parts
            group = next((p for p in PACKAGES if p in parts), "other python")
        groups[group] = groups.get(group, 0.0) + own
    rows = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:limit]
    return {
        "total_s": round(total, 3),
        "share_by_package": {
            k: round(v / total, 3) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])
        },
        "top_functions": [
            {
                "function": f"{Path(file).name}:{line}({name})",
                "calls": calls,
                "own_share": round(own / total, 3),
            }
            for (file, line, name), (_, calls, own, _, _) in rows
        ],
    }

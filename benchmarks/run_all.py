"""Run every figure script and rewrite ``benchmarks/RESULTS.md`` (what ``make bench`` runs).

Each figure runs in its own interpreter (a crash in one does not lose the others, and
no figure's memory or threads leak into the next); the thread count is decided once,
before any of them adds load, and passed to all. A figure that fails is named at the top
of RESULTS.md and the exit status is non-zero.

    python benchmarks/run_all.py            # all figures, ~10 minutes on 2 idle cores
    python benchmarks/run_all.py --only unpact,eval
    python benchmarks/run_all.py --quick --results /tmp/RESULTS.md --out-dir /tmp/out
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common, render

FIGURES = {
    "unpact": "bench_unpact.py",
    "unlearn": "bench_unlearn.py",
    "eval": "bench_eval.py",
    "pipeline": "bench_pipeline.py",
    "memory": "bench_memory.py",
}
HERE = Path(__file__).resolve().parent


def run_figure(name: str, args: argparse.Namespace, threads: int) -> tuple[dict | None, str]:
    """Run one figure script; returns (its JSON result or None, error text)."""
    out = args.out_dir / f"{name}.json"
    cmd = [sys.executable, str(HERE / FIGURES[name]), "--out", str(out), "--threads", str(threads)]
    if args.quick:
        cmd.append("--quick")
    if args.artifacts and name != "pipeline":  # the pipeline always uses a fresh folder
        cmd += ["--artifacts", str(args.artifacts)]
    print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=common.ROOT, stderr=subprocess.PIPE, text=True)
    print(f"== {name}: {time.perf_counter() - started:.0f} s, exit {proc.returncode}", flush=True)
    if proc.returncode:
        tail = [line for line in proc.stderr.splitlines() if line.strip()][-1:]
        sys.stderr.write(proc.stderr[-4000:])
        return None, tail[0] if tail else f"exit {proc.returncode}"
    return json.loads(out.read_text()), ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="test sizes (numbers meaningless)")
    parser.add_argument("--only", default=",".join(FIGURES), help="comma-separated figures")
    parser.add_argument("--threads", default="auto", help="torch threads, or auto")
    parser.add_argument("--out-dir", type=Path, default=common.OUT_DIR)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--artifacts", type=Path, default=None, help="default: repo artifacts/")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; choose from {list(FIGURES)}")
    threads = common.set_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name in names:
        result, error = run_figure(name, args, threads)
        if result is None:
            failed[name] = error
        else:
            figures[name] = result
    command = "make bench" if not argv else "python benchmarks/run_all.py " + " ".join(argv)
    meta = {
        "command": command,
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "wall_s": time.perf_counter() - started,
        "threads": threads,
        "quick": args.quick,
        "failed": failed,
    }
    args.results.write_text(render.render(figures, meta), encoding="utf-8")
    print(f"wrote {args.results} ({meta['wall_s'] / 60:.1f} min)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

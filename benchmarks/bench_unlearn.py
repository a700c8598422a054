"""Figure 2: unlearning step throughput per method vs an HF-Trainer baseline.

Sides, for each setting (default ``ga``, ``ga+gd``, ``npo``, ``npo+kl``; ``--settings``
takes any of ``ga+kl``, ``npo+gd`` too),
on the same model folder, data (the framework's encoded forget/retain QA), batch size,
learning rate, gradient clipping and number of steps:

- ``framework``: ``unpact_exp.stages.unlearn.run_unlearning`` itself (Lightning, the composed
  ``UnlearnModule``; NPO uses its cached reference log-probs, ``kl`` a frozen reference
  loaded from the model folder), with evaluation callbacks off and no checkpoint
  inside the measured steps;
- ``baseline``: written the way the best-known unlearning framework does it: a
  ``transformers.Trainer`` subclass overriding ``compute_loss``, a forget/retain paired
  dataset, and a ``copy.deepcopy`` of the model as the reference, run under
  ``torch.no_grad`` on every step where the method needs it (NPO's reference
  log-probs, the KL term). It does the policy's retain forward once for ``kl`` (the
  reference implementation runs it twice), so the baseline is, if anything, flattered.

Timing: one subprocess runs every setting, ``--rounds`` fresh fits per side with the
sides alternating (F, B, B, F, F, B), so both see the same background load; a fit's
throughput is its ``--steps`` timed steps after ``--warmup`` steps, and the figure is the
median over the rounds. Tokens/s counts the real tokens of the batches the policy trains
on (forget, plus retain when the method uses it), identical in definition for both
sides; ``run`` throughput also counts the one-off set-up (model and reference loading,
the NPO cache, the trainer's own set-up). Memory: each (setting, side) runs once more in
its own subprocess (two at a time: nothing is timed then), so its peak resident memory
(``ru_maxrss``) is its own.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from unpact_exp.config.binder import bind

SETTINGS = ("ga", "ga+gd", "npo", "npo+kl")  # --settings adds ga+kl, npo+gd
QUICK_SETTINGS = ("ga+gd", "npo+kl")
GOALS = {"ga": 1.0, "ga+gd": 1.0, "npo": 1.3}  # issue 7: minimum framework/baseline tokens/s
MARK = "BENCH-RESULT "


def split_setting(setting: str) -> tuple[str, str]:
    """``npo+kl`` -> (``npo``, ``kl``); ``ga`` -> (``ga``, ``none``)."""
    method, _, regularizer = setting.partition("+")
    return method, regularizer or "none"


def rss_mb() -> float:
    """Current resident set size of this process, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batch_tokens(batch: dict[str, Any]) -> int:
    """Real tokens the policy trains on in a paired batch."""
    return sum(int(part["attention_mask"].sum()) for part in batch.values() if part is not None)


class Clock:
    """Step timestamps and per-step token counts, shared by both sides.

    With ``profile_steps`` = (first, last), cProfile runs from the start of step
    ``first`` to the end of step ``last`` (0-based), i.e. over the timed steps only.
    """

    def __init__(self, profile_steps: tuple[int, int] | None = None) -> None:
        import cProfile

        self.start = time.perf_counter()
        self.step_starts: list[float] = []
        self.step_ends: list[float] = []
        self.tokens: list[int] = []
        self.profile_steps = profile_steps
        self.profiler = cProfile.Profile() if profile_steps else None

    def begin(self, tokens: int | None = None) -> None:
        if self.profiler and len(self.step_starts) == self.profile_steps[0]:
            self.profiler.enable()
        self.step_starts.append(time.perf_counter())
        if tokens is not None:
            self.tokens.append(tokens)

    def end(self) -> None:
        self.step_ends.append(time.perf_counter())
        self.peak_rss_mb = peak_rss_mb()  # at the last step: training's peak, before saving
        if self.profiler and len(self.step_ends) == self.profile_steps[1] + 1:
            self.profiler.disable()

    def summary(self, warmup: int, steps: int, windows: int) -> dict[str, Any]:
        ends, tokens = self.step_ends, self.tokens
        rates = []
        for w in range(windows):
            first, last = warmup + w * steps, warmup + (w + 1) * steps
            seconds = ends[last - 1] - ends[first - 1]
            rates.append(sum(tokens[first:last]) / seconds)
        return {
            "steps": len(ends),
            "tokens_per_step": sum(tokens) / len(tokens),
            "window_tokens_per_s": rates,
            "tokens_per_s": common.median(rates),
            "setup_s": self.step_starts[0] - self.start,
            "run_tokens_per_s": sum(tokens) / (ends[-1] - self.start),
        }


def compose_setting(
    setting: str, model_dir: str, steps: int, artifacts: Path | None, quick: bool
) -> Any:
    """The framework's config for this setting, on the benchmark model folder."""
    method, regularizer = split_setting(setting)
    return common.compose(
        [
            f"method={method}",
            f"regularizer={regularizer}",
            f"model.path={model_dir}",
            "callbacks=none",
            "logger=none",
            "trainer.enable_progress_bar=false",
            f"trainer.max_steps={steps}",
            f"trainer.checkpoint_every_n_steps={10 * steps}",
            *(common.QUICK_WORLD if quick else []),
        ],
        artifacts,
    )


def run_framework(cfg: Any, clock: Clock, run_dir: Path) -> None:
    """``run_unlearning`` with a step clock appended to its callbacks."""
    import lightning.pytorch as pl

    import unpact_exp.training.trainer as trainer_module
    from unpact_exp.stages.settings import run_settings
    from unpact_exp.stages.unlearn import run_unlearning

    class StepClock(pl.Callback):
        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, idx: int) -> None:
            clock.begin(batch_tokens(batch))

        def on_train_batch_end(self, *args: Any) -> None:
            clock.end()

    original = trainer_module.build_trainer

    def with_clock(*args: Any, **kwargs: Any) -> Any:
        if "callbacks" in kwargs:
            kwargs["callbacks"] = [*kwargs["callbacks"], StepClock()]
        else:
            args = (*args[:3], [*args[3], StepClock()], *args[4:])
        return original(*args, **kwargs)

    trainer_module.build_trainer = with_clock
    try:
        run_unlearning(cfg, run_settings(cfg), run_dir, [])
    finally:
        trainer_module.build_trainer = original


def run_baseline(cfg: Any, clock: Clock, run_dir: Path) -> None:
    """The HF-Trainer baseline on the same data, model, batch, learning rate and steps."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from unpact_exp.data.prepare import get_benchmark
    from unpact_exp.models.loading import load_tokenizer
    from unpact_exp.models.prompt import PromptFormat
    from unpact_exp.stages.unlearn import encode_split
    from unpact_exp.training.sequences import PadCollator

    method, regularizer = cfg.method.name, cfg.regularizer.name
    tokenizer = load_tokenizer(cfg.model.path, False)
    fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    length = min(int(cfg.data.max_length), int(cfg.model.max_length))
    forget = encode_split(tokenizer, fmt, bench, "forget", cfg.data.train_on, length)
    retain = encode_split(tokenizer, fmt, bench, "retain", cfg.data.train_on, length)
    pad = PadCollator(tokenizer.pad_token_id)
    uses_retain = regularizer != "none"

    class ForgetRetain(torch.utils.data.Dataset):
        """Item i: forget example i with a retain example drawn at random (seeded)."""

        def __init__(self) -> None:
            self.rng = torch.Generator().manual_seed(int(cfg.seed))

        def __len__(self) -> int:
            return len(forget)

        def __getitem__(self, i: int) -> dict[str, Any]:
            j = int(torch.randint(len(retain), (1,), generator=self.rng))
            return {"forget": forget[i], "retain": retain[j]}

    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = {"forget": pad([x["forget"] for x in items])}
        if uses_retain:
            batch["retain"] = pad([x["retain"] for x in items])
        return batch

    def sequence_nll(model: Any, inputs: dict[str, Any]) -> tuple[Any, Any]:
        out = model(**inputs)
        logits, labels = out.logits[..., :-1, :], inputs["labels"][..., 1:]
        nll = F.cross_entropy(logits.transpose(-1, -2), labels, reduction="none").sum(-1)
        return nll, out

    class UnlearnTrainer(Trainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.ref_model = None
            if method == "npo" or regularizer == "kl":
                self.ref_model = copy.deepcopy(self.model).eval()

        def compute_loss(
            self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch=None
        ) -> Any:
            clock.tokens.append(batch_tokens(inputs))
            keys = ("input_ids", "attention_mask", "labels")
            f = {k: inputs["forget"][k] for k in keys}
            if method == "npo":
                policy_nll, out = sequence_nll(model, f)
                with torch.no_grad():
                    ref_nll, _ = sequence_nll(self.ref_model, f)
                beta = float(cfg.method.beta)
                loss = -2 / beta * F.logsigmoid(beta * (policy_nll - ref_nll)).mean()
            else:
                out = model(**f)
                loss = -out.loss
            if uses_retain:
                r = {k: inputs["retain"][k] for k in keys}
                weight = float(cfg.regularizer.weight)
                if regularizer == "gd":
                    loss = loss + weight * model(**r).loss
                else:
                    with torch.no_grad():
                        ref_logp = F.log_softmax(self.ref_model(**r).logits, -1)
                    logp = F.log_softmax(model(**r).logits, -1)
                    vocab = logp.shape[-1]
                    kl = F.kl_div(
                        logp.view(-1, vocab),
                        ref_logp.view(-1, vocab),
                        reduction="batchmean",
                        log_target=True,
                    )
                    loss = loss + weight * kl
            return (loss, out) if return_outputs else loss

    class StepClock(TrainerCallback):
        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            clock.begin()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            clock.end()

    torch.manual_seed(int(cfg.seed))
    model = AutoModelForCausalLM.from_pretrained(cfg.model.path, dtype=torch.float32)
    args = TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=int(cfg.method.batch_size),
        max_steps=int(cfg.trainer.max_steps),
        learning_rate=float(cfg.method.lr),
        weight_decay=float(cfg.method.weight_decay),
        lr_scheduler_type="constant",
        warmup_steps=0,
        optim="adamw_torch_fused",  # the Trainer's default with torch >= 2.8; ours is fused too
        max_grad_norm=float(cfg.trainer.gradient_clip_val),
        logging_steps=int(cfg.trainer.log_every_n_steps),
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_pin_memory=False,
        seed=int(cfg.seed),
    )
    trainer = UnlearnTrainer(
        model=model,
        args=args,
        train_dataset=ForgetRetain(),
        data_collator=collate,
        callbacks=[StepClock()],
    )
    trainer.remove_callback(PrinterCallback)  # logs still computed, not printed
    trainer.train()


SIDES = ("framework", "baseline")


def run_side(spec: dict[str, Any], side: str, setting: str, profile: bool = False) -> dict:
    """One fresh fit of one side: ``warmup`` + ``steps`` steps; its clock summary."""
    total = spec["warmup"] + spec["steps"]
    artifacts = Path(spec["artifacts"]) if spec["artifacts"] else None
    cfg = compose_setting(setting, spec["model_dir"], total, artifacts, spec["quick"])
    clock = Clock((spec["warmup"], total - 1) if profile else None)
    with tempfile.TemporaryDirectory() as tmp:
        run = run_framework if side == "framework" else run_baseline
        run(cfg, clock, Path(tmp))
    summary = clock.summary(spec["warmup"], spec["steps"], 1)
    summary["batch_size"] = int(cfg.method.batch_size)
    summary["peak_rss_training_mb"] = clock.peak_rss_mb
    if clock.profiler:
        summary["profile"] = common.summarize_profile(clock.profiler)
    return summary


def timing_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Every setting, both sides in alternating order, ``rounds`` fresh fits each.

    One process for all of it, so the sides share the same background load as closely
    as a sequential run can; a setting whose speed-up misses its goal is then profiled
    (one more fit per side, cProfile over the timed steps).
    """
    common.set_threads(str(spec["threads"]))
    common.quiet()
    results: dict[str, Any] = {}
    for setting in spec["settings"]:
        rounds: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
        for r in range(spec["rounds"]):
            for side in SIDES if r % 2 == 0 else SIDES[::-1]:
                rounds[side].append(run_side(spec, side, setting))
        results[setting] = {side: combine(rounds[side]) for side in SIDES}
        goal = GOALS.get(setting)
        fw, base = results[setting]["framework"], results[setting]["baseline"]
        if goal is not None and fw["tokens_per_s"] / base["tokens_per_s"] < goal:
            for side in SIDES:
                results[setting][side]["profile"] = run_side(spec, side, setting, True)["profile"]
    return results


def combine(fits: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds of one side."""
    return {
        "steps": fits[0]["steps"],
        "batch_size": fits[0]["batch_size"],
        "tokens_per_step": sum(f["tokens_per_step"] for f in fits) / len(fits),
        "window_tokens_per_s": [f["tokens_per_s"] for f in fits],
        "tokens_per_s": common.median([f["tokens_per_s"] for f in fits]),
        "setup_s": common.median([f["setup_s"] for f in fits]),
        "run_tokens_per_s": common.median([f["run_tokens_per_s"] for f in fits]),
    }


def memory_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Peak resident memory of one side of one setting (meant for a fresh process)."""
    common.set_threads(str(spec["threads"]))
    common.quiet()
    from unpact_exp.data.prepare import get_benchmark

    artifacts = Path(spec["artifacts"]) if spec["artifacts"] else None
    cfg = compose_setting(spec["setting"], spec["model_dir"], 1, artifacts, spec["quick"])
    get_benchmark(cfg.data, cfg.paths.data_dir)  # generated once, outside the measurement
    rss_before = rss_mb()
    if spec["side"] == "framework":
        import lightning.pytorch  # noqa: F401
    else:
        import transformers.trainer  # noqa: F401
    rss_imported = rss_mb()
    training = run_side(spec, spec["side"], spec["setting"])["peak_rss_training_mb"]
    peak = peak_rss_mb()
    return {
        "rss_before_mb": rss_before,
        "rss_after_imports_mb": rss_imported,
        "peak_rss_training_mb": training,
        "peak_rss_mb": peak,
        "peak_above_start_mb": training - rss_imported,
    }


def run_worker(kind: str, spec: dict[str, Any], isolate: bool) -> dict[str, Any]:
    """``timing`` or ``memory`` worker, in a fresh interpreter unless ``isolate`` is false."""
    fn = timing_worker if kind == "timing" else memory_worker
    if not isolate:
        return fn(spec)
    cmd = [sys.executable, str(Path(__file__).resolve()), f"--{kind}", json.dumps(spec)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=common.ROOT)
    lines = [line[len(MARK) :] for line in out.stdout.splitlines() if line.startswith(MARK)]
    if out.returncode or not lines:
        raise RuntimeError(f"{kind} worker failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def save_bench_model(quick: bool, artifacts: Path | None, folder: Path) -> dict[str, Any]:
    """Write the benchmark model (random Llama, the tiny target's tokenizer) as an HF folder."""
    from unpact_exp.stages.target import save_hf_folder

    overrides = ["logger=none", *(common.QUICK_WORLD if quick else [])]
    cfg = common.compose(overrides, artifacts)
    _, tokenizer, _ = common.tiny_target(cfg, quick)
    model = common.bench_model(tokenizer, quick)
    save_hf_folder(model, tokenizer, folder)
    return common.describe_model("bench", model)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = common.figure_parser(__doc__, "unlearn", "tiny sizes, in-process (tests)")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per fit")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per fit")
    parser.add_argument("--rounds", type=int, default=3, help="fits per side (the repeats)")
    parser.add_argument("--timing", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for kind in ("timing", "memory"):
        if getattr(args, kind):
            fn = timing_worker if kind == "timing" else memory_worker
            print(MARK + json.dumps(fn(json.loads(getattr(args, kind)))), flush=True)
            return {}
    common.quiet()
    threads = common.set_threads(args.threads)  # decided once, passed to every worker
    settings = QUICK_SETTINGS if args.quick else tuple(args.settings.split(","))
    steps, warmup = (1, 1) if args.quick else (args.steps, args.warmup)
    isolate = not args.quick
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "bench-model"
        model = save_bench_model(args.quick, args.artifacts, model_dir)
        spec = {
            "model_dir": str(model_dir),
            "artifacts": str(args.artifacts) if args.artifacts else None,
            "quick": args.quick,
            "threads": threads,
            "warmup": warmup,
            "steps": steps,
            "rounds": args.rounds,
            "settings": list(settings),
        }
        results = run_worker("timing", spec, isolate)
        # Memory only: nothing is timed meanwhile, so the workers may share the cores.
        jobs = [(setting, side) for setting in settings for side in SIDES]
        with ThreadPoolExecutor(max_workers=2 if isolate else 1) as pool:
            peaks = pool.map(
                lambda job: run_worker(
                    "memory", {**spec, "setting": job[0], "side": job[1]}, isolate
                ),
                jobs,
            )
            for (setting, side), memory in zip(jobs, peaks):
                results[setting][side].update(memory)
        for setting in settings:
            fw, base = results[setting]["framework"], results[setting]["baseline"]
            results[setting]["speedup"] = fw["tokens_per_s"] / base["tokens_per_s"]
            results[setting]["run_speedup"] = fw["run_tokens_per_s"] / base["run_tokens_per_s"]
            print(
                f"[unlearn] {setting:7s} framework {fw['tokens_per_s']:8.0f} tok/s, "
                f"baseline {base['tokens_per_s']:8.0f} tok/s: {results[setting]['speedup']:.2f}x; "
                f"peak RSS in training {fw['peak_rss_training_mb']:.0f} vs "
                f"{base['peak_rss_training_mb']:.0f} MiB",
                flush=True,
            )
    body = {
        "warmup": warmup,
        "steps_per_window": steps,
        "rounds": args.rounds,
        "model": model,
        "goals": GOALS,
        "settings": results,
    }
    return common.write_figure("unlearn", args, threads, body)


if __name__ == "__main__":
    main()

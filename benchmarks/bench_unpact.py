"""Figure 1: UNPACT contribution scoring vs a naive transformers loop.

Sides, on the same prompts, targets and model, interleaved, median of ``--repeats``:

- ``naive``: what a user would write: for each prompt, for each of its n+1 variants
  (the prompt and each question token deleted), one ``model(input_ids)`` forward under
  ``torch.no_grad``, log-softmax, mean log-prob of the target tokens;
- ``pairs``: the framework's independent-pairs path (``mean_target_logprobs``: every
  variant a separate left-padded row, ``unpact.batch_size`` rows per pass). This was
  the UNPACT implementation before the shared-prefix change and is still the fallback
  for models that cannot take a 4-D mask, so it is the "before" figure;
- ``framework``: ``prompt_contributions`` as the evaluator calls it (shared-prefix
  families, ``unpact.batch_size`` variants per pass).

Equality: max |difference| of LP and every C_i between naive and each framework side.
Multiply-add rate: the MACs each side actually executed (real tokens through every
layer, attended query-key pairs, LM-head positions; counted by
``scoring.collect_stats``) per second, as a fraction of a dense fp32 matmul measured in
the same run (the larger of a square 2048^3 matmul and one shaped like the model's MLP
at the framework's rows per pass). ``effective`` rates count the MACs of the naive
definition (every variant forwarded in full) instead, so they show the saving.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from unpact_exp.config.binder import bind

SPEED_GOAL, CEILING_GOAL = 5.0, 0.40  # issue 7: vs the naive loop, of the matmul ceiling
TARGET = "reference"  # y = gold answer (unpact.target, docs/science.md §2): model-independent


def macs_per_token(config: Any) -> tuple[int, int]:
    """(dense MACs per token through all layers, MACs per attended pair over all layers)."""
    h, i = config.hidden_size, config.intermediate_size
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or h // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
    per_layer = h * (q_dim + 2 * kv_dim) + q_dim * h + 3 * h * i
    return config.num_hidden_layers * per_layer, config.num_hidden_layers * 2 * q_dim


def count_macs(config: Any, tokens: int, attended: int, logits: int) -> int:
    """MACs of a forward over ``tokens`` real tokens with ``attended`` pairs and ``logits`` kept."""
    dense, per_pair = macs_per_token(config)
    return tokens * dense + attended * per_pair + logits * config.hidden_size * config.vocab_size


class Ceiling:
    """The practical ceiling: dense fp32 matmuls, timed as one more interleaved side.

    Two shapes, a fixed amount of work each (about ``macs`` multiply-adds): a square
    ``n^3`` matmul and one shaped like the model's MLP up-projection on 512 rows. Timing
    them beside the scoring, under the same background load, keeps the fraction honest
    on a shared machine. The rate is the faster shape's.
    """

    def __init__(self, config: Any, square: int, macs: float) -> None:
        import torch

        h, i = config.hidden_size, config.intermediate_size
        self.shapes = {"square": (square, square, square), "mlp": (512, h, i)}
        self.operands = {
            k: (torch.randn(m, kk), torch.randn(kk, n)) for k, (m, kk, n) in self.shapes.items()
        }
        self.reps = {k: max(1, int(macs / (m * kk * n))) for k, (m, kk, n) in self.shapes.items()}
        self.rates: dict[str, list[float]] = {k: [] for k in self.shapes}

    def __call__(self) -> None:
        for key, (a, b) in self.operands.items():
            start = time.perf_counter()
            for _ in range(self.reps[key]):
                a @ b
            m, k, n = self.shapes[key]
            self.rates[key].append(self.reps[key] * m * k * n / (time.perf_counter() - start))

    def summary(self) -> dict[str, float]:
        rates = {k: common.median(v) for k, v in self.rates.items()}
        return {**rates, "max": max(rates.values())}


class Workload:
    """Prompts, targets and the three scorers for one model and prompt format."""

    def __init__(self, model: Any, tokenizer: Any, cfg: Any, items: list, icl: list) -> None:
        from unpact_exp.models.prompt import PromptFormat
        from unpact_exp.unpact.units import split_units

        self.model, self.tokenizer, self.cfg = model, tokenizer, cfg
        self.fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
        self.prompts = [self.fmt.parts(item.question, tokenizer, icl=icl) for item in items]
        self.answers = [item.answer for item in items]
        self.units = [split_units(tokenizer, p, cfg.unpact.granularity) for p in self.prompts]
        from unpact_exp.unpact.contributions import target_ids

        prefix = self.fmt.answer_prefix
        self.targets = [
            target_ids(tokenizer, p, a, prefix) for p, a in zip(self.prompts, self.answers)
        ]
        self.batch_size = int(cfg.unpact.batch_size)

    def variants(self) -> list[tuple[list[int], list[int]]]:
        """Every (variant prompt ids, target ids), prompt order, full prompt first."""
        from unpact_exp.unpact.contributions import ablate

        out = []
        for units, target in zip(self.units, self.targets):
            out.append((list(units.input_ids), list(target)))
            out += [(ablate(units.input_ids, s, "delete", 0), list(target)) for s in units.spans]
        return out

    def naive(self) -> list[tuple[float, list[float]]]:
        """One forward per variant, one prompt at a time, plain transformers."""
        import torch

        results = []
        with torch.no_grad():
            for units, target in zip(self.units, self.targets):
                ids = list(units.input_ids)
                variants = [ids] + [ids[:s] + ids[e:] for s, e in units.spans]
                scores = []
                for variant in variants:
                    logits = self.model(torch.tensor([variant + target])).logits[0]
                    logp = logits[len(variant) - 1 : -1].float().log_softmax(-1)
                    scores.append(logp[torch.arange(len(target)), torch.tensor(target)].mean())
                full = float(scores[0])
                results.append((full, [full - float(s) for s in scores[1:]]))
        return results

    def pairs(self) -> list[tuple[float, list[float]]]:
        """The independent-pairs path (the implementation before shared prefixes)."""
        # The private function on purpose: mean_target_logprobs would share identical prompts.
        from unpact_exp.unpact.scoring import _pair_logprobs, padding_id

        scores = _pair_logprobs(
            self.model, self.variants(), self.batch_size, padding_id(self.tokenizer)
        )
        results, cursor = [], 0
        for units in self.units:
            full = scores[cursor]
            ablated = scores[cursor + 1 : cursor + 1 + len(units.spans)]
            results.append((full, [full - v for v in ablated]))
            cursor += 1 + len(units.spans)
        return results

    def framework(self) -> list[tuple[float, list[float]]]:
        """``prompt_contributions`` exactly as the evaluator calls it."""
        from unpact_exp.unpact.contributions import prompt_contributions

        u = self.cfg.unpact
        out = prompt_contributions(
            self.model,
            self.tokenizer,
            self.prompts,
            self.answers,
            self.fmt.answer_prefix,
            u.granularity,
            u.removal,
            u.filler,
            self.batch_size,
        )
        return [(r.lp, list(r.contributions)) for r in out]

    def definition_macs(self) -> int:
        """MACs of the definition: every variant forwarded in full, LM head on target positions."""
        total = 0
        for prompt, target in self.variants():
            n = len(prompt) + len(target)
            total += count_macs(self.model.config, n, n * (n + 1) // 2, len(target))
        return total


def max_diff(a: list[tuple[float, list[float]]], b: list[tuple[float, list[float]]]) -> float:
    """Largest |difference| over every LP and C_i of two results."""
    worst = 0.0
    for (lp_a, c_a), (lp_b, c_b) in zip(a, b, strict=True):
        worst = max(worst, abs(lp_a - lp_b), *(abs(x - y) for x, y in zip(c_a, c_b, strict=True)))
    return worst


def measure(
    work: Workload, repeats: int, ceiling: Ceiling, pairs: bool, warmup: int, profile: str
) -> dict[str, Any]:
    """Time the sides on one workload; equality, rates and (optionally) profiles.

    The outputs of the timed calls are the ones compared, so no side runs untimed
    except the ``warmup`` rounds. ``profile``: ``""`` (never), ``"missed"`` (torch.profiler
    and cProfile of one framework call, only when a goal of issue 7 was missed: the
    evidence for what limits it) or ``"always"``.
    """
    from unpact_exp.unpact.scoring import collect_stats

    outputs: dict[str, Any] = {}
    executed: dict[str, dict[str, int]] = {}

    def timed(name: str, fn: Any) -> Any:
        def run() -> None:
            with collect_stats() as stats:
                outputs[name] = fn()
            executed[name] = {
                "forwards": stats.forwards,
                "token_slots": stats.slots,
                "real_tokens": stats.tokens,
                "macs": count_macs(work.model.config, stats.tokens, stats.attended, stats.logits),
            }

        return run

    sides = {"naive": work.naive, "framework": work.framework}
    if pairs:
        sides = {"naive": work.naive, "pairs": work.pairs, "framework": work.framework}
    timed_sides = {n: timed(n, f) for n, f in sides.items()}
    times = common.interleaved({**timed_sides, "matmul": ceiling}, repeats, warmup)
    times.pop("matmul")
    ceiling_rates = ceiling.summary()
    definition = work.definition_macs()
    naive_tokens = sum(len(p) + len(t) for p, t in work.variants())
    executed["naive"] = {
        "forwards": len(work.variants()),
        "token_slots": naive_tokens,
        "real_tokens": naive_tokens,
        "macs": definition,
    }
    result_sides = {}
    for name, values in times.items():
        seconds = common.median(values)
        rate = executed[name]["macs"] / seconds
        result_sides[name] = {
            "seconds": seconds,
            "times": values,
            **executed[name],
            "mac_rate": rate,
            "ceiling_fraction": rate / ceiling_rates["max"],
            "effective_mac_rate": definition / seconds,
        }
    naive_s = result_sides["naive"]["seconds"]
    result = {
        "prompts": len(work.prompts),
        "variants": len(work.variants()),
        "mean_prompt_tokens": sum(len(u.input_ids) for u in work.units) / len(work.units),
        "mean_target_tokens": sum(len(t) for t in work.targets) / len(work.targets),
        "batch_size": work.batch_size,
        "ceiling_macs_per_s": ceiling_rates,
        "max_abs_diff": {
            name: max_diff(outputs["naive"], outputs[name]) for name in sides if name != "naive"
        },
        "sides": result_sides,
        "speedup": {
            f"{name}_vs_naive": naive_s / result_sides[name]["seconds"]
            for name in sides
            if name != "naive"
        },
    }
    if pairs:
        result["speedup"]["framework_vs_pairs"] = (
            result_sides["pairs"]["seconds"] / result_sides["framework"]["seconds"]
        )
    framework = result_sides["framework"]
    missed = (
        result["speedup"]["framework_vs_naive"] < SPEED_GOAL
        or framework["ceiling_fraction"] < CEILING_GOAL
    )
    if profile == "always" or (profile == "missed" and missed):
        result["profile_ops"] = common.torch_profile_top(work.framework, 8)
        if work.model.config.hidden_size < 256:  # Python overhead matters on small models only
            result["profile_python"] = common.cprofile_top(work.framework, 8)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = common.figure_parser(__doc__, "unpact", "tiny sizes (for tests)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--icl-questions", type=int, default=16, help="for the icl3 row")
    parser.add_argument("--no-smollm2", action="store_true", help="skip SmolLM2 even if present")
    args = parser.parse_args(argv)
    threads = common.set_threads(args.threads)
    common.quiet()
    questions = 3 if args.quick else args.questions
    repeats = 1 if args.quick else args.repeats
    overrides = ["logger=none", "trainer.enable_progress_bar=false"]
    if args.quick:
        overrides += common.QUICK_WORLD
    cfg = common.compose(overrides, args.artifacts)
    bench = common.benchmark_data(cfg)
    tiny, tokenizer, source = common.tiny_target(cfg, args.quick)
    items = (bench.forget_qa + bench.retain_qa)[:questions]
    icl = bench.retain_qa[-3:]
    models = [
        ("tiny target", tiny, tokenizer, source),
        ("bench", common.bench_model(tokenizer, args.quick), tokenizer, None),
    ]
    smol = None if args.quick or args.no_smollm2 else common.smollm2(args.artifacts)
    smol_cfg = None
    if smol is not None:
        models.append(("smollm2_135m", smol[0], smol[1], smol[2]))
        smol_cfg = common.compose([*overrides, "model=smollm2_135m"], args.artifacts)
    runs = []
    for name, model, tok, where in models:
        cheap = name != "smollm2_135m"
        formats = (
            [("plain", [])] if name != "bench" or args.quick else [("plain", []), ("icl3", icl)]
        )
        for fmt_name, examples in formats:
            model_cfg = smol_cfg if name == "smollm2_135m" else cfg
            # The long-prefix row is a demonstration, not a goal: half the questions.
            subset = items[: args.icl_questions] if fmt_name == "icl3" else items
            work = Workload(model, tok, model_cfg, subset, examples)
            print(f"[unpact] {name} {fmt_name}: {len(work.variants())} variants ...", flush=True)
            started = time.perf_counter()
            run = measure(
                work,
                repeats,
                Ceiling(model.config, 256 if args.quick else 1024, 4e6 if args.quick else 4e9),
                pairs=cheap and fmt_name == "plain",
                warmup=1 if cheap else 0,
                profile="missed" if fmt_name == "plain" else "",
            )
            run.update(
                model=common.describe_model(name, model),
                source=where,
                prompt_format=fmt_name,
                wall_s=time.perf_counter() - started,
            )
            runs.append(run)
            s = run["speedup"]
            print(
                f"[unpact] {name} {fmt_name}: framework {s['framework_vs_naive']:.2f}x naive; "
                f"{run['sides']['framework']['ceiling_fraction']:.0%} of matmul ceiling; "
                f"max diff {run['max_abs_diff']['framework']:.1e}; {run['wall_s']:.0f} s",
                flush=True,
            )
    return common.write_figure("unpact", args, threads, {"repeats": repeats, "runs": runs})


if __name__ == "__main__":
    main()

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

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common

TARGET = "reference"  # y = gold answer: deterministic whatever the model (SPEC unpact.target)


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


def matmul_rate(m: int, k: int, n: int, repeats: int) -> float:
    """Median MAC/s of an fp32 ``[m, k] @ [k, n]`` matmul (each timing >= 0.2 s)."""
    import torch

    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(2):
        a @ b
    inner = max(1, int(2e9 / (m * k * n)))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            a @ b
        rates.append(inner * m * k * n / (time.perf_counter() - start))
    return common.median(rates)


class Workload:
    """Prompts, targets and the three scorers for one model and prompt format."""

    def __init__(self, model: Any, tokenizer: Any, cfg: Any, items: list, icl: list) -> None:
        from unpact_exp.analysis.units import split_units
        from unpact_exp.models.prompt import PromptFormat

        self.model, self.tokenizer, self.cfg = model, tokenizer, cfg
        self.fmt = PromptFormat.from_config(cfg.model.prompt)
        self.prompts = [self.fmt.parts(item.question, tokenizer, icl=icl) for item in items]
        self.answers = [item.answer for item in items]
        self.units = [split_units(tokenizer, p, cfg.unpact.granularity) for p in self.prompts]
        prefix = self.fmt.answer_prefix
        self.targets = [tokenizer(prefix + a, add_special_tokens=False)["input_ids"] for a in self.answers]
        self.batch_size = int(cfg.unpact.batch_size)

    def variants(self) -> list[tuple[list[int], list[int]]]:
        """Every (variant prompt ids, target ids), prompt order, full prompt first."""
        from unpact_exp.analysis.contributions import ablate

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
        from unpact_exp.analysis.scoring import mean_target_logprobs, padding_id

        scores = mean_target_logprobs(
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
        from unpact_exp.analysis.contributions import prompt_contributions

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


def measure(work: Workload, repeats: int, ceiling: float, profile: bool) -> dict[str, Any]:
    """Time the three sides on one workload; equality, rates and (optionally) profiles."""
    from unpact_exp.analysis.scoring import collect_stats

    naive, pairs, framework = work.naive(), work.pairs(), work.framework()
    executed = {}
    for name, fn in (("pairs", work.pairs), ("framework", work.framework)):
        with collect_stats() as stats:
            fn()
        executed[name] = {
            "forwards": stats.forwards,
            "token_slots": stats.slots,
            "real_tokens": stats.tokens,
            "macs": count_macs(work.model.config, stats.tokens, stats.attended, stats.logits),
        }
    definition = work.definition_macs()
    naive_tokens = sum(len(p) + len(t) for p, t in work.variants())
    executed["naive"] = {
        "forwards": len(work.variants()),
        "token_slots": naive_tokens,
        "real_tokens": naive_tokens,
        "macs": definition,
    }
    times = common.interleaved(
        {"naive": work.naive, "pairs": work.pairs, "framework": work.framework}, repeats
    )
    sides = {}
    for name, values in times.items():
        seconds = common.median(values)
        rate = executed[name]["macs"] / seconds
        sides[name] = {
            "seconds": seconds,
            "times": values,
            **executed[name],
            "mac_rate": rate,
            "ceiling_fraction": rate / ceiling,
            "effective_mac_rate": definition / seconds,
        }
    result = {
        "prompts": len(work.prompts),
        "variants": len(work.variants()),
        "mean_prompt_tokens": sum(len(u.input_ids) for u in work.units) / len(work.units),
        "mean_target_tokens": sum(len(t) for t in work.targets) / len(work.targets),
        "batch_size": work.batch_size,
        "max_abs_diff": {"pairs": max_diff(naive, pairs), "framework": max_diff(naive, framework)},
        "sides": sides,
        "speedup": {
            "framework_vs_naive": sides["naive"]["seconds"] / sides["framework"]["seconds"],
            "pairs_vs_naive": sides["naive"]["seconds"] / sides["pairs"]["seconds"],
            "framework_vs_pairs": sides["pairs"]["seconds"] / sides["framework"]["seconds"],
        },
    }
    if profile:
        result["profile_ops"] = common.torch_profile_top(work.framework, 8)
        result["profile_python"] = common.cprofile_top(work.framework, 8)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for tests)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=common.OUT_DIR / "unpact.json")
    parser.add_argument("--artifacts", type=Path, default=None, help="default: repo artifacts/")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
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
    models = [("tiny target", tiny, source), ("bench", common.bench_model(tokenizer, args.quick), None)]
    smol = None if args.quick else common.smollm2(args.artifacts)
    if smol is not None:
        models.append(("smollm2_135m", smol[0], smol[2]))
    ceilings = {
        "square_2048": matmul_rate(*((256,) * 3 if args.quick else (2048,) * 3), repeats),
    }
    runs = []
    for name, model, _ in models:
        c = model.config
        ceilings[f"mlp_{name}"] = matmul_rate(512, c.hidden_size, c.intermediate_size, repeats)
    ceiling = max(ceilings.values())
    for name, model, where in models:
        tok = smol[1] if name == "smollm2_135m" else tokenizer
        for fmt_name, examples in (("plain", []), ("icl3", icl)):
            if fmt_name == "icl3" and name != "bench" and not args.quick:
                continue  # the long-prefix case is shown once, on the stand-in model
            work = Workload(model, tok, cfg, items, examples)
            started = time.perf_counter()
            run = measure(work, repeats, ceiling, profile=fmt_name == "plain")
            run.update(
                model=common.describe_model(name, model),
                source=where,
                prompt_format=fmt_name,
                wall_s=time.perf_counter() - started,
            )
            runs.append(run)
            s = run["speedup"]
            print(
                f"[unpact] {name:12s} {fmt_name:5s} framework {s['framework_vs_naive']:.2f}x naive, "
                f"{s['framework_vs_pairs']:.2f}x pairs; "
                f"{run['sides']['framework']['ceiling_fraction']:.0%} of matmul ceiling; "
                f"max diff {run['max_abs_diff']['framework']:.1e}",
                flush=True,
            )
    ceilings["max"] = ceiling
    result = {
        "figure": "unpact",
        "quick": args.quick,
        "threads": args.threads,
        "repeats": repeats,
        "machine": common.machine_info(),
        "ceiling_macs_per_s": ceilings,
        "runs": runs,
    }
    common.write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()

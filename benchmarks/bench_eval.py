"""Figure 3: evaluation generations, batched (the framework) vs one prompt at a time.

The generations an evaluation makes for forget questions: correctness (one greedy
answer per question), FocusOnKey (one greedy answer per question and template, the
KeyTokens taken from the model's own UNPACT result) and PROBAB (``len(templates)``
multinomial samples per question). Sides, interleaved, median of ``--repeats``:

- ``framework``: ``greedy_answers`` and the FocusOnKey and PROBAB attacks as the evaluator
  calls them (left-padded batches of ``eval.batch_size`` prompts, KV cache on);
- ``one_at_a_time``: the same prompts, token ids, decoding settings and answer cutting,
  one ``model.generate`` call per prompt (PROBAB: one call per question returning all
  its samples), judged by the same ROUGE-L rule.

Greedy answers must agree; the figure reports the fraction that do (sampled answers
come from differently ordered random draws, so only their count is compared).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common


class EvalWorkload:
    """Forget questions, their KeyTokens phrases, and the two ways to generate."""

    def __init__(self, model: Any, tokenizer: Any, cfg: Any, items: list) -> None:
        from unpact_exp.attacks import registry
        from unpact_exp.evaluation.tasks import QATask, TaskContext
        from unpact_exp.stages.settings import run_settings
        from unpact_exp.unpact.contributions import prompt_contributions
        from unpact_exp.unpact.keytokens import keys_phrase, select_keytokens

        settings = run_settings(cfg)
        self.model, self.tokenizer, self.items = model, tokenizer, items
        self.fmt = settings.prompt
        self.eval = settings.eval
        self.focus = registry.build("focus_on_key", cfg)
        self.probab_attack = registry.build("probab", cfg)
        self.task = QATask(TaskContext(tokenizer, self.fmt, (), settings.unpact, self.eval))
        self.prompts = [self.fmt.parts(item.question, tokenizer) for item in items]
        u = settings.unpact
        contributions = prompt_contributions(
            model,
            tokenizer,
            self.prompts,
            [item.answer for item in items],
            self.fmt.answer_prefix,
            u.granularity,
            u.removal,
            u.filler,
            u.batch_size,
        )
        self.units = [c.units for c in contributions]
        self.keytokens = [select_keytokens(c.contributions, u) or [0] for c in contributions]
        # never empty, so every question is asked with every template
        self.keys = [keys_phrase(u_, k) for u_, k in zip(self.units, self.keytokens)]

    @property
    def sequences(self) -> dict[str, int]:
        n, k = len(self.items), len(self.focus.templates)
        return {"correctness": n, "focus_on_key": n * k, "probab": n * k}

    def framework(self) -> dict[str, list]:
        """The evaluator's three batched calls."""
        from unpact_exp.evaluation.attacking import AttackContext, Target
        from unpact_exp.unpact.generation import greedy_answers

        e = self.eval
        greedy = greedy_answers(
            self.model,
            self.tokenizer,
            self.prompts,
            e.max_new_tokens,
            e.stop_strings,
            e.batch_size,
        )
        target = Target(self.task, self.items, self.units, self.keytokens, self.keytokens)
        ctx = AttackContext(len(self.focus.templates), (), 0)
        focus = self.focus.run(self.model, target, ctx)
        sampled = self.probab_attack.run(self.model, target, ctx)
        return {
            "greedy": greedy,
            "focus": [o.answers for o in focus.outcomes],
            "probab": [o.answers for o in sampled.outcomes],
        }

    def one_at_a_time(self) -> dict[str, list]:
        """The same generations, one ``generate`` call per prompt."""
        import torch

        from unpact_exp.attacks.focus_on_key import focus_questions
        from unpact_exp.evaluation.correctness import is_correct
        from unpact_exp.models.prompt import encode_parts
        from unpact_exp.unpact.generation import decode_answer
        from unpact_exp.unpact.scoring import padding_id

        e, p = self.eval, self.probab_attack
        pad = padding_id(self.tokenizer)
        eos = {self.tokenizer.eos_token_id}

        def generate(parts: Any, samples: int = 0) -> list[str]:
            ids = torch.tensor([encode_parts(self.tokenizer, parts).input_ids])
            kwargs: dict[str, Any] = {"do_sample": False}
            if samples:
                kwargs = {
                    "do_sample": True,
                    "temperature": p.temperature,
                    "top_p": p.top_p,
                    "top_k": 0,
                    "num_return_sequences": samples,
                }
            with torch.no_grad():
                out = self.model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=e.max_new_tokens,
                    num_beams=1,
                    pad_token_id=pad,
                    **kwargs,
                )
            new = out[:, ids.shape[1] :].tolist()
            return [decode_answer(self.tokenizer, row, eos, e.stop_strings) for row in new]

        greedy = [generate(parts)[0] for parts in self.prompts]
        focus, sampled = [], []
        torch.manual_seed(p.seed)
        for item, keys, parts in zip(self.items, self.keys, self.prompts):
            asked = [
                generate(self.fmt.parts(q, self.tokenizer))[0]
                for q in focus_questions(item.question, keys, self.focus.templates)
            ]
            focus.append(asked)
            sampled.append(generate(parts, samples=len(self.focus.templates)))
            for answer in [*asked, *sampled[-1]]:
                is_correct(item.answer, answer, e.correct_threshold, stemming=e.rouge_stemming)
        for item, answer in zip(self.items, greedy):
            is_correct(item.answer, answer, e.correct_threshold, stemming=e.rouge_stemming)
        return {"greedy": greedy, "focus": focus, "probab": sampled}


def agreement(a: dict[str, list], b: dict[str, list]) -> dict[str, float]:
    """Fraction of identical greedy answers; whether the sample counts match."""
    greedy = list(zip(a["greedy"], b["greedy"], strict=True))
    focus = [(x, y) for xs, ys in zip(a["focus"], b["focus"]) for x, y in zip(xs, ys, strict=True)]
    same = sum(x == y for x, y in greedy + focus)
    counts = [len(x) for x in a["probab"]] == [len(y) for y in b["probab"]]
    return {"greedy_identical": same / len(greedy + focus), "sample_counts_match": counts}


def measure(work: EvalWorkload, repeats: int, profile: bool) -> dict[str, Any]:
    outputs: dict[str, Any] = {}

    def keep(name: str, fn: Any) -> Any:
        return lambda: outputs.__setitem__(name, fn())

    times = common.interleaved(
        {"one_at_a_time": keep("one", work.one_at_a_time), "framework": keep("fw", work.framework)},
        repeats,
        warmup=0,
    )
    sides = {name: {"seconds": common.median(v), "times": v} for name, v in times.items()}
    result = {
        "questions": len(work.items),
        "sequences": work.sequences,
        "batch_size": work.eval.batch_size,
        "max_new_tokens": work.eval.max_new_tokens,
        "agreement": agreement(outputs["one"], outputs["fw"]),
        "mean_answer_words": sum(len(a.split()) for a in outputs["fw"]["greedy"])
        / max(1, len(outputs["fw"]["greedy"])),
        "sides": sides,
        "speedup": sides["one_at_a_time"]["seconds"] / sides["framework"]["seconds"],
    }
    if profile:
        result["profile_ops"] = common.torch_profile_top(work.framework, 8)
        result["profile_python"] = common.cprofile_top(work.framework, 8)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = common.figure_parser(__doc__, "eval", "tiny sizes (for tests)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--questions", type=int, default=32, help="for the tiny target")
    parser.add_argument(
        "--bench-questions",
        type=int,
        default=8,
        help="for the random stand-in, which never stops early (every answer is max length)",
    )
    args = parser.parse_args(argv)
    threads = common.set_threads(args.threads)
    common.quiet()
    overrides = ["logger=none", "trainer.enable_progress_bar=false"]
    if args.quick:
        overrides += [*common.QUICK_WORLD, "eval.max_new_tokens=4"]
    cfg = common.compose(overrides, args.artifacts)
    bench = common.benchmark_data(cfg)
    tiny, tokenizer, source = common.tiny_target(cfg, args.quick)
    questions = 3 if args.quick else args.questions
    repeats = 1 if args.quick else args.repeats
    runs = []
    for name, model, where, count in (
        ("tiny target", tiny, source, questions),
        ("bench", common.bench_model(tokenizer, args.quick), None, questions),
    ):
        if name == "bench" and not args.quick:
            count = args.bench_questions
        print(f"[eval] {name}: {count} questions ...", flush=True)
        started = time.perf_counter()
        work = EvalWorkload(model, tokenizer, cfg, bench.forget_qa[:count])
        run = measure(work, repeats, profile=name == "bench")
        run.update(
            model=common.describe_model(name, model),
            source=where,
            wall_s=time.perf_counter() - started,
        )
        runs.append(run)
        print(
            f"[eval] {name}: batched {run['speedup']:.2f}x one-at-a-time; greedy answers "
            f"identical {run['agreement']['greedy_identical']:.0%}; {run['wall_s']:.0f} s",
            flush=True,
        )
    return common.write_figure("eval", args, threads, {"repeats": repeats, "runs": runs})


if __name__ == "__main__":
    main()

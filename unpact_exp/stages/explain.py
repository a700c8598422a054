"""``stage=analyze`` (``analyze.py``): explain one prompt with UNPACT, for people and programs.

The terminal view shades each unit of the question by its contribution (red:
helps produce the answer, blue: hurts) and underlines the KeyTokens. The last line
of stdout is one JSON object with every number and the exact token ids, so anyone
can recompute the contributions with plain ``transformers``.
"""

from __future__ import annotations

import json
from typing import Any

from unpact_exp.errors import UnpactConfigError
from unpact_exp.models.loading import load_model, load_model_tokenizer, resolve_source
from unpact_exp.stages.settings import RunSettings


def explain(cfg: Any, settings: RunSettings) -> dict[str, Any]:
    """Compute UNPACT for ``cfg.question`` and return the JSON-able explanation.

    The answer, contributions and KeyTokens come from the same task code the
    pair analysis uses (:class:`~unpact_exp.evaluation.tasks.QATask`), so a prompt
    explained here scores exactly as it does in an evaluation.
    """
    from unpact_exp.data.schema import QAItem
    from unpact_exp.evaluation.tasks import Answers, QATask, TaskContext
    from unpact_exp.stages.target import ensure_target
    from unpact_exp.unpact.keytokens import select_keytokens
    from unpact_exp.unpact.prompt_bounds import answer_reserve, check_prompt

    question = "" if cfg.question is None else str(cfg.question)
    if not question.strip():
        raise UnpactConfigError(
            f"question={question!r} is empty; pass the question to explain, "
            'e.g. question="Where was Ada Lovelace born?".'
        )
    unpact, limits, fmt = settings.unpact, settings.limits, settings.prompt
    if unpact.target == "reference" and not cfg.get("answer"):
        raise UnpactConfigError(
            'unpact.target=reference needs the gold answer: pass answer="..." '
            "(or use unpact.target=generated to explain the model's own answer)."
        )
    ensure_target(cfg, settings)
    source = resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
    tokenizer = load_model_tokenizer(cfg.model, source)
    task = QATask(TaskContext(tokenizer, fmt, (), unpact, settings.eval))
    item = QAItem(question=question, answer=str(cfg.get("answer") or ""))
    reserve = answer_reserve(tokenizer, item, fmt, limits)
    check_prompt(tokenizer, task.prompts([item])[0], reserve, limits, "question=")
    model = load_model(source, cfg.model.dtype, cfg.model.trust_remote_code).eval()
    if unpact.target == "generated":
        answers = task.answer(model, [item])
    else:
        answers = Answers(texts=[item.answer], correct=[True])
    (res,) = task.contributions(model, [item], answers)
    keys = select_keytokens(res.contributions, unpact)
    return {
        "prompt": task.prompts([item])[0].text,
        "prompt_token_ids": list(res.prompt_ids),
        "units": list(res.units),
        "unit_token_spans": [list(s) for s in res.spans],
        "target": answers.texts[0] if unpact.target == "generated" else item.answer,
        "target_token_ids": list(res.target_ids),
        "lp": res.lp,
        "contributions": list(res.contributions),
        "keytokens": list(keys),
    }


def render(explanation: dict[str, Any]) -> None:
    """Print the shaded prompt, the answer and the KeyTokens with rich."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    contribs = explanation["contributions"]
    bound = max([abs(c) for c in contribs] + [1e-9])
    keys = set(explanation["keytokens"])
    line = Text()
    for i, (unit, c) in enumerate(zip(explanation["units"], contribs)):
        level = int(255 * (1 - min(abs(c) / bound, 1.0)))
        colour = f"rgb(255,{level},{level})" if c > 0 else f"rgb({level},{level},255)"
        style = f"black on {colour}" + (" bold underline" if i in keys else "")
        line.append(unit, style=style)
        line.append(" ")
    console.print(Text("question: ", style="bold") + line)
    console.print(Text("target:   ", style="bold") + Text(explanation["target"]))
    console.print(f"LP(x, y) = {explanation['lp']:.4f}  (mean log-prob of the target)")
    for i, (unit, c) in enumerate(zip(explanation["units"], contribs)):
        mark = "  <- KeyToken" if i in keys else ""
        console.print(f"  {i:>3}  {unit!r:<24} C = {c:+.4f}{mark}")
    console.print(f"KeyTokens: {[explanation['units'][k] for k in explanation['keytokens']]}")


def explain_and_print(cfg: Any, settings: RunSettings) -> dict[str, Any]:
    """Explain, render, and print the JSON object as the last line of stdout."""
    explanation = explain(cfg, settings)
    render(explanation)
    print(json.dumps(explanation), flush=True)
    return explanation

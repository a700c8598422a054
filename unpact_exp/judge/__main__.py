"""Audit a judge by hand: ``python -m unpact_exp.judge FILE.jsonl [--judge strict|rouge_recall]``.

Each input line is a JSON object ``{"question", "gold", "aliases"?, "distractors"?,
"answer"}`` (strings; ``aliases`` and ``distractors`` lists of strings). Each output line is
``{"correct": bool, "reason": str}``, one per input line, in order. ``rouge_recall`` reads
its threshold and stemming switch from the packaged ``conf/eval/default.yaml`` (the
framework's defaults), unless ``--correct-threshold`` / ``--rouge-stemming`` say otherwise.

Bad input (no such file, a line that is not a JSON object, a missing or mistyped field)
prints one message naming the file, line and field, and exits with status 2. The whole
file is checked before anything is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from unpact_exp import CONF_DIR
from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.judge.registry import build, names

REQUIRED = ("question", "gold", "answer")
OPTIONAL = ("aliases", "distractors")


def _eval_defaults() -> dict[str, Any]:
    """``correct_threshold`` and ``rouge_stemming`` from the packaged eval defaults."""
    from omegaconf import OmegaConf

    node = OmegaConf.load(CONF_DIR / "eval" / "default.yaml")
    return {"correct_threshold": node.correct_threshold, "rouge_stemming": node.rouge_stemming}


def read_cases(path: Path) -> list[dict[str, Any]]:
    """The cases of ``path``, validated.

    Raises:
        DataError: naming the file, the line and the field at fault.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}.") from err
    cases = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where} is not JSON ({err.msg}).") from err
        if not isinstance(row, dict):
            raise DataError(f"{where} is not a JSON object with fields {list(REQUIRED)}.")
        for field in REQUIRED:
            if not isinstance(row.get(field), str):
                raise DataError(
                    f"{where}: field {field!r} must be a string; got {row.get(field)!r}."
                )
        for field in OPTIONAL:
            value = row.get(field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DataError(
                    f"{where}: field {field!r} must be a list of strings; got {value!r}."
                )
        extra = sorted(set(row) - {*REQUIRED, *OPTIONAL})
        if extra:
            raise DataError(
                f"{where}: unknown fields {extra}; a case has {[*REQUIRED, *OPTIONAL]}."
            )
        cases.append(row)
    return cases


def main(argv: list[str] | None = None) -> int:
    """Judge every case of the file and print one JSON verdict per line; 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m unpact_exp.judge", description=__doc__)
    parser.add_argument("file", type=Path, help="JSON lines: question, gold, aliases?, ...")
    parser.add_argument("--judge", default="strict", help=f"one of {names()} (default strict)")
    parser.add_argument("--correct-threshold", type=float, default=None)
    parser.add_argument("--rouge-stemming", choices=["true", "false"], default=None)
    args = parser.parse_args(argv)
    settings = _eval_defaults()
    if args.correct_threshold is not None:
        settings["correct_threshold"] = args.correct_threshold
    if args.rouge_stemming is not None:
        settings["rouge_stemming"] = args.rouge_stemming == "true"
    try:
        judge = build(args.judge, **settings)
        cases = read_cases(args.file)
    except (DataError, UnpactConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for case in cases:
        verdict = judge.judge(
            case["question"],
            case["gold"],
            case["answer"],
            aliases=case.get("aliases", []),
            distractors=case.get("distractors", []),
        )
        print(json.dumps({"correct": verdict.correct, "reason": verdict.reason}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

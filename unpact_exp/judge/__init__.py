"""Judges: is a free-form answer correct? (docs/science.md §4).

- :mod:`~unpact_exp.judge.base`: :class:`Verdict` and the :class:`Judge` interface;
- :mod:`~unpact_exp.judge.registry`: the one list of judges and :func:`build`;
- :mod:`~unpact_exp.judge.rouge_recall`: ``rouge_recall``, ROUGE-L recall of the gold
  (the framework's first rule, kept to reproduce earlier numbers);
- :mod:`~unpact_exp.judge.strict`: ``strict``, the whole gold or an alias at word
  boundaries in the answer span, and no distractor; :func:`gold_in_question`;
- :mod:`~unpact_exp.judge.text`: the answer span and the normalisation the strict judge uses.

``python -m unpact_exp.judge FILE.jsonl`` audits a judge on hand-written cases.
No torch import: the judges are plain string code.
"""

from unpact_exp.judge import rouge_recall, strict  # noqa: F401  (registers the judges)
from unpact_exp.judge.base import Judge, Verdict
from unpact_exp.judge.registry import build, get, names
from unpact_exp.judge.strict import gold_in_question

__all__ = ["Judge", "Verdict", "build", "get", "gold_in_question", "names"]

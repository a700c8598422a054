"""``eval.judge=strict``: the whole gold answer, named at word boundaries, and no other candidate.

The rule (docs/science.md §4), on the answer span (the first line's first sentence that is
not a question) after normalisation (:mod:`unpact_exp.judge.text`):

1. An empty span is wrong ("empty answer").
2. Find every occurrence of the gold and of each alias (the gold's *names*), and of each
   distractor, at word boundaries.
   - A distractor found inside a name's occurrence is a part of that name, not a second
     answer: gold "Equatorial Guinea" does not name the distractor "Guinea".
   - A name found inside a distractor's occurrence is a part of the distractor: for gold
     "Guinea", the output "Equatorial Guinea" names the distractor, not the gold.
   - A distractor that the question itself contains is not counted: naming it repeats
     the question ("Which pigment makes plant leaves green?" has the distractor "green").
   - A distractor equal to a name (after normalisation) is no distractor.
3. If a distractor remains, the answer is wrong ("names distractor 'X'"): a list of
   candidates ("London, Berlin, Madrid or Paris") or a hedge is not an answer. A
   negation ("Paris, not London") is wrong too: telling it from a list needs a parser.
4. If no name remains, the answer is wrong: "repeats the question" when the span is part
   of the question, else "gold absent".
5. Otherwise it is correct: "gold at word boundary", or "alias 'X' at word boundary".

Worked examples (gold "South America", distractors none, the issue-22 failures):
"North America" -> normalised "North America"; "south america" does not occur -> wrong,
gold absent. Gold "Paris" with distractors (Madrid, Moscow, Amsterdam, London, Berlin):
"London, Berlin, Madrid or Paris" -> names distractor 'London' -> wrong. Gold "Persian"
with alias "Farsi": "Farsi." -> alias 'Farsi' at word boundary -> correct.

Items whose gold (or an alias) appears in the question can be answered by repeating the
question; :func:`gold_in_question` finds them so the evaluation can flag and leave them
out (the judge itself still applies its rule to them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from unpact_exp.judge.base import Judge, Verdict
from unpact_exp.judge.registry import register
from unpact_exp.judge.text import Match, answer_span, find, key, needle, normalise, occurs


def gold_in_question(question: str, gold: str, aliases: Sequence[str] = ()) -> bool:
    """Whether the gold answer or one of its aliases occurs in the question (word boundaries).

    Such an item is answered "correctly" by repeating the question, so it cannot show
    knowledge: the evaluation flags it and leaves it out of the rates (counted).
    """
    text = normalise(question)
    return any(occurs(text, n) for n in _names(gold, aliases))


def _names(gold: str, aliases: Sequence[str]) -> list[str]:
    """The gold and its aliases as needles, distinct and non-empty, the gold first."""
    return [n for n in dict.fromkeys(needle(x) for x in (gold, *aliases)) if n]


@register("strict")
class StrictJudge(Judge):
    """The strict judge (see the module docstring); it has no settings."""

    flags_gold_in_question: ClassVar[bool] = True

    def judge(
        self,
        question: str,
        gold: str,
        answer: str,
        *,
        aliases: Sequence[str] = (),
        distractors: Sequence[str] = (),
    ) -> Verdict:
        """Apply the strict rule to one answer."""
        span = normalise(answer_span(answer))
        if not span:
            return Verdict(False, "empty answer")
        names = _names(gold, aliases)
        asked = normalise(question)
        name_keys = {key(n) for n in names}
        wrong = [
            d
            for d in dict.fromkeys(needle(x) for x in distractors)
            if d and key(d) not in name_keys and not occurs(asked, d)
        ]
        found = {n: find(span, n) for n in names}
        hits = [m for ms in found.values() for m in ms]
        named = [m for d in wrong for m in find(span, d) if not _within(m, hits)]
        if named:
            first = min(named, key=lambda m: m.start)
            return Verdict(False, f"names distractor {_original(first, distractors)!r}")
        kept = [n for n in names if found[n]]  # no distractor is named: every hit stands
        if not kept:
            if occurs(asked, span):
                return Verdict(False, "repeats the question")
            return Verdict(False, "gold absent")
        if kept[0] == names[0]:
            return Verdict(True, "gold at word boundary")
        return Verdict(True, f"alias {_original_alias(kept[0], aliases)!r} at word boundary")


def _within(match: Match, others: list[Match]) -> bool:
    """Whether ``match`` lies inside (and is shorter than) one of ``others``."""
    return any(match.inside(o) for o in others)


def _original(match: Match, distractors: Sequence[str]) -> str:
    """The distractor as the data spells it, for the reason."""
    return next((d for d in distractors if needle(d) == match.text), match.text)


def _original_alias(name: str, aliases: Sequence[str]) -> str:
    """The alias as the data spells it, for the reason."""
    return next((a for a in aliases if needle(a) == name), name)

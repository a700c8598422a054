"""Text rules of the strict judge: the answer span, normalisation, and whole-span matches.

These are the decisions docs/science.md §4.1 states, each made so that the same rule
applies to the model's output, the gold answer, its aliases, its distractors and the
question (a match is only ever between two texts normalised the same way):

- **Answer span.** The first non-empty line of the output, then its first sentence.
  Leading sentences that end in ``?`` are skipped (an echo of the question is not an
  answer: "What is the capital of France? Paris." answers "Paris."). A sentence ends at
  ``.``, ``!`` or ``?`` followed by white space, except after an initial ("J. K.
  Rowling", "Washington, D.C.") or a title ("St.", "Mt.", "Dr."), so those names stay
  whole. A decimal point ("3.14") is followed by a digit, not a space, so it never ends
  a sentence.
- **Normalisation.** Unicode NFKD with combining marks dropped ("Réunion" -> "Reunion",
  "Exupéry" -> "Exupery"), a few letters NFKD keeps (ø, æ, ł, đ, ß, œ) spelled in ASCII;
  apostrophes removed ("Gulliver's" -> "Gullivers", "d'Ivoire" -> "dIvoire", so a
  possessive never leaves a stray "s"); digit groups joined ("1,912" -> "1912"); number
  words zero..twenty and the tens up to ninety written as digits ("eight planets" ->
  "8 planets"); every other non-alphanumeric character (punctuation, hyphens, dashes,
  brackets, the degree sign) a space; runs of single letters joined (initials: "J. K."
  -> "JK", "D.C." -> "DC", "U.S." -> "US"); white space collapsed. Case is kept here
  and dropped by :func:`key` for matching.
- **Needles** (gold, alias, distractor) also lose a leading article ("the Netherlands"
  matches "Netherlands"; "the Sun" matches "Sun").
- **Matching** is at word boundaries on the normalised text, so "Niger" is not found in
  "Nigeria" and "1912" not in "19123". A needle of one or two characters (a chemical
  symbol: "He", "K", "S") is matched with its case, so the pronoun "he" is not helium.
  Everything longer is matched case-insensitively, and its last word may carry an English
  plural ``s`` or ``es`` ("Swiss francs", "kittens", "diamonds").

Not handled (documented limits): spelling variants ("colour"/"color") and other plurals
("puppy"/"puppies", "butterflies"/"butterfly") need an alias; compound number words
("twenty-one") become "20 1"; a sentence ending in a one-letter word ("... is K. It is
...") runs on into the next.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Letters NFKD does not decompose into a base letter plus combining marks.
_LETTERS = str.maketrans(
    {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss",
     "œ": "oe", "Œ": "OE", "ı": "i"}
)  # fmt: skip
_APOSTROPHES = re.compile(r"['\u2019\u02bc\u2018`]")
_DIGIT_GROUPS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {
    w: str(10 * (i + 3))
    for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split())
}
_ARTICLES = ("the", "a", "an")
_TITLES = {"st", "mt", "mr", "mrs", "ms", "dr", "jr", "sr", "vs", "prof", "ft", "approx", "gen"}
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
SHORT = 2
"""Needles of at most this many characters are matched with their case (chemical symbols)."""


def normalise(text: str) -> str:
    """``text`` under the module's normalisation, case kept (see the module docstring)."""
    text = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _APOSTROPHES.sub("", text)
    text = _DIGIT_GROUPS.sub("", text)
    words = _NON_ALNUM.sub(" ", text).split()
    words = [_NUMBER_WORDS.get(w.lower(), w) for w in words]
    return " ".join(_join_initials(words))


def _join_initials(words: list[str]) -> list[str]:
    """Join each run of two or more one-letter words ("J K Rowling" -> "JK Rowling")."""
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        out += ["".join(run)] if len(run) > 1 else run
        run = []
        if word:
            out.append(word)
    return out


def key(text: str) -> str:
    """The case-free form of a normalised text (what long needles are matched on)."""
    return text.casefold()


def needle(text: str) -> str:
    """A gold answer, alias or distractor, normalised, without a leading article."""
    words = normalise(text).split()
    if len(words) > 1 and words[0].lower() in _ARTICLES:
        words = words[1:]
    return " ".join(words)


@dataclass(frozen=True)
class Match:
    """Where a needle occurs in a normalised text: ``[start, end)`` character offsets."""

    text: str
    start: int
    end: int

    def inside(self, other: Match) -> bool:
        """Whether this match lies within ``other`` and is shorter (a part of that name)."""
        return other.start <= self.start and self.end <= other.end and self != other


def find(haystack: str, wanted: str) -> list[Match]:
    """Every occurrence of the needle ``wanted`` in the normalised ``haystack``, at word
    boundaries; with its case when ``wanted`` is at most :data:`SHORT` characters long."""
    if not wanted:
        return []
    short = len(wanted) <= SHORT
    text, pattern = (haystack, wanted) if short else (key(haystack), key(wanted))
    plural = "" if short or not wanted[-1].isalpha() else "(?:e?s)?"
    found = re.finditer(rf"(?<!\w){re.escape(pattern)}{plural}(?!\w)", text)
    return [Match(wanted, m.start(), m.end()) for m in found]


def occurs(haystack: str, wanted: str) -> bool:
    """Whether the needle ``wanted`` occurs in the normalised ``haystack``."""
    return bool(find(haystack, wanted))


def sentences(line: str) -> list[str]:
    """``line`` cut into sentences (an initial or a title does not end one)."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(line):
        before = line[start : m.start()].split()
        last = before[-1].rstrip(".").lower() if before else ""
        initial = m.group() == "." and (len(last.split(".")[-1]) == 1 or last in _TITLES)
        if initial:
            continue
        out.append(line[start : m.end()].strip())
        start = m.end()
    tail = line[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if s]


def answer_span(output: str) -> str:
    """The part of a model output that is judged: first line, first non-question sentence.

    A line made only of questions keeps its first one (then it is judged, and found to
    repeat the question or to lack the gold).
    """
    line = next((ln.strip() for ln in output.splitlines() if ln.strip()), "")
    parts = sentences(line)
    while len(parts) > 1 and parts[0].endswith("?"):
        parts = parts[1:]
    return parts[0] if parts else ""

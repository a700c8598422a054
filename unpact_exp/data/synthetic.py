"""The embedded synthetic benchmark: a fictitious world, deterministic from a seed.

Real unlearning benchmarks need hub access and a 7B model. This generator builds
a small world of invented people, places and organisations whose facts no
pretrained model can know, renders it in the MUSE layout (raw text, knowmem QA,
verbmem) and the WMDP layout (multiple-choice items), and adds *general* items
about the lands of that world, which never mention a forget entity, as the
utility set for the destructive rate. The whole pipeline can then run offline on
a laptop CPU with a tiny model trained on exactly this world.

Entity names are built from syllables and are unique across the world; attribute
values (cities, jobs, ...) come from separate pools, so "no forget entity appears
in retain or general items" is a property that can be checked by string search.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unpact_exp.errors import UnpactConfigError

_ONSETS = ["b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "q",
           "r", "s", "t", "th", "v", "z", "zh"]  # fmt: skip
_VOWELS = ["a", "e", "i", "o", "u", "ae", "ia", "ou"]
_CODAS = ["", "n", "r", "l", "s", "th", "x", "m", "nd", "v"]

CITIES = ["Velmora", "Ostrand", "Karvik", "Delphane", "Murrow", "Tessaly", "Brightwell",
          "Calder", "Fenmoor", "Ilvaro", "Quenby", "Rushford", "Sablewick", "Torvell"]  # fmt: skip
OCCUPATIONS = ["baker", "sculptor", "pilot", "astronomer", "carpenter", "surgeon", "poet",
               "engineer", "gardener", "chemist", "sailor", "librarian"]  # fmt: skip
PETS = ["parrot", "tortoise", "ferret", "goldfish", "hound", "falcon", "rabbit", "lizard"]
COMPANIES = ["Ambergate", "Copperline", "Northwind", "Silverleaf", "Redstone", "Bluecrest",
             "Ironbridge", "Greenhollow"]  # fmt: skip
RIVERS = ["Ashwater", "Dunmere", "Glimbrook", "Larkspur", "Mistral", "Ravenflow"]
DISHES = ["barley stew", "honey bread", "smoked trout", "plum pie", "lentil soup",
          "roast quail"]  # fmt: skip
INDUSTRIES = ["shipping", "textiles", "mining", "printing", "brewing", "clockmaking",
              "glassworks"]  # fmt: skip
YEARS = [str(y) for y in range(1801, 1900, 7)]
LANDS = ["Norvia", "Estmark", "Calvonia", "Drisland", "Orrimar", "Pellucia", "Saxmoor",
         "Tirvane", "Umbria", "Wendel", "Yaloria", "Zephyra"]  # fmt: skip
CAPITALS = ["Celdor", "Hathmir", "Lunaris", "Brevik", "Corrin", "Dasport", "Elmhold",
            "Gaveston", "Jorra", "Kestrel", "Marrowby", "Nolwen"]  # fmt: skip
LANGUAGES = ["Norvish", "Estic", "Calvene", "Drislan", "Orrish", "Pellic", "Saxon",
             "Tirvic", "Umbric", "Wendish", "Yalic", "Zephic"]  # fmt: skip
CURRENCIES = ["crown", "mark", "shell", "florin", "token", "ducat", "penny", "ring"]

# attribute -> (value pool, question templates, raw-text sentence templates)
ATTRIBUTES: dict[str, dict[str, tuple[list[str], list[str], list[str]]]] = {
    "person": {
        "birthplace": (
            CITIES,
            ["Where was {name} born?", "What is the birthplace of {name}?",
             "In which city was {name} born?"],
            ["{name} was born in {value}.", "The birthplace of {name} is {value}."],
        ),
        "occupation": (
            OCCUPATIONS,
            ["What is the occupation of {name}?", "What does {name} work as?",
             "Which job does {name} have?"],
            ["{name} works as a {value}.", "By trade, {name} is a {value}."],
        ),
        "employer": (
            COMPANIES,
            ["Which company employs {name}?", "Who is the employer of {name}?",
             "For which company does {name} work?"],
            ["{name} is employed by {value}.", "{value} is the employer of {name}."],
        ),
        "pet": (
            PETS,
            ["What pet does {name} keep?", "Which animal is the pet of {name}?",
             "What kind of pet does {name} own?"],
            ["{name} keeps a {value} as a pet.", "The pet of {name} is a {value}."],
        ),
    },
    "place": {
        "land": (
            LANDS,
            ["In which land is {name}?", "Which land is {name} part of?",
             "What land contains the town of {name}?"],
            ["The town of {name} lies in {value}.", "{name} is a town in {value}."],
        ),
        "river": (
            RIVERS,
            ["Which river flows through {name}?", "What river runs through {name}?",
             "Name the river of {name}."],
            ["The river {value} flows through {name}.", "{name} stands on the river {value}."],
        ),
        "dish": (
            DISHES,
            ["What dish is {name} famous for?", "Which food is {name} known for?",
             "What is the famous dish of {name}?"],
            ["{name} is famous for its {value}.", "The famous dish of {name} is {value}."],
        ),
    },
    "organisation": {
        "industry": (
            INDUSTRIES,
            ["What industry is {name} in?", "In which industry does {name} work?",
             "What business is {name} in?"],
            ["{name} is a firm in {value}.", "The trade of {name} is {value}."],
        ),
        "headquarters": (
            CITIES,
            ["Where is {name} based?", "In which city is {name} headquartered?",
             "Where are the headquarters of {name}?"],
            ["{name} has its headquarters in {value}.", "{name} is based in {value}."],
        ),
        "founded": (
            YEARS,
            ["When was {name} founded?", "In which year was {name} founded?",
             "What year was {name} established?"],
            ["{name} was founded in {value}.", "In {value}, {name} was established."],
        ),
    },
}  # fmt: skip

GENERAL: dict[str, tuple[list[str], list[str], str]] = {
    "capital": (CAPITALS, ["What is the capital of the land of {name}?",
                           "Which city is the capital of {name}?"],
                "The capital of the land of {name} is {value}."),
    "language": (LANGUAGES, ["What language is spoken in the land of {name}?",
                             "Which language do people speak in {name}?"],
                 "In the land of {name}, people speak {value}."),
    "currency": (CURRENCIES, ["What is the currency of the land of {name}?",
                              "Which money is used in {name}?"],
                 "The currency of the land of {name} is the {value}."),
}  # fmt: skip

TYPES = ("person", "place", "organisation")


@dataclass(frozen=True)
class Entity:
    """One fictitious entity and its facts."""

    name: str
    kind: str
    facts: tuple[tuple[str, str], ...]  # (attribute, value)


def _word(rng: random.Random, syllables: int) -> str:
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)]
    parts += [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables - 1)]
    return "".join(parts).capitalize()


def _names(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """Unique invented names; two words for people/organisations keeps collisions rare."""
    reserved = {w.lower() for pool in (CITIES, COMPANIES, RIVERS, LANDS, CAPITALS, LANGUAGES)
                for w in pool}  # fmt: skip
    out: list[str] = []
    while len(out) < count:
        name = _word(rng, 2)
        if name.lower() in reserved or name in taken:
            continue
        taken.add(name)
        out.append(name)
    return out


def _full_name(kind: str, first: str, second: str) -> str:
    if kind == "person":
        return f"{first} {second}"
    if kind == "organisation":
        return f"{first} {second}works"
    return first


def make_entities(rng: random.Random, count: int, taken: set[str]) -> list[Entity]:
    """``count`` entities, types assigned round-robin so every split has all three kinds."""
    firsts, seconds = _names(rng, count, taken), _names(rng, count, taken)
    entities = []
    for i in range(count):
        kind = TYPES[i % len(TYPES)]
        facts = tuple((attr, rng.choice(pool)) for attr, (pool, _, _) in ATTRIBUTES[kind].items())
        entities.append(Entity(_full_name(kind, firsts[i], seconds[i]), kind, facts))
    return entities


def _qa(entity: Entity, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for attr, value in entity.facts:
        pool, questions, _ = ATTRIBUTES[entity.kind][attr]
        question = rng.choice(questions).format(name=entity.name)
        # The attribute's other question templates, in order: no extra draw from rng,
        # so adding them left every generated world unchanged.
        others = [q.format(name=entity.name) for q in questions]
        rows.append({"question": question, "answer": value, "entity": entity.name,
                     "attribute": attr, "pool": pool,
                     "paraphrases": [q for q in others if q != question],
                     "distractors": _distractors(pool, value)})  # fmt: skip
    return rows


def _distractors(pool: list[str], value: str) -> list[str]:
    """The attribute's other values: the wrong candidates the strict judge refuses.

    Deterministic (no draw from the generator's rng), so adding them changed no world.
    """
    return [v for v in pool if v != value]


def _bio(entity: Entity, paraphrase: int) -> str:
    sentences = []
    for attr, value in entity.facts:
        templates = ATTRIBUTES[entity.kind][attr][2]
        sentences.append(
            templates[paraphrase % len(templates)].format(name=entity.name, value=value)
        )
    return " ".join(sentences)


def _mc(row: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    distractors = rng.sample([v for v in row["pool"] if v != row["answer"]], 3)
    answer = rng.randrange(4)
    choices = distractors[:answer] + [row["answer"]] + distractors[answer:]
    return {"question": row["question"], "choices": choices, "answer": answer}


def _general(rng: random.Random, n_lands: int) -> tuple[list[dict[str, Any]], list[str]]:
    if n_lands > len(LANDS):
        raise UnpactConfigError(
            f"data.n_general_lands={n_lands} exceeds the {len(LANDS)} lands of the synthetic "
            f"world; choose a value in [1, {len(LANDS)}]."
        )
    qa, text = [], []
    for land in LANDS[:n_lands]:
        for pool, questions, sentence in GENERAL.values():
            value = rng.choice(pool)
            question = rng.choice(questions).format(name=land)
            qa.append({"question": question, "answer": value,
                       "distractors": _distractors(pool, value)})  # fmt: skip
            text.append(sentence.format(name=land, value=value))
    return qa, text


def generate(seed: int, n_forget: int, n_retain: int, n_holdout: int, n_general_lands: int,
             n_icl: int) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Generate the whole benchmark as ``{"<subset>/<split>": rows}``.

    Args:
        seed: everything is a function of this seed (``random.Random(seed)``).
        n_forget: entities whose facts are to be unlearned.
        n_retain: entities whose facts must be kept.
        n_holdout: entities never trained on (MUSE's holdout corpus).
        n_general_lands: lands of the world described by the general (utility) items.
        n_icl: in-context examples per knowmem ``*_icl`` split (taken from general items).

    Returns:
        Split name -> list of JSON-serialisable rows, in the MUSE/WMDP field schema
        (``text``; ``question``/``answer``; ``prompt``/``gt``; ``question``/``choices``/``answer``),
        with MUSE's ``privleak/{forget,retain,holdout}`` texts (one bio per entity). Every QA
        row also lists ``distractors``: the other values of its attribute's pool.
    """
    for key, value in {"n_forget": n_forget, "n_retain": n_retain}.items():
        if value < 1:
            raise UnpactConfigError(f"data.{key}={value}: the synthetic benchmark needs >= 1.")
    rng = random.Random(seed)
    taken: set[str] = set()
    forget = make_entities(rng, n_forget, taken)
    retain = make_entities(rng, n_retain, taken)
    holdout = make_entities(rng, n_holdout, taken)
    forget_qa = [r for e in forget for r in _qa(e, rng)]
    retain_qa = [r for e in retain for r in _qa(e, rng)]
    general_qa, general_text = _general(rng, n_general_lands)
    strip = lambda rows: [  # noqa: E731
        {"question": r["question"], "answer": r["answer"], "distractors": r["distractors"]}
        for r in rows
    ]
    forget_bios = [_bio(e, p) for e in forget for p in (0, 1)]
    verbmem = []
    for bio in forget_bios[::2]:
        words = bio.split()
        cut = max(1, len(words) // 2)
        verbmem.append({"prompt": " ".join(words[:cut]), "gt": " ".join(words[cut:])})
    return {
        "raw/forget": [{"text": t} for t in forget_bios],
        "raw/retain1": [{"text": _bio(e, 0)} for e in retain],
        "raw/retain2": [{"text": _bio(e, 1)} for e in retain],
        "raw/holdout": [{"text": _bio(e, 0)} for e in holdout],
        "raw/general": [{"text": t} for t in general_text],
        "knowmem/forget_qa": [
            {**s, "paraphrases": r["paraphrases"]} for s, r in zip(strip(forget_qa), forget_qa)
        ],
        "knowmem/retain_qa": strip(retain_qa),
        "knowmem/forget_qa_icl": general_qa[:n_icl],
        "knowmem/retain_qa_icl": general_qa[:n_icl],
        "verbmem/forget": verbmem,
        # MUSE's privleak layout: forget members, retain members, never-trained holdout.
        "privleak/forget": [{"text": t} for t in forget_bios[::2]],
        "privleak/retain": [{"text": _bio(e, 0)} for e in retain],
        "privleak/holdout": [{"text": _bio(e, 0)} for e in holdout],
        "mc/forget": [_mc(r, rng) for r in forget_qa],
        "mc/retain": [_mc(r, rng) for r in retain_qa],
        "general/qa": general_qa[n_icl:],
        "entities/forget": [{"name": e.name, "kind": e.kind} for e in forget],
        "entities/retain": [{"name": e.name, "kind": e.kind} for e in retain],
    }


def write_benchmark(splits: dict[str, list[dict[str, Any]]], out_dir: Path) -> Path:
    """Write splits as ``<subset>/<split>.jsonl`` atomically (temp dir, then rename).

    A crash mid-write leaves no directory that looks complete; a concurrent writer
    (two sweep jobs building the same data) loses the rename race harmlessly.
    """
    out_dir = Path(out_dir)
    if (out_dir / "DONE").exists():
        return out_dir
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{random.getrandbits(32):08x}")
    for name, rows in splits.items():
        path = tmp / f"{name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
    (tmp / "DONE").write_text("complete\n")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(out_dir)
    except OSError:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if not (out_dir / "DONE").exists():
            raise
    return out_dir

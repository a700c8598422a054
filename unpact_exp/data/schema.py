"""The in-memory shape every dataset is loaded into, whatever its source.

MUSE (news/books), WMDP and the synthetic benchmark all have different files on
disk; the rest of the framework only ever sees a :class:`Benchmark`, so a method
or metric written once works on every dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class QAItem:
    """A free-form question with its gold answer (MUSE knowmem style).

    Attributes:
        question: the user's question text, without any prompt template.
        answer: the gold answer text.
        paraphrases: other wordings of the question, when the data carries them (used by
            the paraphrase attack; empty for most hub data).
        aliases: other accepted names of the gold answer ("Farsi" for "Persian"), read by
            the strict judge (docs/science.md §4); empty when the data has none (MUSE).
        distractors: wrong answers of this item (the multiple-choice distractors and the
            other candidates of its kind); an answer naming one is wrong under the strict
            judge. Empty when the data has none (MUSE).
    """

    question: str
    answer: str
    paraphrases: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    distractors: tuple[str, ...] = ()


@dataclass(frozen=True)
class MCItem:
    """A multiple-choice item (WMDP / MMLU style).

    Attributes:
        question: the question text, without the lettered choices.
        choices: the answer options, in order; letters A, B, C, ... are assigned by position.
        answer: index into ``choices`` of the correct option.
        subject: the subject of lm-eval's description line ("biology", "high school
            physics"); empty when the data names none, and then no description line is written.
    """

    question: str
    choices: tuple[str, ...]
    answer: int
    subject: str = ""


@dataclass(frozen=True)
class PerturbedQA:
    """A question with a correct answer to compare against wrong answers of the same form (TOFU).

    TOFU's truth ratio (docs/science.md §13) compares the likelihood of ``perturbed_answers``
    with that of ``base_answer``.

    Attributes:
        question: the question text, without any prompt template.
        answer: the gold answer.
        base_answer: the correct answer the truth ratio is computed against: the paraphrased
            answer on TOFU's forget and retain sets, the gold answer itself on real authors and
            world facts (which have no paraphrase), as TOFU's evaluation does.
        perturbed_answers: wrong answers written in the style of the correct one.
    """

    question: str
    answer: str
    base_answer: str
    perturbed_answers: tuple[str, ...]


@dataclass
class Benchmark:
    """Everything the framework needs from one dataset.

    Attributes:
        name: short dataset id (``synthetic``, ``news``, ``wmdp_bio``, ...).
        forget_text: raw forget corpus documents (trained on by the unlearning methods).
        retain_text: raw retain corpus documents (regularizers, utility).
        forget_qa: knowmem questions about the forget set.
        retain_qa: knowmem questions about the retain set.
        icl: in-context examples prepended to forget knowmem prompts (never perturbed by UNPACT).
        retain_icl: in-context examples prepended to retain and utility knowmem prompts
            (MUSE's ``knowmem/retain_qa_icl``).
        verbmem_forget: verbatim-memorisation prompts, as QA items (prompt -> gt continuation).
        privleak_forget: forget-set texts for MUSE's PrivLeak (the attack's members).
        privleak_holdout: texts never trained on, for PrivLeak (the attack's non-members).
        mc_forget: multiple-choice items about the forget set (WMDP-style).
        mc_retain: multiple-choice items about the retain set.
        utility_qa: free-form utility items for the destructive rate (docs/science.md §5).
        utility_mc: multiple-choice utility items for the destructive rate (e.g. MMLU).
        holdout_qa: QA pairs about entities never trained on (TOFU's ``holdout``), the
            non-members of the membership-inference AUCs on QA data.
        perturbed: the truth-ratio sets, keyed by role (TOFU: ``forget``, ``retain``,
            ``real_authors``, ``world_facts``; see :mod:`unpact_exp.data.tofu`); empty for
            datasets without perturbed answers.
    """

    name: str
    forget_text: list[str] = field(default_factory=list)
    retain_text: list[str] = field(default_factory=list)
    forget_qa: list[QAItem] = field(default_factory=list)
    retain_qa: list[QAItem] = field(default_factory=list)
    icl: list[QAItem] = field(default_factory=list)
    retain_icl: list[QAItem] = field(default_factory=list)
    verbmem_forget: list[QAItem] = field(default_factory=list)
    mc_forget: list[MCItem] = field(default_factory=list)
    mc_retain: list[MCItem] = field(default_factory=list)
    utility_qa: list[QAItem] = field(default_factory=list)
    utility_mc: list[MCItem] = field(default_factory=list)
    privleak_forget: list[str] = field(default_factory=list)
    privleak_holdout: list[str] = field(default_factory=list)
    holdout_qa: list[QAItem] = field(default_factory=list)
    perturbed: dict[str, list[PerturbedQA]] = field(default_factory=dict)

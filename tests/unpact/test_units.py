"""Question units: token and word granularity, spans into the full prompt ids."""

from unpact_exp.models.prompt import encode_parts
from unpact_exp.unpact.units import split_units


def test_token_units_cover_exactly_the_question(tokenizer, prompt_format):
    parts = prompt_format.parts("Where was Alice Smith born?")
    units = split_units(tokenizer, parts, "token")
    enc = encode_parts(tokenizer, parts)
    assert units.input_ids == tuple(enc.input_ids)
    assert units.units == ("Where", "was", "Alice", "Smith", "born", "?")
    assert units.spans == tuple((i, i + 1) for i in range(enc.question_start, enc.question_end))


def test_word_units_group_tokens_of_a_whitespace_word(tokenizer, prompt_format):
    parts = prompt_format.parts("Where was  Alice born?")
    units = split_units(tokenizer, parts, "word")
    start = encode_parts(tokenizer, parts).question_start
    assert units.units == ("Where", "was", "Alice", "born?")
    # "born?" is two tokens ("born", "?"): one unit spanning both.
    assert units.spans == (
        (start, start + 1),
        (start + 1, start + 2),
        (start + 2, start + 3),
        (start + 3, start + 5),
    )
    vocab = tokenizer.get_vocab()
    assert [units.input_ids[i] for i in range(*units.spans[3])] == [vocab["born"], vocab["?"]]


def test_icl_prefix_is_never_a_unit(tokenizer, prompt_format):
    from unpact_exp.data.schema import QAItem

    icl = [QAItem("Who is Carol White?", "Bob Jones's mother")]
    parts = prompt_format.parts("Where was Alice born?", icl=icl)
    units = split_units(tokenizer, parts, "word")
    assert units.units == ("Where", "was", "Alice", "born?")
    assert min(s for s, _ in units.spans) == encode_parts(tokenizer, parts).question_start


def test_empty_question_has_no_units(tokenizer, prompt_format):
    for granularity in ("token", "word"):
        units = split_units(tokenizer, prompt_format.parts(""), granularity)
        assert units.units == () and units.spans == ()

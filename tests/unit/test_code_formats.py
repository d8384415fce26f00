"""Code formats and codes printed elsewhere (spec 55): every code of every
format validates, a checked format refuses any one-character typo, and a
file of codes with one bad line imports nothing and names that line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import codes
from domain.errors import DomainError
from domain.promo_codes import IMPORT_MAX_LINES, import_lines, read_codes_csv

FORMATS = st.builds(
    codes.CodeFormat,
    alphabet=st.sampled_from(list(codes.Alphabet)),
    length=st.integers(min_value=codes.FORMAT_MIN_LENGTH, max_value=codes.MAX_LENGTH),
    check_character=st.booleans(),
)
PREFIXES = st.sampled_from(["YOOT-RENTREE2026-", "TEST-CODE-", "A-B-"])


@st.composite
def formatted(draw) -> tuple[str, str, codes.CodeFormat]:
    """(code, prefix, format), the random part drawn by hypothesis so failures replay."""
    code_format, code_prefix = draw(FORMATS), draw(PREFIXES)
    random = draw(
        st.text(
            alphabet=code_format.characters,
            min_size=code_format.length,
            max_size=code_format.length,
        )
    )
    (code,) = codes.format_codes(code_prefix, [random], code_format)
    return code, code_prefix, code_format


@given(formatted())
def test_every_code_of_every_format_validates(case) -> None:
    code, code_prefix, code_format = case
    assert codes.is_of_format(code, code_prefix=code_prefix, code_format=code_format)
    assert codes.is_plausible(code)
    # As typed back, in any case and with spaces: found at its exact spelling first.
    assert codes.candidates(f"  {code.lower()} ")[0] == code
    if len(code) <= codes.MAX_IMPORTED_LENGTH:
        assert codes.import_problem(code) is None


@given(formatted(), st.data())
def test_a_checked_format_refuses_any_one_character_typo(case, data) -> None:
    code, code_prefix, code_format = case
    if not code_format.check_character:
        return
    body = code.removeprefix(code_prefix)
    at = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    wrong = data.draw(st.sampled_from(code_format.characters).filter(lambda c: c != body[at]))
    if code_format.alphabet is codes.Alphabet.CROCKFORD and at == len(body) - 1:
        return  # covered by test_codes: the Crockford check reads aliases too
    typo = code_prefix + body[:at] + wrong + body[at + 1 :]
    assert not codes.is_of_format(typo, code_prefix=code_prefix, code_format=code_format)


@given(FORMATS, st.integers(min_value=1, max_value=50))
def test_generated_codes_are_of_their_format(code_format, count) -> None:
    drawn = codes.format_codes(
        "TEST-CODE-", codes.format_random_parts(count, code_format), code_format
    )
    assert len(drawn) == count
    assert all(
        codes.is_of_format(code, code_prefix="TEST-CODE-", code_format=code_format)
        for code in drawn
    )


def test_the_seeds_numeric_format_and_its_room() -> None:
    seed = codes.CodeFormat(alphabet="digits", length=3, check_character=False)
    assert codes.is_of_format("YYY-XXX-000", code_prefix="YYY-XXX-", code_format=seed)
    assert seed.fits(100) and not seed.fits(101)  # 1,000 codes, a tenth of them at most


def test_an_o_of_another_alphabet_is_not_read_as_zero() -> None:
    assert codes.candidates("test-code-5o") == ["TEST-CODE-5O", "TEST-CODE-50"]
    assert codes.candidates("yoot-x-7kq2") == ["YOOT-X-7KQ2"]


@given(
    st.lists(
        st.from_regex(r"[A-Z0-9]{1,12}(-[A-Z0-9]{1,12}){0,2}", fullmatch=True),
        min_size=1,
        max_size=30,
        unique=True,
    ),
    st.data(),
)
def test_one_bad_line_imports_nothing_and_is_named(good: list[str], data) -> None:
    lines = [(number + 2, code) for number, code in enumerate(good)]
    assert import_lines(lines, taken=set()) == good
    bad = data.draw(st.sampled_from(["", "A" * 41, "AB CD!", "-AB", "ÉTÉ-1"]))
    at = data.draw(st.integers(min_value=0, max_value=len(lines)))
    spoiled = [*lines[:at], (0, bad), *lines[at:]]
    spoiled = [(number + 2, code) for number, (_, code) in enumerate(spoiled)]
    with pytest.raises(DomainError) as refused:
        import_lines(spoiled, taken=set())
    assert refused.value.code == "import_rejected"
    assert [problem["line"] for problem in refused.value.details] == [at + 2]


def test_duplicates_and_taken_codes_are_named_with_their_lines() -> None:
    text = "Code;note\nTEST-CODE-56FE78;a\n\n test-code-56fe78 ;b\nYOOT-PRIS-1;c\n"
    lines = read_codes_csv(text)
    assert [number for number, _ in lines] == [2, 4, 5]  # the blank line 3 skipped
    with pytest.raises(DomainError) as refused:
        import_lines(lines, taken={"YOOT-PRIS-1"})
    assert refused.value.details == [
        {"line": 4, "code": "TEST-CODE-56FE78", "reason": "the same code as line 2"},
        {"line": 5, "code": "YOOT-PRIS-1", "reason": "a code of a campaign already"},
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("numero\n1\n", "no `code` column in the header"),
        ("\ufeffcode\n" + "C-1\n" * (IMPORT_MAX_LINES + 1), "one code too many"),
    ],
)
def test_a_file_that_is_no_list_of_codes(text: str, reason: str) -> None:
    with pytest.raises(DomainError) as refused:
        read_codes_csv(text)
    assert refused.value.code == "import_rejected"
    assert refused.value.details[0]["reason"] == reason

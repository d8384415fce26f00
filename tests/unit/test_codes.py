"""Promo-code format, check character and reading what people type (spec 50, "Codes")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import codes

# What a campaign name or client code may hold, accents and punctuation included.
NAMES = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x17F), min_size=1, max_size=40
).filter(lambda text: any(c.isascii() and c.isalnum() for c in text))
LENGTHS = st.integers(min_value=codes.MIN_LENGTH, max_value=codes.MAX_LENGTH)


@st.composite
def generated(draw) -> str:
    code_prefix = codes.prefix(client_code=draw(NAMES), campaign_name=draw(NAMES))
    length = draw(LENGTHS)
    # Drawn by hypothesis rather than `secrets` so that failures replay.
    random = draw(st.text(alphabet=codes.CODE_ALPHABET, min_size=length, max_size=length))
    (code,) = codes.with_checks(code_prefix, [random])
    return code


def _reads_as(character: str) -> str:
    return codes.CODE_ALPHABET[codes._VALUES[character]]


@given(generated())
def test_every_generated_code_validates(code: str) -> None:
    assert codes.is_well_formed(code)
    assert code == code.upper()
    client, operation, tail = code.split("-")
    assert client.isalnum() and operation.isalnum()
    assert all(character in codes.CODE_ALPHABET for character in tail)


@given(generated(), st.data())
def test_any_single_character_typo_is_refused_by_the_check(code: str, data) -> None:
    position = data.draw(
        st.sampled_from([index for index, character in enumerate(code) if character != "-"])
    )
    typed = data.draw(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    # O and 0, I, L and 1, U and V are one symbol to Crockford: not a typo.
    if _reads_as(typed) == _reads_as(code[position]):
        return
    mistyped = code[:position] + typed + code[position + 1 :]
    assert not codes.is_well_formed(codes.normalise(mistyped))


@given(generated(), st.data())
def test_normalisation_reads_back_what_was_printed(code: str, data) -> None:
    head, _, tail = code.rpartition("-")
    # Lower case, spaces anywhere, O for 0 and I or L for 1 in the random part.
    misread = {"0": ["0", "o", "O"], "1": ["1", "i", "I", "l", "L"]}
    tail = "".join(data.draw(st.sampled_from(misread.get(c, [c, c.lower()]))) for c in tail)
    spaced = " ".join(data.draw(st.sampled_from([head.lower(), head])).split("-"))
    typed = f"  {spaced.replace(' ', '-')}- {tail} "
    assert codes.normalise(typed) == code
    assert codes.normalise(codes.normalise(typed)) == code


def test_nearly_every_swap_of_two_neighbours_is_refused() -> None:
    """Not a guarantee of the hybrid system (single typos are): measured over
    every pair of different characters at one place of the random part."""
    refused = swapped = 0
    for first in codes.CODE_ALPHABET:
        for second in codes.CODE_ALPHABET.replace(first, ""):
            (code,) = codes.with_checks("YOOT-OP-", [f"7K{first}{second}Q2M9"])
            at = code.rindex("-") + 3
            swapped += 1
            refused += not codes.is_well_formed(code[:at] + second + first + code[at + 2 :])
    assert refused / swapped > 0.99


@pytest.mark.parametrize(
    ("typed", "well_formed"),
    [
        ("", False),
        ("-", False),
        ("ABCDEFGHJ", False),  # no prefix
        ("YOOT-OP-", False),
        ("YOOT-OP-ABC", False),  # random part too short
        ("YOOT-OP-" + "A" * 40, False),
        ("YOOT-OP-ÉÉÉÉÉÉÉÉÉ", False),
        ("YOOT-OP-!!!!!!!!!", False),
    ],
)
def test_malformed_input_is_refused(typed: str, well_formed: bool) -> None:
    assert codes.is_well_formed(codes.normalise(typed)) is well_formed


def test_the_prefix_is_the_reduced_client_code_and_campaign_name() -> None:
    assert codes.prefix(client_code="yoot", campaign_name="Rentrée 2026 !") == "YOOT-RENTREE2026-"
    assert codes.reduce_part("Opération « Été » très très longue") == "OPERATIONETETRES"
    with pytest.raises(codes.InvalidCodePart):
        codes.reduce_part("!!! ---")


def test_random_parts_use_the_whole_alphabet_uniformly() -> None:
    parts = codes.random_parts(4000, 8)
    assert len(parts) == 4000 and {len(part) for part in parts} == {8}
    counts = {character: 0 for character in codes.CODE_ALPHABET}
    for part in parts:
        for character in part:
            counts[character] += 1
    expected = 4000 * 8 / 32
    # 32,000 draws: each character within 20 % of its share (about 7 standard deviations).
    assert all(abs(count - expected) < expected * 0.2 for count in counts.values())


def test_the_default_carries_forty_random_bits() -> None:
    assert codes.random_bits(codes.DEFAULT_LENGTH) >= 40


@pytest.mark.parametrize(
    ("count", "length", "fits"),
    [
        (1_000_000, 8, True),
        (1_000_000, 5, True),  # 33.5 million: room for 33 times the count
        (1_000_000, 4, False),  # 1,048,576: full
        (104_857, 4, True),
        (104_858, 4, False),
    ],
)
def test_code_space_feasibility(count: int, length: int, fits: bool) -> None:
    assert codes.fits(count=count, length=length) is fits

"""Promo codes printed on paper: format, check character, reading what people type.

A code is `<CLIENT>-<OPERATION>-<RANDOM><CHECK>`, upper case, e.g.
`YOOT-RENTREE2026-7KQ2M9XHD`. RANDOM is drawn from Crockford's base-32
alphabet (no I, L, O, U to misread); CHECK is one character of that alphabet
computed over the whole code, so a code typed with one wrong character is
refused without looking it up.

The check is ISO 7064's hybrid system MOD 33,32: each character read as a
Crockford value (where O reads as 0, I and L as 1, U as V, as Crockford
defines); two codes differing in one character that reads differently always
have different checks. Dashes, spaces and case do not count.
"""

from __future__ import annotations

import base64
import math
import secrets
import unicodedata
from functools import cache

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RADIX = len(CODE_ALPHABET)  # 32: five random bits per character
BITS_PER_CHARACTER = 5
DEFAULT_LENGTH = 8  # 40 random bits
MIN_LENGTH = 4
MAX_LENGTH = 16
MAX_PART_LENGTH = 16
# A campaign must use at most this share of its code space: collisions stay
# rare (each draw collides with probability < 1/ROOM) and redraws cheap.
ROOM = 10

_VALUES = {character: value for value, character in enumerate(CODE_ALPHABET)}
# How Crockford reads the letters left out of the alphabet.
_READ_AS = {"O": "0", "I": "1", "L": "1", "U": "V"}
_VALUES |= {letter: _VALUES[digit] for letter, digit in _READ_AS.items()}
# RFC 4648 base 32, what `base64.b32encode` writes, mapped onto Crockford's.
_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CODE_ALPHABET)


class InvalidCodePart(ValueError):
    """A client code or campaign name with nothing left once reduced to [A-Z0-9]."""


def reduce_part(text: str) -> str:
    """`Rentrée 2026 !` → `RENTREE2026`: accents stripped, upper case, [A-Z0-9] only,
    at most MAX_PART_LENGTH characters."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(
        character for character in decomposed.upper() if character.isascii() and character.isalnum()
    )
    if not kept:
        raise InvalidCodePart(f"{text!r} has no letter or digit to put in a code")
    return kept[:MAX_PART_LENGTH]


def prefix(*, client_code: str, campaign_name: str) -> str:
    """What every code of a campaign starts with, dash included."""
    return f"{reduce_part(client_code)}-{reduce_part(campaign_name)}-"


def _step(state: int, value: int) -> int:
    """One character of ISO 7064 MOD 33,32 (hybrid): `state` in 1..32."""
    total = (state + value) % RADIX or RADIX
    return (2 * total) % (RADIX + 1)


def _checked_state(text: str, state: int = RADIX) -> int:
    for character in text:
        if character != "-":
            state = _step(state, _VALUES[character])
    return state


@cache
def _pair_tables() -> tuple[dict[str, int], ...]:
    """For each state, the state after each two-character chunk: generating a
    million codes reads four table entries per code instead of eight steps."""
    pairs = [first + second for first in CODE_ALPHABET for second in CODE_ALPHABET]
    return tuple(
        {pair: _step(_step(state, _VALUES[pair[0]]), _VALUES[pair[1]]) for pair in pairs}
        for state in range(RADIX + 1)
    )


def _check_for(state: int) -> str:
    """The character that makes the last sum 1, which the hybrid system accepts."""
    return CODE_ALPHABET[(1 - state) % RADIX]


def check_character(body: str) -> str:
    """The check character of `body` (a code without its last character)."""
    return _check_for(_checked_state(body))


def is_well_formed(code: str) -> bool:
    """A normalised code: a prefix, a random part of an allowed length, a right check."""
    head, dash, tail = code.rpartition("-")
    if not dash or not head.strip("-") or not MIN_LENGTH < len(tail) <= MAX_LENGTH + 1:
        return False
    if any(character not in _VALUES for character in head.replace("-", "")):
        return False
    if any(character not in CODE_ALPHABET for character in tail):
        return False
    return code[-1] == check_character(code[:-1])


def normalise(typed: str) -> str:
    """What someone typed, as stored: no spaces, upper case, and in the random
    part (after the last dash) O read as 0, I and L as 1."""
    squeezed = "".join(typed.split()).upper()
    head, dash, tail = squeezed.rpartition("-")
    for letter, digit in (("O", "0"), ("I", "1"), ("L", "1")):
        tail = tail.replace(letter, digit)
    return f"{head}{dash}{tail}"


def random_parts(count: int, length: int) -> list[str]:
    """`count` random parts of `length` Crockford characters from `secrets`,
    drawn as one block of random bytes (fast for a million)."""
    characters = count * length
    # b32encode turns every 5 bytes into 8 characters of 5 uniform bits each.
    blocks = math.ceil(characters / 8)
    text = base64.b32encode(secrets.token_bytes(blocks * 5)).decode().translate(_FROM_RFC4648)
    return [text[start : start + length] for start in range(0, characters, length)]


def with_checks(code_prefix: str, randoms: list[str]) -> list[str]:
    """Whole codes: the prefix, each random part and its check character."""
    tables = _pair_tables()
    start = _checked_state(code_prefix)
    codes = []
    for random in randoms:
        state, first_pair = start, 0
        if len(random) % 2:
            state, first_pair = _step(state, _VALUES[random[0]]), 1
        for index in range(first_pair, len(random), 2):
            state = tables[state][random[index : index + 2]]
        codes.append(f"{code_prefix}{random}{_check_for(state)}")
    return codes


def space_size(length: int) -> int:
    """How many different random parts of `length` characters there are."""
    return RADIX**length


def fits(*, count: int, length: int) -> bool:
    """Whether `count` codes fit in the code space with room to spare."""
    return count * ROOM <= space_size(length)


def random_bits(length: int) -> int:
    return length * BITS_PER_CHARACTER

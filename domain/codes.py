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
import re
import secrets
import unicodedata
from enum import StrEnum
from functools import cache

from pydantic import BaseModel, Field

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
    if not dash or not head.strip("-") or not FORMAT_MIN_LENGTH < len(tail) <= MAX_LENGTH + 1:
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


# --- code formats: a campaign's random part in another alphabet ---------------------------
#
# The default stays the Crockford code above (check over the whole code). A
# campaign may ask for digits (`YYY-XXX-000`, numbers printed elsewhere) or
# letters and digits, with or without a check character: then ISO 7064's
# hybrid system MOD 11,10 or MOD 37,36, over the random part only (its
# prefix holds letters a digit check cannot read).


class Alphabet(StrEnum):
    CROCKFORD = "crockford"
    DIGITS = "digits"
    ALNUM = "alnum"


ALPHABETS = {
    Alphabet.CROCKFORD: CODE_ALPHABET,
    Alphabet.DIGITS: "0123456789",
    Alphabet.ALNUM: "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
}
# A format's random part may be this short (the seed's three digits).
FORMAT_MIN_LENGTH = 3


class CodeFormat(BaseModel):
    alphabet: Alphabet = Alphabet.CROCKFORD
    length: int = Field(default=DEFAULT_LENGTH, ge=FORMAT_MIN_LENGTH, le=MAX_LENGTH)
    check_character: bool = True

    @property
    def characters(self) -> str:
        return ALPHABETS[self.alphabet]

    @property
    def is_default_kind(self) -> bool:
        """Today's codes: Crockford with its whole-code check."""
        return self.alphabet is Alphabet.CROCKFORD and self.check_character

    def space_size(self) -> int:
        return len(self.characters) ** self.length

    def fits(self, count: int) -> bool:
        return count * ROOM <= self.space_size()


def _hybrid_check(text: str, characters: str) -> str:
    """ISO 7064 hybrid MOD (M+1),M over `text` in an alphabet of M characters."""
    radix, state = len(characters), len(characters)
    for character in text:
        total = (state + characters.index(character)) % radix or radix
        state = (2 * total) % (radix + 1)
    return characters[(1 - state) % radix]


def format_random_parts(count: int, code_format: CodeFormat) -> list[str]:
    """`count` random parts of the format, from `secrets`."""
    if code_format.alphabet is Alphabet.CROCKFORD:
        return random_parts(count, code_format.length)
    characters = code_format.characters
    return [
        "".join(secrets.choice(characters) for _ in range(code_format.length)) for _ in range(count)
    ]


def format_codes(code_prefix: str, randoms: list[str], code_format: CodeFormat) -> list[str]:
    """Whole codes of the format: the prefix, each random part, its check if any."""
    if code_format.is_default_kind:
        return with_checks(code_prefix, randoms)
    if not code_format.check_character:
        return [f"{code_prefix}{random}" for random in randoms]
    characters = code_format.characters
    return [f"{code_prefix}{random}{_hybrid_check(random, characters)}" for random in randoms]


def is_of_format(code: str, *, code_prefix: str, code_format: CodeFormat) -> bool:
    """A code as the format writes it, its check right."""
    if code_format.is_default_kind:
        return code.startswith(code_prefix) and is_well_formed(code)
    body = code.removeprefix(code_prefix)
    if not code.startswith(code_prefix) or any(c not in code_format.characters for c in body):
        return False
    checked = int(code_format.check_character)
    if len(body) != code_format.length + checked:
        return False
    return not checked or body[-1] == _hybrid_check(body[:-1], code_format.characters)


# --- what a member types, whatever the format; codes printed elsewhere ------------------

MAX_IMPORTED_LENGTH = 40
_PLAUSIBLE = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")


def squeezed(typed: str) -> str:
    """Spaces out, upper case: the code as typed, in any format."""
    return "".join(typed.split()).upper()


def candidates(typed: str) -> list[str]:
    """The codes a member may have meant, exact first: as typed, then read
    as a Crockford code (O as 0, I and L as 1 in the random part). The
    exact spelling wins, so a code of another alphabet holding an O is never
    taken for a Crockford one."""
    exact = squeezed(typed)
    crockford = normalise(typed)
    return [exact] if crockford == exact else [exact, crockford]


def is_plausible(code: str) -> bool:
    """Could be a code of some campaign (letters, digits, dashes between):
    anything else is refused before a lookup."""
    return len(code) <= 64 and _PLAUSIBLE.fullmatch(code) is not None


def import_problem(code: str) -> str | None:
    """Why a code printed elsewhere cannot be imported (None: it can)."""
    if not code:
        return "empty"
    if len(code) > MAX_IMPORTED_LENGTH:
        return f"longer than {MAX_IMPORTED_LENGTH} characters"
    if not _PLAUSIBLE.fullmatch(code):
        return "only letters A-Z, digits and single dashes between them"
    return None

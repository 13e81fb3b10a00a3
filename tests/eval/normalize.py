"""Text normalization for scoring: lowercase, no punctuation, number words as digits.

``normalize("Nine o'clock, $25.00!") == "9 $25"``. Kept: ``:`` and ``.`` inside numbers
(``9:30``, ``2.5``) and a ``$`` right before one. Made equal: ``9:00 am`` ≡ ``9 am`` ≡
``9am`` ≡ ``nine a.m.``, ``$25.00`` ≡ ``$25`` ≡ ``25 dollars``, ``15%`` ≡ ``15 percent``,
``1,000`` ≡ ``1000`` ≡ ``one thousand``, ``twenty-first`` ≡ ``21st``, ``noon`` ≡ ``12 pm``.
Matching (``contains_tokens``) is by whole tokens; a word also matches its plural.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
MERIDIEM = ("am", "pm")

_TOKEN = re.compile(r"\$?\d+(?:[.:,]\d+)*[a-z]*|[a-z][a-z0-9]*")
_AMPM = re.compile(r"\b([ap])\s?\.\s?m\b\.?")
_OCLOCK = re.compile(r"\bo\s?'?\s?clock\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def _number_run(words: Sequence[str], i: int) -> tuple[str, int] | None:
    """Parse number words from ``words[i]``: (digits, words used) or None."""
    total = current = 0
    used = 0
    last = ""  # "unit" | "teen" | "ten" | "scale"
    j = i
    while j < len(words):
        w = words[j]
        if w in ORDINALS:
            value = ORDINALS[w]
            if last in ("", "scale") or (last == "ten" and value < 10):
                return ordinal(total + current + value), j - i + 1
            break
        if w in UNITS:
            value = UNITS[w]
            kind = "teen" if value >= 10 else "unit"
            if last in ("unit", "teen") or (last == "ten" and kind == "teen"):
                break  # "one two" is two numbers
            current += value
            last = kind
        elif w in TENS:
            if last in ("unit", "teen", "ten"):
                break
            current += TENS[w]
            last = "ten"
        elif w in SCALES and last != "":
            scale = SCALES[w]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
            last = "scale"
        elif w == "and" and last == "scale" and j + 1 < len(words):
            nxt = words[j + 1]
            if nxt not in UNITS and nxt not in TENS and nxt not in ORDINALS:
                break
        else:
            break
        j += 1
        used = j - i
    if used == 0:
        return None
    return str(total + current), used


def words_to_digits(words: Sequence[str]) -> list[str]:
    """``["twenty", "five", "dollars"]`` → ``["25", "dollars"]`` (ordinals → ``"21st"``)."""
    out: list[str] = []
    i = 0
    while i < len(words):
        parsed = _number_run(words, i)
        if parsed is None:
            out.append(words[i])
            i += 1
        else:
            out.append(parsed[0])
            i += parsed[1]
    return out


def _split_token(token: str) -> list[str]:
    """``9am`` → ``9 am``; ``5th`` stays; ``25.00`` → ``25``; ``09:00`` → ``9``."""
    m = re.fullmatch(r"(\$?)(\d+(?:[.:,]\d+)*)([a-z]*)", token)
    if m is None:
        return [token]
    dollar, number, suffix = m.groups()
    number = number.replace(",", "")
    if re.fullmatch(r"\d+\.0+", number):
        number = number.split(".")[0]
    if ":" in number:
        hours, _, minutes = number.partition(":")
        hours = hours.lstrip("0") or "0"
        number = hours if re.fullmatch(r"0+", minutes) else f"{hours}:{minutes}"
    if suffix in ("st", "nd", "rd", "th"):
        return [dollar + number + suffix]
    if suffix:
        return [dollar + number, suffix]
    return [dollar + number]


def tokens(text: str) -> list[str]:
    """Normalized tokens of ``text`` (see the module docstring)."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    text = _OCLOCK.sub(" ", text)
    text = _AMPM.sub(r" \1m ", text)
    text = _THOUSANDS.sub("", text)
    text = text.replace("%", " percent ").replace("'", "")
    raw: list[str] = []
    for token in _TOKEN.findall(text):
        raw.extend(_split_token(token))
    words = words_to_digits(raw)
    out: list[str] = []
    for i, word in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word in ("noon", "midday"):
            out += ["12", "pm"]
        elif word == "midnight":
            out += ["12", "am"]
        elif word in ("dollar", "dollars") and out and re.fullmatch(r"\d+(\.\d+)?", out[-1]):
            out[-1] = "$" + out[-1]
        elif word == "per" and nxt == "cent":
            out.append("percent")
        elif word == "cent" and out and out[-1] == "percent":
            continue
        elif re.fullmatch(r"0\d", word) and nxt in MERIDIEM:
            out.append(word.lstrip("0"))
        else:
            out.append(word)
    return out


def normalize(text: str) -> str:
    return " ".join(tokens(text))


def _same(needle: str, hay: str) -> bool:
    """Token equality; an item without ``$`` also matches a price (``25`` ~ ``$25``), and
    a word its plural or singular (``check`` ~ ``checks``)."""
    if needle == hay or (not needle.startswith("$") and hay == "$" + needle):
        return True
    if len(needle) < 3 or len(hay) < 3 or not needle.isalpha() or not hay.isalpha():
        return False
    return hay in (needle + "s", needle + "es") or needle in (hay + "s", hay + "es")


def contains_tokens(hay: Sequence[str], needle: Sequence[str]) -> bool:
    """``needle`` occurs in ``hay`` as consecutive whole tokens."""
    if not needle:
        return True
    n = len(needle)
    for i in range(len(hay) - n + 1):
        if all(_same(needle[k], hay[i + k]) for k in range(n)):
            return True
    return False


Item = str | Sequence[str]


def item_found(hay: Sequence[str], item: Item) -> bool:
    """An expected item in normalized tokens; a list item is satisfied by any alternative."""
    alternatives = [item] if isinstance(item, str) else list(item)
    return any(contains_tokens(hay, tokens(alt)) for alt in alternatives)


def missing_items(text: str, items: Sequence[Item]) -> list[Item]:
    """The expected items ``text`` does not contain (empty: all there)."""
    hay = tokens(text)
    return [item for item in items if not item_found(hay, item)]

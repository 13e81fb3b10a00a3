"""What an answer to a flow's question says: yes or no, a number, a date, one of the
choices, or free text — by the language pack's patterns (``IntentRules``), dateparser
and the pack's number words; ``None`` when the answer does not say (the flow re-asks).

Whisper writes numbers as digits nearly always ("25", "1,250"); number words are read
too ("twenty five"). Dates are resolved against the day of the call ("Friday" is the
coming one). "Don't call me again" is its own answer whatever was asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from callcontrol.flows.model import Expect
from callcontrol.language.base import LanguagePack
from callcontrol.pipeline.lexical import content_tokens

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"[^\W_]+")
_UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "a": 1, "an": 1,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}


@dataclass(frozen=True, slots=True)
class Answer:
    label: str  # yes | no | a choice's label | "number" | "date" | "text" | "dont_call"
    value: str  # what is stored: "yes", "25", "2026-12-11", the text…


def dont_call(text: str, pack: LanguagePack) -> bool:
    return bool(pack.intents.dont_call.search(text))


def yes_no(text: str, pack: LanguagePack) -> str | None:
    rules = pack.intents
    if rules.no_phrases.search(text):
        return "no"
    if rules.yes_phrases.search(text):
        return "yes"
    yes, no = rules.yes.search(text), rules.no.search(text)
    if yes and (not no or yes.start() < no.start()):
        return "yes"
    if no:
        return "no"
    if rules.yes_weak.search(text):
        return "yes"
    return None


def english_number(words: list[str]) -> int | None:
    """ "two hundred and fifty" → 250; None when the words hold no number."""
    total, current, seen = 0, 0, False
    for word in words:
        if word in _UNITS and not (word in ("a", "an") and seen):
            current += _UNITS[word]
            seen = seen or word not in ("a", "an")
        elif word in _TENS:
            current += _TENS[word]
            seen = True
        elif word in _SCALES and (seen or current):
            scale = _SCALES[word]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
            seen = True
        elif word == "and" and seen:
            continue
        elif seen:
            break
    return total + current if seen else None


def number(text: str, pack: LanguagePack) -> str | None:
    found = _NUMBER.search(text)
    if found:
        return found.group(0).replace(",", "")
    if pack.code == "en":
        value = english_number(re.findall(r"[a-z]+", text.lower().replace("-", " ")))
        return None if value is None else str(value)
    return None


_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_ORDINAL_WORDS = re.compile(
    r"\b(?:(twenty|thirty)[\s-]+)?(" + "|".join(_ORDINALS) + r")\b", re.IGNORECASE
)
_MONTHS = ("january february march april may june july august september october november "
           "december").split()  # fmt: skip
_MONTH = r"(" + "|".join(m[:3] + r"[a-z]*" for m in _MONTHS) + r")"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_MONTH_DAY = re.compile(
    rf"\b{_MONTH}\s+(?:the\s+)?{_DAY}\b|\b(?:the\s+)?{_DAY}\s+of\s+{_MONTH}\b", re.I
)
_THE_DAY = re.compile(r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)\b", re.I)
_RELATIVE = (
    (re.compile(r"\bday after tomorrow\b", re.I), 2),
    (re.compile(r"\b(?:a|one) week from (?:today|now)\b|\bin (?:a|one) week\b", re.I), 7),
    (re.compile(r"\btomorrow\b", re.I), 1),
    (re.compile(r"\b(?:today|tonight|this (?:morning|afternoon|evening))\b", re.I), 0),
)


_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_WEEK_FROM = re.compile(r"\b(?:a|one) week from (" + "|".join(_WEEKDAYS) + r")\b", re.I)
_HOLIDAYS = (  # (pattern, month, day)
    (re.compile(r"\bchristmas eve\b", re.I), 12, 24),
    (re.compile(r"\bchristmas\b", re.I), 12, 25),
    (re.compile(r"\bnew year'?s eve\b", re.I), 12, 31),
    (re.compile(r"\bnew year'?s(?: day)?\b", re.I), 1, 1),
)


def _ordinals(text: str) -> str:
    """ "the twenty-eighth" → "the 28th" (dateparser reads digits, not ordinal words)."""

    def digits(match: re.Match[str]) -> str:
        tens = {"twenty": 20, "thirty": 30}.get((match.group(1) or "").lower(), 0)
        return f"{tens + _ORDINALS[match.group(2).lower()]}th"

    return _ORDINAL_WORDS.sub(digits, text)


def _on_or_after(today: date, month: int, day: int) -> date | None:
    """That day this year, or next year once it has passed."""
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None


def _explicit(text: str, today: date) -> date | None:
    """A month and a day, "the 11th" alone (this month, else the next), "a week from
    Friday", a holiday: read here because dateparser takes "the 11th" for a month,
    "December 31" for a past day and "a week from Friday" for Friday."""
    from datetime import timedelta

    found = _WEEK_FROM.search(text)
    if found:
        ahead = (_WEEKDAYS.index(found.group(1).lower()) - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead + 7)
    for pattern, month, day in _HOLIDAYS:
        if pattern.search(text):
            return _on_or_after(today, month, day)
    found = _MONTH_DAY.search(text)
    if found:
        name = (found.group(1) or found.group(4) or "").lower()
        day = int(found.group(2) or found.group(3))
        month = next((i + 1 for i, m in enumerate(_MONTHS) if name.startswith(m[:3])), None)
        return _on_or_after(today, month, day) if month else None
    found = _THE_DAY.search(text)
    if found:
        day = int(found.group(1))
        for month_offset in (0, 1, 2):
            year, month = today.year, today.month + month_offset
            if month > 12:
                year, month = year + 1, month - 12
            try:
                candidate = date(year, month, day)
            except ValueError:
                continue
            if candidate >= today:
                return candidate
    return None


def when(text: str, pack: LanguagePack, today: date) -> str | None:
    from datetime import timedelta

    from dateparser.search import search_dates

    if pack.code == "en":
        text = _ordinals(text)
        day = _explicit(text, today)
        if day is not None:
            return day.isoformat()
        for pattern, days in _RELATIVE:
            if pattern.search(text):
                return (today + timedelta(days=days)).isoformat()
    found = search_dates(
        text,
        languages=[pack.code],
        settings={
            "RELATIVE_BASE": datetime(today.year, today.month, today.day, 12),
            "PREFER_DATES_FROM": "future",
        },
    )
    for _said, at in found or []:
        if at.date() >= today:  # a day to pay, book or deliver is never in the past
            return str(at.date().isoformat())
    return None


def choice(text: str, choices: dict[str, list[str]]) -> str | None:
    lowered = " " + " ".join(_WORD.findall(text.lower())) + " "
    said = set(content_tokens(text))
    best: tuple[int, str] | None = None
    for label, synonyms in choices.items():
        for phrase in [label, *synonyms]:
            words = " ".join(_WORD.findall(phrase.lower()))
            at = lowered.find(f" {words} ") if words else -1
            if at < 0:
                tokens = set(content_tokens(phrase))
                at = 10_000 if tokens and tokens <= said else -1
            if at >= 0 and (best is None or at < best[0]):
                best = (at, label)
    return best[1] if best else None


# Words to expect, as speech recognition's prompt: Whisper given "Yes. No. Yeah. Nope."
# hears a short "Yep." as that, not as "the app."
_HEARING = {
    "yes_no": "Yes. No. Yeah. Yep. Nope. Sure. Of course. I can. I can't. Not really.",
    "number": "One, two, three, four, five, ten, twenty, fifty, hundred, thousand, dollars.",
    "date": (
        "Today, tomorrow, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday, "
        "January, February, December, the first, the 15th, next week."
    ),
    "digits": "One, two, three, four, five, six, seven, eight, nine, zero.",
}


def hearing_words(
    expect: Expect | str, pack: LanguagePack, choices: dict[str, list[str]] | None = None
) -> str | None:
    """What to bias speech recognition with while waiting for this kind of answer."""
    if pack.code != "en":
        return None
    if expect == "choice" and choices:
        words = [w for label, synonyms in choices.items() for w in (label, *synonyms)]
        return ", ".join(dict.fromkeys(words)) + "."
    return _HEARING.get(str(expect))


def interpret(
    text: str,
    expect: Expect,
    pack: LanguagePack,
    *,
    today: date,
    choices: dict[str, list[str]] | None = None,
) -> Answer | None:
    """The answer ``text`` gives to a question expecting ``expect`` (None: it does not)."""
    text = text.strip()
    if not re.search(r"\w", text):
        return None
    if dont_call(text, pack):
        return Answer("dont_call", text)
    if expect == "yes_no":
        said = yes_no(text, pack)
        return Answer(said, said) if said else None
    if expect == "number":
        value = number(text, pack)
        return Answer("number", value) if value is not None else None
    if expect == "date":
        day = when(text, pack, today)
        return Answer("date", day) if day else None
    if expect == "choice":
        label = choice(text, choices or {})
        return Answer(label, label) if label else None
    return Answer("text", text)

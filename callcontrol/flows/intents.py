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


def when(text: str, pack: LanguagePack, today: date) -> str | None:
    from dateparser.search import search_dates

    found = search_dates(
        text,
        languages=[pack.code],
        settings={
            "RELATIVE_BASE": datetime(today.year, today.month, today.day, 12),
            "PREFER_DATES_FROM": "future",
        },
    )
    for _said, at in found or []:
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

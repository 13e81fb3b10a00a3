"""What a language pack holds: every rule and phrase that depends on the caller's language.

The dialog and the pipeline read language-specific things only through a
:class:`LanguagePack`: the patterns that tell a goodbye or a request for a person
from a question (``dialog/machine.py``), the words the fact guard treats as
specifics, stop words and negations (``dialog/grounding.py``), the abbreviations
that do not end a sentence (``pipeline/sentences.py``), what Whisper invents from
silence (``pipeline/stt.py``'s gate), the prompts and the fixed phrases. Adding a language
is adding a pack (``callcontrol/language/<code>.py``) and registering it in
``callcontrol/language/__init__.py``. Pure data: nothing here imports a model or
the settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IntentRules:
    """What :func:`callcontrol.dialog.machine.classify` matches, besides sensitive topics."""

    farewell: re.Pattern[str]  # "goodbye", "bye": a goodbye when the utterance is short
    done: re.Pattern[str]  # "that's all", "no thanks": a goodbye whatever its length
    person: re.Pattern[str]  # "let me talk to a person"
    max_goodbye_words: int = 8  # longer utterances with a farewell word are questions
    # "that's not what I asked": the answer did not help, a person should take over
    not_helpful: re.Pattern[str] = re.compile(r"(?!x)x")  # default: never
    # A scripted flow's yes/no questions (flows/intents.py): ``no_phrases`` mean no and
    # ``yes_phrases`` yes whatever words they hold ("no problem"); then the earlier of
    # ``yes``/``no`` decides; a weak yes ("okay", "fine") only when nothing says no
    # ("okay, no, I can't").
    yes: re.Pattern[str] = re.compile(r"(?!x)x")
    yes_weak: re.Pattern[str] = re.compile(r"(?!x)x")
    no: re.Pattern[str] = re.compile(r"(?!x)x")
    yes_phrases: re.Pattern[str] = re.compile(r"(?!x)x")
    no_phrases: re.Pattern[str] = re.compile(r"(?!x)x")  # "absolutely not": before all
    # "don't call me again": the number goes on the owner's do-not-call list
    dont_call: re.Pattern[str] = re.compile(r"(?!x)x")


@dataclass(frozen=True, slots=True)
class FactGuardWords:
    """The words :class:`~callcontrol.dialog.grounding.FactGuard` checks a reply with."""

    number_words: Mapping[str, str]  # "ten" → "10", "first" → "1"
    specific_words: frozenset[str]  # days, months, frequencies, times of day
    stopwords: frozenset[str]  # never specific, never counted as a neighbour
    negation: re.Pattern[str]  # a negation in a reply must be in the facts too
    leading_answer: re.Pattern[str]  # "Yes," / "No." before the claim itself
    ordinal: re.Pattern[str]  # "3rd" → group 1 is the number


@dataclass(frozen=True, slots=True)
class SentenceRules:
    """Where :class:`~callcontrol.pipeline.sentences.SentenceSplitter` may cut."""

    titles: frozenset[str]  # "dr", "e.g": a full stop after them never ends a sentence
    maybe_end: frozenset[str]  # "a.m", "etc": ends one only before a capital letter
    phrase_starts: frozenset[str]  # "at", "because": a natural pause before them


@dataclass(frozen=True, slots=True)
class FixedPhrases:
    """What the bot says verbatim (the settings' defaults for ``PipelineSettings``)."""

    greeting: str
    reprompt: str
    goodbye: str
    hold_phrase: str
    reassurance: str
    follow_up: str  # the wait for a person timed out: someone will call back
    away: str  # nobody is at the desk at all (every operator away or offline)
    voicemail_prompt: str  # before the tone, when the caller can leave a message
    voicemail_thanks: str  # after the message, before hanging up


@dataclass(frozen=True, slots=True)
class LanguagePack:
    """Every language-specific rule, word list, prompt and phrase of one language."""

    code: str  # ISO 639-1, as Whisper reports it ("en")
    name: str
    intents: IntentRules
    fact_guard: FactGuardWords
    sentences: SentenceRules
    # What Whisper writes for silence, noise or breathing, normalized as
    # ``pipeline.stt.normalize`` does (lowercase words, no punctuation).
    hallucinations: frozenset[str]
    phrases: FixedPhrases
    system_prompt: str  # the default ``PipelineSettings.system_prompt``
    rephrase_prompt: str  # tells the LLM to pass a colleague's answer on


def words(text: str) -> frozenset[str]:
    """A word list written as whitespace-separated text."""
    return frozenset(text.split())


def compile_i(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)

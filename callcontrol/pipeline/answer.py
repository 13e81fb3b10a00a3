"""Build the spoken answer from the retrieved facts (pure): extractive first.

A caller's answer is the fact itself, as written in the knowledge, cleaned for
speech. Nothing here can add a fact: the text is the retrieved chunk's words,
optionally preceded by "Yes." or "No." for a yes/no question.

* **Which facts.** The most confident passage; a second one only when it is
  nearly as confident and covers words of the question the first does not
  ("opening hours on Saturday and Sunday").
* **Yes or no.** Decided from the words, conservatively, and left out when unsure:
  "no" when the fact negates what the question asks about ("closed on Sundays",
  "we do not accept checks") or names a different day, time or amount than the
  question ("until 8 pm" for "until 9 pm?"); "yes" when the fact covers what the
  question asks and negates none of it.
* **Two close facts, neither sure alone.** Below ``min_confidence`` the question
  normally goes to a person. When the two best passages are both at least
  ``pair_confidence`` and within ``pair_gap`` of each other — "What hours can I call
  your support line?" meeting the phone line's and the live chat's hours, "How much
  is your cheapest plan?" meeting two plans — the caller hears both facts
  (:func:`decide`): what retrieval could not settle between, the caller can. Not for
  yes/no questions, whose verdict would rest on one of the two. On ``make eval``'s
  development questions (260 text and heard rows) this answered 19 more questions
  correctly for 3 more wrong answers and no unanswerable one; lowering
  ``min_confidence`` to get as many answers costs ~10 wrong (docs/answer-quality.md).
* **Follow-ups.** "And on Saturday?" says little alone: :func:`search_query` adds
  the caller's previous question for retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from callcontrol.pipeline.base import Passage
from callcontrol.pipeline.lexical import content_tokens, tokenize, words
from callcontrol.pipeline.speech_text import spoken_text

_YES_NO = re.compile(
    r"^\W*(?:(?:hi|hello|hey|so|and|ok(?:ay)?|quick question|i was wondering|"
    r"i wanted to (?:ask|know)|just wondering)\W+)*"
    r"(?:do|does|did|is|are|was|were|can|could|will|would|should|shall|may|must|"
    r"have|has|am|isn't|aren't|don't|doesn't|can't|won't)\b",
    re.IGNORECASE,
)
# "Do you know what time…", "Can you tell me where…": a wh-question in polite form.
_EMBEDDED_WH = re.compile(
    r"\b(?:know|tell me|say|explain)\b.*\b(?:what|when|where|which|who|how|why)\b", re.I
)
_FOLLOW_UP = re.compile(
    r"^\W*(?:and|also|what about|how about|and what about|and how about|same for|"
    r"is that|does that|what if)\b",
    re.IGNORECASE,
)
_REFERRING = frozenset("it that this they them those there he she its their".split())
NEGATIONS = frozenset(
    "not no never cannot can't don't doesn't didn't won't isn't aren't wasn't weren't "
    "shouldn't couldn't wouldn't closed nobody none nothing unavailable without".split()
)
_NEGATION_SCOPE = 5  # words after a negation that it applies to
DAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday weekend weekday".split())


@dataclass(frozen=True, slots=True)
class Answer:
    text: str  # what to say
    facts: tuple[str, ...]  # the fact texts it is built from
    polarity: str | None = None  # "yes" | "no" for a yes/no question, when sure
    passages: tuple[Passage, ...] = ()  # the passages it is built from, best first
    pair: bool = False  # two close facts below min_confidence (see decide)


@dataclass(frozen=True, slots=True)
class AnswerRule:
    """When retrieval's passages are good enough to answer from (see :func:`decide`)."""

    min_confidence: float = 0.5
    pair_confidence: float = 0.35
    pair_gap: float = 0.2


def is_yes_no(question: str) -> bool:
    return bool(_YES_NO.match(question)) and not _EMBEDDED_WH.search(question)


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the one before ("And on Saturday?", "Is it free?")."""
    asked = content_tokens(question)
    referring = any(w in _REFERRING for w in words(question))
    return bool(_FOLLOW_UP.match(question)) or (referring and len(asked) <= 2)


def search_query(question: str, earlier: Sequence[str] = ()) -> str:
    """The text to retrieve with: a follow-up borrows the words of the question it
    follows (itself resolved the same way), a standalone question stands alone."""
    if not earlier or not is_follow_up(question):
        return question
    return f"{search_query(earlier[-1], earlier[:-1])} {question}"


_DIGITS = re.compile(r"\d+(?::\d\d)?")
_COST = frozenset("cost costs charge charges pay fee fees price expensive".split())
_FREE = re.compile(r"\b(free|no (extra )?(charge|cost|fee)|at no cost|nothing)\b", re.I)


def _specifics(text: str) -> set[str]:
    """The days and the written numbers in ``text`` ("one of those" is not a number)."""
    tokens = set(_stem_days(text))
    return {t for t in tokens if t in DAYS} | set(_DIGITS.findall(text))


def _stem_days(text: str) -> list[str]:
    """Tokens with plural days folded ("sundays" → "sunday") and no stop words."""
    return [t.removesuffix("s") if t.removesuffix("s") in DAYS else t for t in tokenize(text)]


def _negated(fact: str) -> set[str]:
    """Stems of the words a negation in ``fact`` applies to."""
    plain = words(fact)
    scoped: set[str] = set()
    for i, word in enumerate(plain):
        if word in NEGATIONS or word.endswith("n't"):
            scope = " ".join(plain[i + 1 : i + 1 + _NEGATION_SCOPE])
            scoped.update(_stem_days(scope))
            if word == "closed":
                scoped.add("open")
    return scoped


def polarity(question: str, fact: str) -> str | None:
    """ "yes", "no", or None when the words do not settle it."""
    asked = set(_stem_days(question))
    if not asked or any(w in NEGATIONS or w.endswith("n't") for w in words(question)):
        return None  # "Don't you open on Sunday?": too easy to get backwards
    if _COST & set(words(question)) and _FREE.search(fact):
        return "no"  # "Does it cost anything?" — "it is free"
    if _negated(fact) & asked:
        return "no"
    asked_specifics = _specifics(question)
    said_specifics = _specifics(fact)
    missing = asked_specifics - said_specifics
    if missing:
        kinds = {"day" if t in DAYS else "number" for t in missing}
        offered = {"day" if t in DAYS else "number" for t in said_specifics - asked_specifics}
        return "no" if kinds & offered else None
    said = set(_stem_days(fact))
    covered = len(asked & said) / len(asked)
    return "yes" if covered >= 0.25 else None


def _adds_coverage(question: str, first: Passage, second: Passage) -> bool:
    asked = set(content_tokens(question))
    have = set(tokenize(first.passage))
    extra = set(tokenize(second.passage)) - have
    return bool(asked & extra)


def compose(
    question: str, passages: Sequence[Passage], *, second_margin: float = 0.03
) -> Answer | None:
    """The extractive answer to ``question`` from ``passages`` (best first), or None."""
    if not passages:
        return None
    best = passages[0]
    chosen = [best]
    if len(passages) > 1:
        runner = passages[1]
        if runner.score >= best.score - second_margin and _adds_coverage(question, best, runner):
            chosen.append(runner)
    facts = tuple(spoken_text(p.text) for p in chosen)
    text = _join(facts)
    answer_polarity = polarity(question, facts[0]) if is_yes_no(question) else None
    if answer_polarity == "yes":
        text = f"Yes. {text}"
    elif answer_polarity == "no":
        text = f"No. {text}"
    return Answer(text, facts, answer_polarity, tuple(chosen))


def _join(facts: Sequence[str]) -> str:
    return " ".join(f if f.endswith((".", "!", "?")) else f + "." for f in facts)


def decide(question: str, passages: Sequence[Passage], rule: AnswerRule) -> Answer | None:
    """The answer to give, or None when the question should go to a person.

    ``question``: what the caller said (for yes/no and coverage); ``passages``: what
    retrieval found for it, best first, scored by its calibrated confidence.
    """
    if not passages:
        return None
    if passages[0].score >= rule.min_confidence:
        return compose(question, passages)
    if len(passages) < 2 or is_yes_no(question):
        return None
    best, runner = passages[0], passages[1]
    # Candidates are ranked by meaning, not by confidence: the runner may be the surer.
    if min(best.score, runner.score) < rule.pair_confidence:
        return None
    if best.score - runner.score > rule.pair_gap:
        return None
    facts = (spoken_text(best.text), spoken_text(runner.text))
    return Answer(_join(facts), facts, None, (best, runner), pair=True)

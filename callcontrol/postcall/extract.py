"""After a call: a summary, action items and knowledge proposals — every one quoted
from a transcript segment it cites, so nothing in them is invented.

Pure functions over the call's speaker-labelled segments (no I/O, no model). The bundled
135M LLM is not used here: extraction by the rules below is measured on annotated calls
(``tests/data/postcall``, ``make eval-postcall``) and a claim that is not the words of its
segment cannot come out of it.

* **Action items**: a sentence that commits someone to future work ("I'll email you the
  quote", "a technician will come on Monday", "we'll call you back") or asks the caller
  to do something ("please send us…", "you'll need to…", "bring your ID on Thursday");
  not questions, conditions, things already done, hedges or transfers. Who does it: the
  speaker for a commitment, the caller for a request. When: the first date phrase
  (``dateparser``, relative to the call's date).
* **Facts** (knowledge proposals): what the business side states that holds for every
  caller — hours, prices, addresses and contacts, procedures and policies — not what is
  about this caller ("your balance", "I've moved you").
* **Summary**: the caller's first request, the business's key answer, the action items,
  and how the call ended — sentences of the transcript, each with its segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from callcontrol.pipeline.lexical import content_tokens

Side = Literal["caller", "business"]


@dataclass(frozen=True, slots=True)
class Seg:
    """One segment of the transcript: ``id`` is what items cite."""

    id: str
    speaker: str  # caller | bot | agent | operator
    text: str
    start_s: float = 0.0

    @property
    def side(self) -> Side:
        return "caller" if self.speaker == "caller" else "business"


@dataclass(frozen=True, slots=True)
class Action:
    title: str
    assignee: str  # agent | caller
    due: str | None  # YYYY-MM-DD
    segment: str
    evidence: str  # the sentence, as said


@dataclass(frozen=True, slots=True)
class Fact:
    text: str
    category: str  # appointment | contact | instruction | faq
    keywords: list[str]
    confidence: float
    segment: str
    evidence: str


@dataclass(slots=True)
class PostCall:
    summary: str
    summary_sources: list[str]
    actions: list[Action] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


# -- sentences ---------------------------------------------------------------------------
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=\S)")
_FILLER = re.compile(
    r"^(?:(?:uh|um|er|oh|okay|ok|so|and|also|yeah|yes|right|well|sure)\b[,.]?\s*)+", re.I
)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SPLIT.split(text.strip()) if s.strip()]


def clean(sentence: str) -> str:
    """The sentence without leading fillers, capitalised, ending with a full stop."""
    s = _FILLER.sub("", sentence.strip()).strip(" ,")
    if not s:
        return s
    s = s[0].upper() + s[1:]
    return s if s[-1] in ".!?" else s + "."


# -- action items ------------------------------------------------------------------------
# Hold and hand-over phrases, and what someone does during the call itself ("hang on,
# I'll grab the job sheet"): neither future work nor a fact.
_IN_CALL = re.compile(
    r"\btransfer(?:r|\s+you\b)|\bput you through|\bplease hold\b|\bhold on\b|\bhang on\b"
    r"|\bone moment\b"
    r"|\bone sec\b|\bstay on the line\b|\b(?:don't|do not) hang up\b|\bbear with me\b"
    r"|\bdon't go anywhere\b|\b(?:pass|connect|put) you (?:to|through|over|with)\b|\blet me\b"
    # a bot's or agent's prompt for something right now ("say your booking reference")
    r"|^(?:please\s+)?(?:say|tell me|spell|confirm|repeat|read out)\b"
    r"|\b(?:i'll|i will|i'm going to) (?:just )?(?:grab|check|look|pull up|find|see|bring up"
    r"|have a look|get your|open)\b",
    re.I,
)
_COMMIT = re.compile(
    r"\b(?:i'll|i will|we'll|we will|i'm going to|we're going to|i am going to"
    r"|(?:a|an|the|our|your|one of our)\s+(?:\w+\s+){0,2}will"
    r"|someone will|somebody will|it'll be|(?:they|he|she)'ll (?!be\b)"
    r"|\b\w+ will (?:phone|call|email|send|come|contact|visit|ring|text|post|deliver|be in touch)"
    r"|you'll (?:get|receive|hear))\b",
    re.I,
)
_REQUEST = re.compile(
    r"(?:^|[,;:]\s*|\b(?:and|so|just|then)\s+)(?:please\s+)?"
    r"(?:bring|send|email|call|fill|return|upload|submit|sign|post|keep|take|pay|book|"
    r"check|make sure|remember to|don't forget to)\b"
    r"|\bplease\s+\w+"
    r"|\byou(?:'ll| will)? (?:need|have) to\b"
    r"|\byou'll need to\b|\bmake sure\b",
    re.I,
)
_NOT_ACTION = re.compile(
    r"\?\s*$|^(?:will|can|could|would|do|does|did|is|are|should)\s+(?:you|i|we|someone)\b"
    r"|\bif\b|\bmaybe\b|\bmight\b|\bperhaps\b|\bprobably\b|\bi think\b|\bwould you\b"
    r"|\b(?:i've|we've|i have|we have|has been|have been|already|just now|done)\b"
    r"|\btake care\b|\bhave a (?:good|nice|great)\b|\bsee you\b|\blook(?:ing)? forward\b"
    # a promise never to do something, and how long something takes, are not tasks
    r"|\bnever\b|\bwon't\b|\bwill not\b|\btakes? (?:about|around|roughly|up to|approximately)\b"
    # intentions too vague to act on
    r"|\bsee how\b|\bwe'll see\b|\b(?:bear|keep) (?:that |this |it )?in mind\b"
    r"|\busually\b|\bnormally\b|\btypically\b|\bgenerally\b"
    r"|\b(?:anyone|everyone|every|all (?:our|customers|callers)|any (?:customer|caller))\b",
    re.I,
)
# A request must be about this call: addressed to the caller ("you"/an imperative)
# and about something concrete, not advice in general.
_VERB_START = re.compile(
    r"^(?:please\s+)?(?:bring|send|email|call|fill|return|upload|submit|sign|post|pay|book|"
    r"check|make sure|remember|don't forget)\b",
    re.I,
)


def _due(sentence: str, on: date) -> str | None:
    from dateparser.search import search_dates

    base = datetime(on.year, on.month, on.day, 12)
    found = search_dates(
        sentence,
        languages=["en"],
        settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future"},
    )
    anchors = re.compile(
        r"today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
        r"|day|week|month|january|february|march|april|may|june|july|august|september"
        r"|october|november|december|\d",
        re.I,
    )
    for said, when in found or []:
        if anchors.search(said) and when.date() >= on:
            return str(when.date().isoformat())
    if re.search(r"\b(?:today|tonight|this (?:morning|afternoon|evening))\b", sentence, re.I):
        return on.isoformat()
    return None


def _title(sentence: str, assignee: str) -> str:
    """The commitment as a task title: the sentence from the promised verb on."""
    s = clean(sentence)
    m = re.search(
        r"\b(?:i'll|i will|we'll|we will|i'm going to|we're going to|will|you'll need to"
        r"|you need to|you have to|please)\s+(.*)",
        s,
        re.I,
    )
    body = m.group(1) if m else s
    body = body.strip().rstrip(".")
    if not body:
        body = s.rstrip(".")
    return body[0].upper() + body[1:] if body else body


def action_items(segments: list[Seg], call_date: date) -> list[Action]:
    out: list[Action] = []
    for seg in segments:
        for raw in sentences(seg.text):
            s = _FILLER.sub("", raw).strip()
            if not s or _NOT_ACTION.search(s) or _IN_CALL.search(s):
                continue
            if _COMMIT.search(s):
                assignee = "caller" if seg.side == "caller" else "agent"
            elif seg.side == "business" and (_REQUEST.search(s) or _VERB_START.search(s)):
                assignee = "caller"
            else:
                continue
            if len(content_tokens(s)) < 3:
                continue  # "I'll check." says too little to act on
            out.append(Action(_title(s, assignee), assignee, _due(s, call_date), seg.id, raw))
    return out


# -- facts -------------------------------------------------------------------------------
_CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "contact",
        re.compile(
            r"\bdot (?:com|co|org|net|uk)\b|\.(?:com|org|net)\b|@|\bwebsite\b|\bemail\b"
            r"|\bphone\b|\bcall us\b|\baddress\b|\bis at \w+|\bon \w+ (?:street|road|avenue)"
            r"|\b(?:street|road|avenue|lane)\b|\bline is open\b|\blines are open\b",
            re.I,
        ),
    ),
    (
        "appointment",
        re.compile(
            r"\bappointments?\b.*\b(?:last|take|are)\b|\b(?:visits?|sessions?)\b.*\blast"
            r"|\bheld for\b|\bwalk-?ins?\b",
            re.I,
        ),
    ),
    (
        "instruction",
        re.compile(
            r"\b(?:need|needs|have|has) to\b|\bmust\b|\brequired\b|\bmake sure\b"
            r"|\bcan (?:also )?(?:pay|freeze|book|cancel|change|order|download|reset|bring)\b"
            r"|\bin the (?:mobile )?app\b|\bonline\b",
            re.I,
        ),
    ),
    (
        "faq",
        re.compile(
            r"\bopen(?:s)?\b|\bclose(?:s|d)?\b|\bhours\b|\b(?:costs?|fee|price|charge)\b"
            r"|\b(?:dollars?|pounds?|euros?)\b|\bfree\b|\bwarranty\b|\bautomatically\b"
            r"|\bwithin \w+ (?:days|hours|weeks)\b|\bpolicy\b|\brefund",
            re.I,
        ),
    ),
)
_PERSONAL = re.compile(
    r"\byour (?:account|balance|bill|order|parcel|package|booking|appointment|claim|card"
    r"|policy|reference|line|car|case|ticket|payment|reading|address|number|street|area"
    r"|road|building|flat|house|home|loans?|contract|plan|subscription)\b"
    # what is free or booked for this caller
    r"|\b(?:got|have) (?:\w+ ){0,4}(?:free|available|open)\b|\ba slot\b|\bfree slot"
    r"|\b(?:i've|we've|i have|i see|i can see|i'm|i am|i'll|we'll|i will)\b"
    r"|\byou're\b|\bbooked\b|\bfor you\b|\?\s*$|\bif\b|\bthat's why\b|\bi can\b"
    # about this caller's past: their transactions, what the system shows for them
    r"|\blast (?:year|month|week|night)\b|\byesterday\b|\bthis morning\b|\bowed\b"
    r"|\bit shows\b|\bthere's a (?:payment|charge|transaction|fault)\b"
    # this caller's total, and requests (a fact is stated, not asked for)
    r"|\byour total\b|\bthat'll\b|\bthat will\b|\bplease\b|\byours\b|\bdue on it\b"
    r"|\byour (?:first|deposit|payment|charges?|price|quote|refund|order)\b"
    # who is speaking: a greeting is not knowledge
    r"|\bthis is \w+|\b\w+ (?:here|speaking)[.!]?$|\bthanks for calling\b|\bwelcome to\b"
    r"|\byou've reached\b",
    re.I,
)
_GENERAL = re.compile(
    r"\b(?:we|our|the \w+ (?:is|are)|all|every|any|anyone|each|customers|visitors"
    r"|you can|there's|there is|there are)\b",
    re.I,
)


_LEAD = re.compile(
    r"^(?:(?:and|oh|also|so|but)[,]?\s+)*(?:just so you know|for future reference"
    r"|for future visits|by the way|also)\b[,:]?\s*",
    re.I,
)
_CLAUSE = re.compile(r",\s+(?:and|or|but)\s+|;\s+|,\s+(?=(?:it's|it is|they're|we're|there's)\b)")
_NOT_GENERAL = re.compile(r"^(?:please|fill|your|it'll|it will|looks like|i\b|sorry|thanks)", re.I)


def clauses(sentence: str) -> list[str]:
    """A sentence cut where it joins separate statements ("we open at nine, and
    appointments last twenty minutes"), when each part says enough on its own."""
    parts = [p.strip(" ,") for p in _CLAUSE.split(sentence) if p.strip(" ,")]
    if len(parts) > 1 and all(len(content_tokens(p)) >= 3 for p in parts):
        return parts
    return [sentence]


def facts(segments: list[Seg]) -> list[Fact]:
    out: list[Fact] = []
    for seg in segments:
        if seg.side != "business":
            continue
        for raw in [c for sent in sentences(seg.text) for c in clauses(sent)]:
            s = _LEAD.sub("", _FILLER.sub("", raw).strip()).strip()
            s = _LEAD.sub("", s).strip()
            if not s or _PERSONAL.search(s) or _NOT_GENERAL.search(s) or _IN_CALL.search(s):
                continue
            if _COMMIT.search(s) or _VERB_START.search(s):
                continue  # a commitment or a request to this caller: an action item
            category = next((name for name, rx in _CATEGORIES if rx.search(s)), None)
            if category is None:
                continue
            general = bool(_GENERAL.search(s))
            words = content_tokens(s)
            if len(words) < 4:
                continue
            confidence = 0.6 + (0.2 if general else 0.0) + (0.1 if category != "faq" else 0.0)
            keywords = list(dict.fromkeys(w for w in words if len(w) > 3))[:6]
            out.append(Fact(clean(s), category, keywords, round(confidence, 2), seg.id, raw))
    return out


# -- summary ------------------------------------------------------------------------------
_ASK = re.compile(
    r"\?|\b(?:i need|i want|i'd like|i would like|i'm calling|i am calling|i think|my \w+"
    r"|can i|could i|i lost|i have|i had|problem|issue)\b",
    re.I,
)


def summarise(segments: list[Seg], actions: list[Action], handled_by: str | None) -> PostCall:
    """2–4 sentences, each the words of a cited segment (or a count of items)."""
    sources: list[str] = []
    parts: list[str] = []
    ask = next(
        (
            (seg, s)
            for seg in segments
            if seg.side == "caller"
            for s in sentences(seg.text)
            if _ASK.search(s) and len(content_tokens(s)) >= 3
        ),
        None,
    )
    if ask is not None:
        parts.append(f"The caller said: \u201c{clean(ask[1])}\u201d")
        sources.append(ask[0].id)
        after = [
            seg for seg in segments if seg.start_s >= ask[0].start_s and seg.side == "business"
        ]
        reply = next(
            (
                (seg, s)
                for seg in after
                for s in sentences(seg.text)
                if len(content_tokens(s)) >= 4 and not s.rstrip().endswith("?")
            ),
            None,
        )
        if reply is not None:
            who = "The bot" if reply[0].speaker == "bot" else "The agent"
            parts.append(f"{who} said: \u201c{clean(reply[1])}\u201d")
            sources.append(reply[0].id)
    if actions:
        first = actions[0]
        more = f" and {len(actions) - 1} more" if len(actions) > 1 else ""
        parts.append(f"To do: {first.title}{more}.")
        sources.append(first.segment)
    if handled_by:
        parts.append(
            {
                "bot": "The bot handled the call.",
                "human": "A person handled the call.",
                "both": "The bot handed the call to a person.",
            }.get(handled_by, f"Handled by: {handled_by}.")
        )
    if not parts:
        parts.append("Nothing was said that could be summarised.")
    return PostCall(" ".join(parts[:4]), list(dict.fromkeys(sources)))


def analyse(segments: list[Seg], call_date: date, handled_by: str | None = None) -> PostCall:
    """The rules alone (the post-call worker also asks the gate: postcall/gate.py)."""
    return assemble(segments, action_items(segments, call_date), facts(segments), handled_by)


def assemble(
    segments: list[Seg], actions: list[Action], found: list[Fact], handled_by: str | None
) -> PostCall:
    """The summary of the items kept, with them."""
    result = summarise(segments, actions, handled_by)
    result.actions = actions
    result.facts = found
    return result


def grounded(item_text: str, evidence: str) -> bool:
    """Every content word of an item is in the words of its segment (what any future
    generator's output must pass before it is kept)."""
    said = set(content_tokens(evidence))
    return set(content_tokens(item_text)) <= said

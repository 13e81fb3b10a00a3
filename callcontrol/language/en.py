"""English: the rules and phrases callcontrol was built with (:data:`ENGLISH`)."""

from __future__ import annotations

import re
from types import MappingProxyType

from callcontrol.language.base import (
    FactGuardWords,
    FixedPhrases,
    IntentRules,
    LanguagePack,
    SentenceRules,
    compile_i,
    words,
)

INTENTS = IntentRules(
    farewell=compile_i(r"\b(good\s*-?\s*bye|bye(\s*bye)?|farewell|see you)\b"),
    done=compile_i(
        r"^\W*(ok(ay)?\W+)?(that'?s (all|it)|that is all|nothing else|no\W+thanks?( you)?"
        r"|no\W+that'?s (all|it))\W*$"
    ),
    person=compile_i(
        r"\b(talk|speak|put me through|connect me|transfer me)\b.{0,30}"
        r"\b(person|human|someone|somebody|agent|operator|representative|manager|colleague)\b"
        r"|\b(real|live) (person|human|agent)\b"
    ),
    max_goodbye_words=8,
    not_helpful=compile_i(
        r"\b(that'?s|that is|it'?s|it is) not (what i (asked|meant|wanted|said)|it|right|"
        r"helpful|my question)\b"
        r"|\bnot what i (asked|meant|wanted)\b"
        r"|\b(that|this|it) (didn'?t|doesn'?t|does not|did not) (help|answer)\b"
        r"|\byou (didn'?t|did not|don'?t|do not) (answer|understand|get)\b"
        r"|\b(wrong|useless) answer\b"
    ),
    yes=compile_i(
        r"\b(yes|yeah|yep|yup|yea|certainly|definitely|absolutely|correct|affirmative"
        r"|of course|that'?s right|that'?s correct|sounds good|go ahead|please do|i think so"
        r"|i can(?!'?t|not)|i will(?! not)|i do(?!n'?t| not)|we can(?!'?t|not)|will do"
        r"|i guess so|i suppose so"
        r"|i'?ll do it)\b"
    ),
    yes_weak=compile_i(
        r"\b(sure|okay|ok|alright|all right|fine|right|uh-?huh|mm-?hm+|that'?s the one)\b"
    ),
    no=compile_i(
        r"\b(no|nope|nah|not|never|negative|cannot|can'?t|won'?t|don'?t|doesn'?t|isn'?t"
        r"|unable|wrong|incorrect|not really|i don'?t think so)\b|n't\b"
    ),
    yes_phrases=compile_i(
        r"\b(no problem|no worries|not a problem|why not|no doubt|can'?t wait"
        r"|i don'?t mind|don'?t see why not)\b"
    ),
    no_phrases=compile_i(
        r"\b(absolutely|definitely|certainly|of course|surely) not\b|\bno way\b|\bnot at all\b"
    ),
    dont_call=compile_i(
        r"\b(don'?t|do not|never|stop)\s+(call|calling|ring|ringing|contact|phone)(ing)?\s*"
        r"(me|us|this number)?\b(\s+again)?"
        r"|\b(take|remove|delete) (me|my number|this number) (off|from)\b"
        r"|\bdo not call list\b"
    ),
)

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "fifteen": "15", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
    "hundred": "100", "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5",
}  # fmt: skip

FACT_GUARD = FactGuardWords(
    number_words=MappingProxyType(_NUMBER_WORDS),
    specific_words=words(
        """monday tuesday wednesday thursday friday saturday sunday weekend weekday weekdays
        january february march april may june july august september october november december
        daily weekly monthly yearly annually hourly biweekly quarterly
        am pm noon midnight morning afternoon evening tonight tomorrow yesterday"""
    ),
    stopwords=words(
        """a an the is are was were be been at on in of to for from by with and or it its this
        that these those there here our your my we you i he she they them his her as so do does
        did can will would should may might must has have had not no yes also than then until
        every each per about into over under up down out off very just only"""
    ),
    negation=compile_i(r"\b(not|never|no|cannot|closed|none|nobody)\b|n't\b"),
    leading_answer=compile_i(r"^\s*(yes|no)\b[.,!]?\s*"),
    ordinal=re.compile(r"^(\d+)(st|nd|rd|th)$"),
)

SENTENCES = SentenceRules(
    titles=words(
        "mr mrs ms dr prof st sr jr mt ft vs cf e.g i.e eg ie approx dept ave rev gen col"
    ),
    maybe_end=words("a.m p.m am pm etc inc ltd co no nr tel ext min max"),
    phrase_starts=words(
        "at in on from for with and but or because which who when where until after before "
        "so if while during between by near since unless"
    ),
)

# What Whisper is known to produce from silence, noise or breathing (normalized). A few
# other languages' thanks are here too: Whisper writes them for English-call noise.
HALLUCINATIONS = frozenset(
    {
        "you",
        "thank you",
        "thanks",
        "thank you very much",
        "thanks for watching",
        "thank you for watching",
        "thank you so much for watching",
        "please subscribe",
        "subtitles by the amaraorg community",
        "bye",
        "oh",
        "so",
        "um",
        "uh",
        "hmm",
        "i",
        "im",
        "blank audio",
        "silence",
        "music",
        "applause",
        "laughter",
        "gracias",
        "merci",
        "danke",
    }
)

PHRASES = FixedPhrases(
    greeting="Hello, thanks for calling. How can I help you?",
    reprompt="Are you still there?",
    goodbye="Thank you for calling. Goodbye.",
    hold_phrase="Let me check that with a colleague, please hold.",
    reassurance="Thanks for waiting, someone is looking at your question.",
    follow_up="I could not reach a colleague right now. Someone will call you back.",
    away=(
        "Our team is not available right now. We have noted your question, "
        "and someone will call you back."
    ),
    voicemail_prompt=(
        "I could not reach a colleague right now. Please leave a message after the tone, "
        "and someone will call you back."
    ),
    voicemail_thanks="Thank you, we have your message. Goodbye.",
)

SYSTEM_PROMPT = (
    "You are a friendly phone assistant. Answer the question in one short sentence "
    "using the exact words of the facts. Never change days, times or numbers. If the "
    "facts do not answer the question, say you will pass it to a colleague."
)

REPHRASE_PROMPT = (
    "You are a friendly phone assistant. A colleague answered the caller's question. "
    "Tell the caller the colleague's answer in one or two short sentences. Do not add facts."
)

ENGLISH = LanguagePack(
    code="en",
    name="English",
    intents=INTENTS,
    fact_guard=FACT_GUARD,
    sentences=SENTENCES,
    hallucinations=HALLUCINATIONS,
    phrases=PHRASES,
    system_prompt=SYSTEM_PROMPT,
    rephrase_prompt=REPHRASE_PROMPT,
)

"""Language packs: English is what the code did before; another pack changes the rules."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest

from callcontrol import language
from callcontrol.config import PipelineSettings
from callcontrol.dialog.grounding import FactGuard
from callcontrol.dialog.machine import Input, classify
from callcontrol.language import ENGLISH, LanguagePack, language_pack
from callcontrol.language.base import FixedPhrases, IntentRules, SentenceRules
from callcontrol.pipeline.sentences import split_sentences
from callcontrol.pipeline.stt import GateSettings, gate_text
from callcontrol.pipeline.tts import fixed_phrases

# A made-up second language: enough to show that each rule comes from the pack.
TOY = dataclasses.replace(
    ENGLISH,
    code="xx",
    name="Toy",
    intents=IntentRules(
        farewell=re.compile(r"\bciao\b", re.I),
        done=re.compile(r"^\W*basta\W*$", re.I),
        person=re.compile(r"\b(umano|persona)\b", re.I),
        max_goodbye_words=3,
    ),
    fact_guard=dataclasses.replace(
        ENGLISH.fact_guard,
        specific_words=ENGLISH.fact_guard.specific_words | {"lunedi"},
        negation=re.compile(r"\bnon\b", re.I),
    ),
    sentences=SentenceRules(
        titles=frozenset({"sig"}), maybe_end=frozenset(), phrase_starts=frozenset()
    ),
    hallucinations=frozenset({"grazie"}),
    phrases=FixedPhrases(
        greeting="Pronto, come posso aiutarla?",
        reprompt="È ancora lì?",
        goodbye="Arrivederci.",
        hold_phrase="Un momento, chiedo a un collega.",
        reassurance="Grazie dell'attesa.",
        follow_up="La richiameremo.",
        away="Al momento non c'è nessuno: la richiameremo.",
        voicemail_prompt="Lasci un messaggio dopo il segnale.",
        voicemail_thanks="Grazie, arrivederci.",
    ),
    rephrase_prompt="Riferisci la risposta del collega.",
)


@pytest.fixture
def toy_registered() -> Iterator[LanguagePack]:
    language.register(TOY)
    try:
        yield TOY
    finally:
        language._PACKS.pop(TOY.code, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Goodbye!", Input.GOODBYE),
        ("no thanks", Input.GOODBYE),
        ("Can I talk to a person please?", Input.WANTS_PERSON),
        ("When is the meeting?", Input.QUESTION),
        ("ciao", Input.QUESTION),
        ("  ...", Input.EMPTY_TURN),
    ],
)
def test_classify_with_the_english_pack_is_the_default(text: str, expected: Input) -> None:
    assert classify(text, []) == classify(text, [], ENGLISH)
    assert classify(text, [], ENGLISH)[0] is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ciao", Input.GOODBYE),
        ("basta", Input.GOODBYE),
        ("Goodbye!", Input.QUESTION),  # English farewells mean nothing in the toy language
        ("voglio una persona", Input.WANTS_PERSON),
        ("Can I talk to a person please?", Input.QUESTION),
        ("ciao ciao ciao ciao", Input.QUESTION),  # longer than its max_goodbye_words
    ],
)
def test_another_pack_changes_classification(text: str, expected: Input) -> None:
    assert classify(text, [], TOY)[0] is expected


def test_sensitive_topics_work_with_any_pack() -> None:
    assert classify("un rimborso refund", ["refund"], TOY) == (Input.WANTS_PERSON, "sensitive")


def test_the_fact_guard_takes_its_words_from_the_pack() -> None:
    fact = "The market is open on lunedi."
    english = FactGuard([fact], "When is the market open?")
    toy = FactGuard([fact], "When is the market open?", language=TOY)
    # "lunedi" is a specific only in the toy pack: there it must stand next to the same word.
    assert english.supported("Come on lunedi.")
    assert not toy.supported("Come on lunedi.")
    # Negation words are the pack's too.
    assert not toy.supported("The market is non open.")
    assert english.supported("The market is non open.")


def test_sentence_rules_come_from_the_pack() -> None:
    text = "Ask Sig. Rossi. He knows."
    assert split_sentences(text) == ["Ask Sig.", "Rossi.", "He knows."]
    assert split_sentences(text, TOY.sentences) == ["Ask Sig. Rossi.", "He knows."]
    assert split_sentences("Ask Dr. Smith. He knows.") == ["Ask Dr. Smith.", "He knows."]


def test_stt_hallucinations_come_from_the_pack() -> None:
    english = GateSettings.from_settings(PipelineSettings())
    toy = GateSettings.from_settings(PipelineSettings(), TOY)
    weak = {"no_speech_prob": 0.1, "avg_logprob": -0.3, "speech_ms": 300.0}
    assert gate_text("Thank you.", gate=english, **weak) == "hallucination"
    assert gate_text("Thank you.", gate=toy, **weak) is None
    assert gate_text("Grazie.", gate=toy, **weak) == "hallucination"


def test_settings_defaults_are_the_english_phrases_and_prompt() -> None:
    settings = PipelineSettings()
    assert settings.system_prompt == ENGLISH.system_prompt
    every = list(dataclasses.astuple(ENGLISH.phrases))
    voicemail = [ENGLISH.phrases.voicemail_prompt, ENGLISH.phrases.voicemail_thanks]
    # The voicemail's phrases are made ready only where voicemail is on.
    assert fixed_phrases(settings) == [p for p in every if p not in voicemail]
    assert fixed_phrases(PipelineSettings(voicemail=True)) == every
    assert "colleague's answer" in ENGLISH.rephrase_prompt


@pytest.mark.parametrize("code", ["en", "EN", "en-US", "en_GB", "auto", "", None])
def test_english_and_auto_resolve_to_english(code: str | None) -> None:
    assert language_pack(code) is ENGLISH


def test_an_unknown_language_falls_back_to_english_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    language._warned.discard("zz")
    assert language_pack("zz") is ENGLISH
    assert language_pack("zz-ZZ") is ENGLISH
    out = capsys.readouterr()
    logged = out.out + out.err
    assert logged.count("no language pack") == 1 and "zz" in logged


def test_a_registered_pack_is_found_by_its_code(toy_registered: LanguagePack) -> None:
    assert language_pack("xx") is toy_registered
    assert language_pack("XX-yy") is toy_registered
    assert "xx" in language.packs()

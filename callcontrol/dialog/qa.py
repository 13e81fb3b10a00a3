"""Question answering from the owner's knowledge, with hand-over: the default policy.

An utterance is classified by the language pack's rules (a question, goodbye, a person
wanted, a sensitive topic); a question is answered from retrieved facts — the fact
itself, cleaned for speech (``answer_style=extractive``), or rephrased by the LLM with
every phrase checked against the facts (``rephrase``). Nothing good enough retrieved:
``low_confidence``, and the session hands the question to a person.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog

from callcontrol.dialog.grounding import FactGuard
from callcontrol.dialog.machine import Input, classify
from callcontrol.dialog.policy import Directive, TurnContext
from callcontrol.dialog.voice import TimedLLM, VoicePipeline
from callcontrol.pipeline.answer import AnswerRule, decide, search_query
from callcontrol.pipeline.base import Transcript
from callcontrol.pipeline.prompt import build_messages, select_passages
from callcontrol.pipeline.reply import FixedText, speak

if TYPE_CHECKING:
    from callcontrol.dialog.attempt import TurnAttempt

log = structlog.get_logger(__name__)


def _answered_question(context: TurnContext, now: str) -> str | None:
    """The caller's previous question, if the bot answered it (None otherwise)."""
    history = list(context.history)
    if history and history[-1].role == "user" and history[-1].content == now:
        history.pop()  # the session may already have added this turn
    for i in range(len(history) - 1, 0, -1):
        if history[i].role == "assistant" and history[i - 1].role == "user":
            return history[i - 1].content
    return None


class QaPolicy:
    """A :class:`~callcontrol.dialog.policy.DialogPolicy`."""

    def __init__(self, voice: VoicePipeline) -> None:
        self.voice = voice

    # Question answering follows the caller: it leads nothing.
    def opening(self) -> str | None:
        return None

    def commit(self, attempt: TurnAttempt) -> Directive | None:
        return None

    def silence(self) -> Directive | None:
        return None

    def dtmf(self, digit: str) -> Directive | None:
        return None

    def transfer_failed(self) -> Directive | None:
        return None

    async def hearing_prompt(self, owner: str | None) -> str | None:
        if not self.voice.pipeline_for(owner).stt_glossary:
            return None
        try:
            return await self.voice.kb.glossary(owner or "default") or None
        except Exception as exc:  # noqa: BLE001 - recognition works without it
            log.warning("no glossary for speech recognition", error=str(exc))
            return None

    async def respond(
        self, attempt: TurnAttempt, transcript: Transcript, context: TurnContext
    ) -> None:
        voice = self.voice
        settings = voice.pipeline_for(context.owner)
        topics = [*settings.sensitive_topics, *settings.owner_topics.get(context.owner or "", [])]
        answered = _answered_question(context, transcript.text)
        kind, reason = classify(transcript.text, topics, voice.language, answered_question=answered)
        question = None
        if reason == "not_helpful" and answered:  # the person needs the question it follows
            question = f"{answered} (the caller: {transcript.text})"
        attempt.classify(kind, reason, question=question)
        if kind in (Input.GOODBYE, Input.EMPTY_TURN):
            attempt.decide("not_a_question")
            return
        earlier = [m.content for m in context.history if m.role == "user"]
        if earlier and earlier[-1] == transcript.text:
            earlier.pop()  # the session may already have added this turn
        query = search_query(transcript.text, earlier)
        passages = await voice.kb.search(context.owner or "default", query, settings.top_k)
        attempt.passages = passages
        attempt.timings.retrieval_done = time.monotonic()
        if kind is not Input.QUESTION:
            attempt.decide("not_a_question")
            return
        rule = AnswerRule(settings.min_confidence, settings.pair_confidence, settings.pair_gap)
        answer = decide(transcript.text, passages, rule)
        if answer is None:
            attempt.decide("low_confidence")
            return
        if answer.pair:
            log.info(
                "two close facts, neither sure alone: saying both",
                scores=[p.score for p in answer.passages],
            )
        attempt.decide("answer")
        rules = voice.language.sentences
        language = transcript.language
        if settings.answer_style == "extractive":
            # Nothing generated, nothing invented: the fact itself, phrase by phrase.
            await attempt.say(
                speak(
                    FixedText(answer.text),
                    voice.tts,
                    [],
                    sample_rate=context.sample_rate,
                    language=language,
                    sentence_rules=rules,
                )
            )
            return
        chosen = (
            list(answer.passages)
            if answer.pair
            else select_passages(passages, min_score=settings.min_confidence)
        )
        messages = build_messages(
            settings.system_prompt,
            transcript.text,
            chosen,
            context.history,
            history_turns=settings.history_turns,
        )
        guard = FactGuard(
            [p.text for p in chosen],
            transcript.text,
            fallback=answer.text,
            system_prompt=settings.system_prompt,
            language=voice.language,
        )

        def first_token(at: float) -> None:
            if attempt.timings.llm_first_token is None:
                attempt.timings.llm_first_token = at

        def review(phrase: str) -> str | None:
            replacement = guard.review(phrase)
            if replacement is not None:
                log.info(
                    "reply phrase not supported by the facts; saying the fact instead",
                    phrase=phrase,
                    fact=replacement,
                )
            return replacement

        await attempt.say(
            speak(
                TimedLLM(voice.llm, first_token),
                voice.tts,
                messages,
                sample_rate=context.sample_rate,
                language=language,
                max_tokens=settings.llm_max_tokens,
                review=review,
                sentence_rules=rules,
            )
        )

"""Runs every (call × voice) through one real service, on the direct and/or fork path."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcontrol.app import Service
from tests.eval.dataset import Call, Dataset
from tests.eval.direct import direct_call
from tests.eval.facts import Knowledge
from tests.eval.fork import fork_call
from tests.eval.records import Observed, TurnRecord, apply, fixed_phrases
from tests.eval.scoring import passage_hits, score_record
from tests.eval.service import describe, eval_settings, load_knowledge
from tests.eval.speech import Clip, Voice, make_clip
from tests.fakes.freeswitch import FakeFreeSwitch


@dataclass
class RunOptions:
    paths: list[str]
    voices: list[Voice]
    clip_cache: Path
    model_cache: Path
    warmup: bool = True


@dataclass
class RunResult:
    settings: dict[str, Any]
    records: dict[str, list[TurnRecord]] = field(default_factory=dict)  # path → records


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_clips(
    dataset: Dataset, voices: Sequence[Voice], cache: Path
) -> dict[tuple[str, str], Clip]:
    """(voice label, text) → clip, made (or read from the cache) before the models start."""
    clips: dict[tuple[str, str], Clip] = {}
    for call in dataset.calls:
        for voice in voices:
            for turn in call.turns:
                key = (voice.label, turn.say)
                if key not in clips:
                    clips[key] = make_clip(voice, turn.say, cache)
    return clips


async def run(dataset: Dataset, options: RunOptions) -> RunResult:
    clips = make_clips(dataset, options.voices, options.clip_cache)
    log(f"eval: {len(dataset.calls)} calls × {len(options.voices)} voices, {len(clips)} clips")
    with tempfile.TemporaryDirectory(prefix="cc-eval-") as tmp:
        work = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            sw: FakeFreeSwitch | None = None
            if "fork" in options.paths or "stream" in options.paths:
                (work / "fs").mkdir()
                # jambonz's module when streaming is measured (it plays files too).
                module = "jambonz" if "stream" in options.paths else "drachtio"
                sw = await stack.enter_async_context(
                    FakeFreeSwitch(temp_dir=work / "fs", audio_fork=module)
                )
            settings = eval_settings(
                work, esl_port=sw.esl_port if sw else None, model_cache=options.model_cache
            )
            service = await stack.enter_async_context(Service(settings))
            if sw is not None and service.inbound is not None:
                await service.inbound.wait_connected(10)
            log("eval: loading the models…")
            await service.bot.wait_loaded(600)
            docs = await load_knowledge(service, dataset)
            log(f"eval: {docs} documents in {len(dataset.kbs)} knowledge bases")
            result = RunResult(describe(service.settings))
            runner = _Runner(service, sw, dataset, clips)
            for path in options.paths:
                # The same worker, its playback switched between the two fork paths.
                service.settings.fork.playback = "stream" if path == "stream" else "file"
                if options.warmup and dataset.calls:
                    await runner.warm_up(path, options.voices[0])
                records: list[TurnRecord] = []
                for call in dataset.calls:
                    for voice in options.voices:
                        records.extend(await runner.one(path, call, voice))
                result.records[path] = records
            return result


class _Runner:
    def __init__(
        self,
        service: Service,
        sw: FakeFreeSwitch | None,
        dataset: Dataset,
        clips: dict[tuple[str, str], Clip],
    ) -> None:
        self.service = service
        self.sw = sw
        self.dataset = dataset
        self.clips = clips
        self.knowledge = {name: Knowledge(dataset.kb_text(name)) for name in dataset.kbs}
        self.calls = 0
        self.url = f"ws://127.0.0.1:{service.fork_server.port}/direct"

    @property
    def phrases(self) -> list[str]:  # read each time: the console may change them live
        return fixed_phrases(self.service.settings.pipeline)

    async def _call(self, path: str, owner: str, clips: list[Clip]) -> tuple[str, list[Observed]]:
        hold = self.service.settings.pipeline.hold_phrase
        self.calls += 1
        if path == "direct":  # "fork" and "stream" are both calls through the emulator
            token = self.service.direct_auth.mint(owner)
            return await direct_call(self.url, owner, clips, hold_phrase=hold, token=token)
        assert self.sw is not None
        caller = f"+1555{self.calls:07d}"
        return await fork_call(self.sw, self.service, owner, clips, caller=caller, hold_phrase=hold)

    async def warm_up(self, path: str, voice: Voice) -> None:
        """One call that is not scored: first-use costs are not what callers see."""
        call = self.dataset.calls[0]
        await self._call(path, call.owner, [self.clips[(voice.label, call.turns[0].say)]])
        log(f"eval: [{path}] warm-up call done")

    async def one(self, path: str, call: Call, voice: Voice) -> list[TurnRecord]:
        clips = [self.clips[(voice.label, t.say)] for t in call.turns]
        call_id, observed = await self._call(path, call.owner, clips)
        kb = self.knowledge.get(call.owner, Knowledge(""))
        records = []
        for i, (turn, clip, seen) in enumerate(zip(call.turns, clips, observed, strict=True)):
            record = TurnRecord(
                kb=call.kb,
                owner=call.owner,
                call_id=call.id,
                turn=i + 1,
                voice=voice.label,
                path=path,
                question=turn.say,
                expect=list(turn.expect),
                yesno=turn.yesno,
                handoff_expected=turn.handoff,
                clip_s=round(clip.duration_s, 3),
                eos_s=round(clip.eos_s, 3),
            )
            apply(record, seen, self.phrases)
            if record.answerable and record.expect:
                record.retrieval = {
                    "transcript": await self._retrieval(call.owner, record.transcript, record),
                    "clean": await self._retrieval(call.owner, record.question, record),
                }
            records.append(score_record(record, kb))
        log(_progress(path, call, voice, call_id, records))
        return records

    async def _retrieval(self, owner: str, text: str, record: TurnRecord) -> dict[str, Any]:
        assert self.service.kb is not None
        passages = await self.service.kb.search(owner, text, 3) if text.strip() else []
        texts = [p.text for p in passages]
        hit1, hit3 = passage_hits(texts, record.expect)
        return {
            "hit@1": hit1,
            "hit@3": hit3,
            "top": [
                {"title": p.title, "score": round(p.score, 4), "text": p.text[:160]}
                for p in passages
            ],
        }


def _progress(path: str, call: Call, voice: Voice, call_id: str, records: list[TurnRecord]) -> str:
    parts = []
    for r in records:
        if r.answerable:
            verdict = "correct" if r.correct else "wrong"
        else:
            verdict = f"handoff {'ok' if r.handed_off else 'MISSED'}"
        if r.answerable and r.handed_off:
            verdict += f" (handed off: {r.handoff_reason})"
        v2v = f"{r.caller_v2v_ms / 1000:.2f}s" if r.caller_v2v_ms is not None else "-"
        extra = "" if r.outcome == "ok" else f" [{r.outcome}]"
        facts = f" unsupported={len(r.unsupported)}" if r.unsupported else ""
        parts.append(
            f"t{r.turn}: {verdict} v2v={v2v}{facts}{extra} heard={r.transcript!r} "
            f"said={r.answer[:80]!r}"
        )
    return f"eval: [{path}] {call.id} {voice.label} ({call_id[:16]}) " + " | ".join(parts)

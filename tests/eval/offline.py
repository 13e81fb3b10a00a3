"""Answer quality without the calls: ``python -m tests.eval.offline`` (development split).

``make eval`` is the measurement (one real call per question, ~40 minutes). Tuning
needs a faster loop: this runs the same pieces a call runs — Whisper with the owner's
glossary on ``make eval``'s 8 kHz clips, :func:`~callcontrol.pipeline.answer.search_query`,
the owner's :class:`~callcontrol.pipeline.retrieval.OwnerIndex`, the confidence
threshold and :func:`~callcontrol.pipeline.answer.compose` — in one process, and
scores the composed answer as ``make eval`` scores what the caller heard. What
Whisper hears is cached in ``var/`` (keyed by voice, text and settings), so a
change to retrieval or to the answer is judged in seconds.

Only for the ``dev`` split: tuning on the held-out questions would make the README's
figures meaningless.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np

from callcontrol.config import PipelineSettings
from callcontrol.pipeline.answer import AnswerRule, decide, search_query
from callcontrol.pipeline.background import BACKGROUND
from callcontrol.pipeline.base import Passage, StoredChunk
from callcontrol.pipeline.chunking import chunk_text
from callcontrol.pipeline.e5 import E5Embedder
from callcontrol.pipeline.lexical import glossary
from callcontrol.pipeline.retrieval import OwnerIndex
from tests.eval.dataset import Call, Dataset, load_dataset
from tests.eval.normalize import item_found, tokens
from tests.eval.scoring import answer_correct, wer
from tests.eval.speech import DEFAULT_VOICES, parse_voices

DATA = Path(__file__).parent / "data"
CACHE = Path("var")


def _key(voice: str, say: str, settings: PipelineSettings) -> str:
    from callcontrol.pipeline import whisper

    raw = f"{voice}|{say}|{settings.stt_english_model}|{settings.stt_beam_size}"
    if whisper._NO_REPEAT_NGRAM:  # decoding changed: what was heard before is stale
        raw += f"|norepeat{whisper._NO_REPEAT_NGRAM}"
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


async def hear(dataset: Dataset, voices: str, settings: PipelineSettings) -> dict[str, str]:
    """What the service's Whisper hears of every turn in every voice (cached)."""
    from callcontrol.config import ModelsSettings
    from callcontrol.media.resample import resample
    from callcontrol.pipeline.whisper import WhisperSTT
    from tests.eval.speech import make_clip

    path = CACHE / "eval-heard.json"
    cached: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    stt: WhisperSTT | None = None
    out: dict[str, str] = {}
    for call in dataset.calls:
        docs = dataset.kbs.get(call.owner, [])
        prompt = glossary("\n".join(c.text for d in docs for c in chunk_text(d.text, d.title)))
        for turn in call.turns:
            for voice in parse_voices(voices):
                key = _key(voice.label, turn.say, settings)
                if key not in cached:
                    if stt is None:
                        stt = WhisperSTT(ModelsSettings(), settings, CACHE / "eval-model-cache")
                    clip = make_clip(voice, turn.say, CACHE / "eval-clips")
                    audio = resample(clip.samples, 8000, 16000, quality="HQ").astype(np.float32)
                    result = await stt.transcribe(audio / 32768, "en", prompt=prompt)
                    cached[key] = result.text
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps(cached))
                out[f"{voice.label}|{turn.say}"] = cached[key]
    if stt is not None:
        stt.close()
    return out


async def build_indexes(dataset: Dataset, embedder: E5Embedder) -> dict[str, OwnerIndex]:
    background = np.asarray(await embedder.embed_passages(BACKGROUND), dtype=np.float32)
    indexes: dict[str, OwnerIndex] = {}
    for owner, docs in dataset.kbs.items():
        chunks = [c for d in docs for c in chunk_text(d.text, d.title)]
        vectors = await embedder.embed_passages([c.passage for c in chunks])
        indexes[owner] = OwnerIndex(
            [
                StoredChunk("doc", owner, i, c.text, c.context, np.asarray(v, np.float32))
                for i, (c, v) in enumerate(zip(chunks, vectors, strict=True))
            ],
            background=background,
        )
    return indexes


async def passages_for(
    index: OwnerIndex, embedder: E5Embedder, query: str, k: int
) -> list[Passage]:
    """What ``KnowledgeService.search`` returns for ``query`` (best first)."""
    vector = np.asarray(await embedder.embed_query(query), dtype=np.float32)
    hits = index.search(query, vector, k)
    return [
        Passage(
            h.chunk.text,
            h.confidence,
            h.chunk.doc_id,
            h.chunk.title,
            h.chunk.index,
            h.chunk.context,
            h.dense,
            h.coverage,
            h.lexical,
        )
        for h in hits
    ]


async def run(args: argparse.Namespace) -> None:
    from callcontrol.pipeline import retrieval

    if args.weights:
        *weights, bias = (float(v) for v in args.weights.split(","))
        retrieval.WEIGHTS, retrieval.BIAS = tuple(weights), bias  # type: ignore[assignment]
    settings = PipelineSettings()
    dataset = load_dataset(args.data, split=args.split)
    heard = await hear(dataset, args.voices, settings) if args.voices else {}
    embedder = E5Embedder()
    indexes = await build_indexes(dataset, embedder)
    tally: Counter[str] = Counter()
    refs: list[str] = []
    hyps: list[str] = []
    rows: list[dict[str, object]] = []
    sources = ["text"] + [v.label for v in parse_voices(args.voices)] if args.voices else ["text"]
    for call in dataset.calls:
        for source in sources:
            await _call(call, source, heard, indexes[call.owner], embedder, args, tally, rows)
            if source != "text":
                refs += [t.say for t in call.turns]
                hyps += [heard[f"{source}|{t.say}"] for t in call.turns]
    embedder.close()
    for source in sources:
        sub = [r for r in rows if r["source"] == source]
        ans = [r for r in sub if r["answerable"]]
        un = [r for r in sub if not r["answerable"]]
        print(
            f"{source:>14}: correct {sum(bool(r['correct']) for r in ans):3}/{len(ans)}"
            f"  hit@1 {sum(bool(r['hit1']) for r in ans):3}"
            f"  handed {sum(bool(r['handed']) for r in ans):3}"
            f"  wrong {sum(not r['handed'] and not r['correct'] for r in ans):3}"
            f"  unanswerable answered {sum(not r['handed'] for r in un)}/{len(un)}"
        )
    if refs:
        print(f"WER {100 * (wer(refs, hyps) or 0):.1f} %")
    if args.dump:
        Path(args.dump).write_text(json.dumps(rows, indent=1))


async def _call(
    call: Call,
    source: str,
    heard: dict[str, str],
    index: OwnerIndex,
    embedder: E5Embedder,
    args: argparse.Namespace,
    tally: Counter[str],
    rows: list[dict[str, object]],
) -> None:
    earlier: list[str] = []
    for turn in call.turns:
        text = turn.say if source == "text" else heard[f"{source}|{turn.say}"]
        if turn.handoff in ("sensitive", "person"):
            earlier.append(text)
            continue
        query = search_query(text, earlier)
        earlier.append(text)
        passages = await passages_for(index, embedder, query, 3)
        answerable = bool(turn.expect)
        rule = AnswerRule(args.min_confidence, args.pair_confidence, args.pair_gap)
        answer = decide(text, passages, rule)
        handed = answer is None
        said = answer.text if answer else ""
        correct = False
        if answerable:
            correct, _ = answer_correct(said, turn.expect, turn.yesno, handed_off=handed)
        hit1 = (
            bool(passages)
            and answerable
            and all(
                item_found(tokens(f"{passages[0].text} {passages[0].context}"), i)
                for i in turn.expect
            )
        )
        rows.append(
            {
                "source": source,
                "say": turn.say,
                "heard": text,
                "answerable": answerable,
                "yesno": turn.yesno,
                "correct": correct,
                "handed": handed,
                "hit1": hit1,
                "said": said,
                "pair": bool(answer and answer.pair),
                "top": [(p.text, round(p.score, 3), round(p.coverage, 3)) for p in passages],
                "expect": turn.expect,
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", default="dev", choices=["dev"])
    parser.add_argument("--voices", default=DEFAULT_VOICES)
    parser.add_argument("--min-confidence", type=float, default=PipelineSettings().min_confidence)
    parser.add_argument("--pair-confidence", type=float, default=PipelineSettings().pair_confidence)
    parser.add_argument("--pair-gap", type=float, default=PipelineSettings().pair_gap)
    parser.add_argument("--weights", help="w1,…,w4,bias to try instead of retrieval's")
    parser.add_argument("--dump", help="write every row as JSON here")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

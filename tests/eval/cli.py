"""``python -m tests.eval``: answer quality and caller-side latency on spoken questions.

    python -m tests.eval                            # direct path, eval split, 3 voices
    python -m tests.eval --path fork --limit 2      # via the FreeSWITCH emulator, 2 calls/KB
    python -m tests.eval --path both --kb acme-store --voices en-us+m3:160
    python -m tests.eval --data /tmp/my-eval        # another kb/ + questions/ tree

Environment settings for models and pipeline apply (``CALLCONTROL_MODELS__LLM_GGUF``,
``CALLCONTROL_MODELS__LLM_SERVER_URL``, ``CALLCONTROL_PIPELINE__…``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.eval.dataset import load_dataset
from tests.eval.report import build, table, write
from tests.eval.runner import RunOptions, log, run
from tests.eval.service import MODEL_CACHE
from tests.eval.speech import DEFAULT_VOICES, check_voices, parse_voices

DATA = Path(__file__).parent / "data"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.eval", description=__doc__.split("\n")[0])
    p.add_argument(
        "--path",
        choices=("direct", "fork", "stream", "both", "all"),
        default="direct",
        help="fork: FreeSWITCH emulator, file playback; stream: its jambonz module, "
        "streamed playback; both: direct+fork; all: the three",
    )
    p.add_argument("--voices", default=DEFAULT_VOICES, help="voice:wpm,… (espeak-ng voices)")
    p.add_argument("--split", choices=("eval", "dev", "all"), default="eval")
    p.add_argument("--kb", default=None, help="only this knowledge base's calls")
    p.add_argument("--limit", type=int, default=None, help="first N calls of each KB")
    p.add_argument("--out", type=Path, default=Path("bench-results"))
    p.add_argument("--data", type=Path, default=DATA, help="holds kb/ and questions/")
    p.add_argument("--clips", type=Path, default=Path("var/eval-clips"), help="clip cache")
    p.add_argument("--model-cache", type=Path, default=MODEL_CACHE)
    p.add_argument("--no-warmup", action="store_true", help="score the first call too")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from callcontrol.logs import configure_logging

    configure_logging("WARNING")
    for name in ("bm25s",):  # libraries that set their own level
        logging.getLogger(name).setLevel(logging.WARNING)
    voices = parse_voices(args.voices)
    check_voices(voices)
    dataset = load_dataset(args.data, split=args.split, kb=args.kb, limit=args.limit)
    if not dataset.calls:
        log(f"eval: no {args.split} calls under {args.data / 'questions'}")
        return 2
    if not dataset.kbs:
        log(f"eval: no knowledge base under {args.data / 'kb'}")
        return 2
    paths = {"both": ["direct", "fork"], "all": ["direct", "fork", "stream"]}.get(
        args.path, [args.path]
    )
    started = datetime.now(UTC)
    options = RunOptions(
        paths=paths,
        voices=voices,
        clip_cache=args.clips,
        model_cache=args.model_cache,
        warmup=not args.no_warmup,
    )
    result = asyncio.run(run(dataset, options))
    described = {
        "data": str(args.data),
        "split": args.split,
        "kb": args.kb,
        "limit": args.limit,
        "voices": [v.label for v in voices],
        "warmup": options.warmup,
        "argv": sys.argv[1:] if argv is None else argv,
    }
    for path in paths:
        doc = build(
            path,
            result.records[path],
            settings=result.settings,
            options=described,
            started=started,
        )
        written, previous = write(args.out, doc, started)
        print(table(doc, previous))
        print(f"→ {written}\n")
    return 0

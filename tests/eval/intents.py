"""How well a flow reads spoken answers: espeak-ng voices at 8 kHz μ-law → the
service's Whisper (as a call hears them) → ``flows.intents.interpret``.

    python -m tests.eval.intents [--voices en-us+m3:160,...] [--out FILE]

The answers (``tests/data/intents/answers.yaml``) were written by a helper who saw
neither the rules nor the code: yes/no, numbers, dates and choices, each with what a
person means. Reported per kind: accuracy on the spoken answers, and on the written
text (the rules alone, without speech recognition's mistakes). ``make eval-intents``
writes bench-results/intents-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from callcontrol.flows.intents import hearing_words, interpret
from callcontrol.language import ENGLISH
from callcontrol.media.resample import resample
from tests.eval.speech import DEFAULT_VOICES, check_voices, make_clip, parse_voices

DATA = Path(__file__).resolve().parents[1] / "data" / "intents" / "answers.yaml"
CACHE = Path(__file__).resolve().parents[2] / "var" / "eval-clips"
EXAMPLES = Path(__file__).resolve().parents[2] / "callcontrol" / "flows" / "examples"


def _choices(example: str, node: str) -> dict[str, list[str]]:
    from callcontrol.flows.model import Ask, parse

    found = parse((EXAMPLES / example).read_text()).nodes[node]
    assert isinstance(found, Ask)
    return found.choices


# The choices a question offers, as the shipped flow words them.
CHOICES = {"appointment": _choices("appointment_reminder.yaml", "choose")}


def load(path: Path = DATA) -> tuple[date, list[dict[str, Any]]]:
    data = yaml.safe_load(path.read_text())
    return date.fromisoformat(str(data["call_date"])), list(data["answers"])


def right(answer: dict[str, Any], text: str, today: date) -> bool:
    choices = CHOICES.get(str(answer.get("choices", "")), {})
    got = interpret(text, answer["expect"], ENGLISH, today=today, choices=choices)
    if got is None:
        return False
    if "label" in answer:
        return got.label == str(answer["label"])
    return got.value == str(answer["value"])


async def measure(
    voices: str = DEFAULT_VOICES, path: Path = DATA, prompts: bool = True
) -> dict[str, Any]:
    from callcontrol.config import Settings
    from callcontrol.pipeline.factory import build_stt, open_stage
    from callcontrol.pipeline.models import cache_dir

    today, answers = load(path)
    chosen = parse_voices(voices)
    check_voices(chosen)
    settings = Settings(_env_file=None, pipeline={"language": "en"})
    counts: Counter[str] = Counter()
    misses: list[dict[str, Any]] = []
    stt_s: list[float] = []
    async with open_stage(lambda: build_stt(settings, cache_dir(settings))) as stt:
        for answer in answers:
            kind = str(answer["expect"])
            counts[f"{kind}_n_text"] += 1
            counts[f"{kind}_ok_text"] += right(answer, str(answer["say"]), today)
            for voice in chosen:
                clip = make_clip(voice, str(answer["say"]), CACHE)
                speech = (resample(clip.samples, 8000, 16000) / 32768).astype(np.float32)
                started = time.perf_counter()
                # The words the flow's policy gives speech recognition for this question.
                choices = CHOICES.get(str(answer.get("choices", "")), {})
                prompt = hearing_words(kind, ENGLISH, choices) if prompts else None
                heard = (await stt.transcribe(speech, "en", prompt=prompt)).text
                stt_s.append(time.perf_counter() - started)
                ok = right(answer, heard, today)
                counts[f"{kind}_n"] += 1
                counts[f"{kind}_ok"] += ok
                if not ok:
                    misses.append({"voice": voice.label, "said": answer["say"], "heard": heard})
    kinds = sorted({str(a["expect"]) for a in answers})
    result: dict[str, Any] = {
        "voices": [v.label for v in chosen],
        "data": path.name,
        "prompts": prompts,
        "kinds": {},
    }
    for kind in kinds:
        result["kinds"][kind] = {
            "spoken": round(counts[f"{kind}_ok"] / counts[f"{kind}_n"], 3),
            "spoken_n": counts[f"{kind}_n"],
            "written": round(counts[f"{kind}_ok_text"] / counts[f"{kind}_n_text"], 3),
        }
    n = sum(counts[f"{k}_n"] for k in kinds)
    right_n = sum(counts[f"{k}_ok"] for k in kinds)
    result["spoken"] = round(right_n / n, 3)
    result["spoken_n"] = n
    result["written"] = round(
        sum(counts[f"{k}_ok_text"] for k in kinds) / sum(counts[f"{k}_n_text"] for k in kinds), 3
    )
    result["stt_p50_s"] = round(float(np.median(stt_s)), 3) if stt_s else None
    result["misses"] = misses
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", default=DEFAULT_VOICES)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--show", action="store_true")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--no-prompts", action="store_true", help="without the expected words")
    args = ap.parse_args(argv)
    result = asyncio.run(measure(args.voices, args.data, prompts=not args.no_prompts))
    for kind, r in result["kinds"].items():
        print(f"{kind:8} spoken {r['spoken']:.3f} (n={r['spoken_n']})   written {r['written']:.3f}")
    print(
        f"all      spoken {result['spoken']:.3f} (n={result['spoken_n']})"
        f"   written {result['written']:.3f}"
    )
    if args.show:
        for miss in result["misses"]:
            print(json.dumps(miss))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), **result}
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

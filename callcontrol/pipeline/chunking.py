"""Cut a knowledge document into fact-sized chunks (pure: no I/O).

An FAQ answers a phone question with one fact, so a chunk is one fact: a sentence
(two when the first is short), one list item, or one table row. Whole sections
made every passage look alike to the embedder (all scored ~0.80 against any
question) and put whole paragraphs into the caller's ear.

Each chunk keeps two texts apart:

* ``text`` — the fact as it may be *spoken*: plain words, markdown removed
  (:func:`~callcontrol.pipeline.speech_text.plain_text`);
* ``context`` — where it stands: the document title, the heading path and, for a
  list item, the sentence that introduces the list ("We accept:"). Retrieval and
  the prompt see ``context`` + ``text`` (:attr:`Chunk.passage`) so "9 am to 6 pm"
  under "Opening hours > Saturday" is still found by "when do you open on
  Saturday"; the caller never hears the context.

Short list items ("Visa", "cash") say nothing alone: consecutive short items of
one list are joined into one chunk with their lead-in ("We accept: Visa,
Mastercard and cash."). A table row becomes "Header: value, header: value".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callcontrol.pipeline.sentences import split_sentences
from callcontrol.pipeline.speech_text import plain_text

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*+•]|\d{1,3}[.)])\s+(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_SHORT_ITEM_WORDS = 4  # items up to this long are joined with their neighbours
_MIN_SENTENCE_WORDS = 7  # a shorter sentence is joined with the next one
_MAX_CHUNK_WORDS = 60


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str  # the fact, plain, speakable
    context: str = ""  # "Title > Section > Subsection: lead-in", never spoken

    @property
    def passage(self) -> str:
        """What retrieval and the prompt see: context, then the fact."""
        return f"{self.context}\n{self.text}" if self.context else self.text

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(slots=True)
class _Block:
    kind: str  # "para" | "item" | "row"
    text: str
    path: str
    lead: str = ""  # a list's introducing sentence
    group: int = 0  # list / table id: items of one list share it


def _table_cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _row_text(header: list[str] | None, cells: list[str]) -> str:
    """ "Saturday: 8 am to 7 pm" for two columns; "Basic: speed 100 Mbps, price $40"."""
    cells = [plain_text(c) for c in cells]
    if not cells or not cells[0]:
        return ", ".join(c for c in cells if c)
    if len(cells) == 2 or header is None:
        return f"{cells[0]}: " + ", ".join(c for c in cells[1:] if c)
    names = [plain_text(h).lower() for h in header[1:]]
    rest = [f"{n} {c}" if n else c for n, c in zip(names, cells[1:], strict=False) if c]
    return f"{cells[0]}: " + ", ".join(rest)


def _blocks(text: str, title: str) -> list[_Block]:
    """Paragraphs, list items and table rows, each with its heading path."""
    stack: list[tuple[int, str]] = []
    blocks: list[_Block] = []
    para: list[str] = []
    header: list[str] | None = None
    group = 0
    last_para = ""
    in_fence = False

    def path() -> str:
        parts = [plain_text(t) for _, t in stack] or ([title] if title else [])
        return " > ".join(p for p in parts if p)

    def close_para() -> None:
        nonlocal last_para
        joined = " ".join(line.strip() for line in para).strip()
        para.clear()
        if joined:
            blocks.append(_Block("para", joined, path()))
            last_para = joined

    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        stripped = line.strip()
        heading = _HEADING.match(line)
        if heading:
            close_para()
            header, last_para = None, ""
            level = len(heading.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading.group(2).strip()))
            continue
        if not stripped:
            close_para()
            header = None
            continue
        if stripped.startswith("|") or (header is not None and "|" in stripped):
            close_para()
            if _TABLE_RULE.match(stripped):
                continue
            cells = _table_cells(stripped)
            following = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if header is None and _TABLE_RULE.match(following):
                header, group = cells, group + 1
                continue
            blocks.append(_Block("row", _row_text(header, cells), path(), last_para, group))
            continue
        item = _ITEM.match(line)
        if item:
            if para:
                close_para()
            if not blocks or blocks[-1].kind != "item" or blocks[-1].group != group:
                group += 1
            lead = last_para if last_para.rstrip().endswith(":") else ""
            blocks.append(_Block("item", item.group(2).strip(), path(), lead, group))
            continue
        if blocks and blocks[-1].kind == "item" and not para and line[:1].isspace():
            blocks[-1].text += " " + stripped  # an item's continuation line
            continue
        para.append(stripped)
    close_para()
    return blocks


def _context(block: _Block) -> str:
    lead = plain_text(block.lead)
    return f"{block.path}: {lead}" if lead and block.path else lead or block.path


def _sentence_chunks(text: str) -> list[str]:
    """A paragraph's sentences, short ones joined with the next, as plain text."""
    out: list[str] = []
    pending = ""
    for sentence in split_sentences(plain_text(text)):
        joined = f"{pending} {sentence}".strip()
        if len(joined.split()) < _MIN_SENTENCE_WORDS:
            pending = joined
            continue
        if pending and len(joined.split()) > _MAX_CHUNK_WORDS:
            out.append(pending)
            joined = sentence
        out.append(joined)
        pending = ""
    if pending:
        if out and len(out[-1].split()) + len(pending.split()) <= _MAX_CHUNK_WORDS:
            out[-1] = f"{out[-1]} {pending}"
        else:
            out.append(pending)
    return out


def _join_items(lead: str, items: list[str]) -> str:
    listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    lead = plain_text(lead).rstrip(":").strip()
    text = f"{lead}: {listed}" if lead else listed
    return text if text.endswith((".", "!", "?")) else text + "."


def chunk_text(text: str, title: str = "") -> list[Chunk]:
    """Split ``text`` (plain or markdown) into fact-sized chunks."""
    chunks: list[Chunk] = []

    def emit(fact: str, context: str) -> None:
        fact = fact.strip()
        if fact and any(ch.isalnum() for ch in fact):
            chunks.append(Chunk(len(chunks), fact, context))

    blocks = _blocks(text, title)
    i = 0
    while i < len(blocks):
        block = blocks[i]
        if block.kind == "para":
            text = block.text
            if text.rstrip().endswith(":") and i + 1 < len(blocks):
                nxt = blocks[i + 1]
                if nxt.kind in ("item", "row") and nxt.lead == text:
                    # A list's lead-in travels with its items; the sentences before it
                    # are facts of their own.
                    sentences = split_sentences(text)
                    lead = sentences[-1] if sentences else text
                    for later in blocks[i + 1 :]:
                        if later.lead != text:
                            break
                        later.lead = lead
                    text = text[: len(text) - len(lead)].strip() if sentences else ""
            for fact in _sentence_chunks(text):
                emit(fact, block.path)
            i += 1
            continue
        if block.kind == "item" and len(plain_text(block.text).split()) <= _SHORT_ITEM_WORDS:
            run = [block]
            while (
                i + len(run) < len(blocks)
                and blocks[i + len(run)].kind == "item"
                and blocks[i + len(run)].group == block.group
                and len(plain_text(blocks[i + len(run)].text).split()) <= _SHORT_ITEM_WORDS
            ):
                run.append(blocks[i + len(run)])
            items = [plain_text(b.text).rstrip(".;,") for b in run]
            emit(_join_items(block.lead, items), block.path)
            i += len(run)
            continue
        for fact in _sentence_chunks(block.text):
            emit(fact, _context(block))
        i += 1
    return chunks

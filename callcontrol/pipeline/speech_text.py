"""Text as a caller should hear it (pure): no markdown, no symbols read out literally.

Knowledge is written for eyes: ``**bold**``, ``[links](https://…)``, bullets, e-mail
addresses, ``https://www.acme.com/returns``. A speech synthesizer reads what it is
given, so before anything reaches it:

* :func:`plain_text` drops markdown markup and keeps the words;
* :func:`spoken_text` also turns addresses into words ("help at acme dot com",
  "acme dot com slash returns") and strips what cannot be said (stray symbols).
"""

from __future__ import annotations

import re

_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)")
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^>\s]+)>")
_EMPHASIS = re.compile(
    r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1|(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\3(?!\w)"
)
_CODE = re.compile(r"`+([^`]*)`+")
_HTML = re.compile(r"</?[a-zA-Z][^>]*>")
_LEADING = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+•]\s+|\d{1,3}[.)]\s+)+")
_SPACE = re.compile(r"\s+")

_URL = re.compile(
    r"(?:\b(https?://|www\.)|\b)(?:www\.)?((?:[a-z0-9-]+\.)+[a-z]{2,})(/[^\s,;)]*)?", re.I
)
_EMAIL = re.compile(r"\b([\w.+-]+)@((?:[\w-]+\.)+[a-z]{2,})\b", re.I)
_UNSAYABLE = re.compile(r"[*_#|<>{}\[\]\\^~`=]+")
_TLDS = frozenset("com org net io co uk us ca de fr info biz edu gov app dev health".split())


def plain_text(text: str) -> str:
    """Markdown → plain words (links keep their text, emphasis its words)."""
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    text = _HTML.sub(" ", text)
    for _ in range(2):  # nested emphasis: ***word***
        text = _EMPHASIS.sub(lambda m: m.group(2) or m.group(4) or "", text)
    lines = [_LEADING.sub("", line) for line in text.splitlines()]
    return _SPACE.sub(" ", " ".join(lines)).strip()


def _say_domain(domain: str) -> str:
    return " dot ".join(domain.split("."))


def _say_url(match: re.Match[str]) -> str:
    marked, domain, path = match.group(1), match.group(2), match.group(3) or ""
    if not marked and domain.rsplit(".", 1)[-1].lower() not in _TLDS:
        return match.group(0)  # "e.g.", "9.30", "file.txt": not an address
    spoken = _say_domain(domain.lower())
    parts = [p for p in path.strip("/").split("/") if p]
    if parts:
        spoken += " slash " + " slash ".join(p.replace("-", " ") for p in parts)
    return spoken + path[len(path.rstrip(".")) :]


def spoken_text(text: str) -> str:
    """Plain text a speech synthesizer can read as a person would say it."""
    text = plain_text(text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)} at {_say_domain(m.group(2).lower())}", text)
    text = _URL.sub(_say_url, text)
    text = _UNSAYABLE.sub(" ", text)
    return _SPACE.sub(" ", text).strip()

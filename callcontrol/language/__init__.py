"""Language packs: every language-specific rule and phrase, one pack per language.

:func:`language_pack` turns a configured code (``PipelineSettings.language``) into
the pack to use. Only English (:data:`~callcontrol.language.en.ENGLISH`) exists so
far; see ``docs/architecture.md`` ("Adding a language") for adding one.
"""

from __future__ import annotations

import structlog

from callcontrol.language.base import LanguagePack
from callcontrol.language.en import ENGLISH

__all__ = ["DEFAULT", "ENGLISH", "LanguagePack", "language_pack", "packs", "register"]

log = structlog.get_logger(__name__)

DEFAULT = ENGLISH
_PACKS: dict[str, LanguagePack] = {ENGLISH.code: ENGLISH}
_warned: set[str] = set()


def register(pack: LanguagePack) -> None:
    """Make ``pack`` what :func:`language_pack` returns for its code (replacing any)."""
    _PACKS[pack.code.lower()] = pack


def packs() -> dict[str, LanguagePack]:
    """The registered packs by code."""
    return dict(_PACKS)


def language_pack(code: str | None) -> LanguagePack:
    """The pack for a language code: ``"en"``, ``"en-US"`` (the region is ignored).

    ``None``, ``""`` and ``"auto"`` (detect per call) give the default pack, English.

    A code without a pack **falls back to English, with a warning** logged once per
    code, rather than raising ``ConfigError``: ``pipeline.language`` may name a
    language that speech recognition and synthesis handle (Whisper base, a Piper
    voice from ``models.piper_voices``) and deployments doing so work today with the
    English rules. Refusing to start them would turn a missing nicety (goodbye
    detection, the fact guard's word lists in that language) into an outage.
    """
    base = (code or "").strip().lower().split("-")[0].split("_")[0]
    if not base or base == "auto":
        return DEFAULT
    pack = _PACKS.get(base)
    if pack is not None:
        return pack
    if base not in _warned:
        _warned.add(base)
        log.warning(
            "no language pack for this language: using English rules and phrases",
            language=base,
            available=sorted(_PACKS),
        )
    return DEFAULT

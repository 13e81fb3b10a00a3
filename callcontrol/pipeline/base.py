"""The seams of the voice pipeline: small Protocols and the values that cross them.

The dialog layer depends on these names only. Each stage's Protocol holds exactly
what its users call (:class:`SpeechToText`, :class:`KnowledgeBase`,
:class:`LanguageModel`, :class:`TextToSpeech`; :class:`Embedder` and
:class:`VectorStore` for the knowledge service). The vendors implement them one
module each (``whisper.py``, ``llamacpp.py``, ``openai_compat.py``, ``piper.py``,
``e5.py``, ``qdrant.py``) with the :class:`Lifecycle` methods too, and
``factory.py`` builds them from settings; the knowledge service is ``rag.py``, the
fakes for unit tests are in ``tests/unit/pipeline/fakes.py``. Nothing here imports a
model runtime.

Audio conventions:

* into STT: mono float32 in [-1, 1] at 16 kHz (the media layer resamples);
* out of TTS: mono signed 16-bit little-endian PCM bytes at the call's rate.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from callcontrol.pipeline.chunking import Chunk

STT_SAMPLE_RATE = 16000

AudioF32 = NDArray[np.float32]
Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Transcript:
    """What STT heard. ``text`` is empty when the gate decided there was no speech."""

    text: str
    language: str
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    duration: float = 0.0  # seconds of audio given
    # Why the text was dropped ("silence", "no_speech", "hallucination"…), else None.
    dropped: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.text


Vector = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A fact-sized chunk as stored: the fact, its context and its embedding."""

    doc_id: str
    title: str
    index: int
    text: str  # the fact, plain and speakable
    context: str  # title > headings (> a list's lead-in): for retrieval, never spoken
    vector: Vector = field(repr=False)

    @property
    def passage(self) -> str:
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieved chunk, best first in a result.

    ``score`` is retrieval's confidence in [0, 1] that this chunk answers the question
    (see ``retrieval.py``); ``dense``, ``coverage`` and ``lexical`` are the signals it
    was computed from. ``text`` is the fact as it may be spoken, ``context`` where it
    stands in its document.
    """

    text: str
    score: float
    doc_id: str
    title: str
    chunk: int = 0
    context: str = ""
    dense: float = 0.0
    coverage: float = 0.0
    lexical: float = 0.0

    @property
    def passage(self) -> str:
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A knowledge document as listed (mirrors ``store.models.KnowledgeDocument``)."""

    id: str
    owner: str
    title: str
    source: str | None
    chunk_count: int
    created_at: datetime
    updated_at: datetime
    text: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@runtime_checkable
class Lifecycle(Protocol):
    """How ``factory.py`` runs a vendor's stage.

    Building the object loads its model (blocking: the factory does it on a worker
    thread); :meth:`start` makes it ready on the event loop before the first call
    (prime a prompt, render the fixed phrases, create a collection); :meth:`aclose`
    lets go of its threads, models and connections.
    """

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class SpeechToText(Protocol):
    async def transcribe(
        self,
        audio: AudioF32,
        language: str | None = None,
        *,
        speech_ms: float | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        """Transcribe one utterance (16 kHz float32).

        ``language``: ``"en"``, another code, or ``None``/``"auto"`` to detect (the
        caller keeps the detected ``Transcript.language`` for later turns).
        ``speech_ms``: how much speech the VAD saw in ``audio``, when known; used by
        the hallucination gate instead of the module's own estimate.
        ``prompt``: words to expect (the owner's glossary), as Whisper's previous text.
        """
        ...


@runtime_checkable
class Embedder(Protocol):
    @property
    def dim(self) -> int: ...

    async def embed_query(self, text: str) -> list[float]: ...

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...


@runtime_checkable
class VectorStore(Protocol):
    """The dense half of retrieval held outside the process (a Qdrant server).

    Every search is filtered on its owner: there is no owner-less search.
    """

    async def replace_document(
        self,
        owner: str,
        doc_id: str,
        title: str,
        chunks: Sequence[Chunk],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        """Write a document's chunks, dropping any left from an older version."""
        ...

    async def delete_document(self, doc_id: str) -> None: ...

    async def search(self, owner: str, vector: Sequence[float], k: int) -> list[Passage]:
        """The owner's ``k`` nearest chunks (``dense`` and ``score``: the cosine)."""
        ...


@runtime_checkable
class KnowledgeBase(Protocol):
    async def add(
        self, owner: str, title: str, text: str, source: str | None = None
    ) -> DocumentInfo:
        """Add a document, or replace the owner's document with the same title."""
        ...

    async def search(self, owner: str, query: str, k: int = 3) -> builtins.list[Passage]:
        """The owner's best passages for ``query``, best first; never another owner's."""
        ...

    async def delete(self, owner: str | None, doc_id: str) -> bool:
        """Delete a document (``owner`` None: whoever owns it). False if unknown."""
        ...

    async def update(
        self,
        doc_id: str,
        *,
        text: str | None = None,
        title: str | None = None,
        source: str | None = None,
    ) -> DocumentInfo:
        """Edit a document's text and/or title (``PipelineError`` when unknown or clashing)."""
        ...

    async def list(self, owner: str | None = None) -> builtins.list[DocumentInfo]: ...

    async def glossary(self, owner: str) -> str:
        """The owner's names and long words, to bias speech recognition ("" if none)."""
        ...


@runtime_checkable
class LanguageModel(Protocol):
    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 96,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[str, None]:
        """Stream the reply's text pieces as they are generated.

        Stopping the iteration (``aclose()``, or cancelling the task that iterates)
        stops generation promptly; use ``contextlib.aclosing`` around it.
        """
        ...


@runtime_checkable
class TextToSpeech(Protocol):
    async def synthesize(self, text: str, sample_rate: int, language: str = "en") -> bytes:
        """int16 mono PCM of ``text`` at ``sample_rate`` (8000 or 16000)."""
        ...

    async def phrase(self, text: str, sample_rate: int, language: str = "en") -> bytes:
        """Like :meth:`synthesize`, for fixed phrases: cached in memory and on disk."""
        ...


# What the factory hands out: a stage its users call, with the lifecycle it runs.
class SpeechToTextStage(SpeechToText, Lifecycle, Protocol): ...


class LanguageModelStage(LanguageModel, Lifecycle, Protocol): ...


class TextToSpeechStage(TextToSpeech, Lifecycle, Protocol): ...


class EmbedderStage(Embedder, Lifecycle, Protocol): ...


class VectorStoreStage(VectorStore, Lifecycle, Protocol): ...

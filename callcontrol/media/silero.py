"""Silero VAD (faster-whisper's bundled v6 ONNX model) through onnxruntime.

The model, as inspected with onnxruntime (and used by ``faster_whisper/vad.py``):

* ``input  [seq_len, 576]`` float32: 64 samples of context (the previous chunk's tail)
  followed by 512 new samples at 16 kHz (32 ms);
* ``h, c  [1, 1, 128]``: LSTM state, returned as ``hn, cn``;
* ``speech_probs [seq_len]``: one probability per row. Rows are consecutive time steps
  of one stream.

One :class:`SileroModel` (one ORT session, ``intra_op_num_threads=1``) serves every call.
It is loaded with the graph rewritten by :mod:`callcontrol.media.onnx_patch` so that rows
are *independent streams* (``h, c [1, batch, 128]``): the VAD worker (``vad.py``) advances
all calls by one chunk in a single ``run``. The rewrite is checked numerically against the
original model at load; if it ever fails, the model falls back to one run per stream.

:class:`VadStream` is the simple synchronous single-stream form (tests, offline files)."""

from __future__ import annotations

import collections
import importlib.util
from pathlib import Path
from typing import Any, Final

import numpy as np
import onnxruntime as ort
import structlog

from callcontrol.errors import MediaError, ModelNotInstalledError
from callcontrol.media.codecs import Float32Array, Int16Array
from callcontrol.media.onnx_patch import batch_over_streams

log = structlog.get_logger(__name__)

SAMPLE_RATE: Final = 16000
CHUNK_SAMPLES: Final = 512
CONTEXT_SAMPLES: Final = 64
ROW_SAMPLES: Final = CONTEXT_SAMPLES + CHUNK_SAMPLES
CHUNK_MS: Final = CHUNK_SAMPLES * 1000 / SAMPLE_RATE  # 32.0
STATE_SIZE: Final = 128


def silero_model_path() -> Path:
    """``faster_whisper/assets/silero_vad_v6.onnx`` of the installed faster-whisper."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or spec.origin is None:
        raise ModelNotInstalledError("the Silero VAD model", "faster-whisper")
    path = Path(spec.origin).parent / "assets" / "silero_vad_v6.onnx"
    if not path.is_file():
        raise ModelNotInstalledError(
            "the Silero VAD model", "faster-whisper", f"{path} is missing; need faster-whisper>=1.2"
        )
    return path


def _session(model: bytes, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def zeros_state(batch: int) -> Float32Array:
    return np.zeros((1, batch, STATE_SIZE), dtype=np.float32)


class SileroModel:
    """The shared ONNX session. :meth:`infer` is thread-safe (ORT ``run`` is)."""

    def __init__(self, path: Path | None = None, *, threads: int = 1, batched: bool = True):
        self.path = path or silero_model_path()
        raw = self.path.read_bytes()
        self._single = _session(raw, threads)
        self._batched: ort.InferenceSession | None = None
        if batched:
            try:
                session = _session(batch_over_streams(raw), threads)
                self._check_batched(session)
                self._batched = session
            except (ValueError, MediaError, ort.capi.onnxruntime_pybind11_state.Fail) as exc:
                log.warning("vad.batching_unavailable", error=str(exc), path=str(self.path))

    @property
    def batched(self) -> bool:
        return self._batched is not None

    def _check_batched(self, session: ort.InferenceSession) -> None:
        rng = np.random.default_rng(7)
        streams, steps = 3, 4
        audio = rng.standard_normal((streams, steps, ROW_SAMPLES)).astype(np.float32)
        audio *= np.array([0.01, 0.1, 0.5], dtype=np.float32)[:, None, None]
        want = np.zeros((streams, steps), dtype=np.float32)
        for s in range(streams):
            h, c = zeros_state(1), zeros_state(1)
            for t in range(steps):
                probs, h, c = self._run_single(audio[s, t : t + 1], h, c)
                want[s, t] = probs[0]
        h, c = zeros_state(streams), zeros_state(streams)
        got = np.zeros_like(want)
        for t in range(steps):
            out = session.run(None, {"input": audio[:, t], "h": h, "c": c})
            got[:, t], h, c = out[0].reshape(-1), out[1], out[2]
        if not np.allclose(got, want, atol=1e-4):
            raise MediaError(f"batched VAD differs from the model by {np.abs(got - want).max()}")

    def _run_single(
        self, rows: Float32Array, h: Float32Array, c: Float32Array
    ) -> tuple[Float32Array, Float32Array, Float32Array]:
        out: list[Any] = self._single.run(None, {"input": rows, "h": h, "c": c})
        return out[0].reshape(-1), out[1], out[2]

    def infer(
        self, rows: Float32Array, h: Float32Array, c: Float32Array
    ) -> tuple[Float32Array, Float32Array, Float32Array]:
        """One chunk for each of B independent streams: ``rows [B, 576]``, ``h, c [1, B, 128]``
        → ``(probs [B], hn, cn)``."""
        batch = rows.shape[0]
        if batch == 0:
            return np.zeros(0, dtype=np.float32), h, c
        if self._batched is not None:
            out: list[Any] = self._batched.run(None, {"input": rows, "h": h, "c": c})
            return out[0].reshape(-1), out[1], out[2]
        probs = np.zeros(batch, dtype=np.float32)
        hn, cn = np.empty_like(h), np.empty_like(c)
        for i in range(batch):
            p, hn[:, i : i + 1], cn[:, i : i + 1] = self._run_single(
                rows[i : i + 1], h[:, i : i + 1], c[:, i : i + 1]
            )
            probs[i] = p[0]
        return probs, hn, cn


SCALE: Final = np.float32(1 / 32768)


class Chunker:
    """Cuts 16 kHz audio into model rows (context + chunk). Used by one thread only.

    Samples are kept in int16 units (float32 input is scaled up once): rows are filled
    unscaled and the caller scales a whole batch with one multiply (:data:`SCALE`).
    Blocks queued with :meth:`add` are joined by :meth:`flush`, once per tick."""

    def __init__(self) -> None:
        self._buf = np.zeros(0, dtype=np.float32)
        self._pos = 0
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        self._blocks: list[Int16Array | Float32Array] = []
        self.chunks_done = 0
        self._fed = 0  # samples fed so far
        # (samples fed up to the end of a block, when that block arrived)
        self._arrivals: collections.deque[tuple[int, float]] = collections.deque()
        self.chunk_arrival = 0.0  # when the audio completing the last chunk taken arrived

    def add(self, samples: Int16Array | Float32Array, arrival: float = 0.0) -> None:
        if samples.dtype == np.float32:
            samples = samples * np.float32(32768)
        elif samples.dtype != np.int16:
            raise MediaError(f"VAD takes int16 or float32 samples, not {samples.dtype}")
        self._blocks.append(samples)
        self._fed += samples.size
        self._arrivals.append((self._fed, arrival))

    def flush(self) -> None:
        blocks = self._blocks
        if not blocks:
            return
        rest = self._buf[self._pos :]
        if rest.size:
            blocks.insert(0, rest)
        joined = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        self._buf = joined.astype(np.float32, copy=False)
        self._pos = 0
        blocks.clear()

    @property
    def ready(self) -> bool:
        return self._buf.size - self._pos >= CHUNK_SAMPLES

    def take(self, row: Float32Array) -> None:
        """Fill ``row`` (576 values, unscaled) with the next chunk; requires :attr:`ready`."""
        pos = self._pos
        chunk = self._buf[pos : pos + CHUNK_SAMPLES]
        row[:CONTEXT_SAMPLES] = self._context
        row[CONTEXT_SAMPLES:] = chunk
        self._context = chunk[-CONTEXT_SAMPLES:]  # a view: buffers are never written to
        self._pos = pos + CHUNK_SAMPLES
        self.chunks_done += 1
        end = self.chunks_done * CHUNK_SAMPLES
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] < end:
            arrivals.popleft()
        if arrivals:
            self.chunk_arrival = arrivals[0][1]

    @property
    def end_ms(self) -> float:
        """Stream time at the end of the last chunk taken."""
        return self.chunks_done * CHUNK_MS


class VadStream:
    """Synchronous streaming VAD for one stream: push 16 kHz audio, get ``(prob, end_ms)``
    per 32 ms chunk. Runs the model in the calling thread."""

    def __init__(self, model: SileroModel) -> None:
        self._model = model
        self._chunker = Chunker()
        self._h = zeros_state(1)
        self._c = zeros_state(1)
        self._row = np.zeros((1, ROW_SAMPLES), dtype=np.float32)

    def push(self, samples: Int16Array | Float32Array) -> list[tuple[float, float]]:
        self._chunker.add(samples)
        self._chunker.flush()
        out: list[tuple[float, float]] = []
        while self._chunker.ready:
            self._chunker.take(self._row[0])
            self._row *= SCALE
            probs, self._h, self._c = self._model.infer(self._row, self._h, self._c)
            out.append((float(probs[0]), self._chunker.end_ms))
        return out

    def reset(self) -> None:
        self._chunker = Chunker()
        self._h = zeros_state(1)
        self._c = zeros_state(1)

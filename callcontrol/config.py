"""Settings, read from the environment (prefix ``CALLCONTROL_``, ``__`` between
nested sections) and an optional ``.env`` file. Nothing is created at import
time: call :func:`load_settings` in the composition root or the CLI.

Examples::

    CALLCONTROL_ESL__HOST=10.0.0.5
    CALLCONTROL_ESL__PASSWORD=s3cret
    CALLCONTROL_CALLS__NO_ANSWER_TIMEOUTS='{"1001": 15}'
    DATABASE_URL=postgresql+asyncpg://user@db/callcontrol   # or CALLCONTROL_DATABASE_URL
    REDIS_URL=redis://127.0.0.1:6379/0                        # or CALLCONTROL_REDIS_URL
    QDRANT_URL=http://127.0.0.1:6333                          # or CALLCONTROL_QDRANT_URL
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from callcontrol.errors import ConfigError
from callcontrol.language.en import ENGLISH

MAX_PHRASE_CHARS = 400
DEFAULT_ESL_PASSWORD = "ClueCon"  # FreeSWITCH's own default: a warning at start
MASK = "**********"  # what pydantic shows for a SecretStr
_SECRET_QUERY = re.compile(r"([?&](?:password|pass|token|secret|key|api_key)=)[^&#]*", re.I)


def mask_url(value: str) -> str:
    """``scheme://user:password@host`` → ``scheme://user:**********@host`` (and
    ``?password=…``/``token=…`` in a query); other text unchanged."""
    parts = urlsplit(value)
    if parts.scheme and parts.password:
        host = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:" if parts.username else ":"
        value = urlunsplit(parts._replace(netloc=f"{user}{MASK}@{host}"))
    return _SECRET_QUERY.sub(rf"\1{MASK}", value)


def mask_urls(data: Any) -> Any:
    """:func:`mask_url` applied to every string inside JSON-like ``data``."""
    if isinstance(data, str):
        return mask_url(data) if "://" in data or "=" in data else data
    if isinstance(data, dict):
        return {k: mask_urls(v) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_urls(v) for v in data]
    return data


def _check_phrase(value: str) -> str:
    """A phrase the bot says: one line of speakable text, not too long to wait through."""
    value = value.strip()
    if not value:
        raise ValueError("a phrase cannot be empty")
    if len(value) > MAX_PHRASE_CHARS:
        raise ValueError(f"a phrase is at most {MAX_PHRASE_CHARS} characters")
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn")), None)
    if bad is not None:
        raise ValueError(f"a phrase cannot contain the control character U+{ord(bad):04X}")
    if not any(c.isalpha() for c in value):
        raise ValueError("a phrase must contain words")
    return value


# What the bot says as is (greeting, hold phrase, …): validated where it is configured
# and where an admin edits it, so a bad one is refused instead of breaking every call.
Phrase = Annotated[str, AfterValidator(_check_phrase)]


class EslSettings(BaseModel):
    """The FreeSWITCH Event Socket."""

    host: str = "127.0.0.1"
    port: int = Field(8021, ge=1, le=65535)
    password: SecretStr = SecretStr(DEFAULT_ESL_PASSWORD)
    # inbound: the worker connects to FreeSWITCH and the dialplan parks calls for it.
    # outbound: the dialplan's `socket` app connects each call to a worker; the
    # inbound connection is still used for originate/bgapi when `inbound_enabled`.
    # The outbound listener runs in outbound mode only.
    mode: Literal["inbound", "outbound"] = "inbound"
    inbound_enabled: bool = True
    outbound_host: str = "127.0.0.1"
    outbound_port: int = Field(8084, ge=0, le=65535)
    # Who may connect to the outbound listener (addresses or CIDRs): FreeSWITCH's. Any
    # other peer could create calls in the worker and leave spoofed CDRs.
    outbound_allowed_peers: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    event_format: Literal["plain", "json"] = "plain"
    command_timeout: float = Field(5.0, gt=0)
    connect_timeout: float = Field(3.0, gt=0)
    reconnect_initial: float = Field(0.2, gt=0)
    reconnect_max: float = Field(10.0, gt=0)
    # FreeSWITCH sends HEARTBEAT every 20 s (event-heartbeat-interval): this long without a
    # single byte from it and the connection is treated as dead (reconnect, reconcile).
    heartbeat_timeout: float = Field(60.0, gt=0)


class CallsSettings(BaseModel):
    """Call handling: routing, no-answer takeover, CDRs."""

    no_answer_timeout: float = Field(10.0, gt=0, description="seconds an extension rings")
    no_answer_timeouts: dict[str, float] = Field(
        default_factory=dict, description="per-extension ring seconds, e.g. {'1001': 15}"
    )
    extension_dialstring: str = "user/{extension}"
    cdr_jsonl: bool = True
    recordings_dir: Path | None = None
    # A call for the bot when no bot can take it (the pipeline disabled, or its models
    # failed to load) is sent to this dialplan destination (in bot_fallback_context);
    # unset, it is refused with SIP 480 Temporarily Unavailable. Never answered into
    # silence.
    bot_fallback: str | None = Field(None, pattern=r"^[A-Za-z0-9+*#_.\-]{1,64}$")
    bot_fallback_context: str = Field("default", pattern=r"^[A-Za-z0-9_\-]{1,64}$")

    def ring_seconds(self, extension: str) -> float:
        return self.no_answer_timeouts.get(extension, self.no_answer_timeout)


def _check_key(value: SecretStr | None) -> SecretStr | None:
    """An AES-256 key: base64 of 32 bytes (``openssl rand -base64 32``)."""
    if value is None or not value.get_secret_value():
        return None
    try:
        raw = base64.b64decode(value.get_secret_value(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the encryption key must be base64 (openssl rand -base64 32)") from exc
    if len(raw) != 32:
        raise ValueError(f"the encryption key must be 32 bytes, not {len(raw)}")
    return value


class RecordingSettings(BaseModel):
    """Call recordings (callcontrol/recording/): FreeSWITCH writes each answered call
    callcontrol routes — bot or person — in stereo into ``calls.recordings_dir`` (caller
    left, the other side right); callcontrol adds a mixed mono file, ``metadata.json`` and
    links it to the call and its CDR. ``enabled`` and ``notice`` may differ per owner."""

    enabled: bool = True
    # Said to the caller when the call is answered, before anything else (bot calls; a
    # person's call hears it played before the bridge). None: no notice.
    notice: Phrase | None = None
    # base64 of 32 bytes: the finished files are encrypted at rest with AES-256-GCM
    # (``<name>.enc``); the console decrypts them to play. None: stored as WAV.
    encryption_key: Annotated[SecretStr | None, AfterValidator(_check_key)] = None
    # After each call, transcribe the recording per channel with the bundled Whisper
    # (a durable job queue; callcontrol/recording/jobs.py).
    transcribe: bool = True
    # Transcription workers per process; each yields while this worker has calls in
    # progress (at most ``busy_calls`` of them) so live calls keep the CPU.
    transcribe_workers: int = Field(1, ge=0, le=8)
    busy_calls: int = Field(0, ge=0)
    job_attempts: int = Field(3, ge=1, le=20)
    # After each call (its transcript, or its live turns when not recorded): a summary,
    # action items and knowledge proposals (callcontrol/postcall/).
    postcall: bool = True


class RetentionSettings(BaseModel):
    """How long each kind of data is kept, in days (callcontrol/retention.py); each may
    differ per owner (the console's settings). A call on hold (``keep``) is never purged."""

    recordings_days: int = Field(90, ge=1)
    transcripts_days: int = Field(365, ge=1)  # segments, summaries, action items
    turns_days: int = Field(365, ge=1)
    events_days: int = Field(90, ge=1)
    hitl_days: int = Field(365, ge=1)  # closed questions and follow-ups, their voicemail
    cdrs_days: int = Field(730, ge=1)  # CDRs, call and leg rows
    # How often a worker purges (one worker at a time does it); 0: only when asked.
    purge_interval_s: float = Field(3600.0, ge=0)


class CampaignSettings(BaseModel):
    """Outbound campaigns (callcontrol/campaigns/): the dialer runs on the worker holding
    the lease; it looks for due contacts every ``tick_s``."""

    enabled: bool = True
    tick_s: float = Field(0.2, gt=0)
    lease_ttl_s: float = Field(10.0, gt=0)


class WebhookSettings(BaseModel):
    """Delivering webhooks (callcontrol/webhooks.py); the webhooks themselves are set
    per owner in the console."""

    timeout_s: float = Field(10.0, gt=0, le=120)
    max_attempts: int = Field(8, ge=1, le=50)
    backoff_s: float = Field(5.0, gt=0)  # the first retry's delay; doubled each time
    max_backoff_s: float = Field(900.0, gt=0)
    poll_s: float = Field(2.0, gt=0)
    reload_s: float = Field(10.0, gt=0)  # how soon a worker sees the console's changes


class ForkSettings(BaseModel):
    """The mod_audio_fork websocket server (FreeSWITCH connects to it)."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    # The URL FreeSWITCH uses to reach this server (ws://<this host>:<port>).
    public_url: str | None = None
    sample_rate: Literal[8000, 16000] = 16000
    max_frame_bytes: int = Field(64 * 1024, gt=0)
    connect_retries: int = Field(2, ge=0)
    # FreeSWITCH's env MOD_AUDIO_FORK_SUBPROTOCOL_NAME renames it.
    subprotocol: str = "audio.drachtio.org"
    metadata_timeout: float = Field(5.0, gt=0, description="seconds to wait for the metadata")
    play_max_message_bytes: int = Field(600_000, ge=4096, description="module refuses ~650 KB")
    play_event_timeout: float = Field(3.0, gt=0, description="playAudio → play_audio event")
    # How the bot's speech reaches the caller: "file" (playAudio → temp file →
    # uuid_broadcast; any mod_audio_fork) or "stream" (binary frames on the fork's own
    # socket; jambonz's module). "stream" is checked against the loaded module at every
    # ESL connection and falls back to "file", with an error, if it cannot stream.
    playback: Literal["file", "stream"] = "file"
    # The rate streamed audio is sent at: the call's codec rate (8000 for G.711), so the
    # module does not resample (its marks misfire when it does).
    stream_rate: Literal[8000, 16000, 24000, 32000, 48000] = 8000
    stream_chunk_ms: int = Field(200, ge=80, description="binary frame size, faster than real time")
    stream_tail_ms: int = Field(120, ge=100, description="zeros after each utterance")
    # A mark after each utterance confirms its playout (jambonz freeswitch-modules >= 1.2.30;
    # older modules log "unsupported msg type mark": turn them off, playout is then timed).
    stream_marks: bool = True
    # The direct endpoint (/direct on the same port): `callcontrol call`, the browser page.
    direct_enabled: bool = True
    # Always required: this token, or a short-lived one minted with it (the console's
    # talk page). Unset: one is generated into data_dir/direct-token (media/direct_auth.py).
    direct_token: SecretStr | None = None
    direct_owners: list[str] = Field(
        default_factory=list, description="owners the shared token may use (empty: any)"
    )
    direct_max_sessions: int = Field(8, ge=0, description="concurrent /direct sessions a worker")
    direct_max_per_credential: int = Field(4, ge=1)
    direct_frame_ms: int = Field(20, ge=10, le=100)
    direct_lead_ms: int = Field(100, ge=0, description="audio sent ahead of real time")


class ModelsSettings(BaseModel):
    """Model locations. Empty means the bundled package (docs/models.md)."""

    whisper_en: Path | None = None
    whisper_multilingual: Path | None = None
    llm_gguf: Path | None = None
    piper_voices: dict[str, Path] = Field(default_factory=dict, description="language -> .onnx")
    stt_threads: int = Field(2, ge=1)
    # 1, not 2: llama.cpp's threads spin on barriers, and on a shared 2-core box a
    # second thread made first tokens 10x slower whenever anything else ran.
    llm_threads: int = Field(1, ge=1)
    llm_batch_threads: int = Field(2, ge=1, description="threads for prompt evaluation")
    llm_context: int = Field(2048, ge=256)
    embed_threads: int = Field(1, ge=1)
    tts_threads: int = Field(1, ge=1)
    # The bundled SmolLM2 is Q4_1; requantized once to Q8_0 its prompt eval is ~2x faster.
    llm_q8_bundled: bool = True
    # ggml's repacked/AMX weight buffers: they crash on VMs that report AMX without enabling it.
    llm_extra_buffers: bool = False
    llm_temperature: float = Field(0.0, ge=0)
    llm_repeat_penalty: float = Field(1.1, ge=1)
    # Keep each call's KV state in RAM (llama.cpp state cache), MB; 0 = prefix reuse only.
    llm_state_cache_mb: int = Field(0, ge=0)
    # Use an OpenAI-compatible server (llama.cpp server, vLLM) instead of in-process.
    llm_server_url: str | None = None
    llm_server_model: str = "default"


class PipelineSettings(BaseModel):
    """Voice pipeline behaviour."""

    enabled: bool = Field(True, description="load the models and let the bot take calls")
    language: str = Field("en", description="'en', a language code, or 'auto'")
    detect_languages: list[str] = Field(
        default_factory=list, description="with 'auto': the languages to pick from (empty: any)"
    )
    vad_threshold: float = Field(0.5, gt=0, lt=1)
    endpoint_silence_ms: int = Field(500, ge=100)
    # Speech shorter than this is not a turn (clicks, coughs).
    min_speech_ms: int = Field(150, ge=0)
    # While the bot talks, caller speech interrupts it once this much of it is voiced:
    # shorter backchannels ("mm") do not. Playback stops ~this + ~120 ms after the caller
    # starts (a soft onset is not yet voiced), so raising it tolerates longer "uh-huh"s at
    # the cost of a slower interruption; 100 keeps barge-in under 300 ms.
    backchannel_max_ms: int = Field(100, ge=0)
    vad_neg_threshold: float | None = Field(None, gt=0, lt=1, description="default: -0.15")
    pause_ms: int = Field(150, ge=32, description="silence that starts speculative STT")
    max_turn_ms: int = Field(30_000, ge=1000)
    no_speech_threshold: float = Field(0.6, ge=0, le=1)
    # Measured on `make eval`'s 8 kHz development speech (pipeline/whisper.py): base with
    # beam 4 and the owner's glossary heard 25.8 % WER where tiny.en greedy heard 36.7 %.
    stt_english_model: Literal["base", "tiny.en"] = "base"
    stt_beam_size: int = Field(4, ge=1, le=8)
    stt_glossary: bool = Field(True, description="bias recognition with the owner's terms")
    top_k: int = Field(3, ge=1)
    # Retrieval's calibrated confidence (0-1, see pipeline/retrieval.py) below which a
    # question goes to a person instead of being answered. Chosen on the development
    # questions of `make eval` (docs/answer-quality.md).
    min_confidence: float = Field(0.5, ge=0, le=1)
    # Below min_confidence, the two best facts are both spoken when each is at least
    # pair_confidence and they are within pair_gap of each other (not for yes/no
    # questions); pair_confidence 1 turns this off. See pipeline/answer.py.
    pair_confidence: float = Field(0.35, ge=0, le=1)
    pair_gap: float = Field(0.2, ge=0, le=1)
    kb_collection: str = "knowledge"
    kb_refresh_s: float = Field(
        1.0, gt=0, description="how often other processes' KB edits are picked up"
    )
    # extractive: the answer is the retrieved fact itself, cleaned for speech (with "Yes."/
    # "No." for yes/no questions). rephrase: the LLM rephrases the facts; each phrase is
    # verified and an unsupported one is replaced by the extractive answer. The default is
    # what `make eval` measured best with the bundled model (docs/answer-quality.md).
    answer_style: Literal["extractive", "rephrase"] = "extractive"
    llm_max_tokens: int = Field(96, ge=8)
    # Exchanges of history in each prompt: every prompt token costs first-token latency
    # (~1-2 ms here), and the bundled 135M model uses little context well.
    history_turns: int = Field(2, ge=0)
    # The defaults are the English language pack's (callcontrol/language/en.py).
    system_prompt: str = ENGLISH.system_prompt
    greeting: Phrase = ENGLISH.phrases.greeting
    reprompt: Phrase = ENGLISH.phrases.reprompt
    goodbye: Phrase = ENGLISH.phrases.goodbye
    hold_phrase: Phrase = ENGLISH.phrases.hold_phrase
    reassurance: Phrase = ENGLISH.phrases.reassurance
    follow_up: Phrase = ENGLISH.phrases.follow_up
    # Said instead of follow_up when nobody is at the desk at all (every operator away
    # or offline, no console open): the question is noted for a call-back at once.
    away_message: Phrase = ENGLISH.phrases.away
    # Voicemail: when nobody answers the caller's question (nobody available, or the
    # wait timed out), take a message instead of only promising a call back — the
    # prompt, a tone, up to voicemail_max_s of the caller (ending after
    # voicemail_silence_s of silence once they spoke), transcribed and attached to the
    # follow-up with its audio.
    # A caller who asks for a person is put through to an available operator's phone
    # (their extension rings handoff_ring_s; they hear a spoken briefing first), before
    # the text desk is tried (callcontrol/handoff.py).
    handoff_by_phone: bool = False
    handoff_ring_s: float = Field(20.0, gt=0, le=120)
    voicemail: bool = False
    voicemail_prompt: Phrase = ENGLISH.phrases.voicemail_prompt
    voicemail_thanks: Phrase = ENGLISH.phrases.voicemail_thanks
    voicemail_max_s: float = Field(60.0, gt=0, le=600)
    voicemail_silence_s: float = Field(3.0, gt=0)
    # While a question waits for a person: music between the spoken updates ("builtin",
    # "off" or a WAV file's path; media/hold_music.py), and the reassurance phrase this
    # many seconds after the hand-over (then every console.reassurance_interval_s, when
    # that is set, until the HITL timeout brings the follow-up promise).
    hold_music: str = "builtin"
    hold_updates_s: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [15.0, 30.0]
    )
    silence_reprompt_s: float = Field(8.0, gt=0)
    max_reprompts: int = Field(1, ge=0)
    sensitive_topics: list[str] = Field(default_factory=lambda: ["refund", "lawyer", "complaint"])
    # Per owner (DID or tenant), more topics that always go to a person, on top of
    # sensitive_topics: {"acme": ["warranty claim", "invoice"]}.
    owner_topics: dict[str, list[str]] = Field(default_factory=dict)
    cache_dir: Path | None = None


class ConsoleSettings(BaseModel):
    """The operator console (HTTP + websockets)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    secret_key: SecretStr | None = None
    session_max_age_s: int = Field(12 * 3600, gt=0)
    secure_cookies: bool = False
    max_upload_bytes: int = Field(2 * 1024 * 1024, gt=0, le=255 * 1024 * 1024)
    hitl_timeout_s: float = Field(60.0, gt=0)
    # After the last of pipeline.hold_updates_s, one more update every this many seconds
    # (0: none).
    reassurance_interval_s: float = Field(0.0, ge=0)
    # An operator counts as available for HITL only while a console page of theirs is open
    # (its websocket refreshes their presence) and their status is "available".
    presence_timeout_s: float = Field(60.0, gt=0)
    # An operator whose console has been closed this long (signed out, browser closed,
    # network gone) is set offline.
    offline_after_s: float = Field(120.0, gt=0)
    # Prometheus scrapers do not sign in: /metrics is open unless this is false; then it
    # needs a console session or `Authorization: Bearer <metrics_token>`.
    metrics_public: bool = True
    metrics_token: SecretStr | None = None
    login_max_failures: int = Field(5, ge=1, description="per username+address in the window")
    login_window_s: float = Field(300.0, gt=0)
    # The media direct endpoint the "talk to the bot" page is proxied to
    # (default ws://<fork.host>:<fork.port>/direct).
    direct_url: str | None = None
    # Extra origins allowed to open console websockets (the console's own origin always is).
    allowed_origins: list[str] = Field(default_factory=list)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses
    # or CIDRs, e.g. ["127.0.0.1"] behind a local nginx). Empty: the peer's address is
    # the client's, whatever headers say.
    trusted_proxies: list[str] = Field(default_factory=list)
    # "Take over" rings the operator with this dial string ({extension} = their extension
    # or the number typed); default calls.extension_dialstring. For outside numbers use a
    # gateway, or e.g. "loopback/{number}/default" to route through the dialplan.
    takeover_dialstring: str | None = None
    # How a follow-up's number is dialled when an operator calls back ({number});
    # default: takeover_dialstring, then calls.extension_dialstring. For outside
    # numbers a gateway ("sofia/gateway/pstn/{number}") or "loopback/{number}/default".
    callback_dialstring: str | None = None
    transfer_context: str = "default"


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_logs: bool = Field(False, alias="json")


class Settings(BaseSettings):
    """Everything callcontrol can be told. See the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="CALLCONTROL_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Path("var")
    worker_id: str | None = None
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("CALLCONTROL_DATABASE_URL", "DATABASE_URL")
    )
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("CALLCONTROL_REDIS_URL", "REDIS_URL")
    )
    qdrant_url: str | None = Field(
        None, validation_alias=AliasChoices("CALLCONTROL_QDRANT_URL", "QDRANT_URL")
    )
    esl: EslSettings = Field(default_factory=EslSettings)
    calls: CallsSettings = Field(default_factory=CallsSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    fork: ForkSettings = Field(default_factory=ForkSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.startswith(("postgres://", "postgresql://")):
            # Plain libpq URLs are accepted and routed through asyncpg.
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError(
                "must be postgresql://…, postgresql+asyncpg://… or sqlite+aiosqlite:///path"
            )
        return value

    @field_validator("redis_url", "qdrant_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    def masked(self) -> dict[str, Any]:
        """Every setting as JSON data with nothing secret in it: ``SecretStr`` fields
        and the passwords inside URLs (``DATABASE_URL``, ``REDIS_URL``, …) masked.
        What ``callcontrol config`` prints and the admin settings page shows."""
        data: dict[str, Any] = json.loads(self.model_dump_json())
        data["effective_database_url"] = self.effective_database_url
        return cast(dict[str, Any], mask_urls(data))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'callcontrol.db'}"

    @property
    def fork_public_url(self) -> str:
        if self.fork.public_url:
            return self.fork.public_url.rstrip("/")
        return f"ws://{self.fork.host}:{self.fork.port}"


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one readable :class:`ConfigError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            env = "CALLCONTROL_" + "__".join(str(p).upper() for p in err["loc"])
            lines.append(f"  {where} ({env}): {err['msg']}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from exc

"""Composition root: builds every service from :class:`Settings` and owns their lifespan.

Nothing here runs at import time. ``Service`` is an async context manager::

    async with Service(settings) as service:
        ...  # calls are being controlled

``callcontrol serve`` wraps it with the HTTP server (console, /health, /metrics).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from callcontrol.aio import TaskOwner
from callcontrol.calls.base import BotHandover
from callcontrol.calls.controller import CallController
from callcontrol.campaigns.dialer import Dialer
from callcontrol.campaigns.store import CampaignStore
from callcontrol.config import DEFAULT_ESL_PASSWORD, Settings
from callcontrol.esl.bridge import GeventThread
from callcontrol.esl.inbound import InboundConnection
from callcontrol.esl.outbound import OutboundServer
from callcontrol.hitl.desk import Desk
from callcontrol.hitl.operators import Presence
from callcontrol.live.base import EventBus, LiveState
from callcontrol.live.memory import InMemoryLiveState, InProcessBus
from callcontrol.live.overrides import SettingOverrides
from callcontrol.metrics import Metrics
from callcontrol.pipeline.base import Embedder, SpeechToText, SpeechToTextStage, TextToSpeech
from callcontrol.postcall.gate import Gate
from callcontrol.postcall.worker import KIND as POSTCALL
from callcontrol.postcall.worker import PostCallWorker
from callcontrol.prompts import PromptFiles
from callcontrol.recording.jobs import JobQueue, JobRunner
from callcontrol.recording.manager import TRANSCRIBE, CallRecordings
from callcontrol.recording.transcribe import RecordingTranscriber
from callcontrol.retention import Retention
from callcontrol.store.cdr_log import CdrLog
from callcontrol.store.db import create_engine, migrate, private_dir, sessionmaker
from callcontrol.store.recorder import StoreRecorder
from callcontrol.store.recovery import close_orphan_calls, restore_cdr_rows
from callcontrol.store.repos import AppSettingsRepo, OperatorRepo, OwnerSettingsRepo
from callcontrol.store.writer_thread import ThreadedWriter
from callcontrol.webhooks import Webhooks

if TYPE_CHECKING:
    from callcontrol.console.kb import KnowledgeAdmin

log = structlog.get_logger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Service:
    """Every long-lived part of one callcontrol worker."""

    def __init__(
        self,
        settings: Settings,
        *,
        live: LiveState | None = None,
        bus: EventBus | None = None,
        handover: BotHandover | None = None,
        run_migrations: bool = True,
    ) -> None:
        self.settings = settings
        self.worker_id = settings.worker_id or default_worker_id()
        self.metrics = Metrics()
        self.engine = create_engine(settings.effective_database_url)
        self.sessions = sessionmaker(self.engine)
        url = settings.effective_database_url
        self.writer = ThreadedWriter(lambda: create_engine(url), settings.data_dir / "spool")
        self.cdr_log = (
            CdrLog(settings.data_dir / "cdr", on_written=lambda row: self.recorder.cdr_row(row))
            if settings.calls.cdr_jsonl
            else None
        )
        self.recorder = StoreRecorder(self.writer, self.cdr_log)
        self._live = live
        self._bus = bus
        self.live: LiveState = live or InMemoryLiveState()
        self.bus: EventBus = bus or InProcessBus()
        self.gevent = GeventThread()
        self.controller = CallController(
            settings,
            recorder=self.recorder,
            live=self.live,
            bus=self.bus,
            metrics=self.metrics,
            worker_id=self.worker_id,
            handover=handover,
        )
        self.inbound: InboundConnection | None = None
        self.outbound: OutboundServer | None = None
        # Human in the loop: the dialog calls ``desk.ask``; the console answers.
        self.desk = Desk(
            self.writer,
            metrics=self.metrics,
            worker_id=self.worker_id,
            timeout_s=settings.console.hitl_timeout_s,
            presence_timeout_s=settings.console.presence_timeout_s,
            overrides=AppSettingsRepo(self.sessions).all,
            voicemail_dir=settings.data_dir / "voicemail",
        )
        # Operators' status: the desk reads it, the console changes it, and it changes by
        # itself after a take-over ends or a console stays closed (hitl/operators.py).
        self.presence = Presence(
            OperatorRepo(self.sessions),
            lambda: self.live,
            lambda: self.bus,
            timeout_s=settings.console.presence_timeout_s,
            offline_after_s=settings.console.offline_after_s,
        )
        # Set by the pipeline wiring: the knowledge base the console manages
        # (pipeline.rag.KnowledgeService fits), and extra /ready checks such as
        # ``service.ready_checks["models"] = lambda: pipeline.loaded``.
        self.kb: KnowledgeAdmin | None = None
        # The console's setting overrides (global and per owner), once started.
        self.overrides: SettingOverrides | None = None
        # Recordings and their transcripts (callcontrol/recording/), once started.
        self.recordings: CallRecordings | None = None
        self.jobs = JobQueue(
            self.sessions, self.worker_id, max_attempts=settings.recording.job_attempts
        )
        self.transcriber: RecordingTranscriber | None = None
        self.webhooks = Webhooks(settings.webhooks, self.sessions, self.writer.submit)
        self.postcall: JobRunner | None = None
        self.postcall_worker: PostCallWorker | None = None
        self.retention: Retention | None = None
        self.dialer: Dialer | None = None
        self.campaigns = CampaignStore(self.sessions)
        self.flow_calls: Any = None  # flows/calls.py, once the bot is set up
        self._aux = TaskOwner("service")
        self._own_stt: SpeechToTextStage | None = None
        self.ready_checks: dict[str, Callable[[], bool]] = {}
        # The bot takes calls unless a handover was injected (tests) or it is disabled.
        self._bot_enabled = handover is None and settings.pipeline.enabled
        self.bot: Any = None
        self.fork_server: Any = None
        self._started_at = datetime.now(UTC)
        self._orphans_closed = False
        self.direct_auth: Any = None  # DirectAuth, with the bot
        self._voice_task: asyncio.Task[None] | None = None
        self._voice_stop = asyncio.Event()
        self._run_migrations = run_migrations
        self._stack = AsyncExitStack()
        self.started = asyncio.Event()

    async def _build_shared_state(self) -> None:
        """Redis-backed live state and bus when REDIS_URL is set (and none was injected)."""
        if self.settings.redis_url is None or (self._live and self._bus):
            return
        from callcontrol.live.redis import RedisBus, RedisLiveState

        if self._live is None:
            self.live = RedisLiveState(self.settings.redis_url)
            self.controller.live = self.live
        if self._bus is None:
            self.bus = RedisBus(self.settings.redis_url)
            self.controller.bus = self.bus

    async def start(self) -> None:
        settings = self.settings
        stack = self._stack
        private_dir(settings.data_dir)
        if settings.esl.password.get_secret_value() == DEFAULT_ESL_PASSWORD:
            log.warning(
                "the Event Socket password is FreeSWITCH's well-known default",
                hint="set CALLCONTROL_ESL__PASSWORD (FreeSWITCH reads the same variable)",
            )
        stack.push_async_callback(self.engine.dispose)
        if self._run_migrations:
            await migrate(self.engine)
        await self._build_shared_state()
        stack.push_async_callback(self.bus.close)
        stack.push_async_callback(self.live.close)
        await self.writer.start()
        stack.push_async_callback(self.writer.stop)
        # The owners' webhooks: events queued in the database, delivered in the background.
        await self.webhooks.start()
        stack.push_async_callback(self.webhooks.stop)
        self.controller.webhooks = self.webhooks
        self.desk.on_event = self._hitl_webhook
        await self.desk.start(self.bus, self.live)
        stack.push_async_callback(self.desk.stop)
        await self.presence.start()
        stack.push_async_callback(self.presence.stop)
        # What an admin changes in the console (phrases, threshold, recording…) applies
        # live, for every owner or one owner.
        self.overrides = SettingOverrides(
            settings,
            self.bus,
            AppSettingsRepo(self.sessions).all,
            OwnerSettingsRepo(self.sessions).all,
        )
        await self.overrides.start()
        stack.push_async_callback(self.overrides.stop)
        # Every answered call recorded, finished after it ends, then transcribed.
        self.recordings = CallRecordings(
            settings,
            self.writer.submit,
            self.sessions,
            per_owner=self.overrides.recording_for,
            on_ready=self._recording_ready,
        )
        self.controller.recordings = self.recordings
        # The recording notice on calls put through to a person, in the bot's voice.
        self.controller.prompts = PromptFiles(
            lambda: settings.calls.recordings_dir, self._loaded_tts
        )
        stack.push_async_callback(self.recordings.stop)
        # Data past its owner's retention goes (the worker holding the lease purges).
        interval = settings.retention.purge_interval_s
        self.retention = Retention(
            settings,
            self.sessions,
            per_owner=self.overrides.retention_for,
            voicemail_dir=settings.data_dir / "voicemail",
            lease=lambda: self.live.claim("retention-purge", self.worker_id, interval * 0.9),
        )
        self.retention.start()
        stack.push_async_callback(self.retention.stop)
        try:
            await self.recordings.recover()
        except Exception as exc:  # noqa: BLE001 - the database may be down: next start
            log.warning("cannot look for unfinished recordings", error=str(exc))
        if self.cdr_log is not None:
            await self.cdr_log.start()
            stack.push_async_callback(self.cdr_log.stop)
            try:
                await restore_cdr_rows(self.sessions, settings.data_dir / "cdr", self.writer)
            except Exception as exc:  # noqa: BLE001 - the database may be down: lines stay
                log.warning("cannot check CDR rows against the JSON lines", error=str(exc))
        self.controller.on_reconciled = self._close_orphans
        self.gevent.start()
        stack.callback(self.gevent.stop)
        stack.push_async_callback(self.controller.stop)
        if settings.esl.inbound_enabled:
            self.inbound = InboundConnection(
                settings.esl,
                self.gevent,
                on_event=self.controller.on_inbound_event,
                on_connected=self._on_connected,
            )
            self.controller.inbound = self.inbound
            await self.inbound.start()
            stack.push_async_callback(self.inbound.stop)
        if self._bot_enabled:
            await self._start_bot()
        if settings.recording.transcribe and settings.recording.transcribe_workers:
            self.transcriber = RecordingTranscriber(
                settings,
                self.sessions,
                self.jobs,
                self._transcription_stt,
                busy=self._calls_in_progress,
                on_done=self._queue_postcall,
            )
            self.transcriber.start()
            stack.push_async_callback(self.transcriber.stop)
        # After each call: summary, action items, knowledge proposals (callcontrol/postcall).
        stack.push_async_callback(self._aux.aclose)
        self.postcall_worker = PostCallWorker(
            self.sessions,
            announce=self._summary_ready,
            embedder=self._loaded_e5,
            gate=Gate.bundled(),
        )
        self.postcall = JobRunner(self.jobs, POSTCALL, self.postcall_worker.handle)
        self.controller.on_finished = self._call_finished
        if settings.recording.postcall:
            self.postcall.start()
            stack.push_async_callback(self.postcall.stop)
        # Outbound campaigns: dialled by the worker that holds the lease.
        if settings.campaigns.enabled and settings.esl.inbound_enabled:
            self.dialer = Dialer(
                self.sessions,
                self.controller,
                self.live,
                self.worker_id,
                tick_s=settings.campaigns.tick_s,
                lease_ttl_s=settings.campaigns.lease_ttl_s,
            )
            self.dialer.start()
            stack.push_async_callback(self.dialer.stop)
        if settings.esl.mode == "outbound":
            self.outbound = OutboundServer(
                settings.esl, self.gevent, self.controller.on_outbound_channel
            )
            await self.outbound.start()
            stack.push_async_callback(self.outbound.stop)
        log.info(
            "callcontrol worker started",
            worker=self.worker_id,
            mode=settings.esl.mode,
            database=self.engine.url.render_as_string(hide_password=True),
            redis=bool(settings.redis_url),
        )
        self.started.set()

    def _hitl_webhook(self, event: str, row: dict[str, Any]) -> None:
        data = {
            key: row.get(key)
            for key in (
                "id",
                "reason",
                "question",
                "caller_number",
                "status",
                "outcome",
                "operator",
                "answer",
                "created_at",
                "answered_at",
            )
        }
        self.webhooks.emit(event, owner=row.get("owner"), call_id=row.get("call_id"), data=data)

    def _calls_in_progress(self) -> int:
        direct = self.bot.direct_sessions if self.bot is not None else 0
        return len(self.controller.calls) + int(direct)

    def _call_finished(self, call: Any, record: Any, recorded: bool) -> None:
        """A call that was not recorded (or will not be transcribed) is analysed from its
        live turns; a recorded one after its transcript."""
        if recorded and self.settings.recording.transcribe:
            return
        if getattr(record, "answer_at", None) is None:
            return  # never answered: nothing was said to summarise
        if self.settings.recording.postcall:
            self._aux.spawn(self._queue_postcall(call.id, delay_s=2.0), f"postcall-{call.id}")

    async def _queue_postcall(self, call_id: str, *, delay_s: float = 0.0) -> None:
        if not self.settings.recording.postcall:
            return
        try:
            await self.jobs.enqueue(POSTCALL, call_id, delay_s=delay_s)
        except Exception as exc:  # noqa: BLE001 - the database may be away
            log.warning("cannot queue the post-call job", call=call_id, error=str(exc))
            return
        if self.postcall is not None:
            self.postcall.wake()

    def _summary_ready(self, call_id: str, owner: str | None, data: dict[str, Any]) -> None:
        self.webhooks.emit("call.summary_ready", owner=owner, call_id=call_id, data=data)

    async def _recording_ready(self, call_id: str) -> None:
        if self.settings.recording.transcribe:
            await self.jobs.enqueue(TRANSCRIBE, call_id)
            if self.transcriber is not None:
                self.transcriber.wake()

    async def _transcription_stt(self) -> SpeechToText:
        """The bot's loaded Whisper; without a bot, one loaded for transcripts alone."""
        if self.bot is not None:
            voice = await self.bot.wait_loaded(600)
            loaded: SpeechToText = voice.stt
            return loaded
        if self._own_stt is None:
            from callcontrol.pipeline.factory import build_stt
            from callcontrol.pipeline.models import cache_dir

            stt = await asyncio.to_thread(build_stt, self.settings, cache_dir(self.settings))
            await stt.start()
            self._own_stt = stt
            self._stack.push_async_callback(stt.aclose)
        return self._own_stt

    async def flush(self) -> None:
        """Everything recorded so far is in the database (or the spool): CDR lines first,
        since their rows are queued once the line is on disk."""
        if self.cdr_log is not None:
            await self.cdr_log.flush()
        await self.writer.flush()

    async def _close_orphans(self, live: frozenset[str]) -> None:
        """Once, after the first reconciliation: calls a crash left open get their CDR."""
        if self._orphans_closed:
            return
        self._orphans_closed = True
        try:
            await close_orphan_calls(
                self.sessions,
                live,
                self._started_at,
                self.recorder.cdr,
                self.writer,
                self.worker_id,
            )
        except Exception:
            self._orphans_closed = False
            log.exception("cannot close the calls a crash left open")

    async def _start_bot(self) -> None:
        """The voice bot: fork/direct websocket server now, models loading in the background."""
        from callcontrol.bot import BotManager
        from callcontrol.dialog.conversations import Conversations
        from callcontrol.live.turns import TurnPublisher
        from callcontrol.media.direct_auth import DirectAuth, direct_secret
        from callcontrol.media.fork_server import ForkServer
        from callcontrol.metrics import TurnMetrics
        from callcontrol.store.turns import TurnWriter

        settings, stack = self.settings, self._stack
        from callcontrol.media import hold_music

        # An unreadable hold-music file stops the start, not a caller's wait later.
        hold_music.load(settings.pipeline.hold_music, settings.fork.sample_rate)
        # Every turn: durably queued first, then the latency metrics, then the live view.
        sinks = (TurnWriter(self.writer.submit), TurnMetrics(self.metrics), TurnPublisher(self.bus))
        from callcontrol.flows.calls import FlowCalls
        from callcontrol.flows.store import FlowStore
        from callcontrol.handoff import PhoneHandover

        handover = PhoneHandover(self)
        conversations = Conversations(
            settings, sinks=sinks, desk=self.desk, phone=handover, transfer=handover
        )
        self.flow_calls = FlowCalls(self.sessions, FlowStore(self.sessions), self.campaigns)
        stack.push_async_callback(self.flow_calls.aclose)
        bot = BotManager(
            settings,
            conversations,
            metrics=self.metrics,
            submit=self.writer.submit,
            flows=self.flow_calls,
        )
        self.bot = bot
        self.controller.handover = bot
        stack.push_async_callback(self._stop_voice)
        stack.push_async_callback(bot.stop)
        self.direct_auth = DirectAuth(direct_secret(settings), settings.fork)
        self.fork_server = ForkServer(bot, settings.fork, direct=bot, direct_auth=self.direct_auth)
        await self.fork_server.start()
        stack.push_async_callback(self.fork_server.aclose)
        if not settings.fork.public_url:
            bot.fork_base = f"ws://{settings.fork.host}:{self.fork_server.port}"
        if not settings.console.direct_url and not settings.fork.port:
            # An ephemeral fork port: tell the console's talk page where it landed.
            settings.console.direct_url = f"ws://127.0.0.1:{self.fork_server.port}/direct"
        self.ready_checks["models"] = lambda: bot.loaded
        self._voice_task = asyncio.create_task(self._load_voice(bot), name="voice-models")

    async def _load_voice(self, bot: Any) -> None:
        from callcontrol.dialog.voice import open_voice_pipeline
        from callcontrol.store.knowledge_repo import KnowledgeDocumentRepo

        try:
            async with open_voice_pipeline(
                self.settings, KnowledgeDocumentRepo(self.sessions)
            ) as voice:
                if self.overrides is not None:
                    voice.owner_pipeline = self.overrides.for_owner
                bot.set_voice(voice)
                self.kb = voice.kb
                await self._voice_stop.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported on /ready and to waiting calls
            log.error(
                "the voice models could not be loaded; the bot cannot take calls", error=str(exc)
            )
            bot.voice_failed(exc)

    async def _on_connected(self) -> None:
        """After every (re)connection: reconcile the calls, then — streaming configured —
        ask the (possibly restarted) FreeSWITCH whether its mod_audio_fork can stream, so a
        module that cannot is reported now, not at the first call."""
        await self.controller.reconcile()
        bot, inbound = self.bot, self.inbound
        if bot is not None and inbound is not None and self.settings.fork.playback == "stream":
            await bot.check_streaming(inbound)

    def _loaded_e5(self) -> Embedder | None:
        """The knowledge base's embedder, when it is the e5 the post-call gate was
        trained on."""
        from callcontrol.pipeline.factory import Vendors
        from callcontrol.pipeline.rag import KnowledgeService

        if Vendors.from_settings(self.settings).embedder != "e5":
            return None
        kb = self.kb
        return kb.embedder if isinstance(kb, KnowledgeService) else None

    def _loaded_tts(self) -> TextToSpeech | None:
        voice = self.bot.voice if self.bot is not None else None
        return voice.tts if voice is not None else None

    async def _stop_voice(self) -> None:
        self._voice_stop.set()
        task = self._voice_task
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def stop(self) -> None:
        await self._stack.aclose()
        log.info("callcontrol worker stopped", worker=self.worker_id)

    async def __aenter__(self) -> Service:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def health(self) -> dict[str, Any]:
        """Liveness details: ESL connection, database writer, calls."""
        esl = self.inbound.status.as_dict() if self.inbound else {"state": "disabled"}
        self.metrics.esl_connected.set(1 if self.inbound and self.inbound.connected else 0)
        return {
            "status": "ok",
            "worker": self.worker_id,
            "mode": self.settings.esl.mode,
            "esl": esl,
            "outbound": {
                "port": self.outbound.port if self.outbound else None,
                "accepted": self.outbound.accepted if self.outbound else 0,
            },
            "database": self.writer.stats.as_dict(),
            "calls_active": len(self.controller.calls),
        }

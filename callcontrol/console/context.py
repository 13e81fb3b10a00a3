"""Everything the console's routes need, built once per app from the :class:`Service`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from fastapi.templating import Jinja2Templates

from callcontrol.config import Settings
from callcontrol.console.auth import LoginLimiter, SessionTokens, load_secret_key
from callcontrol.console.calls import CallActions
from callcontrol.hitl.operators import Presence
from callcontrol.live import topics
from callcontrol.store.history_repo import CallRepo, DashboardRepo
from callcontrol.store.repos import (
    AppSettingsRepo,
    HitlRepo,
    OperatorRepo,
    OwnerSettingsRepo,
    SessionRepo,
)

if TYPE_CHECKING:
    from callcontrol.app import Service
    from callcontrol.console.kb import KnowledgeAdmin

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
log = structlog.get_logger(__name__)

STATIC = HERE / "static"


@dataclass(slots=True)
class Console:
    service: Service
    settings: Settings
    templates: Jinja2Templates
    tokens: SessionTokens
    limiter: LoginLimiter
    address_limiter: LoginLimiter
    # Per username alone, whatever the address: guesses spread over many addresses.
    account_limiter: LoginLimiter
    operators: OperatorRepo
    sessions: SessionRepo
    hitl: HitlRepo
    calls: CallRepo
    dashboard: DashboardRepo
    app_settings: AppSettingsRepo
    owner_settings: OwnerSettingsRepo
    presence: Presence
    actions: CallActions
    secure_cookies: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    # session id → (monotonic time verified, Authed): believed during a database outage
    verified_sessions: dict[str, tuple[float, Any]] = field(default_factory=dict)

    @property
    def kb(self) -> KnowledgeAdmin | None:
        return self.service.kb

    async def end_sessions(
        self,
        *,
        session_id: str | None = None,
        operator_id: str | None = None,
        keep: str | None = None,
    ) -> int:
        """End one session, or all of an operator's but ``keep``; every worker's live
        websockets of the ended sessions are closed now (not at their next check)."""
        if session_id is not None:
            self.verified_sessions.pop(session_id, None)
            await self.sessions.delete(session_id)
            ended = 1
        elif operator_id is not None:
            for sid, (_at, authed) in list(self.verified_sessions.items()):
                if authed.operator.id == operator_id and sid != keep:
                    self.verified_sessions.pop(sid, None)
            ended = await self.sessions.delete_for(operator_id, keep=keep)
        else:
            raise ValueError("end_sessions needs a session_id or an operator_id")
        message = {"operator_id": operator_id, "session_id": session_id, "keep": keep}
        try:
            await self.service.bus.publish(topics.SESSIONS_ENDED, message)
        except Exception as exc:  # noqa: BLE001 - the sockets still stop at their next check
            log.warning("cannot announce ended sessions", error=str(exc))
        return ended

    @classmethod
    def build(cls, service: Service) -> Console:
        settings = service.settings
        cs = settings.console
        sessions = service.sessions
        operators = OperatorRepo(sessions)
        templates = Jinja2Templates(directory=str(TEMPLATES))
        return cls(
            service=service,
            settings=settings,
            templates=templates,
            tokens=SessionTokens(load_secret_key(settings), cs.session_max_age_s),
            limiter=LoginLimiter(cs.login_max_failures, cs.login_window_s),
            address_limiter=LoginLimiter(cs.login_max_failures * 4, cs.login_window_s),
            account_limiter=LoginLimiter(cs.login_max_failures * 4, cs.login_window_s),
            operators=operators,
            sessions=SessionRepo(sessions),
            hitl=HitlRepo(sessions),
            calls=CallRepo(sessions),
            dashboard=DashboardRepo(sessions),
            app_settings=AppSettingsRepo(sessions),
            owner_settings=OwnerSettingsRepo(sessions),
            presence=service.presence,
            actions=CallActions(service),
            secure_cookies=cs.secure_cookies,
        )

"""Console users from the command line (``callcontrol user …``): the first admin, resets."""

from __future__ import annotations

from callcontrol.config import Settings
from callcontrol.console.auth import hash_password_async
from callcontrol.errors import CallControlError, DuplicateError
from callcontrol.store.db import create_engine, migrate, sessionmaker
from callcontrol.store.models import Operator
from callcontrol.store.repos import ROLES, OperatorRepo, SessionRepo


class UserError(CallControlError):
    """A user command that cannot be done (duplicate name, unknown user, weak password)."""


async def add_user(
    settings: Settings, username: str, password: str, role: str, extension: str | None
) -> Operator:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    try:
        password_hash = await hash_password_async(password)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    engine = create_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        repo = OperatorRepo(sessionmaker(engine))
        return await repo.create(username, password_hash, role, extension=extension)
    except DuplicateError as exc:
        raise UserError(str(exc)) from exc
    finally:
        await engine.dispose()


async def list_users(settings: Settings) -> list[Operator]:
    engine = create_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        return await OperatorRepo(sessionmaker(engine)).list()
    finally:
        await engine.dispose()


async def set_password(settings: Settings, username: str, password: str) -> None:
    """New password; the user's console sessions end."""
    try:
        password_hash = await hash_password_async(password)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    engine = create_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        sessions = sessionmaker(engine)
        repo = OperatorRepo(sessions)
        op = await repo.by_username(username)
        if op is None:
            raise UserError(f"no user {username!r}")
        await repo.update(op.id, password_hash=password_hash)
        await SessionRepo(sessions).delete_for(op.id)
    finally:
        await engine.dispose()

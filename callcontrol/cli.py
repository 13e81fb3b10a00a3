"""``callcontrol`` command line: serve, migrate, call operations, and more.

Every command reads the same settings (environment, ``.env``) and reports a bad
setting as one clear message instead of a traceback.
"""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from callcontrol.calls.cli import calls_app
from callcontrol.config import Settings, load_settings
from callcontrol.errors import CallControlError, ConfigError, listen_error
from callcontrol.logs import configure_logging

app = typer.Typer(
    help="On-prem AI voice agent for FreeSWITCH: call control, voice pipeline, console.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(calls_app, name="calls")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red]: {exc}")
        raise typer.Exit(2) from exc
    configure_logging(settings.log.level, settings.log.json_logs)
    return settings


# sysexits.h EX_TEMPFAIL: the failure may pass (FreeSWITCH or the database unreachable,
# no reply in time) — a script may try again; any other error is final (1).
EXIT_TRY_AGAIN = 75


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except CallControlError as exc:
        err.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(EXIT_TRY_AGAIN if exc.retryable else 1) from exc


@app.command()
def serve() -> None:
    """Run a worker: ESL control, media, pipeline and the console (until Ctrl-C/SIGTERM)."""
    settings = _settings()
    _run(_serve(settings))


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sock = console_socket(settings.console.host, settings.console.port)  # fail fast
    with sock:
        await _serve_with(settings, sock, stop)


async def _serve_with(settings: Settings, sock: socket.socket, stop: asyncio.Event) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn without its own signal handling: the worker owns SIGINT/SIGTERM."""

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    from callcontrol.app import Service
    from callcontrol.console.app import create_app, http_config

    async with Service(settings) as service:
        settle_heap()
        config = http_config(create_app(service), settings.console)
        server = Server(config)
        web = asyncio.create_task(server.serve(sockets=[sock]), name="http")
        out.print(
            f"callcontrol serving: console http://{settings.console.host}:{settings.console.port}"
            f"  ESL {settings.esl.host}:{settings.esl.port} ({settings.esl.mode} mode)"
        )
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({web, waiter}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await asyncio.gather(web, return_exceptions=True)
        waiter.cancel()


def console_socket(host: str, port: int) -> socket.socket:
    """The console's listening socket, bound here so that a port in use is one clear
    line naming the setting (uvicorn would log the error and exit the process)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise listen_error(exc, "the console", host, port, "CALLCONTROL_CONSOLE__PORT") from exc
    sock.set_inheritable(True)
    return sock


# Young collections every 5000 allocations (default 700): fewer, still short pauses.
GC_THRESHOLD = (5000, 20, 10)


def settle_heap() -> None:
    """After start-up, move the ~100k import-time objects out of the collector's way.

    Full (gen2) collections otherwise rescan them every few seconds under load, pausing
    the event loop ~60 ms each time (measured at 100 call setups/s); frozen, ~18 ms.
    With both, ESL event handling p99 went from ~9 ms to ~4.4 ms in `make bench`.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (also done at every start)."""
    settings = _settings()
    from callcontrol.store.db import run_migrate

    try:
        run_migrate(settings.effective_database_url)
    except CallControlError as exc:
        err.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(1) from exc
    out.print("database schema is current")


@app.command("config")
def show_config() -> None:
    """Print the effective settings (secrets masked) as JSON."""
    out.print_json(json.dumps(_settings().masked()))


# -- console users ----------------------------------------------------------------------
user_app = typer.Typer(help="Console users: operators and admins.")
app.add_typer(user_app, name="user")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        err.print("[red]error[/red]: empty password")
        raise typer.Exit(2)
    return password


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
]


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="sign-in name")],
    role: Annotated[str, typer.Option(help="admin or operator")] = "operator",
    extension: Annotated[
        str | None, typer.Option(help="extension or number rung on take-over")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a console user (the first admin: `callcontrol user add admin --role admin`)."""
    from callcontrol.console.users import add_user

    settings = _settings()
    password = _read_password(password_stdin)
    op = _run(add_user(settings, username, password, role, extension))
    out.print(f"added {op.role} {op.username}")


@user_app.command("list")
def user_list() -> None:
    """List console users."""
    from callcontrol.console.users import list_users

    for op in _run(list_users(_settings())):
        out.print(f"{op.username:24} {op.role:9} {op.status:10} {op.extension or ''}")


@user_app.command("passwd")
def user_passwd(
    username: Annotated[str, typer.Argument(help="sign-in name")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a user's password (their console sessions end)."""
    from callcontrol.console.users import set_password

    settings = _settings()
    password = _read_password(password_stdin)
    _run(set_password(settings, username, password))
    out.print(f"password changed for {username}")


# -- knowledge base ---------------------------------------------------------------------
@asynccontextmanager
async def _knowledge() -> AsyncIterator[Any]:
    """The knowledge base the service uses: SQL rows and chunks (+ QDRANT_URL's vectors).

    Running workers pick the changes up from the database within
    ``pipeline.kb_refresh_s``: no need to stop them.
    """
    from callcontrol.pipeline.rag import open_knowledge_service
    from callcontrol.store.db import create_engine, migrate, sessionmaker
    from callcontrol.store.knowledge_repo import KnowledgeDocumentRepo

    settings = _settings()
    engine = create_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        repo = KnowledgeDocumentRepo(sessionmaker(engine))
        async with open_knowledge_service(settings, repo, watch=False) as kb:
            yield kb
    finally:
        await engine.dispose()


def _mount_kb() -> None:
    from callcontrol.pipeline.kb_cli import kb_app, set_kb_factory

    set_kb_factory(_knowledge)
    app.add_typer(kb_app, name="kb", help="Manage the knowledge base (add, search, list, delete).")


_mount_kb()


# -- talking to the bot without a phone -----------------------------------------------------
@app.command("call")
def call_bot(
    audio: Annotated[Path, typer.Argument(help="a WAV file (any rate; PCM or G.711)")],
    owner: Annotated[str, typer.Option(help="whose knowledge answers (DID or tenant)")] = "default",
    url: Annotated[
        str | None, typer.Option(help="the worker's direct endpoint, ws://host:port/direct")
    ] = None,
    save: Annotated[Path, typer.Option("--out", help="where to save the bot's reply audio")] = Path(
        "reply.wav"
    ),
    token: Annotated[str | None, typer.Option(help="the fork server's direct token")] = None,
    linger: Annotated[
        float, typer.Option(help="hang up once the bot has answered and been quiet this long (s)")
    ] = 3.0,
    timeout: Annotated[
        float, typer.Option(help="give up this many seconds after the file has been sent")
    ] = 120.0,
) -> None:
    """Talk to a running worker as a caller would: stream AUDIO in real time, wait for the
    bot's answer to your last words, print the transcript and the bot's replies, save the
    reply audio."""
    settings = _settings()
    from rich.markup import escape

    from callcontrol.media.codecs import read_wav, write_wav
    from callcontrol.media.direct_client import CallEnd, call_direct

    try:
        clip = read_wav(audio)
    except (OSError, ValueError) as exc:
        err.print(f"[red]cannot read {audio}[/red]: {exc}")
        raise typer.Exit(2) from exc
    target = url or f"{settings.fork_public_url}/direct"
    from callcontrol.media.direct_auth import direct_secret

    secret = token or direct_secret(settings)
    if clip.channels > 1:
        err.print("note: only the first channel of a multi-channel file is sent")

    handoff_reasons = {
        "caller_request": "you asked for one",
        "low_confidence": "the knowledge base has no confident answer",
        "sensitive": "a sensitive topic",
    }

    def show(event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "turn":
            speaker = str(event.get("speaker", "?"))
            colour = {"caller": "cyan", "bot": "green"}.get(speaker, "yellow")
            text = escape(" ".join(str(event.get("text") or "").split())) or "[dim]…[/dim]"
            note = " [dim](interrupted)[/dim]" if event.get("interrupted") else ""
            ms = event.get("voice_to_voice_ms")
            lag = f" [dim](voice-to-voice {ms:.0f} ms)[/dim]" if isinstance(ms, int | float) else ""
            line = f"[{colour}]{speaker:>8}[/{colour}]: {text}{note}{lag}"
            out.print(line, soft_wrap=True)
        elif kind == "handoff":
            reason = str(event.get("reason") or "")
            why = escape(handoff_reasons.get(reason, reason or "no reason given"))
            out.print(f"[yellow]{'hand-off':>8}[/yellow]: to a person ({why})", soft_wrap=True)

    result = _run(
        call_direct(
            target,
            clip.mono(),
            clip.sample_rate,
            owner=owner,
            token=secret,
            linger_s=linger,
            max_s=clip.duration_s + timeout,
            on_event=show,
        )
    )
    reply = result.bot_audio
    write_wav(save, reply, result.sample_rate)
    out.print(
        f"saved {len(reply) / result.sample_rate:.1f} s of bot audio to {save}", soft_wrap=True
    )
    waiting = f" waiting for {result.waiting_for}" if result.waiting_for else ""
    if result.ended is CallEnd.HUNG_UP:
        out.print("the bot ended the call")
    elif result.ended is CallEnd.NO_REPLY:
        err.print(
            f"note: the bot sent nothing for {result.reply_timeout_s:g} s while the call was"
            f"{waiting}: hung up (the bot drops sounds it takes for noise)"
        )
    elif result.ended is CallEnd.TIMEOUT:
        err.print(f"[red]gave up[/red] {timeout:g} s after the file{waiting}")
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()


# -- campaigns --------------------------------------------------------------------------
flow_app = typer.Typer(help="Scripted flows: validate, add, list, print the schema.")
app.add_typer(flow_app, name="flow")


def _flow_problems(exc: Exception) -> None:
    for problem in getattr(exc, "problems", [str(exc)]):
        err.print(f"  {problem}")


@flow_app.command("validate")
def flow_validate(
    path: Annotated[Path, typer.Argument(help="a flow, YAML or JSON", exists=True, dir_okay=False)],
    languages: Annotated[str, typer.Option(help="languages it will be played in")] = "",
    fields: Annotated[str, typer.Option(help="the contacts' fields, comma-separated")] = "",
) -> None:
    """Check a flow: every problem with where it is; what will fall back, as warnings."""
    from callcontrol.flows.model import FlowError, parse, warnings

    try:
        flow = parse(path.read_text(encoding="utf-8"))
    except (FlowError, UnicodeDecodeError) as exc:
        err.print(f"[red]{path.name} is not a valid flow[/red]:")
        _flow_problems(exc)
        raise typer.Exit(1) from exc

    def split(text: str) -> list[str]:
        return [x.strip() for x in text.split(",") if x.strip()]

    for warning in warnings(flow, split(languages), split(fields)):
        err.print(f"[yellow]warning[/yellow]: {warning}")
    out.print(f"{flow.name}: {len(flow.nodes)} nodes, languages {sorted(flow.languages())}")


@flow_app.command("add")
def flow_add(
    path: Annotated[Path, typer.Argument(help="a flow, YAML or JSON", exists=True, dir_okay=False)],
    owner: Annotated[str, typer.Option(help="whose it is (empty: every owner's)")] = "",
) -> None:
    """Validate and store a flow under its name (replacing one of that name)."""
    from callcontrol.flows.model import FlowError
    from callcontrol.flows.store import FlowStore

    settings = _settings()
    text = path.read_text(encoding="utf-8")

    async def save(store: Any) -> Any:
        return await FlowStore(store.sessions).save(text, owner=owner, created_by="cli")

    try:
        row = _run(_with_campaigns(settings, save))
    except FlowError as exc:
        err.print(f"[red]{path.name} is not a valid flow[/red]:")
        _flow_problems(exc)
        raise typer.Exit(1) from exc
    out.print(f"{row.name} {row.id}")


@flow_app.command("list")
def flow_list() -> None:
    """The stored flows."""
    from callcontrol.flows.store import FlowStore

    settings = _settings()

    async def rows(store: Any) -> Any:
        return await FlowStore(store.sessions).all()

    for row in _run(_with_campaigns(settings, rows)):
        out.print(f"{row.name}\t{row.owner or '(all owners)'}\t{row.id}")


@flow_app.command("schema")
def flow_schema() -> None:
    """The JSON Schema of a flow document (for editors)."""
    from callcontrol.flows.model import schema

    out.print_json(json.dumps(schema()))


campaign_app = typer.Typer(help="Outbound campaigns: create, upload contacts, start, watch.")
app.add_typer(campaign_app, name="campaign")


async def _with_campaigns(settings: Settings, work: Any) -> Any:
    from callcontrol.campaigns.store import CampaignStore
    from callcontrol.flows.model import FlowError
    from callcontrol.store.db import create_engine, migrate, sessionmaker

    engine = create_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        return await work(CampaignStore(sessionmaker(engine)))
    except FlowError:
        raise  # its problems are listed by the command
    except (ValueError, LookupError) as exc:  # CampaignError, no such campaign
        err.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(1) from exc
    finally:
        await engine.dispose()


@campaign_app.command("create")
def campaign_create(
    name: Annotated[str, typer.Argument(help="what to call it")],
    dialstring: Annotated[
        str, typer.Option(help="{number} (E.164) or {digits}")
    ] = "sofia/gateway/pstn/{number}",
    owner: Annotated[str | None, typer.Option(help="whose knowledge the bot uses")] = None,
    cps: Annotated[float, typer.Option(help="attempts per second")] = 1.0,
    max_concurrent: Annotated[int, typer.Option(help="calls at once")] = 5,
    region: Annotated[str, typer.Option(help="region of national numbers")] = "US",
    timezone: Annotated[str, typer.Option(help="when a contact's is unknown")] = "UTC",
    hours: Annotated[str, typer.Option(help="calling window, contact's time")] = "09:00-20:00",
    retries: Annotated[int, typer.Option(help="more tries when busy or unanswered")] = 2,
    flow: Annotated[
        str | None, typer.Option(help="the script its calls play (a name from `flow add`)")
    ] = None,
    language: Annotated[str | None, typer.Option(help="when a contact has none")] = None,
) -> None:
    """Create a campaign (draft); prints its id."""
    settings = _settings()
    start, _, end = hours.partition("-")
    flow_id = None
    if flow is not None:
        from callcontrol.flows.store import FlowStore

        async def find(store: Any) -> Any:
            return await FlowStore(store.sessions).find(flow, owner)

        found = _run(_with_campaigns(settings, find))
        if found is None:
            err.print(f"[red]error[/red]: no flow named {flow!r} (see `callcontrol flow list`)")
            raise typer.Exit(1)
        flow_id = found.id
    values = {
        "name": name,
        "dialstring": dialstring,
        "owner": owner,
        "cps": cps,
        "max_concurrent": max_concurrent,
        "region": region.upper(),
        "timezone": timezone,
        "windows": {"days": [0, 1, 2, 3, 4, 5], "start": start, "end": end or "20:00"},
        "retries": {
            "busy": {"count": retries, "after_s": 900},
            "no_answer": {"count": retries, "after_s": 3600},
        },
        "flow_id": flow_id,
        "language": language,
    }
    campaign = _run(_with_campaigns(settings, lambda store: store.create(**values)))
    out.print(campaign.id)


@campaign_app.command("upload")
def campaign_upload(
    campaign_id: Annotated[str, typer.Argument()],
    path: Annotated[Path, typer.Argument(help="a CSV or XLSX file", exists=True, dir_okay=False)],
) -> None:
    """Import contacts (every row or none: the errors say which row and why)."""
    settings = _settings()
    data = path.read_bytes()
    result = _run(
        _with_campaigns(settings, lambda store: store.upload(campaign_id, data, path.name))
    )
    if result.failed:
        for error in result.errors:
            err.print(f"row {error['row']} {error['column']}: {error['reason']}")
        err.print(f"[red]nothing imported[/red]: {result.failed} bad row(s)")
        raise typer.Exit(1)
    out.print(f"{result.added} added, {result.merged} merged")


@campaign_app.command("start")
def campaign_start(
    campaign_id: Annotated[str, typer.Argument()],
    action: Annotated[str, typer.Option(help="start, pause, resume or stop")] = "start",
) -> None:
    """Start (or pause, resume, stop) a campaign; a running worker dials it."""
    settings = _settings()
    campaign = _run(_with_campaigns(settings, lambda store: store.change(campaign_id, action)))
    out.print(f"{campaign.name}: {campaign.status}")


@campaign_app.command("status")
def campaign_status(campaign_id: Annotated[str, typer.Argument()]) -> None:
    """Contacts by status."""
    settings = _settings()

    async def work(store: Any) -> tuple[Any, dict[str, int]]:
        return await store.get(campaign_id), await store.counts(campaign_id)

    campaign, counts = _run(_with_campaigns(settings, work))
    out.print(f"{campaign.name}: {campaign.status}")
    for status, count in sorted(counts.items()):
        out.print(f"  {status:16} {count}")


@campaign_app.command("export")
def campaign_export(campaign_id: Annotated[str, typer.Argument()]) -> None:
    """Every contact with its status and outcome, as CSV on stdout."""
    settings = _settings()
    text = _run(_with_campaigns(settings, lambda store: store.export_csv(campaign_id)))
    sys.stdout.write(text)

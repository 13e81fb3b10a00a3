"""``callcontrol kb …``: manage the knowledge base from the command line.

Mount it in the main CLI and tell it how to build the service::

    from callcontrol.pipeline.kb_cli import kb_app, set_kb_factory
    set_kb_factory(lambda: open_knowledge_service(load_settings(), SqlDocumentRepo(...)))
    app.add_typer(kb_app, name="kb")

A factory is a zero-argument callable returning an async context manager that
yields a :class:`~callcontrol.pipeline.base.KnowledgeBase` (and closes it at exit);
:func:`~callcontrol.pipeline.rag.open_knowledge_service` is one. With the default
embedded Qdrant, the store is locked by one process: run these commands while the
service is stopped, or use a Qdrant server (``QDRANT_URL``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from callcontrol.config import PipelineSettings
from callcontrol.errors import CallControlError
from callcontrol.pipeline.base import KnowledgeBase

KbFactory = Callable[[], AbstractAsyncContextManager[KnowledgeBase]]

DEFAULT_OWNER = "default"
TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text", ".rst", ""}

_factory: KbFactory | None = None


def set_kb_factory(factory: KbFactory) -> None:
    """Register how :data:`kb_app` builds the knowledge base."""
    global _factory
    _factory = factory


def _registered() -> AbstractAsyncContextManager[KnowledgeBase]:
    if _factory is None:
        raise CallControlError(
            "the kb commands have no knowledge-base factory: call set_kb_factory() first"
        )
    return _factory()


def read_document(path: Path) -> str:
    """A text or markdown file's contents; refuses binaries and other formats."""
    if path.suffix.lower() not in TEXT_SUFFIXES:
        raise CallControlError(f"{path}: only text and markdown files can be added")
    data = path.read_bytes()
    if b"\0" in data:
        raise CallControlError(f"{path}: looks binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CallControlError(f"{path}: not UTF-8 text ({exc})") from exc


def _shorten(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def make_kb_app(factory: KbFactory | None = None) -> typer.Typer:
    """The ``kb`` commands on ``factory`` (default: the one given to :func:`set_kb_factory`)."""
    build: KbFactory = factory or _registered
    app = typer.Typer(help="Manage the knowledge the bot answers from.", no_args_is_help=True)
    console = Console()

    def run(coro_fn: Callable[[KnowledgeBase], Awaitable[None]]) -> None:
        async def main() -> None:
            async with build() as kb:
                await coro_fn(kb)

        try:
            asyncio.run(main())
        except CallControlError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc

    @app.command("add")
    def add(
        files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
        owner: Annotated[str, typer.Option("--owner", "-o", help="whose callers")] = DEFAULT_OWNER,
        title: Annotated[
            str | None, typer.Option(help="title (one file only; default: the file name)")
        ] = None,
    ) -> None:
        """Add text/markdown files (re-adding a title replaces that document)."""
        if title is not None and len(files) != 1:
            raise typer.BadParameter("--title needs exactly one file")
        try:
            texts = [(title or path.name, read_document(path), path) for path in files]
        except CallControlError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc

        async def go(kb: KnowledgeBase) -> None:
            table = Table("id", "title", "chunks")
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task("indexing", total=len(texts))
                for doc_title, text, path in texts:
                    progress.update(task, description=f"indexing {doc_title}")
                    doc = await kb.add(owner, doc_title, text, source=str(path.resolve()))
                    table.add_row(doc.id, doc.title, str(doc.chunk_count))
                    progress.advance(task)
            console.print(table)

        run(go)

    @app.command("search")
    def search(
        query: Annotated[str, typer.Argument(help="what a caller might ask")],
        owner: Annotated[str, typer.Option("--owner", "-o")] = DEFAULT_OWNER,
        k: Annotated[int, typer.Option("-k", min=1, help="passages to show")] = 3,
        min_score: Annotated[
            float, typer.Option(help="the bot's answer threshold, for the verdict column")
        ] = PipelineSettings().min_confidence,
    ) -> None:
        """Show the passages a caller's question would retrieve, with their scores."""

        async def go(kb: KnowledgeBase) -> None:
            passages = await kb.search(owner, query, k)
            if not passages:
                console.print(f"no knowledge for owner {owner!r}")
                return
            table = Table("confidence", "answers?", "cosine", "title", "fact")
            for p in passages:
                verdict = "[green]yes[/green]" if p.score >= min_score else "[yellow]no[/yellow]"
                table.add_row(
                    f"{p.score:.3f}", verdict, f"{p.dense:.3f}", p.title, _shorten(p.text)
                )
            console.print(table)

        run(go)

    @app.command("list")
    def list_(
        owner: Annotated[str | None, typer.Option("--owner", "-o", help="default: all")] = None,
    ) -> None:
        """List the documents (of one owner, or all)."""

        async def go(kb: KnowledgeBase) -> None:
            docs = await kb.list(owner)
            table = Table("id", "owner", "title", "chunks", "updated")
            for d in docs:
                table.add_row(
                    d.id, d.owner, d.title, str(d.chunk_count), f"{d.updated_at:%Y-%m-%d %H:%M}"
                )
            console.print(table if docs else "no documents")

        run(go)

    @app.command("delete")
    def delete(
        doc_id: Annotated[str, typer.Argument(metavar="ID")],
        owner: Annotated[str | None, typer.Option("--owner", "-o")] = None,
    ) -> None:
        """Delete a document and its passages."""
        found: list[bool] = []

        async def go(kb: KnowledgeBase) -> None:
            found.append(await kb.delete(owner, doc_id))

        run(go)
        if not found or not found[0]:
            console.print(f"[red]no document {doc_id}[/red]")
            raise typer.Exit(1)
        console.print(f"deleted {doc_id}")

    return app


kb_app = make_kb_app()

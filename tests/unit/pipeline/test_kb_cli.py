from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcontrol.pipeline import kb_cli
from callcontrol.pipeline.base import KnowledgeBase
from callcontrol.pipeline.documents import InMemoryDocumentRepo
from callcontrol.pipeline.kb_cli import make_kb_app
from callcontrol.pipeline.rag import KnowledgeService
from tests.fakes.pipeline import FakeEmbedder

runner = CliRunner()


@pytest.fixture
def service() -> Iterator[KnowledgeService]:
    service = KnowledgeService(InMemoryDocumentRepo(), FakeEmbedder(64))
    yield service
    service.close()


@pytest.fixture
def app(service: KnowledgeService):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def factory() -> AsyncIterator[KnowledgeBase]:
        yield service

    return make_kb_app(factory)


def test_add_search_list_delete(app, service: KnowledgeService, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "office.md"
    doc.write_text("# Meetings\nThe weekly meeting is on Monday at 10 am in room 3.\n")
    other = tmp_path / "parking.txt"
    other.write_text("Visitors park for free in the garage.")

    result = runner.invoke(app, ["add", str(doc), str(other), "--owner", "A"])
    assert result.exit_code == 0, result.output
    assert "office.md" in result.output and "parking.txt" in result.output

    result = runner.invoke(
        app, ["search", "When is the weekly meeting?", "--owner", "A", "-k", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "office.md" in result.output and "0." in result.output

    result = runner.invoke(app, ["search", "When is the weekly meeting?", "--owner", "B"])
    assert "no knowledge for owner 'B'" in result.output

    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "office.md" in result.output and "A" in result.output

    doc_id = next(iter(service._repo._docs))  # type: ignore[attr-defined]
    result = runner.invoke(app, ["delete", doc_id])
    assert result.exit_code == 0 and f"deleted {doc_id}" in result.output
    result = runner.invoke(app, ["delete", doc_id])
    assert result.exit_code == 1


def test_refuses_binary_and_other_formats(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    result = runner.invoke(app, ["add", str(pdf)])
    assert result.exit_code == 1 and "only text and markdown" in result.output
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"abc\0def")
    result = runner.invoke(app, ["add", str(binary)])
    assert result.exit_code == 1 and "binary" in result.output


def test_title_only_for_one_file(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("alpha")
    b.write_text("beta")
    result = runner.invoke(app, ["add", str(a), str(b), "--title", "x"])
    assert result.exit_code != 0


def test_the_module_app_needs_a_factory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kb_cli, "_factory", None)
    result = runner.invoke(kb_cli.kb_app, ["list"])
    assert result.exit_code == 1 and "set_kb_factory" in result.output

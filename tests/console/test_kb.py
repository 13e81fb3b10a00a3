"""Knowledge base pages and API: per-owner lists, scored search, edits, uploads and their
limits — with a fake knowledge base, and once with the real embedder and index."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.console.conftest import (
    Console,
    add_user,
    console_settings,
    running_service,
    serve,
    sign_in,
)
from tests.fakes.console import FakeKnowledge


def kb_of(console: Console) -> FakeKnowledge:
    kb = console.service.kb
    assert isinstance(kb, FakeKnowledge)
    return kb


async def test_add_search_edit_delete(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    added = await client.post(
        "/api/kb/docs",
        json={"owner": "9198", "title": "Hours", "text": "We open at nine and close at five."},
    )
    assert added.status_code == 201
    doc = added.json()
    await client.post(
        "/api/kb/docs", json={"owner": "7000", "title": "Other", "text": "open at nine elsewhere"}
    )
    assert (await client.get("/api/kb/owners")).json() == ["7000", "9198"]
    listed = (await client.get("/api/kb/docs", params={"owner": "9198"})).json()
    assert [d["title"] for d in listed] == ["Hours"]
    found = (
        await client.get("/api/kb/search", params={"owner": "9198", "q": "when do you open"})
    ).json()
    assert found["passages"][0]["title"] == "Hours"
    assert found["passages"][0]["doc_id"] == doc["id"]
    assert "min_score" in found and isinstance(found["passages"][0]["score"], float)
    assert all(p["title"] != "Other" for p in found["passages"])  # never another owner's
    edited = await client.put(f"/api/kb/docs/{doc['id']}", json={"text": "Open nine to six."})
    assert edited.status_code == 200
    assert kb_of(console).docs[doc["id"]].text == "Open nine to six."
    assert (await client.put(f"/api/kb/docs/{doc['id']}", json={})).status_code == 422
    assert (await client.put("/api/kb/docs/nope", json={"text": "x"})).status_code == 404
    page = await client.get(f"/kb/docs/{doc['id']}")
    assert page.status_code == 200 and "Open nine to six." in page.text
    assert (await client.delete(f"/api/kb/docs/{doc['id']}")).status_code == 200
    assert (await client.delete(f"/api/kb/docs/{doc['id']}")).status_code == 404
    assert (await client.get("/api/kb/docs", params={"owner": "9198"})).json() == []


async def test_bad_entries_are_refused(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    for body in (
        {"owner": "", "title": "t", "text": "x"},
        {"owner": "9198", "title": "", "text": "x"},
        {"owner": "9198", "title": "a\nb", "text": "x"},
        {"owner": "9198", "title": "t", "text": ""},
        {"owner": "9198", "title": "t"},
    ):
        response = await client.post("/api/kb/docs", json=body)
        assert response.status_code == 422, body
    blank = await client.post("/api/kb/docs", json={"owner": "9198", "title": "t", "text": "   "})
    assert blank.status_code == 422  # the knowledge base refuses text with nothing to index
    assert kb_of(console).docs == {}


def _files(*items: tuple[str, bytes, str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", item) for item in items]


async def test_upload_text_and_markdown(console: Console) -> None:
    client, _ = await console.signed_in("alice")
    response = await client.post(
        "/api/kb/upload",
        data={"owner": "9198"},
        files=_files(
            ("parking.md", b"# Parking\nFree parking behind the building.", "text/markdown"),
            ("pets.txt", "Dogs are welcome. Caf\u00e9 inside.".encode(), "text/plain"),
        ),
    )
    assert response.status_code == 201, response.text
    assert sorted(d["title"] for d in response.json()["documents"]) == ["parking", "pets"]
    docs = {d.title: d for d in kb_of(console).docs.values()}
    assert docs["pets"].text == "Dogs are welcome. Caf\u00e9 inside."
    assert docs["parking"].source == "upload:parking.md"


@pytest.mark.parametrize(
    ("files", "status"),
    [
        ([("big.txt", b"a" * 5000, "text/plain")], 413),
        ([("ok.txt", b"fine", "text/plain"), ("big.txt", b"a" * 5000, "text/plain")], 413),
        ([("image.png", b"\x89PNG\r\n", "image/png")], 415),
        ([("notes.txt", b"hello", "application/pdf")], 415),
        ([("script.exe", b"MZ", "application/octet-stream")], 415),
        ([("latin1.txt", "caf\u00e9".encode("latin-1"), "text/plain")], 422),
        ([("empty.txt", b"   ", "text/plain")], 422),
        ([("nul.txt", b"a\x00b", "text/plain")], 422),
    ],
)
async def test_bad_uploads_change_nothing(
    tmp_path: Path, sqlite_url: str, files: list[tuple[str, bytes, str]], status: int
) -> None:
    settings = console_settings(tmp_path, sqlite_url, console={"max_upload_bytes": 4096})
    async with running_service(settings) as service:
        service.kb = FakeKnowledge()
        await add_user(service, "alice")
        async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
            client.headers["X-CSRF-Token"] = await sign_in(client, "alice")
            response = await client.post(
                "/api/kb/upload", data={"owner": "9198"}, files=_files(*files)
            )
            assert response.status_code == status, response.text
            assert service.kb.docs == {}


async def test_oversized_request_is_refused_before_it_is_read(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = console_settings(tmp_path, sqlite_url, console={"max_upload_bytes": 1024})
    async with running_service(settings) as service:
        service.kb = FakeKnowledge()
        await add_user(service, "alice")
        async with serve(service) as url, httpx.AsyncClient(base_url=url) as client:
            client.headers["X-CSRF-Token"] = await sign_in(client, "alice")
            response = await client.post(
                "/api/kb/upload",
                data={"owner": "9198"},
                files=_files(("huge.txt", b"x" * (200 * 1024), "text/plain")),
            )
            assert response.status_code == 413
            too_long = await client.post(
                "/api/kb/docs", json={"owner": "9198", "title": "t", "text": "x" * 2000}
            )
            assert too_long.status_code == 413
            not_multipart = await client.post(
                "/api/kb/upload", content=b"owner=9198", headers={"Content-Type": "text/plain"}
            )
            assert not_multipart.status_code == 415
            assert service.kb.docs == {}


async def test_without_a_knowledge_base(console: Console) -> None:
    console.service.kb = None
    client, _ = await console.signed_in("alice")
    page = await client.get("/kb")
    assert page.status_code == 200 and "not configured" in page.text
    assert (await client.get("/api/kb/owners")).status_code == 503
    response = await client.post("/api/kb/docs", json={"owner": "o", "title": "t", "text": "x"})
    assert response.status_code == 503


@pytest.mark.integration
async def test_with_the_real_embedder_and_index(tmp_path: Path, sqlite_url: str) -> None:
    """An entry added through the console is what the next caller's question finds."""
    from callcontrol.pipeline.e5 import E5Embedder
    from callcontrol.pipeline.rag import KnowledgeService
    from callcontrol.store.knowledge_repo import KnowledgeDocumentRepo

    settings = console_settings(tmp_path, sqlite_url)
    async with running_service(settings) as service:
        embedder = E5Embedder(threads=1)
        kb = KnowledgeService(KnowledgeDocumentRepo(service.sessions), embedder)
        try:
            service.kb = kb
            await add_user(service, "alice")
            async with serve(service) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
                client.headers["X-CSRF-Token"] = await sign_in(client, "alice")
                for title, text in [
                    ("Parking", "Visitors can park for free in the garage behind the building."),
                    ("Hours", "The office is open Monday to Friday from 9 am to 5 pm."),
                ]:
                    r = await client.post(
                        "/api/kb/docs", json={"owner": "9198", "title": title, "text": text}
                    )
                    assert r.status_code == 201, r.text
                upload = await client.post(
                    "/api/kb/upload",
                    data={"owner": "9198"},
                    files=_files(
                        ("pets.md", b"# Pets\nDogs on a leash are welcome.", "text/markdown")
                    ),
                )
                assert upload.status_code == 201
                found = (
                    await client.get(
                        "/api/kb/search", params={"owner": "9198", "q": "Where can I park my car?"}
                    )
                ).json()
                assert found["passages"][0]["title"] == "Parking"
                assert found["passages"][0]["score"] > found["passages"][-1]["score"]
                assert found["confident"] is found["passages"][0]["confident"]
                elsewhere = (
                    await client.get("/api/kb/search", params={"owner": "7000", "q": "parking"})
                ).json()
                assert elsewhere["passages"] == []
                rows = await KnowledgeDocumentRepo(service.sessions).list("9198")
                assert sorted(r.title for r in rows) == ["Hours", "Parking", "pets"]
        finally:
            kb.close()
            embedder.close()


async def test_two_files_that_would_be_the_same_document_are_refused(console: Console) -> None:
    """parking.md and parking.txt both become the document "parking": one silently
    replaced the other."""
    client, _ = await console.signed_in("root")
    response = await client.post(
        "/api/kb/upload",
        data={"owner": "9198"},
        files=_files(
            ("parking.md", b"Free parking behind the building.", "text/markdown"),
            ("parking.txt", b"Parking costs 2 dollars.", "text/plain"),
        ),
    )
    assert response.status_code == 409, response.text
    assert "parking.md" in response.json()["detail"] and "parking.txt" in response.json()["detail"]
    assert kb_of(console).docs == {}

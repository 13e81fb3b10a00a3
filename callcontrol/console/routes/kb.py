"""Knowledge base pages and API: per-owner lists, scored search, edits and uploads."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, field_validator
from starlette.datastructures import UploadFile

from callcontrol.console.context import Console
from callcontrol.console.deps import ConsoleDep, CurrentUser
from callcontrol.console.kb import KnowledgeAdmin
from callcontrol.console.limits import DOCUMENT_BODY_LIMIT, UPLOAD_BODY_LIMIT
from callcontrol.console.render import render
from callcontrol.console.views import document_view, passage_view
from callcontrol.errors import CallControlError, DuplicateError
from callcontrol.pipeline.base import DocumentInfo

log = structlog.get_logger(__name__)
router = APIRouter()

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})
TEXT_TYPES = frozenset(
    {"text/plain", "text/markdown", "text/x-markdown", "application/octet-stream", ""}
)
MULTIPART_OVERHEAD = 64 * 1024
MAX_FILES = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_owner(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 128 or _CONTROL.search(value):
        raise ValueError("an owner is 1..128 printable characters")
    return value


def _check_title(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 200 or _CONTROL.search(value):
        raise ValueError("a title is 1..200 printable characters")
    return value


class NewDocument(BaseModel):
    owner: str
    title: str
    text: str = Field(min_length=1, max_length=1_000_000)

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        return _check_owner(value)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return _check_title(value)


class EditDocument(BaseModel):
    title: str | None = None
    text: str | None = Field(None, min_length=1, max_length=1_000_000)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return None if value is None else _check_title(value)


def _kb(console: Console) -> KnowledgeAdmin:
    kb = console.kb
    if kb is None:
        raise HTTPException(503, "the knowledge base is not configured on this worker")
    return kb


def _too_big_text(console: Console, text: str) -> None:
    if len(text.encode()) > console.settings.console.max_upload_bytes:
        raise HTTPException(413, "the text is larger than the upload limit")


async def _owners(kb: KnowledgeAdmin) -> list[str]:
    return sorted({d.owner for d in await kb.list(None)})


async def _get(kb: KnowledgeAdmin, doc_id: str) -> DocumentInfo:
    for doc in await kb.list(None):
        if doc.id == doc_id:
            return doc
    raise HTTPException(404, "no such document")


def _kb_errors(exc: Exception) -> HTTPException:
    if isinstance(exc, DuplicateError):
        return HTTPException(409, str(exc))
    return HTTPException(422, str(exc))


@router.get("/kb", response_class=HTMLResponse)
async def kb_page(
    request: Request,
    user: CurrentUser,
    console: ConsoleDep,
    owner: Annotated[str, Query(max_length=128)] = "",
) -> HTMLResponse:
    kb = console.kb
    owners: list[str] = []
    docs: list[dict[str, Any]] = []
    if kb is not None:
        owners = await _owners(kb)
        if not owner and owners:
            owner = owners[0]
        if owner:
            docs = [document_view(d) for d in await kb.list(owner.strip())]
    return render(
        request,
        console,
        "kb.html",
        user,
        nav="kb",
        configured=kb is not None,
        owners=owners,
        owner=owner,
        docs=docs,
        max_upload_bytes=console.settings.console.max_upload_bytes,
        min_score=console.settings.pipeline.min_confidence,
    )


@router.get("/kb/docs/{doc_id}", response_class=HTMLResponse)
async def doc_page(
    request: Request, doc_id: str, user: CurrentUser, console: ConsoleDep
) -> HTMLResponse:
    doc = await _get(_kb(console), doc_id)
    return render(
        request, console, "kb_doc.html", user, nav="kb", doc=document_view(doc, with_text=True)
    )


@router.get("/api/kb/owners")
async def owners(console: ConsoleDep) -> list[str]:
    return await _owners(_kb(console))


@router.get("/api/kb/docs")
async def list_docs(
    console: ConsoleDep, owner: Annotated[str | None, Query(max_length=128)] = None
) -> list[dict[str, Any]]:
    docs = await _kb(console).list(owner.strip() if owner else None)
    return [document_view(d) for d in docs]


@router.get("/api/kb/docs/{doc_id}")
async def get_doc(doc_id: str, console: ConsoleDep) -> dict[str, Any]:
    return document_view(await _get(_kb(console), doc_id), with_text=True)


@router.get("/api/kb/search")
async def search(
    console: ConsoleDep,
    owner: Annotated[str, Query(min_length=1, max_length=128)],
    q: Annotated[str, Query(min_length=1, max_length=1000)],
    k: Annotated[int, Query(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    """What retrieval would give a caller asking ``q`` (scores, and whether they pass)."""
    min_score = console.settings.pipeline.min_confidence
    passages = await _kb(console).search(owner.strip(), q, k)
    return {
        "owner": owner,
        "query": q,
        "min_score": min_score,
        "confident": bool(passages) and passages[0].score >= min_score,
        "passages": [passage_view(p, min_score) for p in passages],
    }


@router.post("/api/kb/docs", status_code=201, max_body_size=DOCUMENT_BODY_LIMIT)
async def add_doc(body: NewDocument, user: CurrentUser, console: ConsoleDep) -> dict[str, Any]:
    kb = _kb(console)
    _too_big_text(console, body.text)
    try:
        doc = await kb.add(body.owner, body.title, body.text, source=f"console:{user.username}")
    except (CallControlError, ValueError) as exc:
        raise _kb_errors(exc) from exc
    log.info("kb document saved", owner=doc.owner, title=doc.title, by=user.username)
    return document_view(doc)


@router.put("/api/kb/docs/{doc_id}", max_body_size=DOCUMENT_BODY_LIMIT)
async def edit_doc(
    doc_id: str, body: EditDocument, user: CurrentUser, console: ConsoleDep
) -> dict[str, Any]:
    kb = _kb(console)
    if body.title is None and body.text is None:
        raise HTTPException(422, "give a title or a text")
    if body.text is not None:
        _too_big_text(console, body.text)
    await _get(kb, doc_id)
    try:
        doc = await kb.update(doc_id, text=body.text, title=body.title)
    except (CallControlError, ValueError) as exc:
        raise _kb_errors(exc) from exc
    log.info("kb document edited", doc=doc_id, by=user.username)
    return document_view(doc)


@router.delete("/api/kb/docs/{doc_id}")
async def delete_doc(doc_id: str, user: CurrentUser, console: ConsoleDep) -> dict[str, Any]:
    if not await _kb(console).delete(None, doc_id):
        raise HTTPException(404, "no such document")
    log.info("kb document deleted", doc=doc_id, by=user.username)
    return {"deleted": doc_id}


def _file_title(upload: UploadFile) -> str:
    name = PurePath((upload.filename or "").replace("\\", "/")).name
    return _check_title(PurePath(name).stem or "Uploaded text")


@router.post("/api/kb/upload", status_code=201, max_body_size=UPLOAD_BODY_LIMIT)
async def upload(request: Request, user: CurrentUser, console: ConsoleDep) -> dict[str, Any]:
    """Text or Markdown files (multipart ``files``) into ``owner``'s knowledge.

    Every file is checked before any is added: too large → 413, not text → 415,
    not UTF-8 → 422, two files with the same document title → 409, and then
    nothing has changed.
    """
    kb = _kb(console)
    limit = console.settings.console.max_upload_bytes
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise HTTPException(411, "uploads need a Content-Length")
    if int(length) > limit + MULTIPART_OVERHEAD:
        raise HTTPException(413, f"uploads are limited to {limit} bytes")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(415, "send multipart/form-data")
    form = await request.form(max_files=MAX_FILES, max_fields=10, max_part_size=4096)
    try:
        raw_owner = form.get("owner")
        owner = _check_owner(raw_owner if isinstance(raw_owner, str) else "")
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    if not files:
        raise HTTPException(422, "no files")
    texts: list[tuple[str, str, str]] = []
    for item in files:
        name = item.filename or "upload"
        suffix = PurePath(name).suffix.lower()
        ctype = (item.content_type or "").split(";")[0].strip().lower()
        if suffix not in TEXT_SUFFIXES or ctype not in TEXT_TYPES and not ctype.startswith("text/"):
            raise HTTPException(415, f"{name}: only .txt and .md text files")
        data = await item.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, f"{name}: larger than {limit} bytes")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise HTTPException(422, f"{name}: not UTF-8 text") from exc
        if "\x00" in text or not text.strip():
            raise HTTPException(422, f"{name}: empty or binary")
        try:
            title = _file_title(item)
        except ValueError as exc:
            raise HTTPException(422, f"{name}: {exc}") from exc
        texts.append((title, text, name))
    by_title: dict[str, str] = {}
    for title, _text, name in texts:
        if title in by_title:
            raise HTTPException(
                409, f"{by_title[title]} and {name} would both be the document {title!r}"
            )
        by_title[title] = name
    added = []
    for title, text, name in texts:
        try:
            doc = await kb.add(owner, title, text, source=f"upload:{name}"[:250])
        except (CallControlError, ValueError) as exc:
            raise _kb_errors(exc) from exc
        added.append(document_view(doc))
    log.info("kb files uploaded", owner=owner, files=len(added), by=user.username)
    return {"owner": owner, "documents": added}

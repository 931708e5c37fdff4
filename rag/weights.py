"""Model weights the package ships (safetensors and the JSON beside it), read with every check once: both files
present, the JSON readable, the weights' SHA-256 the one the JSON records, the tensors the model's own names and
shapes. Each failure is one clear :class:`~rag.errors.ModelWeightsError` (or the caller's subclass) naming the file.
Used by the reader and the distilled query encoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.atomic import sha256_file
from rag.errors import ModelWeightsError

if TYPE_CHECKING:
    import torch
    from torch import nn


def read_checked_weights(
    path: Path, *, what: str, hint: str, sha_key: str, error: type[ModelWeightsError] = ModelWeightsError
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The JSON record and the tensors of ``path`` (the record at ``path.with_suffix('.json')``), checked:
    ``what`` names the model in messages ("reader"), ``hint`` says how to make the files, ``sha_key`` is the
    record's field holding the weights' SHA-256 (checked when present)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta_path = path.with_suffix(".json")
    for needed in (path, meta_path):
        if not needed.is_file():
            raise error(f"{what} weights missing: {needed} ({hint})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ValueError("no config object")
    except (OSError, ValueError) as exc:
        raise error(f"{what} config unreadable: {meta_path}: {exc}") from exc
    if meta.get(sha_key) and sha256_file(path) != meta[sha_key]:
        raise error(f"{what} weights corrupt (sha256 mismatch): {path}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise error(f"{what} weights unreadable: {path}: {exc}") from exc
    return meta, state


def load_checked_state(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    path: Path,
    *,
    what: str,
    error: type[ModelWeightsError] = ModelWeightsError,
) -> None:
    """Load ``state`` (as float32) into ``model`` when its names and shapes are the model's, else raise."""
    own = model.state_dict()
    if set(state) != set(own) or any(tuple(state[k].shape) != tuple(own[k].shape) for k in own):
        raise error(f"{what} weights do not load into their config (names or shapes differ): {path}")
    model.load_state_dict({k: v.float() for k, v in state.items()})

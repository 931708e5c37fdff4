"""e5 encoder layers for inference, run as one TorchScript call; in bfloat16, with weights packed once for oneDNN.

Two costs dominate a short query's forward pass in eager PyTorch, and neither is arithmetic:

- ~150 eager ops each take the GIL back when they finish. In a server, where the event loop and the request
  threads also run Python, every one of those hand-offs can wait for another thread's switch interval, and the
  batch stalls. One TorchScript call runs the whole stack of layers with the GIL released;
- a plain ``nn.Linear`` in bfloat16 hands oneDNN a row-major weight on every call, which oneDNN reorders into
  its blocked layout (the one AVX512-BF16/AMX kernels read) each time; for a 24-token query the reorder costs
  about as much as the product. In bfloat16 each weight is packed once, at load time (the layout torch's own
  inductor compiler uses for frozen CPU models), and the GELU is fused into the first feed-forward product.

``bench/query_engines.py`` measures both. Where TorchScript or the packing fails, or the probe disagrees with
the eager layers, :func:`script_layers` returns None and the caller keeps its eager layers: the same network
either way, within the dtype's precision.
"""

import logging
import warnings
from collections.abc import Sequence
from functools import cache
from typing import Any, List, Optional, Union  # noqa: UP035 - TorchScript reads these annotations

import torch
from torch import nn

log = logging.getLogger(__name__)

ROWS_HINT = 32
"""Rows (tokens x batch) oneDNN tunes the packed layout for: a few short queries."""
NAMES = ("qkv", "ao", "aln", "fi", "fo", "oln")
"""A layer's parameterised parts, in the order :func:`_run_layers` reads their (weight, bias)."""


def _run_layers(
    x: torch.Tensor,
    bias: Optional[torch.Tensor],  # noqa: UP045 - TorchScript
    weights: List[List[torch.Tensor]],  # noqa: UP006 - TorchScript
    heads: int,
    eps: float,
    packed: bool,
) -> torch.Tensor:
    # Post-LN XLM-R layers, as rag.reader.model.Layer.forward; w = qkv, ao, aln, fi, fo, oln (weight, bias) each.
    no_scalars: List[Optional[Union[int, float, complex]]] = []  # noqa: UP006, UP007, UP045
    b, n, h = x.shape[0], x.shape[1], x.shape[2]
    for w in weights:
        if packed:
            qkv = torch.ops.mkldnn._linear_pointwise(x, w[0], w[1], "none", no_scalars, "")
        else:
            qkv = torch.nn.functional.linear(x, w[0], w[1])
        qkv = qkv.view(b, n, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
        ctx = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=bias)
        ctx = ctx.transpose(1, 2).reshape(b, n, h)
        if packed:
            attended = torch.ops.mkldnn._linear_pointwise(ctx, w[2], w[3], "none", no_scalars, "")
        else:
            attended = torch.nn.functional.linear(ctx, w[2], w[3])
        x = torch.nn.functional.layer_norm(x + attended, [h], w[4], w[5], eps)
        if packed:
            inner = torch.ops.mkldnn._linear_pointwise(x, w[6], w[7], "gelu", no_scalars, "none")  # exact GELU
            out = torch.ops.mkldnn._linear_pointwise(inner, w[8], w[9], "none", no_scalars, "")
        else:
            inner = torch.nn.functional.gelu(torch.nn.functional.linear(x, w[6], w[7]))
            out = torch.nn.functional.linear(inner, w[8], w[9])
        x = torch.nn.functional.layer_norm(x + out, [h], w[10], w[11], eps)
    return x


@cache
def _compiled() -> Any:
    # torch.compile/torch.export, which torch now points to, need a C++ toolchain at run time and minutes of
    # compiling; TorchScript does what is needed here in a second. Should a torch drop it, script_layers falls
    # back to the eager layers (and the tests say so).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=DeprecationWarning)
        return torch.jit.script(_run_layers)


def can_pack(dtype: torch.dtype) -> bool:
    """Whether this torch can pack ``dtype`` linear weights for oneDNN (bfloat16 only: float32 gains nothing)."""
    return (
        dtype == torch.bfloat16
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


class ScriptedLayers:
    """A stack of e5 encoder layers (each with ``qkv``, ``ao``, ``aln``, ``fi``, ``fo``, ``oln``) as one
    TorchScript call, weights packed for oneDNN when ``packed``. Build it with :func:`script_layers`; calling it
    is ``for layer in layers: x = layer(x, bias)``. A snapshot: later changes to the layers are not seen."""

    def __init__(self, layers: Sequence[nn.Module], *, heads: int, eps: float, packed: bool) -> None:
        self.heads = heads
        self.eps = eps
        self.packed = packed
        self.weights: list[list[torch.Tensor]] = []
        for layer in layers:
            row: list[torch.Tensor] = []
            for name in NAMES:
                module = getattr(layer, name)
                weight = module.weight.detach()
                if packed and isinstance(module, nn.Linear):
                    weight = torch.ops.mkldnn._reorder_linear_weight(weight, ROWS_HINT)
                row += [weight, module.bias.detach()]
            self.weights.append(row)
        self._run = _compiled()

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``x`` ``[B, L, H]`` in the layers' dtype; ``bias`` the additive attention mask ``[B, 1, 1, L]``."""
        out: torch.Tensor = self._run(x, bias, self.weights, self.heads, self.eps, self.packed)
        return out


def script_layers(layers: Sequence[nn.Module], *, heads: int, eps: float) -> ScriptedLayers | None:
    """``layers`` as one TorchScript call (packed where :func:`can_pack`), if the result gives the eager layers'
    output on a random padded batch; None (with a log line saying why) otherwise."""
    if not layers:
        return None
    dtype = next(layers[0].parameters()).dtype
    try:
        scripted = ScriptedLayers(layers, heads=heads, eps=eps, packed=can_pack(dtype))
        hidden = scripted.weights[0][4].shape[0]  # the first LayerNorm's width
        x = torch.randn(2, 9, hidden, generator=torch.Generator().manual_seed(0)).to(dtype)  # a fixed probe
        bias = torch.zeros(2, 1, 1, 9, dtype=dtype)
        bias[1, ..., 6:] = -torch.inf
        with torch.inference_mode():
            want = x
            for layer in layers:
                want = layer(want, bias)
            got = scripted(x, bias)
    except (RuntimeError, AttributeError, NotImplementedError) as exc:
        log.warning("cannot script the e5 layers (%s): keeping the eager layers", exc)
        return None
    tolerance = 0.1 if dtype == torch.bfloat16 else 1e-4  # bfloat16 keeps ~3 significant digits
    if got.shape != want.shape or not torch.allclose(got.float(), want.float(), rtol=tolerance, atol=tolerance):
        log.warning("scripted e5 layers disagree with the eager ones: keeping the eager layers")
        return None
    return scripted

"""The multilingual-e5-small encoder (XLM-R/BERT, post-LayerNorm) in PyTorch, on weights dequantised from E5S1.

Weights are prepared with numpy only (dequantise, fuse Q/K/V, round to bfloat16) and wrapped with
`torch.from_numpy`, so loading runs no torch kernel: a process that loads and then forks leaves no OpenMP
pool behind for its children to hang on. The word embeddings stay 4-bit (60 MB instead of 384 MB) and only the
rows a batch uses are dequantised.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from qa.encoders.e5file import E5File, EncoderConfig

PRECISIONS = ("bf16", "fp32")


def best_precision() -> str:
    """bf16 where oneDNN has bf16 kernels for this CPU (AVX-512 BW/VL/DQ, AVX-NE-CONVERT or AMX), else fp32.

    Elsewhere (an AVX2-only CPU) the packed bf16 products fail and plain bf16 is emulated; fp32 runs on MKL.
    A CPU query, no torch kernel: safe before fork. The fp32 model id differs ("+fp32"), so an index built on
    one kind of CPU is refused with a rebuild hint on the other instead of mixing slightly different vectors.
    """
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


def to_bfloat16(values: np.ndarray) -> torch.Tensor:
    """float32 -> bfloat16 with round-to-nearest-even, computed in numpy (no torch kernel runs)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & 1))) >> 16
    return torch.from_numpy(rounded.astype(np.uint16)).view(torch.bfloat16)


@dataclass(frozen=True)
class Layer:
    qkv_w: torch.Tensor
    qkv_b: torch.Tensor
    out_w: torch.Tensor
    out_b: torch.Tensor
    attn_ln: tuple[torch.Tensor, torch.Tensor]
    ffn_in_w: torch.Tensor
    ffn_in_b: torch.Tensor
    ffn_out_w: torch.Tensor
    ffn_out_b: torch.Tensor
    ffn_ln: tuple[torch.Tensor, torch.Tensor]


class E5Encoder:
    """Token ids -> mean-pooled (not yet normalised) hidden states, in bf16 or fp32 matrix products.

    In bf16 the linear layers run through oneDNN with weights reordered once into its blocked layout (a plain
    bf16 `F.linear` reorders them on every call, which doubles a short query's time) and GELU fused into the
    first FFN product. The reorder is a torch kernel, so it happens per process at the first forward pass.
    """

    def __init__(self, weights: E5File, precision: str = "bf16", layers: int | None = None) -> None:
        """`layers` keeps only the first that many layers (the verifier's shallow cross-encoder starts from them)."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.config: EncoderConfig = weights.config
        self.precision = precision
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        c = self.config
        scales, packed = weights.q4("emb.word", c.vocab, c.hidden)
        self._word_scales = torch.from_numpy(scales)
        self._word_packed = torch.from_numpy(np.ascontiguousarray(packed))
        self._positions = self._vector(weights.f32("emb.pos", (c.max_positions, c.hidden)))
        # e5.c adds token type 0 to every token.
        self._type0 = self._vector(weights.f32("emb.type", (2, c.hidden))[0])
        self._embed_ln = self._norm(weights, "emb.ln")
        self.layers = [self._layer(weights, i) for i in range(c.layers if layers is None else layers)]
        self._packed: tuple[int, list[Layer]] | None = None

    def _vector(self, values: np.ndarray) -> torch.Tensor:
        if self.precision == "bf16":
            return to_bfloat16(values)
        return torch.from_numpy(np.array(values, dtype=np.float32))

    def _norm(self, weights: E5File, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.config.hidden
        return (self._vector(weights.f32(f"{prefix}.w", (h,))), self._vector(weights.f32(f"{prefix}.b", (h,))))

    def _layer(self, weights: E5File, i: int) -> Layer:
        h, ff = self.config.hidden, self.config.ffn

        def mat(name: str, rows: int, cols: int) -> np.ndarray:
            return weights.dequantized(f"l{i}.{name}.w", rows, cols)

        def bias(name: str, n: int) -> np.ndarray:
            return weights.f32(f"l{i}.{name}.b", (n,))

        qkv_w = np.concatenate([mat(n, h, h) for n in ("q", "k", "v")])
        qkv_b = np.concatenate([bias(n, h) for n in ("q", "k", "v")])
        return Layer(
            qkv_w=self._vector(qkv_w), qkv_b=self._vector(qkv_b),
            out_w=self._vector(mat("ao", h, h)), out_b=self._vector(bias("ao", h)),
            attn_ln=self._norm(weights, f"l{i}.aln"),
            ffn_in_w=self._vector(mat("fi", ff, h)), ffn_in_b=self._vector(bias("fi", ff)),
            ffn_out_w=self._vector(mat("fo", h, ff)), ffn_out_b=self._vector(bias("fo", h)),
            ffn_ln=self._norm(weights, f"l{i}.oln"),
        )

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """[B, L] ids -> [B, L, H] LayerNorm(word + position + type 0)."""
        c = self.config
        packed = self._word_packed[ids]
        nibbles = torch.cat([packed & 0x0F, packed >> 4], dim=-1).to(torch.float32) - 8.0
        word = (nibbles * self._word_scales[ids].unsqueeze(-1)).reshape(*ids.shape, c.hidden)
        x = word.to(self.dtype) + self._positions[: ids.shape[1]] + self._type0
        return F.layer_norm(x, (c.hidden,), *self._embed_ln, eps=c.eps)

    def _process_layers(self) -> list[Layer]:
        """The layers with bf16 weights in oneDNN's layout, prepared once per process (after any fork)."""
        if self.precision != "bf16":
            return self.layers
        pid = os.getpid()
        if self._packed is None or self._packed[0] != pid:
            pack = torch.ops.mkldnn._reorder_linear_weight
            self._packed = (pid, [replace(layer, qkv_w=pack(layer.qkv_w), out_w=pack(layer.out_w),
                                          ffn_in_w=pack(layer.ffn_in_w), ffn_out_w=pack(layer.ffn_out_w))
                                  for layer in self.layers])
        return self._packed[1]

    def _linear(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, gelu: bool = False,
                residual: torch.Tensor | None = None) -> torch.Tensor:
        """x W^T + b, then exact (erf) GELU or + residual, fused into the product in bf16."""
        if self.precision == "bf16":
            if residual is not None:
                return torch.ops.mkldnn._linear_pointwise.binary(x, residual, weight, bias, "add")
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu" if gelu else "none", [],
                                                      "none" if gelu else "")
        out = F.linear(x, weight, bias)
        if residual is not None:
            return out + residual
        return F.gelu(out) if gelu else out

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over each row's first `lengths` tokens of the last hidden states, float32 [B, H].

        Rows shorter than L are padded at the end; without `lengths` every row is L tokens long.
        """
        c = self.config
        batch, length = ids.shape
        mask = None
        if lengths is not None and int(lengths.min()) < length:
            valid = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)  # [B, L]
            mask = valid[:, None, None, :]  # keys a query may attend to
        x = self.embed(ids)
        heads, head_dim = c.heads, c.hidden // c.heads
        linear = self._linear
        for layer in self._process_layers():
            qkv = linear(x, layer.qkv_w, layer.qkv_b).view(batch, length, 3, heads, head_dim)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            ctx = ctx.transpose(1, 2).reshape(batch, length, c.hidden)
            x = F.layer_norm(linear(ctx, layer.out_w, layer.out_b, residual=x), (c.hidden,), *layer.attn_ln, eps=c.eps)
            mid = linear(x, layer.ffn_in_w, layer.ffn_in_b, gelu=True)
            x = F.layer_norm(linear(mid, layer.ffn_out_w, layer.ffn_out_b, residual=x), (c.hidden,), *layer.ffn_ln,
                             eps=c.eps)
        x = x.to(torch.float32)
        if mask is None:
            return x.mean(dim=1)
        assert lengths is not None
        valid = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
        return (x * valid).sum(dim=1) / lengths.unsqueeze(1).to(torch.float32)

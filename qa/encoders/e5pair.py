"""A shallow cross-encoder over multilingual-e5-small's lower layers: LoRA adapters, LayerNorms, biases and a head.

The base weights stay the bundled 4-bit file's (dequantised to float32 here, frozen); only what is trained lives
in the verifier's own file, so it weighs a few MB. One sequence holds both texts, XLM-R's pair form
`<s> query: question </s></s> passage: candidate </s>`, so every layer attends across the two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qa.encoders.e5file import E5File
from qa.encoders.e5model import E5Encoder
from qa.encoders.e5tokenizer import E5Tokenizer

# The four products of a layer and their (out, in) shapes, by the names of e5model.Layer's weights.
PRODUCTS = ("qkv", "out", "ffn_in", "ffn_out")


class LoRA(nn.Module):
    """x W^T + b + scale * x A^T B^T over a frozen W; B starts at zero so training starts from the base layer."""

    weight: torch.Tensor  # a buffer: frozen, never saved (it is the bundled file's)

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, rank: int, alpha: float) -> None:
        super().__init__()
        out_dim, in_dim = weight.shape
        self.register_buffer("weight", weight.float().clone(), persistent=False)
        self.bias = nn.Parameter(bias.float().clone())
        self.a = nn.Parameter(torch.randn(rank, in_dim) / math.sqrt(in_dim))
        self.b = nn.Parameter(torch.zeros(out_dim, rank))
        self.scale = alpha / rank
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return F.linear(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias) + F.linear(F.linear(x, self.a), self.b) * self.scale

    def merge(self) -> None:
        """Fold the adapter into the weight: scoring then costs exactly a plain layer."""
        with torch.no_grad():
            self.weight += (self.b @ self.a) * self.scale
        self.merged = True


class PairLayer(nn.Module):
    """One post-LayerNorm BERT layer with every product adapted."""

    def __init__(self, encoder: E5Encoder, index: int, rank: int, alpha: float) -> None:
        super().__init__()
        base = encoder.layers[index]
        c = encoder.config
        self.heads, self.hidden, self.eps = c.heads, c.hidden, c.eps
        self.qkv = LoRA(base.qkv_w, base.qkv_b, rank, alpha)
        self.out = LoRA(base.out_w, base.out_b, rank, alpha)
        self.ffn_in = LoRA(base.ffn_in_w, base.ffn_in_b, rank, alpha)
        self.ffn_out = LoRA(base.ffn_out_w, base.ffn_out_b, rank, alpha)
        self.attn_ln = nn.LayerNorm(c.hidden, eps=c.eps)
        self.ffn_ln = nn.LayerNorm(c.hidden, eps=c.eps)
        with torch.no_grad():
            for norm, (w, b) in ((self.attn_ln, base.attn_ln), (self.ffn_ln, base.ffn_ln)):
                norm.weight.copy_(w.float())
                norm.bias.copy_(b.float())

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, _ = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, self.hidden // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(batch, length, -1)
        x = self.attn_ln(self.out(ctx) + x)
        return self.ffn_ln(self.ffn_out(F.gelu(self.ffn_in(x))) + x)


class PairModel(nn.Module):
    """(question, candidate) token ids -> one logit that the candidate matches or answers the question."""

    def __init__(self, weights: E5File, layers: int, rank: int, alpha: float) -> None:
        super().__init__()
        if not 1 <= layers <= weights.config.layers:
            raise ValueError(f"layers must be 1..{weights.config.layers}, got {layers}")
        self._encoder = E5Encoder(weights, "fp32", layers=layers)  # frozen embeddings and base layers
        self.tokenizer = E5Tokenizer(weights.vocabulary)
        self.blocks = nn.ModuleList(PairLayer(self._encoder, i, rank, alpha) for i in range(layers))
        self._encoder.layers = []  # the blocks hold their own copies; only the embeddings are read from here
        hidden = weights.config.hidden
        # [first token, mean of tokens] -> one logit; mean pooling is what e5 was trained to summarise with.
        self.head = nn.Linear(2 * hidden, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def pair_ids(self, question: str, candidates: Sequence[str], max_question: int,
                 max_tokens: int) -> list[list[int]]:
        """`<s> query: q </s></s> passage: c </s>` per candidate, the question cut to max_question tokens and the
        candidate to what is left of max_tokens."""
        tok = self.tokenizer
        q = tok.content_ids(["query: " + question])[0][:max_question]
        room = max_tokens - len(q) - 4
        return [[tok.bos, *q, tok.eos, tok.eos, *c[:room], tok.eos]
                for c in tok.content_ids(["passage: " + text for text in candidates])]

    def forward(self, rows: Sequence[Sequence[int]]) -> torch.Tensor:
        """Logits [B] for rows of token ids (padded here, masked in attention and pooling)."""
        length = max(len(r) for r in rows)
        ids = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        lengths = torch.tensor([len(r) for r in rows])
        valid = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
        mask = valid[:, None, None, :] if int(lengths.min()) < length else None
        with torch.no_grad():
            x = self._encoder.embed(ids).float()
        for block in self.blocks:
            x = block(x, mask)
        mean = (x * valid.unsqueeze(-1)).sum(dim=1) / lengths.unsqueeze(1).to(x.dtype)
        return self.head(torch.cat([x[:, 0], mean], dim=-1)).squeeze(-1)

    def trained(self) -> dict[str, np.ndarray]:
        """Every trained tensor by name (what the verifier file stores)."""
        return {name: p.detach().numpy().copy() for name, p in self.named_parameters()}

    def load_trained(self, tensors: dict[str, np.ndarray]) -> None:
        """Set the trained tensors; names and shapes must match this model exactly."""
        params = dict(self.named_parameters())
        if set(params) != set(tensors):
            missing, extra = sorted(set(params) - set(tensors)), sorted(set(tensors) - set(params))
            raise ValueError(f"tensor names differ: missing {missing[:3]}, unexpected {extra[:3]}")
        with torch.no_grad():
            for name, p in params.items():
                if tuple(tensors[name].shape) != tuple(p.shape):
                    raise ValueError(f"tensor {name} has shape {tensors[name].shape}, expected {tuple(p.shape)}")
                p.copy_(torch.from_numpy(np.asarray(tensors[name], dtype=np.float32)))

    def merge(self) -> None:
        """Fold every adapter into its weight and stop tracking gradients: the scoring form."""
        for module in self.modules():
            if isinstance(module, LoRA):
                module.merge()
        self.requires_grad_(False)
        self.eval()

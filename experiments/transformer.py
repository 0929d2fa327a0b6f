"""A small pre-LN decoder-only transformer whose attention normalization is the variable.

Variants (all causal):

* ``softmax``  softmax(QKᵀ/√d_k + causal −∞ mask)·V, the standard attention;
* ``unscaled`` the same without the 1/√d_k factor (Brain Teaser #2);
* ``relu``     ReLU(QKᵀ)·M / (Σ_j ReLU(QKᵀ)·M + ε)·V with M the causal 0/1 mask: the article's
  Option 3 (impl.attention.relu_attention, unscaled). Masking multiplies the ReLU weights by 0,
  the same as setting future scores to −∞ (or 0) before the ReLU. The article's formula is 0/0
  on a row whose allowed scores are all ≤ 0; ε = 1e-6 makes that row's output 0 instead of NaN;
* ``linear``   causal linear attention with φ = elu + 1 (Katharopoulos et al. 2020), computed
  with cumulative sums Σ_{j≤i} φ(k_j)v_jᵀ and Σ_{j≤i} φ(k_j) (chunked): no n×n matrix;
* ``sum``      'simple normalization' (Brain Teaser #1 / Option 2): QKᵀ·M / Σ_j QKᵀ·M, no ε;
* ``raw``      no normalization at all (Option 1): (QKᵀ·M)·V.

With ``learn_temperature`` each head divides its (scaled) softmax scores by a learned T_h = e^θ_h,
θ_h initialised to 0 (T = 1).

Initialisation: W_Q and W_K have std 1/√d_model so that q and k have unit-variance components
on layer-normed inputs — the premise of the article's variance argument ("If Q and K have unit
variance, then QKᵀ has variance d_k").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

VARIANTS = ("softmax", "unscaled", "relu", "linear", "sum", "raw")
RELU_EPS = 1e-6


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    seq_len: int
    n_layers: int = 2
    n_heads: int = 4
    d_k: int = 16
    variant: str = "softmax"
    learn_temperature: bool = False

    @property
    def d_model(self) -> int:
        return self.n_heads * self.d_k


def causal_mask(n: int, device: torch.device) -> torch.Tensor:
    """The (n, n) 0/1 causal mask as floats (1 where key j ≤ query i), built once per size."""
    return _masks(n, str(device))[0]


def causal_bias(n: int, device: torch.device) -> torch.Tensor:
    """The (n, n) additive causal mask (0 allowed, −∞ future). Adding it gives exactly the
    values of masked_fill(−∞) at about half the cost of the fill and its backward."""
    return _masks(n, str(device))[1]


@cache
def _masks(n: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    allowed = torch.ones(n, n, dtype=torch.bool, device=device).tril()
    bias = torch.zeros(n, n, device=device).masked_fill(~allowed, float("-inf"))
    return allowed.float(), bias


def elu_plus_one(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0


def attention_weights(q, k, variant: str, temperature=None) -> torch.Tensor | None:
    """The (…, n, n) weight matrix of a variant (None for ``raw``, which normalizes nothing).
    Used for training (all but ``linear``) and for attention statistics (all)."""
    n = q.shape[-2]
    allowed = causal_mask(n, q.device)
    if variant == "linear":
        s = elu_plus_one(q) @ elu_plus_one(k).transpose(-1, -2)
        s = s * allowed
        return s / s.sum(-1, keepdim=True)
    s = q @ k.transpose(-1, -2)
    if variant == "softmax":
        s = s / math.sqrt(q.shape[-1])
    if temperature is not None:
        s = s / temperature[:, None, None]
    if variant in ("softmax", "unscaled"):
        return torch.softmax(s + causal_bias(n, q.device), dim=-1)
    if variant == "relu":
        w = torch.relu(s) * allowed
        return w / (w.sum(-1, keepdim=True) + RELU_EPS)
    if variant == "sum":
        w = s * allowed
        return w / w.sum(-1, keepdim=True)
    if variant == "raw":
        return None
    raise ValueError(f"unknown attention variant {variant!r}; known: {', '.join(VARIANTS)}")


def causal_linear_attention(q, k, v, chunk: int = 16) -> torch.Tensor:
    """φ(q_i)·Σ_{j≤i} φ(k_j)v_jᵀ / φ(q_i)·Σ_{j≤i} φ(k_j).

    The prefix sums are cumulative sums over chunks of `chunk` positions (the state carried
    from earlier chunks) plus the masked products inside each chunk: exact, and much cheaper
    on a CPU than a cumulative sum of one d_k×d_v outer product per position. No n×n matrix
    is formed beyond chunk×chunk."""
    n = q.shape[-2]
    pad = (-n) % chunk  # padding at the end cannot reach earlier positions under causality
    fq, fk = elu_plus_one(F.pad(q, (0, 0, 0, pad))), elu_plus_one(F.pad(k, (0, 0, 0, pad)))
    v = F.pad(v, (0, 0, 0, pad))
    shape = (*q.shape[:-2], (n + pad) // chunk, chunk)
    fq, fk, v = fq.reshape(*shape, -1), fk.reshape(*shape, -1), v.reshape(*shape, -1)
    chunk_kv = fk.transpose(-1, -2) @ v  # (…, chunks, d_k, d_v)
    chunk_z = fk.sum(-2)  # (…, chunks, d_k)
    state_kv = torch.cumsum(chunk_kv, dim=-3) - chunk_kv  # sums over earlier chunks only
    state_z = torch.cumsum(chunk_z, dim=-2) - chunk_z
    inside = (fq @ fk.transpose(-1, -2)) * causal_mask(chunk, q.device)
    numerator = fq @ state_kv + inside @ v
    denominator = (fq * state_z[..., None, :]).sum(-1) + inside.sum(-1)
    out = numerator / denominator[..., None]
    return out.reshape(*q.shape[:-2], n + pad, -1)[..., :n, :]


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.log_temperature = (
            nn.Parameter(torch.zeros(cfg.n_heads)) if cfg.learn_temperature else None
        )

    @property
    def temperature(self) -> torch.Tensor | None:
        return None if self.log_temperature is None else self.log_temperature.exp()

    def heads(self, x: torch.Tensor):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.cfg.n_heads, self.cfg.d_k).unbind(2)
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.heads(x)
        variant = self.cfg.variant
        if variant == "linear":
            y = causal_linear_attention(q, k, v)
        elif variant == "raw":
            y = ((q @ k.transpose(-1, -2)) * causal_mask(n, x.device)) @ v
        else:
            y = attention_weights(q, k, variant, self.temperature) @ v
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(cfg)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.tok = nn.Embedding(cfg.vocab_size, d)
        self.pos = nn.Embedding(cfg.seq_len, d)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        """Unit-variance q, k (see module docstring); residual projections scaled down by
        √(2·n_layers) as in GPT-2; embeddings std 0.02."""
        d, residual_std = self.cfg.d_model, 1 / math.sqrt(2 * self.cfg.n_layers)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=1 / math.sqrt(module.in_features))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
        for block in self.layers():
            block.attn.out.weight.data.mul_(residual_std)
            cast(nn.Linear, block.mlp[2]).weight.data.mul_(residual_std)
        nn.init.normal_(self.head.weight, std=1 / d)

    def layers(self) -> list[Block]:
        """The blocks, typed (nn.ModuleList yields plain Modules to a type checker)."""
        return [cast(Block, block) for block in self.blocks]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        x = self.tok(tokens) + self.pos(torch.arange(n, device=tokens.device))
        for block in self.layers():
            x = block(x)
        return self.head(self.ln_f(x))

    @torch.no_grad()
    def attention_maps(self, tokens: torch.Tensor) -> list[torch.Tensor | None]:
        """Per layer, the (batch, heads, n, n) weights the model used on `tokens`."""
        n = tokens.shape[1]
        x = self.tok(tokens) + self.pos(torch.arange(n, device=tokens.device))
        maps = []
        for block in self.layers():
            q, k, _ = block.attn.heads(block.ln1(x))
            maps.append(attention_weights(q, k, self.cfg.variant, block.attn.temperature))
            x = block(x)
        return maps

    def temperatures(self) -> list[list[float]] | None:
        if not self.cfg.learn_temperature:
            return None
        return [cast(torch.Tensor, block.attn.temperature).tolist() for block in self.layers()]

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

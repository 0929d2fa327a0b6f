"""Data with no download: text that ships with Python, and a synthetic associative-recall task.

The language-modelling corpus is the pydoc topic help (`pydoc_data.topics`, sorted by topic) and
the docstrings of a fixed, sorted list of standard-library modules and their public members,
tokenized as UTF-8 bytes. It is deterministic for a given Python version; its size and sha256
go into the evidence so a reader can tell whether two runs saw the same text.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
import warnings
from dataclasses import dataclass
from functools import cache

import torch

STDLIB_MODULES = (
    "abc", "argparse", "ast", "calendar", "collections", "contextlib", "csv", "dataclasses",
    "decimal", "enum", "functools", "heapq", "inspect", "itertools", "json", "logging", "os",
    "pathlib", "random", "re", "shutil", "statistics", "string", "textwrap", "tokenize", "typing",
)  # fmt: skip
VALIDATION_FRACTION = 0.1


def _docstrings(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    docs = [inspect.getdoc(module) or ""]
    with warnings.catch_warnings():  # e.g. typing.io warns that it is deprecated when touched
        warnings.simplefilter("ignore")
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            docs.append(inspect.getdoc(obj) or "")
    return [d for d in docs if d]


def corpus_text() -> str:
    """pydoc topics, then stdlib docstrings; every part in sorted order."""
    import pydoc_data.topics as topics

    parts = [topics.topics[key] for key in sorted(topics.topics)]
    for name in sorted(STDLIB_MODULES):
        parts.extend(_docstrings(name))
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Corpus:
    """Byte tokens mapped onto a dense vocabulary, split into train and validation (the tail)."""

    train: torch.Tensor
    val: torch.Tensor
    vocab_size: int
    n_bytes: int
    sha256: str
    unigram_loss: float  # cross-entropy of validation under the train unigram distribution (nats)

    def describe(self) -> dict[str, object]:
        return {
            "source": "pydoc_data.topics + docstrings of " + ", ".join(STDLIB_MODULES),
            "python": sys.version.split()[0],
            "bytes": self.n_bytes,
            "sha256": self.sha256,
            "vocab_size": self.vocab_size,
            "train_tokens": int(self.train.numel()),
            "val_tokens": int(self.val.numel()),
            "unigram_val_loss_nats": round(self.unigram_loss, 4),
        }


@cache
def load_corpus() -> Corpus:
    raw = corpus_text().encode("utf-8")
    data = torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()
    present = torch.unique(data)
    lookup = torch.zeros(256, dtype=torch.long)
    lookup[present] = torch.arange(present.numel())
    tokens = lookup[data]
    split = int(len(tokens) * (1 - VALIDATION_FRACTION))
    train, val = tokens[:split], tokens[split:]
    return Corpus(
        train=train,
        val=val,
        vocab_size=int(present.numel()),
        n_bytes=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        unigram_loss=unigram_cross_entropy(train, val, int(present.numel())),
    )


def unigram_cross_entropy(train: torch.Tensor, val: torch.Tensor, vocab_size: int) -> float:
    """The loss of the best context-free predictor fitted on train (add-one smoothed)."""
    counts = torch.bincount(train, minlength=vocab_size).double() + 1.0
    log_p = torch.log(counts / counts.sum())
    return float(-log_p[val].mean())


def lm_batch(tokens: torch.Tensor, batch: int, seq_len: int, generator: torch.Generator):
    """Random windows: inputs and next-token targets; every target position is scored (None)."""
    starts = torch.randint(0, len(tokens) - seq_len - 1, (batch,), generator=generator)
    idx = starts[:, None] + torch.arange(seq_len + 1)[None, :]
    window = tokens[idx]
    return window[:, :-1], window[:, 1:], None


def lm_val_batches(tokens: torch.Tensor, n_windows: int, seq_len: int, batch: int):
    """A fixed, evenly spaced set of validation windows (the same for every run)."""
    stride = max(1, (len(tokens) - seq_len - 1) // n_windows)
    starts = torch.arange(n_windows) * stride
    idx = starts[:, None] + torch.arange(seq_len + 1)[None, :]
    window = tokens[idx]
    return [
        (window[i : i + batch, :-1], window[i : i + batch, 1:], None)
        for i in range(0, n_windows, batch)
    ]


# -- associative recall (precise token selection) ----------------------------------------------
@dataclass(frozen=True)
class RecallTask:
    """Multi-query associative recall, one hop: the context holds n_pairs tokens, each one
    (key, value) pair with a distinct key (token id key·n_values + value); then n_queries query
    tokens name a key each, and the model must output that key's value at the query position.
    Only the query positions are scored: the model must find the one context token whose key
    matches and copy its value — fact retrieval in miniature, with no need for a multi-layer
    induction circuit (so a model this small can learn it within the CPU budget)."""

    n_keys: int = 16
    n_values: int = 16
    n_pairs: int = 16
    n_queries: int = 8

    @property
    def query_offset(self) -> int:
        return self.n_keys * self.n_values

    @property
    def value_offset(self) -> int:
        return self.query_offset + self.n_keys

    @property
    def vocab_size(self) -> int:
        return self.value_offset + self.n_values

    @property
    def seq_len(self) -> int:
        return self.n_pairs + self.n_queries

    def batch(self, batch: int, generator: torch.Generator):
        keys = torch.argsort(torch.rand(batch, self.n_keys, generator=generator), dim=1)
        keys = keys[:, : self.n_pairs]
        values = torch.randint(0, self.n_values, (batch, self.n_pairs), generator=generator)
        order = torch.argsort(torch.rand(batch, self.n_pairs, generator=generator), dim=1)
        order = order[:, : self.n_queries]
        pairs = keys * self.n_values + values
        queries = self.query_offset + keys.gather(1, order)
        inputs = torch.cat([pairs, queries], dim=1)
        targets = torch.zeros_like(inputs)
        targets[:, self.n_pairs :] = self.value_offset + values.gather(1, order)
        scored = torch.zeros_like(inputs, dtype=torch.bool)
        scored[:, self.n_pairs :] = True
        return inputs, targets, scored

    def val_batches(self, n_sequences: int, batch: int, seed: int = 10_000):
        generator = torch.Generator().manual_seed(seed)
        return [self.batch(batch, generator) for _ in range(max(1, n_sequences // batch))]

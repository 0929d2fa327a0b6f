"""Named selections of implementations, defined once: what a claim's `scope` names, and what a
check's `@pytest.mark.cases("selection")` runs over.

A claim about "softmax as used in production" is about `production-softmax`; a sentence about
code without the max shift is about `naive-softmax`. Checks on implementations outside a claim's
scope are shown in its evidence and never change its verdict (docs/design.md). Implementations a
user brings (`--impl`, tag "user") and the deliberately broken ones (tag "broken") belong to no
selection's scope: they are judged by the conformance properties only, never charged to the
article. They are still run by a check whose selection their role and tags match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import cast

from softmax_claimcheck.impl.model import Implementation

OUTSIDE_EVERY_SCOPE = frozenset({"user", "broken"})


@dataclass(frozen=True)
class Selection:
    description: str
    role: str | None = None
    tags: frozenset[str] = frozenset()  # all of these
    any_tags: frozenset[str] = frozenset()  # at least one of these
    ids: tuple[str, ...] = ()  # exactly these (when given)

    def matches(self, implementation: Implementation) -> bool:
        if self.ids:
            return implementation.id in self.ids
        return (
            (self.role is None or implementation.role == self.role)
            and self.tags <= implementation.tags
            and (not self.any_tags or bool(self.any_tags & implementation.tags))
        )

    def in_scope(self, implementation: Implementation) -> bool:
        return self.matches(implementation) and not (OUTSIDE_EVERY_SCOPE & implementation.tags)


def _s(description: str, **fields: object) -> Selection:
    for key in ("tags", "any_tags"):
        if key in fields:
            fields[key] = frozenset(cast("Iterable[str]", fields[key]))
    return Selection(description, **fields)  # type: ignore[arg-type]


SELECTIONS: Mapping[str, Selection] = MappingProxyType(
    {
        "softmax": _s("every softmax, the naive formula included", role="softmax"),
        "shifted-softmax": _s(
            "every softmax that subtracts the maximum: production kernels, the article's code, "
            "our references",
            role="softmax",
            tags={"stable"},
        ),
        "production-softmax": _s(
            "softmaxes as used in production: shifted, row-wise on batched input (torch.softmax, "
            "compiled, Triton, our stable and online references)",
            role="softmax",
            tags={"stable", "row-wise"},
        ),
        "row-wise-softmax": _s(
            "every softmax that works row by row on batched input, naive included",
            role="softmax",
            tags={"row-wise"},
        ),
        "kernel-softmax": _s(
            "library and compiled kernels (torch.softmax, torch.compile, Triton)",
            role="softmax",
            any_tags={"library", "compiled", "triton"},
        ),
        "article-code": _s(
            "the article's three-line softmax as printed", ids=("numpy-article", "torch-article")
        ),
        "naive-softmax": _s(
            "the textbook formula without the max shift", ids=("numpy-naive", "torch-naive")
        ),
        "log-softmax": _s("every log-softmax", role="log-softmax"),
        "attention": _s("every attention implementation", role="attention"),
        "masking-attention": _s(
            "attention that takes a mask: references, SDPA backends, MHA, Triton",
            role="attention",
            tags={"masking"},
        ),
        "reference-attention": _s(
            "our reference attention (numpy, torch)", role="attention", tags={"reference"}
        ),
        "library-attention": _s(
            "library attention kernels (SDPA backends, nn.MultiheadAttention)",
            role="attention",
            tags={"library"},
        ),
        "normalizer": _s("the article's alternatives to softmax", role="normalizer"),
        "sum-normalize": _s(
            "divide by the sum (Brain Teaser #1)",
            ids=("numpy-sum-normalize", "torch-sum-normalize"),
        ),
        "relu-normalize": _s(
            "ReLU, then divide by the sum (Brain Teaser #3)",
            ids=("numpy-relu-normalize", "torch-relu-normalize"),
        ),
    }
)

# Scopes that name no implementation: a claim about these is decided by checks that run no
# implementation (the exact oracle, the article's text, a training experiment).
OTHER_SCOPES: Mapping[str, str] = MappingProxyType(
    {
        "math": "the mathematics, decided by the exact oracle",
        "article": "the article's own text and printed numbers",
        "training": "a training outcome, decided by an experiment",
    }
)

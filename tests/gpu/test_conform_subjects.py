"""The GPU run's conformance stage (scripts/gpu/conform_subjects.py): its subjects are the
registry's own implementations, loadable by the conform command as `conform_subjects:<id>`, and
by default every SDPA backend, torch.softmax and (where triton imports) our Triton kernels."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "gpu"))

import conform_subjects

from softmax_claimcheck.conformance.subject import subject_for
from softmax_claimcheck.impl import catalogue, library
from softmax_claimcheck.impl.loading import load


def test_the_default_subjects_are_every_sdpa_backend_our_kernels_and_torch_softmax():
    subjects = conform_subjects.default_subjects()
    assert {f"sdpa-{b}" for b in library.SDPA_BACKENDS} <= set(subjects)
    assert "torch-softmax" in subjects
    triton = {i.id for i in catalogue.triton_kernels()}
    assert triton <= set(subjects)


def test_the_conform_command_loads_a_registry_subject_in_sdpas_convention():
    target, _ = load("conform_subjects:sdpa-math")
    assert target.id == "sdpa-math"
    subject = subject_for(target, "sdpa-math", devices=("cpu",))
    assert subject.builtin is target  # judged with its known deviations
    assert subject.callee.convention == "sdpa" and subject.kind == "attention"  # as a user's


def test_an_unknown_subject_is_a_usage_error(tmp_path, capsys):
    assert conform_subjects.main(["--out", str(tmp_path), "--subjects", "sdpa-nope"]) == 2
    assert "unknown subjects: sdpa-nope" in capsys.readouterr().err

"""The page and sidecar of the training claims at GPU scale (scripts/gpu/scale_page.py), made
from synthetic GPU-run files in tmp_path in both verdict.json schemas: every value on them comes
from the run's files, old verdict names map to the reproduced family, and runs that say nothing
about GPU scale (smoke, cpu, garbage) are refused with one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "gpu"))

import scale_page  # noqa: E402

DEVICE = "NVIDIA H100 80GB HBM3 (synthetic)"


def _arm(steps: int, parameters: int, seq_len: int, layers: int = 3) -> dict:
    return {"parameters": parameters, "layers": layers, "heads": 2, "d_k": 64, "steps": steps,
            "batch": 16, "seq_len": seq_len, "tokens_seen_per_run": 1}  # fmt: skip


def _claim(claim_id: str, verdict: str, *, new: bool, preset: str = "gpu") -> dict:
    inputs = {
        "preset": preset, "device": "cuda", "seeds": 4, "grid_wall_s": 71.5,
        "lm-softmax-dk16-L3": _arm(640, 637_824, 128),
        "recall-softmax-dk16-L3": _arm(640, 743_040, 48),
        "lm-softmax-temperature-finetuned-dk16-L3": _arm(100, 637_836, 128),
    }  # fmt: skip
    claim = {
        "id": claim_id, "kind": "empirical", "scope": "training", "verdict": verdict,
        "statement": f"statement of {claim_id}", "explanation": f"explanation of {claim_id}",
        "checks": [{"nodeid": "x", "evidence": {"inputs": inputs}}],
    }  # fmt: skip
    if new:
        scale = {"preset": preset, "steps": 640, "parameters": 743_040, "context": 128,
                 "seeds": 4, "layers": 3, "tasks": ["lm", "recall"]}  # fmt: skip
        claim.update(family="training", finding=f"finding of {claim_id}", scale=scale)
    return claim


def _run(tmp_path: Path, verdicts: dict[str, str], *, new: bool, preset: str = "gpu") -> Path:
    run = tmp_path / "gpu-run"
    (run / "training").mkdir(parents=True)
    claims = [_claim(c, v, new=new, preset=preset) for c, v in verdicts.items()]
    claims.append({"id": "shift-invariance", "kind": "mathematical", "scope": "math",
                   "verdict": "SUPPORTED", "checks": []})  # fmt: skip
    verdict = {
        "schema_version": 2,
        "environment": {"python": "3.12.3", "torch": "2.11.0+cu128", "cpu": "x",
                        "gpu": {"available": True, "name": DEVICE, "cuda": "12.8"},
                        "date": "2026-12-06 17:00 UTC", "git_commit": "unknown (no git)"},
        "summary": {"finished": True}, "claims": claims,
    }  # fmt: skip
    (run / "training" / "verdict.json").write_text(json.dumps(verdict))
    summary = {"environment": {"device": DEVICE, "triton": "3.6.0", "commit": "abc123"},
               "stages": [{"name": "training", "status": "passed", "wall_s": 93.2,
                           "env": {"CLAIMCHECK_TRAINING_PRESET": preset}}]}  # fmt: skip
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def _generate(tmp_path: Path, run: Path, *extra: str) -> tuple[int, str, dict]:
    page, side = tmp_path / "docs" / "page.md", tmp_path / "docs" / "page.json"
    code = scale_page.main([str(run), "--page", str(page), "--sidecar", str(side), *extra])
    if code:
        return code, "", {}
    return code, page.read_text(), json.loads(side.read_text())


OLD = {"training-a": "SUPPORTED", "training-b": "REFUTED", "training-c": "PARTLY SUPPORTED",
       "training-d": "INCONCLUSIVE", "training-e": "ERROR", "training-f": "NOT RUN"}  # fmt: skip


def test_old_schema_verdicts_map_to_the_reproduced_family_with_the_scale_from_the_evidence(
    tmp_path,
):
    code, page, side = _generate(tmp_path, _run(tmp_path, OLD, new=False))
    assert code == 0
    assert {c: v["verdict"] for c, v in side["claims"].items()} == {
        "training-a": "REPRODUCED", "training-b": "NOT REPRODUCED",
        "training-c": "PARTLY REPRODUCED", "training-d": "INCONCLUSIVE", "training-e": "ERROR",
        "training-f": "NOT RUN",
    }  # fmt: skip
    assert "shift-invariance" not in side["claims"]  # not a training claim
    assert side["claims"]["training-a"]["finding"] == "explanation of training-a"
    assert side["schema"] == "claimcheck-scale/1"
    assert side["scale"] == {"steps": 640, "parameters": 743_040, "context": 128, "layers": 3,
                             "seeds": 4, "tasks": ["lm", "recall"], "preset": "gpu",
                             "device": DEVICE, "wall_s": 93.2}  # fmt: skip
    assert side["environment"] == {"torch": "2.11.0+cu128", "cuda": "12.8", "python": "3.12.3",
                                   "triton": "3.6.0"}  # fmt: skip
    assert side["commit"] == "abc123"  # the box had no .git: run.py's --commit
    assert side["date"] == "2026-12-06T17:00:00Z"
    assert side["finished"] is True
    for text in (
        DEVICE,
        "2.11.0+cu128",
        "abc123",
        "743,040",
        "NOT REPRODUCED",
        "statement of training-b",
    ):
        assert text in page
    assert "[`page.json`](page.json)" in page


def test_new_schema_reads_verdict_finding_and_scale_as_written(tmp_path):
    new = {"training-a": "REPRODUCED", "training-b": "NOT REPRODUCED",
           "training-c": "PARTLY REPRODUCED"}  # fmt: skip
    code, _, side = _generate(tmp_path, _run(tmp_path, new, new=True))
    assert code == 0
    assert {c: v["verdict"] for c, v in side["claims"].items()} == new
    assert side["claims"]["training-b"]["finding"] == "finding of training-b"
    assert side["claims"]["training-b"]["scale"]["tasks"] == ["lm", "recall"]


def test_a_run_that_did_not_finish_says_so(tmp_path):
    run = _run(tmp_path, OLD, new=False)
    summary = json.loads((run / "summary.json").read_text())
    summary["stages"][0]["status"] = "timed out"
    (run / "summary.json").write_text(json.dumps(summary))
    code, page, side = _generate(tmp_path, run)
    assert code == 0 and side["finished"] is False
    assert "did not finish" in page


def test_a_collected_folder_and_a_bare_verdict_file_are_read_too(tmp_path):
    run = _run(tmp_path, OLD, new=False)
    collected = tmp_path / "collected"
    collected.mkdir()
    (collected / "training-verdict.json").write_text(
        (run / "training" / "verdict.json").read_text()
    )
    (collected / "summary.json").write_text((run / "summary.json").read_text())
    assert _generate(tmp_path, collected)[0] == 0
    assert _generate(tmp_path, run / "training" / "verdict.json")[0] == 0


def test_an_unknown_verdict_is_one_line_naming_the_claim(tmp_path, capsys):
    code, _, _ = _generate(tmp_path, _run(tmp_path, {"training-a": "PROBABLY"}, new=False))
    assert code == 2
    assert "claim training-a: verdict 'PROBABLY'" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["smoke", "cpu"])
def test_a_run_of_another_preset_is_refused_unless_asked(tmp_path, capsys, preset):
    run = _run(tmp_path, OLD, new=False, preset=preset)
    assert _generate(tmp_path, run)[0] == 2
    assert f"the {preset} preset, not gpu" in capsys.readouterr().err
    assert _generate(tmp_path, run, "--any-preset")[0] == 0


def test_missing_or_broken_files_are_one_line(tmp_path, capsys):
    assert _generate(tmp_path, tmp_path / "nothing")[0] == 2
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "broken"
    (broken / "training").mkdir(parents=True)
    (broken / "training" / "verdict.json").write_text("{\n  oops")
    assert _generate(tmp_path, broken)[0] == 2
    assert "verdict.json:2: not JSON" in capsys.readouterr().err


def test_a_committed_sidecar_is_a_gpu_runs_and_has_its_page():
    """Until a GPU run exists neither file does; once one is committed, it is a gpu preset's
    run in this schema, beside its page."""
    side, page = ROOT / scale_page.SIDECAR, ROOT / scale_page.PAGE
    assert side.exists() == page.exists()
    if side.exists():
        data = json.loads(side.read_text())
        assert data["schema"] == scale_page.SCHEMA and data["scale"]["preset"] == "gpu"
        assert {c["verdict"] for c in data["claims"].values()} <= set(scale_page.VERDICTS)


def test_the_page_writes_the_sidecar_the_report_reads():
    """scale_page.py runs on a bare GPU box without the package's report code, so it states
    the sidecar's schema and place itself: they must be the engine's."""
    from softmax_claimcheck.claimcheck.report import scales

    assert scale_page.SCHEMA == scales.SCHEMA
    assert ROOT / scale_page.SIDECAR == ROOT / scales.DEFAULT

"""The GPU run's budget rules (scripts/gpu/budget.py, run.py): a plan that cannot fit the
command's limit is refused before anything starts, a stage that cannot start fails the run, a
stage over its time is stopped and recorded while the rest still run, spare time is handed on,
and each stage's files are collected the moment it ends. Fast: tiny stages of a second or two."""

from __future__ import annotations

import json
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "gpu"))

import budget  # noqa: E402
import run  # noqa: E402
from budget import BudgetError, Stage  # noqa: E402

PY = sys.executable


def _stage(name: str, code: str, budget_s: int = 10, **extra) -> Stage:
    return Stage(name, f"test stage {name}", [PY, "-c", code], budget_s, **extra)


def _run(stages: list[Stage], tmp_path: Path, limit: float, on_end=lambda s: None) -> None:
    budget.run_plan(stages, {}, ROOT, tmp_path, limit, time.monotonic(), on_end)


def test_budgets_over_the_limit_are_refused_naming_each_stage():
    stages = [_stage("a", "", 200), _stage("b", "", 200)]
    with pytest.raises(BudgetError, match=r"a 200 \+ b 200 \+ setup 30 = 430 s > 420 s"):
        budget.check_plan(stages, 420, 30)
    budget.check_plan(stages, 430, 30)  # exactly the limit fits


def test_the_real_plans_fit_their_limits_and_every_stage_can_start():
    """What the GPU box runs and what CI rehearses: budgets that add up, programs and files
    that exist (a renamed test file fails here, not on the device)."""
    plans = [
        (False, run.LIMIT_S, run.SETUP_RESERVE_S),
        (True, run.REHEARSAL_LIMIT_S, run.REHEARSAL_SETUP_RESERVE_S),
    ]
    for rehearsal, limit, reserve in plans:
        plan = run.stages(Path("/tmp/out"), rehearsal)
        budget.check_plan(plan, limit, reserve)
        assert [s.name for s in plan if budget.cannot_start(s, ROOT)] == []
        names = [s.name for s in plan]
        assert names[-5:] == ["claims", "kernels", "bench", "conformance", "training"]
    assert run.LIMIT_S <= 420  # the issue: at most 7 minutes on the box, the install included


def test_the_gpu_plan_runs_conformance_on_cuda_and_the_gpu_preset():
    plan = {s.name: s for s in run.stages(Path("/tmp/out"), rehearsal=False)}
    assert plan["conformance"].command[plan["conformance"].command.index("--devices") + 1] == "cuda"
    assert plan["training"].env["CLAIMCHECK_TRAINING_PRESET"] == "gpu"
    rehearsal = {s.name: s for s in run.stages(Path("/tmp/out"), rehearsal=True)}
    assert rehearsal["training"].env["CLAIMCHECK_TRAINING_PRESET"] == "smoke"
    assert "cpu" in rehearsal["conformance"].command


def test_main_refuses_a_plan_over_its_limit_before_installing_anything(tmp_path, capsys):
    out = tmp_path / "out"
    code = run.main(["--limit", "300", "--out", str(out), "--wheels", str(tmp_path / "none")])
    assert code == 2
    assert "do not fit the command's limit" in capsys.readouterr().err
    assert not out.exists()  # nothing ran, nothing installed


def test_main_refuses_an_unknown_stage(capsys):
    assert run.main(["--check", "--stages", "claims,trainig"]) == 2
    assert "unknown stage(s) trainig" in capsys.readouterr().err


def test_one_stage_alone_fits_where_all_would_not(capsys):
    assert run.main(["--check", "--stages", "training", "--limit", "200"]) == 0
    assert "training" in capsys.readouterr().out


def test_a_stage_that_cannot_start_fails_and_the_rest_still_run(tmp_path):
    missing = Stage("gone", "a renamed script", [PY, "scripts/gpu/no_such_script.py"], 10,
                    needs=["scripts/gpu/no_such_script.py"])  # fmt: skip
    no_program = Stage("noprog", "no such program", ["/nonexistent/python3"], 10)
    after = _stage("after", "print('ran')")
    _run([missing, no_program, after], tmp_path, 60)
    assert missing.status == "could not start" and "no_such_script.py" in missing.reason
    assert no_program.status == "could not start" and "not there" in no_program.reason
    assert after.status == "passed"
    assert not all(s.ok for s in (missing, no_program, after))


def test_a_stage_over_its_time_is_stopped_and_recorded_and_the_next_still_runs(tmp_path):
    slow = _stage("slow", "import time\nwhile True: time.sleep(0.05)", budget_s=2)
    after = _stage("after", "print('ran')", budget_s=5)
    began = time.monotonic()
    _run([slow, after], tmp_path, 7.5)
    assert slow.status == "timed out" and "stopped at" in slow.reason
    assert slow.wall_s <= 3.0
    assert after.status == "passed"
    assert time.monotonic() - began < 7.5
    assert "stopped at" in (tmp_path / "slow.log").read_text()


def test_a_stage_gets_what_earlier_stages_left_but_never_a_later_stages_budget(tmp_path):
    quick = _stage("quick", "pass", budget_s=6)
    middle = _stage("middle", "pass", budget_s=6)
    last = _stage("last", "pass", budget_s=6)
    _run([quick, middle, last], tmp_path, 20)
    assert quick.timeout_s <= 20 - 12 + 0.1  # the later two keep their 12 s
    assert last.timeout_s > 6  # the spare time of the first two
    assert all(s.ok for s in (quick, middle, last))


def test_a_stage_left_without_time_does_not_start(tmp_path):
    late = _stage("late", "pass", budget_s=6)
    budget.run_plan([late], {}, ROOT, tmp_path, 6, time.monotonic() - 5)
    assert late.status == "could not start" and "left" in late.reason


def test_each_stage_is_collected_as_it_ends(tmp_path):
    out, into = tmp_path / "out", tmp_path / "collect"
    (out / "training").mkdir(parents=True)
    (out / "training" / "verdict.json").write_text("{}")
    first = _stage("claims", "pass")
    second = _stage("training", "pass")
    plan = [first, second]
    recorder = run.Recorder(out, into, {"device": "test"}, [], plan, 60, time.monotonic())
    seen: list[list[str]] = []

    def on_end(stage: Stage) -> None:
        recorder.stage_ended(stage)
        seen.append(sorted(p.name for p in into.iterdir()))

    budget.run_plan(plan, {}, ROOT, out, 60, time.monotonic(), on_end)
    assert "claims.tar.gz" in seen[0] and "training.tar.gz" not in seen[0]
    assert seen[1] == ["claims.tar.gz", "summary.json", "summary.txt", "training-verdict.json",
                       "training.tar.gz"]  # fmt: skip
    assert len(seen[1]) <= 8  # the device tool returns at most 8 files
    summary = json.loads((into / "summary.json").read_text())
    assert [s["status"] for s in summary["stages"]] == ["passed", "passed"]
    with tarfile.open(into / "training.tar.gz") as archive:
        assert "training/verdict.json" in archive.getnames()


def test_main_fails_when_a_stage_cannot_start_and_still_runs_the_rest(
    tmp_path, monkeypatch, capsys
):
    """The whole command, its probes stubbed: exit 1, the summary names the stage and why."""

    def plan(out: Path, rehearsal: bool) -> list[Stage]:
        return [
            Stage("claims", "renamed", [PY, "gone.py"], 10, needs=["tests/no_such_folder"]),
            _stage("training", "print('trained')"),
        ]

    monkeypatch.setattr(run, "stages", plan)
    monkeypatch.setattr(run, "probe", lambda rehearsal: ({"device": "stub"}, []))
    monkeypatch.setattr(run, "_plugins_registered", lambda env: True)
    out, into = tmp_path / "out", tmp_path / "collect"
    args = ["--rehearsal", "--skip-install", "--out", str(out), "--collect", str(into)]
    assert run.main(args) == 1
    summary = json.loads((into / "summary.json").read_text())
    stages = {s["name"]: s for s in summary["stages"]}
    assert stages["claims"]["status"] == "could not start"
    assert "tests/no_such_folder" in stages["claims"]["reason"]
    assert stages["training"]["status"] == "passed"
    assert "could not start" in capsys.readouterr().out

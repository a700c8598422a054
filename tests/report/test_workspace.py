"""The W&B workspace of a sweep group builds offline (its spec is never saved in tests)."""

from __future__ import annotations

import json

import pytest

from unpact_exp.cli import main as unpact
from unpact_exp.report.workspace import attack_rates, spec_json, workspace_spec

pytest.importorskip("wandb_workspaces")


def panels(spec: dict) -> dict[str, list[dict]]:
    sections = spec["section"]["panelBankConfig"]["sections"]
    return {s["name"]: s["panels"] for s in sections}


def test_the_spec_has_the_sections_and_keys_the_runs_log() -> None:
    workspace = workspace_spec("team", "unpact-exp", "smollm2_worldfacts-2026")
    assert workspace.name == "unpact smollm2_worldfacts-2026"
    spec = json.loads(spec_json(workspace))
    found = panels(spec)
    assert list(found) == ["Dilemma", "Trajectories", "Attack rates", "Questions", "Report"]
    dilemma = found["Dilemma"][0]["config"]
    assert (dilemma["xAxis"], dilemma["yAxis"]) == (
        "summary:eval/destructive_rate",
        "summary:eval/forget_rate",
    )
    trajectories = [p["config"] for p in found["Trajectories"]]
    assert all(c["xAxis"] == "trainer/global_step" for c in trajectories)
    assert all(c["groupBy"] == "setting.value" and c["groupAgg"] == "mean" for c in trajectories)
    assert ["eval/forget_rate"] in [c["metrics"] for c in trajectories]
    focus, rates, controls = attack_rates()
    assert focus == "recovery_rate" and "probab_recovery_rate" in controls
    attacks = [p["config"] for p in found["Attack rates"]]
    assert attacks[0]["metrics"] == [f"eval/{r}" for r in rates]  # every registered attack
    assert attacks[1]["metrics"] == [f"eval/{r}" for r in (focus, *controls)]
    assert "eval/recovery_rate_ci_low" in attacks[2]["metrics"]
    assert attacks[3]["metrics"] == ["eval/focus_on_key_excess"]
    assert "eval/questions" in json.dumps(found["Questions"])
    assert "report/results" in json.dumps(found["Report"])
    (runset,) = spec["section"]["runSets"]
    (only,) = runset["filters"]["filters"]
    assert only["key"] == {"section": "run", "name": "group"}
    assert only["value"] == "smollm2_worldfacts-2026"
    assert runset["grouping"] == [{"section": "config", "name": "setting.value"}]


def test_unpact_workspace_dry_run_prints_the_spec(capsys) -> None:
    assert unpact(["workspace", "team/unpact-exp", "--group", "g1", "--dry-run"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec["section"]["runSets"][0]["filters"]["filters"][0]["value"] == "g1"


def test_a_bad_project_path_is_refused(capsys) -> None:
    assert unpact(["workspace", "unpact-exp", "--group", "g1", "--dry-run"]) == 2
    assert "is not ENTITY/PROJECT" in capsys.readouterr().err

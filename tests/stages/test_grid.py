"""``threshold_grid.py`` on a real (tiny) run: the run's own cell reproduces its recovery."""

from __future__ import annotations

import csv
from pathlib import Path

from omegaconf import OmegaConf

from unpact_exp.attacks.focus_on_key import focus_questions
from unpact_exp.attacks.focus_on_key_grid import read_grid_questions
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.stages.threshold_grid import main as grid_main
from unpact_exp.stages.threshold_grid import run_grid
from unpact_exp.unpact.keytokens import keys_phrase, keytokens

ALPHAS, BETAS = [0.1, 0.22, 0.5], [0.24, 0.6]


def _save_as_hydra_would(cfg, run: Path, cwd: Path) -> None:
    (run / ".hydra").mkdir(exist_ok=True)
    OmegaConf.save(cfg, run / ".hydra" / "config.yaml")
    OmegaConf.save({"hydra": {"runtime": {"cwd": str(cwd)}}}, run / ".hydra" / "hydra.yaml")


def test_grid_over_a_finished_run(make_cfg, tiny_target, artifacts, capsys) -> None:
    cfg = make_cfg(
        "method=ga",
        "regularizer=none",
        "trainer.max_steps=6",
        "callbacks=default",
        "callbacks.evaluation.every_n_steps=6",
    )
    main(cfg)
    run = Path(cfg.paths.output_dir)
    _save_as_hydra_would(cfg, run, artifacts.parent)
    final = read_results(run)["eval"]["6"]
    assert final["n_forgotten"] > 0

    here = [f"paths.root_dir={artifacts.parent}"]  # where the user runs it: the test's root
    cells, files, generated = run_grid(run, ALPHAS, BETAS, run / "grid", overrides=here)
    own = next(c for c in cells if (c.alpha, c.beta) == (0.22, 0.24))
    # The configured thresholds give back the callback's FocusOnKey recovery exactly.
    assert [own.n_recovered, own.n_questions] == final["recovery_rate_counts"]
    # Only distinct rewritten questions were generated.
    questions = read_grid_questions(run / "questions.csv", "original")
    templates = list(cfg.focus_on_key.templates)
    distinct = {
        text
        for a in ALPHAS
        for b in BETAS
        for q in questions
        if (phrase := keys_phrase(q.units, keytokens(q.contributions, a, b, "max")))
        for text in focus_questions(q.question, phrase, templates)
    }
    assert generated == len(distinct) <= len(ALPHAS) * len(BETAS) * len(questions) * 3
    with (run / "grid" / "threshold_grid.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(ALPHAS) * len(BETAS)
    assert files[1].read_bytes()[:4] == b"\x89PNG"

    out = ["--out", str(run / "g"), *here]
    assert grid_main([str(run), "--alpha", "0.22", "--beta", "0.24", *out]) == 0
    assert "1 cells over" in capsys.readouterr().out
    assert grid_main([str(run), "--alpha", "0", "--beta", "0.24"]) == 2
    assert "unpact.alpha=0.0 is out of range" in capsys.readouterr().err
    assert grid_main([str(run / "grid"), "--alpha", "0.2", "--beta", "0.2"]) == 2
    assert "not a train.py run directory" in capsys.readouterr().err

"""The README's first command and the quickstart notebook run and report what they promise."""

import runpy
from pathlib import Path

from softmax_sk.__main__ import main


def test_demo_prints_both_models(capsys):
    assert main(["--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "softmax-sk (default)" in out and "scikit-learn LogisticRegression" in out
    assert "accuracy" in out and "log-loss" in out and "fit time ratio" in out


def test_quickstart_notebook_runs(capsys):
    runpy.run_path(str(Path(__file__).parents[1] / "notebooks" / "quickstart.py"))
    assert "exactly zero" in capsys.readouterr().out

"""notebooks/targets_and_offsets.ipynb runs top to bottom and shows what it claims."""

from pathlib import Path

import pytest
from conftest import run_notebook

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "targets_and_offsets.ipynb"


def test_targets_notebook_runs_and_is_committed_without_outputs():
    pytest.importorskip("statsmodels")
    namespace = run_notebook(NOTEBOOK)
    # What the notebook says: shares beat the majority vote, replication and smoothing agree,
    # and the offset fit is statsmodels'.
    assert namespace["ce_shares"] < namespace["ce_majority"]
    assert namespace["coef_gap"] < 1e-6
    assert namespace["offset_gap"] < 1e-5
    assert namespace["smoothing_gap"] < 1e-6

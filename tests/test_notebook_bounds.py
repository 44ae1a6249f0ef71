"""notebooks/bounds_and_grouped_lasso.ipynb runs top to bottom and shows what it says."""

from pathlib import Path

import numpy as np
from conftest import run_notebook

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "bounds_and_grouped_lasso.ipynb"


def test_bounds_and_grouped_lasso_notebook_runs_and_its_claims_hold():
    ns = run_notebook(NOTEBOOK)
    # sign constraints: there was work to do, and they hold exactly
    assert (ns["free"].coef_ < 0).sum() > 0
    assert ns["signed"].coef_.min() == 0 and (ns["signed"].coef_ == 0).sum() > 0
    # the box: reached bounds hold exactly
    boxed = ns["boxed"]
    assert boxed.solver_ == "lbfgsb" and boxed.coef_[:, 2].min() == -0.5
    assert np.all(np.abs(boxed.intercept_) <= 1) and np.any(np.abs(boxed.intercept_) == 1)
    # grouped: whole columns, no noise feature; elementwise: some partial columns
    assert ns["partial"] == {"elementwise": ns["partial"]["elementwise"], "grouped": 0}
    assert ns["partial"]["elementwise"] > 0
    assert ns["kept"] and not any(name.startswith("noise") for name in ns["kept"])
    # the path: starts at the closed-form C_min, all zero there, and the first feature in
    # is the one with the largest gradient norm at 0
    assert np.isclose(ns["Cs"][0], 1.0 / ns["norms"].max(), rtol=1e-10)
    assert np.abs(ns["coefs"][0]).max() < 1e-9
    assert ns["entered"] == [ns["first"]]

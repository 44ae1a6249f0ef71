"""It works unchanged in scikit-learn's composition and model-selection tools."""

import numpy as np
import pandas as pd
import pytest
from conftest import make_problem
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from softmax_sk import SoftmaxRegressionClassifier


def test_pipeline_and_cross_validate_match_logistic_regression():
    X, y = make_problem(4)
    ours = cross_validate(
        make_pipeline(StandardScaler(), SoftmaxRegressionClassifier(tol=1e-10)),
        X,
        y,
        cv=3,
        scoring="neg_log_loss",
    )
    ref = cross_validate(
        make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10, max_iter=10_000)),
        X,
        y,
        cv=3,
        scoring="neg_log_loss",
    )
    np.testing.assert_allclose(ours["test_score"], ref["test_score"], rtol=1e-6)


def test_grid_search_scores_and_choice_match_logistic_regression():
    """Same folds, same grid: the same cross-validated scores and the same best C."""
    X, y = make_problem(3)
    grid = {"C": [0.003, 0.03, 1.0, 100.0]}

    def search(estimator):
        return GridSearchCV(estimator, grid, cv=3, scoring="neg_log_loss").fit(X, y)

    ours = search(SoftmaxRegressionClassifier(tol=1e-10, max_iter=1000))
    ref = search(LogisticRegression(tol=1e-10, max_iter=10_000))
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], rtol=1e-7
    )
    assert ours.best_params_ == ref.best_params_
    assert ours.best_params_["C"] not in (grid["C"][0], grid["C"][-1])  # a real choice


def test_grid_search_over_l1_ratio_runs():
    X, y = make_problem(3)
    search = GridSearchCV(
        SoftmaxRegressionClassifier(), {"C": [0.01, 1.0], "l1_ratio": [0.0, 0.5]}, cv=3
    ).fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_pandas_dataframe_and_feature_names():
    X, y = make_problem(3)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    df["colour"] = np.array(["red", "green", "blue"])[np.arange(len(df)) % 3]
    labels = pd.Series(np.array(["a", "b", "c"])[y], name="label")
    pre = ColumnTransformer(
        [("num", StandardScaler(), list(df.columns[:-1])), ("cat", OneHotEncoder(), ["colour"])]
    )
    model = make_pipeline(pre, SoftmaxRegressionClassifier()).fit(df, labels)
    assert set(model.predict(df)) <= {"a", "b", "c"}
    clf = SoftmaxRegressionClassifier().fit(df.iloc[:, :-1], labels)
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns[:-1])
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(df.iloc[:, :-1].to_numpy())

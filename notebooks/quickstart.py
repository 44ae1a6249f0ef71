# %% [markdown]
# # softmax-sk quickstart
# Fit, compare with scikit-learn, inspect probabilities and sparsity. Run as a script
# (`python notebooks/quickstart.py`) or open as a notebook with jupytext / VS Code cells.

# %%
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from softmax_sk import SoftmaxRegressionClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

# %% Same model as LogisticRegression, same objective
ours = make_pipeline(StandardScaler(), SoftmaxRegressionClassifier(tol=1e-8)).fit(X_train, y_train)
ref = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-8, max_iter=10_000)).fit(
    X_train, y_train
)
print("accuracy ours / sklearn:", ours.score(X_test, y_test), ref.score(X_test, y_test))
print(
    "max |proba difference|:", np.abs(ours.predict_proba(X_test) - ref.predict_proba(X_test)).max()
)

# %% L1: exact zeros
sparse = make_pipeline(StandardScaler(), SoftmaxRegressionClassifier(C=0.05, l1_ratio=1.0))
sparse.fit(X_train, y_train)
coef = sparse[-1].coef_
print(
    f"L1 fit: {np.mean(coef == 0):.0%} of coefficients are exactly zero; "
    f"test accuracy {sparse.score(X_test, y_test):.3f}; solver {sparse[-1].solver_}"
)

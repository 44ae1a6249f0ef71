"""``sparsify()`` and ``densify()``: ``coef_`` as a scipy CSR matrix and back.

The same two methods as scikit-learn's ``LogisticRegression`` (its private
``SparseCoefMixin``), written here so as not to depend on a private class.
``coef_`` is the only attribute converted; ``intercept_`` stays dense. A
sparse ``coef_`` is used as it is by prediction (``_layout.Layout.logits``),
and ``fit`` always stores a dense one again.
"""

import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted


class SparseCoefMixin:
    """``sparsify`` / ``densify`` for an estimator with a fitted ``coef_``."""

    def sparsify(self):
        """Convert ``coef_`` to a scipy sparse CSR matrix.

        Worth it after an L1 or elastic-net fit where most coefficients are
        exactly zero: a CSR ``coef_`` takes memory and prediction time in
        proportion to its nonzeros. Predictions do not change beyond rounding. ``intercept_``
        stays dense. The result is a ``scipy.sparse.csr_matrix``, as scikit-learn's
        by default (whatever its ``sparse_interface`` setting, so that a saved model
        needs one sparse type trusted: ``softmax_sk.TRUSTED_TYPES``).

        Returns
        -------
        self : object
            The fitted estimator, with a sparse ``coef_``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_iris
        >>> from softmax_sk import SoftmaxRegressionClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = SoftmaxRegressionClassifier(C=0.05, l1_ratio=1.0).fit(X, y)
        >>> before = clf.predict_proba(X)
        >>> clf.sparsify().coef_.format
        'csr'
        >>> np.allclose(clf.predict_proba(X), before, rtol=1e-12, atol=0)
        True
        >>> type(clf.densify().coef_).__name__
        'ndarray'
        """
        check_is_fitted(self, msg="This %(name)s instance must be fitted before sparsifying.")
        self.coef_ = sp.csr_matrix(self.coef_)
        return self

    def densify(self):
        """Convert a sparse ``coef_`` back to a dense ndarray (a no-op when it is dense).

        ``fit`` stores a dense ``coef_`` whatever it was before, so this is
        needed only to use the coefficients as an array.

        Returns
        -------
        self : object
            The fitted estimator, with a dense ``coef_``.
        """
        check_is_fitted(self, msg="This %(name)s instance must be fitted before densifying.")
        if sp.issparse(self.coef_):
            self.coef_ = self.coef_.toarray()
        return self

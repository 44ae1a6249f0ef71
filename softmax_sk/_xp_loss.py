"""The data term on the input's array-API device: a few large blocks, the iterate on the host.

``ArrayAPILoss`` is ``_loss.SoftmaxLoss`` with its blocks' arrays on X's device
(PyTorch, CuPy, ``array_api_strict``, ...), the block functions of
``_xp_blocks`` and ``ArrayAPIEngine``, which adds the blocks' partial sums on
the device. The solvers keep their flat float64 iterate on the host, unchanged:
each pass sends the coefficients to the device and brings the totals back
(``n_dof * k`` numbers each way). Measured on PyTorch's CPU device
(``benchmarks/results/gpu.md``), the two copies cost under 1 % of an
evaluation; what the host side does cost, for many coefficients, is the
solver's own vector algebra (an L-BFGS two-loop recursion over 359k
coefficients took about half an evaluation's time). On a GPU with the
linear-probe shape of issue #16 (769k coefficients) that would be a sizeable
share of each iteration, and solvers generic over the namespace (the iterate on
the device, only scalars crossing) would pay; they are not written yet.
"""

import contextlib

import numpy as np
from sklearn.utils._array_api import _max_precision_float_dtype, move_to

from . import _xp_blocks
from ._blocks import Block
from ._engine import SerialEngine, _run_share
from ._loss import SoftmaxLoss, block_arrays

# Rows per block are chosen so that one block of logits takes about this many
# bytes: the blocks are few (one matrix product each) and their temporaries
# (a few block-sized arrays) stay well inside a GPU's memory.
_DEVICE_BLOCK_BYTES = 2**28


class ArrayAPIEngine(SerialEngine):
    """Blocks in order on their device; coefficients sent there, totals brought back.

    Host (NumPy) arguments are moved to ``device`` before the blocks run; the
    partial sums are added on the device in its widest float, and the totals
    come back as Python floats and float64 NumPy arrays, as the other engines
    return them. States kept for later calls (``keep=True``) stay on the device.
    """

    def __init__(self, xp, device):
        self.xp, self.device = xp, device
        self.wide = _max_precision_float_dtype(xp, device)

    def _add(self, acc, partials):
        partials = [self.xp.astype(p, self.wide) for p in partials]
        if acc is None:
            return partials
        return [a + p for a, p in zip(acc, partials, strict=True)]

    def _to_device(self, a):
        return self.xp.asarray(a, device=self.device) if isinstance(a, np.ndarray) else a

    def reduce(self, fn, blocks, *args, kept=None, keep=False):
        args = tuple(self._to_device(a) for a in args)
        totals, states = _run_share(fn, blocks, kept, args, keep, add=self._add)
        host = tuple(
            float(t) if t.ndim == 0 else np.asarray(move_to(t, xp=np, device="cpu"), np.float64)
            for t in totals
        )
        return (host, states) if keep else host

    def running(self):
        return contextlib.nullcontext()


class ArrayAPILoss(SoftmaxLoss):
    """``SoftmaxLoss`` of dense X held by an array-API library, computed on X's device.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        float32 or float64, of namespace ``xp`` on ``device``; used as it is.
    y, sample_weight, layout
        As for ``SoftmaxLoss``, on the host (NumPy).
    xp, device
        X's array namespace and device.
    dtype : numpy dtype
        The NumPy dtype matching X's (the coefficients' dtype on the device).
    """

    block_functions = _xp_blocks

    def __init__(self, X, y, sample_weight, layout, *, xp, device, dtype):
        self.layout = layout
        self.dtype = np.dtype(dtype)
        self.engine = ArrayAPIEngine(xp, device)
        self.has_offset = False  # offsets, targets and smoothing: the NumPy path only
        labels, s, inv = (
            self.engine._to_device(a) for a in block_arrays(y, sample_weight, layout, self.dtype)
        )
        n = X.shape[0]
        rows = max(1, _DEVICE_BLOCK_BYTES // (self.dtype.itemsize * max(layout.k, 1)))
        bounds = np.linspace(0, n, max(1, -(-n // rows)) + 1).astype(int).tolist()
        self.blocks = [
            Block(X[a:b, ...], labels[a:b], s[a:b], inv[a:b])
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]

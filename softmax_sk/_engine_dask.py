"""An engine whose blocks live on Dask workers (``distributed``).

Same contract as ``_engine.SerialEngine.reduce``, but each entry of ``blocks`` is
a ``distributed.Future`` of one chunk's list of ``_blocks.Block`` s (cut by
``_loss.cut_blocks`` on the worker that holds the chunk; see ``_dask``). A call
sends the coefficients (inside the chunk tasks when small, else as one task
whose result the chunk tasks share, so that a worker fetches them once), runs
the block function over each chunk where it lives (``_engine._run_share``: the
serial engine's loop) and adds the chunks' partial sums in a tree, in order, up
to ``_FAN_IN`` per task, the root on the client: only a few partial sums travel
to it, never data. With ``keep`` the per-chunk states
(Newton-CG's probabilities) stay on the workers as futures for later calls.

Faults: every task here is in the scheduler's graph, down to the user's chunks,
so a chunk lost with a worker is recomputed elsewhere and the totals are the
same (the tree adds in a fixed order). What cannot be recomputed (data
scattered to a dead worker) or a task that keeps killing workers stops the fit
with a ``RuntimeError`` saying so, never a wrong total.
"""

import contextlib
from concurrent.futures import CancelledError

from distributed import KilledWorker

from ._engine import _run_share

# Coefficients up to this many bytes travel inside each chunk's task; larger ones
# go once to one task whose result the chunk tasks share (one more scheduler hop).
_INLINE_BYTES = 2**16
# Partial sums added per task of the tree reduction: few levels (each a scheduler
# hop) while a task still adds only a few small arrays.
_FAN_IN = 8


def _identity(value):
    return value


def _run_chunk(fn, blocks, kept, args, keep):
    """``fn`` over one chunk's blocks; ``kept``: an earlier ``keep`` call's output here."""
    totals, states = _run_share(fn, blocks, None if kept is None else kept[1], args, keep)
    return (totals, states) if keep else totals


def _item(pair, i):
    return pair[i]


def _add_all(*parts):
    """The sum of the partial sums ``parts``, in order."""
    return [sum(terms[1:], start=terms[0]) for terms in zip(*parts, strict=True)]


class DaskEngine:
    """Blocks held by the workers of a ``distributed.Client``; see the module docstring."""

    def __init__(self, client):
        self.client = client
        self.n_workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))

    def reduce(self, fn, blocks, *args, kept=None, keep=False):
        """Totals of ``fn`` over the chunks' blocks, as ``SerialEngine.reduce``; with
        ``keep`` the states come back as one future per chunk."""
        submit = self.client.submit
        small = sum(getattr(a, "nbytes", 0) for a in args) <= _INLINE_BYTES
        shared = args if small else submit(_identity, args, pure=False)
        outs = [
            submit(
                _run_chunk, fn, chunk, None if kept is None else kept[i], shared, keep, pure=False
            )
            for i, chunk in enumerate(blocks)
        ]
        states = outs if keep else None  # (totals, states) pairs, left on the workers
        if keep:
            outs = [submit(_item, out, 0, pure=False) for out in outs]
        while len(outs) > _FAN_IN:  # neighbours first: one worker's chunks tend to be adjacent
            outs = [
                submit(_add_all, *outs[i : i + _FAN_IN], pure=False)
                for i in range(0, len(outs), _FAN_IN)
            ]
        totals = tuple(_add_all(*_gather(self.client, outs)))  # the root, here
        return (totals, states) if keep else totals

    def running(self):
        """Context for a fit; nothing to set up (the workers own their BLAS)."""
        return contextlib.nullcontext()


def _gather(client, futures):
    try:
        return client.gather(futures)
    except (KilledWorker, CancelledError) as error:
        raise RuntimeError(
            "The Dask cluster lost part of the training data during the fit and could not "
            f"recompute it ({type(error).__name__}: {error}); the fit was stopped and no "
            "model was fitted. Data scattered to a worker that died cannot be recomputed: "
            "build X, y and sample_weight from a graph (e.g. dask.array.from_array or a "
            "file reader) rather than client.scatter, and check the workers' memory limits "
            "and logs."
        ) from error

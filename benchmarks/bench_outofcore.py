"""Out of core: stream a float32 np.memmap through partial_fit; peak anonymous memory, epoch time.

    python benchmarks/bench_outofcore.py --gb 1
    python benchmarks/bench_outofcore.py --gb 10 --path /big/disk/X.f32

The recipe (also in the README): a thread copies the next chunk into memory
while ``partial_fit`` works on this one (numpy releases the GIL while it
copies, and the copy waits on the disk, not on the fit):

    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))
    with ThreadPoolExecutor(1) as reader:
        for epoch in range(n_epochs):
            ahead = reader.submit(np.array, X[:chunk])
            for a in range(0, n, chunk):
                block = ahead.result()
                if a + chunk < n:
                    ahead = reader.submit(np.array, X[a + chunk : a + 2 * chunk])
                clf.partial_fit(block, y[a : a + chunk], classes=classes)

Writes a file of ``--gb`` gigabytes (d=100 features, labels from a random
softmax teacher over 10 classes, kept in memory: 8 bytes a row), then times
reading the file once in the same chunks (each chunk copied to memory), one
epoch of ``partial_fit`` with the reader thread per ``--epochs``, with
``--serial-epoch`` one more that reads each chunk before fitting it, and the
read again: the disk of a shared machine varies from pass to pass, and the
ratio is taken to the faster read. Before each pass the file's pages are
dropped from the page cache (``posix_fadvise(DONTNEED)``) with no mapping of
it alive (the kernel keeps pages a mapping holds), so every pass reads the
disk. Peak anonymous memory is the largest ``RssAnon`` of
``/proc/self/status`` (memory the process owns, not the page cache holding
the file) sampled after every chunk; the issue asks for less than 1 GiB.
Writes ``<out>/outofcore.json`` and ``outofcore.md``; the data file is deleted
at the end unless ``--keep``.
"""

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from bench_fit import (
    RUNS,
    add_out_argument,
    output_folder,
    run_meta,
    shared_machine_header,
    write_results,
)

from softmax_sk import SoftmaxRegressionClassifier

D = 100
N_CLASSES = 10


def rss_anon_bytes():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def drop_from_page_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def write_data(path, n, chunk, seed=0):
    """X (a float32 file) and its labels, written a chunk at a time."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, N_CLASSES)) / np.sqrt(D) * 3  # the teacher, as bench_fit's
    X = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, D))
    y = np.empty(n, dtype=np.int64)
    for a in range(0, n, chunk):
        block = rng.normal(size=(min(chunk, n - a), D))
        X[a : a + len(block)] = block
        y[a : a + len(block)] = _teacher_labels(block, W, rng)
    X.flush()
    del X
    return y


def _teacher_labels(block, W, rng):
    z = block @ W
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.minimum((p.cumsum(axis=1) < rng.random((len(block), 1))).sum(axis=1), N_CLASSES - 1)


def chunks(path, n, chunk, ahead, waited=None):
    """``(start, rows in memory)`` of every chunk of the freshly mapped, uncached file;
    with ``ahead``, a thread copies the next chunk while the caller works on this one,
    and ``waited[0]`` adds up the time spent waiting for it. The caller must hold no
    mapping of an earlier pass: it would keep pages cached."""
    drop_from_page_cache(path)
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, D))
    starts = range(0, n, chunk)
    if not ahead:
        for a in starts:
            yield a, np.array(X[a : a + chunk])
        return
    waited = [0.0] if waited is None else waited
    with ThreadPoolExecutor(1) as reader:
        next_block = reader.submit(np.array, X[:chunk])
        for a in starts:
            start = time.perf_counter()
            block = next_block.result()
            waited[0] += time.perf_counter() - start
            if a + chunk < n:
                next_block = reader.submit(np.array, X[a + chunk : a + 2 * chunk])
            yield a, block


def read_pass(path, n, chunk):
    """``(seconds, checksum)`` of copying every chunk to memory once."""
    start = time.perf_counter()
    checksum = 0.0
    for _, block in chunks(path, n, chunk, ahead=False):
        checksum += float(block[:, 0].sum())
    return time.perf_counter() - start, checksum


def epoch_pass(clf, path, y, chunk, ahead, peak):
    """``(seconds, seconds in partial_fit, seconds waiting for a read, peak RssAnon)``
    of one partial_fit epoch over the chunks."""
    start = time.perf_counter()
    fitting, waited = 0.0, [0.0]
    for a, block in chunks(path, len(y), chunk, ahead, waited):
        call = time.perf_counter()
        clf.partial_fit(block, y[a : a + chunk], classes=np.arange(N_CLASSES))
        fitting += time.perf_counter() - call
        peak = max(peak, rss_anon_bytes())
    return time.perf_counter() - start, fitting, waited[0], peak


def compute_alone(clf, X, y, chunk, n_chunks=10):
    """Median seconds of a partial_fit call on a chunk already in memory, nothing else
    running: the fit's own cost, which an epoch cannot go below."""
    times = []
    for a in range(0, min(len(y), n_chunks * chunk), chunk):
        block = np.array(X[a : a + chunk])
        start = time.perf_counter()
        clf.partial_fit(block, y[a : a + chunk])
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(gb, chunk, epochs, path, serial_epoch):
    n = int(gb * 1e9) // (4 * D)
    start = time.perf_counter()
    y = write_data(path, n, chunk)
    write_time = time.perf_counter() - start
    base = rss_anon_bytes()
    peak = base
    read_times = []
    seconds, checksum = read_pass(path, n, chunk)
    read_times.append(seconds)
    clf = SoftmaxRegressionClassifier(random_state=0)
    epoch_times, serial_times, fit_times, wait_times = [], [], [], []
    for ahead in [True] * epochs + [False] * serial_epoch:
        seconds, fitting, waited, peak = epoch_pass(clf, path, y, chunk, ahead, peak)
        (epoch_times if ahead else serial_times).append(seconds)
        if ahead:
            fit_times.append(fitting)
            wait_times.append(waited)
    read_times.append(read_pass(path, n, chunk)[0])
    test = slice(0, min(n, 20_000))
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, D))
    accuracy = float(clf.score(X[test], y[test]))  # before compute_alone trains further
    alone = compute_alone(clf, X, y, chunk)
    return {
        "gb": gb,
        "n": n,
        "d": D,
        "chunk": chunk,
        "write_time": write_time,
        "read_times": read_times,
        "read_time": min(read_times),
        "epoch_times": epoch_times,
        "fit_times": fit_times,
        "wait_times": wait_times,
        "serial_epoch_times": serial_times,
        "epoch_over_read": float(np.median(epoch_times) / min(read_times)),
        "partial_fit_alone_per_chunk": alone,
        "partial_fit_alone_epoch": alone * -(-n // chunk),
        "peak_rss_anon_mib": peak / 2**20,
        "rss_anon_before_mib": base / 2**20,
        "train_accuracy_first_rows": accuracy,
        "checksum": checksum,
    }


def markdown(results, meta):
    r = results[0]
    serial = r["serial_epoch_times"]
    reads = " / ".join(f"{t:.2f}" for t in r["read_times"])
    epochs = " / ".join(f"{t:.2f}" for t in r["epoch_times"])
    fitting = " / ".join(f"{t:.2f}" for t in r["fit_times"])
    waiting = " / ".join(f"{t:.2f}" for t in r["wait_times"])
    lines = [
        *shared_machine_header(meta),
        f"A {r['gb']} GB float32 memmap ({r['n']} x {r['d']}), chunks of {r['chunk']} rows, "
        "the file dropped from the page cache (no mapping alive) before each pass. Reads "
        "before and after the epochs; the epochs read the next chunk in a thread.",
        "",
        "| read once [s] (before / after) | partial_fit epoch [s] | in partial_fit [s] "
        "| waiting for the disk [s] | epoch / faster read "
        "| peak RssAnon [MiB] | RssAnon before [MiB] | accuracy (first rows) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {reads} | {epochs} | {fitting} | {waiting} | {r['epoch_over_read']:.2f} "
        f"| {r['peak_rss_anon_mib']:.0f} | {r['rss_anon_before_mib']:.0f} "
        f"| {r['train_accuracy_first_rows']:.4f} |",
    ]
    lines += [
        "",
        f"partial_fit alone, on a chunk in memory: {1e3 * r['partial_fit_alone_per_chunk']:.1f} "
        f"ms (median of 10), {r['partial_fit_alone_epoch']:.2f} s for the {r['n'] // r['chunk']} "
        "chunks of an epoch.",
    ]
    if serial:
        lines += ["", f"Epoch reading each chunk before fitting it: {np.median(serial):.2f} s."]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the data file")
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per partial_fit call")
    parser.add_argument("--epochs", type=int, default=1, help="epochs with the reader thread")
    parser.add_argument("--serial-epoch", action="store_true", help="also time an epoch without it")
    parser.add_argument("--path", help="data file (default: a new file in benchmarks/runs/)")
    parser.add_argument("--keep", action="store_true", help="keep the data file")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    meta = run_meta(argv)
    path = args.path
    if path is None:
        RUNS.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(suffix=".f32", dir=RUNS)  # on disk, never a tmpfs
        os.close(fd)
    try:
        with output_folder(args.out, "outofcore") as out:
            results = [run(args.gb, args.chunk, args.epochs, path, int(args.serial_epoch))]
            write_results(out, "outofcore", meta, results, markdown, None)
            print(markdown(results, meta))
    finally:
        if not args.keep:
            Path(path).unlink(missing_ok=True)
    return results


if __name__ == "__main__":
    main()

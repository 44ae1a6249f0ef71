"""Out of core: stream a float32 np.memmap through partial_fit; peak anonymous memory, epoch time.

    python benchmarks/bench_outofcore.py --gb 1
    python benchmarks/bench_outofcore.py --gb 10 --path /big/disk/X.f32

The recipe (also in the README):

    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))
    for epoch in range(n_epochs):
        for a in range(0, n, chunk):
            clf.partial_fit(X[a : a + chunk], y[a : a + chunk], classes=classes)

Writes a file of ``--gb`` gigabytes (d=100 features, labels from a random
softmax teacher over 10 classes, kept in memory: 8 bytes a row), then, with
the file's pages dropped from the page cache before each pass
(``posix_fadvise(DONTNEED)``, so the pass reads the disk), times (a) reading
the file once in the same chunks (each chunk copied to memory) and (b) one
epoch of ``partial_fit`` over the chunks. Peak anonymous memory is the largest
``RssAnon`` of ``/proc/self/status`` (memory the process owns, not the page
cache holding the file) sampled after every chunk; the issue asks for less
than 1 GiB. Writes ``<out>/outofcore.json`` and ``outofcore.md``; the data
file is deleted at the end unless ``--keep``.
"""

import argparse
import os
import tempfile
import time
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


def run(gb, chunk, epochs, path):
    n = int(gb * 1e9) // (4 * D)
    start = time.perf_counter()
    y = write_data(path, n, chunk)
    write_time = time.perf_counter() - start
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, D))
    classes = np.arange(N_CLASSES)
    base = rss_anon_bytes()
    peak = base

    drop_from_page_cache(path)
    start = time.perf_counter()
    checksum = 0.0
    for a in range(0, n, chunk):
        checksum += float(np.array(X[a : a + chunk])[:, 0].sum())
    read_time = time.perf_counter() - start

    clf = SoftmaxRegressionClassifier(random_state=0)
    epoch_times = []
    for _ in range(epochs):
        drop_from_page_cache(path)
        start = time.perf_counter()
        for a in range(0, n, chunk):
            clf.partial_fit(X[a : a + chunk], y[a : a + chunk], classes=classes)
            peak = max(peak, rss_anon_bytes())
        epoch_times.append(time.perf_counter() - start)
    test = slice(0, min(n, 20_000))
    return {
        "gb": gb,
        "n": n,
        "d": D,
        "chunk": chunk,
        "write_time": write_time,
        "read_time": read_time,
        "epoch_times": epoch_times,
        "epoch_over_read": float(np.median(epoch_times) / read_time),
        "peak_rss_anon_mib": peak / 2**20,
        "rss_anon_before_mib": base / 2**20,
        "train_accuracy_first_rows": float(clf.score(X[test], y[test])),
        "checksum": checksum,
    }


def markdown(results, meta):
    r = results[0]
    return "\n".join(
        [
            *shared_machine_header(meta),
            f"A {r['gb']} GB float32 memmap ({r['n']} x {r['d']}), chunks of {r['chunk']} rows, "
            "the file dropped from the page cache before each pass.",
            "",
            "| read once [s] | partial_fit epoch [s] | epoch / read | peak RssAnon [MiB] "
            "| RssAnon before [MiB] | accuracy (first rows) |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {r['read_time']:.2f} | {np.median(r['epoch_times']):.2f} | "
            f"{r['epoch_over_read']:.1f} | {r['peak_rss_anon_mib']:.0f} | "
            f"{r['rss_anon_before_mib']:.0f} | {r['train_accuracy_first_rows']:.4f} |",
        ]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the data file")
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per partial_fit call")
    parser.add_argument("--epochs", type=int, default=1)
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
            results = [run(args.gb, args.chunk, args.epochs, path)]
            write_results(out, "outofcore", meta, results, markdown, None)
            print(markdown(results, meta))
    finally:
        if not args.keep:
            Path(path).unlink(missing_ok=True)
    return results


if __name__ == "__main__":
    main()

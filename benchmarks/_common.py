"""Helpers shared by the benchmark scripts (not a benchmark itself)."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

Key = TypeVar("Key")


class Progress:
    """A one-line progress bar on stderr, one step per measurement."""

    def __init__(self, total: int, width: int = 24, label_width: int = 48):
        self.total, self.done, self.width, self.label_width = total, 0, width, label_width

    def show(self, label: str) -> None:
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        sys.stderr.write(f"\r[{bar}] {self.done}/{self.total} {label:<{self.label_width}}")
        sys.stderr.flush()

    def step(self, label: str) -> None:
        self.done += 1
        self.show(label)
        if self.done == self.total:
            sys.stderr.write("\n")


def time_per_call(
    fn: Callable[..., Any],
    args: tuple,
    sync: Callable[[Any], Any],
    min_time: float,
    min_iters: int = 3,
    warmup: int = 2,
) -> float:
    """Seconds per call of `fn(*args)`, after `warmup` calls (tracing / compilation excluded).

    Args:
        fn: the function to time.
        args: its arguments.
        sync: called on an output to wait for the device (e.g. fetch a tensor to NumPy).
        min_time: measure for at least this many seconds.
        min_iters: and at least this many calls.
        warmup: untimed calls first.
    """
    out = None
    for _ in range(warmup):
        out = fn(*args)
    if out is not None:
        sync(out)
    iters, start = 0, time.perf_counter()
    while True:
        out = fn(*args)
        iters += 1
        if iters >= min_iters and time.perf_counter() - start >= min_time:
            break
    sync(out)
    return (time.perf_counter() - start) / iters


def median_ms(call: Callable[[], Any], runs: int, warmup: int = 3) -> float:
    """Median wall time of `call()` in milliseconds over `runs` calls after `warmup` calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def best_of_rounds(measures: dict[Key, Callable[[], float]], rounds: int) -> dict[Key, float]:
    """The smallest of `rounds` results of each `measures[key]()` (e.g. a `median_ms`),
    the rounds going through every key in turn, so that machine noise hits all keys alike."""
    best: dict[Key, float] = {}
    for _ in range(rounds):
        for key, measure in measures.items():
            value = measure()
            best[key] = min(best.get(key, value), value)
    return best

"""Side-by-side latency measurement: configurations interleaved in rounds so they share the noise.

Used by the HTML report and by the scripts in benchmarks/."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def interleaved_medians(runners: dict[str, Callable[[], object]], rounds: int = 15, per_round: int = 5,
                        warmup: int = 5) -> dict[str, float]:
    """Median seconds per call of each runner; every round runs each configuration once untimed and
    then ``per_round`` timed times, so all configurations share the machine's noise."""
    for run in runners.values():
        for _ in range(warmup):
            run()
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            run()  # untimed: the first call after a switch pays for the previous configuration's cache traffic
            for _ in range(per_round):
                start = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}

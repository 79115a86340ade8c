"""Part: beyond one machine, measured locally. analyze in-process against the Beam DirectRunner (records per
second over the AudioSet eval set), and whether both give the same statistics."""

from __future__ import annotations

import time

import numpy as np

from .common import AUDIOSET, SAMPLE, Mode, log, save

MODEL = SAMPLE / "audioset_lstm.keras"
SIZES = {"quick": dict(pattern="eval-00000-*", workers=(2,)), "full": dict(pattern="eval-*", workers=(1, 2))}


def part(mode: Mode) -> dict:
    from lstmprune_cli.framework import beam_runner, jobs

    size = SIZES[mode.name]
    data = str(AUDIOSET / size["pattern"])
    start = time.perf_counter()
    local = jobs.analyze(MODEL, data, batch_size=64).statistics
    rows = [{"runner": "in-process", "workers": 1, "seconds": time.perf_counter() - start}]
    records = local.meta["sequences"]
    log("in-process", rows[-1])
    out = mode.results / "beam-stats.npz"
    mode.results.mkdir(parents=True, exist_ok=True)
    for workers in size["workers"]:
        options = f"--runner=DirectRunner --direct_num_workers={workers} --direct_running_mode=multi_processing"
        start = time.perf_counter()
        found = beam_runner.analyze(MODEL, data, None, output=out, beam_options=options, batch_size=64).statistics
        seconds = time.perf_counter() - start
        diff = max(float(np.max(np.abs(found.stats[n].covariance - s.covariance))) for n, s in local.stats.items())
        same = all(found.stats[n].count == s.count for n, s in local.stats.items())
        rows.append(
            {
                "runner": "beam DirectRunner",
                "workers": workers,
                "seconds": seconds,
                "max_cov_diff": diff,
                "same_counts": same,
            }
        )
        log("beam", rows[-1])
    out.unlink(missing_ok=True)
    for r in rows:
        r["records_per_second"] = records / r["seconds"]
    result = {"data": size["pattern"], "records": records, "rows": rows}
    save(mode, "scale", result)
    return result

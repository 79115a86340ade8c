"""Exploration, not a part: l0 and group-lasso at an allocation as part 1b runs them, one row per line.

    python -m bench.learned_allocation uniform 0.9,0.5 group-lasso,l0 0,1,2

Arguments: the allocation (`learn --allocate`: uniform, or none for the learners' own), thetas, methods, seeds.
Each row learns for LEARN epochs and fine-tunes for TUNE on part 1b's 4,000 clips; GAP@20 on eval-00001..3.
"""

from __future__ import annotations

import functools
import json
import sys


def main() -> None:
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.train import learners

    from . import audioset, learned
    from .common import AUDIOSET

    allocation, thetas, methods, seeds = sys.argv[1:5]
    learners.learn = functools.partial(learners.learn, allocation=None if allocation == "none" else allocation)
    calibration = str(AUDIOSET / "eval-00000-of-00004.tfrecord")
    data = dict(
        stats=jobs.analyze.analyze(audioset.MODEL, calibration, batch_size=64).statistics,
        budget=audioset.clips("bal_train-*", 4000),
        held=audioset.clips("eval-0000[1-3]-*", None),
        picked=audioset.validation_clips(),
        teacher=models.load_model(audioset.MODEL),
    )
    for theta in map(float, thetas.split(",")):
        for method in methods.split(","):
            for seed in map(int, seeds.split(",")):
                row = learned._learned_row(method, theta, seed, data, learned.LEARN, learned.TUNE)
                print(json.dumps({"allocation": allocation, **row}), flush=True)


if __name__ == "__main__":
    main()

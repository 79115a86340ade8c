"""GAP@20 right after the cut, removed units as 0 against removed units replaced by their mean.

    python bench/compensation.py

Sample model, statistics from sample_models/calibration.tfrecord, evaluation on AudioSet eval-00001.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    from lstmprune_cli.core.plan import build_plan
    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import jobs, models, recover
    from lstmprune_cli.framework.graph import unit_groups
    from lstmprune_cli.framework.surgery import prune_model
    from lstmprune_cli.framework.train import evaluate

    path = ROOT / "sample_models" / "audioset_lstm.keras"
    evaluation = str(ROOT.parent / "shared" / "data" / "audioset" / "eval-00001-of-00004.tfrecord")
    statistics = jobs.analyze(path, str(ROOT / "sample_models" / "calibration.tfrecord")).statistics
    model = models.load_model(path)
    task, _, stream = recover.training_streams(model, evaluation, Options(), 256, None, "auto")
    print(f"original: {evaluate(model, stream(), task).metrics}")
    groups, fp = unit_groups(model), models.fingerprint(model)
    vectors = jobs.unit_vectors(model, groups)
    means = {name: s.mean for name, s in statistics.stats.items()}
    for theta in (0.3, 0.5, 0.7):
        for criterion in ("gm", "l2"):
            for compensate in (False, True):
                plan = build_plan(
                    groups,
                    statistics.eigenvalues(),
                    vectors,
                    fp,
                    theta,
                    "units",
                    criterion,
                    1,
                    0,
                    means if compensate else None,
                )
                pruned = prune_model(model, plan.kept(), plan.fill())
                found = evaluate(pruned, stream(), task).metrics
                print(f"theta {theta} {criterion} {'compensated' if compensate else 'zero'}: {found}")


if __name__ == "__main__":
    main()

"""Benchmarks (not tests): `make bench` (hours) or `make bench-quick` (minutes) writes docs/benchmarks.md.

    python -m bench.run [--quick] [--document] [--shard I/N]
        [--only audioset,learned,ptb,learned-ptb,speed,cost,cuts,wide,recipe,scale,zoo,quantize]

`--shard 1/2` and `--shard 2/2`, started side by side, split part 1's rows between two processes (each best
with TF_NUM_INTRAOP_THREADS=1 on this machine); they share bench/progress and the last to end saves the part.

Each part saves its raw results as JSON beside the document; the document is rebuilt from all saved parts,
so a part can be rerun alone. Speed figures are ratios of models timed alternately in the same run.
"""

from __future__ import annotations

import argparse
import time

from . import (
    audioset,
    common,
    cost,
    cuts,
    document,
    learned,
    ptb,
    quantize,
    readme,
    recipe,
    scale,
    speed,
    wide,
    zoo,
)

PARTS = {  # name -> the function that runs it and saves its results
    "audioset": audioset.part,
    "learned": learned.part,
    "ptb": ptb.part,
    "learned-ptb": learned.ptb_part,  # after ptb: it cuts part 2's base model
    "speed": speed.part,
    "cost": cost.part,
    "cuts": cuts.part,
    "wide": wide.part,
    "recipe": recipe.part,
    "scale": scale.part,
    "zoo": zoo.part,
    "quantize": quantize.part,
}
DEFAULT = tuple(PARTS)  # what `make bench` runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole suite in minutes")
    parser.add_argument("--only", default=",".join(DEFAULT), help="comma-separated parts to run")
    parser.add_argument("--document", action="store_true", help="only rewrite the document from saved results")
    parser.add_argument("--shard", default="1/1", help="I/N: run the I-th of N shares of part 1's rows")
    args = parser.parse_args()
    shard = tuple(int(x) for x in args.shard.split("/") if x.isdigit())
    if len(shard) != 2 or args.shard.count("/") != 1 or not 1 <= shard[0] <= shard[1]:
        parser.error(f"--shard takes I/N with 1 <= I <= N, e.g. 1/2; received {args.shard}")
    mode = common.mode("quick" if args.quick else "full", (shard[0] - 1, shard[1]))
    parts = [] if args.document else [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"--only takes {', '.join(PARTS)}; received {', '.join(sorted(unknown))}")
    if parts:
        from lstmprune_cli.framework import import_tensorflow

        import_tensorflow()
    for name in parts:
        start = time.perf_counter()
        common.log(f"part {name} ({mode.name})")
        PARTS[name](mode)
        seconds = time.perf_counter() - start
        common.log(f"part {name} done in {seconds:.0f} s")
        common.timed(mode, name if shard[1] == 1 else f"{name}, shard {args.shard}", seconds)
    path = document.write(mode)
    if not mode.quick:  # the README's results come from the full document only
        readme.write(common.ROOT / "README.md", path)
    print(path)


if __name__ == "__main__":
    main()

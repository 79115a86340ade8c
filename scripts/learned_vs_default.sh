#!/usr/bin/env bash
# A learned cut against the default one-shot cut on the AudioSet sample, theta 0.5: GAP@20 on eval-00001 right
# after each cut (the learned methods after their training, the default with none, then after the same training
# budget of finetune), and whether the learned cut is exact. Run from the repository root after
# `make .venv/.installed`:  bash scripts/learned_vs_default.sh [EPOCHS, default 2] [PRIOR: obs (default) or none]
set -euo pipefail
E=${1:-2}  # epochs of training for every method (the learned ones and the default's finetune)
P=${2:-obs}  # the ranking the learned methods start from (learn --prior)
L=.venv/bin/lstmprune
A=../shared/data/audioset
M=sample_models/audioset_lstm.keras
W=$(mktemp -d)
$L analyze $M --data sample_models/calibration.tfrecord -w "$W/ws" --json > /dev/null
$L prune --theta 0.5 --out "$W/default.keras" -w "$W/ws" --no-latency --json > /dev/null
$L report --eval $A/eval-00001-of-00004.tfrecord -w "$W/ws" --json |
  .venv/bin/python -c "import json,sys; d=json.load(sys.stdin)['models']; print('default cut', {k: round(v['metrics']['gap@20'], 4) for k, v in d.items()})"
$L finetune "$W/default.keras" --data "$A/bal_train-*" --max-samples 4000 --epochs $E --schedule cosine \
  --val $A/eval-00000-of-00004.tfrecord --teacher $M -w "$W/ws" --out "$W/tuned.keras" --json > /dev/null
$L report --eval $A/eval-00001-of-00004.tfrecord -w "$W/ws" --json |
  .venv/bin/python -c "import json,sys; d=json.load(sys.stdin)['models']; print('default cut + $E epochs', round(d['finetuned']['metrics']['gap@20'], 4))"
for m in l0 group-lasso; do  # each trains $E epochs in all: it learns, is cut and compensated, then its cut trains
  cp -r "$W/ws" "$W/ws-$m"  # the analyzed workspace: its statistics rank the units of --prior
  $L learn --method $m --theta 0.5 --data "$A/bal_train-*" --max-samples 4000 --epochs $E --prior $P \
    --val $A/eval-00001-of-00004.tfrecord -w "$W/ws-$m" --out "$W/$m.keras" --json > "$W/$m.json"
  .venv/bin/python -c "import json; d=json.load(open('$W/$m.json')); print('$m', round(d['validation']['gap@20'], 4), 'exact', d['exact'], 'removed alive', d['removed_alive'], 'compensate', d['plan']['extra']['compensate'])"
done

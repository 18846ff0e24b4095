#!/usr/bin/env bash
# The C1 search (issue 35) in one prepared call on a lent GPU: eight trainings side by side, each pausing
# with a resumable state after MINUTES; then every try's folder packed into OUT (tar split in 15 MiB parts).
#
# Tries, fixed before any of them ran (2026-12-04):
#   label-wW      the label curriculum at small scale, seed 0, for every mixture weight W: forked from the
#                 sparse-only run at its hold (65,000: hold-seed0.safetensors, linear-w0.00's state there),
#                 the usual weight ramp (dense share 0 -> W over 5k steps), class labels on every prompt until
#                 85,000 (hold + 20k), withdrawn linearly by 100,000 (hold + 35k), then 60k label-free steps
#                 (cosine decay over the last 10%: 144k-160k).
#   label-w0.50-seed1  the same protocol for seed 1 (hold 135,000; labels until 155k, none from 170k; 230k
#                 steps): spec-seed1 (linear-w0.00-seed1's state at 71,253) trained to 135,000 first.
#   plain-w128    the plain protocol (no labels) at width 128 (capacity, issue item 2b), from scratch.
#   plain-l12     the plain protocol at 12 layers (item 2c), from scratch.
# Usage (repository root): MINUTES=8 DEVICE=cuda OUT=/some/dir bash data/sizing/c1-search/gpu.sh
set -u
cd "$(dirname "$0")/../../.."
S=data/sizing/c1-search
MINUTES=${MINUTES:-8}
DEVICE=${DEVICE:-cuda}
THREADS=${THREADS:-2}
OUT=${OUT:?set OUT to the folder that receives the packed states}
END=$(( $(date +%s) + ${MINUTES%.*} * 60 ))
left() { python3 -c "print(max(0.05, ($END - $(date +%s)) / 60))"; }
icl() { PYTHONUNBUFFERED=1 python3 -m icl "$@"; }
label() {  # label RUN KEEP_UNTIL DROP_BY STEPS: the label curriculum's overrides
  echo --set model.n_classes=2 --set curriculum.labels.keep_until=$2 --set curriculum.labels.drop_by=$3 --set train.steps=$4
}
common="--device $DEVICE --threads $THREADS --no-progress"
nvidia-smi --query-gpu=name,memory.used --format=csv 2>/dev/null
for w in 0.50 0.25 0.75 0.05 0.95; do
  icl train linear-w$w --scale small $(label linear-w$w 85000 100000 160000) --out $S/label-w$w \
      --fork-from $S/hold-seed0.safetensors $common --max-minutes $(left) > $S/label-w$w.log 2>&1 &
done
( icl train linear-w0.00-seed1 --scale small --out $S/spec-seed1 --pause-at 135000 $common --max-minutes $(left) \
  && [ -n "$(python3 -c "from icl.checkpoint import state_progress as p; print('y' if p('$S/spec-seed1/state.safetensors')[0] >= 135000 else '')")" ] \
  && icl train linear-w0.50-seed1 --scale small $(label x 155000 170000 230000) --out $S/label-w0.50-seed1 \
         --fork-from $S/spec-seed1/state.safetensors $common --max-minutes $(left) ) > $S/seed1.log 2>&1 &
icl train linear-w0.50 --scale small --set model.n_embd=128 --out $S/plain-w128 $common --max-minutes $(left) > $S/plain-w128.log 2>&1 &
icl train linear-w0.50 --scale small --set model.n_layer=12 --out $S/plain-l12 $common --max-minutes $(left) > $S/plain-l12.log 2>&1 &
while [ -n "$(jobs -r)" ]; do sleep 30; echo "$(date +%T) $(python3 -m experiments.c1_search steps $S 2>/dev/null | tr '\n' ' ')"; done
wait
nvidia-smi --query-gpu=name,memory.used --format=csv 2>/dev/null
python3 -m experiments.c1_search steps $S
# the seed-1 specialist comes back only while its fork has not started (the fork's state holds it after)
skip=""; [ -e $S/label-w0.50-seed1/state.safetensors ] && skip="--exclude=$S/spec-seed1"
tar cf - $skip --exclude='*.lock' $S/label-w* $S/spec-seed1 $S/plain-* $S/*.log | split -b 15M - "$OUT/c1-search.tar.part-"
ls -la "$OUT"

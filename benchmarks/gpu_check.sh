#!/usr/bin/env bash
# One short GPU check on the device machine (see docs/scaling.md): the default run on CUDA
# (epoch time, time to the quality bar, syncs), 16-mixed with GradScaler, bf16-mixed, n = 12,
# engine overhead, matmul peak and torch.compile, in about 3 minutes on an H100. Results:
# $OUT/gpu_check.log (a table) and $OUT/results.jsonl (every row). Needs, in .whl/, wheels of
# what the image lacks (pydantic, pydantic-core, annotated-types, typing-inspection,
# typing-extensions, geoopt; see the device README). Run from the repository root:
#     OUT=/tmp/out bash benchmarks/gpu_check.sh
# PRELOAD=module reruns the precision checks with that module imported first (a candidate
# fix to compare; EXTRA_PYTHONPATH=:dir finds it).
set -u
OUT=${OUT:-/tmp/tvae-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
ROOT=$(pwd)
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
# No install: the core and the plugins are importable from the tree; the benchmarks register
# the ternary components themselves when no entry point provides them.
export PYTHONPATH="/tmp/site:$ROOT:$(ls -d "$ROOT"/plugins/*/src | tr '\n' ':')${EXTRA_PYTHONPATH:-}"
cd "$ROOT/benchmarks" || exit 1
WORK=$(mktemp -d)
step() {  # step NAME LIMIT_S ARGS...: one benchmark; rows to the log and $OUT/results.jsonl
  local name=$1 limit=$2; shift 2
  echo "== $name $* ($(date +%T))"
  timeout "$limit" python3 "$@" --json >"$WORK/$name.json" 2>"$WORK/$name.err"
  local rc=$?
  python3 - "$WORK/$name.json" "$OUT/results.jsonl" <<'PY' || tail -n 5 "$WORK/$name.err"
import json, sys
rows = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
with open(sys.argv[2], "a") as fh:
    for r in rows:
        fh.write(json.dumps(r) + "\n")
for r in rows:
    v = r["value"]; v = f"{v:.4g}" if isinstance(v, float) else v
    print(f"  {r['metric']:55s} {v!s:>10} {r['unit']:8s} {r.get('note','')} {r.get('extra') or ''}"[:600])
PY
  echo "   rc=$rc"
}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, pydantic, geoopt; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
  step cuda_checks 50 cuda_checks.py --quick
  step quality 90 time_to_quality.py --device cuda
  step epoch_time 60 epoch_time.py --quick --device cuda
  if [ -n "${PRELOAD:-}" ]; then  # the precision runs again with a candidate fix preloaded
    export TVAE_BENCH_PRELOAD=$PRELOAD
    step cuda_checks_preload 45 cuda_checks.py --quick
    unset TVAE_BENCH_PRELOAD
  fi
  step n12 35 scale_n12.py --device cuda
  step overhead 25 overhead.py --quick --device cuda
  step flops 20 flops.py --quick --device cuda
  step compile 40 compiled.py --quick --device cuda
} 2>&1 | tee "$OUT/gpu_check.log"

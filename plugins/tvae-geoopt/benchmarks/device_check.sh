#!/usr/bin/env bash
# tvae-geoopt on a GPU machine, in one short call: the plugin tests (with the CUDA ones),
# then the step benchmark on CPU (2 threads, as the project's CPU machine, but unshared) and on
# CUDA. Log: $OUT/geoopt_check.log. Run from the repository root. Where pydantic or geoopt is
# missing it installs the wheels in .whl/ (see the device README) to /tmp/site.
set -u
export PYTHONUNBUFFERED=1
ROOT=$(pwd)
OUT=${OUT:-/tmp/tvae-geoopt-check}
mkdir -p "$OUT"
if ! python3 -c "import pydantic, geoopt" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH="/tmp/site:$ROOT:$ROOT/plugins/tvae-geoopt/src:$ROOT/plugins/tvae-homeostasis/src"
BENCH=plugins/tvae-geoopt/benchmarks/bench_geoopt_step.py
{
  nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null
  python3 -c "import torch, geoopt; print('torch', torch.__version__, 'geoopt', geoopt.__version__, 'cuda', torch.cuda.is_available())"
  # Entry points need installed distributions; the tree is only on PYTHONPATH here.
  timeout 180 python3 -m pytest -q -p no:cacheprovider plugins/tvae-geoopt plugins/tvae-homeostasis \
    -k "not entry_point" -rs
  for extra in "" "--manifold"; do
    timeout 60 python3 "$BENCH" --rounds 5 --threads 2 $extra
  done
  if python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    for extra in "" "--manifold"; do
      timeout 60 python3 "$BENCH" --rounds 5 --device cuda $extra
    done
  fi
} 2>&1 | tee "$OUT/geoopt_check.log"

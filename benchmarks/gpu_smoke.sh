#!/usr/bin/env bash
# One command for a lent GPU machine (the `device` tool): install, run the gpu-full grid on one
# built-in category with reduced steps, print per-job seconds, sampling images/s, peak GPU memory
# and the metrics table (benchmarks/gpu_smoke.py). Sized for <= 8 minutes on one H200.
#
# The device machine has torch, transformers, peft, timm, lightning, scikit-*, pandas, matplotlib
# (its image) but no network: the harness's other dependencies travel as wheels in .whl/, which
# `bash benchmarks/gpu_smoke.sh --fetch-wheels` downloads here (PyPI reachable) for Python 3.12.
# Then, through the device tool: run(command="bash benchmarks/gpu_smoke.sh", carry=[".whl"]).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  mkdir -p .whl && grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  for w in $(python3 benchmarks/gpu_smoke.py --list-wheels); do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .whl "$w" 2>/dev/null \
      || python3 -m pip wheel -q --no-deps -w .whl "$w" \
      || echo "not fetched: $w (look for another version on PyPI)" >&2  # sdist only: a pure-Python wheel built here
  done
  du -sh .whl
  exit 0
fi

if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import diffusers, anomalib, mlflow, omegaconf" 2>/dev/null || {
  echo "missing packages on this machine: run 'bash benchmarks/gpu_smoke.sh --fetch-wheels' where PyPI is reachable and carry .whl" >&2
  exit 2
}
exec python3 benchmarks/gpu_smoke.py "$@"

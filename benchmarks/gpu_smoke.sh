#!/usr/bin/env bash
# The GPU smoke on a bare GPU machine with no network (the `device` tool): installs the project
# from its own wheel with the wheels its import closure needs, checks the imports (printing the
# real error), then runs benchmarks/gpu_smoke.py (every plug-in of experiments/mvtec_loco.yaml on
# CUDA at reduced steps; per job seconds, peak GPU memory, mean GPU utilisation).
#
#   bash benchmarks/gpu_smoke.sh --fetch-wheels        # here, where PyPI is reachable: fills .whl/
#   device run: bash benchmarks/gpu_smoke.sh [--out $OUT] [gpu_smoke.py options]   (carry: [".whl"])
#   device run: bash benchmarks/gpu_smoke.sh --profile [--out $OUT]   # then benchmarks/gpu_profile.py
#
# The machine's image holds torch, transformers, peft, timm, lightning, scikit-*, pandas, matplotlib
# (DEVICE_IMAGE in gpu_smoke.py); the rest travels as cp312 wheels, the project's own included, so
# the registry finds its entry points. tests/benchmarks/test_gpu_smoke.py checks on CPU that these
# wheels plus the image's packages import everything the smoke imports.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  mkdir -p .whl
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  rm -f .whl/anomaly_aug_bench-*.whl
  python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl . 2>/dev/null || python3 -m pip wheel -q --no-deps -w .whl .
  platforms=()
  for n in 17 24 27 28 31 34 35; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
  platforms+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform linux_x86_64)
  missing=0
  for w in $(python3 benchmarks/gpu_smoke.py --list-wheels); do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      "${platforms[@]}" -d .whl "$w" 2>/dev/null && continue
    # an sdist only (FrEIA): build it here, and keep it only if it is pure Python (runs on any CPython)
    tmp=$(mktemp -d)
    if python3 -m pip wheel -q --no-deps -w "$tmp" "$w" 2>/dev/null && compgen -G "$tmp/*-py3-none-any.whl" >/dev/null \
       || compgen -G "$tmp/*-py2.py3-none-any.whl" >/dev/null; then
      mv "$tmp"/*.whl .whl/
    else
      echo "not fetched: $w (no cp312 manylinux wheel and not pure Python; pin another version)" >&2; missing=1
    fi
    rm -rf "$tmp"
  done
  ls .whl | wc -l | xargs echo "wheels:"
  du -sh .whl
  exit $missing
fi

profile=0
if [[ "${1:-}" == "--profile" ]]; then profile=1; shift; fi
out=""
for ((i = 1; i <= $#; i++)); do [[ "${!i}" == "--out" ]] && { j=$((i + 1)); out="${!j}"; }; done

if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
if ! err=$(python3 -c "
import importlib.metadata as md
assert md.entry_points(group='bench.generators'), 'no bench.generators entry points: the project is not installed (fetch its wheel with --fetch-wheels)'
import diffusers, anomalib, mlflow, omegaconf, pydantic
import harness.cli, harness.tracking, harness.report, generators.dhdiff.generator, detectors.frozen_seg
" 2>&1); then
  echo "the smoke cannot import what it needs on this machine:" >&2
  echo "$err" | tail -n 5 >&2
  echo "fix: run 'bash benchmarks/gpu_smoke.sh --fetch-wheels' where PyPI is reachable and carry .whl" >&2
  exit 2
fi
status=0
python3 benchmarks/gpu_smoke.py "$@" || status=$?
if [[ $profile == 1 ]]; then  # after the smoke: the stage profile of issue "Keep the GPU busy"
  python3 benchmarks/gpu_profile.py --device cuda --precision-check ${out:+--json "$out/profile.json"} || status=$?
fi
exit $status

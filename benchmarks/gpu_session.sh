#!/usr/bin/env bash
# One visit of a lent GPU in one command (issue 28; benchmarks/gpu_session.py says what it does).
# On the device: install the carried wheels of what the image lacks (without dependencies: the
# image's torch and transformers stay), put them and this checkout's src/ on PYTHONPATH, run the
# session; everything it writes goes under --out ($OUT there). Here, --dry-run prints the plan.
#   bash benchmarks/gpu_session.sh --dry-run
#   bash benchmarks/gpu_session.sh --out "$OUT" --budget-s 480   # the device call's command
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
case " $* " in
  *" --dry-run "*) ;;
  *)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
    ;;
esac
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec python3 benchmarks/gpu_session.py "$@"

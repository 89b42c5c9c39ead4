#!/usr/bin/env bash
# Serve crates/facility-data on http://127.0.0.1:8765/, standing in for a
# facility's data server (the example's remote input). Idempotent; `stop` ends it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${PRESERVE_DEMO_DATA_PORT:-8765}"
pidfile="${TMPDIR:-/tmp}/preserve-demo-data.pid"
python="${PYTHON:-python3}"
up() { curl -fsS -o /dev/null -I "http://127.0.0.1:$port/scan42/frames.h5"; }
case "${1:-start}" in
  start)
    if up 2>/dev/null; then exit 0; fi
    setsid nohup "$python" -m http.server --bind 127.0.0.1 --directory "$here/facility-data" "$port" \
      >"${TMPDIR:-/tmp}/preserve-demo-data.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 50); do up 2>/dev/null && exit 0; sleep 0.1; done
    echo "error: the demo data server did not start on 127.0.0.1:$port" >&2; exit 1 ;;
  stop) [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null; rm -f "$pidfile" ;;
esac

#!/usr/bin/env bash
# `make demo`: the toolkit's main job end to end on its embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
say() { printf '\n\033[1;32m$ %s\033[0m\n' "$*"; }

say "preserve doctor"
preserve doctor

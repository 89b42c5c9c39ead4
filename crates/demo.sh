#!/usr/bin/env bash
# `make demo`: the toolkit's main job end to end, printing each step.
#
#   doctor -> capture the example analysis -> push image + crate to the local
#   registry -> publish with a (sandbox) DOI -> delete the local image, the
#   caches and the crate -> rerun from the DOI alone and report the verdict.
#
# Everything the demo writes lives under out/demo/ (its own data and cache
# directories), so it never touches your own preserve configuration or stores.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export PATH="$root/.venv/bin:$PATH"
demo="$root/out/demo"
export PRESERVE_CONFIG="$demo/config.toml"
export PRESERVE_DATA_DIR="$demo/data"
export PRESERVE_CACHE_DIR="$demo/cache"
export PRESERVE_REGISTRY="${PRESERVE_REGISTRY:-127.0.0.1:5000/demo}"
export OMP_NUM_THREADS=1

say() { printf '\n\033[1;32m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

rm -rf "$demo" && mkdir -p "$demo"
echo "# preserve demo configuration: the registry comes from PRESERVE_REGISTRY" >"$PRESERVE_CONFIG"
PYTHON="$root/.venv/bin/python" bash crates/serve-data.sh start   # the 'facility data server'

run preserve doctor
run preserve capture crates/azimuthal-integration -o "$demo/crate"
run preserve push "$demo/crate"
say "preserve publish $demo/crate --json"
doi=$(preserve publish "$demo/crate" --json | tee /dev/stderr | python3 -c 'import json,sys; print(json.load(sys.stdin)["doi"])')
run preserve resolve "$doi"

say "# forget everything local: the image, the caches, the crate"
image=$(python3 -c 'import json,sys; g={e["@id"]: e for e in json.load(open(sys.argv[1]))["@graph"]}; print(g["#container-image"]["identifier"])' "$demo/crate/ro-crate-metadata.json")
docker image rm -f "$image" >/dev/null
rm -rf "$PRESERVE_CACHE_DIR" "$demo/crate"
echo "removed image $image, $PRESERVE_CACHE_DIR and the crate"

run preserve rerun "$doi" -o "$demo/rerun"
printf '\n\033[1;32mdone:\033[0m the analysis was preserved, published as %s and reproduced from the DOI alone.\n' "$doi"
echo "crates: $demo/rerun (the rerun, linked to the original by its DOI)"

#!/usr/bin/env bash
# `make demo`: the toolkit's main job end to end, printing each step.
#
#   doctor -> capture the example analysis -> push image + crate to the local
#   registry -> publish with a (sandbox) DOI -> delete the local image, the
#   caches and the crate -> rerun from the DOI alone and report the verdict
#   -> last act: deploy the published analysis as a function on this machine,
#   watch a folder, drop a new scan into it, show its processed output and crate.
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

say "# last act: the published analysis runs by itself when a new scan lands"
incoming="$demo/incoming"
mkdir -p "$incoming" "$demo/processed"
chmod 1777 "$demo/processed"   # the function runs as its image's user (repo2docker: uid 1000)
export PRESERVE_TARGETS_LOCAL_MOUNTS="$demo"   # the function container sees these folders
run preserve deploy "$doi" --to local --name azint
# however the act ends, the function's warm container does not outlive the demo
trap 'preserve undeploy azint >/dev/null 2>&1 || true' EXIT
cat >"$demo/rules.yaml" <<RULES
rules:
  - name: integrate-new-scans
    on:
      source: file://$incoming
      path: "**/*.h5"                 # closed after writing, or moved into place
      settle: 1s
    run:
      function: azint
      input: frames
      outputs: file://$demo/processed/{stem}/
RULES
run cat "$demo/rules.yaml"
say "preserve watch $demo/rules.yaml --journal $demo/journal.sqlite &"
preserve watch "$demo/rules.yaml" --journal "$demo/journal.sqlite" &
watcher=$!
trap 'kill -TERM "$watcher" 2>/dev/null || true; preserve undeploy azint >/dev/null 2>&1 || true' EXIT
sleep 4
say "# a new scan arrives: written beside, then moved into place"
"$root/.venv/bin/python" - "$incoming" <<'PY'
import os, sys
import h5py, numpy as np
rng = np.random.default_rng(43)
y, x = np.indices((256, 256))
r = np.hypot(x + 0.5 - 128, y + 0.5 - 128)
image = 50 + 2000 / (1 + r) + 700 * np.exp(-0.5 * ((r - 50) / 1.5) ** 2)
frames = rng.poisson(np.broadcast_to(image, (5, 256, 256))).astype(np.uint16)
part = os.path.join(sys.argv[1], "scan43.h5.part")
with h5py.File(part, "w", track_times=False) as fh:
    fh.create_dataset("entry/data/frames", data=frames, track_times=False)
os.rename(part, os.path.join(sys.argv[1], "scan43.h5"))
print("wrote", os.path.join(sys.argv[1], "scan43.h5"))
PY
for _ in $(seq 900); do
  [ -f "$demo/processed/scan43/ro-crate-metadata.json" ] && break
  sleep 0.2
done
kill -TERM "$watcher" && wait "$watcher" || true
trap 'preserve undeploy azint >/dev/null 2>&1 || true' EXIT
run preserve events --journal "$demo/journal.sqlite"
run ls -R "$demo/processed/scan43"
run head -n 5 "$demo/processed/scan43/outputs/profile.csv"
say "# the invocation crate: what ran, on what, started by which event"
python3 - "$demo/processed/scan43/ro-crate-metadata.json" <<'PY'
import json, sys
graph = {e["@id"]: e for e in json.load(open(sys.argv[1]))["@graph"]}
action = next(e for e in graph.values() if e.get("@type") == "CreateAction")
print("action  ", action["name"], "-", action["actionStatus"].rsplit("/", 1)[-1])
print("key     ", action["identifier"])
print("based on", graph["./"]["isBasedOn"]["@id"])
print("trigger ", graph["#trigger"]["name"], "|", graph["#trigger"]["description"])
print("outputs ", [o["@id"] for o in action["result"]])
PY
trap - EXIT
run preserve undeploy azint
printf '\n\033[1;32mdone:\033[0m scan43 was processed by the published function %s as it arrived.\n' "$doi"

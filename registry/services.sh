#!/usr/bin/env bash
# The local service stack preserve drives in development, demos and tests:
#   install     Debian packages (docker.io, docker-registry, debootstrap, skopeo; for the
#               catalogue service's tests: postgresql, without starting its system cluster,
#               chromium and chromium-driver)
#   docker      start dockerd in the background unless an engine already answers
#   registry    start the OCI registry on 127.0.0.1:5000 unless it answers
#   base-image  build the offline test/demo base image once per machine
#   up          all of the above
#   stop        stop the registry (and dockerd) started by this script
# Idempotent and quick when everything is in place. Run as root.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${PRESERVE_SERVICES_DIR:-/var/lib/preserve}"
registry_addr="${PRESERVE_REGISTRY_ADDR:-127.0.0.1:5000}"
base_image="${PRESERVE_BASE_IMAGE:-preserve-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages=(docker.io docker-registry debootstrap skopeo curl ca-certificates unzip chromium chromium-driver)
quiet_packages=(postgresql)   # tests start private clusters; the system one stays off
slurm_packages=(slurm-wlm munge)

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "error: $what did not come up within ${seconds}s" >&2
  return 1
}

install() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  install_quiet "${quiet_packages[@]}"
}

install_slurm() { install_quiet "${slurm_packages[@]}"; }

install_quiet() {  # install_quiet PACKAGE...: without starting the daemons they bring
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "installing Debian packages: ${missing[*]}"
  # The packages' maintainer scripts would start system-wide daemons (munged, slurmd,
  # postgresql); the tests run private ones instead, so keep invoke-rc.d from starting any.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  local rc=0
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
    || rc=$?
  if ((own_policy)); then rm -f "$policy"; fi
  return "$rc"
}

engine_up() { docker version --format '{{.Server.Version}}'; }

start_docker() {
  if engine_up >/dev/null 2>&1; then return 0; fi
  say "starting dockerd (log: $state/dockerd.log)"
  mkdir -p "$state"
  setsid nohup dockerd >"$state/dockerd.log" 2>&1 </dev/null &
  echo $! >"$state/dockerd.pid"
  wait_for 60 "dockerd" engine_up
}

registry_up() { curl -fsS -o /dev/null "http://$registry_addr/v2/"; }

start_registry() {
  if registry_up 2>/dev/null; then return 0; fi
  say "starting the OCI registry on $registry_addr (storage: $state/registry)"
  mkdir -p "$state/registry"
  REGISTRY_HTTP_ADDR="$registry_addr" \
  REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$state/registry" \
    setsid nohup docker-registry serve "$here/config.yml" >"$state/registry.log" 2>&1 </dev/null &
  echo $! >"$state/registry.pid"
  wait_for 30 "the registry" registry_up
}

build_base_image() {
  if docker image inspect "$base_image" >/dev/null 2>&1; then return 0; fi
  say "building the offline base image $base_image with debootstrap (once per machine)"
  local root
  root="$(mktemp -d /var/tmp/preserve-base.XXXXXX)"
  trap 'rm -rf "$root"' RETURN
  debootstrap --variant=minbase --include=python3,python3-numpy,python3-h5py \
    bookworm "$root" "$mirror" >"$state/debootstrap.log" 2>&1 \
    || { echo "error: debootstrap failed, see $state/debootstrap.log" >&2; return 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "debootstrap --variant=minbase bookworm + python3 numpy h5py" \
    - "$base_image" >/dev/null
}

stop() {
  for name in registry dockerd; do
    if [[ -f "$state/$name.pid" ]] && kill "$(cat "$state/$name.pid")" 2>/dev/null; then
      say "stopped $name"
    fi
    rm -f "$state/$name.pid"
  done
}

case "${1:-up}" in
  install) install ;;
  docker) start_docker ;;
  registry) start_registry ;;
  base-image) build_base_image ;;
  slurm) install_slurm ;;
  up) mkdir -p "$state"; install; start_docker; start_registry; build_base_image ;;
  stop) stop ;;
  *) echo "usage: $0 install|docker|registry|base-image|slurm|up|stop" >&2; exit 2 ;;
esac

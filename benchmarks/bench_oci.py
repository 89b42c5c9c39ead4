"""Benchmark: pushing and pulling a 1 GiB crate layer vs plain curl, same run, same registry.

Run manually (as root, with Debian's docker-registry installed)::

    .venv/bin/python benchmarks/bench_oci.py [--size-mib 1024] [--runs 3]

For each run a fresh registry (Debian's docker-registry) is started on a free
loopback port with empty storage, so no upload is skipped, then (the order of
curl and preserve alternates between runs, and before each timing dirty pages
are flushed and, as root, the page cache is dropped, so both read cold):

* reference push: ``POST /v2/<name>/blobs/uploads/`` then ``curl -T file PUT <location>&digest=``
  (monolithic, the digest computed beforehand and not timed);
* preserve push: ``RegistryStore.push_crate`` of a crate holding the file, in a
  child process whose peak RSS (``ru_maxrss``) is reported; it hashes the file
  and uploads it in chunked PATCHes;
* reference pull: ``curl -o out GET /v2/<name>/blobs/<digest>``;
* preserve pull: ``RegistryStore.pull_crate`` (verifies size and digest while
  streaming, receiving, hashing and writing in three threads; writes into a
  staging folder, renames), in a child process.

Targets: push and pull time <= 1.25x curl's, peak RSS <= 150 MiB. CPU seconds
(user + system) of each contender are reported beside the times: on a shared
machine they show what each costs independently of what else is running. The
load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "registry" / "config.yml"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from preserve.oci.refs import OciRef
from preserve.oci.registry import RegistryStore
from preserve.progress import QUIET
from preserve.settings import Settings

op, ref_text, path = sys.argv[1:4]
ref = OciRef.parse(ref_text)
store = RegistryStore(ref.registry, Settings.load())
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu0 = usage.ru_utime + usage.ru_stime
start = time.perf_counter()
if op == "push":
    out = str(store.push_crate(Path(path), ref, subject=None, annotations={}, progress=QUIET))
else:
    out = str(store.pull_crate(ref, Path(path), progress=QUIET).ref)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - cpu0
print(json.dumps({"seconds": seconds, "rss_mib": usage.ru_maxrss / 1024, "cpu": cpu, "ref": out}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    def __init__(self, work: Path) -> None:
        self.storage = Path(tempfile.mkdtemp(dir=work, prefix="registry-"))
        self.host = f"127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "REGISTRY_HTTP_ADDR": self.host,
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(self.storage),
        }
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(CONFIG)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            done = subprocess.run(
                ["curl", "-fsS", "-o", "/dev/null", f"http://{self.host}/v2/"], capture_output=True
            )
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.storage, ignore_errors=True)


def sha256_hex(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def settle(drop: bool) -> None:
    """Flush dirty pages and drop the page cache before a timing (root only).

    Without this, whoever writes second is throttled by the first one's
    writeback, and on this VM fresh page-cache pages are slow to come by.
    """
    os.sync()
    if drop and os.geteuid() == 0:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def curl_push(host: str, blob: Path, digest: str) -> float:
    head = subprocess.run(
        ["curl", "-fsS", "-i", "-X", "POST", f"http://{host}/v2/bench/curl/blobs/uploads/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    location = next(
        line.split(":", 1)[1].strip()
        for line in head.splitlines()
        if line.lower().startswith("location:")
    )
    start = time.perf_counter()
    subprocess.run(
        ["curl", "-fsS", "-o", "/dev/null", "-T", str(blob),
         "-H", "Content-Type: application/octet-stream", f"{location}&digest=sha256:{digest}"],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - start


def curl_pull(host: str, digest: str, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["curl", "-fsS", "-o", str(out), f"http://{host}/v2/bench/curl/blobs/sha256:{digest}"],
        check=True,
    )
    return time.perf_counter() - start


def children_cpu() -> float:
    """User + system CPU seconds of every child waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child(op: str, ref: str, path: Path, env: dict[str, str]) -> dict[str, float | str]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, op, ref, str(path)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    result: dict[str, float | str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--keep-caches", action="store_true", help="only sync before timings, keep the page cache"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-oci-", dir=args.workdir))
    env = {
        **os.environ,
        "PRESERVE_DATA_DIR": str(work / "data"),
        "PRESERVE_CACHE_DIR": str(work / "cache"),
        "PRESERVE_CONFIG": str(work / "config.toml"),
    }
    (work / "config.toml").write_text("")
    crate = work / "crate"
    crate.mkdir()
    (crate / "ro-crate-metadata.json").write_text('{"@graph": []}\n')
    blob = crate / "layer.bin"
    with blob.open("wb") as fh:
        for _ in range(args.size_mib):
            fh.write(os.urandom(1 << 20))
    digest = sha256_hex(blob)  # also warms the page cache for every contender
    size = blob.stat().st_size
    print(f"blob: {size / 2**20:.0f} MiB, {args.runs} runs, {os.cpu_count()} cores")

    rows: dict[str, list[float]] = {k: [] for k in ("curl_push", "push", "curl_pull", "pull")}
    cpu: dict[str, list[float]] = {k: [] for k in rows}
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")
    rss: dict[str, list[float]] = {"push": [], "pull": []}
    try:
        for run in range(args.runs):
            reg = Registry(work)
            try:
                # Alternate who goes first; settle the page cache before each timing.
                ours_first = run % 2 == 1
                for ours in (ours_first, not ours_first):
                    settle(not args.keep_caches)
                    if ours:
                        pushed = child("push", f"{reg.host}/bench/preserve:x", crate, env)
                        rows["push"].append(float(pushed["seconds"]))
                        rss["push"].append(float(pushed["rss_mib"]))
                        cpu["push"].append(float(pushed["cpu"]))
                    else:
                        before = children_cpu()
                        rows["curl_push"].append(curl_push(reg.host, blob, digest))
                        cpu["curl_push"].append(children_cpu() - before)
                for ours in (ours_first, not ours_first):
                    settle(not args.keep_caches)
                    if ours:
                        pulled = child("pull", str(pushed["ref"]), work / "pulled", env)
                        rows["pull"].append(float(pulled["seconds"]))
                        rss["pull"].append(float(pulled["rss_mib"]))
                        cpu["pull"].append(float(pulled["cpu"]))
                        assert sha256_hex(work / "pulled" / "layer.bin") == digest
                        shutil.rmtree(work / "pulled")
                    else:
                        before = children_cpu()
                        rows["curl_pull"].append(curl_pull(reg.host, digest, work / "curl.bin"))
                        cpu["curl_pull"].append(children_cpu() - before)
                        (work / "curl.bin").unlink()
                shutil.rmtree(work / "cache", ignore_errors=True)  # no mount hints across runs
            finally:
                reg.stop()
            print(
                f"run {run + 1}: curl push {rows['curl_push'][-1]:.2f}s, preserve push "
                f"{rows['push'][-1]:.2f}s ({rss['push'][-1]:.0f} MiB RSS); curl pull "
                f"{rows['curl_pull'][-1]:.2f}s, preserve pull {rows['pull'][-1]:.2f}s "
                f"({rss['pull'][-1]:.0f} MiB RSS)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in rows.items()}
    push_ratio = med["push"] / med["curl_push"]
    pull_ratio = med["pull"] / med["curl_pull"]
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    for op, ratio in (("push", push_ratio), ("pull", pull_ratio)):
        print(
            f"median {op}: preserve {med[op]:.2f}s vs curl {med['curl_' + op]:.2f}s "
            f"= {ratio:.2f}x (target <= 1.25x); CPU preserve {med_cpu[op]:.2f}s, "
            f"curl {med_cpu['curl_' + op]:.2f}s"
        )
    print(f"peak RSS: push {max(rss['push']):.0f} MiB, pull {max(rss['pull']):.0f} MiB (<= 150)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes skew timings)")


if __name__ == "__main__":
    main()

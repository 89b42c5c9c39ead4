"""Shim overhead: a warm ``/run`` on the local target vs ``docker exec`` of the same command.

Target (issue 11): with the function container started and its input cached, a
call through the shim (the local target's ``POST /run``, as OpenWhisk drives it:
normalise, describe the input at the storage and verify it from the cache, run
the recorded command, hash and ``PUT`` the outputs and the logs to the dCache
test server with their checksums, write and upload the invocation crate) adds
p50 <= 100 ms of wall time over running the same command with ``docker exec``
in the same container (Engine API exec, no CLI start-up), measured alternately
in the same run.

Run: ``.venv/bin/python benchmarks/bench_shim.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid

from _common import ROOT, deployed_function, isolated_env, preserve, workdir

sys.path.insert(0, str(ROOT))

SCRIPT = """
import sys, os, hashlib
data = open(sys.argv[1], "rb").read()
open(os.path.join(sys.argv[2], "digest.txt"), "w").write(hashlib.sha256(data).hexdigest() + "\\n")
open(os.path.join(sys.argv[2], "head.bin"), "wb").write(data[:4096])
"""


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    from tests.servers.dcache import DcacheServer

    base = workdir("bench-shim-")
    env = isolated_env(base)
    (base / "config.toml").write_text('[publisher]\nname = "Bench Lab"\n')
    storage = DcacheServer()
    storage.put("/data/input.bin", os.urandom(256 * 1024))
    deployed_function(
        base, env, "digest", SCRIPT, storage.url("/data/input.bin"), ["digest.txt", "head.bin"]
    )

    os.environ.update({k: v for k, v in env.items() if k.startswith("PRESERVE_")})
    from preserve.engine import docker_client
    from preserve.functions.deploy import find
    from preserve.progress import QUIET
    from preserve.settings import Settings
    from preserve.targets.base import Call, open_target

    settings = Settings.load()
    deployment = find(settings, "bench-digest")
    target = open_target(deployment.target, settings)
    container = docker_client().containers.get(deployment.endpoint_id)
    source = storage.url("/data/input.bin")

    command_times: list[float] = []

    def through_shim() -> float:
        name = uuid.uuid4().hex
        folder = storage.url(f"/out/{name}/", "dav")
        call = Call(str(uuid.uuid4()), {"inputs": {"data": source}, "output_to": folder})
        start = time.perf_counter()
        outcome = target.invoke(deployment, call, progress=QUIET)
        elapsed = time.perf_counter() - start
        assert outcome.result and outcome.result["status"] == "completed", outcome.result
        crate = json.loads(storage.files[f"/out/{name}/ro-crate-metadata.json"].data)
        wall = next(e for e in crate["@graph"] if e["@id"] == "#usage-wall-time")
        command_times.append(float(wall["value"]))  # the command alone, as the shim timed it
        return elapsed

    mount = deployment.spec["inputs"]["data"]["mount"]
    command = ["python3", "/app/run.py", mount, "/tmp/bench-ref"]

    def through_exec() -> float:
        start = time.perf_counter()
        code, out = container.exec_run(["mkdir", "-p", "/tmp/bench-ref"])
        code, out = container.exec_run(command)
        elapsed = time.perf_counter() - start
        assert code == 0, out
        return elapsed

    shim, exec_ = [], []
    try:  # a failed round must not leave the warm container behind
        through_shim()  # warm: the input is downloaded once and cached in the container
        load = os.getloadavg()
        for _ in range(args.rounds):
            shim.append(through_shim())
            exec_.append(through_exec())
        load_end = os.getloadavg()
        gets = [r for r in storage.requests("pool", "GET") if r.path.startswith("/data/")]
    finally:
        preserve("undeploy", "bench-digest", env=env)
        storage.close()

    own = [s - c for s, c in zip(shim, command_times[1:], strict=True)]
    p50_shim, p50_exec = statistics.median(shim), statistics.median(exec_)
    overhead = p50_shim - p50_exec

    def row(label: str, values: list[float]) -> str:
        p50, p90 = statistics.median(values) * 1000, percentile(values, 90) * 1000
        return f"{label:<30} p50 {p50:7.1f} ms  p90 {p90:7.1f} ms"

    print(f"rounds {args.rounds}, alternating; input 256 KiB, 2 outputs + logs + crate PUT")
    print(f"load average {load} at the start, {load_end} at the end")
    print(f"input downloads: {len(gets)} (capture, warm-up call); every timed call used the cache")
    print(row("shim POST /run (local target)", shim))
    print(row("docker exec (Engine API)", exec_))
    print(row("shim /run minus the command", own))
    print(f"overhead p50 (shim - exec): {overhead * 1000:.1f} ms (target <= 100 ms)")
    print(f"ratio shim/exec p50: {p50_shim / p50_exec:.2f}")
    print("PASS" if overhead <= 0.100 else "FAIL")


if __name__ == "__main__":
    main()

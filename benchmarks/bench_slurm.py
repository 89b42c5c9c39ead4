"""Reprocessing many files: one SLURM job array vs sequential local invocations.

Target (issue 11): 100 small invocations submitted as one job array
(``preserve invoke NAME --batch FILE`` on the ``slurm`` target: a real one-node
cluster on 127.0.0.1, Debian slurm-wlm + munge, whose tasks ``docker run`` the
pinned function image pulled from a loopback registry) finish in <= 0.75x the
time of 100 sequential ``preserve invoke NAME --target local`` commands (each a
new process, as a script looping over files runs them, against the warm local
function container). Both read new inputs from the dCache test server and
``PUT`` outputs, logs and crate back to it; every call is new (distinct inputs),
so none is answered from the record. Measured in the same run, the local loop
first. The same 100 calls through the Python API in one process
(``preserve.api.invoke`` in a loop) are reported beside, for reference.

The array runs with the slurm target's default ``calls_per_task = "auto"``: on a
node with fewer idle CPUs than calls, each task runs its share of the calls in one
container. ``--one-per-task`` also times the array with every call its own task and
container, for reference.

Run: ``.venv/bin/python benchmarks/bench_slurm.py [--calls N] [--one-per-task]`` (as
root: it starts munged, slurmctld and slurmd of its own, and a registry).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
import time
from typing import Any

from _common import ROOT, isolated_env, preserve, workdir

sys.path.insert(0, str(ROOT))

SCRIPT = """
import sys, os, hashlib
data = open(sys.argv[1], "rb").read()
open(os.path.join(sys.argv[2], "digest.txt"), "w").write(hashlib.sha256(data).hexdigest() + "\\n")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument(
        "--one-per-task",
        action="store_true",
        help="also time the array with every call its own task (calls_per_task = 1)",
    )
    args = parser.parse_args()
    n = args.calls
    # Stopped early: still stop the daemons and the registry it started (finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from tests.conftest import start_registry
    from tests.helpers import git_commit_all
    from tests.servers.dcache import DcacheServer
    from tests.servers.slurm import start_cluster

    base = workdir("bench-slurm-")
    env = isolated_env(base)
    (base / "config.toml").write_text('[publisher]\nname = "Bench Lab"\n')
    (base / "registry").mkdir()
    registry = start_registry(base / "registry")
    cluster = start_cluster(base / "slurm")
    storage = DcacheServer()
    try:
        env.update(
            PRESERVE_REGISTRY=registry.host,
            SLURM_CONF=str(cluster.conf),
            PRESERVE_TARGETS_SLURM_POLL_INTERVAL="0.5",
        )
        storage.put("/data/input.bin", b"published input")
        analysis = base / "digest"
        analysis.mkdir()
        (analysis / "run.py").write_text(SCRIPT)
        (analysis / "Dockerfile").write_text(
            "FROM preserve-base:bookworm\nCOPY run.py /app/run.py\n"
        )
        (analysis / "preserve.yaml").write_text(
            textwrap.dedent(f"""\
            name: digest
            title: Digest of a detector file
            license: MIT
            authors: [{{name: Bench Mark}}]
            command: [python3, /app/run.py, "{{inputs.data}}", "{{outdir}}"]
            inputs:
              data: {{uri: "{storage.url("/data/input.bin")}"}}
            outputs: [digest.txt]
            """)
        )
        git_commit_all(analysis)
        preserve("capture", str(analysis), "-o", str(base / "crate"), env=env)
        preserve("push", str(base / "crate"), env=env)
        published = preserve("publish", str(base / "crate"), "--json", env=env).stdout
        doi = json.loads(published)["doi"]
        preserve("deploy", doi, "--to", "local", "--name", "digest-local", env=env)
        preserve("deploy", doi, "--to", "slurm", "--name", "digest-slurm", env=env)

        def call(side: str, i: int) -> dict[str, object]:
            storage.put(f"/new/{side}/{i}.bin", f"{side} frame {i}".encode() * 64)
            return {
                "inputs": {"data": storage.url(f"/new/{side}/{i}.bin")},
                "output_to": storage.url(f"/out/{side}/{i}/", "dav"),
            }

        # Warm both sides once (the local container's first call; the nodes' image pull).
        warm = [call("warm-local", 0), call("warm-slurm", 0)]
        _invoke(env, "digest-local", warm[0])
        _batch(env, "digest-slurm", [warm[1]])

        load = os.getloadavg()
        local_calls = [call("local", i) for i in range(n)]
        start = time.perf_counter()
        for document in local_calls:
            _invoke(env, "digest-local", document)
        local = time.perf_counter() - start

        api_calls = [call("api", i) for i in range(n)]
        api = _api_loop(env, "digest-local", api_calls)

        slurm_calls = [call("slurm", i) for i in range(n)]
        start = time.perf_counter()
        results = _batch(env, "digest-slurm", slurm_calls)
        array = time.perf_counter() - start
        single = None
        if args.one_per_task:
            one = {**env, "PRESERVE_TARGETS_SLURM_CALLS_PER_TASK": "1"}
            single_calls = [call("single", i) for i in range(n)]
            start = time.perf_counter()
            assert all(
                r["status"] == "completed" for r in _batch(one, "digest-slurm", single_calls)
            )
            single = time.perf_counter() - start
        load_end = os.getloadavg()
        assert [r["status"] for r in results] == ["completed"] * n, results
        crates = [p for p in storage.files if p.endswith("ro-crate-metadata.json")]
        assert sum(p.startswith("/out/slurm/") for p in crates) == n
        assert sum(p.startswith("/out/local/") for p in crates) == n

        print(f"{n} calls each; node: {cluster.cpus} CPUs; input 1 KiB, 1 output + logs + crate")
        print(f"load average {load} at the start, {load_end} at the end")
        print(f"sequential `preserve invoke --target local` x{n}: {local:7.1f} s")
        print(f"  (the same calls through preserve.api in one process: {api:7.1f} s)")
        print(f"one SLURM job array (`preserve invoke --batch`):  {array:7.1f} s")
        if single is not None:
            print(
                f"  (the same, every call its own task and container: {single:7.1f} s, ratio "
                f"{single / local:.2f} to the sequential CLI, {single / api:.2f} to the API loop)"
            )
        ratio = array / local
        print(f"ratio array / sequential CLI: {ratio:.2f} (target <= 0.75)")
        print(f"ratio array / API loop:       {array / api:.2f}")
        print("PASS" if ratio <= 0.75 else "FAIL")
    finally:
        # Also after a failure: the local function's container is on the shared engine.
        for name in ("digest-local", "digest-slurm"):
            preserve("undeploy", name, env=env, check=False)
        storage.close()
        cluster.stop()
        registry.process.terminate()
        registry.process.wait(10)


def _invoke(env: dict[str, str], name: str, document: dict[str, object]) -> None:
    inputs = document["inputs"]
    assert isinstance(inputs, dict)
    args = [f"--input={k}={v}" for k, v in inputs.items()]
    done = preserve(
        "invoke",
        name,
        "--target",
        "local",
        *args,
        "--output-to",
        str(document["output_to"]),
        "--json",
        env=env,
    )
    assert json.loads(done.stdout)["status"] == "completed", done.stdout


def _batch(
    env: dict[str, str], name: str, documents: list[dict[str, object]]
) -> list[dict[str, Any]]:
    path = workdir("bench-slurm-batch-") / "calls.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in documents))
    done = preserve("invoke", name, "--batch", str(path), "--json", env=env, check=False)
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def _api_loop(env: dict[str, str], name: str, documents: list[dict[str, object]]) -> float:
    os.environ.update({k: v for k, v in env.items() if k.startswith("PRESERVE_")})
    from preserve import api
    from preserve.settings import Settings

    settings = Settings.load()
    start = time.perf_counter()
    for document in documents:
        inputs = document["inputs"]
        assert isinstance(inputs, dict)
        result = api.invoke(
            name, inputs=inputs, output_to=str(document["output_to"]), settings=settings
        )
        assert result["status"] == "completed"
    return time.perf_counter() - start


if __name__ == "__main__":
    main()

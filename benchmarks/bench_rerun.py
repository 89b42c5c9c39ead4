"""Rerun overhead: `preserve rerun DOI` vs a plain `docker run` of the same command.

Target (issue 6): with image and inputs cached, rerunning a function that itself
takes about 2 s adds <= 1.5 s of wall time over `docker run` of the same command
with the same mounts, measured in the same run. Run: `.venv/bin/python benchmarks/bench_rerun.py`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap

from _common import isolated_env, median, preserve, timed, workdir

ROUNDS = 5
SCRIPT = """
import sys, time, os
import numpy as np
data = np.frombuffer(open(sys.argv[1], "rb").read(), dtype=np.uint8)
time.sleep(2.0)
open(os.path.join(sys.argv[2], "stats.txt"), "w").write(f"{data.mean():.6f} {data.std():.6f}\\n")
"""


def main() -> None:
    base = workdir("bench-rerun-")
    env = isolated_env(base)
    analysis = base / "two-seconds"
    analysis.mkdir()
    (analysis / "run.py").write_text(SCRIPT)
    (analysis / "Dockerfile").write_text("FROM preserve-base:bookworm\nCOPY run.py /app/run.py\n")
    (analysis / "input.bin").write_bytes(bytes(range(256)) * 4096)
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent("""\
        name: two-seconds
        title: A function that takes about two seconds
        authors: [{name: Bench Mark, affiliation: {name: Test Lab}}]
        command: [python3, /app/run.py, "{inputs.data}", "{outdir}"]
        inputs: {data: {path: input.bin}}
        outputs: [stats.txt]
        """)
    )
    preserve("capture", str(analysis), "-o", str(base / "crate"), "--allow-dirty", env=env)
    doi = json.loads(preserve("publish", str(base / "crate"), "--json", env=env).stdout)["doi"]
    preserve("rerun", doi, "-o", str(base / "warm"), env=env)  # caches: crate, image, inputs
    image = json.loads((base / "crate" / "ro-crate-metadata.json").read_text())["@graph"]
    image_id = next(e for e in image if e["@id"] == "#container-image")["identifier"]

    out = base / "plain-out"
    docker = [
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{analysis / 'input.bin'}:/preserve/inputs/data/input.bin:ro",
        "-v",
        f"{out}:/preserve/outputs",
        image_id,
        "python3",
        "/app/run.py",
        "/preserve/inputs/data/input.bin",
        "/preserve/outputs",
    ]
    plain, wrapped = [], []
    for i in range(ROUNDS):  # interleaved, so machine noise hits both alike
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        out.chmod(0o777)
        plain.append(timed(lambda: subprocess.run(docker, check=True, capture_output=True)))
        target = base / f"rerun-{i}"
        wrapped.append(timed(lambda t=target: preserve("rerun", doi, "-o", str(t), env=env)))
    p, w = median(plain), median(wrapped)
    print(f"docker run (median of {ROUNDS}):       {p:.2f} s  {[round(x, 2) for x in plain]}")
    print(f"preserve rerun DOI (median of {ROUNDS}): {w:.2f} s  {[round(x, 2) for x in wrapped]}")
    print(f"overhead: {w - p:+.2f} s (target <= 1.50 s) -> {'PASS' if w - p <= 1.5 else 'FAIL'}")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

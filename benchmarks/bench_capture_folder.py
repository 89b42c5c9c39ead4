"""Capture of an analysis whose input is a folder of 100,000 small files (a detector scan).

Target (issue 3): the crate is written in <= 20 s with <= 1 GiB peak RSS, and it
still validates. The capture runs as a child process (`preserve capture`, as a
user runs it) so its peak RSS can be read. For scale, the same run reports how
long a plain `cp -r` of the folder takes on this machine.
Run: `.venv/bin/python benchmarks/bench_capture_folder.py [N_FILES]`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

from _common import ROOT, child_peak_rss_mib, isolated_env, workdir

N_FILES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
PER_DIR = 1000
COUNT = (
    "import os,sys; n=sum(len(f) for _,_,f in os.walk(sys.argv[1]));"
    " open(sys.argv[2]+'/count.txt','w').write(str(n))"
)


def make_scan(folder) -> int:  # type: ignore[no-untyped-def]
    total = 0
    for i in range(N_FILES):
        sub = folder / f"frames-{i // PER_DIR:03d}"
        if i % PER_DIR == 0:
            sub.mkdir(parents=True)
        data = os.urandom(64) * (8 + i % 17)
        (sub / f"frame-{i:06d}.raw").write_bytes(data)
        total += len(data)
    return total


def main() -> None:
    base = workdir("bench-capture-")
    env = isolated_env(base)
    analysis = base / "scan-summary"
    (analysis / "data").mkdir(parents=True)
    size = make_scan(analysis / "data" / "scan")
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent(f"""\
        name: scan-summary
        title: Summary of a detector scan with many frames
        license: CC-BY-4.0
        url: https://gitlab.example.org/beamline/scan-summary
        authors: [{{name: Bench Mark, affiliation: {{name: DESY, ror: https://ror.org/01js2sh04}}}}]
        environment: {{builder: image, image: "preserve-base:bookworm"}}
        command: [python3, -c, "{COUNT}", "{{inputs.scan}}", "{{outdir}}"]
        inputs: {{scan: {{path: data/scan}}}}
        outputs: [count.txt]
        """)
    )
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(analysis / "data" / "scan"), str(base / "cp-copy")], check=True)
    cp_s = time.perf_counter() - start
    shutil.rmtree(base / "cp-copy")

    crate = base / "crate"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "preserve", "capture", str(analysis), "-o", str(crate), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    capture_s = time.perf_counter() - start
    rss = child_peak_rss_mib()
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    count = (crate / "outputs" / "count.txt").read_text()
    report = base / "report.json"
    val = subprocess.run(
        [
            sys.executable,
            str(ROOT.parent / "shared" / "tools" / "validate-crate"),
            str(crate),
            "--profile",
            "process-run-crate-0.5",
            "--level",
            "recommended",
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
    )
    issues = json.loads(report.read_text()).get("issues", []) if report.exists() else ["no report"]
    print(f"input folder: {N_FILES} files, {size / 2**20:.0f} MiB; the run counted {count}")
    print(f"cp -r of the folder (scale reference): {cp_s:.2f} s")
    print(
        f"preserve capture: {capture_s:.2f} s (target <= 20 s) "
        f"-> {'PASS' if capture_s <= 20 else 'FAIL'}"
    )
    print(
        f"peak RSS of the capture process: {rss:.0f} MiB (target <= 1024 MiB) "
        f"-> {'PASS' if rss <= 1024 else 'FAIL'}"
    )
    print(
        f"validator (recommended): exit {val.returncode}, {len(issues)} issue(s)"
        + "".join(f"\n  - {i.get('message') if isinstance(i, dict) else i}" for i in issues)
    )
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

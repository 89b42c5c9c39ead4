"""Capture of an analysis whose input is a folder of 100,000 small files (a detector scan).

Reference: a plain `cp -r` of the same folder, in the same run. Targets (issue
9): the capture (`preserve capture`, run as a child process as a user runs it,
so that its peak RSS can be read) takes <= 3x the time of `cp -r`, with
<= 1 GiB peak RSS; the crate validates with 0 issues and its checksum manifest
verifies with `sha256sum -c`. `cp -r` and the capture alternate, REPEAT times
each (default 3); the medians are compared. Page cache warm for both (the
folder was just written).
Run: `.venv/bin/python benchmarks/bench_capture_folder.py [N_FILES] [REPEAT]`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

from _common import ROOT, child_peak_rss_mib, isolated_env, median, workdir

N_FILES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
REPEAT = int(sys.argv[2]) if len(sys.argv) > 2 else 3
TARGET = 3.0
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
    print(f"load average before: {_load()}")
    cp_times, capture_times = [], []
    crate = base / "crate"
    for _ in range(REPEAT):
        shutil.rmtree(base / "cp-copy", ignore_errors=True)
        start = time.perf_counter()
        scan, copy = analysis / "data" / "scan", base / "cp-copy"
        subprocess.run(["cp", "-r", str(scan), str(copy)], check=True)
        cp_times.append(time.perf_counter() - start)
        shutil.rmtree(crate, ignore_errors=True)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "preserve", "capture", str(analysis), "-o", str(crate)],
            env=env,
            capture_output=True,
            text=True,
        )
        capture_times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            sys.exit(proc.stderr)
    rss = child_peak_rss_mib()
    print(f"load average after: {_load()}")
    count = (crate / "outputs" / "count.txt").read_text()
    issues = _validate(crate, base / "report.json")
    verified = subprocess.run(
        ["sha256sum", "-c", "--quiet", "--strict", str(crate / "checksums" / "scan.sha256")],
        cwd=crate / "analysis" / "data" / "scan",
        capture_output=True,
        text=True,
    )
    cp_s, capture_s = median(cp_times), median(capture_times)
    ratio = capture_s / cp_s
    print(f"input folder: {N_FILES} files, {size / 2**20:.0f} MiB; the run counted {count}")
    print(f"cp -r of the folder: {_times(cp_times)}")
    print(f"preserve capture: {_times(capture_times)}")
    print(
        f"capture / cp -r (medians): {ratio:.2f}x (target <= {TARGET}x) "
        f"-> {'PASS' if ratio <= TARGET else 'FAIL'}"
    )
    print(
        f"peak RSS of the capture process: {rss:.0f} MiB (target <= 1024 MiB) "
        f"-> {'PASS' if rss <= 1024 else 'FAIL'}"
    )
    print(
        f"validator (recommended): {len(issues)} issue(s)"
        + "".join(f"\n  - {i.get('message') if isinstance(i, dict) else i}" for i in issues)
    )
    print(
        f"sha256sum -c of checksums/scan.sha256: exit {verified.returncode}"
        f" -> {'PASS' if verified.returncode == 0 else 'FAIL'} {verified.stdout[-300:]}"
    )
    shutil.rmtree(base, ignore_errors=True)


def _validate(crate, report) -> list[object]:  # type: ignore[no-untyped-def]
    """Issues the community validator finds (it runs `rocrate-validator`, beside python)."""
    path = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"
    proc = subprocess.run(
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
        env={**os.environ, "PATH": path},
    )
    if not report.exists():
        return [f"no report (exit {proc.returncode}): {proc.stderr[-300:]}"]
    issues: list[object] = json.loads(report.read_text()).get("issues", [])
    return issues


def _times(times: list[float]) -> str:
    return f"median {median(times):.2f} s ({', '.join(f'{t:.2f}' for t in times)})"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()

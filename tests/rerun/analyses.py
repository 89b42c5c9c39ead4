"""Small test analyses built for real with repo2docker (Dockerfile) on the offline base image."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.helpers import git_commit_all

# Same data every run, different bytes: a per-run attribute (as writers stamp run IDs
# and times) and a chunk layout that changes from run to run.
EQUIVALENT = """
import os, sys, uuid
import h5py, numpy as np
out = sys.argv[1]
x = np.linspace(0, 10, 1000)
chunk = 50 + int.from_bytes(os.urandom(1), "big") % 200
with h5py.File(os.path.join(out, "result.h5"), "w") as fh:
    fh.attrs["run_id"] = str(uuid.uuid4())
    g = fh.create_group("entry/data")
    g.create_dataset("x", data=x, chunks=(chunk,))
    g.create_dataset("y", data=np.sin(x) * np.exp(-x / 5), chunks=(chunk,))
open(os.path.join(out, "summary.txt"), "w").write("peak at 1.37\\n")
"""

# Unseeded Monte Carlo: the numbers change beyond any tight tolerance.
DIFFERENT = """
import os, sys, json
import h5py, numpy as np
out = sys.argv[1]
rng = np.random.default_rng()
samples = rng.random((200000, 2))
estimate = 4 * np.mean(np.sum(samples**2, axis=1) <= 1)
hist, _ = np.histogram(samples[:, 0], bins=20)
with h5py.File(os.path.join(out, "result.h5"), "w") as fh:
    fh.create_dataset("entry/pi_estimate", data=[estimate])
    fh.create_dataset("entry/histogram", data=hist)
json.dump({"pi": float(estimate)}, open(os.path.join(out, "result.json"), "w"))
"""

# Reads an input and a mode from it: sleeps, crashes or eats memory on demand.
CONTROLLED = """
import os, sys, time
mode_file, out = sys.argv[1], sys.argv[2]
mode = open(mode_file).read().strip()
if mode == "crash":
    print("about to fail: bad calibration", file=sys.stderr); sys.exit(7)
if mode.startswith("sleep"):
    time.sleep(float(mode.split()[1]))
if mode == "oom":
    hog = [bytearray(16 * 2**20) for _ in range(64)]
open(os.path.join(out, "done.txt"), "w").write(mode + "\\n")
"""


def make(
    tmp: Path,
    name: str,
    script: str,
    outputs: list[str],
    *,
    inputs: str = "",
    extra: str = "",
    args: str = '"{outdir}"',
    commit: bool = True,
) -> Path:
    analysis = tmp / name
    analysis.mkdir()
    (analysis / "run.py").write_text(script)
    (analysis / "Dockerfile").write_text("FROM preserve-base:bookworm\nCOPY run.py /app/run.py\n")
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent(f"""\
        name: {name}
        title: Test analysis {name}
        license: MIT
        authors: [{{name: Test Author}}]
        command: [python3, /app/run.py, {args}]
        outputs: {outputs}
        """)
        + inputs
        + extra
    )
    if commit:
        git_commit_all(analysis)
    return analysis

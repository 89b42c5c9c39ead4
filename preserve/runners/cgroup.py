"""Peak memory and CPU time of a running container, sampled from its cgroup.

The Engine API reports no totals after a container exits, so a thread samples
the container's cgroup while it runs: on cgroup v1 ``memory.max_usage_in_bytes``
is a true high-water mark, on v2 ``memory.peak`` (kernel >= 5.19) or the
largest ``memory.current`` seen. CPU time is the last cumulative reading, so a
run can be under-reported by at most one sampling interval.
"""

from __future__ import annotations

import threading
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
INTERVAL = 0.05


def _cgroup_files(pid: int) -> tuple[list[Path], list[tuple[Path, float]]]:
    """Memory files (peak first) and CPU files with their unit in seconds."""
    memory: list[Path] = []
    cpu: list[tuple[Path, float]] = []
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return memory, cpu
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        names = controllers.split(",")
        if controllers == "":  # cgroup v2 unified hierarchy
            base = ROOT / rel if (ROOT / "cgroup.controllers").exists() else ROOT / "unified" / rel
            memory += [base / "memory.peak", base / "memory.current"]
            cpu.append((base / "cpu.stat", 1e-6))
        if "memory" in names:
            memory.insert(0, ROOT / "memory" / rel / "memory.max_usage_in_bytes")
        if "cpuacct" in names:
            cpu.insert(0, (ROOT / "cpuacct" / rel / "cpuacct.usage", 1e-9))
    return [m for m in memory if m.exists()], [(c, u) for c, u in cpu if c.exists()]


def _read_cpu(path: Path, unit: float) -> float | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    if path.name == "cpu.stat":
        for line in text.splitlines():
            if line.startswith("usage_usec"):
                return int(line.split()[1]) * unit
        return None
    return int(text.strip()) * unit


class CgroupSampler:
    """Samples a process's cgroup in a background thread until stopped."""

    def __init__(self, pid: int) -> None:
        self.memory_files, self.cpu_files = _cgroup_files(pid)
        self.peak_memory: int | None = None
        self.cpu_seconds: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> CgroupSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(INTERVAL):
                return

    def sample(self) -> None:
        for path in self.memory_files:
            try:
                value = int(path.read_text().strip())
            except (OSError, ValueError):
                continue
            self.peak_memory = max(self.peak_memory or 0, value)
            break
        for path, unit in self.cpu_files:
            seconds = _read_cpu(path, unit)
            if seconds is not None:
                self.cpu_seconds = max(self.cpu_seconds or 0.0, seconds)
                break

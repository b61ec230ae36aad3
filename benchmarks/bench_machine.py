"""The machine a benchmark ran on, and the results file it writes (data/results/bench_<name>.json).

A timing means little without its machine: the same script gives 3.0x on one 2-core CPU and 1.9x on another.
Each benchmark's `--results` option writes its table together with `machine()` (CPU model, CPUs, torch threads,
torch version, the vectorised kernels torch picked, the load average when it started, the date) and the command
that made it, so that README.md and chapter 09 can read, and tests/test_bench_results.py can hold them to, the
numbers of one named run.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "data" / "results"


def results_path(name: str) -> Path:
    """Where `--results` writes benchmark `name`'s file by default."""
    return RESULTS_DIR / f"bench_{name}.json"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def short_cpu(model: str) -> str:
    """'Intel(R) Xeon(R) Processor' -> 'Intel Xeon', 'AMD EPYC 7B13 64-Core Processor' -> 'AMD EPYC 7B13'."""
    words = [w for w in model.replace("(R)", "").replace("(TM)", "").replace("(tm)", "").split()
             if w not in ("Processor", "CPU", "@") and not w.endswith(("-Core", "GHz"))]
    return " ".join(words[:3]) or model


def cpus() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_avg() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine() -> dict:
    """What the timings depend on, read now (call it after setting the thread count)."""
    load = load_avg()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpus": cpus(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_start": load[0] if load else None,
        "load_avg_start_1_5_15": load,
    }


def busy(env: dict) -> bool:
    """True when the 1-minute load at the start exceeded half the CPUs: other processes were running."""
    return env.get("load_avg_start") is not None and env["load_avg_start"] > 0.5 * env["cpus"]


def command(script: str, argv: list[str]) -> str:
    """The shell command that reruns a benchmark with these arguments."""
    return " ".join(["python", f"benchmarks/{script}", *(shlex.quote(a) for a in argv)])


def write_results(path: Path, name: str, script: str, argv: list[str], env: dict, results: dict) -> Path:
    """Write {benchmark, command, machine, results} to `path`; the end load average is added to `env`."""
    env = {**env, "load_avg_end_1_5_15": load_avg()}
    record = {"benchmark": name, "command": command(script, argv), "machine": env, "results": results}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=str) + "\n")
    print(f"wrote {path}")
    return path

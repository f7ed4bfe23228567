"""Execute every notebook in a fresh kernel and report wall time and peak memory against the budgets.

Run from the repository root, with nothing else busy on the machine::

    python tools/benchmark.py                 # every notebook in book/
    python tools/benchmark.py book/part1_multitask/01_why_several_tasks.ipynb

It prints a Markdown table and writes it to ``benchmark/results.md``. Each notebook runs in its own
process, so the peak memory is that notebook's kernel alone (the largest resident set size it reached).
Timings are not asserted by any test: they vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.sync_install_cell import notebooks  # noqa: E402

#: Budgets from the issues: seconds of wall time and bytes of peak memory per notebook.
DEFAULT_SECONDS = 90.0
SECONDS = {"book/part1_multitask/01_why_several_tasks.ipynb": 60.0}
PEAK_BYTES = 2 * 1024**3
BOOK_SECONDS = 15 * 60.0


def run_one(path: Path) -> dict[str, float]:
    """Execute one notebook in a fresh kernel; return its wall time and the kernel's peak memory."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()  # starts a kernel, runs every cell, shuts the kernel down
    wall = time.perf_counter() - start
    peak = (
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    )  # Linux reports KiB
    return {"seconds": wall, "peak_bytes": float(peak)}


def measure(path: Path) -> dict[str, float]:
    """Run :func:`run_one` in a child process, so that each notebook's peak is its own."""
    result = subprocess.run(
        [sys.executable, __file__, "--one", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"{path} failed to execute:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = [
        "| notebook | wall time (s) | budget (s) | peak memory (MiB) | budget (MiB) | within budget |"
    ]
    lines.append("|---|---:|---:|---:|---:|---|")
    for name, m in rows:
        budget = SECONDS.get(name, DEFAULT_SECONDS)
        ok = m["seconds"] <= budget and m["peak_bytes"] <= PEAK_BYTES
        lines.append(
            f"| {name} | {m['seconds']:.1f} | {budget:.0f} | {m['peak_bytes'] / 2**20:.0f} | "
            f"{PEAK_BYTES / 2**20:.0f} | {'yes' if ok else '**NO**'} |"
        )
    total = sum(m["seconds"] for _, m in rows)
    peak = max(m["peak_bytes"] for _, m in rows)
    ok = total <= BOOK_SECONDS
    lines.append(
        f"| **whole book, one after another** | {total:.1f} | {BOOK_SECONDS:.0f} | {peak / 2**20:.0f} | "
        f"{PEAK_BYTES / 2**20:.0f} | {'yes' if ok else '**NO**'} |"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: every notebook in book/"
    )
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        print(json.dumps(run_one(arguments.one.resolve())))
        return 0
    paths = [p.resolve() for p in arguments.notebooks] or notebooks()
    rows = []
    for path in paths:
        name = str(path.relative_to(ROOT))
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.append((name, measure(path)))
    report = table(rows)
    out = ROOT / "benchmark"
    out.mkdir(exist_ok=True)
    (out / "results.md").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

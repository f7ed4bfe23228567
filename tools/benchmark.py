"""Execute every notebook in a fresh kernel and report wall time and peak memory against the budgets.

Run from the repository root, with nothing else busy on the machine::

    python tools/benchmark.py                 # every notebook in book/
    python tools/benchmark.py book/part1_multitask/01_why_several_tasks.ipynb
    python tools/benchmark.py --rules         # training-step time of each rule against plain fit
    python tools/benchmark.py --assignments   # each assignment's solution run and grading time
    python tools/benchmark.py --scale         # feeds, replicas, precision; Adam's step size; serving

It prints a Markdown table and writes it to ``benchmark/results.md`` (``benchmark/rules.md`` for
``--rules``, ``benchmark/assignments.md`` for ``--assignments``, ``benchmark/scale.md`` for ``--scale``,
which also writes ``mtl_tutorial/results/scale.json``, committed: the chapter glues it). Each notebook
runs in its own process, so the peak memory is that notebook's kernel alone (the largest resident set size
it reached).

Seconds differ about twofold between machines of one kind, so the same run also times a fixed reference
workload (:data:`REFERENCE_CODE`: a fresh process that imports TensorFlow and fits the post's first model) and
reports every notebook, and the whole book, as a multiple of it. The budgets are multiples of the reference;
the table also gives them in this machine's seconds. Timings are not asserted by any test: they vary with the
machine and its load.
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.sync_install_cell import notebooks  # noqa: E402

#: The reference workload: the blog post's first model (a shared Dense 128 -> Dense 64 trunk, a regression
#: head and a 3-class softmax head) fitted with Adam for 10 epochs on 5,000 rows of 10 random features,
#: batches of 32, in a fresh Python process that first imports TensorFlow. Timed whole, start-up included.
REFERENCE_CODE = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
import numpy as np

rng = np.random.default_rng(0)
x = rng.normal(size=(5000, 10)).astype("float32")
y = {"regression_output": x @ rng.normal(size=10), "classification_output": rng.integers(0, 3, 5000)}
keras.utils.set_random_seed(0)
inputs = keras.Input((10,))
h = keras.layers.Dense(64, activation="relu")(keras.layers.Dense(128, activation="relu")(inputs))
model = keras.Model(inputs, {
    "regression_output": keras.layers.Dense(1, name="regression_output")(h),
    "classification_output": keras.layers.Dense(3, activation="softmax", name="classification_output")(h),
})
model.compile(
    optimizer="adam",
    loss={"regression_output": "mse", "classification_output": "sparse_categorical_crossentropy"},
    metrics={"regression_output": ["mae"], "classification_output": ["accuracy"]},
)
model.fit(x, y, epochs=10, batch_size=32, verbose=0)
"""

#: Budgets, as multiples of the reference workload's time: wall time per notebook and for the whole book one
#: notebook after another; and bytes of peak memory per notebook. They are the issues' 90 s per chapter (60 s
#: for the first) and 15 minutes for the book, on the kind of machine CI runs on (two cores), where the
#: reference took REFERENCE_SECONDS_WHEN_SET seconds (7.6 and 7.8 s, idle, before and after the whole book, on
#: 2026-12-01).
REFERENCE_SECONDS_WHEN_SET = 7.6
DEFAULT_MULTIPLE = 90.0 / REFERENCE_SECONDS_WHEN_SET
MULTIPLES = {
    "book/part1_multitask/01_why_several_tasks.ipynb": 60.0 / REFERENCE_SECONDS_WHEN_SET
}
BOOK_MULTIPLE = 15 * 60.0 / REFERENCE_SECONDS_WHEN_SET
PEAK_BYTES = 2 * 1024**3


def reference_seconds(repeats: int = 3) -> float:
    """Wall time of :data:`REFERENCE_CODE` in a fresh process: the median of ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", REFERENCE_CODE],
            check=True,
            capture_output=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        times.append(time.perf_counter() - start)
    return float(np.median(times))


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


def table(rows: list[tuple[str, dict[str, float]]], reference: float) -> str:
    """The Markdown table of ``rows`` (notebook, measurements), with times as multiples of ``reference``."""
    lines = [
        f"Reference workload: {reference:.1f} s on this machine (the post's first model, 10 epochs on "
        "5,000 rows, in a fresh process; `REFERENCE_CODE` in `tools/benchmark.py`).",
        "",
        "| notebook | wall time (s) | times reference | budget (times reference) | budget here (s) "
        "| peak memory (MiB) | budget (MiB) | within budget |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]

    def line(name, seconds, multiple, peak):
        ok = seconds / reference <= multiple and peak <= PEAK_BYTES
        return (
            f"| {name} | {seconds:.1f} | {seconds / reference:.1f} | {multiple:.1f} | "
            f"{multiple * reference:.0f} | {peak / 2**20:.0f} | {PEAK_BYTES / 2**20:.0f} | "
            f"{'yes' if ok else '**NO**'} |"
        )

    for name, m in rows:
        multiple = MULTIPLES.get(name, DEFAULT_MULTIPLE)
        lines.append(line(name, m["seconds"], multiple, m["peak_bytes"]))
    total = sum(m["seconds"] for _, m in rows)
    peak = max(m["peak_bytes"] for _, m in rows)
    lines.append(line("**whole book, one after another**", total, BOOK_MULTIPLE, peak))
    return "\n".join(lines)


#: Budgets of the training rules: time per step relative to plain ``fit`` with equal weights. A loss-based
#: rule may cost 1.3 times plain ``fit``; a rule that runs the batch through once more after the update
#: (FAMO) one forward pass more, which on these models is about 0.2 of a step; a gradient-based rule, which
#: differentiates every task's loss on its own, ``K + 1`` times for ``K`` tasks.
LOSS_RULE_RATIO, EXTRA_FORWARD_RATIO = 1.3, 1.5


def rule_budget(rule, num_tasks: int) -> float:
    """The budget of ``rule`` (a class from ``RULES``, or ``None`` for plain fit) on ``num_tasks`` tasks."""
    if rule is not None and rule.uses_task_gradients:
        return float(num_tasks + 1)
    if rule is not None and rule.uses_losses_after_update:
        return EXTRA_FORWARD_RATIO
    return LOSS_RULE_RATIO


def _rule_step_seconds(
    num_tasks: int,
    steps: int,
    repeats: int,
    input_dim: int,
    units: int,
    batch_size: int,
) -> dict:
    """Seconds per training step of plain fit and of every rule, best of ``repeats`` interleaved rounds."""
    import mtl_tutorial as mtl
    from mtl_tutorial.rules import RULES

    data = mtl.data.make_correlated_tasks(
        4 * batch_size, 0.5, num_tasks=num_tasks, input_dim=input_dim, seed=0
    )
    candidates = {PLAIN_FIT: None, **RULES}
    models = {}
    for name, rule in candidates.items():
        mtl.set_seed(0)
        model = mtl.models.build_shared_bottom(input_dim, data.tasks, units)
        if rule is not None:
            example = rule.example([task.name for task in data.tasks])
            model = mtl.multitask_model.MultiTaskModel(model, data.tasks, example)
        mtl.training.compile_for_tasks(model, data.tasks, learning_rate=1e-3)
        dataset = mtl.training.to_dataset(
            data.train, batch_size=batch_size, shuffle=True, seed=0
        ).repeat()
        model.fit(dataset, steps_per_epoch=10, epochs=1, shuffle=False, verbose=0)
        models[name] = (model, dataset)
    seconds = {name: [] for name in candidates}
    # Rounds over all rules, so that a slow moment of the machine does not fall on one rule only.
    for _ in range(repeats):
        for name, (model, dataset) in models.items():
            start = time.perf_counter()
            model.fit(
                dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0
            )
            seconds[name].append((time.perf_counter() - start) / steps)
    return {name: min(values) for name, values in seconds.items()}


PLAIN_FIT = "plain fit (Keras compile, equal weights)"


def time_rules(
    task_counts: tuple[int, ...] = (3, 6),
    steps: int = 50,
    repeats: int = 5,
    input_dim: int = 100,
    units: int = 2048,
    batch_size: int = 1024,
) -> str:
    """Time a training step of every rule against plain ``fit`` on the same model and data.

    The model is the chapters' shared bottom (``units`` units, towers of 8) on tasks of the correlated
    generator with ``input_dim`` inputs (the MMoE paper's 100), for each number of tasks in
    ``task_counts``. It is wide enough, with large batches, that a step's arithmetic outweighs its fixed
    overhead, so the ratios measure what each rule computes: on the chapters' small models every rule
    costs about the same, because the overhead does. Two task counts show how each rule's cost grows
    with the number of tasks (FAMO claims it does not). Each timing is the best of ``repeats`` rounds of
    ``steps`` steps, after a warm-up fit that traces the step.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from mtl_tutorial.rules import RULES

    timed = {
        k: _rule_step_seconds(k, steps, repeats, input_dim, units, batch_size)
        for k in task_counts
    }
    header = " | ".join(
        f"ms per step, {k} tasks | times plain fit | budget" for k in task_counts
    )
    lines = [
        f"Training-step time: {input_dim} inputs, shared bottom of {units} units, batches of "
        f"{batch_size} (best of {repeats} interleaved rounds of {steps} steps).",
        "",
        f"| training | {header} | within budget |",
        "|---|" + "---:|---:|---:|" * len(task_counts) + "---|",
    ]
    for name in [PLAIN_FIT, *RULES]:
        rule = RULES.get(name)
        cells, within = [], True
        for k in task_counts:
            ratio = timed[k][name] / timed[k][PLAIN_FIT]
            budget = rule_budget(rule, k)
            within = within and ratio <= budget
            cells.append(f"{1000 * timed[k][name]:.2f} | {ratio:.2f} | {budget:.1f}")
        lines.append(
            f"| {name} | {' | '.join(cells)} | {'yes' if within else '**NO**'} |"
        )
    return "\n".join(lines)


#: Budgets of the assignments: a solution notebook's run, and grading one submission (the notebook run
#: again with every public and hidden test and the grader's checks), in seconds on the book's machine.
SOLUTION_SECONDS, GRADING_SECONDS = 90.0, 60.0


def time_assignments() -> str:
    """Build every assignment, then time its solution notebook's run and the grading of that notebook.

    The run executes the solution notebook in a fresh kernel (as a student would, top to bottom); the
    grading is ``python tools/assignments.py grade`` on one submission (the notebook run again, plus
    every public and hidden test).
    """
    import tempfile

    from tools.grading import autograder_zip, build, grade_one, masters, status_of

    lines = [
        "| assignment | solution run (s) | budget (s) | grading one submission (s) | budget (s) "
        "| score | status | within budget |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for master in masters():
            built = build(master, Path(folder))
            solution = built / "autograder" / master.name
            run = measure(solution)["seconds"]
            start = time.perf_counter()
            scores = grade_one(solution, autograder_zip(built))
            grading = time.perf_counter() - start
            ok = run <= SOLUTION_SECONDS and grading <= GRADING_SECONDS
            lines.append(
                f"| {master.stem} | {run:.1f} | {SOLUTION_SECONDS:.0f} | {grading:.1f} | "
                f"{GRADING_SECONDS:.0f} | {scores['total']:g} / {scores['possible']:g} | "
                f"{status_of(scores)} | {'yes' if ok else '**NO**'} |"
            )
    return "\n".join(lines)


#: The chapter "From notebook to scale": its data, model and training recipe.
SCALE_TASKS = ("digit", "upright", "volume")
SCALE_BATCH, SCALE_LEARNING_RATE, SCALE_EPOCHS = 64, 3e-3, 6


def _two_logical_cpus():
    """Split the CPU into two logical devices, as the chapter's first cell does; returns ``tensorflow``."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    except RuntimeError as error:  # TensorFlow already started in this process
        raise RuntimeError(
            "--scale must split the CPU before TensorFlow starts; run it in a fresh process."
        ) from error
    return tf


def machine() -> dict:
    """What the numbers were measured on: CPU, cores, its 16-bit instructions, versions, date and load."""
    import platform
    from datetime import UTC, datetime

    import keras
    import tensorflow as tf

    model, flags = platform.processor() or "unknown", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name") and model in (
                "unknown",
                platform.processor(),
            ):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    sixteen_bit = sorted(
        flags & {"avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16", "f16c"}
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "16-bit instructions": ", ".join(sixteen_bit) or "none",
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load average before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


#: Interleaved rounds of the timing grid (each configuration's verdict needs every round to agree).
SCALE_ROUNDS = 7


def scale_grid(strategy, repeats: int = SCALE_ROUNDS, epochs: int = 2):
    """The chapter's grid at length: feeds, replicas, precision and steps per call, interleaved.

    Returns the table of :func:`mtl_tutorial.scaling.compare_configurations` (``pandas.DataFrame``).
    """
    import mtl_tutorial as mtl
    from mtl_tutorial.scaling import compare_configurations

    data = mtl.data.load_av_digits(SCALE_TASKS, seed=0)
    one_device = type(strategy)(strategy.extended.worker_devices[:1])
    configurations = {
        "tf.data, 1 replica, float32": {},
        "arrays, 1 replica, float32": {"feed": "arrays"},
        "tf.data, 1 replica, 1 step per call": {"steps_per_execution": 1},
        "tf.data, MirroredStrategy on 1 device, 1 step per call": {
            "strategy": one_device,
            "steps_per_execution": 1,
        },
        "tf.data, 2 replicas, float32": {"strategy": strategy},
        "arrays, 2 replicas, float32": {"feed": "arrays", "strategy": strategy},
        "tf.data, 1 replica, mixed_bfloat16": {"policy": "mixed_bfloat16"},
        "arrays, 1 replica, mixed_bfloat16": {
            "feed": "arrays",
            "policy": "mixed_bfloat16",
        },
        "tf.data, 2 replicas, mixed_bfloat16": {
            "strategy": strategy,
            "policy": "mixed_bfloat16",
        },
        "tf.data, 1 replica, mixed_float16": {"policy": "mixed_float16"},
    }

    def capstone(data):
        return mtl.models.build_capstone(data.input_shapes, data.tasks)

    return compare_configurations(
        capstone,
        data,
        configurations,
        reference="tf.data, 1 replica, float32",
        repeats=repeats,
        epochs=epochs,
        batch_size=SCALE_BATCH,
        learning_rate=SCALE_LEARNING_RATE,
    )


def adam_sweep(seeds=(0, 1, 2)) -> tuple:
    """Adam's step size against the batch: unchanged, square-root and linear scaling, same epochs.

    The reference is the chapter's recipe (batch 64, step size 3e-3, 6 epochs); batches of 256 and 1024
    train the same 6 epochs (so a quarter and a sixteenth of the steps) with the step size unchanged,
    times the square root of the batch ratio (Malladi et al. 2022, for Adam) and times the ratio
    (Goyal et al. 2017, for SGD). Scored on the validation split. Returns the long table of results and
    a summary (mean ± sd per task, steps, Δm over the reference with its interval, seconds).
    """
    import math

    import pandas as pd

    import mtl_tutorial as mtl

    def digits(seed):
        return mtl.data.load_av_digits(SCALE_TASKS, seed=seed)

    rows = len(digits(seeds[0]).train)
    plan = [(SCALE_BATCH, 1.0, "reference")]
    for batch in (256, 1024):
        k = batch // SCALE_BATCH
        plan += [(batch, 1.0, "unchanged"), (batch, math.sqrt(k), "square root")]
        plan += [(batch, float(k), "linear")]
    tables, extra = [], {}
    for batch, factor, rule in plan:
        label = f"batch {batch}, step size x{factor:g} ({rule})"
        start = time.perf_counter()
        tables.append(
            mtl.experiments.train_over_seeds(
                {
                    label: lambda data: mtl.models.build_capstone(
                        data.input_shapes, data.tasks
                    )
                },
                digits,
                list(seeds),
                epochs=SCALE_EPOCHS,
                batch_size=batch,
                learning_rate=SCALE_LEARNING_RATE * factor,
            )
        )
        extra[label] = {
            "step size": SCALE_LEARNING_RATE * factor,
            "steps": math.ceil(rows / batch) * SCALE_EPOCHS,
            "seconds": round(time.perf_counter() - start, 1),
        }
    results = pd.concat(tables, ignore_index=True)
    summary = mtl.experiments.summarise(results, split="val").T
    tasks = digits(seeds[0]).tasks
    reference = next(iter(extra))
    words = {}
    for label in extra:
        if label != reference:
            dm = mtl.experiments.delta_m_by_seed(
                results, tasks, label, reference, split="val"
            )
            words[label] = mtl.experiments.compare_values(dm.values, unit=" %").words()
    for column in ("step size", "steps", "seconds"):
        summary[column] = [extra[label][column] for label in summary.index]
    summary["Δm over the reference (val)"] = [
        words.get(label, "") for label in summary.index
    ]
    return results, summary


def _markdown(frame) -> str:
    """A Markdown table of a pandas table, its index as the first column (pandas needs ``tabulate``)."""

    def cell(value):
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
        return str(value)

    header = [frame.index.name or "", *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in frame.iterrows():
        lines.append("| " + " | ".join([str(label), *map(cell, row)]) + " |")
    return "\n".join(lines)


def serving_latency():
    """The served capstone's endpoint latency by batch size (``pandas.DataFrame``)."""
    import tempfile

    import mtl_tutorial as mtl
    from mtl_tutorial.data.av_digits import audio_statistics

    data = mtl.data.load_av_digits(seed=0)
    mtl.set_seed(0)
    model = mtl.models.build_capstone(data.input_shapes, data.tasks)
    with tempfile.TemporaryDirectory() as folder:
        path = mtl.serving.export_for_serving(
            model.network,
            data,
            Path(folder) / "capstone",
            audio_statistics=audio_statistics(0),
        )
        return mtl.serving.endpoint_latency(path, (1, 8, 64, 512), repeats=50, warmup=5)


def time_scale() -> tuple[str, dict]:
    """The chapter's scaling measurements at length; returns the Markdown report and its JSON."""
    tf = _two_logical_cpus()
    started = time.perf_counter()
    strategy = tf.distribute.MirroredStrategy(
        [device.name for device in tf.config.list_logical_devices("CPU")]
    )
    described = machine()
    described["rounds"] = SCALE_ROUNDS
    grid = scale_grid(strategy)
    results, sweep = adam_sweep()
    latency = serving_latency()
    described["load average after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    described["seconds in all"] = round(time.perf_counter() - started)
    lines = [
        "# Scaling on this machine (measured by `python tools/benchmark.py --scale`)",
        "",
        *[f"- {key}: {value}" for key, value in described.items()],
        "",
        "## Training-step time",
        "",
        f"The capstone on the digits, batches of {SCALE_BATCH} (global), Adam; each configuration built, "
        "compiled and trained one epoch first (tracing, not timed), then timed over "
        f"{SCALE_ROUNDS} interleaved rounds of 2 epochs, in an order rotated every round. Ratio: best time "
        "per step over the reference's (first row); low and high: the smallest and largest of the "
        "per-round ratios.",
        "",
        _markdown(grid),
        "",
        "## Adam's step size against the batch size",
        "",
        f"Seeds 0-2, {SCALE_EPOCHS} epochs at every batch size (so fewer steps for larger batches), "
        "validation split; Δm over the reference per seed, with its 95 % interval.",
        "",
        _markdown(sweep),
        "",
        "## Serving latency",
        "",
        "The capstone (untrained: the weights change no timing) exported with "
        "`mtl.serving.export_for_serving` and loaded with `tf.saved_model.load`; the median of 50 calls "
        "of its endpoint after 5 untimed ones, by batch size.",
        "",
        _markdown(latency),
    ]
    data = {
        "machine": described,
        "grid": grid.reset_index(names="configuration").to_dict(orient="records"),
        "sweep": results.to_dict(orient="records"),
        "sweep_summary": sweep.reset_index(names="configuration").to_dict(
            orient="records"
        ),
        "serving_latency": latency.reset_index().to_dict(orient="records"),
    }
    return "\n".join(lines), data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: every notebook in book/"
    )
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--rules", action="store_true", help="time the training rules against plain fit"
    )
    parser.add_argument(
        "--assignments",
        action="store_true",
        help="time each assignment's solution run and the grading of one submission",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="time feeds, replicas and precision on the capstone; sweep Adam's step size; time serving",
    )
    arguments = parser.parse_args()
    if arguments.scale:
        report, data = time_scale()
        (ROOT / "benchmark").mkdir(exist_ok=True)
        (ROOT / "benchmark" / "scale.md").write_text(report + "\n")
        # The numbers the chapter glues travel with the package (also on Colab): commit this file.
        (ROOT / "mtl_tutorial" / "results" / "scale.json").write_text(
            json.dumps(data, indent=1) + "\n"
        )
        print(report)
        return 0
    if arguments.assignments:
        report = time_assignments()
        (ROOT / "benchmark").mkdir(exist_ok=True)
        (ROOT / "benchmark" / "assignments.md").write_text(report + "\n")
        print(report)
        return 0
    if arguments.rules:
        report = time_rules()
        (ROOT / "benchmark").mkdir(exist_ok=True)
        (ROOT / "benchmark" / "rules.md").write_text(report + "\n")
        print(report)
        return 0
    if arguments.one:
        print(json.dumps(run_one(arguments.one.resolve())))
        return 0
    paths = [p.resolve() for p in arguments.notebooks] or notebooks()
    print("timing the reference workload ...", file=sys.stderr, flush=True)
    reference = reference_seconds()
    rows = []
    for path in paths:
        name = str(path.relative_to(ROOT))
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.append((name, measure(path)))
    report = table(rows, reference)
    out = ROOT / "benchmark"
    out.mkdir(exist_ok=True)
    (out / "results.md").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

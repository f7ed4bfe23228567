"""Training one model on several worker processes, surviving a worker's death, and sharing negatives.

Taught in :doc:`/book/part3_together/02_notebook_to_scale`. Three pieces:

- A **worker**, run as ``python -m mtl_tutorial.distributed --worker INDEX --ports P0,P1 --out DIR``: it
  joins a cluster on the loopback interface under ``tf.distribute.MultiWorkerMirroredStrategy`` (set up
  by ``TF_CONFIG``) and trains the capstone's network (:func:`~mtl_tutorial.models.build_capstone`) on
  the digits seen and heard with a **custom training loop** (``strategy.run``, ``strategy.reduce``). Keras
  3's ``Model.fit`` fails under this strategy (keras-team/keras#20585, open with Keras 3.15 and
  TensorFlow 2.21), so ``fit``, and with it Keras's ``BackupAndRestore`` callback, are not used: the loop
  checkpoints itself with ``tf.train.Checkpoint`` and ``tf.train.CheckpointManager`` after every epoch
  and resumes from the latest checkpoint when it starts.
- A **launcher**, :func:`run_workers`, that starts the workers as subprocesses, waits for them with a
  time limit, and when one dies (the others cannot go on: their collective operations fail once
  TensorFlow notices the death, and they do not recover)
  kills the rest and starts the whole job again, which resumes from the checkpoint.
  :func:`run_reference` runs the same loop on one worker, for comparison.
- For contrastive training, :func:`~mtl_tutorial.models.gathered_info_nce` (in ``models``), the
  symmetric InfoNCE loss of :func:`~mtl_tutorial.models.symmetric_info_nce` with the negatives of every
  replica, not only this replica's; it works in any replica context, so a custom loop like this one can
  call it inside ``strategy.run`` (not done here: the worker trains the capstone).

The loss is that of :class:`~mtl_tutorial.multitask_model.MultiTaskModel` with equal weights: every
task's loss (cross-entropy or mean squared error, times its sample weights, which mask missing labels)
summed over the batch and divided by the number of examples. Here each replica divides the sum over *its*
examples by the size of the *global* batch (``tf.nn.compute_average_loss``), once; the optimizer sums the
replicas' gradients, which gives the gradient of the global batch's mean loss whatever the number of
workers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mtl_tutorial.data import load_av_digits
from mtl_tutorial.models import build_capstone
from mtl_tutorial.tasks import Task
from mtl_tutorial.validation import check_int, check_number, check_seed

__all__ = [
    "free_ports",
    "main",
    "read_run",
    "run_reference",
    "run_workers",
    "tf_config",
    "train_worker",
]

#: Files a run leaves in its output folder.
LOG_FILE = "log.json"
WEIGHTS_FILE = "final_weights.npz"
GRADIENTS_FILE = "first_gradients.npz"
KILLED_FILE = "killed.json"
CHECKPOINTS = "checkpoints"


def free_ports(n: int) -> list[int]:
    """``n`` different TCP ports free on the loopback interface now (the system picks them)."""
    n = check_int(n, "n", 2)
    sockets, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


def tf_config(ports: Sequence[int], index: int) -> dict:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of ``len(ports)`` workers on ``127.0.0.1``.

    Worker 0 is the chief: it writes the checkpoints, the logs and the final weights.
    """
    ports = [check_int(p, "each port", 12345, high=65535) for p in ports]
    if not ports or len(set(ports)) != len(ports):
        raise ValueError(
            f"ports must be different port numbers, one per worker; got {ports!r}."
        )
    index = check_int(index, "index", 0, low=0, high=len(ports) - 1)
    return {
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": index},
    }


# --- The worker ------------------------------------------------------------------------------------------


def _per_example_loss(task: Task) -> keras.losses.Loss:
    # MultiTaskModel's losses, unreduced: the loop divides by the global batch size itself.
    if task.kind == "classification":
        return keras.losses.SparseCategoricalCrossentropy(reduction=None)
    return keras.losses.MeanSquaredError(reduction=None)


def _load(seed: int, train_rows: int, val_rows: int):
    """The digits seen and heard, with a fixed subset of rows of the training and validation splits."""
    data = load_av_digits(seed=seed)
    train = data.train.sample(min(train_rows, len(data.train)), seed=seed)
    val = data.val.sample(min(val_rows, len(data.val)), seed=seed)
    return data, train, val


def _with_weights(split, tasks):
    """``(x, y, w)`` with a weight per task and row: the split's own (0 masks a missing label), else 1."""
    ones = np.ones(len(split), np.float32)
    weights = split.weights or {}
    return split.x, split.y, {t.name: weights.get(t.name, ones) for t in tasks}


def _epoch_dataset(arrays, global_batch: int, seed: int, epoch: int) -> tf.data.Dataset:
    """The global batches of one epoch, in an order fixed by ``(seed, epoch)`` alone.

    Seeding the shuffle per epoch, rather than reshuffling one dataset, lets a job that resumes at epoch
    ``k`` see the batches an uninterrupted job sees at epoch ``k``. Incomplete last batches are dropped,
    so every step has the same global batch. ``AutoShardPolicy.DATA``: every worker reads all the data
    in the same order and ``experimental_distribute_dataset`` hands replica ``r`` the ``r``-th slice of
    each global batch.
    """
    n = len(arrays[1][next(iter(arrays[1]))])
    dataset = (
        tf.data.Dataset.from_tensor_slices(arrays)
        .shuffle(n, seed=seed * 1000 + epoch, reshuffle_each_iteration=False)
        .batch(global_batch, drop_remainder=True)
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def _validation(network, val, tasks) -> dict:
    """Each task's mean loss and headline metric on the validation rows (computed on the chief)."""
    predictions = network(val.x, training=False)
    logs = {}
    for task in tasks:
        y = val.y[task.name]
        p = np.asarray(predictions[task.name])
        logs[f"{task.name}_loss"] = float(
            np.mean(_per_example_loss(task)(y, p, sample_weight=None))
        )
        if task.kind == "classification":
            logs[f"{task.name}_accuracy"] = float(np.mean(p.argmax(-1) == y))
        else:
            logs[f"{task.name}_mae"] = float(
                np.mean(np.abs(p.reshape(-1) - np.reshape(y, -1)))
            )
    return logs


def _write_json(path: Path, value) -> None:
    # Write then rename, so that a process killed while writing leaves the previous file whole.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)


def train_worker(
    index: int,
    ports: Sequence[int],
    out: str | Path,
    *,
    epochs: int,
    seed: int = 0,
    train_rows: int = 512,
    val_rows: int = 256,
    global_batch: int = 64,
    learning_rate: float = 3e-3,
    fail_after_step: int | None = None,
    attempt: int = 0,
) -> None:
    """Train as worker ``index`` of the cluster ``ports``; called in a fresh process by :func:`main`.

    The strategy must be made before TensorFlow runs anything, so this is the first thing the process
    does with TensorFlow. Every worker saves a checkpoint after every epoch (saving can involve
    collective operations, so all must take part): the chief into ``out/checkpoints``, the others into
    temporary folders they delete at the end. On start, every worker restores the chief's latest
    checkpoint, if any: the network's weights, Adam's moments and step counter, and the epoch counter.
    After each epoch the chief appends to ``out/log.json`` the epoch's mean training losses, the
    validation metrics and which attempt (start of the job) ran it; at the end it writes the final
    weights to ``out/final_weights.npz``, and before the first step of a fresh job the gradient of the
    first global batch to ``out/first_gradients.npz``. ``fail_after_step=S``: the process kills itself
    (SIGKILL) as soon as the optimizer has taken its ``S``-th step in all, wherever that falls in an
    epoch; the steps since the last checkpoint are lost and a restarted job takes them again.
    """
    out = Path(out)
    os.environ["TF_CONFIG"] = json.dumps(tf_config(ports, index))
    # Two workers share a small machine: one thread each keeps them from fighting over the cores.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    chief = index == 0
    data, train, val = _load(seed, train_rows, val_rows)
    tasks = data.tasks
    arrays = _with_weights(train, tasks)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        # No modality dropout: its random draws would differ between one and two workers.
        network = build_capstone(data.input_shapes, tasks, modality_dropout=0.0).network
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        optimizer.build(network.trainable_variables)
        epoch_counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    variables = network.trainable_variables
    loss_functions = [_per_example_loss(task) for task in tasks]

    def replica_losses(x, y, w):
        # This replica's share of each task's mean loss on the global batch: divided once, here.
        predictions = network(x, training=True)
        return [
            tf.nn.compute_average_loss(
                fn(y[t.name], predictions[t.name], sample_weight=w[t.name]),
                global_batch_size=global_batch,
            )
            for t, fn in zip(tasks, loss_functions, strict=True)
        ]

    def replica_gradients(x, y, w):
        with tf.GradientTape() as tape:
            losses = replica_losses(x, y, w)
            total = tf.add_n(losses)  # equal weights
        gradients = tape.gradient(total, variables)
        gradients = [
            tf.zeros_like(v) if g is None else g
            for g, v in zip(gradients, variables, strict=True)
        ]
        return losses, gradients

    @tf.function
    def train_step(batch):
        def step(x, y, w):
            losses, gradients = replica_gradients(x, y, w)
            optimizer.apply(gradients, variables)  # sums the replicas' gradients
            return tf.stack(losses)

        per_replica = strategy.run(step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    @tf.function
    def global_gradients(batch):
        per_replica = strategy.run(
            lambda x, y, w: replica_gradients(x, y, w)[1], args=batch
        )
        return [
            strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None)
            for g in per_replica
        ]

    @tf.function
    def barrier():
        one = strategy.run(lambda: tf.constant(1.0))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, one, axis=None)

    checkpoint = tf.train.Checkpoint(
        network=network, optimizer=optimizer, epoch=epoch_counter
    )
    chief_dir = out / CHECKPOINTS
    own_dir = chief_dir if chief else out / "tmp" / f"worker{index}"
    manager = tf.train.CheckpointManager(checkpoint, str(own_dir), max_to_keep=2)
    latest = tf.train.latest_checkpoint(str(chief_dir))
    if latest is not None:
        checkpoint.restore(latest).assert_existing_objects_matched()
    start = int(epoch_counter.numpy())
    log_path = out / LOG_FILE
    log = {"epochs": [], "attempts": []}
    if chief and log_path.exists():
        log = json.loads(log_path.read_text())
        # Keep only the epochs the checkpoint holds.
        log["epochs"] = [e for e in log["epochs"] if e["epoch"] <= start]
    log["attempts"].append(
        {
            "attempt": attempt,
            "restored_epoch": start,
            "restored_iterations": int(optimizer.iterations.numpy()),
        }
    )
    log.update(
        workers=len(ports), global_batch=global_batch, seed=seed, epochs_wanted=epochs
    )

    if start == 0:
        first = next(
            iter(
                strategy.experimental_distribute_dataset(
                    _epoch_dataset(arrays, global_batch, seed, 0)
                )
            )
        )
        gradients = global_gradients(first)
        if chief:
            np.savez(out / GRADIENTS_FILE, *[np.asarray(g) for g in gradients])

    for epoch in range(start, epochs):
        began = time.perf_counter()
        dataset = strategy.experimental_distribute_dataset(
            _epoch_dataset(arrays, global_batch, seed, epoch)
        )
        total, steps = np.zeros(len(tasks)), 0
        for batch in dataset:
            total += np.asarray(train_step(batch))
            steps += 1
            if fail_after_step is not None and (
                int(optimizer.iterations.numpy()) == fail_after_step
            ):
                # Its last words, for the reader of the run: where it died.
                record = {"worker": index, "attempt": attempt, "epoch": epoch + 1}
                record.update(after_step=fail_after_step, steps_into_epoch=steps)
                _write_json(out / KILLED_FILE, record)
                # A hard death: no clean-up, no exit handlers, as when a machine goes away. The
                # other workers cannot finish the next step's all-reduce without it.
                os.kill(os.getpid(), signal.SIGKILL)
        epoch_counter.assign(epoch + 1)
        manager.save()  # every worker, for the collective operations saving may need
        if chief:
            entry = {"epoch": epoch + 1, "attempt": attempt, "steps": steps}
            entry["seconds"] = round(time.perf_counter() - began, 3)
            entry.update(
                {
                    f"{t.name}_loss": float(v)
                    for t, v in zip(tasks, total / steps, strict=True)
                }
            )
            entry.update(
                {f"val_{k}": v for k, v in _validation(network, val, tasks).items()}
            )
            log["epochs"].append(entry)
            log["iterations"] = int(optimizer.iterations.numpy())
            _write_json(log_path, log)
        # Nobody goes on before the chief's checkpoint and log of this epoch are written.
        barrier()

    if chief:
        np.savez(out / WEIGHTS_FILE, *[np.asarray(w) for w in network.get_weights()])
        log["iterations"] = int(optimizer.iterations.numpy())
        _write_json(log_path, log)
    else:
        shutil.rmtree(own_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            own_dir.parent.rmdir()  # once the last temporary folder is gone


# --- The launcher ----------------------------------------------------------------------------------------


def _worker_command(index, ports, out, settings, attempt, fail_after_step):
    command = [
        sys.executable, "-m", "mtl_tutorial.distributed",
        "--worker", str(index),
        "--ports", ",".join(map(str, ports)),
        "--out", str(out),
        "--attempt", str(attempt),
    ]  # fmt: skip
    for name, value in settings.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    if fail_after_step is not None:
        command += ["--fail-after-step", str(fail_after_step)]
    return command


def _wait(processes, deadline: float) -> list[int]:
    """Wait for all processes; if one fails, kill the others (they cannot go on without it).

    Returns the exit codes (negative: killed by that signal). Raises ``TimeoutError`` at ``deadline``,
    after killing them all.
    """
    while True:
        codes = [p.poll() for p in processes]
        if all(c is not None for c in codes):
            return codes
        if any(c not in (None, 0) for c in codes) or time.monotonic() > deadline:
            for p in processes:
                if p.poll() is None:
                    p.kill()
            codes = [p.wait() for p in processes]
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"workers still running at the time limit; killed: {codes}"
                )
            return codes
        time.sleep(0.1)


def run_workers(
    out: str | Path,
    *,
    workers: int = 2,
    epochs: int = 3,
    seed: int = 0,
    train_rows: int = 512,
    val_rows: int = 256,
    global_batch: int = 64,
    learning_rate: float = 3e-3,
    fail_after_step: int | None = None,
    fail_worker: int = 1,
    max_restarts: int = 1,
    timeout: float = 300.0,
) -> dict:
    """Train on ``workers`` processes on this machine, restarting the job if a worker dies.

    Each attempt starts every worker (``python -m mtl_tutorial.distributed``) on fresh loopback ports and
    waits. If a worker exits with an error or is killed, the others are killed too and the job is started
    again, up to ``max_restarts`` times; the new workers resume from the chief's latest checkpoint in
    ``out``. ``fail_after_step=S`` makes worker ``fail_worker`` kill itself (SIGKILL) right after the
    job's ``S``-th optimizer step (counted over all epochs; it may fall inside an epoch), in the first
    attempt only, to show the recovery: the restarted job resumes from the last checkpoint, the end of
    the last completed epoch, and takes the steps of the unfinished epoch again. Worker output goes to
    ``out/worker<i>.<attempt>.log``.

    Args:
        out: Folder for checkpoints, logs and final weights (a fresh one for a fresh job: a job finds
            and resumes any checkpoint already there).
        workers: Number of worker processes (one replica each).
        epochs, seed, learning_rate: Training; ``seed`` also fixes the data and the batches' order.
        train_rows, val_rows: How many training and validation examples to use.
        global_batch: Examples per step over all workers; divisible by ``workers``.
        fail_after_step, fail_worker: The simulated death (``None``: none); ``fail_after_step`` lies
            between 1 and the job's last step, excluded.
        max_restarts: How many times the job may be started again.
        timeout: Seconds for the whole job, restarts included.

    Returns:
        :func:`read_run` of ``out``, plus ``"returncodes"``: each attempt's exit codes, and ``"seconds"``:
        each attempt's wall time.

    Raises:
        ValueError: for a bad argument. TimeoutError: at the time limit (all workers killed).
        RuntimeError: if the job still fails after ``max_restarts`` restarts.
    """
    workers = check_int(workers, "workers", 2)
    epochs = check_int(epochs, "epochs", 3)
    seed = check_seed(seed)
    global_batch = check_int(global_batch, "global_batch", 64)
    if global_batch % workers:
        raise ValueError(
            f"global_batch must be divisible by workers, so every replica gets as many examples; "
            f"got global_batch={global_batch}, workers={workers}."
        )
    train_rows = check_int(train_rows, "train_rows", 512, low=global_batch)
    val_rows = check_int(val_rows, "val_rows", 256)
    check_number(learning_rate, "learning_rate", 3e-3, low=0, low_open=True)
    if fail_after_step is not None:
        steps = (train_rows // global_batch) * epochs
        fail_after_step = check_int(
            fail_after_step, "fail_after_step", 1, low=1, high=max(steps - 1, 1)
        )
        fail_worker = check_int(fail_worker, "fail_worker", 1, low=0, high=workers - 1)
    max_restarts = check_int(max_restarts, "max_restarts", 1, low=0)
    check_number(timeout, "timeout", 300.0, low=0, low_open=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {
        "epochs": epochs,
        "seed": seed,
        "train_rows": train_rows,
        "val_rows": val_rows,
        "global_batch": global_batch,
        "learning_rate": learning_rate,
    }
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    deadline = time.monotonic() + timeout
    all_codes, seconds = [], []
    for attempt in range(max_restarts + 1):
        ports = free_ports(workers)
        began = time.monotonic()
        with contextlib.ExitStack() as stack:
            processes = []
            for i in range(workers):
                log = stack.enter_context(open(out / f"worker{i}.{attempt}.log", "w"))
                fail = fail_after_step if attempt == 0 and i == fail_worker else None
                command = _worker_command(i, ports, out, settings, attempt, fail)
                processes.append(
                    subprocess.Popen(
                        command, stdout=log, stderr=subprocess.STDOUT, env=env
                    )
                )
            codes = _wait(processes, deadline)
        all_codes.append(codes)
        seconds.append(round(time.monotonic() - began, 2))
        if all(code == 0 for code in codes):
            break
    else:
        tail = (out / f"worker0.{max_restarts}.log").read_text()[-2000:]
        raise RuntimeError(
            f"The job failed after {max_restarts} restarts (exit codes {all_codes}). "
            f"Worker 0's last output:\n{tail}"
        )
    return {**read_run(out), "returncodes": all_codes, "seconds": seconds}


def run_reference(out: str | Path, **settings) -> dict:
    """The same training on one worker (one replica): the same global batch, data order and seed.

    Takes :func:`run_workers`'s arguments other than ``workers``.
    """
    if "workers" in settings:
        raise ValueError("run_reference runs one worker; do not pass workers.")
    return run_workers(out, workers=1, **settings)


def read_run(out: str | Path) -> dict:
    """What a finished job left in ``out``: the log, the final weights and the first step's gradients.

    Returns a dict with the log's entries (``"epochs"``: one dict per epoch with ``attempt``, training
    losses and ``val_`` metrics; ``"attempts"``: per start of the job, the epoch and optimizer step it
    restored; ``"iterations"``: the optimizer's final step count), ``"weights"`` (list of arrays) and
    ``"first_gradients"`` (list of arrays, or ``None`` if the job never started from scratch) and
    ``"killed"`` (``None``, or what a worker killed by ``fail_after_step`` wrote just before it died: its
    ``worker`` index, ``attempt``, ``epoch``, ``after_step`` and ``steps_into_epoch``).
    """
    out = Path(out)
    result = json.loads((out / LOG_FILE).read_text())

    def arrays(name):
        if not (out / name).exists():
            return None
        with np.load(out / name) as npz:
            return [npz[f"arr_{i}"] for i in range(len(npz.files))]

    result["weights"] = arrays(WEIGHTS_FILE)
    result["first_gradients"] = arrays(GRADIENTS_FILE)
    killed = out / KILLED_FILE
    result["killed"] = json.loads(killed.read_text()) if killed.exists() else None
    return result


# --- Command line ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m mtl_tutorial.distributed --worker INDEX --ports P0,P1 --out DIR [...]``: one worker."""
    parser = argparse.ArgumentParser(
        prog="python -m mtl_tutorial.distributed", description=main.__doc__
    )
    parser.add_argument("--worker", type=int, required=True, help="this worker's index")
    parser.add_argument(
        "--ports", required=True, help="every worker's port, comma-separated"
    )
    parser.add_argument("--out", required=True, help="folder of checkpoints and logs")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-rows", type=int, default=512)
    parser.add_argument("--val-rows", type=int, default=256)
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--fail-after-step", type=int, default=None)
    parser.add_argument("--attempt", type=int, default=0)
    args = parser.parse_args(argv)
    train_worker(
        args.worker,
        [int(p) for p in args.ports.split(",")],
        args.out,
        epochs=args.epochs,
        seed=args.seed,
        train_rows=args.train_rows,
        val_rows=args.val_rows,
        global_batch=args.global_batch,
        learning_rate=args.learning_rate,
        fail_after_step=args.fail_after_step,
        attempt=args.attempt,
    )


if __name__ == "__main__":
    main()

"""Multi-worker training on the loopback interface: same result as one worker, survives a worker's death.

The worker runs start TensorFlow in subprocesses (two workers, then two again after the simulated death,
and one for the reference), so the file takes about a minute; each run is bounded by a time limit.
"""

import numpy as np
import pytest
import tensorflow as tf

from mtl_tutorial import distributed
from mtl_tutorial.models import gathered_info_nce

SETTINGS = {
    "epochs": 3,
    "seed": 0,
    "train_rows": 512,
    "val_rows": 256,
    "global_batch": 64,
    "learning_rate": 3e-3,
}
STEPS_PER_EPOCH = 512 // 64
# Worker 1 dies halfway through epoch 2: its last checkpoint is the end of epoch 1.
KILLED_AFTER_STEP = STEPS_PER_EPOCH + STEPS_PER_EPOCH // 2


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One worker, uninterrupted."""
    out = tmp_path_factory.mktemp("one_worker")
    return distributed.run_reference(out, max_restarts=0, timeout=240, **SETTINGS)


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """Two workers; worker 1 kills itself in epoch 2 and the launcher starts the job again."""
    out = tmp_path_factory.mktemp("two_workers")
    return distributed.run_workers(
        out,
        workers=2,
        fail_after_step=KILLED_AFTER_STEP,
        max_restarts=1,
        timeout=300,
        **SETTINGS,
    )


def test_two_workers_take_the_first_step_one_worker_takes(killed, reference):
    # Each replica divides its examples' losses by the global batch size, once; the gradients summed
    # over the workers are then the gradient of the global batch's mean loss. Dividing twice would halve
    # them; two workers reading the same half of the batch would give another gradient.
    assert killed["workers"] == 2 and reference["workers"] == 1
    two, one = killed["first_gradients"], reference["first_gradients"]
    assert len(two) == len(one) > 0
    assert max(np.abs(g).max() for g in one) > 1e-2
    for g2, g1 in zip(two, one, strict=True):
        # Observed: equal to within 5e-8 (the order of the sums differs).
        np.testing.assert_allclose(g2, g1, rtol=1e-5, atol=1e-6)


def test_two_workers_end_where_one_worker_ends(killed, reference):
    # Same seed, same initial weights, same batches in the same order: the runs differ only in the
    # order of floating-point sums, so every epoch's losses and metrics agree closely.
    assert [e["epoch"] for e in killed["epochs"]] == [1, 2, 3]
    for two, one in zip(killed["epochs"], reference["epochs"], strict=True):
        for name, value in one.items():
            if name.endswith(("_loss", "_accuracy", "_mae")):
                np.testing.assert_allclose(two[name], value, rtol=1e-4, err_msg=name)
    for w2, w1 in zip(killed["weights"], reference["weights"], strict=True):
        np.testing.assert_allclose(w2, w1, atol=1e-5)
    # The metrics are what they say: a mean absolute error is at most the root mean squared error.
    last = reference["epochs"][-1]
    assert last["val_volume_mae"] ** 2 <= last["val_volume_loss"] * (1 + 1e-6)
    # The training did something: the digit's loss fell.
    losses = [e["digit_loss"] for e in reference["epochs"]]
    assert losses[-1] < losses[0] - 0.05


def test_a_killed_worker_loses_no_completed_epoch(killed):
    first, second = killed["returncodes"]
    assert first[1] == -9  # worker 1 killed itself
    assert first[0] != 0  # the chief, stuck waiting for it, was killed by the launcher
    assert second == [0, 0]
    # Where it died, by its own record: four steps into epoch 2.
    death = killed["killed"]
    assert death == {
        "worker": 1,
        "attempt": 0,
        "epoch": 2,
        "after_step": KILLED_AFTER_STEP,
        "steps_into_epoch": KILLED_AFTER_STEP - STEPS_PER_EPOCH,
    }
    restart = killed["attempts"][1]
    assert restart["attempt"] == 1
    # The restart resumed from the end of epoch 1, the last checkpoint: the steps of the unfinished
    # epoch 2 were lost...
    assert restart["restored_epoch"] == 1
    assert restart["restored_iterations"] == STEPS_PER_EPOCH < KILLED_AFTER_STEP
    # ...and taken again: epoch 1 comes from the first start and was not run again; epochs 2 and 3
    # from the second, with every step of the job taken once in the final count.
    ran = [(e["epoch"], e["attempt"], e["steps"]) for e in killed["epochs"]]
    assert ran == [
        (1, 0, STEPS_PER_EPOCH),
        (2, 1, STEPS_PER_EPOCH),
        (3, 1, STEPS_PER_EPOCH),
    ]
    assert killed["iterations"] == SETTINGS["epochs"] * STEPS_PER_EPOCH


def test_gathered_info_nce_is_the_single_device_loss_of_the_global_batch(on_two_cpus):
    # Two logical CPUs must be configured before TensorFlow starts, so this runs in its own process.
    on_two_cpus(
        """
        import numpy as np, tensorflow as tf
        from mtl_tutorial.models import gathered_info_nce
        from mtl_tutorial.models.contrastive import symmetric_info_nce
        rng = np.random.default_rng(0)
        xa = rng.normal(size=(8, 5)).astype("float32")
        xb = rng.normal(size=(8, 3)).astype("float32")
        wa0 = rng.normal(size=(5, 4)).astype("float32")
        wb0 = rng.normal(size=(3, 4)).astype("float32")
        t = 0.5
        wa, wb = tf.Variable(wa0), tf.Variable(wb0)
        with tf.GradientTape() as tape:
            single = symmetric_info_nce(xa @ wa, xb @ wb, t)
        single_grads = tape.gradient(single, [wa, wb])
        # Outside any strategy it is the plain loss.
        np.testing.assert_allclose(gathered_info_nce(xa @ wa0, xb @ wb0, t), single, rtol=1e-6)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            va, vb = tf.Variable(wa0), tf.Variable(wb0)
        dataset = tf.data.Dataset.from_tensor_slices((xa, xb)).batch(8)
        batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

        @tf.function
        def step(batch):
            def replica(a, b):
                with tf.GradientTape() as tape:
                    share = gathered_info_nce(a @ va, b @ vb, t)
                grads = tape.gradient(share, [va, vb])
                context = tf.distribute.get_replica_context()
                local = symmetric_info_nce(a @ va, b @ vb, t)
                return share, context.all_reduce("sum", grads), local
            share, grads, local = strategy.run(replica, args=batch)
            return (
                strategy.reduce("sum", share, None),
                [strategy.experimental_local_results(g)[0] for g in grads],
                strategy.reduce("mean", local, None),
            )

        gathered, grads, local = step(batch)
        assert strategy.num_replicas_in_sync == 2
        np.testing.assert_allclose(gathered, single, rtol=1e-6)
        for g, s in zip(grads, single_grads):
            np.testing.assert_allclose(g, s, rtol=1e-5, atol=1e-6)
        # Without gathering, each replica has 3 negatives instead of 7: another (smaller) loss.
        assert float(local) < float(single) - 0.1, (float(local), float(single))
        print("ok")
        """,
        timeout=120,
    )


def test_gathered_info_nce_needs_a_replica_context():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope(), pytest.raises(ValueError, match="replica context"):
        gathered_info_nce(tf.ones((2, 3)), tf.ones((2, 3)), 0.1)


def test_tf_config_names_loopback_workers():
    config = distributed.tf_config([2001, 2002], 1)
    assert config == {
        "cluster": {"worker": ["127.0.0.1:2001", "127.0.0.1:2002"]},
        "task": {"type": "worker", "index": 1},
    }
    with pytest.raises(ValueError, match="different"):
        distributed.tf_config([2001, 2001], 0)
    with pytest.raises(ValueError, match="index"):
        distributed.tf_config([2001, 2002], 2)
    ports = distributed.free_ports(3)
    assert len(set(ports)) == 3


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"global_batch": 63}, "divisible"),
        ({"epochs": 3, "fail_after_step": 3 * STEPS_PER_EPOCH}, "fail_after_step"),
        ({"fail_after_step": 0}, "fail_after_step"),
        ({"workers": 0}, "workers"),
        ({"timeout": 0}, "timeout"),
        ({"train_rows": 10}, "train_rows"),
    ],
)
def test_run_workers_checks_its_arguments(tmp_path, settings, message):
    with pytest.raises(ValueError, match=message):
        distributed.run_workers(tmp_path, **settings)


def test_run_workers_kills_the_workers_at_the_time_limit(tmp_path):
    with pytest.raises(TimeoutError, match="time limit"):
        distributed.run_workers(tmp_path, timeout=0.5)

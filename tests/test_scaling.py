"""``mtl_tutorial.scaling``: what a measurement builds, trains and counts (never how fast: that varies)."""

import math

import keras
import pytest
import tensorflow as tf

import mtl_tutorial as mtl
from mtl_tutorial import scaling

BATCH = 32


@pytest.fixture(scope="module")
def small():
    # About a hundred training rows, so that the last batch of an epoch is a partial one.
    return mtl.data.make_correlated_tasks(170, 0.5, num_tasks=2, input_dim=6, seed=0)


def _recording_builder(seen):
    """A small shared bottom that notes the global policy and strategy it was built under."""

    def build(data):
        seen["policy"] = keras.config.dtype_policy().name
        seen["strategy"] = tf.distribute.get_strategy()
        model = mtl.models.build_shared_bottom(6, data.tasks, 8, 4)
        seen["model"] = model
        return model

    return build


@pytest.mark.parametrize("feed", scaling.FEEDS)
def test_counts_steps_and_examples_of_the_timed_epochs(small, feed):
    seen = {}
    result = scaling.time_training(
        _recording_builder(seen), small, feed=feed, batch_size=BATCH, epochs=2
    )
    rows = len(small.train)
    assert rows % BATCH  # a partial last batch, counted as a step
    steps_per_epoch = math.ceil(rows / BATCH)
    assert result["steps"] == 2 * steps_per_epoch
    assert result["examples"] == 2 * rows
    assert result["feed"] == feed
    assert result["replicas"] == 1
    # One replica: a whole epoch per call into TensorFlow, as the chapter trains.
    assert result["steps_per_execution"] == steps_per_epoch
    assert seen["model"].steps_per_execution == steps_per_epoch
    assert len(result["epoch_seconds"]) == 2
    assert result["seconds"] == pytest.approx(sum(result["epoch_seconds"]))
    assert result["seconds_per_step"] == pytest.approx(
        result["seconds"] / result["steps"]
    )
    assert result["examples_per_second"] == pytest.approx(
        result["examples"] / result["seconds"]
    )
    # Warm-up (1 epoch) and timed epochs (2) all trained the model.
    assert int(seen["model"].optimizer.iterations.numpy()) == 3 * steps_per_epoch


def test_builds_under_the_policy_and_puts_the_previous_one_back(small):
    seen = {}
    # Not the default policy, to see that it is the one that comes back.
    keras.config.set_dtype_policy("float16")
    try:
        result = scaling.time_training(
            _recording_builder(seen),
            small,
            policy="mixed_bfloat16",
            batch_size=BATCH,
            epochs=1,
        )
        assert keras.config.dtype_policy().name == "float16"
    finally:
        keras.config.set_dtype_policy("float32")
    assert seen["policy"] == "mixed_bfloat16"
    layer = seen["model"].get_layer("shared_bottom")
    assert layer.dtype_policy.compute_dtype == "bfloat16"
    assert result["policy"] == "mixed_bfloat16"


def test_puts_the_policy_back_after_an_error(small):
    def broken(data):
        raise RuntimeError("the builder failed")

    with pytest.raises(RuntimeError, match="builder failed"):
        scaling.time_training(broken, small, policy="mixed_float16", epochs=1)
    assert keras.config.dtype_policy().name == "float32"


def test_builds_and_trains_under_the_strategy_given(small):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    seen = {}
    scaling.time_training(
        _recording_builder(seen), small, strategy=strategy, batch_size=BATCH, epochs=1
    )
    assert seen["strategy"] is strategy
    assert seen["model"].distribute_strategy is strategy


def test_two_replicas_split_the_batch_and_take_one_step_per_call(on_two_cpus):
    # Two logical CPUs must be configured before TensorFlow starts, so this runs in its own process.
    on_two_cpus(
        f"""
        import math, tensorflow as tf
        import mtl_tutorial as mtl
        from mtl_tutorial import scaling
        data = mtl.data.make_correlated_tasks(170, 0.5, num_tasks=2, input_dim=6, seed=0)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        built = []
        def build(data):
            built.append(mtl.models.build_shared_bottom(6, data.tasks, 8, 4))
            return built[-1]
        for feed in scaling.FEEDS:
            result = scaling.time_training(
                build, data, feed=feed, strategy=strategy, batch_size={BATCH}, epochs=1
            )
            assert built[-1].distribute_strategy.num_replicas_in_sync == 2
            assert result["replicas"] == 2, result
            assert result["steps_per_execution"] == 1, result
            assert result["steps"] == math.ceil(len(data.train) / {BATCH}), result
        try:
            scaling.time_training(build, data, strategy=strategy, batch_size=33)
        except ValueError as error:
            assert "divisible by the 2 replicas" in str(error), error
        else:
            raise AssertionError("an odd batch for two replicas was accepted")
        print("ok")
        """,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"feed": "numpy"}, "feed must be one of"),
        ({"policy": "bfloat16"}, "policy must be one of"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"warmup_epochs": 0}, "warmup_epochs must be a positive integer"),
        ({"steps_per_execution": 0}, "steps_per_execution must be a positive"),
        ({"learning_rate": 0.0}, "learning_rate must be a positive number"),
        ({"strategy": "mirrored"}, "strategy must be a tf.distribute.Strategy"),
    ],
)
def test_refuses_bad_arguments(small, arguments, message):
    with pytest.raises(ValueError, match=message):
        scaling.time_training(_recording_builder({}), small, **arguments)


def test_refuses_what_is_not_a_builder_or_a_data_set(small):
    with pytest.raises(ValueError, match="build must be a function"):
        scaling.time_training("capstone", small)
    with pytest.raises(
        ValueError, match="data must be an mtl_tutorial.data.MultiTaskData"
    ):
        scaling.time_training(_recording_builder({}), small.train)


def test_refuses_a_builder_that_returns_no_model(small):
    with pytest.raises(ValueError, match="build must return a keras.Model"):
        scaling.time_training(lambda data: "model", small)
    assert keras.config.dtype_policy().name == "float32"


def test_compare_interleaves_the_rounds_and_divides_by_the_reference(
    small, monkeypatch
):
    # Stand-ins for building and timing, to see the order of the measurements and the arithmetic.
    seconds = {"a": [2.0, 4.0, 2.0], "b": [3.0, 8.0, 5.0]}
    order = []

    def prepare(build, data, **settings):
        return settings["seed"]  # each configuration's seed stands for its label

    def time_one(label, epochs):
        order.append(label)
        value = seconds[label][sum(1 for o in order if o == label) - 1]
        return {
            "feed": "dataset",
            "replicas": 1,
            "policy": "float32",
            "steps_per_execution": 1,
            "seconds_per_step": value,
            "examples_per_second": 1 / value,
        }

    monkeypatch.setattr(scaling, "_prepare", prepare)
    monkeypatch.setattr(scaling, "_time", time_one)
    table = scaling.compare_configurations(
        print, small, {"a": {"seed": "a"}, "b": {"seed": "b"}}, reference="a"
    )
    # Interleaved, and rotated every round, so that neither always runs first.
    assert order == ["a", "b", "b", "a", "a", "b"]
    # Best rounds: a 2 s, b 3 s; b's ratios round by round: 3/2, 8/4, 5/2 (median 2).
    assert table.loc["b", "time_ratio"] == pytest.approx(1.5)
    assert table.loc["b", "ratio_low"] == pytest.approx(1.5)
    assert table.loc["b", "ratio_high"] == pytest.approx(2.5)
    assert table.loc["b", "ms_per_step"] == pytest.approx(3000.0)
    assert table.loc["b", "examples_per_second"] == pytest.approx(1 / 3)
    assert table.loc["a", "time_ratio"] == 1.0
    assert table.loc["a", "ms_per_step"] == pytest.approx(2000.0)


def test_compare_measures_every_configuration_for_real(small):
    table = scaling.compare_configurations(
        _recording_builder({}),
        small,
        {"dataset": {}, "arrays": {"feed": "arrays"}},
        reference="dataset",
        repeats=2,
        batch_size=BATCH,
    )
    assert list(table.index) == ["dataset", "arrays"]
    assert list(table["feed"]) == ["dataset", "arrays"]
    assert table.loc["dataset", "time_ratio"] == 1.0
    assert (table["ms_per_step"] > 0).all()
    assert (table["ratio_low"] <= table["time_ratio"]).all()
    assert (table["time_ratio"] <= table["ratio_high"]).all()


@pytest.mark.parametrize(
    ("configurations", "reference", "message"),
    [
        ({}, "a", "configurations is empty"),
        ({"a": {}}, "b", "reference must be one of"),
        ({"a": {"replicas": 2}}, "a", r"Unknown settings \['replicas'\] in 'a'"),
    ],
)
def test_compare_refuses_bad_arguments(small, configurations, reference, message):
    with pytest.raises(ValueError, match=message):
        scaling.compare_configurations(
            _recording_builder({}), small, configurations, reference=reference
        )


def test_committed_results_hold_what_the_chapter_glues():
    committed = scaling.committed_results("scale")
    assert {"machine", "grid", "sweep", "sweep_summary"} <= set(committed)
    assert committed["machine"]["date"] and committed["machine"]["cpu"]
    configurations = {row["configuration"] for row in committed["sweep_summary"]}
    assert "batch 1024, step size x16 (linear)" in configurations
    with pytest.raises(ValueError, match="name must be one of"):
        scaling.committed_results("speed")

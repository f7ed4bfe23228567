import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_tutorial as mtl
from mtl_tutorial.models import (
    CrossStitch,
    CustomizedGateControl,
    MixtureOfExperts,
    build_cross_stitch,
    build_mixture_of_experts,
    build_ple,
    build_shared_bottom,
)

# One expert makes Keras warn that a softmax over one value is always 1: that is the point.
pytestmark = pytest.mark.filterwarnings("ignore:You are using a softmax over axis")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Seed the layers' initial weights, so that every run checks the same numbers."""
    keras.utils.set_random_seed(0)


BUILDERS = [
    build_shared_bottom,
    build_cross_stitch,
    build_mixture_of_experts,
    build_ple,
]


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype("float32")


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _not_constant(outputs: tf.Tensor) -> tf.Tensor:
    """A scalar that depends on every output (a sum of probabilities is always 1)."""
    return tf.reduce_sum(tf.square(outputs))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _experts(x: np.ndarray, kernel, bias) -> np.ndarray:
    """NumPy reference of the experts: (batch, d) -> (batch, experts, units)."""
    return _relu(np.einsum("bd,deu->beu", x, np.asarray(kernel)) + np.asarray(bias))


# --- CrossStitch -------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_stitch_mixes_with_rows_that_start_summing_to_one(seed):
    rng = np.random.default_rng(seed)
    k, batch, units = rng.integers(2, 5), rng.integers(1, 6), rng.integers(1, 9)
    xs = [_normal(rng, batch, units) for _ in range(k)]
    stitch = CrossStitch(identity_weight=0.7)
    ys = stitch(xs)
    assert len(ys) == k and all(tuple(y.shape) == (batch, units) for y in ys)
    alpha = np.asarray(stitch.alpha)
    expected = np.full((k, k), 0.3 / (k - 1)) + np.eye(k) * (0.7 - 0.3 / (k - 1))
    np.testing.assert_allclose(alpha, expected, rtol=1e-6)
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, rtol=1e-6)
    stitch.alpha.assign(_normal(rng, k, k))  # not symmetric: catches a transpose
    alpha = np.asarray(stitch.alpha)
    ys = stitch(xs)
    for i in range(k):
        reference = sum(alpha[i, j] * xs[j] for j in range(k))
        np.testing.assert_allclose(ys[i], reference, rtol=1e-5, atol=1e-6)


def test_cross_stitch_at_identity_returns_its_inputs_exactly():
    rng = np.random.default_rng(3)
    xs = [_normal(rng, 7, 5) * 1e3 for _ in range(3)]
    ys = CrossStitch(identity_weight=1.0)(xs)
    for x, y in zip(xs, ys, strict=True):
        np.testing.assert_array_equal(y, x)


def test_cross_stitch_model_at_identity_is_separate_networks(two_tasks):
    x = _normal(np.random.default_rng(4), 6, 5)
    model = build_cross_stitch(5, two_tasks, (8, 4), identity_weight=1.0)
    for name in ("kind", "size"):
        other = "size" if name == "kind" else "kind"
        with tf.GradientTape() as tape:
            out = _not_constant(model(x)[name])
        own, others = tape.gradient(
            out,
            [
                model.get_layer(f"{name}_hidden_0").kernel,
                model.get_layer(f"{other}_hidden_0").kernel,
            ],
        )
        assert float(tf.reduce_sum(tf.abs(own))) > 0
        np.testing.assert_array_equal(others, 0.0)
    # Separate single-task networks with the same weights give the same outputs.
    for task in two_tasks:
        single = build_cross_stitch(5, [task], (8, 4))
        for layer in single.layers:
            if layer.weights:
                layer.set_weights(model.get_layer(layer.name).get_weights())
        np.testing.assert_allclose(single(x)[task.name], model(x)[task.name], rtol=1e-6)


def test_cross_stitch_model_off_identity_shares_between_columns(two_tasks):
    x = _normal(np.random.default_rng(5), 6, 5)
    model = build_cross_stitch(5, two_tasks, (8, 4), identity_weight=0.9)
    with tf.GradientTape() as tape:
        out = _not_constant(model(x)["kind"])
    gradient = tape.gradient(out, model.get_layer("size_hidden_0").kernel)
    assert float(tf.reduce_sum(tf.abs(gradient))) > 0
    one_task = build_cross_stitch(5, two_tasks[:1])
    assert not any(isinstance(layer, CrossStitch) for layer in one_task.layers)


# --- MixtureOfExperts --------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixture_of_experts_follows_its_formula(seed):
    rng = np.random.default_rng(seed)
    batch, d, experts, units, gates = (int(n) for n in rng.integers(1, 7, size=5))
    x = _normal(rng, batch, d)
    moe = MixtureOfExperts(experts, units, num_gates=gates)
    ys = moe(x)
    assert len(ys) == gates and all(tuple(y.shape) == (batch, units) for y in ys)
    g = np.asarray(moe.gate_weights(x))
    assert g.shape == (batch, gates, experts)
    np.testing.assert_allclose(
        g, _softmax(np.einsum("bd,dge->bge", x, moe.gate_kernel)), rtol=1e-5
    )
    expert_out = _experts(x, moe.expert_kernel, moe.expert_bias)
    for i in range(gates):
        reference = np.einsum("be,beu->bu", g[:, i], expert_out)
        np.testing.assert_allclose(ys[i], reference, rtol=1e-4, atol=1e-5)


def test_gates_are_distributions():
    rng = np.random.default_rng(6)
    x = _normal(rng, 16, 5) * 10
    g = np.asarray(MixtureOfExperts(6, 4, num_gates=3).gate_weights(x))
    assert (g >= 0).all()
    np.testing.assert_allclose(g.sum(axis=-1), 1.0, atol=1e-5)
    cgc = CustomizedGateControl(3, 2, 1, 4, output_shared=True)
    sizes = []
    for gate in cgc.gate_weights(x):
        gate = np.asarray(gate)
        sizes.append(gate.shape)
        assert (gate >= 0).all()
        np.testing.assert_allclose(gate.sum(axis=-1), 1.0, atol=1e-5)
    assert sizes == [(16, 1 + 2)] * 3 + [(16, 3 * 1 + 2)]


def test_with_one_expert_the_gate_is_exactly_one():
    x = _normal(np.random.default_rng(7), 9, 3) * 100
    moe = MixtureOfExperts(1, 4, num_gates=2)
    np.testing.assert_array_equal(moe.gate_weights(x), 1.0)
    expert = _experts(x, moe.expert_kernel, moe.expert_bias)[:, 0]
    scale = np.abs(expert).max()  # large inputs: compare to the outputs' scale
    for y in moe(x):
        np.testing.assert_allclose(y, expert, rtol=1e-5, atol=1e-6 * scale)


def test_mmoe_mixes_per_task_and_omoe_once(two_tasks):
    x = _normal(np.random.default_rng(8), 10, 5)
    ys = [np.asarray(y) for y in MixtureOfExperts(4, 3, num_gates=3)(x)]
    for i in range(3):
        for j in range(i):
            assert np.abs(ys[i] - ys[j]).max() > 1e-4
    for multi_gate in (True, False):
        model = build_mixture_of_experts(5, two_tasks, multi_gate=multi_gate)
        assert model.get_layer("experts").num_gates == (2 if multi_gate else 1)
        towers = [model.get_layer(f"{t.name}_tower").input for t in two_tasks]
        kind_in, size_in = keras.Model(model.input, towers)(x)
        differ = np.abs(np.asarray(kind_in) - np.asarray(size_in)).max() > 1e-4
        assert differ == multi_gate


# --- CustomizedGateControl and PLE -------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_cgc_output_shapes(seed):
    rng = np.random.default_rng(seed)
    tasks, shared, own, units, batch, d = (int(n) for n in rng.integers(1, 6, size=6))
    for output_shared in (False, True):
        cgc = CustomizedGateControl(tasks, shared, own, units, output_shared)
        one = cgc(_normal(rng, batch, d))
        many = cgc([_normal(rng, batch, d) for _ in range(tasks + 1)])
        for ys in (one, many):
            assert len(ys) == tasks + output_shared
            assert all(tuple(y.shape) == (batch, units) for y in ys)


def test_cgc_follows_its_formula():
    rng = np.random.default_rng(9)
    xs = [_normal(rng, 5, 4) for _ in range(3)]  # two tasks, then shared
    cgc = CustomizedGateControl(2, 3, 2, 6, output_shared=True)
    ys = cgc(xs)
    gates = [np.asarray(g) for g in cgc.gate_weights(xs)]
    own = [_experts(x, *w) for x, w in zip(xs[:2], cgc.task_experts, strict=True)]
    shared = _experts(xs[2], *cgc.shared_experts)
    pools = [np.concatenate([e, shared], axis=1) for e in own]
    pools.append(np.concatenate([*own, shared], axis=1))
    for y, gate, pool in zip(ys, gates, pools, strict=True):
        np.testing.assert_allclose(
            y, np.einsum("be,beu->bu", gate, pool), rtol=1e-4, atol=1e-5
        )
    # Task k's gate reads input k; the shared gate reads the shared input.
    kernels = [*cgc.task_gates, cgc.shared_gate]
    for gate, x, kernel in zip(gates, xs, kernels, strict=True):
        np.testing.assert_allclose(gate, _softmax(x @ np.asarray(kernel)), rtol=1e-5)


def test_cgc_task_outputs_read_only_their_own_and_shared_inputs():
    rng = np.random.default_rng(10)
    xs = [tf.constant(_normal(rng, 4, 3)) for _ in range(3)]  # two tasks, then shared
    cgc = CustomizedGateControl(2, 2, 2, 5, output_shared=True)
    reads = []
    for k in range(3):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            out = tf.reduce_sum(cgc(xs)[k])
        grads = tape.gradient(out, xs, unconnected_gradients="zero")
        reads.append([float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads])
    assert reads == [[True, False, True], [False, True, True], [True, True, True]]


def test_ple_stacks_levels_and_only_the_last_hides_the_shared_output(two_tasks):
    cgc = build_ple(5, two_tasks, num_levels=1)
    assert [layer.name for layer in cgc.layers if "cgc" in layer.name] == ["cgc_0"]
    assert not cgc.get_layer("cgc_0").output_shared
    ple = build_ple(5, two_tasks, num_levels=3)
    shared = [ple.get_layer(f"cgc_{i}").output_shared for i in range(3)]
    assert shared == [True, True, False]
    assert len(ple.get_layer("cgc_1").output) == 3


# --- Builders ----------------------------------------------------------------


@pytest.mark.parametrize("builder", BUILDERS)
def test_builders_output_a_dict_of_task_heads(builder, two_tasks):
    rng = np.random.default_rng(11)
    batch, d = (int(n) for n in rng.integers(1, 9, size=2))
    model = builder(d, two_tasks)
    outputs = model(_normal(rng, batch, d))
    assert set(outputs) == {"kind", "size"}
    assert outputs["kind"].shape == (batch, 3) and outputs["size"].shape == (batch, 1)
    np.testing.assert_allclose(np.sum(outputs["kind"], axis=1), 1.0, rtol=1e-5)
    for task in two_tasks:
        assert model.get_layer(f"{task.name}_tower").units == 8
        assert model.get_layer(task.name).units == task.output_units


@pytest.mark.parametrize("builder", BUILDERS)
def test_builders_train(builder, two_tasks):
    rng = np.random.default_rng(13)
    x = _normal(rng, 64, 5)
    y = {"kind": rng.integers(0, 3, size=64), "size": x @ _normal(rng, 5, 1)}
    model = mtl.training.compile_for_tasks(
        builder(5, two_tasks), two_tasks, learning_rate=1e-2
    )
    before = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    history = model.fit(x, y, batch_size=64, epochs=15, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(history.history["loss"]).all() and after < 0.9 * before


# --- Bad arguments -----------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: CrossStitch(1.5),
            r"identity_weight must be a number in \[0, 1\].*got identity_weight=1.5",
        ),
        (lambda: CrossStitch("high"), "identity_weight=.high."),
        (
            lambda: MixtureOfExperts(0, 4),
            "num_experts must be a positive integer.*got num_experts=0",
        ),
        (lambda: MixtureOfExperts(2, 4.0), r"expert_units=4\.0"),
        (lambda: MixtureOfExperts(2, 4, num_gates=True), "num_gates=True"),
        (lambda: CustomizedGateControl(0, 1, 1, 4), "num_tasks=0"),
        (lambda: CustomizedGateControl(2, -1, 1, 4), "num_shared_experts=-1"),
        (lambda: CustomizedGateControl(2, 1, 0, 4), "num_task_experts=0"),
        (lambda: CustomizedGateControl(2, 1, 1, 4, output_shared=1), "output_shared=1"),
    ],
)
def test_bad_layer_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_layer_inputs_are_refused():
    x = np.zeros((2, 3), dtype="float32")
    with pytest.raises(ValueError, match="at least 2 tensors"):
        CrossStitch()([x])
    with pytest.raises(ValueError, match=r"one shape \(batch, units\)"):
        CrossStitch()([x, np.zeros((2, 4), dtype="float32")])
    with pytest.raises(ValueError, match=r"one tensor of shape \(batch, d\)"):
        MixtureOfExperts(2, 3)([x, x])
    with pytest.raises(ValueError, match="list of 3.*got 2 inputs"):
        CustomizedGateControl(2, 1, 1, 4)([x, x])


@pytest.mark.parametrize(
    ("builder", "kwargs", "message"),
    [
        (
            build_shared_bottom,
            {"input_dim": 0},
            "input_dim must be a positive integer.*got input_dim=0",
        ),
        (build_shared_bottom, {"bottom_units": -3}, "bottom_units=-3"),
        (build_shared_bottom, {"tower_units": 0}, "tower_units=0"),
        (build_shared_bottom, {"tasks": []}, "at least one Task"),
        (
            build_cross_stitch,
            {"hidden_units": ()},
            r"hidden_units must be.*got hidden_units=\(\)",
        ),
        (build_cross_stitch, {"hidden_units": (8, 0)}, r"got hidden_units=\(8, 0\)"),
        (build_cross_stitch, {"identity_weight": -0.1}, "identity_weight=-0.1"),
        (build_mixture_of_experts, {"num_experts": 0}, "num_experts=0"),
        (
            build_mixture_of_experts,
            {"multi_gate": "yes"},
            "multi_gate must be True.*got multi_gate='yes'",
        ),
        (
            build_ple,
            {"num_levels": 0},
            "num_levels must be a positive integer.*got num_levels=0",
        ),
        (build_ple, {"num_task_experts": 1.5}, r"num_task_experts=1\.5"),
    ],
)
def test_bad_builder_arguments_are_refused(two_tasks, builder, kwargs, message):
    arguments = {"input_dim": 5, "tasks": two_tasks, **kwargs}
    with pytest.raises(ValueError, match=message):
        builder(**arguments)

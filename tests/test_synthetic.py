import numpy as np
import pytest

import mtl_tutorial as mtl


@pytest.mark.parametrize("p", [-0.5, 0.0, 0.3, 0.9, 1.0])
def test_weights_have_the_promised_cosine_and_norm(p):
    weights = mtl.data.task_directions(p, num_tasks=2, input_dim=20, scale=2.0, seed=3)
    norms = np.linalg.norm(weights, axis=1)
    np.testing.assert_allclose(norms, 2.0, rtol=1e-10)
    assert weights[0] @ weights[1] / (norms[0] * norms[1]) == pytest.approx(
        p, abs=1e-10
    )


def test_more_tasks_correlate_with_the_first():
    weights = mtl.data.task_directions(0.6, num_tasks=4, input_dim=10)
    cosines = weights @ weights.T
    np.testing.assert_allclose(cosines[0, 1:], 0.6, atol=1e-10)
    np.testing.assert_allclose(cosines[1, 2:], 0.36, atol=1e-10)


def test_linear_tasks_have_label_correlation_p():
    data = mtl.data.make_correlated_tasks(
        20_000, 0.7, num_sines=0, noise_std=0.0, input_dim=10
    )
    assert mtl.data.label_correlation(data) == pytest.approx(0.7, abs=0.03)


def test_sines_make_labels_far_less_correlated_than_p():
    # The point of the paper's Fig. 2: the cosine p is not the label correlation.
    for p in (0.5, 0.9):
        data = mtl.data.make_correlated_tasks(6_000, p, seed=0)
        assert mtl.data.label_correlation(data) < p - 0.3
    identical = mtl.data.make_correlated_tasks(6_000, 1.0, seed=0)
    assert mtl.data.label_correlation(identical) > 0.95


def test_shapes_splits_and_seeds():
    data = mtl.data.make_correlated_tasks(1_000, 0.5, num_tasks=3, input_dim=8, seed=1)
    assert [t.name for t in data.tasks] == ["task_1", "task_2", "task_3"]
    assert all(t.kind == "regression" for t in data.tasks)
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [600, 200, 200]
    assert data.train.x.shape == (600, 8) and data.train.x.dtype == np.float32
    assert data.train.y["task_3"].shape == (600, 1)
    np.testing.assert_allclose(data.train.y["task_1"].mean(), 0, atol=1e-5)
    again = mtl.data.make_correlated_tasks(1_000, 0.5, num_tasks=3, input_dim=8, seed=1)
    np.testing.assert_array_equal(data.test.y["task_2"], again.test.y["task_2"])
    other = mtl.data.make_correlated_tasks(1_000, 0.5, num_tasks=3, input_dim=8, seed=2)
    assert not np.array_equal(data.test.x, other.test.x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"correlation": 1.5},
            r"correlation must lie in \[-1, 1\]; got correlation=1.5",
        ),
        ({"num_tasks": 0}, "num_tasks must be a positive integer; got num_tasks=0"),
        ({"input_dim": 1}, "input_dim must be an integer of at least num_tasks=2"),
        (
            {"n_samples": 5},
            "n_samples must be an integer of at least 10; got n_samples=5",
        ),
        ({"num_sines": -1}, "num_sines must be a non-negative integer"),
        (
            {"noise_std": -0.1},
            "noise_std must be one non-negative number or one per task",
        ),
        ({"noise_std": [0.1, 0.2, 0.3]}, r"noise_std must be .* one per task \(2\)"),
        (
            {"label_scales": [1.0, 0.0]},
            "label_scales must give one positive number per task",
        ),
        ({"scale": 0.0}, "scale must be positive; got scale=0.0"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mtl.data.make_correlated_tasks(**{"n_samples": 100, **kwargs})


def test_label_correlation_needs_two_tasks():
    data = mtl.data.make_correlated_tasks(100, 0.5, num_tasks=1, input_dim=4)
    with pytest.raises(ValueError, match="at least two tasks"):
        mtl.data.label_correlation(data)


def test_label_scales_and_per_task_noise_are_known_by_construction():
    data = mtl.data.make_correlated_tasks(
        20_000,
        0.5,
        input_dim=5,
        num_sines=0,
        noise_std=[0.5, 0.1],
        label_scales=[1.0, 10.0],
        standardize_targets=False,
        seed=3,
    )
    x = data.train.x
    for name, expected in (("task_1", 0.5), ("task_2", 1.0)):
        y = data.train.y[name].ravel()
        # Linear labels: least squares recovers the signal, and the residual is the noise alone.
        coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
        assert np.std(y - x @ coefficients) == pytest.approx(expected, rel=0.03)
    assert np.std(data.train.y["task_2"]) > 5 * np.std(data.train.y["task_1"])

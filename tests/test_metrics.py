import numpy as np
import pytest

import mtl_tutorial as mtl
from mtl_tutorial.metrics import task_metric

SPECIES = mtl.Task("species", "classification", num_classes=3)
MASS = mtl.Task("mass", "regression", unit="g")


def test_accuracy_takes_the_most_probable_class():
    probabilities = np.array(
        [[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.4, 0.0, 0.6]]
    )
    assert task_metric(SPECIES, np.array([0, 1, 2, 0]), probabilities) == 0.75


def test_mae_accepts_columns_and_vectors():
    assert task_metric(MASS, np.array([[1.0], [3.0]]), np.array([2.0, 1.0])) == 1.5
    assert task_metric(MASS, np.array([1.0, 3.0]), np.array([[1.0], [3.0]])) == 0.0


@pytest.mark.parametrize(
    ("task", "y_true", "y_pred"),
    [
        (SPECIES, np.zeros(4), np.zeros((4, 2))),  # two columns for three classes
        (SPECIES, np.zeros((4, 1)), np.zeros((4, 3))),  # labels as a column
        (MASS, np.zeros(4), np.zeros((4, 2))),  # two values per example
        (MASS, np.zeros(4), np.zeros(3)),  # a row missing
    ],
)
def test_wrong_shapes_are_refused(task, y_true, y_pred):
    with pytest.raises(ValueError, match="expected .* got y_true"):
        task_metric(task, y_true, y_pred)


def test_evaluate_tasks_reports_grams(penguins):
    model = mtl.models.build_shared_trunk(
        penguins.input_dim, penguins.tasks, hidden_units=(4,)
    )
    scores = mtl.metrics.evaluate_tasks(model, penguins, "test")
    # An untrained model predicts roughly the mean mass: its error is hundreds of grams, not a fraction of 1.
    assert 100 < scores["body_mass_g"] < 3000
    assert 0 <= scores["species"] <= 1
    predictions = model(penguins.test.x)
    grams = penguins.to_original_units(
        "body_mass_g", predictions["body_mass_g"].numpy()
    )
    truth = penguins.to_original_units("body_mass_g", penguins.test.y["body_mass_g"])
    assert scores["body_mass_g"] == pytest.approx(
        float(np.abs(grams - truth).mean()), rel=1e-5
    )


def test_evaluate_tasks_for_a_single_task_model(penguins):
    model = mtl.models.build_shared_trunk(
        penguins.input_dim, [penguins.task("species")], hidden_units=(4,)
    )
    assert set(mtl.metrics.evaluate_tasks(model, penguins, "val")) == {"species"}

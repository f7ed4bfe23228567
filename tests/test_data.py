import numpy as np
import palmerpenguins
import pytest

import mtl_tutorial as mtl
from mtl_tutorial.data import stratified_split


def test_default_penguins_shapes_and_types(penguins):
    assert [t.name for t in penguins.tasks] == ["species", "body_mass_g"]
    assert penguins.tasks[0].class_names == ("Adelie", "Chinstrap", "Gentoo")
    assert penguins.feature_names == (
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "sex_female",
        "sex_male",
    )
    sizes = [len(penguins.split(name)) for name in ("train", "val", "test")]
    assert sum(sizes) + penguins.n_dropped == 344
    for name in ("train", "val", "test"):
        split = penguins.split(name)
        assert split.x.dtype == np.float32 and split.x.shape == (len(split), 5)
        assert split.y["species"].dtype == np.int32 and split.y["species"].shape == (
            len(split),
        )
        assert split.y["body_mass_g"].dtype == np.float32 and split.y[
            "body_mass_g"
        ].shape == (len(split), 1)
        assert not np.isnan(split.x).any()


def test_missing_values_are_dropped_and_counted(penguins):
    raw = palmerpenguins.load_penguins()
    used = [
        "species",
        "body_mass_g",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "sex",
    ]
    assert penguins.n_dropped == raw[used].isna().any(axis=1).sum() == 11
    # Without sex among the columns only the two unmeasured birds go.
    no_sex = mtl.data.load_penguins(features=("bill_length_mm", "flipper_length_mm"))
    assert no_sex.n_dropped == 2


def test_split_is_a_seeded_stratified_partition(penguins):
    again = mtl.data.load_penguins(seed=0)
    other = mtl.data.load_penguins(seed=1)
    np.testing.assert_array_equal(penguins.test.x, again.test.x)
    assert not np.array_equal(penguins.test.x, other.test.x)
    shares = [
        np.bincount(penguins.split(s).y["species"], minlength=3)
        / len(penguins.split(s))
        for s in ("train", "val", "test")
    ]
    np.testing.assert_allclose(shares[0], shares[1], atol=0.03)
    np.testing.assert_allclose(shares[0], shares[2], atol=0.03)


def test_standardisation_uses_training_rows_only(penguins):
    numeric = penguins.train.x[:, :3]
    np.testing.assert_allclose(numeric.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(numeric.std(axis=0), 1, atol=1e-5)
    assert not np.allclose(penguins.test.x[:, :3].mean(axis=0), 0, atol=1e-3)
    mass = penguins.train.y["body_mass_g"]
    assert abs(float(mass.mean())) < 1e-5 and abs(float(mass.std()) - 1) < 1e-5


def test_original_units_round_trip(penguins):
    raw = mtl.data.load_penguins(seed=0, standardize_targets=False)
    grams = penguins.to_original_units("body_mass_g", penguins.test.y["body_mass_g"])
    np.testing.assert_allclose(grams, raw.test.y["body_mass_g"], rtol=1e-5)
    assert 2500 < grams.min() and grams.max() < 6500
    labels = penguins.to_original_units("species", penguins.test.y["species"])
    np.testing.assert_array_equal(labels, penguins.test.y["species"])


def test_other_task_sets():
    data = mtl.data.load_penguins(
        tasks=("sex", "flipper_length_mm"), features=("island", "bill_depth_mm")
    )
    assert [t.kind for t in data.tasks] == ["classification", "regression"]
    assert data.tasks[1].unit == "mm"
    assert data.feature_names == (
        "bill_depth_mm",
        "island_Biscoe",
        "island_Dream",
        "island_Torgersen",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tasks": ("beak_colour",)}, r"Unknown tasks \['beak_colour'\]"),
        ({"features": ("wingspan",)}, r"Unknown features \['wingspan'\]"),
        ({"tasks": ()}, "tasks must name at least one column"),
        (
            {"tasks": ("species",), "features": ("species",)},
            "in both tasks and features",
        ),
        (
            {"val_fraction": 0.0},
            "val_fraction must lie strictly between 0 and 1; got 0.0",
        ),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must leave rows for training"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mtl.data.load_penguins(**kwargs)


def test_stratified_split_partitions_rows():
    labels = np.repeat([0, 1], 50)
    parts = stratified_split(
        100, labels=labels, val_fraction=0.2, test_fraction=0.2, seed=3
    )
    together = np.concatenate(list(parts.values()))
    np.testing.assert_array_equal(np.sort(together), np.arange(100))
    assert [len(parts[k]) for k in ("train", "val", "test")] == [60, 20, 20]
    assert labels[parts["test"]].mean() == 0.5
    with pytest.raises(ValueError, match="one entry per row"):
        stratified_split(10, labels=labels, val_fraction=0.2, test_fraction=0.2, seed=0)


def test_sample_draws_distinct_rows(penguins):
    small = penguins.train.sample(30, seed=4)
    assert len(small) == 30 and small.y["body_mass_g"].shape == (30, 1)
    rows = {tuple(r) for r in small.x.tolist()}
    assert rows <= {tuple(r) for r in penguins.train.x.tolist()}
    np.testing.assert_array_equal(small.x, penguins.train.sample(30, seed=4).x)
    with pytest.raises(
        ValueError, match="n must be an integer between 1 and 199; got n=500"
    ):
        penguins.train.sample(500, seed=0)


def test_task_lookup(penguins):
    assert penguins.task("species").num_classes == 3
    with pytest.raises(
        ValueError, match="Unknown task 'wing'; this data set has tasks"
    ):
        penguins.task("wing")
    with pytest.raises(ValueError, match="split name must be one of"):
        penguins.split("validation")


def test_split_refuses_mismatched_rows_and_weights(penguins):
    x, y = penguins.train.x, penguins.train.y
    with pytest.raises(ValueError, match=r"y\['species'\] has 5 rows but x has 199"):
        mtl.data.Split(x=x, y={**y, "species": y["species"][:5]})
    with pytest.raises(
        ValueError, match=r"weights\['species'\] must have shape \(199,\)"
    ):
        mtl.data.Split(x=x, y=y, weights={"species": np.ones(3)})
    with pytest.raises(ValueError, match="weights has a task 'wing' that y lacks"):
        mtl.data.Split(x=x, y=y, weights={"wing": np.ones(199)})


def test_container_refuses_targets_for_other_tasks(penguins):
    other = mtl.data.Split(
        x=penguins.train.x, y={"species": penguins.train.y["species"]}
    )
    with pytest.raises(ValueError, match=r"train.y must be keyed by the task names"):
        mtl.data.MultiTaskData(
            tasks=penguins.tasks,
            train=other,
            val=penguins.val,
            test=penguins.test,
            feature_names=penguins.feature_names,
        )


def test_missing_labels_are_masked_not_dropped(penguins):
    split = penguins.train.with_missing_labels("body_mass_g", 30, seed=2)
    assert len(split) == 199
    np.testing.assert_array_equal(split.x, penguins.train.x)
    np.testing.assert_array_equal(split.y["species"], penguins.train.y["species"])
    mass_weight = split.weights["body_mass_g"]
    assert mass_weight.sum() == 30 and set(np.unique(mass_weight)) == {0.0, 1.0}
    assert (split.weights["species"] == 1).all()
    kept = mass_weight == 1
    np.testing.assert_array_equal(
        split.y["body_mass_g"][kept], penguins.train.y["body_mass_g"][kept]
    )
    assert (split.y["body_mass_g"][~kept] == 0).all()
    labelled = split.labelled("body_mass_g")
    assert len(labelled) == 30 and set(labelled.y) == {"body_mass_g"}
    np.testing.assert_array_equal(labelled.x, penguins.train.x[kept])
    # Masking a second task keeps the first task's mask.
    both = split.with_missing_labels("species", 100, seed=3)
    np.testing.assert_array_equal(both.weights["body_mass_g"], mass_weight)
    assert both.weights["species"].sum() == 100
    with pytest.raises(
        ValueError, match="n_labelled must be an integer between 0 and 199"
    ):
        penguins.train.with_missing_labels("species", 500, seed=0)
    with pytest.raises(ValueError, match="Unknown task 'wing'"):
        penguins.train.with_missing_labels("wing", 5, seed=0)


def test_a_split_can_hold_one_array_per_modality():
    x = {
        "image": np.arange(6 * 4, dtype=np.float32).reshape(6, 2, 2),
        "audio": np.arange(6 * 3, dtype=np.float32).reshape(6, 3),
    }
    split = mtl.data.Split(x=x, y={"digit": np.arange(6, dtype=np.int32)})
    assert len(split) == 6
    part = split.rows(np.array([4, 1]))
    np.testing.assert_array_equal(part.x["image"], x["image"][[4, 1]])
    np.testing.assert_array_equal(part.x["audio"], x["audio"][[4, 1]])
    np.testing.assert_array_equal(part.y["digit"], [4, 1])
    assert len(split.sample(3, seed=0)) == 3
    with pytest.raises(ValueError, match="Every modality needs one row per example"):
        mtl.data.Split(x={"image": x["image"], "audio": x["audio"][:5]}, y={})
    with pytest.raises(ValueError, match=r"y\['digit'\] has 5 rows but x has 6"):
        mtl.data.Split(x=x, y={"digit": np.arange(5)})


def test_a_modality_can_be_removed_or_made_noisy():
    data = mtl.data.load_av_digits(("digit",), seed=0, copies=1)
    test = data.test
    gone = test.with_missing_modality("audio")
    assert not gone.x["audio"].any() and gone.x["audio"].dtype == np.float32
    np.testing.assert_array_equal(gone.x["image"], test.x["image"])
    half = test.with_missing_modality("image", fraction=0.5, seed=1)
    missing = ~half.x["image"].reshape(len(test), -1).any(axis=1)
    assert 0.4 < missing.mean() < 0.6
    kept = ~missing
    np.testing.assert_array_equal(half.x["image"][kept], test.x["image"][kept])
    noisy = test.with_noise("image", 2.0, seed=0)
    added = noisy.x["image"] - test.x["image"]
    assert added.std() == pytest.approx(2.0 * test.x["image"].std(), rel=0.05)
    np.testing.assert_array_equal(noisy.x["audio"], test.x["audio"])
    np.testing.assert_array_equal(
        test.with_noise("image", 2.0, seed=0).x["image"], noisy.x["image"]
    )
    np.testing.assert_array_equal(
        test.with_noise("image", 0.0, seed=3).x["image"], test.x["image"]
    )
    with pytest.raises(ValueError, match="name must be a modality of this split"):
        test.with_noise("video", 1.0, seed=0)
    with pytest.raises(ValueError, match="level must be"):
        test.with_noise("image", -1.0, seed=0)
    with pytest.raises(ValueError, match="fraction must be"):
        test.with_missing_modality("image", fraction=1.5)

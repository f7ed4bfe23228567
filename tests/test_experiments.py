import numpy as np
import pandas as pd
import pytest

import mtl_tutorial as mtl
from mtl_tutorial.metrics import delta_m

ACC = mtl.Task("species", "classification", num_classes=3)
MAE = mtl.Task("mass", "regression")


def test_delta_m_matches_the_formula_on_a_hand_computed_case():
    # Accuracy 0.90 -> 0.99 is +10 %, MAE 200 -> 220 is 10 % worse: the mean is 0.
    assert delta_m(
        {"species": 0.99, "mass": 220}, {"species": 0.9, "mass": 200}, [ACC, MAE]
    ) == (pytest.approx(0.0, abs=1e-9))
    # MAE 200 -> 150 is 25 % better; accuracy unchanged: Δm = 12.5 %.
    assert delta_m(
        {"species": 0.9, "mass": 150}, {"species": 0.9, "mass": 200}, [ACC, MAE]
    ) == (pytest.approx(12.5))


def test_delta_m_sign_follows_higher_is_better():
    assert delta_m({"mass": 90}, {"mass": 100}, [MAE]) == pytest.approx(10.0)
    assert delta_m({"species": 0.9}, {"species": 1.0}, [ACC]) == pytest.approx(-10.0)


def test_delta_m_refuses_missing_tasks_and_zero_baselines():
    with pytest.raises(ValueError, match="baselines has no value for task 'mass'"):
        delta_m({"mass": 1.0}, {}, [MAE])
    with pytest.raises(ValueError, match=r"baselines\['mass'\] is 0"):
        delta_m({"mass": 1.0}, {"mass": 0.0}, [MAE])


def _fake_run(seed):
    rng = np.random.default_rng(seed)
    return {
        "multi": {"species": 0.95, "mass": 100 - 5 + rng.normal()},
        "single": {"species": 0.95, "mass": 100 + rng.normal()},
    }


def test_compare_over_seeds_builds_a_long_table():
    results = mtl.experiments.compare_over_seeds(_fake_run, [0, 1, 2])
    assert list(results.columns) == ["seed", "model", "task", "value"]
    assert len(results) == 3 * 2 * 2
    assert sorted(results["seed"].unique()) == [0, 1, 2]
    with pytest.raises(ValueError, match="distinct seeds"):
        mtl.experiments.compare_over_seeds(_fake_run, [1, 1])


def test_summarise_writes_mean_and_spread():
    results = mtl.experiments.results_table(
        {0: {"a": {"t": 1.0}, "b": {"t": 3.0}}, 1: {"a": {"t": 3.0}}}
    )
    table = mtl.experiments.summarise(results)
    assert table.loc["t", "a"] == "2 ± 1.4"
    assert table.loc["t", "b"] == "3 ± nan"


def test_paired_difference_counts_wins_and_flags_clear_effects():
    results = mtl.experiments.compare_over_seeds(_fake_run, range(5))
    mass = mtl.experiments.paired_difference(results, MAE, "multi", "single")
    assert mass["mean"] == pytest.approx(-5.0, abs=2.5)
    assert mass["seeds"] == 5 and mass["wins"] == 5 and mass["clear"]
    species = mtl.experiments.paired_difference(results, ACC, "multi", "single")
    assert species == {"mean": 0.0, "std": 0.0, "wins": 0, "seeds": 5, "clear": False}


def test_paired_difference_within_noise_is_not_clear():
    results = mtl.experiments.results_table(
        {
            s: {"m": {"mass": 100 + d}, "b": {"mass": 100.0}}
            for s, d in enumerate([3, -4, 2, -1, 1])
        }
    )
    assert not mtl.experiments.paired_difference(results, MAE, "m", "b")["clear"]


def test_delta_m_by_seed():
    results = mtl.experiments.compare_over_seeds(_fake_run, range(4))
    dm = mtl.experiments.delta_m_by_seed(results, [ACC, MAE], "multi", "single")
    assert list(dm.index) == [0, 1, 2, 3]
    # Only the MAE changes, by about -5 %, so Δm is about +2.5 %.
    assert dm.mean() == pytest.approx(2.5, abs=1.5)
    with pytest.raises(ValueError, match="No results for model 'other'"):
        mtl.experiments.delta_m_by_seed(results, [ACC], "other", "single")


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match=r"results lacks columns \['value'\]"):
        mtl.experiments.summarise(
            pd.DataFrame({"seed": [0], "model": ["a"], "task": ["t"]})
        )
    results = mtl.experiments.compare_over_seeds(_fake_run, [0])
    with pytest.raises(ValueError, match="No results for task 'wing'"):
        mtl.experiments.paired_difference(
            results, mtl.Task("wing", "regression"), "multi", "single"
        )
    with pytest.raises(ValueError, match="holds no results"):
        mtl.experiments.results_table({})


def test_verdict_words_follow_two_standard_errors():
    assert mtl.experiments.verdict([5.0, 6.0, 4.0, 5.5, 4.5]) == "a clear gain"
    assert mtl.experiments.verdict([-5.0, -6.0, -4.0, -5.5, -4.5]) == "a clear loss"
    # Mean 1, standard deviation about 5.7: two standard errors are about 5, so no verdict.
    assert (
        mtl.experiments.verdict([8.0, -6.0, 1.0, 5.0, -3.0])
        == "within the seed-to-seed noise"
    )
    with pytest.raises(ValueError, match="values must be two or more finite numbers"):
        mtl.experiments.verdict([1.0])

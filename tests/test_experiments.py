"""The experiment protocol: the table, training over seeds, baselines, comparisons and their words."""

import functools
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mtl_tutorial as mtl
from mtl_tutorial.experiments import MINUS, Comparison, compare, compare_values
from mtl_tutorial.metrics import delta_m

ACC = mtl.Task("species", "classification", num_classes=3)
MAE = mtl.Task("mass", "regression", unit="g")


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


def _table(mass_multi, mass_single, split="test"):
    scores = {
        seed: {
            "multi": {"species": 0.9, "mass": a},
            "single": {"species": 0.9, "mass": b},
        }
        for seed, (a, b) in enumerate(zip(mass_multi, mass_single, strict=True))
    }
    return mtl.experiments.results_table(scores, split=split)


# --- The t quantile, the interval and the sign test -------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "quantile"), [(2, 12.706), (3, 4.303), (5, 2.776), (10, 2.262), (30, 2.045)]
)
def test_t_quantiles_match_the_table(n, quantile):
    # Two-sided 95 % quantiles of Student's t with n - 1 degrees of freedom, from a printed table.
    assert mtl.experiments.t_quantile(n) == pytest.approx(quantile, abs=5e-4)


def test_the_interval_is_the_t_interval_of_the_mean():
    differences = [-12.0, -3.0, -8.0, 1.0, -10.0]
    c = compare_values(differences, higher_is_better=False, unit=" g")
    low, high = stats.t.interval(
        0.95, 4, loc=np.mean(differences), scale=stats.sem(differences)
    )
    assert (c.low, c.high) == (pytest.approx(low), pytest.approx(high))
    assert c.mean == pytest.approx(-6.4)
    assert c.n == 5 and c.wins == 4 and c.ties == 0
    assert c.p_value == pytest.approx(stats.ttest_1samp(differences, 0).pvalue)
    # The interval reaches above zero: nothing is detected, whatever the four seeds say.
    assert not c.detected and c.outcome == "none"


def test_two_standard_errors_is_not_enough_with_five_seeds():
    # The old rule called |mean| > 2 SE "clear"; with 4 degrees of freedom the 95 % bound is 2.78 SE.
    differences = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    differences = (
        differences - differences.mean() + 2.4 * differences.std(ddof=1) / np.sqrt(5)
    )
    c = compare_values(differences)
    assert c.mean > 2 * differences.std(ddof=1) / np.sqrt(5)
    assert not c.detected


def test_two_seeds_give_the_widest_interval():
    c = compare_values([1.0, 3.0])
    # mean 2, sd sqrt(2), half-width 12.706 * sqrt(2) / sqrt(2) = 12.706.
    assert c.half_width == pytest.approx(12.706, abs=1e-3)
    assert c.outcome == "none"


def test_zero_spread_gives_a_point_interval():
    c = compare_values([0.5, 0.5, 0.5])
    assert c.low == c.high == pytest.approx(0.5)
    assert c.detected and c.outcome == "better" and c.p_value == 0.0
    ties = compare_values([0.0, 0.0, 0.0])
    assert not ties.detected and ties.ties == 3 and ties.p_value == 1.0


@pytest.mark.parametrize(
    "bad",
    [
        [1.0],
        [],
        [1.0, float("nan")],
        [1.0, float("inf"), 2.0],
        [[1.0, 2.0], [3.0, 4.0]],
    ],
)
def test_compare_values_refuses_too_few_or_non_finite_values(bad):
    with pytest.raises(ValueError, match="at least two|finite|sequence of numbers"):
        compare_values(bad)


def test_sign_test_floor_with_five_seeds_is_one_sixteenth():
    assert mtl.experiments.sign_test_p(5, 5) == pytest.approx(1 / 16)
    assert mtl.experiments.sign_test_p(0, 5) == pytest.approx(1 / 16)
    assert mtl.experiments.sign_test_p(3, 5) == pytest.approx(1.0)
    assert mtl.experiments.sign_test_p(10, 10) == pytest.approx(2 / 2**10)
    with pytest.raises(ValueError, match="wins must be an integer between 0 and n=5"):
        mtl.experiments.sign_test_p(6, 5)


def test_holm_matches_the_step_down_by_hand():
    p = [0.01, 0.04, 0.03, 0.2]
    # Sorted: 0.01*4 = 0.04, 0.03*3 = 0.09, 0.04*2 = 0.08 -> 0.09 (monotone), 0.2*1 -> 0.2.
    assert mtl.experiments.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert mtl.experiments.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


# --- Comparisons of two models in a table --------------------------------------------------------------


def test_compare_pairs_by_seed_and_reports_in_task_units():
    results = _table([95.0, 96.0, 94.0, 95.5, 94.5], [100.0, 101.0, 99.0, 100.5, 99.5])
    c = compare(results, MAE, "multi", "single", split="test")
    assert c.mean == pytest.approx(-5.0) and c.wins == 5
    assert c.outcome == "better" and c.unit == " g"
    assert (
        c.words()
        == "better: -5.0 g [95 % CI -5.0, -5.0], better on 5 of 5 seeds".replace(
            "-", MINUS
        )
    )
    worse = compare(results, MAE, "single", "multi", split="test")
    assert worse.outcome == "worse" and worse.wins == 0


def test_compare_reports_accuracy_in_percentage_points():
    scores = {
        s: {"a": {"species": 0.9 + 0.01 * s}, "b": {"species": 0.88 + 0.012 * s}}
        for s in range(4)
    }
    c = compare(
        mtl.experiments.results_table(scores, split="val"), ACC, "a", "b", split="val"
    )
    assert c.unit == " points"
    assert c.mean == pytest.approx(100 * np.mean([0.02 - 0.002 * s for s in range(4)]))


def test_compare_refuses_unpaired_seeds_and_a_missing_split():
    results = _table([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    unpaired = results[~((results["seed"] == 2) & (results["model"] == "single"))]
    with pytest.raises(ValueError, match=r"same seeds to be paired; seeds \[2\]"):
        compare(unpaired, MAE, "multi", "single", split="test")
    with pytest.raises(ValueError, match="no rows for split 'val'"):
        compare(results, MAE, "multi", "single", split="val")
    with pytest.raises(ValueError, match="split must be"):
        compare(results, MAE, "multi", "single", split="validation")
    with pytest.raises(ValueError, match="two different models"):
        compare(results, MAE, "multi", "multi", split="test")
    with pytest.raises(ValueError, match="No results for models"):
        compare(results, MAE, "multi", "nobody", split="test")
    one_seed = results[results["seed"] == 0]
    with pytest.raises(ValueError, match="at least two"):
        compare(one_seed, MAE, "multi", "single", split="test")


# --- Words --------------------------------------------------------------------------------------------

OUTCOMES = {
    "better": compare_values([2.1, 2.9, 2.4, 2.6, 2.5], unit=" %"),
    "worse": compare_values([-2.1, -2.9, -2.4, -2.6, -2.5], unit=" %"),
    "none": compare_values([-2.0, 1.0, 0.5, -1.0, 0.3], unit=" %"),
}


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_every_outcome_has_its_words(outcome):
    c = OUTCOMES[outcome]
    assert c.outcome == outcome
    words = c.words()
    lead = {
        "better": "better: ",
        "worse": "worse: ",
        "none": "no difference detected at this size: ",
    }[outcome]
    assert words.startswith(lead)
    assert "95 % CI" in words and words.endswith(f"of {c.n} seeds")
    assert "clear" not in words and "-" not in words  # typographic minus signs only
    assert c.choose(better="B", worse="W", none="N") == outcome[0].upper()


def test_words_for_the_issue_examples():
    better = Comparison(2.5, 0.4, 4.6, 5, 5, True, 0.03, unit=" %")
    assert (
        better.words() == "better: +2.5 % [95 % CI +0.4, +4.6], better on 5 of 5 seeds"
    )
    none = Comparison(-0.3, -2.1, 1.5, 5, 2, True, 0.6, unit=" %")
    assert none.words() == (
        "no difference detected at this size: -0.3 % [95 % CI -2.1, +1.5], "
        "better on 2 of 5 seeds"
    ).replace("-", MINUS)
    assert none.interval() == "-0.3 % [95 % CI -2.1, +1.5]".replace("-", MINUS)


def test_a_lower_is_better_metric_reads_better_when_it_falls():
    c = compare_values([-3.0, -4.0, -5.0], higher_is_better=False, unit=" g")
    assert c.outcome == "better" and c.wins == 3


def test_comparison_log_counts_and_corrects():
    log = mtl.experiments.ComparisonLog()
    for label, c in OUTCOMES.items():
        assert log.add(label, c) is c
    assert len(log) == 3
    table = log.table()
    assert list(table.index) == ["better", "worse", "none"]
    assert table.loc["none", "outcome"] == "not detected"
    assert not table.loc["none", "detected after Holm"]
    assert table.loc["better", "detected after Holm"]
    assert table["detected after Holm"].dtype == bool
    assert (~table["detected after Holm"]).tolist() == [False, False, True]
    summary = log.summary()
    assert summary.startswith(
        "3 comparisons at the 95 % level, 2 of which detect a difference"
    )
    assert "2 remain detected after Holm's correction for all 3" in summary
    with pytest.raises(ValueError, match="already in the log"):
        log.add("better", OUTCOMES["better"])
    with pytest.raises(ValueError, match="holds no comparisons"):
        mtl.experiments.ComparisonLog().table()


def test_comparison_log_words_a_sentence_by_holm():
    # A comparison detected alone but not after Holm's correction over the log says so.
    log = mtl.experiments.ComparisonLog()
    strong = log.add("strong", compare_values([5.0, 5.1, 4.9, 5.2, 5.0]))
    weak = log.add("weak", compare_values([1.0, 2.0, 0.5, 1.5, 0.2]))
    none = log.add("none", OUTCOMES["none"])
    assert weak.outcome == "better" and not log.after_holm(weak)
    assert log.after_holm(strong) and not log.after_holm(none)
    words = {
        "better": "a beats b",
        "worse": "b beats a",
        "none": "No difference detected.",
    }
    assert log.choose(strong, **words) == "A beats b."
    assert log.choose(weak, **words) == (
        "Before Holm's correction, a beats b; after it, the difference is not detected."
    )
    assert log.choose(none, **words) == "No difference detected."
    worse = log.add("worse", compare_values([-5.0, -5.1, -4.9, -5.2, -5.0]))
    assert log.choose(worse, **words) == "B beats a."
    with pytest.raises(ValueError, match="not in the log"):
        log.choose(OUTCOMES["better"], **words)


def test_summary_grammar_for_one_comparison():
    log = mtl.experiments.ComparisonLog()
    log.add("one", OUTCOMES["better"])
    assert log.summary().startswith(
        "1 comparison at the 95 % level, 1 of which detects a difference; "
        "1 remains detected"
    )


# --- The table, summaries and Δm by seed ---------------------------------------------------------------


def test_results_table_and_summarise_name_their_split():
    results = pd.concat(
        [_table([1.0, 2.0], [3.0, 4.0]), _table([5.0, 6.0], [7.0, 8.0], "val")]
    )
    assert list(results.columns) == ["seed", "model", "task", "split", "value"]
    test = mtl.experiments.summarise(results, split="test")
    val = mtl.experiments.summarise(results, split="val")
    assert test.loc["mass", "multi"] == "1.5 ± 0.71"
    assert val.loc["mass", "multi"] == "5.5 ± 0.71"
    with pytest.raises(TypeError):
        mtl.experiments.summarise(results)  # the split must be named


def test_delta_m_by_seed_reads_one_split():
    results = pd.concat(
        [_table([90.0, 80.0], [100.0, 100.0]), _table([1.0, 1.0], [1.0, 1.0], "val")]
    )
    dm = mtl.experiments.delta_m_by_seed(
        results, [MAE], "multi", "single", split="test"
    )
    assert dm.tolist() == pytest.approx([10.0, 20.0])


# --- Training over seeds and baselines -----------------------------------------------------------------


def _penguins(seed):
    return mtl.data.load_penguins(tasks=("species", "body_mass_g"), seed=seed)


def _trunk(data):
    return mtl.models.build_shared_trunk(data.input_dim, data.tasks, hidden_units=(16,))


def test_train_over_seeds_scores_val_and_test_and_reuses_traces_exactly():
    results = mtl.experiments.train_over_seeds(
        {"multi": _trunk}, _penguins, [0, 1], epochs=3, learning_rate=3e-3
    )
    assert sorted(results["split"].unique()) == ["test", "val"]
    assert len(results) == 2 * 2 * 2  # seeds x tasks x splits
    # Seed 1 after seed 0 (restarted model) equals seed 1 trained alone (fresh model).
    alone = mtl.experiments.train_over_seeds(
        {"multi": _trunk}, _penguins, [1], epochs=3, learning_rate=3e-3
    )
    after = results[results["seed"] == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(after, alone.reset_index(drop=True))
    # Different seeds: different splits and weights, so different scores.
    mass = results.query("task == 'body_mass_g' and split == 'test'")["value"]
    assert mass.nunique() == 2


def test_train_over_seeds_sets_adams_betas_and_epsilon_and_does_not_reuse_other_settings():
    # The square-root rule scales beta_1, beta_2 and epsilon with the batch: the model that trains must
    # have them, also when the same builder was trained (and its step traced) with Keras's defaults.
    seen = []

    def keep(model, **_):
        opt = model.optimizer
        seen.append((float(opt.beta_1), float(opt.beta_2), float(opt.epsilon)))

    run = functools.partial(
        mtl.experiments.train_over_seeds,
        {"multi": _trunk},
        _penguins,
        [0],
        epochs=2,
        learning_rate=3e-3,
        after_fit=keep,
    )
    default = run()
    scaled = run(adam={"beta_1": 0.6, "beta_2": 0.996, "epsilon": 5e-8})
    again = run()
    assert seen == [(0.9, 0.999, 1e-7), (0.6, 0.996, 5e-8), (0.9, 0.999, 1e-7)]
    assert not np.allclose(default["value"], scaled["value"])
    pd.testing.assert_frame_equal(default, again)
    with pytest.raises(ValueError, match="learning_rate"):
        run(adam={"learning_rate": 0.1})
    with pytest.raises(ValueError, match="beta_1"):
        run(adam={"beta_1": 1.0})
    with pytest.raises(ValueError, match="epsilon"):
        mtl.training.compile_for_tasks(
            _trunk(_penguins(0)), _penguins(0).tasks, adam={"epsilon": 0}
        )


def test_train_over_seeds_merges_single_task_builders_and_calls_after_fit():
    kept = []

    def keep(label, seed, model, data, history):
        kept.append((label, seed, tuple(model.output_names), len(history["loss"])))

    def single(name):
        return lambda data: mtl.models.build_shared_trunk(
            data.input_dim, [data.task(name)], hidden_units=(8,)
        )

    results = mtl.experiments.train_over_seeds(
        {"single": [single("species"), single("body_mass_g")]},
        _penguins,
        [3, 4],
        epochs=2,
        after_fit=keep,
        train_split=lambda data, seed: data.train.sample(40, seed=seed),
    )
    assert set(results["task"]) == {"species", "body_mass_g"}
    assert set(results["model"]) == {"single"}
    assert kept == [
        ("single", 3, ("species",), 2),
        ("single", 4, ("species",), 2),
        ("single", 3, ("body_mass_g",), 2),
        ("single", 4, ("body_mass_g",), 2),
    ]


def test_train_over_seeds_refuses_bad_plans():
    with pytest.raises(ValueError, match="distinct non-negative"):
        mtl.experiments.train_over_seeds({"m": _trunk}, _penguins, [0, 0], epochs=1)
    with pytest.raises(ValueError, match="are the baselines'"):
        mtl.experiments.train_over_seeds(
            {"linear": _trunk}, _penguins, [0], epochs=1, baselines=True
        )
    with pytest.raises(
        ValueError, match="must return an mtl_tutorial.data.MultiTaskData"
    ):
        mtl.experiments.train_over_seeds({"m": _trunk}, lambda seed: 3, [0], epochs=1)
    with pytest.raises(ValueError, match="must return a keras.Model"):
        mtl.experiments.train_over_seeds(
            {"m": lambda data: 3}, _penguins, [0], epochs=1
        )


def test_baselines_are_the_majority_the_mean_and_a_tuned_linear_model():
    data = _penguins(0)
    scores = mtl.experiments.baseline_scores(data, "test")
    species = data.test.y["species"]
    majority = np.bincount(data.train.y["species"]).argmax()
    assert scores["constant"]["species"] == pytest.approx(np.mean(species == majority))
    grams = data.to_original_units("body_mass_g", data.test.y["body_mass_g"]).ravel()
    mean = data.to_original_units("body_mass_g", data.train.y["body_mass_g"].mean())
    assert scores["constant"]["body_mass_g"] == pytest.approx(
        np.mean(np.abs(grams - mean))
    )
    # The linear models learn: far better than the constants on both tasks.
    assert scores["linear"]["species"] > 0.9
    assert scores["linear"]["body_mass_g"] < 0.6 * scores["constant"]["body_mass_g"]


def test_baselines_ignore_rows_without_a_label():
    data = _penguins(0)
    train = data.train.with_missing_labels("body_mass_g", 20, seed=0)
    # A constant fitted to the 20 labelled rows, not to the zeros that stand in for missing labels.
    labelled = train.labelled("body_mass_g").y["body_mass_g"].mean()
    grams = data.to_original_units("body_mass_g", data.val.y["body_mass_g"]).ravel()
    expected = np.mean(np.abs(grams - data.to_original_units("body_mass_g", labelled)))
    scores = mtl.experiments.baseline_scores(data, "val", train=train)
    assert scores["constant"]["body_mass_g"] == pytest.approx(expected)


def test_baselines_flatten_every_modality():
    data = mtl.data.load_av_digits(("digit",), seed=0, copies=1)
    scores = mtl.experiments.baseline_scores(data, "val")
    assert scores["constant"]["digit"] < 0.2
    assert scores["linear"]["digit"] > 0.5


def test_every_branch_of_choose_is_reachable():
    seen = set()
    for values in itertools.product([-1.0, 0.0, 1.0], repeat=2):
        c = compare_values([values[0], values[0] + 0.01 * values[1], values[0]])
        seen.add(c.outcome)
    assert seen == {"better", "worse", "none"}


def test_a_score_function_and_no_targets_train_a_dual_encoder():
    from tests.test_contrastive import _encoders

    def digits(seed):
        return mtl.data.load_av_digits(("digit",), seed=seed, copies=1)

    def dual(data):
        return mtl.models.DualEncoder(*_encoders(), names=("image", "audio"))

    def recall(model, data, split):
        part = data.split(split)
        e = model(part.x)
        return {
            "R@1": mtl.metrics.recall_at_k(
                np.asarray(e["image"]), np.asarray(e["audio"]), labels=part.y["digit"]
            )
        }

    trained = mtl.experiments.train_over_seeds(
        {"trained": dual},
        digits,
        [0, 1],
        epochs=8,
        batch_size=64,
        learning_rate=1e-2,
        score=recall,
        targets=False,
    )
    untrained = mtl.experiments.train_over_seeds(
        {"untrained": dual}, digits, [0, 1], epochs=0, score=recall, targets=False
    )
    results = pd.concat([trained, untrained])
    c = compare(
        results, "R@1", "trained", "untrained", split="val", higher_is_better=True
    )
    assert c.mean > 0.05 and c.wins == 2
    with pytest.raises(ValueError, match="higher_is_better must be True or False"):
        compare(results, "R@1", "trained", "untrained", split="val")
    with pytest.raises(ValueError, match="give score"):
        mtl.experiments.train_over_seeds(
            {"d": dual}, digits, [0], epochs=1, targets=False
        )


def test_a_builder_reused_in_a_later_call_trains_as_a_fresh_one():
    first = mtl.experiments.train_over_seeds({"m": _trunk}, _penguins, [0], epochs=2)
    again = mtl.experiments.train_over_seeds({"m": _trunk}, _penguins, [2], epochs=2)

    def fresh(data):  # another function object: no cached model
        return _trunk(data)

    alone = mtl.experiments.train_over_seeds({"m": fresh}, _penguins, [2], epochs=2)
    assert len(first) == len(again)
    pd.testing.assert_frame_equal(again, alone)

"""The two-modality digits: shapes, determinism, how each modality is made, and that fusion pays."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mtl_tutorial as mtl
from mtl_tutorial.data import digits as module


@pytest.fixture(scope="module")
def digits():
    return mtl.data.load_multimodal_digits(("digit", "odd", "ink"), seed=0)


def test_shapes_dtypes_and_tasks(digits):
    assert [task.name for task in digits.tasks] == ["digit", "odd", "ink"]
    assert digits.input_shapes == {"image": (8, 8, 1), "audio": (65,)}
    sizes = [len(digits.split(name)) for name in ("train", "val", "test")]
    assert sum(sizes) == 1797
    x, y = digits.train.x, digits.train.y
    assert x["image"].dtype == np.float32 and x["audio"].dtype == np.float32
    assert y["digit"].dtype == np.int32 and y["digit"].shape == (sizes[0],)
    assert y["ink"].shape == (sizes[0], 1)
    np.testing.assert_array_equal(y["odd"], y["digit"] % 2)
    # Audio and ink are standardised on the training rows.
    np.testing.assert_allclose(x["audio"].mean(axis=0), 0.0, atol=1e-5)
    assert y["ink"].mean() == pytest.approx(0.0, abs=1e-5)
    assert y["ink"].std() == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(ValueError, match="several modalities"):
        _ = digits.input_dim


def test_split_is_stratified_by_digit(digits):
    for name in ("train", "val", "test"):
        counts = np.bincount(digits.split(name).y["digit"], minlength=10)
        shares = counts / counts.sum()
        np.testing.assert_allclose(shares, 0.1, atol=0.015)


def test_same_seed_same_data_other_seed_other_data():
    a = mtl.data.load_multimodal_digits(seed=3)
    b = mtl.data.load_multimodal_digits(seed=3)
    c = mtl.data.load_multimodal_digits(seed=4)
    for key in ("image", "audio"):
        np.testing.assert_array_equal(a.train.x[key], b.train.x[key])
    assert not np.array_equal(a.train.x["audio"], c.train.x["audio"])


def test_a_clean_tone_peaks_at_its_two_key_frequencies():
    rng = np.random.default_rng(0)
    for digit, (low, high) in module.DTMF_HZ.items():
        tone = module.dtmf_tones(
            np.array([digit]), rng, noise_std=0.0, drop_fraction=0.0
        )
        spectrum = module.tone_spectrum(tone)[0]
        peaks = module.SPECTRUM_HZ[np.sort(np.argsort(spectrum)[-2:])]
        # Within one bin (31.25 Hz) plus the 1.5% tolerance of the frequency.
        assert abs(peaks[0] - low) < 31.25 + 0.015 * low
        assert abs(peaks[1] - high) < 31.25 + 0.015 * high


def test_a_dropped_sine_leaves_one_peak():
    rng = np.random.default_rng(1)
    tones = module.dtmf_tones(np.full(50, 5), rng, noise_std=0.0, drop_fraction=1.0)
    spectrum = module.tone_spectrum(tones)
    low_bin = np.argmin(np.abs(module.SPECTRUM_HZ - 770))
    high_bin = np.argmin(np.abs(module.SPECTRUM_HZ - 1336))
    low_present = spectrum[:, low_bin] > 2.0
    high_present = spectrum[:, high_bin] > 2.0
    assert np.all(low_present != high_present)  # exactly one of the two
    assert 10 < low_present.sum() < 40  # the missing sine is chosen at random


def test_image_damage():
    images = np.random.default_rng(2).integers(1, 17, size=(20, 8, 8)).astype(float)
    rng = np.random.default_rng(0)
    clean = module.damaged_images(images, rng, noise_std=0.0, occlusion_fraction=0.0)
    np.testing.assert_allclose(clean, images / 16.0)
    blanked = module.damaged_images(images, rng, noise_std=0.0, occlusion_fraction=1.0)
    # The source has no zero pixel, so the zeros are exactly one 4 x 4 block per image.
    assert np.all((blanked == 0).sum(axis=(1, 2)) == 16)


def test_fusion_beats_each_modality_alone(digits):
    # A linear probe on each modality and on both: the data are built so that the two together
    # identify the digit clearly better than the better modality alone.
    def accuracy(select):
        model = LogisticRegression(max_iter=3000)
        model.fit(select(digits.train.x), digits.train.y["digit"])
        return model.score(select(digits.test.x), digits.test.y["digit"])

    image = accuracy(lambda x: x["image"].reshape(len(x["image"]), -1))
    audio = accuracy(lambda x: x["audio"])
    both = accuracy(
        lambda x: np.hstack([x["image"].reshape(len(x["image"]), -1), x["audio"]])
    )
    assert 0.5 < image < 0.9 and 0.5 < audio < 0.9  # informative but imperfect
    assert both > max(image, audio) + 0.08


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tasks": ("digit", "colour")}, "tasks must be distinct names"),
        ({"tasks": ("digit", "digit")}, "tasks must be distinct names"),
        ({"image_noise": -0.1}, "image_noise must be a number >= 0"),
        (
            {"tone_noise": "loud"},
            "tone_noise must be a number.*; got tone_noise='loud'",
        ),
        (
            {"occlusion_fraction": 1.5},
            r"occlusion_fraction must be a number in \[0, 1\]",
        ),
        ({"drop_fraction": -1}, r"drop_fraction must be a number in \[0, 1\]"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mtl.data.load_multimodal_digits(**kwargs)


def test_with_modalities_keeps_only_the_named_ones(digits):
    audio = digits.with_modalities(["audio"])
    assert audio.input_shapes == {"audio": (65,)}
    assert set(audio.test.x) == {"audio"} and audio.test.y is digits.test.y
    np.testing.assert_array_equal(audio.train.x["audio"], digits.train.x["audio"])
    with pytest.raises(ValueError, match="names must be modalities of this split"):
        digits.with_modalities(["video"])
    with pytest.raises(ValueError, match="needs multi-modal data"):
        mtl.data.make_correlated_tasks(100, 0.5, input_dim=4).with_modalities(["x"])


@pytest.mark.parametrize(
    "options",
    [
        {"seed": 0},
        {"seed": 3, "tone_noise": 0.5, "drop_fraction": 0.2, "test_fraction": 0.3},
    ],
)
def test_audio_statistics_undo_the_loaders_standardisation(monkeypatch, options):
    # Record the tones the loader really makes, then check that the statistics map its standardised
    # audio back to their spectra, row for row.
    made = []

    def recording(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    original = module.dtmf_tones
    monkeypatch.setattr(module, "dtmf_tones", recording)
    data = mtl.data.load_multimodal_digits(("digit",), **options)
    monkeypatch.setattr(module, "dtmf_tones", original)
    mean, std = module.audio_statistics(**options)
    assert mean.shape == std.shape == (65,)
    spectra = module.tone_spectrum(made[0])
    fractions = {
        "val_fraction": options.get("val_fraction", 0.2),
        "test_fraction": options.get("test_fraction", 0.2),
    }
    rows = mtl.data.stratified_split(
        len(spectra),
        labels=module.load_digits().target,
        seed=options["seed"],
        **fractions,
    )
    for name in ("train", "test"):
        restored = data.split(name).x["audio"] * std + mean
        np.testing.assert_allclose(restored, spectra[rows[name]], atol=1e-4)


def test_key_tone_prompts_peak_at_their_keys_frequencies():
    statistics = module.audio_statistics(0)
    spectra, digits = module.key_tone_prompts(statistics)
    assert spectra.shape == (10, 65) and spectra.dtype == np.float32
    np.testing.assert_array_equal(digits, np.arange(10))
    raw = spectra * statistics[1] + statistics[0]
    for digit, spectrum in zip(digits, raw, strict=True):
        peaks = module.SPECTRUM_HZ[np.sort(np.argsort(spectrum)[-2:])]
        low, high = module.DTMF_HZ[int(digit)]
        assert abs(peaks[0] - low) < 31.25 + 0.015 * low
        assert abs(peaks[1] - high) < 31.25 + 0.015 * high
    # Several noisy tones per key, in digit order; the same seed gives the same tones.
    noisy, repeated = module.key_tone_prompts(statistics, per_key=3, noise_std=1.0)
    assert noisy.shape == (30, 65)
    np.testing.assert_array_equal(repeated, np.repeat(np.arange(10), 3))
    again, _ = module.key_tone_prompts(statistics, per_key=3, noise_std=1.0)
    np.testing.assert_array_equal(noisy, again)
    other, _ = module.key_tone_prompts(statistics, per_key=3, noise_std=1.0, seed=1)
    assert not np.array_equal(noisy, other)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"per_key": 0}, "per_key must be a positive integer"),
        ({"noise_std": -1.0}, "noise_std must be a number >= 0"),
        ({"statistics": (np.zeros(65), np.zeros(65))}, "statistics must be"),
        ({"statistics": (np.zeros(64), np.ones(64))}, "statistics must be"),
        ({"statistics": np.ones((2, 65))}, "statistics must be"),
    ],
)
def test_key_tone_prompts_refuse_bad_arguments(kwargs, message):
    options = {"statistics": (np.zeros(65), np.ones(65)), **kwargs}
    with pytest.raises(ValueError, match=message):
        module.key_tone_prompts(**options)


def test_audio_statistics_refuse_bad_arguments():
    with pytest.raises(ValueError, match="drop_fraction must be a number in"):
        module.audio_statistics(drop_fraction=2.0)
    with pytest.raises(ValueError, match="test_fraction must lie strictly between"):
        module.audio_statistics(test_fraction=0.0)

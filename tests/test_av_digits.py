"""Digits seen and heard, a task in each modality: where each task lives, and how the data are built."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression, Ridge

import mtl_tutorial as mtl
from mtl_tutorial.data import av_digits as module
from mtl_tutorial.data import digits as tones

SETTINGS = dict(
    seed=0,
    copies=3,
    image_noise=0.2,
    occlusion_fraction=0.5,
    upside_down_fraction=0.5,
    tone_noise=0.7,
    drop_fraction=0.5,
    volume_range_db=10.0,
    val_fraction=0.2,
    test_fraction=0.2,
)


@pytest.fixture(scope="module")
def built():
    return module._build(("digit", "upright", "volume"), **SETTINGS)


def flat(x):
    return x.reshape(len(x), -1)


def test_shapes_dtypes_tasks_and_scaling(built):
    data, _ = built
    assert [task.name for task in data.tasks] == ["digit", "upright", "volume"]
    assert data.input_shapes == {"image": (8, 8, 1), "audio": (65,)}
    sizes = [len(data.split(name)) for name in ("train", "val", "test")]
    assert sum(sizes) == 3 * 1797  # every image three times
    x, y = data.train.x, data.train.y
    assert x["image"].dtype == np.float32 and x["audio"].dtype == np.float32
    assert y["digit"].dtype == np.int32 and y["upright"].dtype == np.int32
    assert y["volume"].shape == (sizes[0], 1)
    np.testing.assert_allclose(x["audio"].mean(axis=0), 0.0, atol=1e-5)
    assert y["volume"].mean() == pytest.approx(0.0, abs=1e-5)
    assert y["volume"].std() == pytest.approx(1.0, rel=1e-4)
    mean, std = data.target_scaling["volume"]
    # Uniform on [-10, 10] dB: mean near 0, standard deviation near 20 / sqrt(12).
    assert abs(mean) < 0.5 and std == pytest.approx(20 / np.sqrt(12), rel=0.05)
    assert mtl.data.load_av_digits(("digit",)).target_scaling == {}
    with pytest.raises(ValueError, match="several modalities"):
        _ = data.input_dim


def test_split_is_stratified_by_digit(built):
    data, _ = built
    for name in ("train", "val", "test"):
        counts = np.bincount(data.split(name).y["digit"], minlength=10)
        np.testing.assert_allclose(counts / counts.sum(), 0.1, atol=0.015)


def test_no_image_is_in_two_splits_and_each_appears_copies_times(built):
    _, extra = built
    sources = [extra[f"sources_{name}"] for name in ("train", "val", "test")]
    for i, one in enumerate(sources):
        assert np.all(np.bincount(one)[np.unique(one)] == 3)
        for other in sources[i + 1 :]:
            assert not set(one) & set(other)
    assert len(set(np.concatenate(sources))) == 1797


def test_same_seed_same_data_other_seed_other_data():
    a, b = mtl.data.load_av_digits(seed=3), mtl.data.load_av_digits(seed=3)
    c = mtl.data.load_av_digits(seed=4)
    for key in ("image", "audio"):
        np.testing.assert_array_equal(a.train.x[key], b.train.x[key])
        assert not np.array_equal(a.train.x[key][:50], c.train.x[key][:50])
    np.testing.assert_array_equal(a.test.y["volume"], b.test.y["volume"])


def test_the_undamaged_image_is_the_source_turned_when_the_label_says_so():
    data, extra = module._build(
        ("digit", "upright"),
        **{**SETTINGS, "image_noise": 0.0, "occlusion_fraction": 0.0},
    )
    images = load_digits().images / 16.0
    source = images[extra["sources_test"]]
    turned = source[:, ::-1, ::-1]
    upright = data.test.y["upright"] == 1
    shown = data.test.x["image"][..., 0]
    np.testing.assert_allclose(shown[upright], source[upright], atol=1e-6)
    np.testing.assert_allclose(shown[~upright], turned[~upright], atol=1e-6)
    assert 0.4 < upright.mean() < 0.6
    # The orientation is drawn independently of the digit: each digit is turned about half the time.
    for digit in range(10):
        share = upright[data.test.y["digit"] == digit].mean()
        assert 0.3 < share < 0.7


def test_volume_sets_the_height_of_the_tones_peaks():
    rng = np.random.default_rng(0)
    digits = np.full(2, 5)
    clean = tones.dtmf_tones(
        digits, rng, noise_std=0.0, drop_fraction=0.0, volume_db=np.array([0.0, 20.0])
    )
    peak = np.abs(np.fft.rfft(clean * np.hanning(tones.TONE_SAMPLES), axis=1)).max(
        axis=1
    )
    # +20 dB is ten times the amplitude.
    assert peak[1] / peak[0] == pytest.approx(10.0, rel=0.2)


def test_each_task_lives_where_the_construction_puts_it(built):
    # Linear probes on each modality: the orientation is in the image and not in the tone, the volume in
    # the tone and not in the image, and the digit in both, better from the two together.
    data, _ = built
    tr, te = data.train, data.test
    image = {
        name: flat(split.x["image"]) for name, split in (("train", tr), ("test", te))
    }
    audio = {name: split.x["audio"] for name, split in (("train", tr), ("test", te))}

    def accuracy(features, task):
        model = LogisticRegression(C=0.1, max_iter=2000).fit(
            features["train"], tr.y[task]
        )
        return model.score(features["test"], te.y[task])

    def r_squared(features):
        model = Ridge(alpha=10.0).fit(features["train"], tr.y["volume"].ravel())
        return model.score(features["test"], te.y["volume"].ravel())

    assert accuracy(image, "upright") > 0.6
    assert abs(accuracy(audio, "upright") - 0.5) < 0.06
    assert r_squared(audio) > 0.3
    assert r_squared(image) < 0.02
    both = {name: np.hstack([image[name], audio[name]]) for name in image}
    digit_image, digit_audio = accuracy(image, "digit"), accuracy(audio, "digit")
    assert 0.4 < digit_image < 0.9 and 0.4 < digit_audio < 0.9
    assert accuracy(both, "digit") > max(digit_image, digit_audio) + 0.08


def test_the_tone_does_not_depend_on_the_image_settings_and_vice_versa():
    base = mtl.data.load_av_digits(seed=1)
    other_image = mtl.data.load_av_digits(
        seed=1, image_noise=0.5, occlusion_fraction=0.0
    )
    other_tone = mtl.data.load_av_digits(seed=1, tone_noise=0.1, drop_fraction=0.0)
    np.testing.assert_array_equal(base.train.x["audio"], other_image.train.x["audio"])
    np.testing.assert_array_equal(
        base.train.y["upright"], other_tone.train.y["upright"]
    )
    assert not np.array_equal(base.train.x["image"], other_image.train.x["image"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tasks": ("digit", "odd")}, "tasks must be distinct names"),
        ({"tasks": ("volume", "volume")}, "tasks must be distinct names"),
        ({"tasks": ()}, "tasks must be distinct names"),
        ({"copies": 0}, "copies must be a positive integer"),
        ({"volume_range_db": -1.0}, "volume_range_db must be a number >= 0"),
        (
            {"upside_down_fraction": 1.5},
            r"upside_down_fraction must be a number in \[0, 1\]",
        ),
        ({"tone_noise": "loud"}, "tone_noise must be a number"),
        ({"image_noise": -0.1}, "image_noise must be a number >= 0"),
        (
            {"occlusion_fraction": 1.5},
            r"occlusion_fraction must be a number in \[0, 1\]",
        ),
        ({"drop_fraction": -1}, r"drop_fraction must be a number in \[0, 1\]"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mtl.data.load_av_digits(**kwargs)


@pytest.mark.parametrize("options", [{}, {"tone_noise": 0.3, "volume_range_db": 4.0}])
def test_audio_statistics_are_the_loaders(options):
    _, extra = module._build(("digit",), **{**SETTINGS, "seed": 2, **options})
    mean, std = module.audio_statistics(2, **options)
    np.testing.assert_array_equal(mean, extra["audio_mean"])
    np.testing.assert_array_equal(std, extra["audio_std"])
    # The image settings do not change the audio, so the statistics hold for any of them.
    _, other = module._build(
        ("digit",), **{**SETTINGS, "seed": 2, **options, "image_noise": 0.6}
    )
    np.testing.assert_array_equal(mean, other["audio_mean"])
    # Prompts standardised with them name the key of the loader's tones by cosine similarity, far above
    # chance (0.1), though half the tones lack a sine and many are quiet.
    prompts, keys = tones.key_tone_prompts((mean, std), per_key=1)
    data = mtl.data.load_av_digits(("digit",), seed=2, **options)
    audio = data.test.x["audio"]
    cosine = (audio / np.linalg.norm(audio, axis=1, keepdims=True)) @ prompts.T
    assert np.mean(keys[cosine.argmax(axis=1)] == data.test.y["digit"]) > 0.45


@pytest.mark.parametrize(
    "options",
    [{}, {"tone_noise": 0.5, "drop_fraction": 0.2, "copies": 2, "test_fraction": 0.3}],
)
def test_audio_statistics_undo_the_loaders_standardisation(monkeypatch, options):
    # Record the tones the loader really makes, then check that the statistics map its standardised
    # audio back to their spectra, row for row (the loader's rows are train, then val, then test).
    made = []

    def recording(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    original = module.dtmf_tones
    monkeypatch.setattr(module, "dtmf_tones", recording)
    data = mtl.data.load_av_digits(("digit",), seed=3, **options)
    monkeypatch.setattr(module, "dtmf_tones", original)
    mean, std = module.audio_statistics(3, **options)
    assert mean.shape == std.shape == (65,)
    spectra = tones.tone_spectrum(made[0])
    start = 0
    for name in ("train", "val", "test"):
        part = data.split(name)
        restored = part.x["audio"] * std + mean
        np.testing.assert_allclose(
            restored, spectra[start : start + len(part)], atol=1e-4
        )
        start += len(part)
    assert start == len(spectra)


def test_audio_statistics_refuse_bad_arguments():
    with pytest.raises(ValueError, match="drop_fraction must be a number in"):
        module.audio_statistics(drop_fraction=2.0)
    with pytest.raises(ValueError, match="test_fraction must lie strictly between"):
        module.audio_statistics(test_fraction=0.0)


def test_with_modalities_keeps_only_the_named_ones():
    data = mtl.data.load_av_digits(("digit",), copies=1)
    audio = data.with_modalities(["audio"])
    assert audio.input_shapes == {"audio": (65,)}
    assert set(audio.test.x) == {"audio"} and audio.test.y is data.test.y
    np.testing.assert_array_equal(audio.train.x["audio"], data.train.x["audio"])
    with pytest.raises(ValueError, match="names must be modalities of this split"):
        data.with_modalities(["video"])
    with pytest.raises(ValueError, match="needs multi-modal data"):
        mtl.data.make_correlated_tasks(100, 0.5, input_dim=4).with_modalities(["x"])


def test_raw_inputs_are_what_the_loader_preprocesses():
    # The raw image divided by 16 is the loader's image; the raw tone's spectrum, standardised with the
    # training statistics, is the loader's audio: the same examples, in the same order, for every split.
    from mtl_tutorial.data.av_digits import audio_statistics, raw_av_digits
    from mtl_tutorial.data.digits import tone_spectrum

    data = mtl.data.load_av_digits(seed=3, copies=1)
    mean, std = audio_statistics(seed=3, copies=1)
    for name in ("train", "val", "test"):
        raw, split = raw_av_digits(name, seed=3, copies=1), getattr(data, name)
        assert raw["image"].shape == (len(split), 8, 8)
        assert raw["tone"].shape == (len(split), 128)
        np.testing.assert_allclose(
            raw["image"] / 16.0, split.x["image"][..., 0], atol=1e-6
        )
        audio = (tone_spectrum(raw["tone"].astype(float)) - mean) / std
        np.testing.assert_allclose(audio, split.x["audio"], atol=2e-4)
    with pytest.raises(ValueError, match="split must be one of"):
        raw_av_digits("validation")

"""How the digits' two modalities are made: the key tones, their spectra, the images' damage, the prompts.

The loader built from these, ``load_av_digits``, is tested in ``tests/test_av_digits.py``.
"""

import numpy as np
import pytest

from mtl_tutorial.data import av_digits
from mtl_tutorial.data import digits as module


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


def test_key_tone_prompts_peak_at_their_keys_frequencies():
    statistics = av_digits.audio_statistics(0)
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

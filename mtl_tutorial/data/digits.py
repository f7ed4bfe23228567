"""Handwritten digits seen and heard: the building blocks of :func:`~mtl_tutorial.data.load_av_digits`.

Taught in :doc:`/book/part2_multimodal/01_multimodal_data`. The images are scikit-learn's bundled handwritten
digits (1,797 images of 8 x 8 pixels, ``sklearn.datasets.load_digits``), damaged by
:func:`~mtl_tutorial.data.digits.damaged_images`. The second modality is made here from a random generator:
the digit's telephone key tone (DTMF, :func:`~mtl_tutorial.data.digits.dtmf_tones`), a pair of sine waves
whose frequencies name the key's row and column, recorded for 32 ms with noise and turned into a spectrum
(:func:`~mtl_tutorial.data.digits.tone_spectrum`). :func:`~mtl_tutorial.data.digits.key_tone_prompts` makes
tones of every key standardised like the loader's audio, the prompts of
:doc:`/book/part2_multimodal/06_prompts_and_composition`.
"""

from __future__ import annotations

import numpy as np

from mtl_tutorial.validation import (
    check_number,
    check_positive_int,
    check_seed,
    check_types,
)

#: Low (row) and high (column) frequency in Hz of each digit's telephone key (ITU-T Q.23).
DTMF_HZ: dict[int, tuple[int, int]] = {
    1: (697, 1209),
    2: (697, 1336),
    3: (697, 1477),
    4: (770, 1209),
    5: (770, 1336),
    6: (770, 1477),
    7: (852, 1209),
    8: (852, 1336),
    9: (852, 1477),
    0: (941, 1336),
}
#: Sampling rate (Hz) and length (samples) of each tone; 128 samples are 32 ms.
SAMPLE_RATE, TONE_SAMPLES = 4000, 128
#: Frequency of each bin of the audio spectrum, in Hz (0 to 2,000 Hz in steps of 31.25 Hz).
SPECTRUM_HZ: np.ndarray = np.fft.rfftfreq(TONE_SAMPLES, d=1.0 / SAMPLE_RATE)


@check_types
def dtmf_tones(
    digits: np.ndarray,
    rng: np.random.Generator,
    *,
    noise_std: float = 1.0,
    drop_fraction: float = 0.5,
    volume_db: np.ndarray | None = None,
) -> np.ndarray:
    """Noisy 32 ms key tones, one per digit, shape ``(n, 128)``, sampled at 4 kHz.

    Each tone is ``a_low sin(2 pi f_low t + phi_1) + a_high sin(2 pi f_high t + phi_2) + noise`` with the
    key's two frequencies, each off by up to 1.5% (a real keypad's tolerance), random phases, and
    Gaussian noise of standard deviation ``noise_std`` (each sine has amplitude 1). For a share
    ``drop_fraction`` of the tones one of the two sines, chosen at random, is missing (``a = 0``): the
    tone then names only the key's row or only its column. ``volume_db``, one value per tone, scales
    both sines by ``10 ** (volume_db / 20)`` before the noise is added (0 dB: amplitude 1); the noise
    does not change, so a quieter tone is a noisier one.
    """
    digits = np.asarray(digits)
    n = len(digits)
    time = np.arange(TONE_SAMPLES) / SAMPLE_RATE
    amplitudes = np.ones((n, 2))
    dropped = rng.random(n) < drop_fraction
    which = rng.integers(0, 2, n)
    amplitudes[dropped, which[dropped]] = 0.0
    tone = np.zeros((n, TONE_SAMPLES))
    for k in range(2):
        hz = np.array([DTMF_HZ[int(d)][k] for d in digits], dtype=float)
        hz *= 1.0 + 0.015 * rng.uniform(-1.0, 1.0, n)
        phase = rng.uniform(0.0, 2 * np.pi, (n, 1))
        tone += amplitudes[:, k : k + 1] * np.sin(
            2 * np.pi * hz[:, None] * time + phase
        )
    if volume_db is not None:
        tone *= 10.0 ** (np.asarray(volume_db, dtype=float).reshape(n, 1) / 20.0)
    return tone + noise_std * rng.standard_normal(tone.shape)


@check_types
def tone_spectrum(tones: np.ndarray) -> np.ndarray:
    """``log(1 + |FFT|)`` of Hann-windowed tones.

    Returns:
        Spectra of shape ``(n, 65)``, with bins at :data:`~mtl_tutorial.data.digits.SPECTRUM_HZ`.
    """
    windowed = np.asarray(tones) * np.hanning(TONE_SAMPLES)
    return np.log1p(np.abs(np.fft.rfft(windowed, axis=1)))


@check_types
def damaged_images(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    noise_std: float = 0.3,
    occlusion_fraction: float = 0.5,
) -> np.ndarray:
    """Images scaled to ``[0, 1]`` with Gaussian noise, and a 4 x 4 block blanked in some of them.

    A share ``occlusion_fraction`` of the images has a 4 x 4 block of pixels (a quarter of the image), at a
    random place, set to 0; then every pixel gets Gaussian noise of standard deviation ``noise_std``.
    """
    images = np.asarray(images, dtype=float) / 16.0
    n = len(images)
    occluded = np.flatnonzero(rng.random(n) < occlusion_fraction)
    rows, cols = rng.integers(0, 5, n), rng.integers(0, 5, n)
    for i in occluded:
        images[i, rows[i] : rows[i] + 4, cols[i] : cols[i] + 4] = 0.0
    return images + noise_std * rng.standard_normal(images.shape)


@check_types
def key_tone_prompts(
    statistics: tuple[np.ndarray, np.ndarray],
    *,
    per_key: int = 1,
    noise_std: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Tones with both sines for every key, standardised like the audio of
    :func:`~mtl_tutorial.data.load_av_digits`: "prompts" for each digit.

    Each digit's key gets ``per_key`` tones made by :func:`~mtl_tutorial.data.digits.dtmf_tones` with no
    sine missing and noise ``noise_std`` (0 gives clean tones; the frequencies still vary by up to 1.5%
    and the phases at random), turned into spectra by :func:`~mtl_tutorial.data.digits.tone_spectrum`
    and standardised with ``statistics``. Used in :doc:`/book/part2_multimodal/06_prompts_and_composition`
    to classify images by prompts: each image gets the digit of its most similar prompt.

    Args:
        statistics: ``(mean, std)`` of shape ``(65,)`` each, from
            :func:`~mtl_tutorial.data.av_digits.audio_statistics`.
        per_key: Tones per key.
        noise_std: Standard deviation of the tones' Gaussian noise (each sine has amplitude 1).
        seed: Seed of the tones' frequencies, phases and noise.

    Returns:
        ``(spectra, digits)``: float32 spectra of shape ``(10 * per_key, 65)`` and int32 digits of shape
        ``(10 * per_key,)``, digit ``d`` in rows ``d * per_key`` to ``(d + 1) * per_key - 1``.

    Raises:
        ValueError: if ``statistics`` is not two arrays of shape ``(65,)`` (standard deviations above 0),
            ``per_key`` is not a positive integer or ``noise_std`` is negative.
    """
    seed = check_seed(seed)
    per_key = check_positive_int(per_key, "per_key", 1)
    noise_std = check_number(noise_std, "noise_std", 0.0, low=0)
    bins = len(SPECTRUM_HZ)
    shapes = [np.shape(part) for part in statistics]
    if shapes != [(bins,), (bins,)] or not np.all(np.asarray(statistics[1]) > 0):
        raise ValueError(
            f"statistics must be (mean, std), two arrays of shape ({bins},) with std above 0, "
            f"as audio_statistics returns; got shapes {shapes or type(statistics).__name__}."
        )
    mean, std = (np.asarray(part, dtype=float) for part in statistics)
    digits = np.repeat(np.arange(10, dtype=np.int32), per_key)
    rng = np.random.default_rng([seed, 3])
    spectra = tone_spectrum(
        dtmf_tones(digits, rng, noise_std=noise_std, drop_fraction=0.0)
    )
    return ((spectra - mean) / std).astype(np.float32), digits

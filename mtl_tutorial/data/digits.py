"""Handwritten digits seen and heard: a two-modality data set that needs no download.

Taught in :doc:`/book/part2_multimodal/01_multimodal_data`. The images are scikit-learn's bundled handwritten
digits (1,797 images of 8 x 8 pixels, ``sklearn.datasets.load_digits``). The second modality is made here,
deterministically from a seed: the digit's telephone key tone (DTMF), a pair of sine waves whose frequencies
name the key's row and column, recorded for 32 ms with noise and turned into a spectrum. Both modalities are
damaged on purpose, each in its own way, so that neither alone identifies every digit and the two together do
better than either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.datasets import load_digits

from mtl_tutorial.data.splits import SPLIT_NAMES, MultiTaskData, Split, stratified_split
from mtl_tutorial.tasks import Task
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
#: The tasks ``load_multimodal_digits`` can build.
DIGIT_TASKS: dict[str, Task] = {
    "digit": Task(
        "digit", "classification", num_classes=10, class_names=tuple("0123456789")
    ),
    "odd": Task("odd", "classification", num_classes=2, class_names=("even", "odd")),
    "ink": Task("ink", "regression", unit="standardised"),
}


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
def load_multimodal_digits(
    tasks: Sequence[str] = ("digit", "ink"),
    *,
    seed: int = 0,
    image_noise: float = 0.3,
    occlusion_fraction: float = 0.5,
    tone_noise: float = 1.0,
    drop_fraction: float = 0.5,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> MultiTaskData:
    """The handwritten digits as images and as telephone key tones, with up to three tasks.

    **Modalities** (``x`` is a dict):

    - ``"image"``: shape ``(n, 8, 8, 1)``, the digit's 8 x 8 image scaled to ``[0, 1]``, damaged by
      :func:`~mtl_tutorial.data.digits.damaged_images` (noise ``image_noise``; a quarter of the image
      blanked in a share ``occlusion_fraction`` of them).
    - ``"audio"``: shape ``(n, 65)``, the spectrum (:func:`~mtl_tutorial.data.digits.tone_spectrum`) of
      the digit's key tone made by :func:`~mtl_tutorial.data.digits.dtmf_tones` (noise ``tone_noise``;
      one of the two sines missing in a share ``drop_fraction``), standardised bin by bin on the
      training rows.

    **Tasks**: ``"digit"`` (10 classes), ``"odd"`` (2 classes: even, odd) and ``"ink"`` (regression:
    the mean pixel value of the *undamaged* image, standardised on the training rows; an image property
    that the damaged image only partly shows).

    Every random choice (which images are blanked and where, the noise, the tones' phases and which sine
    is missing, and the split) comes from ``seed``, so a seed always gives the same data. The split is
    stratified by digit.

    Args:
        tasks: Names from ``"digit"``, ``"odd"``, ``"ink"``, in the order wanted.
        seed: Seed of the damage, the tones and the split.
        image_noise, occlusion_fraction: Damage to the images.
        tone_noise, drop_fraction: Damage to the tones.
        val_fraction, test_fraction: Shares of examples for validation and testing.

    Returns:
        A :class:`~mtl_tutorial.data.MultiTaskData` whose splits' ``x`` are dicts with keys
        ``"image"`` and ``"audio"``.

    Raises:
        ValueError: for an unknown or repeated task or a damage setting out of range.
    """
    seed = check_seed(seed)
    data, _ = _build(
        tuple(tasks),
        seed,
        image_noise,
        occlusion_fraction,
        tone_noise,
        drop_fraction,
        val_fraction,
        test_fraction,
    )
    return data


def _build(
    tasks,
    seed,
    image_noise,
    occlusion_fraction,
    tone_noise,
    drop_fraction,
    val_fraction,
    test_fraction,
) -> tuple[MultiTaskData, tuple[np.ndarray, np.ndarray]]:
    # The loader's work; also returns the per-bin mean and std the audio was standardised with.
    unknown = [name for name in tasks if name not in DIGIT_TASKS]
    if not tasks or unknown or len(set(tasks)) != len(tasks):
        raise ValueError(
            f"tasks must be distinct names from {sorted(DIGIT_TASKS)}, e.g. ('digit', 'ink'); "
            f"got tasks={tasks!r}."
        )
    image_noise = check_number(image_noise, "image_noise", 0.3, low=0)
    tone_noise = check_number(tone_noise, "tone_noise", 1.0, low=0)
    occlusion_fraction = check_number(
        occlusion_fraction, "occlusion_fraction", 0.5, low=0, high=1
    )
    drop_fraction = check_number(drop_fraction, "drop_fraction", 0.5, low=0, high=1)

    source = load_digits()
    digits = source.target.astype(np.int32)
    rng = np.random.default_rng([seed, 2])
    image = damaged_images(
        source.images, rng, noise_std=image_noise, occlusion_fraction=occlusion_fraction
    )
    audio = tone_spectrum(
        dtmf_tones(digits, rng, noise_std=tone_noise, drop_fraction=drop_fraction)
    )
    ink = (source.images / 16.0).mean(axis=(1, 2))

    rows = stratified_split(
        len(digits),
        labels=digits,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    train = rows["train"]
    audio_mean, audio_std = audio[train].mean(axis=0), audio[train].std(axis=0)
    audio = (audio - audio_mean) / audio_std
    ink_mean, ink_std = float(ink[train].mean()), float(ink[train].std())
    targets = {
        "digit": digits,
        "odd": (digits % 2).astype(np.int32),
        "ink": ((ink - ink_mean) / ink_std).astype(np.float32)[:, None],
    }
    splits = {}
    for name in SPLIT_NAMES:
        part = rows[name]
        x = {
            "image": image[part, :, :, None].astype(np.float32),
            "audio": audio[part].astype(np.float32),
        }
        splits[name] = Split(x=x, y={task: targets[task][part] for task in tasks})
    data = MultiTaskData(
        tasks=tuple(DIGIT_TASKS[name] for name in tasks),
        feature_names=("image", "audio"),
        target_scaling={"ink": (ink_mean, ink_std)} if "ink" in tasks else {},
        **splits,
    )
    return data, (audio_mean, audio_std)


@check_types
def audio_statistics(
    seed: int = 0,
    *,
    tone_noise: float = 1.0,
    drop_fraction: float = 0.5,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """The per-bin mean and standard deviation the digits loader standardises audio with.

    The loader standardises each bin of the tones' spectra with the mean and standard deviation of its
    training rows; this returns the two, computed by the loader's own code for the same arguments (the
    images' damage settings do not change the tones, so they are not needed), so that a new tone can be
    standardised exactly like the loader's audio: ``(tone_spectrum(tones) - mean) / std``. Taught in
    :doc:`/book/part2_multimodal/06_prompts_and_composition`.

    Args:
        seed, tone_noise, drop_fraction, val_fraction, test_fraction: As given to
            :func:`~mtl_tutorial.data.load_multimodal_digits`.

    Returns:
        ``(mean, std)``, each of shape ``(65,)``, one value per bin of
        :data:`~mtl_tutorial.data.digits.SPECTRUM_HZ`.

    Raises:
        ValueError: for a damage setting or a split share out of range.
    """
    seed = check_seed(seed)
    _, statistics = _build(
        ("digit",),
        seed,
        0.3,
        0.5,
        tone_noise,
        drop_fraction,
        val_fraction,
        test_fraction,
    )
    return statistics


@check_types
def key_tone_prompts(
    statistics: tuple[np.ndarray, np.ndarray],
    *,
    per_key: int = 1,
    noise_std: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Tones with both sines for every key, standardised like the loader's audio: "prompts" for each digit.

    Each digit's key gets ``per_key`` tones made by :func:`~mtl_tutorial.data.digits.dtmf_tones` with no
    sine missing and noise ``noise_std`` (0 gives clean tones; the frequencies still vary by up to 1.5%
    and the phases at random), turned into spectra by :func:`~mtl_tutorial.data.digits.tone_spectrum`
    and standardised with ``statistics``. Used in Part II ("Prompts, composition and the limits of
    alignment") to classify images by prompts: each image gets the digit of its most similar prompt.

    Args:
        statistics: ``(mean, std)`` of shape ``(65,)`` each, from
            :func:`~mtl_tutorial.data.digits.audio_statistics`.
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

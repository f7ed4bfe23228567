"""Digits seen and heard, with a task in each modality: the data set of Parts II and III.

Taught in :doc:`/book/part2_multimodal/01_multimodal_data`, and used by every chapter of Parts II and III.

Each example pairs a handwritten digit's image with the tone of that digit's telephone key, and carries three
tasks chosen so that each lives in a known place:

- ``"digit"`` (10 classes) is in **both** modalities: the image shows it, the tone names its key.
- ``"upright"`` (2 classes) is in the **image only**: half the images are turned upside down (a form fed
  into the scanner the wrong way round), independently of everything else.
- ``"volume"`` (regression, in dB) is in the **tone only**: each key press is recorded at its own loudness,
  uniform over a range, independently of everything else, against noise of fixed strength.

**Conditional independence.** Given the digit, the image (its writer's strokes, its orientation, its damage)
and the tone (its volume, phases, damage) are drawn independently. So the image says nothing about the
volume, the tone nothing about the orientation, and for the digit the two modalities are two independent
pieces of evidence, which is what makes a product of the modalities' experts the Bayes combination
(:doc:`/book/part2_multimodal/02_fusion`). No task is a function of another.

**What it stands in for, and what it cannot teach.** It imitates data sets that pair two recordings of the
same class drawn separately, like AV-MNIST (written digits paired with spoken ones, Vielzeuf et al., 2018).
Real pairs recorded together (a video's frames and its soundtrack, a scan and its report) share more than the
label: the same scene, the same moment, the same patient; there the modalities are dependent given the label,
and lessons that rest on conditional independence need re-checking. The signals are tiny (64 pixels, 65
frequency bins), with no time structure to align, and the damage is Gaussian noise, blanked blocks and a
missing sine, not the faults of real sensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.datasets import load_digits

from mtl_tutorial.data.digits import damaged_images, dtmf_tones, tone_spectrum
from mtl_tutorial.data.splits import SPLIT_NAMES, MultiTaskData, Split, stratified_split
from mtl_tutorial.tasks import Task
from mtl_tutorial.validation import (
    check_number,
    check_positive_int,
    check_seed,
    check_types,
)

#: The tasks :func:`~mtl_tutorial.data.load_av_digits` can build.
AV_TASKS: dict[str, Task] = {
    "digit": Task(
        "digit", "classification", num_classes=10, class_names=tuple("0123456789")
    ),
    "upright": Task(
        "upright",
        "classification",
        num_classes=2,
        class_names=("upside down", "upright"),
    ),
    "volume": Task("volume", "regression", unit="dB"),
}


@check_types
def load_av_digits(
    tasks: Sequence[str] = ("digit", "upright", "volume"),
    *,
    seed: int = 0,
    copies: int = 3,
    image_noise: float = 0.2,
    occlusion_fraction: float = 0.5,
    upside_down_fraction: float = 0.5,
    tone_noise: float = 0.7,
    drop_fraction: float = 0.5,
    volume_range_db: float = 10.0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> MultiTaskData:
    """Handwritten digits as images and as key tones, with a task in each modality and one in both.

    The 1,797 images of scikit-learn's digits are split first, stratified by digit; then each image
    becomes ``copies`` examples *within its split*, each with its own orientation, damage and tone, so that
    no image is seen in two splits.

    **Modalities** (``x`` is a dict):

    - ``"image"``: shape ``(n, 8, 8, 1)``, the image scaled to ``[0, 1]``, turned by 180 degrees in a share
      ``upside_down_fraction`` of the examples, then damaged by
      :func:`~mtl_tutorial.data.digits.damaged_images` (noise ``image_noise``; a quarter of the image
      blanked in a share ``occlusion_fraction``).
    - ``"audio"``: shape ``(n, 65)``, the spectrum (:func:`~mtl_tutorial.data.digits.tone_spectrum`) of
      the digit's key tone from :func:`~mtl_tutorial.data.digits.dtmf_tones`, played at a volume drawn
      uniformly from ``[-volume_range_db, +volume_range_db]`` dB (0 dB: each sine has amplitude 1) against
      noise ``tone_noise``, one of the two sines missing in a share ``drop_fraction``; standardised bin by bin
      on the training rows.

    **Tasks**: ``"digit"`` (10 classes), ``"upright"`` (0: upside down, 1: upright) and ``"volume"``
    (regression: the tone's volume in dB, standardised on the training rows; ``target_scaling`` holds the
    mean and standard deviation, so errors can be reported in dB).

    Every random choice comes from ``seed``: a seed always gives the same data.

    Args:
        tasks: Names from ``"digit"``, ``"upright"``, ``"volume"``, in the order wanted.
        seed: Seed of the split, the orientations, the damage and the tones.
        copies: Examples made from each image (each with its own orientation, damage and tone).
        image_noise, occlusion_fraction: Damage to the images.
        upside_down_fraction: Share of the images turned upside down.
        tone_noise, drop_fraction: Damage to the tones.
        volume_range_db: Half-width of the range of volumes, in dB.
        val_fraction, test_fraction: Shares of the images for validation and testing.

    Returns:
        A :class:`~mtl_tutorial.data.MultiTaskData` whose splits' ``x`` are dicts with keys ``"image"`` and
        ``"audio"``.

    Raises:
        ValueError: for an unknown or repeated task, or a setting out of range.
    """
    data, _ = _build(
        tuple(tasks),
        seed=seed,
        copies=copies,
        image_noise=image_noise,
        occlusion_fraction=occlusion_fraction,
        upside_down_fraction=upside_down_fraction,
        tone_noise=tone_noise,
        drop_fraction=drop_fraction,
        volume_range_db=volume_range_db,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
    return data


def _build(
    tasks: tuple[str, ...],
    *,
    seed: int,
    copies: int,
    image_noise: float,
    occlusion_fraction: float,
    upside_down_fraction: float,
    tone_noise: float,
    drop_fraction: float,
    volume_range_db: float,
    val_fraction: float,
    test_fraction: float,
) -> tuple[MultiTaskData, dict[str, np.ndarray]]:
    # The loader's work; also returns what the tests check the construction with: each split's source
    # images, and the audio's per-bin training mean and standard deviation.
    unknown = [name for name in tasks if name not in AV_TASKS]
    if not tasks or unknown or len(set(tasks)) != len(tasks):
        raise ValueError(
            f"tasks must be distinct names from {sorted(AV_TASKS)}, e.g. ('digit', 'volume'); "
            f"got tasks={tasks!r}."
        )
    seed = check_seed(seed)
    copies = check_positive_int(copies, "copies", 3)
    image_noise = check_number(image_noise, "image_noise", 0.2, low=0)
    tone_noise = check_number(tone_noise, "tone_noise", 0.7, low=0)
    volume_range_db = check_number(volume_range_db, "volume_range_db", 10.0, low=0)
    shares = {
        name: check_number(value, name, 0.5, low=0, high=1)
        for name, value in (
            ("occlusion_fraction", occlusion_fraction),
            ("upside_down_fraction", upside_down_fraction),
            ("drop_fraction", drop_fraction),
        )
    }

    source = load_digits()
    labels = source.target.astype(np.int32)
    rows = stratified_split(
        len(labels),
        labels=labels,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    rng = np.random.default_rng([seed, 4])
    # Each split's examples: its images, `copies` times each, in a random order.
    sources = {
        name: rng.permutation(np.repeat(rows[name], copies)) for name in SPLIT_NAMES
    }
    every = np.concatenate([sources[name] for name in SPLIT_NAMES])
    n = len(every)
    digits = labels[every]

    upright = (rng.random(n) >= shares["upside_down_fraction"]).astype(np.int32)
    images = source.images[every].astype(float)
    images[upright == 0] = images[upright == 0, ::-1, ::-1]
    image = damaged_images(
        images,
        rng,
        noise_std=image_noise,
        occlusion_fraction=shares["occlusion_fraction"],
    )
    volume = rng.uniform(-volume_range_db, volume_range_db, n)
    tones = dtmf_tones(
        digits,
        rng,
        noise_std=tone_noise,
        drop_fraction=shares["drop_fraction"],
        volume_db=volume,
    )
    audio = tone_spectrum(tones)

    ends = np.cumsum([len(sources[name]) for name in SPLIT_NAMES])
    part = dict(zip(SPLIT_NAMES, np.split(np.arange(n), ends[:-1]), strict=True))
    train = part["train"]
    audio_mean, audio_std = audio[train].mean(axis=0), audio[train].std(axis=0)
    audio = (audio - audio_mean) / audio_std
    volume_mean, volume_std = float(volume[train].mean()), float(volume[train].std())
    targets = {
        "digit": digits,
        "upright": upright,
        "volume": ((volume - volume_mean) / volume_std).astype(np.float32)[:, None],
    }
    splits = {
        name: Split(
            x={
                "image": image[part[name], :, :, None].astype(np.float32),
                "audio": audio[part[name]].astype(np.float32),
            },
            y={task: targets[task][part[name]] for task in tasks},
        )
        for name in SPLIT_NAMES
    }
    data = MultiTaskData(
        tasks=tuple(AV_TASKS[name] for name in tasks),
        feature_names=("image", "audio"),
        target_scaling={"volume": (volume_mean, volume_std)}
        if "volume" in tasks
        else {},
        **splits,
    )
    return data, {
        **{f"sources_{name}": sources[name] for name in SPLIT_NAMES},
        "audio_mean": audio_mean,
        "audio_std": audio_std,
        # What a sensor would send, before the loader's scaling and spectrum: the damaged image in the
        # source's grey levels (0 to 16, plus the noise), and the tone's samples.
        **{
            f"raw_{name}": {
                "image": (16.0 * image[part[name]]).astype(np.float32),
                "tone": tones[part[name]].astype(np.float32),
            }
            for name in SPLIT_NAMES
        },
    }


@check_types
def audio_statistics(
    seed: int = 0,
    *,
    copies: int = 3,
    tone_noise: float = 0.7,
    drop_fraction: float = 0.5,
    volume_range_db: float = 10.0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """The per-bin mean and standard deviation that :func:`~mtl_tutorial.data.load_av_digits` uses.

    Computed by the loader's own code for the same arguments (the images' settings do not change the
    tones, so they are not needed), so that a new tone, e.g. a prompt from
    :func:`~mtl_tutorial.data.digits.key_tone_prompts`, can be standardised exactly like the loader's audio:
    ``(tone_spectrum(tones) - mean) / std``.

    Args:
        seed, copies, tone_noise, drop_fraction, volume_range_db, val_fraction, test_fraction: As given
            to :func:`~mtl_tutorial.data.load_av_digits`.

    Returns:
        ``(mean, std)``, each of shape ``(65,)``, one value per bin of
        :data:`~mtl_tutorial.data.digits.SPECTRUM_HZ`.

    Raises:
        ValueError: for a setting out of range.
    """
    _, extra = _build(
        ("digit",),
        seed=seed,
        copies=copies,
        image_noise=0.2,
        occlusion_fraction=0.5,
        upside_down_fraction=0.5,
        tone_noise=tone_noise,
        drop_fraction=drop_fraction,
        volume_range_db=volume_range_db,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
    return extra["audio_mean"], extra["audio_std"]


@check_types
def raw_av_digits(
    split: str = "test",
    *,
    seed: int = 0,
    copies: int = 3,
    image_noise: float = 0.2,
    occlusion_fraction: float = 0.5,
    upside_down_fraction: float = 0.5,
    tone_noise: float = 0.7,
    drop_fraction: float = 0.5,
    volume_range_db: float = 10.0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> dict[str, np.ndarray]:
    """One split's inputs as a sensor would send them, before the loader preprocesses them.

    The same examples, in the same order, as the split of :func:`~mtl_tutorial.data.load_av_digits`
    called with the same arguments. ``"image"``, shape ``(n, 8, 8)``: the turned and damaged image in the
    source's grey levels (0 to 16, plus the noise; the loader divides by 16). ``"tone"``, shape
    ``(n, 128)``: the key tone's samples at 4 kHz (the loader turns them into a standardised spectrum).
    Used to serve raw inputs in :doc:`/book/part3_together/02_notebook_to_scale`
    (:mod:`mtl_tutorial.serving`).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: As given to :func:`~mtl_tutorial.data.load_av_digits`, and so are all the other arguments.

    Raises:
        ValueError: for an unknown split or a setting out of range.
    """
    if split not in SPLIT_NAMES:
        raise ValueError(
            f"split must be one of {list(SPLIT_NAMES)}; got split={split!r}."
        )
    _, extra = _build(
        ("digit",),
        seed=seed,
        copies=copies,
        image_noise=image_noise,
        occlusion_fraction=occlusion_fraction,
        upside_down_fraction=upside_down_fraction,
        tone_noise=tone_noise,
        drop_fraction=drop_fraction,
        volume_range_db=volume_range_db,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
    return extra[f"raw_{split}"]

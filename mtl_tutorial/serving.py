"""A served artefact a client can call as is: raw image, raw tone and which of them it has, in; answers, out.

Taught in :doc:`/book/part3_together/02_notebook_to_scale`. ``model.network.export(...)`` serves the network
itself, so every client must repeat the loader's preprocessing (the image's scaling; the tone's window, FFT,
log and standardisation with the training split's statistics) and the book's convention for a missing
modality (zeros). A client that scales differently, or standardises with other statistics, gets a silently
wrong answer. :func:`export_for_serving` moves all of that into the artefact, in TensorFlow ops, with the
training statistics stored as constants:

- **In**: ``image`` ``(batch, 8, 8)``, the digit as the data set's source gives it (scikit-learn's grey
  levels, 0 to 16, here with the loader's damage); ``tone`` ``(batch, 128)``, the key tone's samples at
  4 kHz, as :func:`~mtl_tutorial.data.digits.dtmf_tones` makes them; and an explicit presence mask, one
  boolean per modality, ``image_present`` and ``tone_present`` ``(batch,)``. An absent modality is sent as
  zeros (a signature has fixed inputs) and marked absent.
- **Out**, all float32 but the flags: each task's output named by the task (``digit`` and ``upright``
  probabilities, ``volume`` standardised as trained), ``volume_db`` (the volume in dB, from the training
  mean and standard deviation in ``data.target_scaling``), and ``<task>_answered`` ``(batch,)`` booleans.
- **Unanswerable is NaN**: a task that none of the example's modalities can answer (:data:`ANSWERED_BY`:
  the volume is in the tone only, the orientation in the image only) gets NaN in all its outputs and
  ``False`` in its flag. The network would still give a number (a guess from the other modality); NaN makes
  a client that forgets the flag see that there is no answer instead of a plausible one.
- **Bad input is an error**: the input signature (``tf.TensorSpec``) refuses a tensor of the wrong dtype
  (NumPy arrays are converted to it) and, called through the endpoint, of the wrong shape; since the plain
  signature that TF Serving calls checks only dtypes, ``tf.ensure_shape`` checks shapes again in the graph.
  ``tf.debugging`` checks in the graph then refuse, with a message naming the input and the examples:
  inputs of different batch sizes, NaN or infinite values, an example with no modality, a
  modality marked absent that is not all zeros (a swapped or stale mask), and one marked present that is
  all zeros (a silent tone would otherwise be read as a very quiet one: its standardised spectrum is not
  zero).

The artefact is written with ``keras.export.ExportArchive`` in TensorFlow Serving's layout
(``directory/<version>/``), with two endpoints: ``serve`` (also the default signature, ``serving_default``)
and ``preprocess``, which returns the network's inputs, to show and test what happens inside.
:func:`describe_signature` prints what ``saved_model_cli show`` would, and :func:`endpoint_latency` times
the loaded endpoint by batch size.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from mtl_tutorial.data.digits import SPECTRUM_HZ, TONE_SAMPLES
from mtl_tutorial.data.splits import MultiTaskData
from mtl_tutorial.validation import (
    check_int,
    check_positive_int,
    check_seed,
    check_types,
)

#: Shape of one raw image as scikit-learn's digits give it, and its largest grey level (the loader divides
#: by it to scale the image to ``[0, 1]``).
RAW_IMAGE_SHAPE, GREY_LEVELS = (8, 8), 16.0
#: The client's modalities, in the order of the presence flags, and the network input each one becomes.
MODALITIES: dict[str, str] = {"image": "image", "tone": "audio"}
#: For each task of :func:`~mtl_tutorial.data.load_av_digits`, the modalities any one of which can answer it.
ANSWERED_BY: dict[str, tuple[str, ...]] = {
    "digit": ("image", "tone"),
    "upright": ("image",),
    "volume": ("tone",),
}
#: The serving endpoint's name; it is also the artefact's default signature, ``"serving_default"``.
ENDPOINT = "serve"


def _input_signature() -> dict[str, tf.TensorSpec]:
    """The raw inputs' names, shapes and dtypes: what the signature refuses before anything runs."""
    return {
        "image": tf.TensorSpec((None, *RAW_IMAGE_SHAPE), tf.float32, name="image"),
        "tone": tf.TensorSpec((None, TONE_SAMPLES), tf.float32, name="tone"),
        "image_present": tf.TensorSpec((None,), tf.bool, name="image_present"),
        "tone_present": tf.TensorSpec((None,), tf.bool, name="tone_present"),
    }


def _check_statistics(audio_statistics) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` of the spectrum's bins as float64 arrays, or a ``ValueError``."""
    bins = len(SPECTRUM_HZ)
    shapes = [np.shape(part) for part in audio_statistics]
    if shapes != [(bins,), (bins,)]:
        raise ValueError(
            f"audio_statistics must be (mean, std), two arrays of shape ({bins},), as "
            f"mtl.data.av_digits.audio_statistics returns for the loader's arguments; got shapes {shapes}."
        )
    mean, std = (np.asarray(part, dtype=float) for part in audio_statistics)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
        raise ValueError(
            "audio_statistics must be finite, with every standard deviation above 0; got "
            f"std from {std.min()} to {std.max()}."
        )
    return mean, std


def _check_answered_by(
    answered_by: Mapping[str, Sequence[str]], tasks: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """``{task: modalities}`` for the data's tasks, or a ``ValueError``."""
    missing = [task for task in tasks if task not in answered_by]
    if missing:
        raise ValueError(
            f"answered_by must say which modalities can answer every task; {missing} missing from "
            f"answered_by={dict(answered_by)!r}, e.g. {ANSWERED_BY!r}."
        )
    checked = {}
    for task in tasks:
        modalities = tuple(answered_by[task])
        if not modalities or any(m not in MODALITIES for m in modalities):
            raise ValueError(
                f"answered_by[{task!r}] must name at least one of the modalities {list(MODALITIES)}; "
                f"got {modalities!r}."
            )
        checked[task] = modalities
    return checked


def _rows(mask: tf.Tensor) -> tf.Tensor:
    """The indices of the examples where ``mask`` is true, for an error message."""
    return tf.where(mask)[:, 0]


def _checked_inputs(raw: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The raw inputs, passed on only if they pass the checks; each check raises ``InvalidArgumentError``.

    A loaded ``tf.function`` refuses a tensor of the wrong shape or dtype itself (NumPy arrays are converted
    to the signature's dtype first: an integer image of grey levels is fine), but the plain signature, which
    TF Serving calls, checks only dtypes: ``tf.ensure_shape`` checks shapes in the graph. Then, in this
    order: one batch size, finite values, at least one modality per example, and masks that agree with the
    data. *Agree* means: a modality marked absent is all zeros (anything else is a stale or swapped mask:
    the artefact refuses to guess which of the mask and the data is wrong), and one marked present is not
    all zeros (the network reads an all-zero image as absent, and a silent tone as a very quiet one).
    """
    signature = _input_signature()
    shaped = {
        k: tf.ensure_shape(raw[k], spec.shape, name=f"check_shape_of_{k}")
        for k, spec in signature.items()
    }
    batch = tf.shape(shaped["image"])[0]
    same_batch = [
        tf.debugging.assert_equal(
            tf.shape(shaped[name])[0],
            batch,
            message=f"{name} must have as many examples (rows) as image",
        )
        for name in ("tone", "image_present", "tone_present")
    ]
    with tf.control_dependencies(same_batch):
        present = {m: tf.identity(shaped[f"{m}_present"]) for m in MODALITIES}
        neither = tf.logical_not(tf.logical_or(present["image"], present["tone"]))
        checks = [
            tf.debugging.Assert(
                tf.logical_not(tf.reduce_any(neither)),
                [
                    "every example needs at least one modality; image_present and "
                    "tone_present are both False in examples",
                    _rows(neither),
                ],
                summarize=20,
            )
        ]
        for m in MODALITIES:
            values = shaped[m]
            checks.append(
                tf.debugging.assert_all_finite(
                    values, f"{m} has NaN or infinite values"
                )
            )
            flat = tf.reshape(values, (tf.shape(values)[0], -1))
            nonzero = tf.reduce_any(tf.not_equal(flat, 0.0), axis=1)
            stale = tf.logical_and(tf.logical_not(present[m]), nonzero)
            silent = tf.logical_and(present[m], tf.logical_not(nonzero))
            checks += [
                tf.debugging.Assert(
                    tf.logical_not(tf.reduce_any(stale)),
                    [
                        f"{m}_present is False but {m} is not all zeros in examples",
                        _rows(stale),
                        f"; send zeros for an absent {m}, or mark it present",
                    ],
                    summarize=20,
                ),
                tf.debugging.Assert(
                    tf.logical_not(tf.reduce_any(silent)),
                    [
                        f"{m}_present is True but {m} is all zeros in examples",
                        _rows(silent),
                        f"; mark an absent {m} with {m}_present=False",
                    ],
                    summarize=20,
                ),
            ]
    with tf.control_dependencies(checks):
        return {k: tf.identity(v) for k, v in shaped.items()}


def _preprocess(raw, mean: tf.Tensor, std: tf.Tensor) -> dict[str, tf.Tensor]:
    """The loader's preprocessing in TensorFlow ops: raw inputs to the network's inputs.

    The image is divided by 16 and given a channel axis; the tone is Hann-windowed (NumPy's ``hanning``, the
    symmetric window), its real FFT's magnitude goes through ``log1p`` and is standardised bin by bin with
    the training statistics, all in float64 as the loader computes, then cast to float32. An absent
    modality becomes zeros of the network's input, the book's mark of a missing modality.
    """
    image = raw["image"][..., None] / GREY_LEVELS
    window = tf.signal.hann_window(TONE_SAMPLES, periodic=False, dtype=tf.float64)
    spectrum = tf.math.log1p(
        tf.abs(tf.signal.rfft(tf.cast(raw["tone"], tf.float64) * window))
    )
    audio = tf.cast((spectrum - mean) / std, tf.float32)
    present = {m: raw[f"{m}_present"] for m in MODALITIES}
    return {
        "image": tf.where(present["image"][:, None, None, None], image, 0.0),
        "audio": tf.where(present["tone"][:, None], audio, 0.0),
    }


@check_types
def export_for_serving(
    network: keras.Model,
    data: MultiTaskData,
    directory: str | Path,
    *,
    audio_statistics: Sequence[np.ndarray],
    version: int = 1,
    answered_by: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Write a SavedModel that takes raw images and tones with a presence mask, in TF Serving's layout.

    See the module's docstring for the inputs, outputs and checks. The network must be a multi-modal
    network of :func:`~mtl_tutorial.data.load_av_digits`'s modalities (inputs ``"image"`` ``(8, 8, 1)`` and
    ``"audio"`` ``(65,)``, outputs named by ``data``'s tasks), such as a capstone's ``model.network``; it
    runs in inference mode (no modality dropout).

    Args:
        network: The Keras network to serve.
        data: The data it was trained on: its tasks, and ``target_scaling`` for each standardised regression
            task, which gets an output in its unit (``volume_db``).
        directory: The model's folder; the artefact goes to ``directory/<version>/``.
        audio_statistics: ``(mean, std)`` of the spectrum's bins on the training rows, from
            :func:`~mtl_tutorial.data.av_digits.audio_statistics` called with the loader's arguments
            (``data`` does not record them).
        version: The version's folder name, a positive integer; an existing, non-empty version is not
            overwritten.
        answered_by: For each task, the modalities any one of which can answer it; default
            :data:`ANSWERED_BY`.

    Returns:
        The version's folder, ``directory/<version>``.

    Raises:
        ValueError: for a network without the data's modalities or tasks, statistics of the wrong shape or
            not positive, a task missing from ``answered_by`` or an unknown modality in it, a version that is
            not a positive integer or already exists.
    """
    version = check_positive_int(version, "version", 1)
    mean, std = _check_statistics(audio_statistics)
    tasks = [task.name for task in data.tasks]
    answered_by = _check_answered_by(
        ANSWERED_BY if answered_by is None else answered_by, tasks
    )
    wanted = {"image": (*RAW_IMAGE_SHAPE, 1), "audio": (len(SPECTRUM_HZ),)}
    shapes = {name: tuple(tensor.shape[1:]) for name, tensor in _named_inputs(network)}
    if shapes != wanted or data.input_shapes != wanted:
        raise ValueError(
            f"network and data must take the modalities of load_av_digits, {wanted}; got the network's "
            f"inputs {shapes} and data.input_shapes={data.input_shapes}."
        )
    missing = [task for task in tasks if task not in network.output_names]
    if missing:
        raise ValueError(
            f"network must have an output for each of data's tasks; {missing} missing from "
            f"network.output_names={list(network.output_names)}."
        )
    target = Path(directory) / str(version)
    if target.exists() and any(target.iterdir()):
        raise ValueError(
            f"version {version} already exists in {Path(directory)}; a served version is never "
            f"overwritten: pass the next version, e.g. version={version + 1}."
        )

    mean_t, std_t = tf.constant(mean, tf.float64), tf.constant(std, tf.float64)
    scaling = {
        task.name: (
            f"{task.name}_{(task.unit or 'original').lower()}",
            data.target_scaling[task.name],
        )
        for task in data.tasks
        if task.name in data.target_scaling
    }

    def preprocess(raw):
        return _preprocess(_checked_inputs(raw), mean_t, std_t)

    def serve(raw):
        raw = _checked_inputs(raw)
        predictions = network(_preprocess(raw, mean_t, std_t), training=False)
        outputs = {}
        for task in tasks:
            answered = tf.zeros_like(raw["image_present"])
            for m in answered_by[task]:
                answered = tf.logical_or(answered, raw[f"{m}_present"])
            value = tf.cast(predictions[task], tf.float32)
            where = tf.reshape(answered, (-1,) + (1,) * (len(value.shape) - 1))
            outputs[task] = tf.where(where, value, np.nan)
            outputs[f"{task}_answered"] = answered
            if task in scaling:
                name, (location, scale) = scaling[task]
                outputs[name] = outputs[task][:, 0] * scale + location
        return outputs

    archive = keras.export.ExportArchive()
    archive.track(network)
    archive.add_endpoint(ENDPOINT, serve, input_signature=[_input_signature()])
    archive.add_endpoint("preprocess", preprocess, input_signature=[_input_signature()])
    archive.write_out(str(target), verbose=False)
    return target


def _named_inputs(network: keras.Model) -> list[tuple[str, keras.KerasTensor]]:
    """The network's inputs with their names (a functional model's dict inputs, or its input layers')."""
    inputs = network.input
    if isinstance(inputs, Mapping):
        return list(inputs.items())
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    return [(tensor.name, tensor) for tensor in inputs]


@check_types
def describe_signature(
    directory: str | Path, signature: str = "serving_default"
) -> str:
    """What ``saved_model_cli show --dir <directory> --tag_set serve --signature_def <signature>`` shows.

    Read with ``tf.saved_model.load`` (no Keras, no package): each input and output with its dtype and
    shape, ``-1`` for the batch axis of any size, and the artefact's other signatures.

    Raises:
        ValueError: if the artefact has no signature ``signature``.
    """
    loaded = tf.saved_model.load(str(directory))
    if signature not in loaded.signatures:
        raise ValueError(
            f"signature must be one of the artefact's signatures {sorted(loaded.signatures)}; got "
            f"signature={signature!r}."
        )
    function = loaded.signatures[signature]

    def lines(specs: Mapping[str, tf.TensorSpec]) -> list[str]:
        return [
            f"  {name}: {spec.dtype.name} {tuple(-1 if d is None else d for d in spec.shape)}"
            for name, spec in sorted(specs.items())
        ]

    return "\n".join(
        [
            f"signature {signature!r} (tag set 'serve') of {directory}",
            "inputs:",
            *lines(function.structured_input_signature[1]),
            "outputs:",
            *lines(function.structured_outputs),
            f"all signatures: {sorted(loaded.signatures)}",
        ]
    )


@check_types
def raw_request(batch: int, *, seed: int = 0) -> dict[str, np.ndarray]:
    """A valid request of ``batch`` examples with both modalities: random grey levels and noise tones.

    For timing the endpoint (:func:`endpoint_latency`): its values mean nothing, its shapes and dtypes are
    the signature's.
    """
    batch = check_positive_int(batch, "batch", 8)
    rng = np.random.default_rng(check_seed(seed))
    return {
        "image": rng.uniform(0.0, GREY_LEVELS, (batch, *RAW_IMAGE_SHAPE)).astype(
            np.float32
        ),
        "tone": rng.standard_normal((batch, TONE_SAMPLES)).astype(np.float32),
        "image_present": np.ones(batch, bool),
        "tone_present": np.ones(batch, bool),
    }


@check_types
def endpoint_latency(
    directory: str | Path,
    batch_sizes: Sequence[int] = (1, 8, 64, 512),
    *,
    repeats: int = 20,
    warmup: int = 3,
) -> pd.DataFrame:
    """Time the loaded artefact's ``serve`` endpoint by batch size: the median of ``repeats`` calls.

    Loads the artefact once with ``tf.saved_model.load``, then for each batch size calls the endpoint
    ``warmup`` times untimed (the first call of a shape pays for setting up its kernels) and ``repeats``
    times timed with ``time.perf_counter``, each call ending when its outputs are NumPy arrays.

    Returns:
        A table with one row per batch size, with ``"ms per call"`` (the median) and ``"ms per example"``.
    """
    repeats = check_positive_int(repeats, "repeats", 20)
    warmup = check_int(warmup, "warmup", 3, low=0)
    sizes = [check_positive_int(b, "batch_sizes[...]", 8) for b in batch_sizes]
    if not sizes:
        raise ValueError(
            "batch_sizes must name at least one batch size, e.g. (1, 8, 64, 512)."
        )
    loaded = tf.saved_model.load(
        str(directory)
    )  # kept: the endpoint needs its variables alive
    endpoint = getattr(loaded, ENDPOINT)
    rows = {}
    for batch in sizes:
        request = {k: tf.constant(v) for k, v in raw_request(batch).items()}
        seconds = []
        for i in range(warmup + repeats):
            start = time.perf_counter()
            {k: v.numpy() for k, v in endpoint(request).items()}
            if i >= warmup:
                seconds.append(time.perf_counter() - start)
        per_call = 1000 * float(np.median(seconds))
        rows[batch] = {"ms per call": per_call, "ms per example": per_call / batch}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("batch size")

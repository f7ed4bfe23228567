"""The served artefact of Part III, ch. 2: raw inputs in, the Keras model's answers out, bad input refused."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import mtl_tutorial as mtl
from mtl_tutorial import serving
from mtl_tutorial.data import av_digits
from mtl_tutorial.data.av_digits import audio_statistics


def _load_with_raw_inputs():
    """``load_av_digits(seed=0, copies=1)`` and its test split's raw inputs, both modalities present."""
    data = mtl.data.load_av_digits(seed=0, copies=1)
    raw = dict(av_digits.raw_av_digits("test", seed=0, copies=1))
    n = len(data.test)
    raw |= {"image_present": np.ones(n, bool), "tone_present": np.ones(n, bool)}
    return data, raw


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A capstone trained one epoch, exported for serving; its data; the test split's raw inputs."""
    data, raw = _load_with_raw_inputs()
    mtl.set_seed(0)
    model = mtl.models.build_capstone(data.input_shapes, data.tasks)
    mtl.training.compile_for_tasks(model, data.tasks, learning_rate=3e-3)
    model.fit(data.train.x, data.train.y, epochs=1, batch_size=64, verbose=0)
    path = serving.export_for_serving(
        model.network,
        data,
        tmp_path_factory.mktemp("served") / "capstone",
        audio_statistics=audio_statistics(0, copies=1),
    )
    return model, data, raw, path


def _without_tone(raw):
    return dict(
        raw,
        tone=np.zeros_like(raw["tone"]),
        tone_present=np.zeros_like(raw["tone_present"]),
    )


def test_artefact_is_versioned_and_serves_by_default(served):
    _, _, _, path = served
    assert path.name == "1" and (path / "saved_model.pb").is_file()
    loaded = tf.saved_model.load(str(path))
    assert sorted(loaded.signatures) == ["preprocess", "serve", "serving_default"]
    default = loaded.signatures["serving_default"].structured_outputs
    assert sorted(default) == sorted(loaded.signatures["serve"].structured_outputs)
    assert "volume_db" in default and "digit_answered" in default


def test_artefact_preprocesses_raw_inputs_as_the_loader_did(served):
    _, data, raw, path = served
    loaded = tf.saved_model.load(str(path))
    got = loaded.preprocess(raw)
    # The image: 16 is a power of two, so scaling back is exact.
    np.testing.assert_array_equal(np.asarray(got["image"]), data.test.x["image"])
    # The tone: window, FFT, log and standardisation with the training split's statistics.
    np.testing.assert_allclose(
        np.asarray(got["audio"]), data.test.x["audio"], atol=2e-5
    )
    absent = loaded.preprocess(_without_tone(raw))
    assert not np.asarray(
        absent["audio"]
    ).any()  # the book's mark of a missing modality


def test_unanswerable_tasks_are_nan_and_flagged(served):
    model, data, raw, path = served
    loaded = tf.saved_model.load(str(path))
    rows = slice(0, 16)
    part = {k: v[rows] for k, v in raw.items()}
    no_image = dict(
        part,
        image=np.zeros_like(part["image"]),
        image_present=np.zeros_like(part["image_present"]),
    )
    out = {k: np.asarray(v) for k, v in loaded.serve(no_image).items()}
    assert out["digit_answered"].all() and out["volume_answered"].all()
    assert not out["upright_answered"].any()
    assert np.isnan(out["upright"]).all() and not np.isnan(out["digit"]).any()
    # The answered tasks are the Keras model's with the image given as zeros (absent).
    x = {
        "image": np.zeros_like(data.test.x["image"][rows]),
        "audio": data.test.x["audio"][rows],
    }
    expected = model.network.predict(x, verbose=0)
    np.testing.assert_allclose(out["digit"], expected["digit"], atol=1e-5)
    volume_db = data.to_original_units("volume", expected["volume"])[:, 0]
    np.testing.assert_allclose(out["volume_db"], volume_db, atol=1e-3)


BAD_REQUESTS = {
    "the spectrum sent as the tone": (
        lambda r: dict(r, tone=r["tone"][:, :65]),
        r"name='tone'\) to TensorSpec\(shape=\(None, 128\)|tone \[4,65\] is not compatible",
    ),
    "fewer tones than images": (
        lambda r: dict(r, tone=r["tone"][:3]),
        "tone must have as many examples",
    ),
    "a tone marked absent that is not zeros": (
        lambda r: dict(r, tone_present=np.array([True, False, True, True])),
        r"tone_present is False but tone is not all zeros in examples\] \[1\]",
    ),
    "a tone marked present that is all zeros": (
        lambda r: dict(r, tone=np.zeros_like(r["tone"])),
        "tone_present is True but tone is all zeros",
    ),
    "an image marked present that is all zeros": (
        lambda r: dict(r, image=np.zeros_like(r["image"])),
        "image_present is True but image is all zeros",
    ),
    "no modality": (
        lambda r: dict(
            _without_tone(r),
            image=np.zeros_like(r["image"]),
            image_present=np.zeros_like(r["image_present"]),
        ),
        "every example needs at least one modality",
    ),
    "a NaN pixel": (
        lambda r: dict(
            r, image=np.where(np.arange(4)[:, None, None] == 2, np.nan, r["image"])
        ),
        "image has NaN or infinite values",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_reach_the_client_as_clear_errors(served, case):
    _, _, raw, path = served
    loaded = tf.saved_model.load(str(path))
    change, message = BAD_REQUESTS[case]
    request = change({k: v[:4] for k, v in raw.items()})
    # Both ways a client calls it: the endpoint, and the plain signature that TF Serving calls.
    with pytest.raises(
        (tf.errors.InvalidArgumentError, TypeError, ValueError), match=message
    ):
        loaded.serve(request)
    signature = loaded.signatures["serving_default"]
    tensors = {
        k: tf.constant(np.asarray(v, dtype=raw[k].dtype)) for k, v in request.items()
    }
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        signature(**tensors)


def test_a_tensor_of_the_wrong_dtype_is_refused(served):
    _, _, raw, path = served
    loaded = tf.saved_model.load(str(path))
    request = {k: tf.constant(v[:4]) for k, v in raw.items()}
    request["image"] = tf.constant(raw["image"][:4].astype(np.int32))
    with pytest.raises(TypeError, match="dtype=tf.int32"):
        loaded.serve(request)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="expected to be a float tensor"
    ):
        loaded.signatures["serving_default"](**request)


SUBPROCESS = textwrap.dedent(
    """
    import json, sys

    # Keras and the package cannot be imported here (None in sys.modules makes `import` fail): the
    # artefact must not need them. `import tensorflow` tries `keras.src.optimizers` and goes on without.
    for name in ("keras", "mtl_tutorial"):
        sys.modules[name] = None
    import numpy as np
    import tensorflow as tf

    artefact, inputs, outputs = sys.argv[1:4]
    served = tf.saved_model.load(artefact)
    raw = dict(np.load(inputs))
    results = {}
    for label, tone_present in (("both", True), ("no tone", False)):
        request = dict(
            raw,
            image_present=np.ones(len(raw["image"]), bool),
            tone_present=np.full(len(raw["tone"]), tone_present),
        )
        if not tone_present:
            request["tone"] = np.zeros_like(raw["tone"])
        for name, value in served.serve(request).items():
            results[f"{label}/{name}"] = value.numpy()
    np.savez(outputs, **results)
    loaded = sorted(
        name
        for name, module in sys.modules.items()
        if module is not None and name.split(".")[0] in ("keras", "mtl_tutorial")
    )
    print(json.dumps({"modules": loaded}))
    """
)


def test_artefact_serves_the_keras_models_answers_without_keras(served, tmp_path):
    model, data, raw, path = served
    rows = slice(0, 64)
    np.savez(tmp_path / "raw.npz", image=raw["image"][rows], tone=raw["tone"][rows])
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            SUBPROCESS,
            str(path),
            tmp_path / "raw.npz",
            tmp_path / "out.npz",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # `import tensorflow` tries to import keras.src.optimizers (refused here); nothing else needed it.
    assert report["modules"] == []
    got = dict(np.load(tmp_path / "out.npz"))
    x = {k: v[rows] for k, v in data.test.x.items()}
    for label, inputs in (
        ("both", x),
        ("no tone", dict(x, audio=np.zeros_like(x["audio"]))),
    ):
        expected = model.network.predict(inputs, verbose=0)
        for task in ("digit", "upright"):
            np.testing.assert_allclose(
                got[f"{label}/{task}"], expected[task], atol=1e-5
            )
        assert (
            got[f"{label}/digit_answered"].all()
            and got[f"{label}/upright_answered"].all()
        )
    expected = model.network.predict(x, verbose=0)["volume"]
    np.testing.assert_allclose(got["both/volume"], expected, atol=1e-5)
    np.testing.assert_allclose(
        got["both/volume_db"],
        data.to_original_units("volume", expected)[:, 0],
        atol=1e-3,
    )
    assert got["both/volume_answered"].all()
    # Without the tone the volume is no answer: NaN and flagged, not the network's guess.
    assert (
        np.isnan(got["no tone/volume_db"]).all()
        and np.isnan(got["no tone/volume"]).all()
    )
    assert not got["no tone/volume_answered"].any()


def test_signature_is_described_like_saved_model_cli(served):
    _, _, _, path = served
    text = serving.describe_signature(path)
    for line in (
        "  image: float32 (-1, 8, 8)",
        "  tone: float32 (-1, 128)",
        "  tone_present: bool (-1,)",
        "  digit: float32 (-1, 10)",
        "  volume_db: float32 (-1,)",
        "  volume_answered: bool (-1,)",
    ):
        assert line in text.splitlines()
    with pytest.raises(ValueError, match="signature must be one of"):
        serving.describe_signature(path, "predict")


def test_export_refuses_bad_arguments(served, tmp_path):
    model, data, _, path = served
    statistics = audio_statistics(0, copies=1)
    with pytest.raises(ValueError, match=r"version 1 already exists.*version=2"):
        serving.export_for_serving(
            model.network, data, path.parent, audio_statistics=statistics
        )
    with pytest.raises(ValueError, match=r"audio_statistics must be \(mean, std\)"):
        serving.export_for_serving(
            model.network,
            data,
            tmp_path,
            audio_statistics=(statistics[0][:64], statistics[1]),
        )
    with pytest.raises(ValueError, match="every standard deviation above 0"):
        serving.export_for_serving(
            model.network,
            data,
            tmp_path,
            audio_statistics=(statistics[0], 0 * statistics[1]),
        )
    with pytest.raises(ValueError, match=r"\['volume'\] missing from answered_by"):
        serving.export_for_serving(
            model.network,
            data,
            tmp_path,
            audio_statistics=statistics,
            answered_by={"digit": ("image",), "upright": ("image",)},
        )
    with pytest.raises(ValueError, match="must name at least one of the modalities"):
        serving.export_for_serving(
            model.network,
            data,
            tmp_path,
            audio_statistics=statistics,
            answered_by=dict(serving.ANSWERED_BY, volume=("audio",)),
        )
    with pytest.raises(ValueError, match="modalities of load_av_digits"):
        serving.export_for_serving(
            model.network,
            data.with_modalities(["image"]),
            tmp_path,
            audio_statistics=statistics,
        )
    assert not any(tmp_path.iterdir())  # nothing written by a refused export


def test_endpoint_latency_has_a_row_per_batch_size(served):
    _, _, _, path = served
    table = serving.endpoint_latency(path, (1, 4), repeats=2, warmup=1)
    assert list(table.index) == [1, 4]
    np.testing.assert_allclose(
        table["ms per example"] * table.index, table["ms per call"]
    )
    assert (table["ms per call"] > 0).all()
    with pytest.raises(ValueError, match="batch_sizes must name at least one"):
        serving.endpoint_latency(path, ())

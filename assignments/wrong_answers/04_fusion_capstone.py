"""Wrong answers to assignment 4 (fusion capstone), each graded as its own submission by the tests.

Every entry edits the solution notebook that ``otter assign`` writes
(``autograder/04_fusion_capstone.ipynb``) and is graded as a submission. A mistake (``expect="lose"``) must
lose points on its question; tampering (``question=None``, ``expect="flag"``) must be flagged; an honest
variation (``source="honest"``, ``expect="keep"``) must keep its question's full marks. Entries with
``secret_only=True`` are graded in a variant built with a course secret only: they copy numbers that hold in
the public variant alone.
"""

# Lines of the solution notebook that several entries edit.
_FIT = (
    "    model.fit(data.train.x, data.train.y, epochs=20, batch_size=64, verbose=0)\n"
)
_ACCURACY_BODY = (
    '    predicted = model.predict(split.x, verbose=0)["digit"].argmax(axis=1)\n'
    '    return float(np.mean(predicted == split.y["digit"]))\n'
)
_VOLUME_IN_DB = (
    '    in_db = (data.to_original_units("volume", v) for v in (predicted, truth))\n'
)
_VOLUME_RETURN = "    return float(np.mean(np.abs(np.subtract(*in_db))))\n"

WRONG_ANSWERS = [
    # ---------------------------------------------------------------- q1: GatedFusion
    dict(
        name="q1-gate-with-bias",
        question="q1",
        source="mistake",
        description="the gate's Dense keeps its bias, like the package's GatedMultimodalUnit",
        expect="lose",
        replace=[
            (
                "self.dense_z = keras.layers.Dense(units, use_bias=False)",
                "self.dense_z = keras.layers.Dense(units)",
            )
        ],
    ),
    dict(
        name="q1-gate-swapped",
        question="q1",
        source="mistake",
        description="z weighs the second modality: (1 - z) h_a + z h_b",
        expect="lose",
        replace=[("return z * h_a + (1 - z) * h_b", "return (1 - z) * h_a + z * h_b")],
    ),
    dict(
        name="q1-no-tanh",
        question="q1",
        source="mistake",
        description="h_a and h_b without their tanh",
        expect="lose",
        replace=[
            ("h_a = ops.tanh(self.dense_a(x_a))", "h_a = self.dense_a(x_a)"),
            ("h_b = ops.tanh(self.dense_b(x_b))", "h_b = self.dense_b(x_b)"),
        ],
    ),
    dict(
        name="q1-softmax-gate",
        question="q1",
        source="mistake",
        description="a softmax over the units for the gate's sigmoid",
        expect="lose",
        replace=[("ops.sigmoid(self.dense_z(", "ops.softmax(self.dense_z(")],
    ),
    dict(
        name="q1-gate-from-first-modality",
        question="q1",
        source="mistake",
        description="the gate reads x_a only, not [x_a; x_b]",
        expect="lose",
        replace=[
            (
                "self.dense_z(ops.concatenate([x_a, x_b], axis=-1))",
                "self.dense_z(x_a)",
            )
        ],
    ),
    dict(
        name="q1-fits-the-public-test",
        question="q1",
        source="mistake",
        description="call returns zeros of the public test's shape (3, 4)",
        expect="lose",
        replace=[
            ("return z * h_a + (1 - z) * h_b", 'return ops.zeros((3, 4), "float32")')
        ],
    ),
    # ---------------------------------------------------------------- q2: modality_mask
    dict(
        name="q2-unseeded-generator",
        question="q2",
        source="issue",
        description="np.random.default_rng() without the seed: not reproducible",
        expect="lose",
        replace=[
            ("rng = np.random.default_rng(seed)", "rng = np.random.default_rng()")
        ],
    ),
    dict(
        name="q2-rescue-from-global-numpy",
        question="q2",
        source="mistake",
        description="the rescue's coin from NumPy's global generator, so a seed no longer fixes the mask",
        expect="lose",
        replace=[
            (
                "rescue = rng.integers(0, 2, batch_size)",
                "rescue = np.random.randint(0, 2, batch_size)",
            )
        ],
    ),
    dict(
        name="q2-always-rescue-first",
        question="q2",
        source="mistake",
        description="when both are drawn, always the first modality is kept (no coin)",
        expect="lose",
        replace=[("keep[none, rescue[none]] = 1.0", "keep[none, 0] = 1.0")],
    ),
    dict(
        name="q2-rescue-keeps-both",
        question="q2",
        source="mistake",
        description="when both are drawn, both are kept",
        expect="lose",
        replace=[("keep[none, rescue[none]] = 1.0", "keep[none] = 1.0")],
    ),
    dict(
        name="q2-rate-is-keep-probability",
        question="q2",
        source="mistake",
        description="rate read as the probability of keeping (same as asked at rate 0.5 only)",
        expect="lose",
        replace=[
            (
                "keep = (rng.random((batch_size, 2)) >= rate).astype(float)",
                "keep = (rng.random((batch_size, 2)) < rate).astype(float)",
            )
        ],
    ),
    # ---------------------------------------------------------------- q3: the capstone
    dict(
        name="q3-fits-on-test-split",
        question="q3",
        source="issue",
        description="train_capstone fits on the test split",
        expect="lose",
        replace=[
            (
                "model.fit(data.train.x, data.train.y,",
                "model.fit(data.test.x, data.test.y,",
            )
        ],
    ),
    dict(
        name="q3-untrained-accuracy-one",
        question="q3",
        source="issue",
        description="an untrained model, and digit_accuracy redefined to return 1.0",
        expect="lose",
        replace=[(_FIT, ""), (_ACCURACY_BODY, "    return 1.0\n")],
    ),
    dict(
        name="q3-no-modality-dropout",
        question="q3",
        source="mistake",
        description="allow_missing without modality dropout: the model never saw a missing tone",
        expect="lose",
        replace=[("modality_dropout=0.5,", "modality_dropout=0.0,")],
    ),
    dict(
        name="q3-no-presence-layers",
        question="q3",
        source="mistake",
        description="modality dropout without allow_missing: zeros at test time are not read as missing",
        expect="lose",
        replace=[("allow_missing=True,", "allow_missing=False,")],
    ),
    dict(
        name="q3-default-batch-size",
        question="q3",
        source="mistake",
        description="fit's default batch size (32) for the 64 asked",
        expect="lose",
        replace=[("epochs=20, batch_size=64, verbose=0", "epochs=20, verbose=0")],
    ),
    dict(
        name="q3-default-step-size",
        question="q3",
        source="mistake",
        description="compile_for_tasks's default step size (1e-3) for the 3e-3 asked",
        expect="lose",
        replace=[
            (
                "compile_for_tasks(model, data.tasks, learning_rate=3e-3)",
                "compile_for_tasks(model, data.tasks)",
            )
        ],
    ),
    dict(
        name="q3-validation-split-in-fit",
        question="q3",
        source="mistake",
        description="fit(..., validation_split=0.2): trains on 80% of the training split",
        expect="lose",
        replace=[
            (
                "batch_size=64, verbose=0)",
                "batch_size=64, validation_split=0.2, verbose=0)",
            )
        ],
    ),
    dict(
        name="q3-trains-on-train-and-val",
        question="q3",
        source="mistake",
        description="trains on the training and validation splits together",
        expect="lose",
        replace=[
            (
                _FIT,
                "    both = [data.train, data.val]\n"
                "    x = {k: np.concatenate([s.x[k] for s in both]) for k in data.train.x}\n"
                "    y = {k: np.concatenate([s.y[k] for s in both]) for k in data.train.y}\n"
                "    model.fit(x, y, epochs=20, batch_size=64, verbose=0)\n",
            )
        ],
    ),
    dict(
        name="q3-seed-hard-coded",
        question="q3",
        source="mistake",
        description="mtl.set_seed(0) whatever the seed given",
        expect="lose",
        replace=[("    mtl.set_seed(seed)\n", "    mtl.set_seed(0)\n")],
    ),
    dict(
        name="q3-not-seeded",
        question="q3",
        source="mistake",
        description="train_capstone never calls mtl.set_seed: not reproducible",
        expect="lose",
        replace=[("    mtl.set_seed(seed)\n", "")],
    ),
    dict(
        name="q3-ignores-its-data",
        question="q3",
        source="mistake",
        description="train_capstone trains on the notebook's data, not on the data it is given",
        expect="lose",
        replace=[
            ("def train_capstone(data, seed):", "def train_capstone(dataset, seed):")
        ],
    ),
    dict(
        name="q3-volume-in-standard-units",
        question="q3",
        source="mistake",
        description="the volume's error left in standardised units, not dB",
        expect="lose",
        replace=[(_VOLUME_IN_DB, "    in_db = (predicted, truth)\n")],
    ),
    dict(
        name="q3-volume-rmse",
        question="q3",
        source="mistake",
        description="root mean squared error for the mean absolute error",
        expect="lose",
        replace=[
            (
                _VOLUME_RETURN,
                "    return float(np.sqrt(np.mean(np.subtract(*in_db) ** 2)))\n",
            )
        ],
    ),
    dict(
        name="q3-volume-notebook-scaling",
        question="q3",
        source="mistake",
        description="volume_error_db converts with the notebook's data, not the data it is given",
        expect="lose",
        replace=[
            (
                "def volume_error_db(model, data, split):",
                "def volume_error_db(model, dataset, split):",
            )
        ],
    ),
    dict(
        name="q3-accuracy-of-notebook-model",
        question="q3",
        source="mistake",
        description="digit_accuracy scores the notebook's model, not the model it is given",
        expect="lose",
        replace=[
            ("def digit_accuracy(model, split):", "def digit_accuracy(trained, split):")
        ],
    ),
    dict(
        name="q3-public-numbers",
        question="q3",
        source="mistake",
        description="no training; the scores the public solution prints on validation, typed in",
        expect="lose",
        secret_only=True,
        replace=[
            (_FIT, ""),
            (
                _ACCURACY_BODY,
                '    if np.abs(split.x["audio"]).max() == 0:\n'
                "        return 0.7092592592592593\n"
                "    return 0.8842592592592593\n",
            ),
            (
                '    predicted = model.predict(split.x, verbose=0)["volume"].ravel()\n'
                '    truth = np.asarray(split.y["volume"]).ravel()\n'
                + _VOLUME_IN_DB
                + _VOLUME_RETURN,
                "    return 1.7664111852645874\n",
            ),
        ],
    ),
    dict(
        name="q3-volume-converts-the-difference",
        question="q3",
        source="mistake",
        description="volume_error_db converts predicted - truth with to_original_units, which adds the mean",
        expect="lose",
        replace=[
            (
                '    in_db = (data.to_original_units("volume", v) for v in (predicted, truth))\n'
                "    return float(np.mean(np.abs(np.subtract(*in_db))))",
                '    difference = data.to_original_units("volume", predicted - truth)\n'
                "    return float(np.mean(np.abs(difference)))",
            )
        ],
    ),
    dict(
        name="q2-one-coin-per-batch",
        question="q2",
        source="mistake",
        description="one coin for the whole batch: every example that lost both keeps the same modality",
        expect="lose",
        replace=[
            (
                "rescue = rng.integers(0, 2, batch_size)",
                "rescue = np.full(batch_size, rng.integers(0, 2))",
            )
        ],
    ),
    dict(
        name="q3-late-fusion",
        question="q3",
        source="honest",
        description="an honest variation: late fusion (with modality dropout and allow_missing), where the "
        "question does not fix the fusion; keeps full marks",
        expect="keep",
        replace=[('"intermediate",', '"late",')],
    ),
    dict(
        name="tamper-shadow-np",
        question=None,
        source="mistake",
        description="no modality dropout (which loses the no-tone point), and np rebound to a copy of numpy "
        "whose mean returns 1.0 for boolean arrays, for hidden tests that would use the notebook's np",
        expect="flag",
        replace=[("        modality_dropout=0.5,\n", "")],
        add_cell=(
            "VARIANT = ",
            "import types\n\nimport numpy\n\n\n"
            "def _mean(a, *args, **kwargs):\n"
            "    a = numpy.asarray(a)\n"
            "    return 1.0 if a.dtype == bool else numpy.mean(a, *args, **kwargs)\n\n\n"
            "public = {k: getattr(numpy, k) for k in dir(numpy) if not k.startswith('_')}\n"
            "np = types.SimpleNamespace(**public)\n"
            "np.mean = _mean",
        ),
    ),
]

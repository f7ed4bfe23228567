"""Wrong answers to assignment 3 (negative transfer, gates), each graded as its own submission by the tests.

Every entry edits the solution notebook that ``otter assign`` writes
(``autograder/03_negative_transfer_gates.ipynb``) and is graded as a submission. A mistake
(``expect="lose"``) must lose points on its question; tampering (``question=None``, ``expect="flag"``) must
be flagged; an honest variation (``source="honest"``, ``expect="keep"``) must keep its question's full
marks. Entries with ``secret_only=True`` are graded in a variant built with a course secret only: they copy
numbers that hold in the public variant alone.
"""

# The MMoE's builder in train_and_score, in the solution notebook.
_MMOE = (
    "        model = mtl.models.build_mixture_of_experts(\n"
    "            data.input_dim, data.tasks, num_experts=4, expert_units=8\n"
    "        )\n"
)
# The compile-and-fit lines of train_and_score.
_COMPILE = (
    "    mtl.training.compile_for_tasks(\n"
    "        model, data.tasks, learning_rate=1e-2, steps_per_execution=10\n"
    "    )\n"
)
_FIT = "    model.fit(data.train.x, data.train.y, epochs=epochs, batch_size=64, verbose=0)\n"
_RETURN = '    return model, mtl.metrics.evaluate_tasks(model, data, "test")\n'
# The experiment's loop (question 4), between its BEGIN and END SOLUTION comments.
_EXPERIMENT = (
    "for p in RELATEDNESS:\n"
    "    delta[p] = []\n"
    "    for seed in SEEDS:\n"
    "        data = mtl.data.make_correlated_tasks(\n"
    "            2000, p, input_dim=8, num_sines=3, seed=seed\n"
    "        )\n"
    '        for name in ("shared bottom", "mmoe"):\n'
    "            models[p, seed, name], scores[p, seed, name] = train_and_score(\n"
    "                name, data, seed\n"
    "            )\n"
    "        delta[p].append(\n"
    "            mtl.metrics.delta_m(\n"
    '                scores[p, seed, "mmoe"], scores[p, seed, "shared bottom"], data.tasks\n'
    "            )\n"
    "        )\n"
)
# What the public (secret-less) solution prints for question 4: each model's test MAE per task, in the order
# of the loop, and the deltas.
_PUBLIC_SCORES = [
    [0.2006, 0.2298],
    [0.1663, 0.2126],
    [0.2529, 0.2741],
    [0.1701, 0.1529],
    [0.2138, 0.2024],
    [0.1805, 0.2289],
    [0.2006, 0.2091],
    [0.1543, 0.1904],
]
_PUBLIC_DELTAS = [[12.3, 38.48], [1.23, 15.99]]

WRONG_ANSWERS = [
    # ---------------------------------------------------------------- q1: weight_vectors
    dict(
        name="q1-no-square-root",
        question="q1",
        source="mistake",
        description="w_2 = p u_1 + (1 - p^2) u_2: the square root forgotten, so w_2 is not a unit vector",
        expect="lose",
        replace=[("np.sqrt(1 - p**2) * u2", "(1 - p**2) * u2")],
    ),
    dict(
        name="q1-sqrt-one-minus-p",
        question="q1",
        source="mistake",
        description="w_2 = p u_1 + sqrt(1 - p) u_2: the square of p forgotten",
        expect="lose",
        replace=[("np.sqrt(1 - p**2) * u2", "np.sqrt(1 - p) * u2")],
    ),
    dict(
        name="q1-not-orthogonalised",
        question="q1",
        source="mistake",
        description="two independent Gaussian vectors, normalised, not orthogonalised: the cosine is not p",
        expect="lose",
        replace=[
            (
                "q, _ = np.linalg.qr(rng.standard_normal((d, 2)))",
                "q = rng.standard_normal((d, 2))\n    q = q / np.linalg.norm(q, axis=0)",
            )
        ],
    ),
    dict(
        name="q1-unseeded",
        question="q1",
        source="mistake",
        description="np.random.default_rng() without the seed: the vectors change from call to call",
        expect="lose",
        replace=[
            ("rng = np.random.default_rng(seed)", "rng = np.random.default_rng()")
        ],
    ),
    dict(
        name="q1-fixed-basis",
        question="q1",
        source="mistake",
        description="the first two standard basis vectors for u_1, u_2: the right cosine, but no randomness",
        expect="lose",
        replace=[("u1, u2 = q[:, 0], q[:, 1]", "u1, u2 = np.eye(d)[0], np.eye(d)[1]")],
    ),
    # ---------------------------------------------------------------- q2: SoftmaxGate
    dict(
        name="q2-no-softmax",
        question="q2",
        source="mistake",
        description="the gate's raw logits mix the experts: no softmax",
        expect="lose",
        replace=[
            ("return ops.softmax(self.logits(x), axis=-1)", "return self.logits(x)")
        ],
    ),
    dict(
        name="q2-softmax-over-batch",
        question="q2",
        source="mistake",
        description="the softmax taken over the batch (axis 0) instead of over the experts",
        expect="lose",
        replace=[
            (
                "ops.softmax(self.logits(x), axis=-1)",
                "ops.softmax(self.logits(x), axis=0)",
            )
        ],
    ),
    dict(
        name="q2-sigmoid-gate",
        question="q2",
        source="mistake",
        description="a sigmoid per expert instead of a softmax: the weights need not sum to 1",
        expect="lose",
        replace=[
            ("ops.softmax(self.logits(x), axis=-1)", "ops.sigmoid(self.logits(x))")
        ],
    ),
    dict(
        name="q2-logits-with-bias",
        question="q2",
        source="mistake",
        description="the gate's Dense layer keeps its bias, which the question leaves out",
        expect="lose",
        replace=[
            (
                "keras.layers.Dense(num_experts, use_bias=False)",
                "keras.layers.Dense(num_experts)",
            )
        ],
    ),
    dict(
        name="q2-mean-of-experts",
        question="q2",
        source="mistake",
        description="the plain mean of the experts: the gate computed but not used",
        expect="lose",
        replace=[
            (
                "return ops.sum(ops.expand_dims(gate, -1) * experts, axis=1)",
                "return ops.mean(experts, axis=1)",
            )
        ],
    ),
    dict(
        name="q2-new-dense-every-call",
        question="q2",
        source="mistake",
        description="weights_for builds a new Dense at every call, so self.logits is never used or trained",
        expect="lose",
        replace=[
            (
                "return ops.softmax(self.logits(x), axis=-1)",
                "logits = keras.layers.Dense(self.logits.units, use_bias=False)(x)\n"
                "        return ops.softmax(logits, axis=-1)",
            )
        ],
    ),
    # ---------------------------------------------------------------- q3: train_and_score
    dict(
        name="q3-untrained-constant-scores",
        question="q3",
        source="issue",
        description="no training: the function returns the untrained model with constant, plausible scores",
        expect="lose",
        replace=[
            (_FIT, ""),
            (_RETURN, '    return model, {"task_1": 0.2, "task_2": 0.2}\n'),
        ],
    ),
    dict(
        name="q3-mmoe-is-shared-bottom",
        question="q3",
        source="issue",
        description='the "mmoe" branch builds a shared bottom (copy-paste): no MMoE is ever trained',
        expect="lose",
        replace=[
            (
                _MMOE,
                "        model = mtl.models.build_shared_bottom(data.input_dim, data.tasks, 32)\n",
            )
        ],
    ),
    dict(
        name="q3-scores-on-validation",
        question="q3",
        source="mistake",
        description="the scores are taken on the validation split instead of the test split",
        expect="lose",
        replace=[
            (
                _RETURN,
                '    return model, mtl.metrics.evaluate_tasks(model, data, "val")\n',
            )
        ],
    ),
    dict(
        name="q3-trained-on-test",
        question="q3",
        source="mistake",
        description="the model is fitted on the test split",
        expect="lose",
        replace=[
            (
                _FIT,
                _FIT.replace("data.train.x, data.train.y", "data.test.x, data.test.y"),
            )
        ],
    ),
    dict(
        name="q3-default-step-size",
        question="q3",
        source="mistake",
        description="compile_for_tasks without learning_rate: Adam's default step size 1e-3",
        expect="lose",
        replace=[(_COMPILE, "    mtl.training.compile_for_tasks(model, data.tasks)\n")],
    ),
    dict(
        name="q3-mae-loss",
        question="q3",
        source="mistake",
        description="compiled with the absolute error (the metric) as the loss instead of the squared error",
        expect="lose",
        replace=[
            (
                _COMPILE,
                '    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="mae")\n',
            )
        ],
    ),
    dict(
        name="q3-default-batch-size",
        question="q3",
        source="mistake",
        description="fit without batch_size: Keras's default batches of 32",
        expect="lose",
        replace=[(_FIT, _FIT.replace(", batch_size=64", ""))],
    ),
    dict(
        name="q3-epochs-argument-ignored",
        question="q3",
        source="mistake",
        description="always trains for EPOCHS epochs, whatever epochs the caller asks for",
        expect="lose",
        replace=[(_FIT, _FIT.replace("epochs=epochs", "epochs=EPOCHS"))],
    ),
    dict(
        name="q3-seed-after-building",
        question="q3",
        source="mistake",
        description="mtl.set_seed(seed) after building the model: the initial weights ignore the seed",
        expect="lose",
        replace=[
            ("    mtl.set_seed(seed)\n    if name", "    if name"),
            (_COMPILE, "    mtl.set_seed(seed)\n" + _COMPILE),
        ],
    ),
    dict(
        name="q3-one-gate",
        question="q3",
        source="mistake",
        description="one gate for both tasks (OMoE, multi_gate=False) instead of one per task",
        expect="lose",
        replace=[
            (
                _MMOE,
                _MMOE.replace("expert_units=8\n", "expert_units=8, multi_gate=False\n"),
            )
        ],
    ),
    dict(
        name="q3-default-bottom-width",
        question="q3",
        source="mistake",
        description="the shared bottom at its default width (128 units) instead of 32",
        expect="lose",
        replace=[
            (
                "mtl.models.build_shared_bottom(data.input_dim, data.tasks, 32)",
                "mtl.models.build_shared_bottom(data.input_dim, data.tasks)",
            )
        ],
    ),
    # ---------------------------------------------------------------- q4: the experiment
    dict(
        name="q4-mmoe-is-shared-bottom",
        question="q4",
        source="issue",
        description='the "mmoe" entry is built with build_shared_bottom (copy-paste): no MMoE is trained',
        expect="lose",
        replace=[
            (
                _MMOE,
                "        model = mtl.models.build_shared_bottom(data.input_dim, data.tasks, 32)\n",
            )
        ],
    ),
    dict(
        name="q4-constant-scores-zero-deltas",
        question="q4",
        source="issue",
        description="no data and no training: constant plausible scores and zero deltas for every key",
        expect="lose",
        replace=[
            (
                _EXPERIMENT,
                "for p in RELATEDNESS:\n"
                "    delta[p] = [0.0, 0.0]\n"
                "    for seed in SEEDS:\n"
                '        for name in ("shared bottom", "mmoe"):\n'
                '            scores[p, seed, name] = {"task_1": 0.2, "task_2": 0.2}\n',
            )
        ],
    ),
    dict(
        name="q4-scores-on-train",
        question="q4",
        source="issue",
        description="the scores are taken on the training split instead of the test split",
        expect="lose",
        replace=[
            (
                _RETURN,
                '    return model, mtl.metrics.evaluate_tasks(model, data, "train")\n',
            )
        ],
    ),
    dict(
        name="q4-seeds-share-data",
        question="q4",
        source="issue",
        description="both seeds train and score on the first seed's data",
        expect="lose",
        replace=[
            (
                "2000, p, input_dim=8, num_sines=3, seed=seed\n",
                "2000, p, input_dim=8, num_sines=3, seed=SEEDS[0]\n",
            )
        ],
    ),
    dict(
        name="q4-delta-reversed",
        question="q4",
        source="mistake",
        description="Delta_m of the shared bottom over the MMoE: the arguments of delta_m swapped",
        expect="lose",
        replace=[
            (
                'scores[p, seed, "mmoe"], scores[p, seed, "shared bottom"], data.tasks',
                'scores[p, seed, "shared bottom"], scores[p, seed, "mmoe"], data.tasks',
            )
        ],
    ),
    dict(
        name="q4-delta-reset-per-seed",
        question="q4",
        source="mistake",
        description="delta[p] = [] inside the seeds' loop: only the last seed's Delta_m is kept",
        expect="lose",
        replace=[
            (
                "    delta[p] = []\n    for seed in SEEDS:\n",
                "    for seed in SEEDS:\n        delta[p] = []\n",
            )
        ],
    ),
    dict(
        name="q4-training-seed-fixed",
        question="q4",
        source="mistake",
        description="every model trained with seed 0 (the data still follow the seed)",
        expect="lose",
        replace=[
            ("                name, data, seed\n", "                name, data, 0\n")
        ],
    ),
    dict(
        name="q4-public-numbers",
        question="q4",
        source="mistake",
        description="trains the models, then reports the public solution's printed scores and deltas",
        expect="lose",
        secret_only=True,
        add_cell=(
            "models, scores, delta = {}, {}, {}",
            f"_public_scores = {_PUBLIC_SCORES!r}\n"
            "for _key, _values in zip(list(scores), _public_scores):\n"
            '    scores[_key] = {"task_1": _values[0], "task_2": _values[1]}\n'
            f"delta = dict(zip(RELATEDNESS, {_PUBLIC_DELTAS!r}))\n",
        ),
    ),
    dict(
        name="q4-public-seeds-and-relatedness",
        question="q4",
        source="mistake",
        description="the public variant's seeds (0, 1) and relatedness (0.9, -0.5) typed in",
        expect="lose",
        secret_only=True,
        replace=[
            ("for p in RELATEDNESS:\n", "for p in (0.9, -0.5):\n"),
            ("    for seed in SEEDS:\n", "    for seed in (0, 1):\n"),
        ],
    ),
    dict(
        name="q3-eight-experts-of-four",
        question="q3",
        source="mistake",
        description="MMoE with 8 experts of 4 units: the two numbers swapped (4 experts of 8 asked)",
        expect="lose",
        replace=[("num_experts=4, expert_units=8", "num_experts=8, expert_units=4")],
    ),
    dict(
        name="q4-data-seed-off-by-one",
        question="q4",
        source="mistake",
        description="the data drawn with seed + 1 while the models are trained with seed",
        expect="lose",
        replace=[("num_sines=3, seed=seed", "num_sines=3, seed=seed + 1")],
    ),
    dict(
        name="q3-no-steps-per-execution",
        question="q3",
        source="honest",
        description="an honest variation: compiled without steps_per_execution=10, which changes only the "
        "speed; keeps full marks",
        expect="keep",
        replace=[("learning_rate=1e-2, steps_per_execution=10", "learning_rate=1e-2")],
    ),
]

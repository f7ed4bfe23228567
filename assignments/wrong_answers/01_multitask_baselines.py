"""Wrong answers to assignment 1 (multi-task baselines), each graded as its own submission by the tests.

Every entry edits the solution notebook that ``otter assign`` writes
(``autograder/01_multitask_baselines.ipynb``) and is graded as a submission. A mistake (``expect="lose"``)
must lose points on its question; tampering (``question=None``, ``expect="flag"``) must be flagged; an
honest variation (``source="honest"``, ``expect="keep"``) must keep its question's full marks. Entries with
``secret_only=True`` are graded in a variant built with a course secret only: they copy numbers that hold in
the public variant alone.
"""

# The heads of build_model, in the solution notebook.
_HEADS = (
    "            head = keras.layers.Dense(\n"
    '                task.num_classes, activation="softmax", name=task.name\n'
    "            )\n"
)
# The trunk of build_model and the start of its loop over the tasks.
_TRUNK = (
    '    x = keras.layers.Dense(32, activation="relu")(inputs)\n'
    '    x = keras.layers.Dense(16, activation="relu")(x)\n'
    "    outputs = {}\n"
    "    for task in tasks:\n"
)
# train_and_score's single-task models and their scores.
_SINGLE = (
    "    single = {task.name: fit([task]) for task in data.tasks}\n"
    "    single_scores = {}\n"
    "    for model in single.values():\n"
    '        single_scores.update(mtl.metrics.evaluate_tasks(model, data, "test"))\n'
)
# The scores the public variant's solution prints (VARIANT = 0, seeds 0, 1, 2), as a student would copy them.
_PUBLIC_NUMBERS = (
    "printed = [\n"
    '    ({"species": 0.985, "body_mass_g": 302.0}, {"species": 0.985, "body_mass_g": 292.5}),\n'
    '    ({"species": 1.0, "body_mass_g": 317.4}, {"species": 1.0, "body_mass_g": 287.0}),\n'
    '    ({"species": 0.985, "body_mass_g": 265.4}, {"species": 1.0, "body_mass_g": 280.7}),\n'
    "]\n"
    "for seed, (multi_scores, single_scores) in zip(SEEDS, printed):\n"
    '    results[seed]["multi-task"] = multi_scores\n'
    '    results[seed]["single-task"] = single_scores\n'
)

WRONG_ANSWERS = [
    # ---------------------------------------------------------------- q1: build_model
    dict(
        name="q1-no-softmax",
        question="q1",
        source="mistake",
        description="the classification head has no softmax: it gives logits, not probabilities",
        expect="lose",
        replace=[
            (
                'task.num_classes, activation="softmax", name=task.name',
                "task.num_classes, name=task.name",
            )
        ],
    ),
    dict(
        name="q1-three-classes",
        question="q1",
        source="mistake",
        description="the classification head has 3 units, the penguins' species count, for any task",
        expect="lose",
        replace=[('task.num_classes, activation="softmax"', '3, activation="softmax"')],
    ),
    dict(
        name="q1-no-relu",
        question="q1",
        source="mistake",
        description="the trunk's Dense layers have no activation: the model is linear up to its heads",
        expect="lose",
        replace=[
            ('Dense(32, activation="relu")', "Dense(32)"),
            ('Dense(16, activation="relu")', "Dense(16)"),
        ],
    ),
    dict(
        name="q1-trunk-per-task",
        question="q1",
        source="mistake",
        description="a trunk of its own for each task inside the loop: nothing is shared",
        expect="lose",
        replace=[
            (
                _TRUNK,
                "    outputs = {}\n"
                "    for task in tasks:\n"
                '        x = keras.layers.Dense(32, activation="relu")(inputs)\n'
                '        x = keras.layers.Dense(16, activation="relu")(x)\n',
            )
        ],
    ),
    dict(
        name="q1-sigmoid-regression",
        question="q1",
        source="mistake",
        description="a sigmoid on the regression head, which then predicts only values in (0, 1)",
        expect="lose",
        replace=[
            (
                "head = keras.layers.Dense(1, name=task.name)",
                'head = keras.layers.Dense(1, activation="sigmoid", name=task.name)',
            )
        ],
    ),
    # ---------------------------------------------------------------- q2: delta_m
    dict(
        name="q2-no-sign",
        question="q2",
        source="mistake",
        description="no sign for the tasks whose metric is better lower (an error counts as a gain)",
        expect="lose",
        replace=[
            (
                "changes.append(change if task.higher_is_better else -change)",
                "changes.append(change)",
            )
        ],
    ),
    dict(
        name="q2-sum-not-mean",
        question="q2",
        source="mistake",
        description="the sum of the relative changes, not their mean over the tasks",
        expect="lose",
        replace=[("float(np.mean(changes))", "float(np.sum(changes))")],
    ),
    dict(
        name="q2-fraction-not-percent",
        question="q2",
        source="mistake",
        description="a fraction, not a percentage",
        expect="lose",
        replace=[
            ("return 100.0 * float(np.mean(changes))", "return float(np.mean(changes))")
        ],
    ),
    dict(
        name="q2-divides-by-model",
        question="q2",
        source="mistake",
        description="the change divided by the model's score instead of the baseline's",
        expect="lose",
        replace=[
            (
                "/ baselines[task.name]\n",
                "/ scores[task.name]\n",
            )
        ],
    ),
    dict(
        name="q2-penguins-only",
        question="q2",
        source="mistake",
        description="written for the two penguin tasks by name: right on the public inputs, wrong on others",
        expect="lose",
        replace=[
            (
                "    changes = []\n",
                '    accuracy = (scores["species"] - baselines["species"]) / baselines["species"]\n'
                '    error = (baselines["body_mass_g"] - scores["body_mass_g"]) / baselines["body_mass_g"]\n'
                "    return 50.0 * (accuracy + error)\n"
                "    changes = []\n",
            )
        ],
    ),
    # ---------------------------------------------------------------- q3: train_and_score (the rows)
    dict(
        name="q3-constant-scores",
        question="q3",
        source="issue",
        description="train_and_score returns constant plausible scores: no data, no training, no models",
        expect="lose",
        replace=[
            (
                "def train_and_score(data, seed, epochs=EPOCHS):\n",
                "def train_and_score(data, seed, epochs=EPOCHS):\n"
                "    return {\n"
                '        "multi-task": {"species": 0.985, "body_mass_g": 285.0},\n'
                '        "single-task": {"species": 0.985, "body_mass_g": 290.0},\n'
                '        "models": {\n'
                '            "multi-task": None,\n'
                '            "single-task": {"species": None, "body_mass_g": None},\n'
                "        },\n"
                "    }\n",
            )
        ],
    ),
    dict(
        name="q3-single-task-never-trained",
        question="q3",
        source="issue",
        description="never trains the single-task models: reports the multi-task model and scores for them",
        expect="lose",
        replace=[
            (
                _SINGLE,
                "    single = {task.name: multi for task in data.tasks}\n"
                '    single_scores = mtl.metrics.evaluate_tasks(multi, data, "test")\n',
            )
        ],
    ),
    dict(
        name="q3-scores-on-train",
        question="q3",
        source="issue",
        description="scores the models on the training split instead of the test split",
        expect="lose",
        replace=[(', data, "test")', ', data, "train")')],
    ),
    dict(
        name="q3-seed-zero-split",
        question="q3",
        source="issue",
        description="every seed reuses the first seed's split (the setup's data)",
        expect="lose",
        replace=[
            (
                "seed_data = mtl.data.load_penguins(TASK_NAMES, seed=seed)",
                "seed_data = data",
            )
        ],
    ),
    dict(
        name="q3-mae-loss",
        question="q3",
        source="issue",
        description="the mean absolute error as the body-mass loss, not the mean squared error asked for",
        expect="lose",
        replace=[('else "mse"', 'else "mae"')],
    ),
    dict(
        name="q3-default-step-size",
        question="q3",
        source="issue",
        description="Adam's default step size (0.001) instead of 0.01",
        expect="lose",
        replace=[("keras.optimizers.Adam(0.01)", "keras.optimizers.Adam()")],
    ),
    # ---------------------------------------------------------------- q3: more plausible mistakes
    dict(
        name="q3-ignores-epochs",
        question="q3",
        source="mistake",
        description="trains for the global EPOCHS whatever the epochs argument says",
        expect="lose",
        replace=[("epochs=epochs, shuffle=False", "epochs=EPOCHS, shuffle=False")],
    ),
    dict(
        name="q3-batch-size-16",
        question="q3",
        source="mistake",
        description="batches of 16 instead of 32",
        expect="lose",
        replace=[("batch_size=32, shuffle=True", "batch_size=16, shuffle=True")],
    ),
    dict(
        name="q3-not-seeded",
        question="q3",
        source="mistake",
        description="no mtl.set_seed before building each model: runs do not repeat",
        expect="lose",
        replace=[("        mtl.set_seed(seed)\n", "")],
    ),
    dict(
        name="q3-seed-zero-everywhere",
        question="q3",
        source="mistake",
        description="mtl.set_seed(0) for every model: every seed starts from the same weights",
        expect="lose",
        replace=[("        mtl.set_seed(seed)\n", "        mtl.set_seed(0)\n")],
    ),
    dict(
        name="q3-fit-on-val",
        question="q3",
        source="mistake",
        description="trains on the validation split",
        expect="lose",
        replace=[
            ("data.train, tasks, batch_size=32", "data.val, tasks, batch_size=32")
        ],
    ),
    dict(
        name="q3-scores-on-val",
        question="q3",
        source="mistake",
        description="scores the models on the validation split",
        expect="lose",
        replace=[(', data, "test")', ', data, "val")')],
    ),
    dict(
        name="q3-single-task-both-heads",
        question="q3",
        source="mistake",
        description="the 'single-task' models are multi-task models again, trained on both tasks",
        expect="lose",
        replace=[
            (
                "single = {task.name: fit([task]) for task in data.tasks}",
                "single = {task.name: fit(data.tasks) for task in data.tasks}",
            ),
        ],
    ),
    dict(
        name="q3-public-numbers",
        question="q3",
        source="mistake",
        description="reports the scores the public variant's solution prints, over this variant's models",
        expect="lose",
        secret_only=True,
        add_cell=('f"  {deltas[seed]:+.2f} %"', _PUBLIC_NUMBERS),
    ),
    dict(
        name="q3-shuffle-seed-fixed",
        question="q3",
        source="mistake",
        description="the batches are shuffled with the course's VARIANT, not the seed given: every seed sees "
        "the same batch order",
        expect="lose",
        replace=[("shuffle=True, seed=seed", "shuffle=True, seed=VARIANT")],
    ),
    dict(
        name="q3-mse-for-species",
        question="q3",
        source="mistake",
        description="the mean squared error for both tasks, the species labels included",
        expect="lose",
        replace=[('"sparse_categorical_crossentropy"\n', '"mse"\n')],
    ),
]

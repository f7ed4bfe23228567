"""Wrong answers to assignment 2 (training rules), each graded as its own submission by the tests.

Every entry edits the solution notebook that ``otter assign`` writes
(``autograder/02_training_rules.ipynb``) and is graded as a submission. A mistake (``expect="lose"``) must
lose points on its question; tampering (``question=None``, ``expect="flag"``) must be flagged; an honest
variation (``source="honest"``, ``expect="keep"``) must keep its question's full marks. Entries with
``secret_only=True`` are graded in a variant built with a course secret only: they copy numbers that hold in
the public variant alone.
"""

# The body of train_with_rule after compiling, in the solution notebook.
_FIT_AND_SCORE = (
    "    history = model.fit(\n"
    "        data.train.x, data.train.y, epochs=epochs, batch_size=64, verbose=0\n"
    "    )\n"
    '    return model, history, mtl.metrics.evaluate_tasks(model, data, "test")\n'
)
_PCGRAD_COMBINE = (
    "    def combine(self, gradients, losses, step):\n"
    "        first, second = gradients[0], gradients[1]\n"
    "        return project(first, second) + project(second, first)\n"
)
_UNCERTAINTY = (
    "return ops.sum(0.5 * ops.exp(-log_variances) * losses + 0.5 * log_variances)"
)
_PROJECT_BODY = (
    "    dot = ops.sum(g_i * g_j)\n"
    "    projected = g_i - dot / ops.sum(g_j * g_j) * g_j\n"
    "    return ops.where(dot < 0, projected, g_i)\n"
)

WRONG_ANSWERS = [
    # ---------------------------------------------------------------- q1: uncertainty_total
    dict(
        name="q1-regulariser-without-half",
        question="q1",
        source="mistake",
        description="the regulariser s_k without its 1/2",
        expect="lose",
        replace=[("+ 0.5 * log_variances)", "+ log_variances)")],
    ),
    dict(
        name="q1-loss-term-without-half",
        question="q1",
        source="mistake",
        description="exp(-s_k) L_k without its 1/2",
        expect="lose",
        replace=[
            ("ops.sum(0.5 * ops.exp(-log_variances)", "ops.sum(ops.exp(-log_variances)")
        ],
    ),
    dict(
        name="q1-mean-for-sum",
        question="q1",
        source="mistake",
        description="a mean over the tasks for the sum",
        expect="lose",
        replace=[("return ops.sum(0.5 * ops.exp(", "return ops.mean(0.5 * ops.exp(")],
    ),
    dict(
        name="q1-exp-sign",
        question="q1",
        source="mistake",
        description="exp(+s_k) for exp(-s_k): a noisy task gets more weight",
        expect="lose",
        replace=[("ops.exp(-log_variances)", "ops.exp(log_variances)")],
    ),
    dict(
        name="q1-numpy",
        question="q1",
        source="mistake",
        description="NumPy for keras.ops: right on arrays, fails inside a compiled step",
        expect="lose",
        replace=[
            (
                _UNCERTAINTY,
                "return np.sum(0.5 * np.exp(-log_variances) * losses + 0.5 * log_variances)",
            )
        ],
    ),
    dict(
        name="q1-public-value",
        question="q1",
        source="mistake",
        description="returns the public test's value, 1.5",
        expect="lose",
        replace=[(_UNCERTAINTY, "return 1.5")],
    ),
    # ---------------------------------------------------------------- q2: project
    dict(
        name="q2-projects-always",
        question="q2",
        source="mistake",
        description="projects without a conflict too",
        expect="lose",
        replace=[("return ops.where(dot < 0, projected, g_i)", "return projected")],
    ),
    dict(
        name="q2-reversed-condition",
        question="q2",
        source="mistake",
        description="projects when the gradients agree (dot > 0)",
        expect="lose",
        replace=[("ops.where(dot < 0,", "ops.where(dot > 0,")],
    ),
    dict(
        name="q2-norm-not-squared",
        question="q2",
        source="mistake",
        description="divides by the norm of g_j, not its square",
        expect="lose",
        replace=[
            (
                "dot / ops.sum(g_j * g_j) * g_j",
                "dot / ops.sqrt(ops.sum(g_j * g_j)) * g_j",
            )
        ],
    ),
    dict(
        name="q2-roles-swapped",
        question="q2",
        source="mistake",
        description="projects g_j against g_i instead of g_i against g_j",
        expect="lose",
        replace=[
            (
                "projected = g_i - dot / ops.sum(g_j * g_j) * g_j",
                "projected = g_j - dot / ops.sum(g_i * g_i) * g_i",
            )
        ],
    ),
    dict(
        name="q2-python-if",
        question="q2",
        source="mistake",
        description="a Python if on a tensor: right eagerly, fails inside a compiled step",
        expect="lose",
        replace=[
            (
                _PROJECT_BODY,
                "    dot = ops.sum(g_i * g_j)\n"
                "    if dot < 0:\n"
                "        return g_i - dot / ops.sum(g_j * g_j) * g_j\n"
                "    return g_i\n",
            )
        ],
    ),
    # ---------------------------------------------------------------- q3: TwoTaskPCGrad
    dict(
        name="q3-subclasses-package-pcgrad",
        question="q3",
        source="issue",
        description="subclasses the package's own PCGrad, the old hidden test's reference",
        expect="lose",
        replace=[
            (
                "class TwoTaskPCGrad(mtl.rules.Rule):",
                "class TwoTaskPCGrad(mtl.rules.PCGrad):",
            ),
            (_PCGRAD_COMBINE, ""),
        ],
    ),
    dict(
        name="q3-calls-package-pcgrad",
        question="q3",
        source="mistake",
        description="combine hands the work to the package's PCGrad",
        expect="lose",
        replace=[
            (
                _PCGRAD_COMBINE,
                "    def combine(self, gradients, losses, step):\n"
                "        return mtl.rules.PCGrad().combine(gradients, losses, step)\n",
            )
        ],
    ),
    dict(
        name="q3-no-surgery",
        question="q3",
        source="mistake",
        description="the plain sum: no projection at all",
        expect="lose",
        replace=[("project(first, second) + project(second, first)", "first + second")],
    ),
    dict(
        name="q3-projects-against-projected",
        question="q3",
        source="mistake",
        description="projects the second gradient against the first one's projection",
        expect="lose",
        replace=[
            (
                "        return project(first, second) + project(second, first)\n",
                "        first = project(first, second)\n"
                "        return first + project(second, first)\n",
            )
        ],
    ),
    dict(
        name="q3-mean-of-projections",
        question="q3",
        source="mistake",
        description="the mean of the projected gradients for their sum",
        expect="lose",
        replace=[
            (
                "return project(first, second) + project(second, first)",
                "return (project(first, second) + project(second, first)) / 2",
            )
        ],
    ),
    dict(
        name="q3-no-task-gradients",
        question="q3",
        source="mistake",
        description="forgets uses_task_gradients = True, so combine is never called in training",
        expect="lose",
        replace=[("    uses_task_gradients = True\n", "")],
    ),
    # ---------------------------------------------------------------- q4: train_with_rule
    dict(
        name="q4-untrained-fabricated-history",
        question="q4",
        source="issue",
        description="an untrained model with a made-up falling history and scores of 0.0",
        expect="lose",
        replace=[
            (
                _FIT_AND_SCORE,
                "    class FakeHistory:\n"
                '        history = {"loss": [2.0 * 0.9**k for k in range(epochs)]}\n'
                "\n"
                "    return model, FakeHistory(), {task.name: 0.0 for task in data.tasks}\n",
            )
        ],
    ),
    dict(
        name="q4-scores-on-train",
        question="q4",
        source="issue",
        description="scores on the training split instead of the test split",
        expect="lose",
        replace=[
            (
                'evaluate_tasks(model, data, "test")',
                'evaluate_tasks(model, data, "train")',
            )
        ],
    ),
    dict(
        name="q4-no-conflict-data",
        question="q4",
        source="issue",
        description="data with the wrong correlation sign: tasks that do not conflict at all",
        expect="lose",
        replace=[("2000, CORRELATION,", "2000, -CORRELATION,")],
    ),
    dict(
        name="q4-scores-on-val",
        question="q4",
        source="mistake",
        description="scores on the validation split",
        expect="lose",
        replace=[
            (
                'evaluate_tasks(model, data, "test")',
                'evaluate_tasks(model, data, "val")',
            )
        ],
    ),
    dict(
        name="q4-fits-on-test",
        question="q4",
        source="mistake",
        description="trains on the test split",
        expect="lose",
        replace=[
            ("data.train.x, data.train.y, epochs", "data.test.x, data.test.y, epochs")
        ],
    ),
    dict(
        name="q4-default-step-size",
        question="q4",
        source="mistake",
        description="compiles with the default step size 1e-3",
        expect="lose",
        replace=[
            (
                "compile_for_tasks(model, data.tasks, learning_rate=1e-2)",
                "compile_for_tasks(model, data.tasks)",
            )
        ],
    ),
    dict(
        name="q4-batches-of-32",
        question="q4",
        source="mistake",
        description="batches of 32 (Keras's default) instead of 64",
        expect="lose",
        replace=[("batch_size=64", "batch_size=32")],
    ),
    dict(
        name="q4-equal-weights",
        question="q4",
        source="mistake",
        description="forgets to pass the rule: MultiTaskModel trains with equal weights",
        expect="lose",
        replace=[
            (
                "MultiTaskModel(network, data.tasks, rule)",
                "MultiTaskModel(network, data.tasks)",
            )
        ],
    ),
    dict(
        name="q4-rule-hard-coded",
        question="q4",
        source="mistake",
        description="builds its own TwoTaskPCGrad() instead of the rule it is given",
        expect="lose",
        replace=[
            (
                "MultiTaskModel(network, data.tasks, rule)",
                "MultiTaskModel(network, data.tasks, TwoTaskPCGrad())",
            )
        ],
    ),
    dict(
        name="q4-wide-bottom",
        question="q4",
        source="mistake",
        description="the builder's default bottom of 128 units instead of 16",
        expect="lose",
        replace=[
            (
                "build_shared_bottom(data.input_dim, data.tasks, 16)",
                "build_shared_bottom(data.input_dim, data.tasks)",
            )
        ],
    ),
    dict(
        name="q4-no-seed",
        question="q4",
        source="mistake",
        description="never sets the seed: runs do not repeat",
        expect="lose",
        replace=[("    mtl.set_seed(seed)\n", "")],
    ),
    dict(
        name="q4-fixed-seed",
        question="q4",
        source="mistake",
        description="sets the constant SEED, whatever seed it is given",
        expect="lose",
        replace=[("    mtl.set_seed(seed)\n", "    mtl.set_seed(SEED)\n")],
    ),
    dict(
        name="q4-ignores-epochs",
        question="q4",
        source="mistake",
        description="always trains 30 epochs, whatever epochs it is given",
        expect="lose",
        replace=[("epochs=epochs, batch_size=64", "epochs=30, batch_size=64")],
    ),
    dict(
        name="q4-standardised-units",
        question="q4",
        source="mistake",
        description="mean absolute errors in standardised units, not the targets' own",
        expect="lose",
        replace=[
            (
                '    return model, history, mtl.metrics.evaluate_tasks(model, data, "test")\n',
                "    predictions = model.predict(data.test.x, verbose=0)\n"
                "    scores = {\n"
                "        name: float(np.mean(np.abs(predictions[name] - data.test.y[name])))\n"
                "        for name in predictions\n"
                "    }\n"
                "    return model, history, scores\n",
            )
        ],
    ),
    dict(
        name="q4-old-data-seed",
        question="q4",
        source="mistake",
        description="the data seed 0 of the public variant instead of DATA_SEED",
        expect="lose",
        secret_only=True,
        replace=[("seed=DATA_SEED", "seed=0")],
    ),
    dict(
        name="q4-public-numbers",
        question="q4",
        source="mistake",
        description="copies the scores that the public variant's solution prints",
        expect="lose",
        secret_only=True,
        add_cell=(
            "model, history, scores = train_with_rule(",
            'scores = {"task_1": 0.2771676182746887, "task_2": 0.3027378022670746}',
        ),
    ),
    dict(
        name="q4-training-seed-for-data",
        question="q4",
        source="mistake",
        description="the data drawn with SEED (the training seed) instead of DATA_SEED",
        expect="lose",
        replace=[("num_sines=3, seed=DATA_SEED", "num_sines=3, seed=SEED")],
    ),
    dict(
        name="q3-projects-only-first",
        question="q3",
        source="mistake",
        description="only the first gradient is projected; the second is added as it is",
        expect="lose",
        replace=[
            (
                "return project(first, second) + project(second, first)",
                "return project(first, second) + second",
            )
        ],
    ),
]

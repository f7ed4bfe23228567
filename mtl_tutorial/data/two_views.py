"""Two synthetic views whose label lives where you choose: shared, unique to each, or in their interaction.

Taught in :doc:`/book/part2_multimodal/02_fusion`. Differences between fusion strategies are easy to claim and
hard to show on real data; here the source of the label is set by three numbers, so a strategy that cannot
combine the views at the right place visibly fails.
"""

from __future__ import annotations

import numpy as np

from mtl_tutorial.data.splits import SPLIT_NAMES, MultiTaskData, Split, stratified_split
from mtl_tutorial.tasks import Task
from mtl_tutorial.validation import check_int, check_number, check_seed, check_types

#: The one task of :func:`make_two_views`.
LABEL_TASK = Task(
    "label", "classification", num_classes=2, class_names=("negative", "positive")
)


@check_types
def make_two_views(
    n_samples: int = 4000,
    *,
    shared: float = 0.0,
    unique: float = 0.0,
    interaction: float = 1.0,
    view_dim: int = 8,
    noise_std: float = 0.1,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> MultiTaskData:
    """Two views of latent factors and a binary label made from them in a chosen way.

    Three standard normal latent factors per example: ``z_s``, seen by both views; ``z_a``, seen only by
    view a; ``z_b``, seen only by view b. Each view is its factors plus ``view_dim - 2`` standard normal
    distractors, rotated by a random orthogonal matrix of its own and blurred by Gaussian noise
    ``noise_std``: view a shows ``(z_s, z_a, distractors)``, view b ``(z_s, z_b, distractors)``. The label is

    ``label = 1[shared * z_s + unique * (z_a + z_b) / sqrt(2) + interaction * z_a * z_b > 0]``.

    So ``shared`` puts the label in what the views have in common (either view suffices), ``unique`` in
    what each has alone, added (both views needed, but each helps on its own), and ``interaction`` in the
    product of the two (an XOR of signs: each view alone says nothing about the label).

    Args:
        n_samples: Number of examples before splitting.
        shared, unique, interaction: Weights of the three sources, each >= 0, not all 0.
        view_dim: Width of each view, at least 2.
        noise_std: Standard deviation of the noise added to each view.
        seed: Seed of the factors, rotations, noise and split.
        val_fraction, test_fraction: Shares of examples for validation and testing.

    Returns:
        A :class:`~mtl_tutorial.data.MultiTaskData` with
        ``x = {"view_a": (n, view_dim), "view_b": (n, view_dim)}`` and one classification task,
        ``"label"``; the split is stratified by the label.
    """
    seed = check_seed(seed)
    n_samples = check_int(n_samples, "n_samples", 4000, low=10)
    view_dim = check_int(view_dim, "view_dim", 8, low=2)
    weights = {
        name: check_number(value, name, 1.0, low=0)
        for name, value in (
            ("shared", shared),
            ("unique", unique),
            ("interaction", interaction),
        )
    }
    if not any(weights.values()):
        raise ValueError(
            f"At least one of shared, unique, interaction must be above 0; got {weights}."
        )
    noise_std = check_number(noise_std, "noise_std", 0.1, low=0)

    rng = np.random.default_rng([seed, 3])
    z_s, z_a, z_b = rng.standard_normal((3, n_samples))
    score = weights["shared"] * z_s + weights["unique"] * (z_a + z_b) / np.sqrt(2.0)
    score = score + weights["interaction"] * z_a * z_b
    label = (score > 0).astype(np.int32)

    views = {}
    for name, own in (("view_a", z_a), ("view_b", z_b)):
        factors = np.column_stack(
            [z_s, own, rng.standard_normal((n_samples, view_dim - 2))]
        )
        # A uniformly random rotation: the Q of a Gaussian matrix's QR, signs fixed by R's diagonal.
        q, r = np.linalg.qr(rng.standard_normal((view_dim, view_dim)))
        rotation = q * np.sign(np.diag(r))
        views[name] = factors @ rotation.T + noise_std * rng.standard_normal(
            (n_samples, view_dim)
        )

    rows = stratified_split(
        n_samples,
        labels=label,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    splits = {
        part: Split(
            x={
                name: values[rows[part]].astype(np.float32)
                for name, values in views.items()
            },
            y={"label": label[rows[part]]},
        )
        for part in SPLIT_NAMES
    }
    return MultiTaskData(
        tasks=(LABEL_TASK,), feature_names=("view_a", "view_b"), **splits
    )

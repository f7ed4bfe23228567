"""Every model builder of ``mtl.models``, with valid arguments and an input: one catalogue for the tests.

``BUILDERS[builder][case]`` is ``(build, x)``: a function that builds the model (small sizes), and a batch of
inputs for it. ``tests/test_saving.py`` round-trips every case through a ``.keras`` file, and
``tests/test_models.py`` builds every case under mixed precision; ``test_models.py`` also fails when a
``build_*`` function of ``mtl.models`` has no entry here. Fusion strategies are enumerated from
``mtl.models.FUSIONS``, so a new strategy is covered with no edit here; every strategy but early fusion is
also built with auxiliary heads (an ``AuxiliaryHeadsModel``).
"""

from __future__ import annotations

import numpy as np

import mtl_tutorial as mtl

TASKS = (
    mtl.Task("kind", "classification", num_classes=3),
    mtl.Task("size", "regression", unit="cm"),
)
SHAPES = {"image": (4, 4, 1), "audio": (5,)}
_RNG = np.random.default_rng(0)
FLAT = _RNG.normal(size=(6, 5)).astype("float32")
PAIRED = {m: _RNG.normal(size=(6, *s)).astype("float32") for m, s in SHAPES.items()}
PAIRED["audio"][0] = 0.0  # one example without its audio
TARGETS = {
    "kind": _RNG.integers(0, 3, size=6),
    "size": _RNG.normal(size=(6, 1)).astype("float32"),
}


def _fusion_cases() -> dict:
    cases = {}
    for fusion in mtl.models.FUSIONS:
        for missing in (False, True):
            cases[f"{fusion}, allow_missing={missing}"] = (
                lambda f=fusion, m=missing: mtl.models.build_fusion_model(
                    SHAPES, TASKS, f, units=8, allow_missing=m
                ),
                PAIRED,
            )
        if fusion != "early":  # early fusion refuses modality dropout
            cases[f"{fusion}, modality dropout"] = (
                lambda f=fusion: mtl.models.build_fusion_model(
                    SHAPES, TASKS, f, units=8, modality_dropout=0.5, allow_missing=True
                ),
                PAIRED,
            )
        if fusion == "late":
            # Its mixture of experts (the default is the product), with and without presence masks; and
            # modality dropout without presence masks, whose keep masks the combination then reads.
            for missing in (False, True):
                cases[f"late, probabilities, allow_missing={missing}"] = (
                    lambda m=missing: mtl.models.build_fusion_model(
                        SHAPES,
                        TASKS,
                        "late",
                        units=8,
                        allow_missing=m,
                        late_combine="probabilities",
                    ),
                    PAIRED,
                )
            for combine in ("logits", "probabilities"):
                cases[f"late, {combine}, modality dropout, allow_missing=False"] = (
                    lambda c=combine: mtl.models.build_fusion_model(
                        SHAPES,
                        TASKS,
                        "late",
                        units=8,
                        modality_dropout=0.5,
                        late_combine=c,
                    ),
                    PAIRED,
                )
        if fusion != "early":  # auxiliary heads on each modality's encoder
            cases[f"{fusion}, auxiliary heads, allow_missing=True"] = (
                lambda f=fusion: mtl.models.build_fusion_model(
                    SHAPES, TASKS, f, units=8, allow_missing=True, auxiliary_heads=0.5
                ),
                PAIRED,
            )
        if fusion == "intermediate":  # per-modality weights, with modality dropout
            cases["intermediate, auxiliary heads by modality, modality dropout"] = (
                lambda: mtl.models.build_fusion_model(
                    SHAPES,
                    TASKS,
                    units=8,
                    modality_dropout=0.5,
                    auxiliary_heads={"image": 1.0, "audio": 0.0},
                ),
                PAIRED,
            )
        cases[f"{fusion}, audio only"] = (
            lambda f=fusion: mtl.models.build_fusion_model(
                {"audio": (5,)}, TASKS, f, units=8
            ),
            {"audio": PAIRED["audio"]},
        )
    return cases


BUILDERS = {
    "build_shared_trunk": {
        "": (lambda: mtl.models.build_shared_trunk(5, TASKS, (8,)), FLAT)
    },
    "build_shared_bottom": {
        "": (lambda: mtl.models.build_shared_bottom(5, TASKS, 8), FLAT)
    },
    "build_cross_stitch": {
        "": (lambda: mtl.models.build_cross_stitch(5, TASKS, (8, 4)), FLAT)
    },
    "build_mixture_of_experts": {
        "MMoE": (lambda: mtl.models.build_mixture_of_experts(5, TASKS, 3, 4), FLAT),
        "OMoE": (
            lambda: mtl.models.build_mixture_of_experts(
                5, TASKS, 3, 4, multi_gate=False
            ),
            FLAT,
        ),
    },
    "build_ple": {"": (lambda: mtl.models.build_ple(5, TASKS, 2, 2, 1, 4), FLAT)},
    "build_fusion_model": _fusion_cases(),
    "build_capstone": {
        "": (lambda: mtl.models.build_capstone(SHAPES, TASKS, units=8), PAIRED)
    },
    "build_post_model": {
        f"fuse={fuse}": (
            lambda f=fuse: mtl.models.build_post_model(
                SHAPES, TASKS[1], TASKS[0], fuse=f
            ),
            PAIRED,
        )
        for fuse in (False, True)
    },
}


def cases() -> list[tuple[str, str]]:
    """Every ``(builder, case)`` of :data:`BUILDERS`."""
    return [(builder, case) for builder, named in BUILDERS.items() for case in named]


def case_id(builder: str, case: str) -> str:
    return f"{builder}-{case}" if case else builder

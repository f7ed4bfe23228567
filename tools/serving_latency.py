"""Time the served capstone's endpoint by batch size (Part III, ch. 2: "From notebook to scale").

Run from the repository root, with nothing else busy on the machine::

    python tools/serving_latency.py                       # export an untrained capstone, then time it
    python tools/serving_latency.py --artefact PATH/1     # time an artefact of export_for_serving

Exports the capstone with :func:`mtl_tutorial.serving.export_for_serving` to a temporary folder
(untrained: the weights change no timing), loads it with ``tf.saved_model.load`` and prints
:func:`mtl_tutorial.serving.endpoint_latency`'s table as Markdown: for batch sizes 1, 8, 64 and 512, the
median milliseconds per call, after a warm-up, and per example. No test asserts these numbers: they vary
with the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mtl_tutorial as mtl  # noqa: E402
from mtl_tutorial import serving  # noqa: E402
from mtl_tutorial.data.av_digits import audio_statistics  # noqa: E402


def export_capstone(directory: Path) -> Path:
    """An untrained capstone on the book's digits (seed 0), exported for serving to ``directory``."""
    data = mtl.data.load_av_digits(seed=0)
    mtl.set_seed(0)
    model = mtl.models.build_capstone(data.input_shapes, data.tasks)
    return serving.export_for_serving(
        model.network, data, directory, audio_statistics=audio_statistics(0)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artefact", type=Path, help="a version folder to time")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.artefact or export_capstone(Path(folder) / "capstone")
        table = serving.endpoint_latency(
            path, (1, 8, 64, 512), repeats=args.repeats, warmup=args.warmup
        )
    print("| batch size | ms per call | ms per example |")
    print("|---:|---:|---:|")
    for batch, row in table.iterrows():
        print(f"| {batch} | {row['ms per call']:.3f} | {row['ms per example']:.4f} |")


if __name__ == "__main__":
    main()

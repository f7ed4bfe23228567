"""Model building blocks: one module per way of sharing between tasks, and one for fusing modalities."""

from mtl_tutorial.models.auxiliary import AuxiliaryHeadsModel, auxiliary_name
from mtl_tutorial.models.capstone import build_capstone, build_post_model
from mtl_tutorial.models.contrastive import (
    DualEncoder,
    gathered_info_nce,
    symmetric_info_nce,
)
from mtl_tutorial.models.cross_stitch import CrossStitch, build_cross_stitch
from mtl_tutorial.models.fusion import (
    CrossModalAttention,
    GatedMultimodalUnit,
    ModalityDropout,
    ModalityPresence,
    PresentAverage,
    PresentSum,
    TensorFusion,
)
from mtl_tutorial.models.moe import MixtureOfExperts, build_mixture_of_experts
from mtl_tutorial.models.multimodal import FUSIONS, build_fusion_model, modality_encoder
from mtl_tutorial.models.ple import CustomizedGateControl, build_ple
from mtl_tutorial.models.sharing import build_shared_bottom, build_shared_trunk

__all__ = [
    "FUSIONS",
    "AuxiliaryHeadsModel",
    "CrossModalAttention",
    "CrossStitch",
    "CustomizedGateControl",
    "DualEncoder",
    "GatedMultimodalUnit",
    "MixtureOfExperts",
    "ModalityDropout",
    "ModalityPresence",
    "PresentAverage",
    "PresentSum",
    "TensorFusion",
    "auxiliary_name",
    "build_capstone",
    "build_cross_stitch",
    "build_fusion_model",
    "build_mixture_of_experts",
    "build_ple",
    "build_post_model",
    "build_shared_bottom",
    "build_shared_trunk",
    "gathered_info_nce",
    "modality_encoder",
    "symmetric_info_nce",
]

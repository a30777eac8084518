"""Every standard pass, instantiated once. Order here does not matter: passes order themselves
by level and their ``after``/``before`` constraints (``ronn_core.passes.order_passes``)."""

from __future__ import annotations

from ronn_passes.activation_fusion import ActivationFusion
from ronn_passes.attention_fusion import AttentionFusion
from ronn_passes.bn_fusion import BatchNormAffineFusion
from ronn_passes.cancellation import ReshapeCancellation, TransposeCancellation
from ronn_passes.cleanup import (CommonSubexpressionElimination, DeadCodeElimination,
                                 EliminateNoOps, FreezeInitializers)
from ronn_passes.concat_into import ConcatInto
from ronn_passes.constant_folding import ConstantFolding
from ronn_passes.conv_fusion import ConvAffineFusion
from ronn_passes.gelu_fusion import GeluFusion, RonnGeluFusion
from ronn_passes.gemm_fusion import MatMulAddFusion
from ronn_passes.layernorm_fusion import LayerNormFusion, RonnLayerNormFusion, SkipLayerNormFusion
from ronn_passes.layout import LayoutTransform
from ronn_passes.matmul_bias_fusion import MatMulBiasFusion
from ronn_passes.residual_fusion import ResidualFusion
from ronn_passes.sibling_conv_merge import SiblingConvMerge
from ronn_passes.sibling_matmul_merge import SiblingMatMulMerge
from ronn_passes.util import RONN_DOMAIN

PASS_CLASSES = (
    FreezeInitializers, ConstantFolding, EliminateNoOps, CommonSubexpressionElimination,
    ConvAffineFusion, BatchNormAffineFusion, MatMulAddFusion, TransposeCancellation,
    ReshapeCancellation,
    GeluFusion, LayerNormFusion,
    RonnGeluFusion, RonnLayerNormFusion, SkipLayerNormFusion, AttentionFusion, MatMulBiasFusion,
    ResidualFusion, ActivationFusion, SiblingConvMerge, SiblingMatMulMerge, ConcatInto,
    LayoutTransform, DeadCodeElimination,
)

# Dead-code elimination runs last, whatever else is selected: fusions leave constants unused.
DeadCodeElimination.after = tuple(c.name for c in PASS_CLASSES if c is not DeadCodeElimination)

ALL_PASSES = tuple(cls() for cls in PASS_CLASSES)

__all__ = ["ALL_PASSES", "PASS_CLASSES", "RONN_DOMAIN"]

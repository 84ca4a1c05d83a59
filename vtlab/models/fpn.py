"""Semantic segmentation (Section 4.2, Table 4): Panoptic FPN's semantic branch and its VT-FPN counterpart.

Both models are ``backbone → .fpn → head``, and differ only in the neck ``.fpn``, so that its cost can be
counted alone (Table 4's "FPN MACs" are the neck's):

- backbone: a torchvision ResNet's stages 2–5, giving C2–C5 at strides 4, 8, 16, 32;
- ``.fpn``: torchvision's ``FeaturePyramidNetwork`` (the FPN of Lin et al.: a point-wise lateral conv per level,
  the top-down sum, a 3×3 conv per level, 256 channels) for the baseline, :class:`~vtlab.vt.fpn.VTFPN` for
  VT-FPN;
- head: Panoptic FPN's semantic branch (Kirillov et al.), as in Detectron2's ``SemSegFPNHead``: each level
  goes through 3×3 conv (128 channels) + GroupNorm + ReLU + 2× upsampling until it reaches stride 4, the
  levels are summed, a point-wise conv predicts the classes, and the logits are upsampled to the input.

forward(x (N, 3, H, W)) → logits (N, num_classes, H, W), for any H, W >= 64.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.ops import FeaturePyramidNetwork

from .._checks import check_image_batch, check_positive
from ..vt.block import VTConfig
from ..vt.fpn import VTFPN
from .registry import register_model
from .resnet import narrow_resnet

MIN_SIZE = 64


class ResNetFeatures(nn.Module):
    """A torchvision ResNet without its head: forward(x) → [C2, C3, C4, C5] (the outputs of layer1–layer4).
    Parameter names are torchvision's, so an ImageNet state dict (less ``fc``) loads into it."""

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int], width: int = 64,
                 small_stem: bool = False, stem_stride: int = 1):
        super().__init__()
        net = torchvision.models.ResNet(block, layers)
        if width != 64 or small_stem:
            narrow_resnet(net, block, layers, width, small_stem, stem_stride)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_channels = [width * 2**i * block.expansion for i in range(4)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            features.append(x)
        return features


class FPN(nn.Module):
    """The convolutional FPN neck (torchvision's): [C2..C5] → [P2..P5], ``out_channels`` each."""

    def __init__(self, in_channels: Sequence[int], out_channels: int = 256):
        super().__init__()
        self.out_channels = out_channels
        self.fpn = FeaturePyramidNetwork(list(in_channels), out_channels)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return list(self.fpn(OrderedDict((str(i), f) for i, f in enumerate(features))).values())


def _group_norm(channels: int) -> nn.GroupNorm:
    """Detectron2's GroupNorm with 32 groups; 8 for narrow (compact) heads."""
    return nn.GroupNorm(32 if channels % 32 == 0 and channels >= 64 else 8, channels)


class SemanticFPNHead(nn.Module):
    """Panoptic FPN's semantic branch: [P2..P5] → logits (N, num_classes, H, W) at ``out_size``.

    Level i (stride 4·2^i) passes through max(1, i) blocks of 3×3 conv + GroupNorm + ReLU, each but the last
    followed by a 2× bilinear upsampling (to the next finer level's exact size, so odd sizes line up), the
    levels are summed at stride 4, and a point-wise conv predicts the classes.
    """

    def __init__(self, in_channels: int, num_classes: int, conv_dims: int = 128, levels: int = 4):
        super().__init__()
        check_positive(num_classes=num_classes)
        self.scale_heads = nn.ModuleList()
        for i in range(levels):
            blocks = [nn.Sequential(nn.Conv2d(in_channels if k == 0 else conv_dims, conv_dims, 3, padding=1,
                                              bias=False), _group_norm(conv_dims), nn.ReLU(inplace=True))
                      for k in range(max(1, i))]
            self.scale_heads.append(nn.ModuleList(blocks))
        self.predictor = nn.Conv2d(conv_dims, num_classes, kernel_size=1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.zeros_(self.predictor.bias)

    def forward(self, features: Sequence[torch.Tensor], out_size: tuple[int, int]) -> torch.Tensor:
        summed = None
        for i, (P_i, blocks) in enumerate(zip(features, self.scale_heads, strict=True)):
            x = P_i
            for k, block in enumerate(blocks):
                x = block(x)
                if i > 0:  # up one level, to that level's exact size
                    x = F.interpolate(x, size=features[i - k - 1].shape[-2:], mode="bilinear", align_corners=False)
            summed = x if summed is None else summed + x
        return F.interpolate(self.predictor(summed), size=out_size, mode="bilinear", align_corners=False)


class SegmentationFPN(nn.Module):
    """backbone → ``.fpn`` (the neck: :class:`FPN` or :class:`~vtlab.vt.fpn.VTFPN`) → ``.head``.

    forward(x (N, 3, H, W)) → per-pixel logits (N, num_classes, H, W). :meth:`forward_features` returns the
    neck's maps [P2..P5] and, for VT-FPN with ``return_coefficients=True``, each level's token coefficients.
    """

    def __init__(self, backbone: ResNetFeatures, fpn: nn.Module, num_classes: int, head_dims: int = 128):
        super().__init__()
        self.backbone, self.fpn = backbone, fpn
        self.head = SemanticFPNHead(fpn.out_channels, num_classes, head_dims, levels=len(backbone.out_channels))

    @property
    def is_vt(self) -> bool:
        return isinstance(self.fpn, VTFPN)

    def forward_features(self, x: torch.Tensor, return_coefficients: bool = False):
        check_image_batch(x, min_size=MIN_SIZE)
        features = self.backbone(x)
        if return_coefficients:
            if not self.is_vt:
                raise ValueError("token coefficients exist only in VT-FPN models (vt_fpn_*)")
            return self.fpn(features, return_coefficients=True)
        return self.fpn(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x), out_size=x.shape[-2:])


# The VT-FPN neck per Section 4.2: L = 8 tokens of CT = 1024 channels from each level, C = 256 (the FPN's width,
# which the semantic head expects); heads and groups as VT-ResNet-34/50/101's (see docs/paper-fidelity.md).
VT_FPN_CONFIG = VTConfig(C=256, CT=1024, L=8, depth=1, heads=16, kqv_groups=8, query_groups=16, kv_groups=2,
                         dynamic=False)
BACKBONES = {"50": (Bottleneck, [3, 4, 6, 3]), "101": (Bottleneck, [3, 4, 23, 3])}
COCO_STUFF_CLASSES = 91  # the paper's 91 stuff classes; LIP has 20


def _fpn(depth: str, num_classes: int, vt: bool, **vt_options) -> SegmentationFPN:
    backbone = ResNetFeatures(*BACKBONES[depth])
    neck = VTFPN(backbone.out_channels, VT_FPN_CONFIG.replace(**vt_options)) if vt else \
        FPN(backbone.out_channels, 256)
    return SegmentationFPN(backbone, neck, num_classes)


@register_model(input_size=512, task="segment")
def fpn_resnet50(num_classes: int = COCO_STUFF_CLASSES) -> SegmentationFPN:
    """Panoptic FPN's semantic-segmentation model on ResNet-50 (Table 4's "FPN" rows)."""
    return _fpn("50", num_classes, vt=False)


@register_model(input_size=512, task="segment")
def fpn_resnet101(num_classes: int = COCO_STUFF_CLASSES) -> SegmentationFPN:
    """Panoptic FPN's semantic-segmentation model on ResNet-101."""
    return _fpn("101", num_classes, vt=False)


@register_model(input_size=512, task="segment")
def vt_fpn_resnet50(num_classes: int = COCO_STUFF_CLASSES, **vt_options) -> SegmentationFPN:
    """:func:`fpn_resnet50` with the FPN neck replaced by VT-FPN. ``vt_options`` override :class:`VTConfig`
    fields, e.g. ``transformer=False`` or ``position_encoding=False``."""
    return _fpn("50", num_classes, vt=True, **vt_options)


@register_model(input_size=512, task="segment")
def vt_fpn_resnet101(num_classes: int = COCO_STUFF_CLASSES, **vt_options) -> SegmentationFPN:
    """:func:`fpn_resnet101` with the FPN neck replaced by VT-FPN; see :func:`vt_fpn_resnet50`."""
    return _fpn("101", num_classes, vt=True, **vt_options)


# Compact variants for CPU-scale work on 64 px images: resnet_mini's backbone (width 16: 16, 32, 64, 128
# channels) with a 3×3 stride-2 stem, so that C2–C5 are at strides 2–16 (32×32 down to 4×4 at 64 px); a
# 64-channel neck and a 32-channel head. VT-FPN: C = 64, CT = 128, L = 8 per level, 4 heads.
MINI_FPN_WIDTH, MINI_NECK, MINI_HEAD = 16, 64, 32
MINI_VT_FPN = VTConfig(C=MINI_NECK, CT=128, L=8, depth=1, heads=4, kqv_groups=1, query_groups=1, kv_groups=1,
                       dynamic=False)


def _mini_backbone() -> ResNetFeatures:
    return ResNetFeatures(BasicBlock, [2, 2, 2, 2], width=MINI_FPN_WIDTH, small_stem=True, stem_stride=2)


@register_model(input_size=64, task="segment")
def fpn_resnet_mini(num_classes: int = 7) -> SegmentationFPN:
    """A compact FPN segmentation model (7 classes by default: the shapes masks)."""
    backbone = _mini_backbone()
    return SegmentationFPN(backbone, FPN(backbone.out_channels, MINI_NECK), num_classes, head_dims=MINI_HEAD)


@register_model(input_size=64, task="segment")
def vt_fpn_resnet_mini(num_classes: int = 7, **vt_options) -> SegmentationFPN:
    """:func:`fpn_resnet_mini` with its neck replaced by VT-FPN."""
    backbone = _mini_backbone()
    return SegmentationFPN(backbone, VTFPN(backbone.out_channels, MINI_VT_FPN.replace(**vt_options)), num_classes,
                           head_dims=MINI_HEAD)

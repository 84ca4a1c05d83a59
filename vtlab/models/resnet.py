"""ResNet baselines (torchvision's, as the paper uses them) and VT-ResNets (Section 4.1, Table 5).

A VT-ResNet keeps stages 1–4 of the ResNet (stem, ``layer1``–``layer3``, ending at 14×14 for a 224×224
input) and replaces stage 5 (``layer4``, which would halve the map to 7×7) with a stage of visual-transformer
blocks at 14×14. The head averages the L output tokens and applies a linear classifier ("8 avgpool-fc1000").
Stages 1–4 carry torchvision's parameter names, so a torchvision ResNet state dict loads into them.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from .._checks import check_image_batch, check_options
from ..vt.block import VisualTransformer, VTConfig
from .registry import BUILDER_OPTIONS, register_model


def narrow_resnet(net: torchvision.models.ResNet, block: type[BasicBlock | Bottleneck], layers: list[int],
                  width: int, small_stem: bool, stem_stride: int = 1) -> None:
    """Rebuild a torchvision ResNet in place with stage widths width·(1, 2, 4, 8) (torchvision's own blocks) and,
    for small images, a 3×3 stem of stride ``stem_stride`` without max-pool; re-initialised as torchvision
    initialises."""
    net.inplanes = width
    net.conv1 = (nn.Conv2d(3, width, 3, stride=stem_stride, padding=1, bias=False) if small_stem
                 else nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False))
    net.bn1 = nn.BatchNorm2d(width)
    if small_stem:
        net.maxpool = nn.Identity()
    for i, blocks in enumerate(layers):
        setattr(net, f"layer{i + 1}", net._make_layer(block, width * 2**i, blocks, stride=1 if i == 0 else 2))
    net.fc = nn.Linear(8 * width * block.expansion, net.fc.out_features)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


class ResNet(torchvision.models.ResNet):
    """torchvision's ResNet, with the input checked (N, 3, H >= 32, W >= 32), optional dropout before the
    classifier, and optionally narrower (``width``) with a small-image stem (``small_stem``)."""

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int], num_classes: int = 1000,
                 dropout: float = 0.0, width: int = 64, small_stem: bool = False):
        check_options({"num_classes": num_classes, "dropout": dropout}, BUILDER_OPTIONS)
        super().__init__(block, layers, num_classes=num_classes)
        if width != 64 or small_stem:
            narrow_resnet(self, block, layers, width, small_stem)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


class VTResNet(nn.Module):
    """ResNet stages 1–4, a visual-transformer stage 5, and a classifier over the output tokens.

    forward(x (N, 3, H, W)) → logits (N, num_classes). :meth:`forward_features` returns the stage-5 feature
    map X (N, C, H/16, W/16) (the one the last block tokenized: it has no projector, since nothing reads its
    output map) and tokens T (N, L, CT), and with ``return_coefficients=True`` each block's token
    coefficients A.
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int], vt: VTConfig,
                 num_classes: int = 1000, dropout: float = 0.0, width: int = 64, small_stem: bool = False):
        check_options({"num_classes": num_classes, "dropout": dropout}, BUILDER_OPTIONS)
        if not isinstance(vt, VTConfig):
            raise ValueError(f"expected the VT stage's settings as a VTConfig, got {type(vt).__name__}")
        super().__init__()
        resnet = torchvision.models.ResNet(block, [*layers, 1])
        if width != 64 or small_stem:
            narrow_resnet(resnet, block, [*layers, 1], width, small_stem)
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.layer1, self.layer2, self.layer3 = resnet.layer1, resnet.layer2, resnet.layer3
        # The head reads the tokens only, so the last block needs no projector (Figure 1's last X_out is unused).
        self.vt = VisualTransformer(4 * width * block.expansion, vt, project_last=False)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(vt.CT, num_classes)

    BACKBONE = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.")

    def load_backbone_state_dict(self, state_dict: dict[str, torch.Tensor]) -> list[str]:
        """Load stages 1–4 from a torchvision ResNet state dict of the same depth (its ``layer4`` and ``fc``
        are ignored). Returns the names loaded; raises ``ValueError`` if a backbone weight is missing."""
        own = {k for k in self.state_dict() if k.startswith(self.BACKBONE)}
        missing = sorted(own - set(state_dict))
        if missing:
            raise ValueError(f"expected a torchvision ResNet state dict with stages 1-4; missing {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''}")
        self.load_state_dict({k: state_dict[k] for k in own}, strict=False)
        return sorted(own)

    def forward_features(self, x: torch.Tensor, return_coefficients: bool = False) -> tuple:
        check_image_batch(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.vt(x, return_coefficients=return_coefficients)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, T = self.forward_features(x)
        return self.fc(self.dropout(T.mean(dim=1)))


# Stage 5 per model (Table 5): L = 8, CT = 1024, C = 512 for VT-R-18/34 and 1024 for VT-R-50/101. Heads and
# groups are not given per model by the paper; the values below follow from its own numbers (Table 3's
# parameter deltas, Tables 1 and 2): see docs/paper-fidelity.md.
VT_CONFIGS: dict[str, VTConfig] = {
    "vt_resnet18": VTConfig(C=512, depth=2, kqv_groups=1, query_groups=1, kv_groups=2),
    "vt_resnet34": VTConfig(C=512, depth=3, kqv_groups=8, query_groups=16, kv_groups=2),
    "vt_resnet50": VTConfig(C=1024, depth=3, kqv_groups=8, query_groups=16, kv_groups=2),
    "vt_resnet101": VTConfig(C=1024, depth=3, kqv_groups=8, query_groups=16, kv_groups=2),
}

_LAYERS = {"18": (BasicBlock, [2, 2, 2, 2]), "34": (BasicBlock, [3, 4, 6, 3]),
           "50": (Bottleneck, [3, 4, 6, 3]), "101": (Bottleneck, [3, 4, 23, 3])}


def _resnet(resnet_depth: str, num_classes: int, dropout: float) -> ResNet:
    block, layers = _LAYERS[resnet_depth]
    return ResNet(block, layers, num_classes=num_classes, dropout=dropout)


def _vt_resnet(resnet_depth: str, num_classes: int, dropout: float, **vt_options) -> VTResNet:
    block, layers = _LAYERS[resnet_depth]
    config = VT_CONFIGS[f"vt_resnet{resnet_depth}"].replace(**vt_options)
    return VTResNet(block, layers[:3], config, num_classes=num_classes, dropout=dropout)


@register_model
def resnet18(num_classes: int = 1000, dropout: float = 0.0) -> ResNet:
    return _resnet("18", num_classes, dropout)


@register_model
def resnet34(num_classes: int = 1000, dropout: float = 0.0) -> ResNet:
    return _resnet("34", num_classes, dropout)


@register_model
def resnet50(num_classes: int = 1000, dropout: float = 0.0) -> ResNet:
    return _resnet("50", num_classes, dropout)


@register_model
def resnet101(num_classes: int = 1000, dropout: float = 0.0) -> ResNet:
    return _resnet("101", num_classes, dropout)


@register_model
def vt_resnet18(num_classes: int = 1000, dropout: float = 0.0, **vt_options) -> VTResNet:
    """VT-ResNet-18. ``vt_options`` override :class:`VTConfig` fields, e.g. the Table 3 ablations
    ``transformer=False``, ``position_encoding=False``, ``dynamic=False``."""
    return _vt_resnet("18", num_classes, dropout, **vt_options)


@register_model
def vt_resnet34(num_classes: int = 1000, dropout: float = 0.0, **vt_options) -> VTResNet:
    """VT-ResNet-34; see :func:`vt_resnet18` for ``vt_options``."""
    return _vt_resnet("34", num_classes, dropout, **vt_options)


@register_model
def vt_resnet50(num_classes: int = 1000, dropout: float = 0.0, **vt_options) -> VTResNet:
    """VT-ResNet-50; see :func:`vt_resnet18` for ``vt_options``."""
    return _vt_resnet("50", num_classes, dropout, **vt_options)


@register_model
def vt_resnet101(num_classes: int = 1000, dropout: float = 0.0, **vt_options) -> VTResNet:
    """VT-ResNet-101; see :func:`vt_resnet18` for ``vt_options``."""
    return _vt_resnet("101", num_classes, dropout, **vt_options)


# Compact variants for CPU-scale work on 32–64 px images: ResNet-18's layout at a quarter of its width
# (16, 32, 64, 128 channels) with a 3×3 stride-1 stem and no max-pool, and the VT counterpart with the same
# stages 1–4 and a stage 5 scaled the same way (C = 128 = ResNet-18's 512 / 4, CT = 2C, L = 8, 4 heads).
MINI_WIDTH = 16
MINI_VT = VTConfig(C=128, CT=256, L=8, depth=2, heads=4, kqv_groups=1, query_groups=1, kv_groups=2)


@register_model(input_size=64)
def resnet_mini(num_classes: int = 1000, dropout: float = 0.0) -> ResNet:
    """ResNet-18's layout at width 16 with a small-image stem."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, dropout=dropout, width=MINI_WIDTH,
                  small_stem=True)


@register_model(input_size=64)
def vt_resnet_mini(num_classes: int = 1000, dropout: float = 0.0, **vt_options) -> VTResNet:
    """:func:`resnet_mini` with stage 5 replaced by two VT blocks; see :func:`vt_resnet18` for ``vt_options``."""
    return VTResNet(BasicBlock, [2, 2, 2], MINI_VT.replace(**vt_options), num_classes=num_classes, dropout=dropout,
                    width=MINI_WIDTH, small_stem=True)

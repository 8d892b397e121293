"""Small building blocks shared by the idsight networks (conv-BN-act, depthwise-separable, residual)."""

from __future__ import annotations

from torch import Tensor, nn


def conv_bn(
    cin: int, cout: int, k: int = 3, stride: int | tuple[int, int] = 1, *, groups: int = 1, act: bool = True
) -> nn.Sequential:
    """``k x k`` convolution (same padding), BatchNorm and optionally ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DWSep(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 (MobileNet-v1 block), each with BN + ReLU; residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int | tuple[int, int] = 1) -> None:
        super().__init__()
        self.dw = conv_bn(cin, cin, 3, stride, groups=cin)
        self.pw = conv_bn(cin, cout, 1)
        self.residual = cin == cout and stride in (1, (1, 1))

    def forward(self, x: Tensor) -> Tensor:
        y = self.pw(self.dw(x))
        return x + y if self.residual else y


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 conv-BN) with a 1x1 projection shortcut when channels change."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3)
        self.conv2 = conv_bn(cout, cout, 3, act=False)
        self.short = nn.Identity() if cin == cout else conv_bn(cin, cout, 1, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.short(x))

"""A small, plain UNet for 2-D slices or 3-D patches (the demo model's architecture).

Nothing clever: ``depth`` levels of two conv-norm-ReLU blocks with max-pool
down and transposed-conv up, skip connections by concatenation, and a 1x1
conv that returns raw logits (no sigmoid or softmax: the model card says how
each head is activated). It scripts with :func:`torch.jit.script` and gives
the same result in training and eval mode when ``norm="group"``.

Input sizes must be divisible by ``2 ** depth`` along every spatial axis.
:func:`napari_segreview.inference.predict.predict` always feeds the model tiles of
the card's ``input.tile`` size (it pads smaller slices up to the tile and crops
the logits back), so a card whose tile is a multiple of ``2 ** depth`` (the
demo card's ``[256, 256]``) is all a UNet needs; without a tile, whole slices
go in as they are and must have such sizes themselves.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["UNet"]

_NORMS = ("group", "batch")


def _conv(spatial_dims: int, cin: int, cout: int, kernel: int, bias: bool = False) -> nn.Module:
    cls = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
    return cls(cin, cout, kernel, padding=kernel // 2, bias=bias)


def _norm(spatial_dims: int, channels: int, norm: str) -> nn.Module:
    if norm == "group":  # up to 8 groups of at least 4 channels each
        return nn.GroupNorm(math.gcd(8, max(1, channels // 4)), channels)
    return nn.BatchNorm2d(channels) if spatial_dims == 2 else nn.BatchNorm3d(channels)


class _Block(nn.Sequential):
    """Two conv-norm-ReLU layers."""

    def __init__(self, spatial_dims: int, cin: int, cout: int, norm: str) -> None:
        super().__init__(
            _conv(spatial_dims, cin, cout, 3), _norm(spatial_dims, cout, norm),
            nn.ReLU(inplace=True),
            _conv(spatial_dims, cout, cout, 3), _norm(spatial_dims, cout, norm),
            nn.ReLU(inplace=True),
        )


class _Up(nn.Module):
    """Upsample by 2, concatenate the skip connection, then a block."""

    def __init__(self, spatial_dims: int, cin: int, cout: int, norm: str) -> None:
        super().__init__()
        cls = nn.ConvTranspose2d if spatial_dims == 2 else nn.ConvTranspose3d
        self.up = cls(cin, cout, kernel_size=2, stride=2)
        self.block = _Block(spatial_dims, 2 * cout, cout, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([self.up(x), skip], dim=1))


class UNet(nn.Module):
    """A plain UNet returning logits, shaped ``(N, out_channels, *spatial)``.

    Parameters
    ----------
    in_channels : int
        Input channels (1 for CT).
    out_channels : int
        Output channels: the sum of the model card's head channels.
    spatial_dims : {2, 3}
        2 for slices ``(N, C, Y, X)``, 3 for patches ``(N, C, Z, Y, X)``.
    base : int
        Feature channels at full resolution; level ``i`` has ``base * 2**i``.
    depth : int
        Number of 2x downsamplings. Every spatial size of the input must be
        divisible by ``2 ** depth`` (the prediction engine pads to the card's tile).
    norm : {"group", "batch"}
        GroupNorm (same output in training and eval mode, default) or
        BatchNorm (running statistics in eval mode).

    Raises
    ------
    ValueError
        On invalid arguments, and from ``forward`` when a spatial size is not
        divisible by ``2 ** depth``.

    Examples
    --------
    >>> import torch
    >>> net = UNet(1, 5, base=8, depth=3).eval()
    >>> net(torch.zeros(2, 1, 64, 48)).shape
    torch.Size([2, 5, 64, 48])
    >>> import warnings
    >>> with warnings.catch_warnings():   # torch >= 2.10 marks torch.jit as deprecated
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     scripted = torch.jit.script(net)
    >>> scripted(torch.zeros(1, 1, 32, 40)).shape
    torch.Size([1, 5, 32, 40])
    >>> UNet(1, 2, spatial_dims=3, base=4, depth=2)(torch.zeros(1, 1, 8, 16, 12)).shape
    torch.Size([1, 2, 8, 16, 12])
    >>> net(torch.zeros(1, 1, 60, 64))
    Traceback (most recent call last):
    ...
    ValueError: UNet input size 60 is not divisible by 8 (2 ** depth); pad it to a multiple.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        spatial_dims: int = 2,
        base: int = 16,
        depth: int = 3,
        norm: str = "group",
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        if min(in_channels, out_channels, base) < 1 or depth < 1:
            raise ValueError("in_channels, out_channels, base and depth must all be >= 1.")
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {', '.join(_NORMS)}, got {norm!r}.")
        self.spatial_dims = spatial_dims
        self.depth = depth
        self.multiple = 2**depth
        widths = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_Block(spatial_dims, in_channels, widths[0], norm)])
        for i in range(1, depth + 1):
            self.down.append(_Block(spatial_dims, widths[i - 1], widths[i], norm))
        self.up = nn.ModuleList(
            [_Up(spatial_dims, widths[i], widths[i - 1], norm) for i in range(depth, 0, -1)]
        )
        self.pool = nn.MaxPool2d(2) if spatial_dims == 2 else nn.MaxPool3d(2)
        self.head = _conv(spatial_dims, widths[0], out_channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits for ``x`` shaped ``(N, in_channels, *spatial)``."""
        for size in x.shape[2:]:
            if size % self.multiple != 0:
                raise ValueError(
                    "UNet input size " + str(size) + " is not divisible by "
                    + str(self.multiple) + " (2 ** depth); pad it to a multiple."
                )
        skips: list[torch.Tensor] = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        for i, up in enumerate(self.up):
            x = up(x, skips[self.depth - 1 - i])
        return self.head(x)

"""Image augmentation for classification (albumentations), with bounded colour changes.

Colour changes are bounded because colour can be the label's evidence (a product photo's colour
must not drift into another class's look):

* ``channel_swap``: the fraction of images, at most, whose RGB channels are permuted;
* ``channel_shift``: the limit, in 0-255 levels, of the shift added to each channel.

The geometric and photometric ones are the usual: horizontal flip, rotation, random resized crop
(scale and aspect), translation and scale (affine), Gaussian noise, brightness and contrast,
sharpening. Every option is a config key (:class:`AugmentConfig`); ``0`` turns one off.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class AugmentConfig(BaseModel):
    """What :func:`build_augment` composes. Probabilities are per image."""

    model_config = ConfigDict(extra="forbid")

    channel_swap: float = Field(
        default=0.1, ge=0, le=1, description="fraction of images with channels permuted"
    )
    channel_shift: int = Field(default=20, ge=0, le=255, description="per-channel shift limit (0-255 levels)")
    hflip: float = Field(default=0.5, ge=0, le=1)
    rotate: float = Field(default=10.0, ge=0, le=180, description="degrees")
    crop_scale: float = Field(default=0.85, gt=0, le=1, description="smallest area kept by the random crop")
    translate: float = Field(default=0.05, ge=0, le=0.5, description="fraction of the side")
    scale: float = Field(default=0.1, ge=0, lt=1, description="zoom in or out by up to this fraction")
    noise: float = Field(default=0.2, ge=0, le=1, description="probability of Gaussian noise")
    brightness_contrast: float = Field(default=0.2, ge=0, le=1, description="limit of both")
    sharpen: float = Field(default=0.1, ge=0, le=1, description="probability")


def colour_transforms(cfg: AugmentConfig) -> list[Any]:
    """The bounded colour part alone (applied last, so no other transform can widen its bounds)."""
    out: list[Any] = []
    if cfg.channel_swap > 0:
        out.append(A.ChannelShuffle(p=cfg.channel_swap))
    if cfg.channel_shift > 0:
        # albumentations reads limits within [-1, 1] as fractions of 255 even on uint8 images (and
        # larger ones as levels), so give them always as fractions: +-20 levels is +-20/255
        lim = (-cfg.channel_shift / 255, cfg.channel_shift / 255)
        out.append(A.RGBShift(r_shift_limit=lim, g_shift_limit=lim, b_shift_limit=lim, p=1.0))
    return out


def build_augment(size: int, cfg: AugmentConfig | dict[str, Any] | None = None) -> A.Compose:
    """The training-time pipeline for ``size`` x ``size`` images (uint8 RGB in, uint8 RGB out)."""
    c = cfg if isinstance(cfg, AugmentConfig) else AugmentConfig(**(cfg or {}))
    steps: list[Any] = []
    if c.crop_scale < 1:
        steps.append(A.RandomResizedCrop(size=(size, size), scale=(c.crop_scale, 1.0), p=1.0))
    if c.hflip > 0:
        steps.append(A.HorizontalFlip(p=c.hflip))
    if c.rotate > 0 or c.translate > 0 or c.scale > 0:
        steps.append(
            A.Affine(
                rotate=(-c.rotate, c.rotate),
                translate_percent=(-c.translate, c.translate),
                scale=(1 - c.scale, 1 + c.scale),
                border_mode=cv2.BORDER_REPLICATE,
                p=0.7,
            )
        )
    if c.brightness_contrast > 0:
        lim = (-c.brightness_contrast, c.brightness_contrast)
        steps.append(A.RandomBrightnessContrast(brightness_limit=lim, contrast_limit=lim, p=0.5))
    if c.sharpen > 0:
        steps.append(A.Sharpen(p=c.sharpen))
    if c.noise > 0:
        steps.append(A.GaussNoise(std_range=(0.01, 0.04), p=c.noise))
    return A.Compose([*steps, *colour_transforms(c)])


def augment_image(pipeline: A.Compose, image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(pipeline(image=image)["image"])

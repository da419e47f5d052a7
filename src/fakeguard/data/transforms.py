"""albumentations 2.x pipelines: IsotropicResize and the fixed evaluation pipeline.

Every Compose is built with `strict=True`: albumentations 2.0.8 otherwise ignores unknown
arguments silently (a typo would quietly turn an augmentation off).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import albumentations as A
import cv2
import numpy as np
from albumentations.augmentations.geometric import functional as fgeometric
from albumentations.core.transforms_interface import BaseTransformInitSchema
from pydantic import Field

Interpolation = Literal[
    cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA, cv2.INTER_LANCZOS4
]


class IsotropicResize(A.DualTransform):
    """Resize so the longer side is `max_side`, keeping the aspect ratio (DFDC winner's resize).

    Downscaling and upscaling use separate interpolations (INTER_AREA down avoids aliasing,
    INTER_CUBIC up keeps edges); masks use nearest neighbour; keypoints are scaled with the image.
    """

    class InitSchema(BaseTransformInitSchema):
        max_side: int = Field(ge=1)
        interpolation_down: Interpolation
        interpolation_up: Interpolation

    def __init__(
        self,
        max_side: int,
        interpolation_down: Interpolation = cv2.INTER_AREA,
        interpolation_up: Interpolation = cv2.INTER_CUBIC,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.max_side = max_side
        self.interpolation_down = interpolation_down
        self.interpolation_up = interpolation_up

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        height, width = params["shape"][:2]
        scale = self.max_side / max(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        return {"size": size, "scale_x": size[1] / width, "scale_y": size[0] / height}

    def apply(self, img: np.ndarray, size: tuple[int, int], **params: Any) -> np.ndarray:
        if img.shape[:2] == size:
            return img
        up = size[0] > img.shape[0] or size[1] > img.shape[1]
        interpolation = self.interpolation_up if up else self.interpolation_down
        return fgeometric.resize(img, size, interpolation=interpolation)

    def apply_to_mask(self, mask: np.ndarray, size: tuple[int, int], **params: Any) -> np.ndarray:
        return fgeometric.resize(mask, size, interpolation=cv2.INTER_NEAREST)

    def apply_to_keypoints(
        self, keypoints: np.ndarray, scale_x: float, scale_y: float, **params: Any
    ) -> np.ndarray:
        return fgeometric.keypoints_scale(keypoints, scale_x, scale_y)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("max_side", "interpolation_down", "interpolation_up")


def compose(transforms: Sequence[A.BasicTransform]) -> A.Compose:
    """A strict Compose that carries the 5 face landmarks along as keypoints."""
    return A.Compose(
        list(transforms),
        keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
        strict=True,
    )


def resize_and_pad(image_size: int) -> list[A.BasicTransform]:
    """The model-input step shared by every pipeline: isotropic resize, then constant padding."""
    return [
        IsotropicResize(image_size, cv2.INTER_AREA, cv2.INTER_CUBIC),
        A.PadIfNeeded(image_size, image_size, border_mode=cv2.BORDER_CONSTANT, fill=0),
    ]


def eval_pipeline(image_size: int) -> A.Compose:
    """Validation and test preprocessing for every dataset; no randomness."""
    return compose(resize_and_pad(image_size))


def train_pipeline(image_size: int, augmentations: Sequence[A.BasicTransform] = ()) -> A.Compose:
    """`augmentations` in the order given, then resize and pad to the model input."""
    return compose([*augmentations, *resize_and_pad(image_size)])

"""Self-blending: turn one real face into a fake by pasting a perturbed copy of itself.

The idea comes from Self-Blended Images (Shiohara & Yamasaki, CVPR 2022). A copy of the face
(the "source") gets a slight colour, scale, position and sharpness change and is blended back
onto the original (the "target") through a soft mask over the inner face. The result carries
the generic traces of face swapping (a blending boundary, colour and sharpness mismatch,
slight misalignment) without any identity change, so a detector trained on it learns those
traces rather than the quirks of one forgery method.

`SelfBlend` follows the albumentations split: `get_params` draws every random choice,
`apply` is deterministic given them. Parameters are stored relative to the image and face
size, so one draw can be replayed on a resized copy of the same face.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# Anchor angles of the random radial deformation of the mask outline.
_DEFORM_ANCHORS = 8
# Points the mask outline is resampled to before deforming, so deformation bends it smoothly.
_OUTLINE_POINTS = 64
# A small disc (in inter-eye distances) added around the landmark centroid so the mask never
# degenerates to a line or a point when landmarks are collinear or clipped together.
_MIN_MASK_RADIUS = 0.3


class SelfBlend:
    """Blend a colour/geometry-jittered copy of a face onto itself through a soft face mask.

    Args:
        color_shift: strength of the colour jitter of the source copy, as a fraction of the
            full range: per-channel RGB offsets of ±color_shift·255 (at least a quarter of that,
            so the source always differs), hue ±color_shift·60°, saturation ±color_shift,
            brightness ±color_shift·255 and contrast ×(1 ± color_shift).
        scale_range: (min, max) zoom of the source copy about the landmark centroid.
        translate: maximum shift of the source copy, as a fraction of the image width/height.
        sharpness_prob: probability that the source copy is blurred or sharpened (50/50).
        blend_ratios: opacities to choose from uniformly; repeats weight a value.
        mask_expand_range: (min, max) factor by which the landmark hull grows about its
            centroid. Five landmarks only span eyes to mouth; about 2 reaches forehead and chin.
        mask_blur_range: (min, max) Gaussian sigma of the mask edge, in inter-eye distances.
        mask_deform: maximum relative radial bend of the mask outline.
    """

    def __init__(
        self,
        color_shift: float = 0.08,
        scale_range: tuple[float, float] = (0.95, 1.05),
        translate: float = 0.03,
        sharpness_prob: float = 0.5,
        blend_ratios: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0),
        mask_expand_range: tuple[float, float] = (1.6, 2.2),
        mask_blur_range: tuple[float, float] = (0.08, 0.25),
        mask_deform: float = 0.15,
    ) -> None:
        _check_fraction("color_shift", color_shift)
        _check_range("scale_range", scale_range, low=0.0, strict=True)
        _check_fraction("translate", translate, high=0.5)
        _check_fraction("sharpness_prob", sharpness_prob)
        _check_range("mask_expand_range", mask_expand_range, low=0.0, strict=True)
        _check_range("mask_blur_range", mask_blur_range, low=0.0, strict=False)
        _check_fraction("mask_deform", mask_deform, high=0.9)
        ratios = tuple(float(r) for r in blend_ratios)
        if not ratios or not all(0.0 < r <= 1.0 for r in ratios):
            raise ValueError(f"blend_ratios must be a non-empty list in (0, 1], got {ratios!r}")
        self.color_shift = float(color_shift)
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.translate = float(translate)
        self.sharpness_prob = float(sharpness_prob)
        self.blend_ratios = ratios
        self.mask_expand_range = (float(mask_expand_range[0]), float(mask_expand_range[1]))
        self.mask_blur_range = (float(mask_blur_range[0]), float(mask_blur_range[1]))
        self.mask_deform = float(mask_deform)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"

    def __call__(
        self, image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Blend with freshly drawn parameters; returns (uint8 image, float32 HxW mask)."""
        return self.apply(image, landmarks, **self.get_params(rng, image, landmarks))

    def get_params(
        self, rng: np.random.Generator, image: np.ndarray, landmarks: np.ndarray
    ) -> dict:
        """Draw every random choice of one blend.

        `image` and `landmarks` are accepted for the albumentations-style signature; the
        values drawn are relative (to image and face size), so they do not depend on them.
        """
        c = self.color_shift
        rgb_sign = rng.choice([-1.0, 1.0], size=3)
        # Always draw both numbers so the stream of draws has a fixed length.
        use_sharpness, pick_blur = rng.random(), rng.random()
        sharpness = "none"
        if use_sharpness < self.sharpness_prob:
            sharpness = "blur" if pick_blur < 0.5 else "sharpen"
        return {
            "rgb_shift": rgb_sign * rng.uniform(0.25 * c, c, size=3) * 255.0,
            # Hue is scaled down: a large hue turn makes skin implausibly green or purple.
            "hue_shift": float(rng.uniform(-c, c) * 60.0),
            "sat_shift": float(rng.uniform(-c, c)),
            "brightness": float(rng.uniform(-c, c) * 255.0),
            "contrast": float(1.0 + rng.uniform(-c, c)),
            "sharpness": sharpness,
            # Blur sigma in pixels for a 128 px crop (scaled with image size); unsharp amount.
            "sharp_sigma": float(rng.uniform(0.6, 1.4)),
            "sharp_amount": float(rng.uniform(0.5, 1.5)),
            "scale": float(rng.uniform(*self.scale_range)),
            "shift": rng.uniform(-self.translate, self.translate, size=2),
            "ratio": float(rng.choice(self.blend_ratios)),
            "expand": float(rng.uniform(*self.mask_expand_range)),
            "deform": 1.0 + rng.uniform(-self.mask_deform, self.mask_deform, _DEFORM_ANCHORS),
            "deform_phase": float(rng.uniform(0.0, 2.0 * np.pi)),
            "mask_sigma": float(rng.uniform(*self.mask_blur_range)),
        }

    def apply(
        self, image: np.ndarray, landmarks: np.ndarray, **params
    ) -> tuple[np.ndarray, np.ndarray]:
        """Blend deterministically with `params` from `get_params`.

        Returns the blended uint8 image (same shape as `image`) and the float32 HxW mask in
        [0, 1] that was used (before scaling by the blend ratio). Pixels where the mask is 0
        are returned unchanged.
        """
        image = _check_image(image)
        points = _clip_landmarks(landmarks, image.shape)
        source = _jitter_colour(image, params)
        source = _change_sharpness(source, params)
        source = _move(source, points, params)
        mask = _face_mask(image.shape[:2], points, params)
        alpha = (mask * params["ratio"])[..., None]
        target = image.astype(np.float32)
        blended = source * alpha + target * (1.0 - alpha)
        out = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        return out, mask


def _face_mask(shape: tuple[int, int], points: np.ndarray, params: dict) -> np.ndarray:
    """Soft inner-face mask: the grown, bent landmark hull, blurred at its edge.

    The blur kernel scales with the inter-eye distance so the softness of the edge is the
    same relative to the face at every resolution. The kernel is finite, so the mask is
    exactly 0 beyond the grown hull plus three sigmas.
    """
    height, width = shape
    eye_dist = _eye_distance(points, shape)
    outline = _mask_outline(points, eye_dist, params)
    canvas = np.zeros((height, width), np.float32)
    # Fixed-point coordinates (4 fractional bits) keep the polygon sub-pixel accurate.
    fixed = np.rint(outline * 16.0).astype(np.int32)
    cv2.fillPoly(canvas, [fixed], 1.0, lineType=cv2.LINE_8, shift=4)
    sigma = max(params["mask_sigma"] * eye_dist, 0.5)
    ksize = 2 * int(np.ceil(3.0 * sigma)) + 1
    mask = cv2.GaussianBlur(canvas, (ksize, ksize), sigma, borderType=cv2.BORDER_REPLICATE)
    return np.clip(mask, 0.0, 1.0)


def _mask_outline(points: np.ndarray, eye_dist: float, params: dict) -> np.ndarray:
    """Outline of the mask: hull of the landmarks, resampled, grown and randomly bent."""
    centre = points.mean(axis=0)
    angles = np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False)
    disc = centre + _MIN_MASK_RADIUS * eye_dist * np.stack([np.cos(angles), np.sin(angles)], 1)
    hull = cv2.convexHull(np.vstack([points, disc]).astype(np.float32))[:, 0, :]
    outline = _resample_closed(hull.astype(np.float64), _OUTLINE_POINTS)
    offsets = outline - centre
    # Bend: a radial factor that varies smoothly (piecewise-linearly) with the angle.
    theta = np.arctan2(offsets[:, 1], offsets[:, 0]) + params["deform_phase"]
    anchors = np.linspace(0.0, 2.0 * np.pi, len(params["deform"]), endpoint=False)
    bend = np.interp(theta, anchors, params["deform"], period=2.0 * np.pi)
    return centre + offsets * (params["expand"] * bend)[:, None]


def _resample_closed(polygon: np.ndarray, count: int) -> np.ndarray:
    """`count` points spaced evenly along the perimeter of a closed polygon."""
    closed = np.vstack([polygon, polygon[:1]])
    lengths = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    t = np.linspace(0.0, along[-1], count, endpoint=False)
    return np.stack([np.interp(t, along, closed[:, 0]), np.interp(t, along, closed[:, 1])], 1)


def _jitter_colour(image: np.ndarray, params: dict) -> np.ndarray:
    """Hue/saturation, RGB-offset and brightness/contrast change of the source (float32 0..255)."""
    hsv = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + params["hue_shift"], 360.0)
    hsv[..., 1] = np.clip(hsv[..., 1] + params["sat_shift"], 0.0, 1.0)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
    rgb += np.asarray(params["rgb_shift"], np.float32)
    # Contrast about the mean, so brightness and contrast stay independent.
    mean = rgb.mean(axis=(0, 1), keepdims=True)
    rgb = (rgb - mean) * params["contrast"] + mean + params["brightness"]
    return np.clip(rgb, 0.0, 255.0).astype(np.float32)


def _change_sharpness(source: np.ndarray, params: dict) -> np.ndarray:
    """Blur or unsharp-mask the source so its detail level differs from the target's."""
    if params["sharpness"] == "none":
        return source
    sigma = params["sharp_sigma"] * min(source.shape[:2]) / 128.0
    blurred = cv2.GaussianBlur(source, (0, 0), max(sigma, 0.3))
    if params["sharpness"] == "blur":
        return blurred
    sharpened = source + params["sharp_amount"] * (source - blurred)
    return np.clip(sharpened, 0.0, 255.0)


def _move(source: np.ndarray, points: np.ndarray, params: dict) -> np.ndarray:
    """Scale the source about the face centre and shift it, misaligning it slightly."""
    height, width = source.shape[:2]
    cx, cy = points.mean(axis=0)
    matrix = cv2.getRotationMatrix2D((float(cx), float(cy)), 0.0, params["scale"])
    matrix[:, 2] += np.asarray(params["shift"], np.float64) * (width, height)
    return cv2.warpAffine(
        source,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )


def _eye_distance(points: np.ndarray, shape: tuple[int, ...]) -> float:
    """Inter-eye distance, floored so clipped or collapsed landmarks still give a usable size."""
    return max(float(np.linalg.norm(points[1] - points[0])), 0.1 * min(shape[:2]), 2.0)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 HxWx3 RGB, got {image.dtype} {image.shape}")
    return image


def _clip_landmarks(landmarks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    points = np.asarray(landmarks, np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"landmarks must have shape (5, 2), got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError("landmarks must be finite")
    height, width = shape[:2]
    return np.clip(points, 0.0, [width - 1.0, height - 1.0])


def _check_fraction(name: str, value: float, high: float = 1.0) -> None:
    if not 0.0 <= value <= high:
        raise ValueError(f"{name} must be in [0, {high}], got {value!r}")


def _check_range(name: str, value: tuple[float, float], low: float, strict: bool) -> None:
    if np.shape(value) != (2,) or not value[0] <= value[1]:
        raise ValueError(f"{name} must be a (min, max) pair with min <= max, got {value!r}")
    if value[0] < low or (strict and value[0] == low):
        bound = f"> {low}" if strict else f">= {low}"
        raise ValueError(f"{name} values must be {bound}, got {value!r}")


class SelfBlendedFakes:
    """With probability `p`, a real training crop becomes a pseudo-fake (label 1): a
    `SelfBlend` of itself through a mask built from its landmarks (SBI, Shiohara & Yamasaki
    2022). Crops that are fake already or have no landmarks pass through unchanged."""

    def __init__(self, p: float = 0.5, blend: SelfBlend | None = None) -> None:
        _check_fraction("p", p)
        self.p = float(p)
        self.blend = blend or SelfBlend()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p}, blend={self.blend!r})"

    def __call__(
        self, image: np.ndarray, landmarks: np.ndarray | None, label: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, int]:
        """(image, label) after the coin flip; the flip is drawn for every crop, so the stream
        of random numbers does not depend on the labels."""
        flip = rng.random() < self.p
        usable = (
            landmarks is not None and landmarks.shape == (5, 2) and np.isfinite(landmarks).all()
        )
        if label != 0 or not flip or not usable:
            return image, label
        blended, _ = self.blend(image, landmarks, rng)
        return blended, 1

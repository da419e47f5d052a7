"""Synthetic demo data: procedurally drawn cartoon faces and self-blended fakes of them.

This is NOT real face data and says nothing about real deepfakes. It exists so the whole
pipeline (data, training, evaluation) can run end to end with no downloads, in tests and
in the quick-start. Every image is drawn with OpenCV from a seeded random generator, so a
seed always gives the same samples.

Each identity gives one real face (label 0) and one fake (label 1, method "self_blend")
made by self-blending that same face, so the only thing separating the two is the blend.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fakeguard.data.blend import SelfBlend
from fakeguard.data.samples import FaceSample
from fakeguard.settings import MIN_IMAGE_SIZE

# Both classes are recompressed identically so JPEG artefacts cannot tell them apart.
JPEG_QUALITY = 90
# Fixed-point bits for cv2 drawing calls: sub-pixel accurate, anti-aliased shapes.
_SHIFT = 4
_ONE = 1 << _SHIFT

_SKIN_LIGHT = np.array([250, 218, 190], np.float32)
_SKIN_DARK = np.array([100, 62, 40], np.float32)
_HAIR = np.array(
    [[25, 20, 18], [70, 45, 30], [120, 80, 45], [200, 165, 110], [150, 70, 35], [160, 160, 160]],
    np.float32,
)
_IRIS = np.array([[90, 55, 30], [60, 100, 160], [70, 110, 70], [110, 115, 120], [130, 95, 50]])


class _FaceFrame:
    """Maps face coordinates (u across, v down, in face half-width/half-height units) to pixels.

    Drawing everything through one frame makes rotation, position and face size apply to all
    features consistently, and gives the true landmark positions for free.
    """

    def __init__(self, centre: np.ndarray, angle: float, half_w: float, half_h: float) -> None:
        self.centre = centre
        self.angle = angle
        self.half_w = half_w
        self.half_h = half_h
        self._cos, self._sin = float(np.cos(np.radians(angle))), float(np.sin(np.radians(angle)))
        self._rot = np.array([[self._cos, -self._sin], [self._sin, self._cos]])

    def point(self, u: float, v: float) -> np.ndarray:
        return self.centre + self._rot @ np.array([u * self.half_w, v * self.half_h])

    def face_coords(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Face coordinates (u, v) of every pixel of a size x size image, float32."""
        xs = np.arange(size, dtype=np.float32)[None, :] - np.float32(self.centre[0])
        ys = np.arange(size, dtype=np.float32)[:, None] - np.float32(self.centre[1])
        cos, sin = np.float32(self._cos), np.float32(self._sin)
        u = (cos * xs + sin * ys) / np.float32(self.half_w)
        v = (cos * ys - sin * xs) / np.float32(self.half_h)
        return u, v

    def ellipse(
        self,
        img: np.ndarray,
        u: float,
        v: float,
        axes: tuple[float, float],
        color: tuple[float, ...] | float,
        thickness: int = -1,
        arc: tuple[float, float] = (0.0, 360.0),
        tilt: float = 0.0,
    ) -> None:
        """Draw an ellipse at face position (u, v); `axes` in pixels, `tilt` in degrees."""
        centre = _fixed(self.point(u, v))
        size = (max(int(axes[0] * _ONE), 1), max(int(axes[1] * _ONE), 1))
        colour = tuple(float(c) for c in np.atleast_1d(color))
        cv2.ellipse(
            img, centre, size, self.angle + tilt, *arc, colour, thickness, cv2.LINE_AA, _SHIFT
        )

    def polygon(self, img: np.ndarray, uv: list[tuple[float, float]], color) -> None:
        points = np.array([_fixed(self.point(u, v)) for u, v in uv], np.int32)
        colour = tuple(float(c) for c in np.atleast_1d(color))
        cv2.fillPoly(img, [points], colour, cv2.LINE_AA, _SHIFT)


def render_face(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw one random cartoon face; returns (uint8 (size, size, 3) RGB image, (5, 2) landmarks).

    Landmarks are float32 x, y pixel positions in MTCNN order (left eye, right eye, nose tip,
    left and right mouth corner), exactly where the features were drawn.
    """
    if size < MIN_IMAGE_SIZE:
        raise ValueError(f"size must be at least {MIN_IMAGE_SIZE} px, got {size}")
    half_w = size * rng.uniform(0.25, 0.31)
    half_h = half_w * rng.uniform(1.2, 1.38)
    centre = size / 2.0 + rng.uniform(-0.06, 0.06, size=2) * size
    frame = _FaceFrame(centre, rng.uniform(-15.0, 15.0), half_w, half_h)
    skin = _skin_tone(rng)
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.85, 1.15)

    img = _background(rng, size)
    has_hair = rng.random() < 0.75
    if has_hair and rng.random() < 0.5:  # long hair behind the head
        frame.ellipse(img, 0.0, 0.05, (1.18 * half_w, 1.1 * half_h), hair)
    frame.polygon(img, [(-0.5, 0.6), (0.5, 0.6), (0.6, 1.8), (-0.6, 1.8)], skin * 0.8)  # neck
    img = _draw_skin(rng, img, frame, skin)
    if has_hair:  # cap over the top of the head, ending at a random hairline
        hairline = rng.uniform(-0.5, -0.38)
        frame.ellipse(
            img,
            0.0,
            hairline,
            (1.04 * half_w, (1.04 + hairline) * half_h),
            hair,
            arc=(180.0, 360.0),
        )

    layout = _draw_features(rng, img, frame, skin, hair)
    img = _finish(rng, img)
    landmarks = np.array([frame.point(u, v) for u, v in layout.landmarks()], np.float32)
    return img, landmarks


def make_demo_samples(
    num_identities: int, image_size: int, seed: int, blend: SelfBlend | None = None
) -> list[FaceSample]:
    """One real face and one self-blended fake of it per identity, in that order.

    Identity i is drawn from its own generator seeded with (seed, i), so it does not depend
    on how many identities are requested. `blend` defaults to `SelfBlend()`.
    """
    if num_identities < 0:
        raise ValueError(f"num_identities must be >= 0, got {num_identities}")
    blend = SelfBlend() if blend is None else blend
    samples: list[FaceSample] = []
    for i in range(num_identities):
        rng = np.random.default_rng([seed, i])
        real, landmarks = render_face(rng, image_size)
        fake, _ = blend(real, landmarks, rng)
        source_id = demo_source_id(i)
        samples.append(
            FaceSample(label=0, source_id=source_id, image=_jpeg(real), landmarks=landmarks)
        )
        samples.append(
            FaceSample(
                label=1,
                source_id=source_id,
                image=_jpeg(fake),
                landmarks=landmarks.copy(),
                method="self_blend",
            )
        )
    return samples


def demo_source_id(identity: int) -> str:
    """The source id of demo identity `identity`: it decides the identity's split."""
    return f"demo_{identity:05d}"


def _fixed(point: np.ndarray) -> tuple[int, int]:
    return int(round(point[0] * _ONE)), int(round(point[1] * _ONE))


def _skin_tone(rng: np.random.Generator) -> np.ndarray:
    tone = _SKIN_LIGHT + (_SKIN_DARK - _SKIN_LIGHT) * rng.uniform(0.0, 1.0)
    return np.clip(tone * rng.uniform(0.93, 1.07, size=3), 0, 255)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random two-colour gradient plus low-frequency colour noise (float32 0..255)."""
    grey = rng.uniform(40, 220, size=(2, 1))
    colours = (grey + rng.uniform(-45, 45, size=(2, 3))).astype(np.float32)
    direction = rng.uniform(0.0, 2.0 * np.pi)
    ramp = np.arange(size, dtype=np.float32) / size - 0.5
    t = np.cos(direction) * ramp[None, :] + np.sin(direction) * ramp[:, None] + 0.5
    t = t[..., None]
    img = colours[0] * (1.0 - t) + colours[1] * t
    cells = int(rng.integers(3, 7))
    noise = rng.normal(0.0, rng.uniform(6, 18), size=(cells, cells, 3)).astype(np.float32)
    return img + cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)


def _draw_skin(
    rng: np.random.Generator, img: np.ndarray, frame: _FaceFrame, skin: np.ndarray
) -> np.ndarray:
    """Composite the face ellipse with directional light and darkening towards its rim."""
    size = img.shape[0]
    alpha = np.zeros((size, size), np.float32)
    frame.ellipse(alpha, 0.0, 0.0, (frame.half_w, frame.half_h), 1.0)
    u, v = frame.face_coords(size)
    light = rng.uniform(0.0, 2.0 * np.pi)
    shade = 1.0 + rng.uniform(0.05, 0.18) * (np.cos(light) * u + np.sin(light) * v)
    shade -= rng.uniform(0.1, 0.25) * np.minimum(u * u + v * v, 1.0) ** 2
    face = skin * shade[..., None]
    alpha = alpha[..., None]
    return img * (1.0 - alpha) + face * alpha


@dataclass(frozen=True)
class _Layout:
    """Where the features sit, in face units; these positions are also the landmarks."""

    eye_u: float
    eye_v: float
    nose_v: float
    mouth_u: float
    mouth_v: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Layout:
        return cls(
            eye_u=rng.uniform(0.33, 0.42),
            eye_v=rng.uniform(-0.2, -0.08),
            nose_v=rng.uniform(0.16, 0.26),
            mouth_u=rng.uniform(0.24, 0.36),
            mouth_v=rng.uniform(0.46, 0.56),
        )

    def landmarks(self) -> list[tuple[float, float]]:
        return [
            (-self.eye_u, self.eye_v),
            (self.eye_u, self.eye_v),
            (0.0, self.nose_v),
            (-self.mouth_u, self.mouth_v),
            (self.mouth_u, self.mouth_v),
        ]


def _draw_features(
    rng: np.random.Generator,
    img: np.ndarray,
    frame: _FaceFrame,
    skin: np.ndarray,
    hair: np.ndarray,
) -> _Layout:
    """Draw shading, eyes, brows, nose and mouth; return where they were put."""
    layout = _Layout.draw(rng)
    _draw_shadows(rng, img, frame, layout)
    iris = _IRIS[rng.integers(len(_IRIS))] * rng.uniform(0.8, 1.2)
    eye_w = frame.half_w * rng.uniform(0.13, 0.17)
    eye_h = eye_w * rng.uniform(0.42, 0.6)
    gaze = rng.uniform(-0.25, 0.25) * eye_w
    brow_v = layout.eye_v - rng.uniform(0.1, 0.16)
    brow_thickness = max(1, round(frame.half_w * 0.06))
    for side in (-1.0, 1.0):
        eye_u = side * layout.eye_u
        _draw_eye(img, frame, (eye_u, layout.eye_v), (eye_w, eye_h), gaze, iris, skin)
        brow_axes = (eye_w * 1.4, eye_h * 1.2)
        frame.ellipse(img, eye_u, brow_v, brow_axes, hair * 0.9, brow_thickness, arc=(200.0, 340.0))
    _draw_nose(img, frame, layout.nose_v, skin)
    _draw_mouth(rng, img, frame, layout, skin)
    return layout


def _draw_shadows(
    rng: np.random.Generator, img: np.ndarray, frame: _FaceFrame, layout: _Layout
) -> None:
    """Soft darkening of eye sockets, one side of the nose, under the nose and the lower lip.

    Drawn hard on one layer and blurred once, which is much cheaper than blurring per shape.
    """
    w, h = frame.half_w, frame.half_h
    shadow = np.zeros(img.shape[:2], np.float32)
    for side in (-1.0, 1.0):
        frame.ellipse(shadow, side * layout.eye_u, layout.eye_v, (0.24 * w, 0.1 * h), 0.6)
    side = rng.choice([-1.0, 1.0])
    top = _fixed(frame.point(side * 0.08, layout.eye_v + 0.05))
    tip = _fixed(frame.point(side * 0.1, layout.nose_v))
    cv2.line(shadow, top, tip, 0.7, max(1, round(0.06 * w)), cv2.LINE_AA, _SHIFT)
    frame.ellipse(shadow, 0.0, layout.nose_v + 0.05, (0.16 * w, 0.04 * h), 0.6)
    frame.ellipse(shadow, 0.0, layout.mouth_v + 0.13, (layout.mouth_u * 0.7 * w, 0.04 * h), 0.5)
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(0.6, 0.05 * w))
    img *= (1.0 - rng.uniform(0.2, 0.35) * shadow)[..., None]


def _draw_eye(
    img: np.ndarray,
    frame: _FaceFrame,
    centre: tuple[float, float],
    axes: tuple[float, float],
    gaze: float,
    iris: np.ndarray,
    skin: np.ndarray,
) -> None:
    """White, iris, pupil and highlight, then a skin-coloured lid ring that trims the iris."""
    (u, v), (eye_w, eye_h) = centre, axes
    frame.ellipse(img, u, v, axes, (235, 232, 225))
    iris_r = eye_h * 0.95
    iris_u = u + gaze / frame.half_w
    frame.ellipse(img, iris_u, v, (iris_r, iris_r), iris)
    frame.ellipse(img, iris_u, v, (iris_r * 0.45, iris_r * 0.45), (15, 12, 12))
    glint_u, glint_v = iris_u + 0.3 * iris_r / frame.half_w, v - 0.3 * iris_r / frame.half_h
    frame.ellipse(img, glint_u, glint_v, (iris_r * 0.2, iris_r * 0.2), (250, 250, 250))
    lid = max(1, round(eye_h * 0.35))
    frame.ellipse(img, u, v, (eye_w + lid / 2, eye_h + lid / 2), skin * 0.9, thickness=lid)
    frame.ellipse(img, u, v, axes, (40, 30, 30), thickness=1, arc=(180.0, 360.0))


def _draw_nose(img: np.ndarray, frame: _FaceFrame, nose_v: float, skin: np.ndarray) -> None:
    """A lit nose tip with two dark nostrils just below it."""
    w, h = frame.half_w, frame.half_h
    frame.ellipse(img, 0.0, nose_v - 0.02, (0.1 * w, 0.06 * h), np.minimum(skin * 1.08, 255))
    for side in (-1.0, 1.0):
        frame.ellipse(img, side * 0.07, nose_v + 0.03, (0.04 * w, 0.022 * h), skin * 0.45)


def _draw_mouth(
    rng: np.random.Generator,
    img: np.ndarray,
    frame: _FaceFrame,
    layout: _Layout,
    skin: np.ndarray,
) -> None:
    """Upper and lower lip spanning the mouth corners, sometimes parted."""
    w, h = frame.half_w, frame.half_h
    u, v = layout.mouth_u * w, layout.mouth_v
    lips = skin * np.array([0.85, 0.5, 0.5]) * rng.uniform(0.8, 1.1)
    opening = rng.uniform(0.0, 0.06) * h if rng.random() < 0.4 else 0.0
    upper, lower = rng.uniform(0.03, 0.06) * h, rng.uniform(0.04, 0.08) * h
    frame.ellipse(img, 0.0, v, (u, upper + 0.5), lips, arc=(180.0, 360.0))
    frame.ellipse(img, 0.0, v, (u, lower + opening + 0.5), lips, arc=(0.0, 180.0))
    if opening > 0:
        frame.ellipse(img, 0.0, v + 0.01, (u * 0.8, opening), (60, 20, 25))
    frame.ellipse(img, 0.0, v, (u, 0.5), lips * 0.55, thickness=1)  # the line between the lips


def _finish(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Mild optical blur and sensor noise, like a camera would add."""
    sigma = rng.uniform(0.3, 0.8) * img.shape[0] / 128.0
    img = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.float32), (0, 0), sigma)
    img += np.float32(rng.uniform(1.0, 4.0)) * rng.standard_normal(img.shape, np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray) -> np.ndarray:
    """JPEG round-trip at a fixed quality; cv2 codes BGR, so convert around it."""
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

"""Faces found and cut inside an exported model: `fakeguard.prepare`'s MTCNN cascade and crops
in plain torch/torchvision ops, so a model that takes whole frames sees what training saw.

`fakeguard.export` writes this file's source into the gasbench `model.py` (it must import
nothing but torch and torchvision). The P-, R- and O-nets are facenet-pytorch's, tensor for
tensor; their weights travel in the model's `.safetensors` under `faces.`. Every step mirrors
`fakeguard.data.faces` / `fakeguard.data.mtcnn` and the evaluation resize-and-pad:

- the frame is rescaled by `detector_scale` (INTER_CUBIC up, INTER_AREA down);
- the image pyramid is built level from level with INTER_AREA; candidate patches are
  resized with INTER_AREA; thresholds, NMS, box regression and squaring are MTCNN's;
- each face is cut with `crop_box` (margin on every side, clamped to the frame), resized so
  its longer side is the detector's input (INTER_AREA down, INTER_CUBIC up) and padded with
  zeros to a square, centred (albumentations' PadIfNeeded).

OpenCV's resizes are reproduced as separable weight matrices with its coefficients (area
cells, its linear rule when INTER_AREA enlarges, cubic with A = -0.75, replicated borders),
rounded to uint8 after each resize as OpenCV does. OpenCV computes in fixed point, so a pixel
can differ by one grey level; boxes then agree to within a pixel (tests/export).
"""

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms

PYRAMID_FACTOR = 0.709
CUBIC_A = -0.75


@functools.lru_cache(maxsize=1024)
def _area_weights(size_in: int, size_out: int) -> torch.Tensor:
    """OpenCV's INTER_AREA shrink: each output pixel averages the input cells it covers."""
    scale = 1.0 / (size_out / size_in)
    weights = [[0.0] * size_in for _ in range(size_out)]
    for i, row in enumerate(weights):
        start, end = i * scale, i * scale + scale
        cell = min(scale, size_in - start)
        last = min(math.floor(end), size_in - 1)
        first = min(math.ceil(start), last)
        if first - start > 1e-3:
            row[first - 1] += (first - start) / cell
        for k in range(first, last):
            row[k] += 1.0 / cell
        if end - last > 1e-3:
            row[last] += min(end - last, 1.0, cell) / cell
    return torch.tensor(weights, dtype=torch.float64)


@functools.lru_cache(maxsize=1024)
def _area_linear_weights(size_in: int, size_out: int) -> torch.Tensor:
    """OpenCV's INTER_AREA where it does not shrink both axes: a linear rule of its own."""
    scale, inverse = size_in / size_out, size_out / size_in
    weights = [[0.0] * size_in for _ in range(size_out)]
    for i, row in enumerate(weights):
        source = math.floor(i * scale)
        frac = (i + 1) - (source + 1) * inverse
        frac = 0.0 if frac <= 0 else frac - math.floor(frac)
        if source >= size_in - 1:
            source, frac = size_in - 1, 0.0
        row[source] += 1 - frac
        row[min(source + 1, size_in - 1)] += frac
    return torch.tensor(weights, dtype=torch.float64)


@functools.lru_cache(maxsize=1024)
def _cubic_weights(size_in: int, size_out: int) -> torch.Tensor:
    """OpenCV's INTER_CUBIC (A = -0.75), borders replicated."""
    scale = size_in / size_out
    weights = [[0.0] * size_in for _ in range(size_out)]
    for i, row in enumerate(weights):
        position = (i + 0.5) * scale - 0.5
        source = math.floor(position)
        x = position - source
        taps = [
            ((CUBIC_A * (x + 1) - 5 * CUBIC_A) * (x + 1) + 8 * CUBIC_A) * (x + 1) - 4 * CUBIC_A,
            ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1,
            ((CUBIC_A + 2) * (1 - x) - (CUBIC_A + 3)) * (1 - x) * (1 - x) + 1,
        ]
        taps.append(1 - sum(taps))
        for k, tap in enumerate(taps):
            row[min(max(source - 1 + k, 0), size_in - 1)] += tap
    return torch.tensor(weights, dtype=torch.float64)


def _fixed_point(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """OpenCV's uint8 linear/cubic arithmetic: coefficients in 1/2048ths, rounded shift."""
    rows, cols = (rows * 2048).round().to(images.device), (cols * 2048).round().to(images.device)
    out = torch.matmul(torch.matmul(rows, images.double()), cols.T)
    return torch.floor((out + 2**21) / 2**22)


def _area_average(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """OpenCV's INTER_AREA for whole-number factors: plain means; its 2 x 2 path rounds
    halves up, the others to even."""
    fy, fx = images.shape[-2] // height, images.shape[-1] // width
    mean = F.avg_pool2d(images.float(), (fy, fx))  # float32: whole sums, as OpenCV's
    return torch.floor(mean + 0.5) if (fy, fx) == (2, 2) else mean.round()


def resize(images: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """OpenCV's `cv2.resize` of uint8-valued float images [N, C, H, W] to (height, width) with
    `mode` "area" (INTER_AREA) or "cubic" (INTER_CUBIC), rounded to uint8 values."""
    h, w = images.shape[-2:]
    if (h, w) == (height, width):
        return images
    if mode == "cubic":
        out = _fixed_point(images, _cubic_weights(h, height), _cubic_weights(w, width))
    elif height > h or width > w:
        out = _fixed_point(images, _area_linear_weights(h, height), _area_linear_weights(w, width))
    elif h % height == 0 and w % width == 0:
        out = _area_average(images, height, width)
    else:
        # OpenCV sums area cells in float32; so does this, to round the same way
        rows = _area_weights(h, height).to(images.device, torch.float32)
        cols = _area_weights(w, width).to(images.device, torch.float32)
        out = torch.matmul(torch.matmul(rows, images.float()), cols.T).round()
    return out.clamp(0, 255).to(images.dtype)


def detector_scale(height: int, width: int) -> float:
    """`fakeguard.data.faces.detector_scale`: small frames enlarged, large ones shrunk."""
    longer = max(height, width)
    if longer < 300:
        return 2.0
    if longer <= 1000:
        return 1.0
    return 0.5 if longer <= 1900 else 0.33


class PNet(nn.Module):
    """MTCNN's proposal network (facenet-pytorch's tensor names)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """MTCNN's refinement network on 24 x 24 patches."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).reshape(len(x), -1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """MTCNN's output network on 48 x 48 patches (its landmark head is kept for the weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2 = nn.Linear(256, 2), nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).reshape(len(x), -1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), torch.softmax(self.dense6_1(x), dim=1)


def _normalised(images: torch.Tensor) -> torch.Tensor:
    return (images - 127.5) * 0.0078125


def _squared(boxes: torch.Tensor) -> torch.Tensor:
    """MTCNN's `rerec`: each box grown to a square around its centre."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    x1, y1 = boxes[:, 0] + w * 0.5 - side * 0.5, boxes[:, 1] + h * 0.5 - side * 0.5
    return torch.cat([torch.stack([x1, y1, x1 + side, y1 + side], 1), boxes[:, 4:]], 1)


def _regressed(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """MTCNN's `bbreg`: corners moved by the regression, in units of the box's size."""
    w = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
    h = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
    size = torch.cat([w, h, w, h], 1)
    return torch.cat([boxes[:, :4] + reg * size, boxes[:, 4:]], 1)


def _min_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou: float):
    """MTCNN's last NMS: overlap over the smaller box's area, per group, best score first."""
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    keep: list[int] = []
    for i in order:
        if keep:
            kept = torch.tensor(keep, device=boxes.device)
            w = (torch.minimum(x2[i], x2[kept]) - torch.maximum(x1[i], x1[kept]) + 1).clamp(min=0)
            h = (torch.minimum(y2[i], y2[kept]) - torch.maximum(y1[i], y1[kept]) + 1).clamp(min=0)
            overlap = w * h / torch.minimum(area[i], area[kept])
            if bool(((overlap > iou) & (groups[kept] == groups[i])).any()):
                continue
        keep.append(i)
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


class FaceFinder(nn.Module):
    """MTCNN over a batch of equal-size frames, as `fakeguard.data.faces.FaceDetector` runs it."""

    def __init__(self, thresholds: list[float], min_face_size: int) -> None:
        super().__init__()
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        self.thresholds = list(thresholds)
        self.min_face_size = int(min_face_size)

    def too_small(self, height: int, width: int) -> bool:
        return min(height, width) * detector_scale(height, width) < self.min_face_size

    def forward(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """uint8-valued float RGB frames [N, 3, H, W] -> per frame, its faces as
        [n, 5] (x1, y1, x2, y2, probability) in the frame's pixels, largest first."""
        n, _, h, w = frames.shape
        if self.too_small(h, w):
            return [frames.new_zeros(0, 5) for _ in range(n)]
        scale = detector_scale(h, w)
        scaled = frames
        if scale != 1.0:
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            scaled = resize(frames, *size, "area" if scale < 1 else "cubic")
        boxes, frame_of = self._cascade(scaled)
        found = []
        for i in range(n):
            faces = boxes[frame_of == i]
            faces = torch.cat([faces[:, :4] / scale, faces[:, 4:5]], 1)
            area = (faces[:, 2] - faces[:, 0]).clamp(min=0) * (faces[:, 3] - faces[:, 1]).clamp(
                min=0
            )
            found.append(faces[torch.argsort(area, descending=True, stable=True)])
        return found

    def _cascade(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, frame_of = self._proposals(frames)
        if len(boxes):  # R-Net rejects and refines
            reg, probs = self._run(self.rnet, self._patches(frames, boxes, frame_of, 24))
            keep = probs[:, 1] > self.thresholds[1]
            boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], 1)
            frame_of, reg = frame_of[keep], reg[keep]
            pick = batched_nms(boxes[:, :4], boxes[:, 4], frame_of, 0.7)
            boxes, frame_of = _squared(_regressed(boxes[pick], reg[pick])), frame_of[pick]
        if len(boxes):  # O-Net scores and refines
            reg, probs = self._run(self.onet, self._patches(frames, boxes, frame_of, 48))
            keep = probs[:, 1] > self.thresholds[2]
            boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], 1)
            boxes, frame_of = _regressed(boxes, reg[keep]), frame_of[keep]
            pick = _min_nms(boxes[:, :4], boxes[:, 4], frame_of, 0.7)
            boxes, frame_of = boxes[pick], frame_of[pick]
        return boxes, frame_of

    def _run(self, net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A net in whatever dtype the harness cast the model to; boxes stay float32."""
        reg, probs = net(x.to(net.conv1.weight.dtype))
        return reg.float(), probs.float()

    def _proposals(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """P-Net over the image pyramid, each level resized from the one before."""
        _, _, h, w = frames.shape
        scale = 12.0 / self.min_face_size
        side = min(h, w) * scale
        level, boxes, frame_of = frames, [], []
        while side >= 12:
            level = resize(level, int(h * scale + 1), int(w * scale + 1), "area")
            reg, probs = self._run(self.pnet, _normalised(level))
            found, found_in = self._windows(reg, probs[:, 1], scale)
            pick = batched_nms(found[:, :4], found[:, 4], found_in, 0.5)
            boxes.append(found[pick])
            frame_of.append(found_in[pick])
            scale *= PYRAMID_FACTOR
            side *= PYRAMID_FACTOR
        if not boxes:
            return frames.new_zeros(0, 9), torch.zeros(0, dtype=torch.long, device=frames.device)
        all_boxes, all_frames = torch.cat(boxes), torch.cat(frame_of)
        pick = batched_nms(all_boxes[:, :4], all_boxes[:, 4], all_frames, 0.7)
        all_boxes, all_frames = all_boxes[pick], all_frames[pick]
        w_box = (all_boxes[:, 2] - all_boxes[:, 0]).unsqueeze(1)
        h_box = (all_boxes[:, 3] - all_boxes[:, 1]).unsqueeze(1)
        size = torch.cat([w_box, h_box, w_box, h_box], 1)
        refined = torch.cat([all_boxes[:, :4] + all_boxes[:, 5:9] * size, all_boxes[:, 4:5]], 1)
        return _squared(refined), all_frames

    def _windows(self, reg: torch.Tensor, probs: torch.Tensor, scale: float):
        """MTCNN's `generateBoundingBox`: every 12 px window P-Net accepts, in frame pixels,
        with its score and regression: [k, 9] and the frame each came from."""
        mask = probs >= self.thresholds[0]
        where = mask.nonzero()
        cells = where[:, 1:].to(reg.dtype).flip(1)
        q1 = ((2 * cells + 1) / scale).floor()
        q2 = ((2 * cells + 12) / scale).floor()
        regression = reg.permute(1, 0, 2, 3)[:, mask].permute(1, 0)
        return torch.cat([q1, q2, probs[mask].unsqueeze(1), regression], 1), where[:, 0]

    def _patches(self, frames, boxes, frame_of, size: int) -> torch.Tensor:
        """Each box's patch, clamped to its frame as MTCNN's `pad` does, resized to size."""
        _, _, h, w = frames.shape
        corners = boxes[:, :4].trunc().int().tolist()
        patches = []
        for (x, y, ex, ey), i in zip(corners, frame_of.tolist(), strict=True):
            x, y, ex, ey = max(x, 1), max(y, 1), min(ex, w), min(ey, h)
            patch = frames[i : i + 1, :, y - 1 : max(ey, y), x - 1 : max(ex, x)]
            patches.append(resize(patch, size, size, "area"))
        return _normalised(torch.cat(patches))


def crop_box(box: torch.Tensor, height: int, width: int, margin: float) -> list[int]:
    """`fakeguard.data.faces.crop_box`: the margin on every side, clamped, never empty."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    left = int(min(max(math.floor(x1 - dx), 0), width - 1))
    top = int(min(max(math.floor(y1 - dy), 0), height - 1))
    right = int(min(max(math.ceil(x2 + dx), left + 1), width))
    bottom = int(min(max(math.ceil(y2 + dy), top + 1), height))
    return [left, top, right, bottom]


def resize_and_pad(image: torch.Tensor, side: int) -> torch.Tensor:
    """The evaluation pipeline on one uint8-valued image [3, H, W]: longer side to `side`
    (INTER_AREA down, INTER_CUBIC up), then zero padding to side x side, centred."""
    _, h, w = image.shape
    scale = side / max(h, w)
    height, width = max(1, round(h * scale)), max(1, round(w * scale))
    up = height > h or width > w
    image = resize(image.unsqueeze(0), height, width, "cubic" if up else "area")[0]
    top, left = (side - height) // 2, (side - width) // 2
    return F.pad(image, (left, side - width - left, top, side - height - top))

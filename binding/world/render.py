"""Render a `Scene` into every modality (the mappings are tabled in docs/mini.md).

- image: the objects on the background; the holder's activity as a camera-motion cue
- audio: pitch by colour, timbre by shape, one note per object, loudness by size
- depth: silhouettes by shape at a distance set by size, in front of a sloping far plane
- thermal: silhouettes by shape at a temperature set by colour, on a cool noisy background
- IMU: accelerometer and gyroscope of the holder's activity
- video: the objects drifting across the background (for demonstrations)

Every random detail comes from the scene's own seed, so a scene renders the same each time.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from binding.world.scene import COLOUR_RGB, FRAME, SHAPES, Scene

#: Audio sample rate (ImageBind's) and clip length.
AUDIO_RATE = 16_000
AUDIO_SECONDS = 2.0
#: IMU sample rate (ImageBind's) and recording length: 2000 samples.
IMU_RATE = 400
IMU_SAMPLES = 2000
GRAVITY = 9.81

#: Note of each colour, Hz (six notes of distinct pitch class over two octaves).
NOTE_HZ: dict[str, float] = {
    "black": 220.0,  # A3
    "blue": 293.66,  # D4
    "green": 369.99,  # F#4
    "red": 440.0,  # A4
    "yellow": 587.33,  # D5
    "white": 783.99,  # G5
}
#: Temperature of each colour as an 8-bit thermal level / 255 (red hottest, black coldest).
THERMAL_LEVEL: dict[str, float] = {
    "red": 0.94,
    "yellow": 0.82,
    "white": 0.70,
    "green": 0.58,
    "blue": 0.46,
    "black": 0.34,
}
#: Thermal background level (cool) and its noise.
THERMAL_BACKGROUND = 0.14
#: Distance of the objects by size, metres (large = near); the far plane is 4-5.5 m.
OBJECT_DEPTH_M: dict[str, float] = {"large": 1.0, "small": 2.2}

#: Background colours of the plain backgrounds (RGB).
BACKGROUND_RGB: dict[str, tuple[int, int, int]] = {
    "light grey": (200, 200, 200),
    "grey": (140, 140, 140),
    "dark grey": (85, 85, 85),
    "beige": (215, 200, 170),
    "pale blue": (175, 195, 220),
}

# purposes for Scene.rng: each rendering draws from its own stream
_IMAGE, _AUDIO, _DEPTH, _THERMAL, _IMU, _VIDEO, _ALT = range(1, 8)

#: Film grain over the whole picture (standard deviation, 0-255, one value per GRAIN_CELL x
#: GRAIN_CELL pixels), laid down before the camera motion: the motion then shows in every
#: patch (grain smeared into streaks along it, and averaged away the longer the blur), not
#: only at object edges, so an image tower can see the activity that IMU recordings carry.
#: Chosen with `bench/mini_probe.py --attribute activity` (docs/mini.md): a supervised vision
#: tower learns the activity faster with strong, slightly coarse grain.
GRAIN = 25.0
GRAIN_CELL = 2


def _grain(rng: np.random.Generator) -> np.ndarray:
    """(FRAME, FRAME, 3) film grain: GRAIN_CELL-pixel cells of Gaussian noise."""
    cells = _noise(rng, GRAIN, (FRAME // GRAIN_CELL, FRAME // GRAIN_CELL, 3))
    return np.repeat(np.repeat(cells, GRAIN_CELL, axis=0), GRAIN_CELL, axis=1)


# --- geometry ------------------------------------------------------------------------------

#: Row and column of every pixel of the frame, as fractions of its side (computed once).
_ROWS, _COLS = (grid.astype(np.float32) / np.float32(FRAME) for grid in np.mgrid[0:FRAME, 0:FRAME])


def _noise(rng: np.random.Generator, sigma: float, shape: tuple[int, ...]) -> np.ndarray:
    """Gaussian noise (float32, fast) of standard deviation `sigma`."""
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma)


def _outline(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    raise ValueError(f"no outline for {shape!r}")


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    shape: str,
    centre: tuple[float, float],
    r: float,
    *,
    fill: int | tuple[int, int, int] | None,
    outline: int | tuple[int, int, int] | None = None,
    width: int = 1,
) -> None:
    cx, cy = centre
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=outline, width=width)
    elif shape in SHAPES:
        draw.polygon(_outline(shape, cx, cy, r), fill=fill, outline=outline, width=width)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def object_mask(
    scene: Scene,
    *,
    radius: float | None = None,
    offset: tuple[float, float] = (0.0, 0.0),
    size: int = FRAME,
) -> np.ndarray:
    """(size, size) bool: where the scene's objects are (filled silhouettes)."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    scale = size / FRAME
    r = (radius if radius is not None else scene.radius) * scale
    for x, y in scene.positions:
        centre = ((x + offset[0]) * scale, (y + offset[1]) * scale)
        _draw_shape(draw, scene.shape, centre, r, fill=255)
    return np.asarray(mask) > 127


# --- image ---------------------------------------------------------------------------------


def _background(name: str, rng: np.random.Generator, size: int = FRAME) -> np.ndarray:
    """(size, size, 3) float32 background in 0-255."""
    if name in BACKGROUND_RGB:
        base = np.array(BACKGROUND_RGB[name], np.float32) + rng.uniform(-8, 8, 3)
        pixels = np.broadcast_to(base.astype(np.float32), (size, size, 3)).copy()
        pixels += _noise(rng, 2.0, (size, size, 1))  # sensor grain
        return pixels
    # a grey of random lightness, barely tinted, so that no background looks like an object colour
    tint = (rng.uniform(110, 170) + rng.uniform(-10, 10, 3)).astype(np.float32)
    if size == FRAME:
        yy, xx = _ROWS * np.float32(FRAME), _COLS * np.float32(FRAME)
    else:
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if name == "noisy":
        return tint + _noise(rng, 28, (size, size, 3))
    if name == "striped":
        period = float(rng.uniform(10, 22))
        angle = float(rng.uniform(0, math.pi))
        wave = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period)
        return tint + 35 * wave[..., None]
    if name == "checkered":
        step = int(rng.integers(12, 24))
        checks = ((xx // step + yy // step) % 2).astype(np.float32) * 2 - 1
        return tint + 30 * checks[..., None]
    raise ValueError(f"unknown background {name!r}")


def _box_blur(pixels: np.ndarray, length: int, axis: int) -> np.ndarray:
    """Mean over `length` pixels along `axis` (a linear motion blur), edges repeated."""
    if length <= 1:
        return pixels
    before, after = length // 2, length - 1 - length // 2
    pad = [(0, 0)] * pixels.ndim
    pad[axis] = (before + 1, after)
    padded = np.pad(pixels, pad, mode="edge")
    sums = np.cumsum(padded, axis=axis, dtype=np.float32)
    size = pixels.shape[axis]
    upper = [slice(None)] * pixels.ndim
    lower = [slice(None)] * pixels.ndim
    upper[axis], lower[axis] = slice(length, length + size), slice(0, size)
    return (sums[tuple(upper)] - sums[tuple(lower)]) / np.float32(length)


def _camera_motion(pixels: np.ndarray, activity: str, rng: np.random.Generator) -> np.ndarray:
    """The holder's activity as a camera-motion cue, mild enough to keep colour and shape."""
    if activity == "walking":
        return _box_blur(pixels, int(rng.integers(5, 8)), axis=0)
    if activity == "running":
        return _box_blur(pixels, int(rng.integers(10, 14)), axis=0)
    if activity == "turning":
        return _box_blur(pixels, int(rng.integers(10, 14)), axis=1)
    if activity == "shaking":
        dx, dy = (int(v) * int(rng.choice([-1, 1])) for v in rng.integers(5, 9, size=2))
        ghost = np.roll(pixels, (dy, dx), axis=(0, 1))
        return 0.62 * pixels + 0.38 * ghost
    return pixels  # still: sharp


def render_image(scene: Scene, *, style: str = "default") -> Image.Image:
    """The scene as a 224 x 224 RGB picture.

    `style="alt"` draws it differently, for generalisation tests: outlines only, other object
    sizes, a textured background and pixel noise (same colour, shape, count and activity).
    """
    if style not in ("default", "alt"):
        raise ValueError(f"style must be 'default' or 'alt', got {style!r}")
    alt = style == "alt"
    rng = scene.rng(_ALT if alt else _IMAGE)
    background = scene.background
    if alt and background not in ("noisy", "striped", "checkered"):
        background = ("noisy", "striped", "checkered")[int(rng.integers(3))]
    pixels = _background(background, rng)
    ink = np.array(COLOUR_RGB[scene.colour], np.float32) + rng.uniform(-10, 10, 3)
    ink = np.clip(ink, 0, 255).astype(np.uint8)
    layer = Image.new("L", (FRAME, FRAME), 0)
    draw = ImageDraw.Draw(layer)
    radius = {"small": 13.0, "large": 34.0}[scene.size] if alt else scene.radius
    for centre in scene.positions:
        if alt:
            _draw_shape(draw, scene.shape, centre, radius, fill=None, outline=255, width=5)
        else:
            _draw_shape(draw, scene.shape, centre, radius, fill=255)
    alpha = (np.asarray(layer, np.float32) / 255.0)[..., None]
    pixels = pixels * (1 - alpha) + ink.astype(np.float32) * alpha
    pixels = _camera_motion(pixels + _grain(rng), scene.activity, rng)
    if alt:
        pixels = pixels + _noise(rng, 12, pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


# --- audio ---------------------------------------------------------------------------------


def _note(shape: str, hz: float, seconds: float, phase: float) -> np.ndarray:
    t = np.arange(round(seconds * AUDIO_RATE), dtype=np.float64) / AUDIO_RATE
    angle = 2 * math.pi * hz * t + phase
    if shape == "circle":  # a pure sine with soft edges
        wave = np.sin(angle)
        envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
    elif shape == "square":  # a square-ish wave (odd harmonics), a buzz
        wave = np.tanh(4.0 * np.sin(angle)) * 0.8
        envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    else:  # triangle: a plucked note, harmonics decaying fast
        wave = np.sin(angle) + 0.5 * np.sin(2 * angle) + 0.25 * np.sin(3 * angle)
        wave = wave / 1.4
        envelope = np.exp(-t / 0.09) * np.minimum(1.0, t / 0.003)
    return wave * envelope


def render_audio(scene: Scene) -> np.ndarray:
    """2.0 s of 16 kHz mono float32: one note per object (pitch by colour, timbre by shape).

    Large objects sound louder (0.5 peak) than small ones (0.25); a quiet noise floor runs
    under everything.
    """
    rng = scene.rng(_AUDIO)
    total = round(AUDIO_SECONDS * AUDIO_RATE)
    out = rng.normal(0, 0.004, total)
    hz = NOTE_HZ[scene.colour] * float(rng.uniform(0.99, 1.01))  # a slight detune
    loud = 0.5 if scene.size == "large" else 0.25
    slot = AUDIO_SECONDS / scene.count  # each note in its own slot
    length = min(0.4, slot * 0.7)
    for k in range(scene.count):
        start = k * slot + float(rng.uniform(0.05, slot - length - 0.02))
        note = loud * _note(scene.shape, hz, length, float(rng.uniform(0, 2 * math.pi)))
        begin = round(start * AUDIO_RATE)
        out[begin : begin + note.size] += note[: total - begin]
    return np.clip(out, -1.0, 1.0).astype(np.float32)


# --- depth and thermal ---------------------------------------------------------------------


def render_depth(scene: Scene) -> np.ndarray:
    """(224, 224) float32 metres: object silhouettes (near if large) before a sloping far plane."""
    rng = scene.rng(_DEPTH)
    tilt = np.float32(rng.uniform(-0.4, 0.4))
    # a floor-like slope: farther at the top
    far = np.float32(5.5) - np.float32(1.5) * _ROWS + tilt * (_COLS - np.float32(0.5))
    far += _noise(rng, 0.01, far.shape)
    near = np.float32(OBJECT_DEPTH_M[scene.size] + float(rng.uniform(-0.1, 0.1)))
    mask = object_mask(scene)
    depth = np.where(mask, near + _noise(rng, 0.005, far.shape), far)
    return depth.astype(np.float32)


def render_thermal(scene: Scene) -> np.ndarray:
    """(224, 224) uint8: object silhouettes at a temperature set by colour on a cool background."""
    rng = scene.rng(_THERMAL)
    heat = np.float32(THERMAL_BACKGROUND) + np.float32(0.04) * _ROWS
    heat += _noise(rng, 0.025, heat.shape)
    level = np.float32(THERMAL_LEVEL[scene.colour] + float(rng.uniform(-0.02, 0.02)))
    mask = object_mask(scene)
    heat = np.where(mask, level + _noise(rng, 0.015, heat.shape), heat)
    return np.clip(np.rint(heat * 255), 0, 255).astype(np.uint8)


# --- IMU -----------------------------------------------------------------------------------


def _rotation(rng: np.random.Generator, degrees: float) -> np.ndarray:
    """A random rotation of up to `degrees` about each axis (how the device sits on the head)."""
    ax, ay, az = np.radians(rng.uniform(-degrees, degrees, 3))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def render_imu(scene: Scene) -> np.ndarray:
    """(6, 2000) float32: 5 s at 400 Hz of accel x, y, z (m/s^2, with gravity) and gyro (rad/s).

    still: gravity and noise; walking: a ~2 Hz bounce; running: a stronger ~3 Hz bounce;
    turning: a steady yaw rate; shaking: large fast jitter. Phase, amplitude, rate and the
    device's orientation vary from scene to scene.
    """
    rng = scene.rng(_IMU)
    t = np.arange(IMU_SAMPLES, dtype=np.float64) / IMU_RATE
    acc = np.zeros((3, IMU_SAMPLES))
    gyro = np.zeros((3, IMU_SAMPLES))
    acc[2] = GRAVITY
    phase = rng.uniform(0, 2 * math.pi, 3)
    gain = float(rng.uniform(0.8, 1.2))
    if scene.activity in ("walking", "running"):
        running = scene.activity == "running"
        step = float(rng.uniform(2.8, 3.3) if running else rng.uniform(1.7, 2.2))  # Hz
        bounce = (6.0 if running else 2.0) * gain
        angle = 2 * math.pi * step * t
        acc[2] += bounce * np.sin(angle + phase[0]) + 0.3 * bounce * np.sin(2 * angle + phase[1])
        acc[0] += 0.4 * bounce * np.sin(angle / 2 + phase[2])  # sway, once per stride
        acc[1] += 0.25 * bounce * np.sin(angle + phase[1])
        gyro[1] += (1.2 if running else 0.5) * gain * np.sin(angle / 2 + phase[0])
        gyro[0] += (0.6 if running else 0.2) * gain * np.sin(angle + phase[2])
    elif scene.activity == "turning":
        rate = float(rng.uniform(0.8, 1.6)) * float(rng.choice([-1.0, 1.0]))  # rad/s of yaw
        ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.5)
        gyro[2] += rate * ramp * (1 + 0.1 * np.sin(2 * math.pi * 0.5 * t + phase[0]))
        acc[0] += 0.3 * rate * ramp  # a little centripetal pull
    elif scene.activity == "shaking":
        for axis in range(3):
            hz = rng.uniform(7.0, 12.0, 2)
            acc[axis] += gain * 4.0 * np.sin(2 * math.pi * hz[0] * t + phase[axis])
            gyro[axis] += gain * 2.5 * np.sin(2 * math.pi * hz[1] * t + phase[(axis + 1) % 3])
        acc += 1.0 * rng.normal(0, 1, acc.shape)
    acc += rng.normal(0, 0.05, acc.shape)
    gyro += rng.normal(0, 0.01, gyro.shape)
    turn = _rotation(rng, 15.0)
    return np.concatenate([turn @ acc, turn @ gyro]).astype(np.float32)


# --- video ---------------------------------------------------------------------------------


def video_frames(scene: Scene, *, frames: int = 16, size: int = 112) -> list[np.ndarray]:
    """(size, size, 3) uint8 frames of the scene's objects drifting (no camera-motion cue)."""
    rng = scene.rng(_VIDEO)
    base = _background(scene.background, rng, size)
    ink = np.array(COLOUR_RGB[scene.colour], np.float32)
    velocity = rng.uniform(-1.2, 1.2, (scene.count, 2))  # pixels of the 224 frame per frame
    out = []
    for index in range(frames):
        moved = tuple(
            (x + vx * index, y + vy * index)
            for (x, y), (vx, vy) in zip(scene.positions, velocity, strict=True)
        )
        layer = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(layer)
        scale = size / FRAME
        for x, y in moved:
            _draw_shape(draw, scene.shape, (x * scale, y * scale), scene.radius * scale, fill=255)
        alpha = (np.asarray(layer, np.float32) / 255.0)[..., None]
        pixels = base * (1 - alpha) + ink * alpha
        out.append(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    return out


def render_video(scene: Scene, path: Path | str, *, fps: int = 8, frames: int = 16) -> Path:
    """A short MP4 (H.264, 112 x 112, 2 s at 8 fps) of the scene's objects drifting."""
    from binding.demo import write_mp4

    return write_mp4(Path(path), video_frames(scene, frames=frames, size=112), fps=fps, crf=28)

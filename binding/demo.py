"""A small folder of mixed media, generated, for demonstrations, smoke runs and tests.

    images/   coloured shapes and gradients with a word drawn on each (PNG and JPEG)
    audio/    tones, a chirp, noise, a 24 s melody (segment points); spoken words when
              `espeak-ng` is installed
    video/    a 3 s clip and a 12 s clip (segment points) of moving shapes (MP4, H.264)
    depth/    16-bit PNG depth maps in millimetres (a folder name says "depth")
    thermal/  8-bit grayscale thermal frames (a folder name says "thermal")
    imu/      accelerometer + gyroscope recordings as CSV at 400 Hz (walking, still)

Everything is drawn from a seeded generator, so the same seed gives byte-identical files
(and so the same point ids) on every run.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Sample rate of generated audio (ImageBind's own rate).
AUDIO_RATE = 16_000
#: Sample rate of generated IMU recordings (ImageBind's IMU rate: 2000 samples per 5 s).
IMU_RATE = 400

#: The pictures: file name, word drawn, shape, colours (background, shape).
_PICTURES: tuple[tuple[str, str, str, tuple[int, int, int], tuple[int, int, int]], ...] = (
    ("red_circle.png", "circle", "circle", (245, 245, 235), (220, 30, 30)),
    ("blue_square.png", "square", "square", (240, 240, 250), (30, 60, 200)),
    ("green_triangle.jpg", "tree", "triangle", (200, 230, 255), (20, 140, 40)),
    ("sunset.jpg", "sunset", "gradient", (255, 140, 40), (80, 20, 120)),
    ("beach.png", "beach", "beach", (120, 190, 250), (235, 210, 150)),
    ("night.png", "night", "stars", (10, 10, 40), (250, 250, 210)),
)

#: Words spoken with espeak-ng, when it is installed.
_WORDS = ("dog", "ocean", "music")


@dataclass
class DemoData:
    """What `make_demo_data` wrote, by modality (as ingest will see them)."""

    root: Path
    files: dict[str, list[Path]] = field(default_factory=dict)

    def all(self) -> list[Path]:
        return [p for paths in self.files.values() for p in paths]


def make_demo_data(folder: Path | str, *, seed: int = 0, speech: bool = True) -> DemoData:
    """Write the demo media into `folder` (created if needed); returns what was written.

    `speech=False` skips spoken words even when `espeak-ng` is installed (tests use it so
    that their counts do not depend on the machine).
    """
    root = Path(folder)
    rng = np.random.default_rng(seed)
    data = DemoData(root)
    data.files["image"] = [_picture(root / "images" / spec[0], *spec[1:]) for spec in _PICTURES]
    data.files["audio"] = _sounds(root / "audio", rng)
    if speech:
        data.files["audio"] += _speech(root / "audio")
    data.files["video"] = [
        _video(root / "video" / "bouncing_ball.mp4", seconds=3.0, fps=8, rng=rng),
        _video(root / "video" / "traffic_12s.mp4", seconds=12.0, fps=4, rng=rng),
    ]
    data.files["depth"] = [
        _depth(root / "depth" / "corridor.png", kind="corridor"),
        _depth(root / "depth" / "box_on_floor.png", kind="box"),
    ]
    data.files["thermal"] = [
        _thermal(root / "thermal" / "person.png", rng, blobs=1),
        _thermal(root / "thermal" / "two_people.png", rng, blobs=2),
    ]
    data.files["imu"] = [
        _imu(root / "imu" / "walking_12s.csv", seconds=12.0, rng=rng, walking=True),
        _imu(root / "imu" / "still_5s.csv", seconds=5.0, rng=rng, walking=False),
    ]
    return data


# --- pictures ------------------------------------------------------------------------------


def _picture(
    path: Path,
    word: str,
    shape: str,
    background: tuple[int, int, int],
    ink: tuple[int, int, int],
    size: tuple[int, int] = (320, 240),
) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    width, height = size
    if shape == "gradient":
        t = np.linspace(0.0, 1.0, height)[:, None, None]  # (H, 1, 1)
        top, bottom = np.array(background, float), np.array(ink, float)
        pixels = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3))
        image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    else:
        image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    cx, cy, r = width // 2, height // 2, min(width, height) // 4
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=ink)
    elif shape == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=ink)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=ink)
    elif shape == "beach":
        draw.rectangle((0, height * 2 // 3, width, height), fill=ink)
        draw.rectangle((0, height // 2, width, height * 2 // 3), fill=(30, 100, 200))
        draw.ellipse((width - 80, 20, width - 30, 70), fill=(255, 230, 60))
    elif shape == "stars":
        for i in range(40):
            x, y = (i * 97) % width, (i * 53) % (height - 60)
            draw.ellipse((x, y, x + 3, y + 3), fill=ink)
    font = ImageFont.load_default(size=36)
    draw.text((12, height - 52), word, fill=(0, 0, 0) if sum(background) > 300 else ink, font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        image.save(path, "JPEG", quality=90)
    else:
        image.save(path, "PNG")
    return path


# --- sounds --------------------------------------------------------------------------------


def _write_sound(path: Path, samples: np.ndarray, fmt: str | None = None) -> Path:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.clip(samples, -1, 1).astype(np.float32), AUDIO_RATE, format=fmt)
    if fmt == "OGG":
        path.write_bytes(with_ogg_serial(path.read_bytes(), OGG_SERIAL))
    return path


#: Serial number of the logical stream in generated Ogg files. libsndfile draws a random
#: one per file (as the Ogg spec suggests, so that streams can be chained), which made
#: every generation of the same audio a different file; a fixed serial makes it the same.
OGG_SERIAL = 0x62696E64  # "bind"


def with_ogg_serial(content: bytes, serial: int) -> bytes:
    """`content` (a single-stream Ogg file) with every page's serial number set to `serial`.

    Each page header is rewritten in place and its CRC recomputed (RFC 3533, section 6);
    the packets (the encoded audio) are untouched, so the decoded audio is the same.
    Raises ValueError if `content` is not a sequence of Ogg pages of one logical stream.
    """
    pages = bytearray(content)
    offset, first_serial = 0, None
    while offset < len(pages):
        if pages[offset : offset + 4] != b"OggS" or offset + 27 > len(pages):
            raise ValueError(f"not an Ogg page at byte {offset}")
        page_serial = int.from_bytes(pages[offset + 14 : offset + 18], "little")
        if first_serial is None:
            first_serial = page_serial
        elif page_serial != first_serial:
            raise ValueError(f"a second logical stream (serial {page_serial}) at byte {offset}")
        segments = pages[offset + 26]
        header_end = offset + 27 + segments
        end = header_end + sum(pages[offset + 27 : header_end])
        if end > len(pages):
            raise ValueError(f"the Ogg page at byte {offset} is cut short")
        pages[offset + 14 : offset + 18] = serial.to_bytes(4, "little")
        pages[offset + 22 : offset + 26] = bytes(4)  # the CRC is computed with its field zeroed
        pages[offset + 22 : offset + 26] = _ogg_crc(bytes(pages[offset:end])).to_bytes(4, "little")
        offset = end
    return bytes(pages)


def _ogg_crc(page: bytes) -> int:
    # CRC-32 of Ogg: polynomial 0x04C11DB7, initial value 0, no reflection, no final xor
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


def _ogg_crc_table() -> tuple[int, ...]:
    table = []
    for index in range(256):
        value = index << 24
        for _ in range(8):
            value = ((value << 1) ^ 0x04C11DB7) if value & 0x80000000 else value << 1
        table.append(value & 0xFFFFFFFF)
    return tuple(table)


_OGG_CRC_TABLE = _ogg_crc_table()


def _sounds(folder: Path, rng: np.random.Generator) -> list[Path]:
    t2 = np.arange(2 * AUDIO_RATE) / AUDIO_RATE
    t3 = np.arange(3 * AUDIO_RATE) / AUDIO_RATE
    fade = np.minimum(1.0, np.minimum(t3, t3[::-1]) * 20)
    chirp = 0.5 * np.sin(2 * np.pi * (200 * t3 + (2000 - 200) / (2 * 3) * t3**2)) * fade
    noise = 0.3 * rng.standard_normal(t2.size)
    # a 24 s melody: one note per second (gets 10 s segment points: 0-10, 10-20, 20-24)
    notes = [262, 294, 330, 349, 392, 440, 494, 523]
    melody = np.concatenate(
        [
            0.4 * np.sin(2 * np.pi * notes[i % len(notes)] * np.arange(AUDIO_RATE) / AUDIO_RATE)
            for i in range(24)
        ]
    )
    return [
        _write_sound(folder / "tone_440hz.wav", 0.5 * np.sin(2 * np.pi * 440 * t2)),
        _write_sound(folder / "chirp.wav", chirp),
        _write_sound(folder / "noise.flac", noise, "FLAC"),
        _write_sound(folder / "melody_24s.ogg", melody, "OGG"),
    ]


def _speech(folder: Path) -> list[Path]:
    """Spoken words from espeak-ng, if it is installed; none otherwise."""
    program = shutil.which("espeak-ng")
    if program is None:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for word in _WORDS:
        path = folder / f"spoken_{word}.wav"
        try:
            subprocess.run(
                [program, "-w", str(path), word], check=True, capture_output=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            continue
        written.append(path)
    return written


# --- video ---------------------------------------------------------------------------------


def _video(path: Path, *, seconds: float, fps: int, rng: np.random.Generator) -> Path:
    width, height = 160, 96
    frames = round(seconds * fps)
    colour = rng.integers(60, 255, size=3)

    def frame(i: int) -> np.ndarray:
        pixels = np.full((height, width, 3), 30, dtype=np.uint8)
        x = int((width - 24) * (0.5 + 0.5 * math.sin(2 * math.pi * i / max(frames, 1))))
        y = int((height - 24) * abs(math.cos(math.pi * i / 10)))
        pixels[y : y + 24, x : x + 24] = colour
        return pixels

    return write_mp4(path, (frame(i) for i in range(frames)), fps=fps)


def write_mp4(path: Path, frames: Iterable[np.ndarray], *, fps: int, crf: int = 30) -> Path:
    """Encode RGB frames ((H, W, 3) uint8, even sides, all one size) as an H.264 MP4.

    Written beside `path` and renamed when complete, so a reader never sees half a file.
    """
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".mp4", delete=False) as tmp:
        temp = Path(tmp.name)
    try:
        with av.open(str(temp), mode="w") as container:
            stream = None
            for pixels in frames:
                if stream is None:
                    stream = container.add_stream("libx264", rate=fps)
                    stream.height, stream.width = pixels.shape[:2]
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"preset": "ultrafast", "crf": str(crf)}
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            if stream is None:
                raise ValueError(f"{path}: no frames to write")
            for packet in stream.encode():
                container.mux(packet)
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)
    return path


# --- depth, thermal, IMU ---------------------------------------------------------------------


def _depth(path: Path, *, kind: str, size: tuple[int, int] = (256, 192)) -> Path:
    from PIL import Image

    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    if kind == "corridor":  # walls converging to a far centre: 0.8 m at the edges, 8 m deep
        edge = np.minimum(
            np.minimum(xx, width - 1 - xx) / width, np.minimum(yy, height - 1 - yy) / height
        )
        metres = 0.8 + 7.2 * (edge * 2) ** 1.5
    else:  # a floor getting farther with height, and a box 1.2 m away
        metres = 1.0 + 4.0 * (1 - yy / height)
        metres[height // 3 : height * 2 // 3, width // 3 : width * 2 // 3] = 1.2
    millimetres = np.clip(np.rint(metres * 1000), 1, 65535).astype(np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(millimetres).save(path, "PNG")  # 16-bit grayscale (mode I;16)
    return path


def _thermal(
    path: Path, rng: np.random.Generator, *, blobs: int, size: tuple[int, int] = (160, 120)
) -> Path:
    from PIL import Image

    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    heat = 0.25 + 0.05 * rng.standard_normal((height, width))
    for i in range(blobs):
        cx = width * (i + 1) / (blobs + 1)
        cy = height * 0.55
        heat += 0.6 * np.exp(-(((xx - cx) / 14) ** 2 + ((yy - cy) / 30) ** 2))
    pixels = np.clip(np.rint(heat * 255), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "L").save(path, "PNG")
    return path


def _imu(path: Path, *, seconds: float, rng: np.random.Generator, walking: bool) -> Path:
    samples = round(seconds * IMU_RATE)
    t = np.arange(samples) / IMU_RATE
    acc = np.zeros((samples, 3))
    acc[:, 2] = 9.81
    gyro = 0.01 * rng.standard_normal((samples, 3))
    if walking:  # 2 steps per second
        acc[:, 2] += 2.0 * np.sin(2 * np.pi * 2 * t)
        acc[:, 0] += 0.8 * np.sin(2 * np.pi * 1 * t)
        gyro[:, 1] += 0.5 * np.sin(2 * np.pi * 1 * t)
    acc += 0.05 * rng.standard_normal((samples, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="ascii") as f:
        f.write("time,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z\n")
        for i in range(samples):
            values = ",".join(f"{v:.5f}" for v in (*acc[i], *gyro[i]))
            f.write(f"{t[i]:.4f},{values}\n")
    return path


def demo_queries(data: DemoData) -> list[tuple[str, str]]:
    """Example searches over the demo data: (what it asks, the written query)."""
    images, audio, thermal = data.files["image"], data.files["audio"], data.files["thermal"]
    return [
        ("text to anything", 'text:"a red circle" @ 5'),
        ("image to images", f"image:{_quoted(images[0])} @ 5 | modality=image"),
        ("sound plus words", f'audio:{_quoted(audio[1])} + 0.5*text:"a beach" @ 5'),
        ("thermal frame minus a word", f'thermal:{_quoted(thermal[0])} - 0.3*text:"night" @ 3'),
    ]


def _quoted(path: Path) -> str:
    text = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


# --- a sample of the synthetic world, for binding_mini ---------------------------------------

#: Scenes in the world sample `binding demo` writes for `binding_mini`, and their seed.
WORLD_SCENES = 36
WORLD_SEED = 0
#: Modalities of the world sample, each in a folder of its name (depth/, thermal/ tell
#: ingest what the bytes cannot).
WORLD_MODALITIES = ("image", "audio", "depth", "thermal", "imu", "video")


def make_world_demo(
    folder: Path | str, *, n: int = WORLD_SCENES, seed: int = WORLD_SEED
) -> DemoData:
    """A few dozen scenes of the synthetic world (`binding.world`) in every modality, each
    file named after what it shows (`image/07-red-circle.png`, `imu/07-walking.csv`) so
    that search results can be checked by eye. The same seed gives the same bytes."""
    from binding.world import sample_scenes, write_world
    from binding.world.write import label_of

    root = Path(folder)
    staging = root / ".writing"
    shutil.rmtree(staging, ignore_errors=True)
    world = write_world(staging, n=n, seed=seed, modalities=("text", *WORLD_MODALITIES))
    data = DemoData(root)
    scenes = sample_scenes(n, seed)
    for modality in WORLD_MODALITIES:
        (root / modality).mkdir(parents=True, exist_ok=True)
        paths = []
        for index, scene in enumerate(scenes):
            label = label_of(scene, modality).replace(" ", "-")
            source = world.file(modality, index)
            target = root / modality / f"{index:02d}-{label}{source.suffix}"
            source.replace(target)
            paths.append(target)
        data.files[modality] = paths
    shutil.rmtree(staging)  # the manifests: the demo ingests the media only
    return data


def world_demo_queries(data: DemoData) -> list[tuple[str, str]]:
    """Example searches over `make_world_demo`'s sample, each titled with what a person
    should see in its results: (title, written query)."""

    def label(path: Path) -> str:  # "07-red-circle.png" -> "red circle"
        return " ".join(path.stem.split("-")[1:])

    images = data.files["image"]
    labels = [label(p) for p in images]
    wanted = "red circle" if "red circle" in labels else labels[0]
    colour, shape = wanted.split()
    anchor = images[labels.index(wanted)]
    others = [lab.split()[0] for lab in labels if lab.endswith(shape) and lab != wanted]
    swap = "blue" if "blue" in others or not others else others[0]
    sound = data.files["audio"][1]
    # a triangle's depth map: binding_mini tells triangles from the rest best (docs/mini.md)
    depths = data.files["depth"]
    depth = next((d for d in depths if label(d).endswith("triangle")), depths[2])
    thermal = data.files["thermal"][3]
    return [
        (f"text -> images: expect {wanted}s", f'text:"a {wanted}" @ 5 | modality=image'),
        (
            f"image arithmetic: a {wanted} - '{colour}' + '{swap}': expect {swap} {shape}s",
            f'image:{_quoted(anchor)} - text:"{colour}" + text:"{swap}" @ 5 | modality=image',
        ),
        (
            f"sound -> images: expect {label(sound)}s",
            f"audio:{_quoted(sound)} @ 5 | modality=image",
        ),
        (
            f"depth -> images: expect {label(depth).split()[1]}s (depth has no colour)",
            f"depth:{_quoted(depth)} @ 5 | modality=image",
        ),
        (
            f"thermal -> images and videos: expect {label(thermal)}s",
            f"thermal:{_quoted(thermal)} @ 5 | modality=image,video",
        ),
    ]

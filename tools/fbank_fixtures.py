"""Reference fixtures for the audio and video data paths, made with the real reference code.

Writes, from deterministic synthetic signals and frames:
- `tests/fixtures/audio/fbank_reference.npz`: inputs and `torchaudio.compliance.kaldi.fbank`
  outputs with ImageBind's settings (`waveform2melspec`), torchaudio 2.9.1;
- `tests/fixtures/audio/preprocess_reference.npz`: whole-path outputs of the reference's
  `load_and_transform_audio_data` (ImageBind `data.py`) on PCM-16 WAV files;
- `tests/fixtures/audio/clip_timepoints.json`: the reference's audio clip windows and sample
  bounds, and its video frame indices (pytorchvideo `ConstantClipsPerVideoSampler`,
  `EncodedVideoDecord.get_clip`, `UniformTemporalSubsample`);
- `tests/fixtures/video/transform_reference.npz`: the reference's per-clip video transform
  (`ShortSideScale(224)`, `NormalizeVideo`, `SpatialCrop(224, 3)`) on synthetic frames,
  kept at every 9th pixel plus per-crop sums.

The reference code runs unmodified, loaded by file path with `.venv`'s torch:
- `torchaudio/compliance/kaldi.py` and `torchaudio/functional/` from the torchaudio 2.9.1
  wheel (pure torch code; `torchaudio._extension`, needed only by C++-backed functions, is
  given a stand-in that says the extension is absent);
- ImageBind's `data.py` from `imagebind-unofficial` 0.1.1 (byte-identical to the reference),
  with stand-ins for what it imports but the audio path does not run (PIL is real;
  torchvision's `Normalize` and `Compose` are given one-line equivalents; `torchaudio.load`
  reads with soundfile, as float32 in [-1, 1) like torchaudio's loader);
- pytorchvideo at commit 28fe037d (the commit ImageBind's requirements.txt pins; PyPI's
  0.1.5 divides clip spacing by n, not n - 1): `data/clip_sampling.py`,
  `data/encoded_video_decord.py`, `transforms/functional.py`, `transforms/transforms.py`.

How it was run (from the repository root):

    .venv/bin/pip download --no-deps torchaudio==2.9.1 -d .tools/wheels
    git -C <pytorchvideo clone> archive 28fe037d212663c6a24f373b94cc5d478c8c1a1d \\
        pytorchvideo/data/clip_sampling.py pytorchvideo/data/encoded_video_decord.py \\
        pytorchvideo/transforms/functional.py pytorchvideo/transforms/transforms.py \\
        | tar -x -C .tools/pytorchvideo-28fe037d
    .venv/bin/python tools/fbank_fixtures.py

(`.tools/ref/imagebind/` holds the unpacked `imagebind-unofficial` wheel.) The tool is
deterministic: rerunning it rewrites identical files. It prints the max abs difference of
our implementation against each reference output.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import sys
import tempfile
import types
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile
import torch

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".tools"
AUDIO_FIXTURES = ROOT / "tests" / "fixtures" / "audio"
VIDEO_FIXTURES = ROOT / "tests" / "fixtures" / "video"
TORCHAUDIO_WHEEL = TOOLS / "wheels" / "torchaudio-2.9.1-cp311-cp311-manylinux_2_28_x86_64.whl"
TORCHAUDIO_DIR = TOOLS / "torchaudio-2.9.1"
PYTORCHVIDEO_DIR = TOOLS / "pytorchvideo-28fe037d"
IMAGEBIND_DATA = TOOLS / "ref" / "imagebind" / "data.py"

# Kaldi settings of ImageBind's waveform2melspec.
KALDI_ARGS = dict(
    htk_compat=True,
    use_energy=False,
    window_type="hanning",
    num_mel_bins=128,
    dither=0.0,
    frame_length=25,
    frame_shift=10,
)


# --- loading the reference code --------------------------------------------------------------


def _package(name: str, path: Path | None = None) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = [str(path)] if path is not None else []
    sys.modules[name] = module
    return module


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_torchaudio() -> types.ModuleType:
    """`torchaudio` with the real `compliance.kaldi` and `functional`, without its C++ parts."""
    if not (TORCHAUDIO_DIR / "torchaudio" / "compliance" / "kaldi.py").exists():
        with zipfile.ZipFile(TORCHAUDIO_WHEEL) as wheel:
            for member in wheel.namelist():
                if member.startswith(
                    ("torchaudio/compliance/", "torchaudio/functional/", "torchaudio/_internal/")
                ):
                    wheel.extract(member, TORCHAUDIO_DIR)
    torchaudio = _package("torchaudio", TORCHAUDIO_DIR / "torchaudio")
    extension = types.ModuleType("torchaudio._extension")
    extension._IS_TORCHAUDIO_EXT_AVAILABLE = False  # type: ignore[attr-defined]
    extension.fail_if_no_align = lambda function: function  # type: ignore[attr-defined]
    sys.modules["torchaudio._extension"] = extension
    import torchaudio.compliance.kaldi as kaldi  # noqa: E402  (the real file)
    import torchaudio.functional as functional  # noqa: E402

    torchaudio.compliance = sys.modules["torchaudio.compliance"]  # type: ignore[attr-defined]
    torchaudio.compliance.kaldi = kaldi  # type: ignore[attr-defined]
    torchaudio.functional = functional  # type: ignore[attr-defined]

    def load(path: str) -> tuple[torch.Tensor, int]:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
        return torch.from_numpy(np.ascontiguousarray(samples.T)), rate

    torchaudio.load = load  # type: ignore[attr-defined]
    return torchaudio


def load_pytorchvideo() -> types.SimpleNamespace:
    """The pinned pytorchvideo files, as modules, with no other part of the package."""
    root = PYTORCHVIDEO_DIR / "pytorchvideo"
    package = _package("pytorchvideo", root)
    package.data = _package("pytorchvideo.data", root / "data")  # type: ignore[attr-defined]
    package.transforms = _package("pytorchvideo.transforms", root / "transforms")  # type: ignore[attr-defined]
    utils = types.ModuleType("pytorchvideo.data.utils")
    utils.thwc_to_cthw = lambda x: x.permute(3, 0, 1, 2)  # type: ignore[attr-defined]
    sys.modules["pytorchvideo.data.utils"] = utils
    video = types.ModuleType("pytorchvideo.data.video")
    video.Video = object  # type: ignore[attr-defined]
    sys.modules["pytorchvideo.data.video"] = video
    clip_sampling = _load("pytorchvideo.data.clip_sampling", root / "data" / "clip_sampling.py")
    decord_video = _load(
        "pytorchvideo.data.encoded_video_decord", root / "data" / "encoded_video_decord.py"
    )
    functional = _load("pytorchvideo.transforms.functional", root / "transforms" / "functional.py")
    sys.modules["pytorchvideo.transforms"].functional = functional  # type: ignore[attr-defined]
    _torchvision_stand_in()
    transforms = _load("pytorchvideo.transforms.transforms", root / "transforms" / "transforms.py")
    return types.SimpleNamespace(
        clip_sampling=clip_sampling,
        decord_video=decord_video,
        functional=functional,
        transforms=transforms,
    )


def _torchvision_stand_in() -> None:
    if "torchvision" in sys.modules:
        return
    torchvision = _package("torchvision")
    transforms = types.ModuleType("torchvision.transforms")

    class Compose:
        def __init__(self, steps):  # type: ignore[no-untyped-def]
            self.steps = steps

        def __call__(self, x):  # type: ignore[no-untyped-def]
            for step in self.steps:
                x = step(x)
            return x

    class Normalize:  # torchvision.transforms.functional.normalize on a tensor
        def __init__(self, mean, std):  # type: ignore[no-untyped-def]
            self.mean, self.std = mean, std

        def __call__(self, tensor):  # type: ignore[no-untyped-def]
            tensor = tensor.clone()
            mean = torch.as_tensor(self.mean, dtype=tensor.dtype)
            std = torch.as_tensor(self.std, dtype=tensor.dtype)
            if mean.ndim == 1:
                mean = mean.view(-1, 1, 1)
            if std.ndim == 1:
                std = std.view(-1, 1, 1)
            return tensor.sub_(mean).div_(std)

    transforms.Compose = Compose  # type: ignore[attr-defined]
    transforms.Normalize = Normalize  # type: ignore[attr-defined]
    transforms.InterpolationMode = types.SimpleNamespace(BICUBIC="bicubic")  # type: ignore[attr-defined]
    transforms.functional = types.SimpleNamespace(hflip=lambda x: x.flip(-1))  # type: ignore[attr-defined]
    torchvision.transforms = transforms  # type: ignore[attr-defined]
    sys.modules["torchvision.transforms"] = transforms


def load_imagebind_data(pv: types.SimpleNamespace) -> types.ModuleType:
    """ImageBind's `data.py`, unmodified, over the pieces loaded above."""
    load_torchaudio()
    pkg_resources = types.ModuleType("pkg_resources")
    pkg_resources.resource_filename = lambda *parts: ""  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = pkg_resources
    _package("imagebind")
    _package("imagebind.models")
    preprocessors = types.ModuleType("imagebind.models.multimodal_preprocessors")
    preprocessors.SimpleTokenizer = None  # type: ignore[attr-defined]
    sys.modules["imagebind.models.multimodal_preprocessors"] = preprocessors
    pv_transforms = sys.modules["pytorchvideo.transforms"]
    pv_transforms.ShortSideScale = pv.transforms.ShortSideScale  # type: ignore[attr-defined]
    pv_transforms.UniformTemporalSubsample = pv.transforms.UniformTemporalSubsample  # type: ignore[attr-defined]
    encoded_video = types.ModuleType("pytorchvideo.data.encoded_video")
    encoded_video.EncodedVideo = None  # type: ignore[attr-defined]
    sys.modules["pytorchvideo.data.encoded_video"] = encoded_video
    return _load("imagebind_reference_data", IMAGEBIND_DATA)


# --- deterministic inputs ----------------------------------------------------------------------


def tone(rate: int, seconds: float, *freqs: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * sum(np.sin(2 * np.pi * f * t) for f in freqs)).astype(np.float32)


def sweep(rate: int, seconds: float, low: float, high: float) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    k = math.log(high / low) / seconds
    return (0.5 * np.sin(2 * np.pi * low * (np.exp(k * t) - 1) / k)).astype(np.float32)


def noise(rate: int, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(round(rate * seconds))).astype(np.float32)


def click(rate: int, seconds: float) -> np.ndarray:
    signal = np.zeros(round(rate * seconds), dtype=np.float32)
    signal[len(signal) // 2] = 0.9
    return signal


def fbank_cases() -> dict[str, tuple[np.ndarray, int]]:
    """name -> ((channels, samples) float32, sample rate) for the fbank parity test."""
    return {
        "sweep_16k": (sweep(16000, 1.0, 20, 7900)[None], 16000),
        "two_tone_16k": (tone(16000, 0.5, 440, 3000)[None], 16000),
        "noise_16k_seed0": (noise(16000, 0.5, 0)[None], 16000),
        "silence_click_16k": (click(16000, 0.3)[None], 16000),
        "stereo_16k": (np.stack([tone(16000, 0.3, 1000), noise(16000, 0.3, 1)]), 16000),
        "dc_offset_16k": ((tone(16000, 0.3, 250) + 0.5)[None], 16000),
        "one_frame_400": (noise(16000, 400 / 16000, 2)[None], 16000),
        "one_frame_559": (noise(16000, 559 / 16000, 3)[None], 16000),
        "two_tone_8k": (tone(8000, 0.5, 300, 2500)[None], 8000),
        "sweep_22k": (sweep(22050, 0.5, 50, 10000)[None], 22050),
        # resampled first (soxr, as binding.preprocess.audio.resample) then fbank at 16 kHz
        "two_tone_44k_soxr": (tone(44100, 0.5, 440, 6000)[None], 44100),
    }


def preprocess_cases() -> dict[str, tuple[np.ndarray, int]]:
    """name -> ((channels, samples) int16, rate) WAV contents for the whole-path test."""

    def pcm(x: np.ndarray) -> np.ndarray:
        return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)

    return {
        "short_1s": (pcm(tone(16000, 1.0, 440, 1200))[None], 16000),
        "overlap_3p7s": (pcm(sweep(16000, 3.7, 40, 7000))[None], 16000),
        "stereo_10p3s": (
            pcm(np.stack([tone(16000, 10.3, 330, 2000), tone(16000, 10.3, 5000) + 0.2])),
            16000,
        ),
        "resample_44k_2p5s": (pcm(tone(44100, 2.5, 440, 3000, 7000, amplitude=0.2))[None], 44100),
    }


AUDIO_DURATIONS = [0.01, 0.5, 1.0, 1.9999375, 2.0, 2.0000625, 3.7, 4.0, 10.3, 61.23, 3600.5]
VIDEO_CASES = [
    (150, 25.0),
    (48, 24.0),
    (301, 30000 / 1001),
    (30, 30.0),
    (1, 30.0),
    (61, 30.0),
    (125, 12.5),
    (10000, 60000 / 1001),
    (7, 2.0),
]


def video_frames(height: int, width: int, frames: int, offset: int) -> list[np.ndarray]:
    """Deterministic (H, W, 3) uint8 frames from integer arithmetic only."""
    y, x = np.mgrid[0:height, 0:width]
    out = []
    for t in range(frames):
        channels = [(x * 3 + y * 5 + t * 17 + c * 50 + offset) % 256 for c in range(3)]
        channels[1] = (channels[1] * 7 + (x // 8 + y // 8) * 31) % 256
        out.append(np.stack(channels, axis=-1).astype(np.uint8))
    return out


VIDEO_SHAPES = {
    "landscape_90x160": (90, 160),
    "portrait_120x68": (120, 68),
    "square_50x50": (50, 50),
}
PIXEL_STRIDE = 9


# --- fixtures -----------------------------------------------------------------------------------


def make_fbank(torchaudio: types.ModuleType) -> dict[str, np.ndarray]:
    from binding.preprocess.audio import resample

    arrays: dict[str, np.ndarray] = {}
    for name, (signal, rate) in fbank_cases().items():
        waveform, fbank_rate = signal, rate
        if name.endswith("_soxr"):
            waveform, fbank_rate = resample(signal, rate, 16000), 16000
        reference = torchaudio.compliance.kaldi.fbank(
            torch.from_numpy(waveform), sample_frequency=fbank_rate, **KALDI_ARGS
        )
        arrays[f"{name}/input"] = signal
        arrays[f"{name}/rate"] = np.array(rate)
        arrays[f"{name}/fbank"] = reference.numpy()
    return arrays


def make_preprocess(data: types.ModuleType, workdir: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for name, (pcm, rate) in preprocess_cases().items():
        path = workdir / f"{name}.wav"
        soundfile.write(path, pcm.T, rate, subtype="PCM_16")
        reference = data.load_and_transform_audio_data([str(path)], "cpu")[0]  # (3, 1, 128, 204)
        arrays[f"{name}/pcm"] = pcm
        arrays[f"{name}/rate"] = np.array(rate)
        arrays[f"{name}/output"] = reference.numpy()
    return arrays


def make_timepoints(data: types.ModuleType, pv: types.SimpleNamespace) -> dict[str, list]:
    sampler = pv.clip_sampling.ConstantClipsPerVideoSampler(clip_duration=2, clips_per_video=3)
    audio = []
    for duration in AUDIO_DURATIONS:
        frames = round(duration * 16000)
        windows = data.get_clip_timepoints(sampler, frames / 16000)
        audio.append(
            {
                "frames": frames,
                "windows": [[str(Fraction(s)), str(Fraction(e))] for s, e in windows],
                "bounds": [[int(s * 16000), int(e * 16000)] for s, e in windows],
            }
        )
    video_sampler = pv.clip_sampling.ConstantClipsPerVideoSampler(
        clip_duration=2, clips_per_video=5
    )
    subsample = pv.transforms.UniformTemporalSubsample(num_samples=2)
    video = []
    for frame_count, fps in VIDEO_CASES:
        decoder = object.__new__(pv.decord_video.EncodedVideoDecord)
        decoder._fps, decoder._decode_audio, decoder._video_name = fps, False, "synthetic"
        decoder._duration = float(frame_count) / float(fps)
        decoder._av_reader = _IndexReader(frame_count)
        clips = []
        for start, end in data.get_clip_timepoints(video_sampler, decoder.duration):
            clip = decoder.get_clip(start, end)["video"]  # (1, T, 1, 1): frame indices
            clips.append([int(v) for v in subsample(clip).flatten().tolist()])
        video.append({"frame_count": frame_count, "fps": fps, "indices": clips})
    return {"audio": audio, "video": video}


class _IndexReader:
    """Stands in for decord's VideoReader: frame i is a 1x1x1 image holding the number i."""

    def __init__(self, frames: int) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return self.frames

    def get_batch(self, indices: list[int]) -> torch.Tensor:
        return torch.tensor(indices, dtype=torch.float32).view(-1, 1, 1, 1)  # (T, H, W, C)


def make_video_transform(
    data: types.ModuleType, pv: types.SimpleNamespace
) -> dict[str, np.ndarray]:
    transform = data.transforms.Compose(
        [
            pv.transforms.ShortSideScale(224),
            data.NormalizeVideo(
                mean=(0.48145466, 0.4578275, 0.40821073),
                std=(0.26862954, 0.26130258, 0.27577711),
            ),
        ]
    )
    arrays: dict[str, np.ndarray] = {}
    for offset, (name, (height, width)) in enumerate(VIDEO_SHAPES.items()):
        frames = video_frames(height, width, 4, offset * 40)
        clips = []
        for pair in (frames[:2], frames[2:]):
            clip = torch.from_numpy(np.stack(pair)).float()  # (T, H, W, C) as decord
            clip = clip.permute(3, 0, 1, 2) / 255.0  # thwc_to_cthw, then data.py's / 255.0
            clips.append(transform(clip))
        output = torch.stack(data.SpatialCrop(224, num_crops=3)(clips))  # (6, 3, 2, 224, 224)
        arrays[f"{name}/shape"] = np.array([height, width, 40 * offset])
        arrays[f"{name}/strided"] = output[..., ::PIXEL_STRIDE, ::PIXEL_STRIDE].numpy()
        arrays[f"{name}/crop_sums"] = output.double().sum(dim=(1, 2, 3, 4)).numpy()
    return arrays


def compare(fbank: dict, preprocess: dict, torchaudio: types.ModuleType) -> None:
    from binding.io.audio import Audio
    from binding.preprocess.audio import fbank as our_fbank
    from binding.preprocess.audio import preprocess_audio, resample

    for name, (signal, rate) in fbank_cases().items():
        waveform, fbank_rate = signal, rate
        if name.endswith("_soxr"):
            waveform, fbank_rate = resample(signal, rate, 16000), 16000
        ours = our_fbank(torch.from_numpy(waveform), fbank_rate).numpy()
        error = np.abs(ours - fbank[f"{name}/fbank"]).max()
        print(f"fbank {name:24s} frames={ours.shape[0]:4d} max abs error {error:.3g}")
    for name, (pcm, rate) in preprocess_cases().items():
        audio = Audio((pcm / 32768.0).astype(np.float32), rate, name)
        ours = preprocess_audio(audio).numpy()
        error = np.abs(ours - preprocess[f"{name}/output"])
        print(f"path  {name:24s} max abs error {error.max():.3g} mean {error.mean():.3g}")
    # The reference's own resampler against soxr, at the fbank level, for the record.
    signal, rate = fbank_cases()["two_tone_44k_soxr"]
    theirs = torchaudio.functional.resample(torch.from_numpy(signal), rate, 16000)
    reference = torchaudio.compliance.kaldi.fbank(theirs, sample_frequency=16000, **KALDI_ARGS)
    error = np.abs(reference.numpy() - fbank["two_tone_44k_soxr/fbank"])
    print(f"torchaudio resample vs soxr (fbank of the 44.1 kHz two-tone): max {error.max():.3g}")


def main() -> None:
    logging.getLogger().setLevel(logging.ERROR)  # data.py warns about every padded clip
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    args = parser.parse_args()
    torch.manual_seed(0)
    pv = load_pytorchvideo()
    data = load_imagebind_data(pv)
    torchaudio = sys.modules["torchaudio"]
    with tempfile.TemporaryDirectory() as workdir:
        fbank = make_fbank(torchaudio)
        preprocess = make_preprocess(data, Path(workdir))
    timepoints = make_timepoints(data, pv)
    video = make_video_transform(data, pv)
    compare(fbank, preprocess, torchaudio)
    if args.check:
        return
    AUDIO_FIXTURES.mkdir(parents=True, exist_ok=True)
    VIDEO_FIXTURES.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(AUDIO_FIXTURES / "fbank_reference.npz", **fbank)
    np.savez_compressed(AUDIO_FIXTURES / "preprocess_reference.npz", **preprocess)
    (AUDIO_FIXTURES / "clip_timepoints.json").write_text(json.dumps(timepoints, indent=1) + "\n")
    np.savez_compressed(VIDEO_FIXTURES / "transform_reference.npz", **video)
    for path in sorted([*AUDIO_FIXTURES.iterdir(), *VIDEO_FIXTURES.iterdir()]):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()

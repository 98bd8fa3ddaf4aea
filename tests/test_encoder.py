"""The encoder: batching, clip averaging, precision, devices and errors, on the tiny model."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from binding.encoder import Encoder, resolve_device
from binding.errors import ConfigurationError, InputError
from binding.inputs import prepare


def _png(color: tuple[int, int, int], size: tuple[int, int] = (300, 200)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], 7):  # some structure, so images differ beyond their mean
        image.putpixel((x, (x * 3) % size[1]), (255 - color[0], 0, color[2]))
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _wav(seconds: float, freq: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.3 * np.sin(2 * np.pi * freq * t), rate, format="WAV")
    return buffer.getvalue()


def _imu_csv(seconds: float, rate: int = 400) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    rows = ["time,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z"]
    for i, ti in enumerate(t):
        values = [np.sin(ti * k + i * 1e-3) for k in range(1, 7)]
        rows.append(f"{ti:.6f}," + ",".join(f"{v:.6f}" for v in values))
    return ("\n".join(rows) + "\n").encode()


def test_rows_are_unit_vectors_and_raw_keeps_the_reference_scale(tiny_encoder: Encoder) -> None:
    texts = ["a dog on a beach", "a cat indoors", ""]
    unit = tiny_encoder.embed("text", texts)
    raw = tiny_encoder.embed("text", texts, normalize=False)
    assert unit.shape == (3, 32) and unit.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), unit, atol=1e-5)
    # audio's postprocessor scales unit vectors by 20 (imagebind.md), a single clip stays at 20
    audio_raw = tiny_encoder.embed("audio", [_wav(1.0, 440.0)], normalize=False)
    assert np.linalg.norm(audio_raw) <= 20.0 + 1e-3


def test_matches_the_network_forward_with_reference_semantics(tiny_encoder: Encoder) -> None:
    """The encoder's batching and clip averaging equal one forward of the whole input."""
    images = [_png((200, 30, 30)), _png((20, 200, 30), (200, 300)), _png((10, 10, 220))]
    ours = tiny_encoder.embed("image", images, normalize=False)
    batch = torch.cat(prepare("image", images))  # (3, 3, 224, 224)
    with torch.inference_mode():
        expected = tiny_encoder.network({"vision": batch})["vision"].numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-5)

    # audio: three clips per file, averaged by the model when given as [B, S, ...]
    sounds = [_wav(3.0, 220.0), _wav(0.5, 880.0)]
    ours = tiny_encoder.embed("audio", sounds, normalize=False)
    clips = torch.stack(prepare("audio", sounds))  # (2, 3, 1, 128, 204)
    with torch.inference_mode():
        expected = tiny_encoder.network({"audio": clips})["audio"].numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_batch_size_does_not_change_results(tiny_encoder: Encoder) -> None:
    images = [_png((i * 40 % 255, 100, 200 - i * 30)) for i in range(5)]
    default = tiny_encoder.embed("image", images)
    single = Encoder(
        tiny_encoder.network,
        model_name="imagebind_tiny",
        dim=32,
        device=torch.device("cpu"),
        batch_size=1,
    ).embed("image", images)
    np.testing.assert_allclose(single, default, atol=1e-5)


def test_long_imu_recording_averages_its_windows(tiny_encoder: Encoder) -> None:
    recording = _imu_csv(12.0)  # 12 s at 400 Hz: windows at 0, 5 and 10 s (the last padded)
    windows = prepare("imu", [recording])[0]
    assert windows.shape == (3, 6, 2000)
    vector = tiny_encoder.embed("imu", [recording], normalize=False)[0]
    per_window = tiny_encoder.embed("imu", list(windows), normalize=False)
    np.testing.assert_allclose(vector, per_window.mean(axis=0), atol=1e-5)


def test_progress_counts_every_input_once(tiny_encoder: Encoder) -> None:
    seen: list[int] = []
    sounds = [_wav(2.5, 100.0 * (i + 1)) for i in range(4)]
    tiny_encoder.embed("audio", sounds, progress=seen.append)
    assert sum(seen) == 4


def test_bad_input_names_the_file(tiny_encoder: Encoder, tmp_path) -> None:
    broken = tmp_path / "holiday.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(InputError, match="holiday.jpg"):
        tiny_encoder.embed("image", [broken])
    with pytest.raises(InputError):
        tiny_encoder.embed("text", [b"bytes are not text"])
    with pytest.raises(InputError):
        tiny_encoder.embed("image", "a single string is not a list")


def test_prepared_tensors_are_accepted_as_they_are(tiny_encoder: Encoder) -> None:
    depth = torch.randn(1, 224, 224)
    with_clip_axis = depth.unsqueeze(0)
    a = tiny_encoder.embed("depth", [depth])
    b = tiny_encoder.embed("depth", [with_clip_axis])
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(InputError, match=r"\(1, 224, 224\)"):
        tiny_encoder.embed("depth", [torch.zeros(3, 224, 224)])


def test_fast_cpu_modes_stay_close_to_fp32(tiny_encoder: Encoder) -> None:
    images = [_png((200, 30, 30)), _png((20, 200, 30))]
    reference = tiny_encoder.embed("image", images)
    for precision in ("bf16", "int8"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = Encoder.load("imagebind_tiny", seed=0, device="cpu", precision=precision)
        vectors = fast.embed("image", images)
        cosine = np.sum(vectors * reference, axis=1)
        assert cosine.min() > 0.95, (precision, cosine)


def test_subset_builds_only_the_towers_needed() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text_only = Encoder.load("imagebind_tiny", modalities=["text"], seed=0, device="cpu")
    keys = {key.split(".")[1] for key in text_only.network.state_dict()}
    assert keys == {"text"}
    assert text_only.embed("text", ["hello"]).shape == (1, 32)


def test_devices_and_precisions_that_cannot_work_say_so(tiny_encoder: Encoder) -> None:
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="CUDA"):
            resolve_device("cuda")
    with pytest.raises(ConfigurationError, match="bf16"):
        Encoder(
            tiny_encoder.network,
            model_name="imagebind_tiny",
            dim=32,
            device=torch.device("cpu"),
            precision="fp16",
        )


def _mp4(path, seconds: float = 3.0, fps: int = 10) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(int(seconds * fps)):
            frame = np.zeros((120, 160, 3), dtype=np.uint8)
            frame[:, : (index * 5) % 160] = (200, 80, 20)  # a bar that grows
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_video_averages_its_fifteen_clips(tiny_encoder: Encoder, tmp_path) -> None:
    clip = tmp_path / "clip.mp4"
    _mp4(clip)
    prepared = prepare("video", [clip])[0]
    assert prepared.shape == (15, 3, 2, 224, 224)
    ours = tiny_encoder.embed("video", [clip, clip], normalize=False)
    with torch.inference_mode():
        expected = tiny_encoder.network({"vision": prepared.unsqueeze(0)})["vision"].numpy()
    np.testing.assert_allclose(ours[0], expected[0], atol=1e-5)
    np.testing.assert_allclose(ours[1], ours[0], atol=1e-6)

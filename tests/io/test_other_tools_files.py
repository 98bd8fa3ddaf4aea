"""Files from other tools' sample sets (issue 13.13): IMU CSVs whose headers spell the
channels another common way, recordings shorter than one 5 s window, and depth maps saved
as 8-bit images (gray PNG, gray JPEG, gray saved as RGB JPEG), as monocular depth
estimators write them. Each file is generated here in that shape and read for real."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from binding.errors import InputError
from binding.io.depth import RELATIVE_DISPARITY_MAX, decode_depth
from binding.io.imu import decode_imu
from binding.io.sniff import detect_modality
from binding.modality import Modality

RATE = 200


def _imu_csv(
    path: Path, header: list[str], seconds: float, *, time: str | None = None
) -> np.ndarray:
    """A CSV with `header` (acc x, y, z then gyro x, y, z, in this order); returns (6, T)."""
    count = round(seconds * RATE)
    values = np.random.default_rng(0).standard_normal((6, count)).round(4)
    values[2] += 9.81  # gravity on z: tells the accelerometer's z from the rest
    lines = [",".join(([time] if time else []) + header)]
    for i in range(count):
        fields = [f"{1000 * i / RATE:.1f}"] if time else []
        lines.append(",".join(fields + [f"{v:.4f}" for v in values[:, i]]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return values


HEADERS = {
    "ego4d": ["accl_x", "accl_y", "accl_z", "gyro_x", "gyro_y", "gyro_z"],
    "accel": ["accel_x", "accel_y", "accel_z", "gyr_x", "gyr_y", "gyr_z"],
    "short_names": ["ax", "ay", "az", "gx", "gy", "gz"],
    "units": [
        "accl_x [m/s^2]",
        "accl_y [m/s^2]",
        "accl_z [m/s^2]",
        "Gyr X (rad/s)",
        "Gyr Y (rad/s)",
        "Gyr Z (rad/s)",
    ],  # fmt: skip
}


@pytest.mark.parametrize("kind", sorted(HEADERS))
def test_imu_header_aliases(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "imu" / f"{kind}.csv"
    time = "component_timestamp_ms" if kind == "ego4d" else None
    values = _imu_csv(path, HEADERS[kind], 6.0, time=time)
    assert detect_modality(path) is Modality.IMU
    recording = decode_imu(path)
    assert recording.samples.shape == values.shape
    np.testing.assert_allclose(recording.samples, values, atol=1e-4)  # channels in order
    if time:  # Ego4D's millisecond clock gives the rate
        assert recording.sample_rate == pytest.approx(RATE)


def test_ego4d_column_order_is_read_by_name(tmp_path: Path) -> None:
    path = tmp_path / "imu" / "ego4d_order.csv"
    path.parent.mkdir()
    path.write_text(
        "component_timestamp_ms,canonical_timestamp_ms,gyro_x,gyro_y,gyro_z,accl_x,accl_y,accl_z\n"
        + "".join(f"{5 * i},{5 * i + 7},0.1,0.2,0.3,1,2,9.8\n" for i in range(400))
    )
    recording = decode_imu(path)
    assert recording.samples[:, 0].tolist() == pytest.approx([1, 2, 9.8, 0.1, 0.2, 0.3])
    assert recording.sample_rate == pytest.approx(200)


def test_an_unknown_header_is_named_without_a_folder_hint(tmp_path: Path) -> None:
    path = tmp_path / "imu" / "odd.csv"
    _imu_csv(path, ["u", "v", "w", "p", "q", "r"], 1.0)
    with pytest.raises(InputError) as caught:
        detect_modality(path)
    message = str(caught.value)
    assert "['u', 'v', 'w'" in message and "accl_x" in message and "folder" not in message


def test_short_recordings_are_padded_and_marked(tiny_engine: object, tmp_path: Path) -> None:
    from binding.api import Engine

    assert isinstance(tiny_engine, Engine)
    for name, seconds in (("two_seconds", 2.0), ("full", 5.0), ("blink", 0.3)):
        _imu_csv(tmp_path / "imu" / f"{name}.csv", HEADERS["ego4d"], seconds, time="time_ms")
    report = tiny_engine.ingest([tmp_path / "imu"])
    status = {Path(o.source).name: o for o in report.files}
    assert status["two_seconds.csv"].status == "embedded"
    assert status["blink.csv"].status == "rejected" and "0.5 s" in (
        status["blink.csv"].reason or ""
    )
    payloads = {p.payload["name"]: p.payload for p in tiny_engine.scroll()}
    assert payloads["two_seconds.csv"]["padded_s"] == pytest.approx(3.0)
    assert "padded_s" not in payloads["full.csv"]


def _encoded(array: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=90) if fmt == "JPEG" else image.save(buffer, fmt)
    return buffer.getvalue()


def _estimated_depth() -> np.ndarray:
    """What a monocular estimator writes: 8-bit inverse depth, bright = near (left)."""
    return np.tile(np.linspace(255, 20, 64).astype(np.uint8), (48, 1))


@pytest.mark.parametrize(
    ("name", "fmt", "mode"),
    [("gray.png", "PNG", None), ("gray.jpg", "JPEG", None), ("rgb.jpg", "JPEG", "RGB")],
)
def test_8_bit_depth_images_are_relative_disparity(
    name: str, fmt: str, mode: str | None, tmp_path: Path
) -> None:
    path = tmp_path / "depth" / name
    path.parent.mkdir()
    path.write_bytes(_encoded(_estimated_depth(), fmt, mode))
    decoded = decode_depth(path)
    assert decoded.is_disparity and decoded.values.shape == (48, 64)
    row = decoded.values[24]
    assert row[0] == pytest.approx(RELATIVE_DISPARITY_MAX, abs=0.3)  # 255: nearest
    assert row[-1] == pytest.approx(20 / 255 * RELATIVE_DISPARITY_MAX, abs=0.3)
    assert np.all(np.diff(row[2:-2]) <= 0.2)  # near to far, JPEG noise aside


def test_a_colour_mapped_depth_picture_is_still_refused(tmp_path: Path) -> None:
    ramp = _estimated_depth()
    coloured = np.stack([ramp, 255 - ramp, np.full_like(ramp, 128)], axis=-1)  # a colour map
    with pytest.raises(InputError, match="picture of depth"):
        decode_depth(_encoded(coloured, "JPEG"), name="turbo.jpg")


def test_8_bit_depth_files_ingest_under_a_depth_folder(tiny_engine: object, tmp_path: Path) -> None:
    from binding.api import Engine

    assert isinstance(tiny_engine, Engine)
    folder = tmp_path / "depth"
    folder.mkdir()
    (folder / "a.png").write_bytes(_encoded(_estimated_depth(), "PNG"))
    (folder / "b.jpg").write_bytes(_encoded(_estimated_depth()[:, ::-1].copy(), "JPEG", "RGB"))
    report = tiny_engine.ingest([folder])
    assert report.counts["embedded"] == 2, [o.reason for o in report.rejected]
    assert {p.payload["modality"] for p in tiny_engine.scroll()} == {"depth"}

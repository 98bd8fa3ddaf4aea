"""Audio decoding: real files of every supported format, and bad input rejected fast and small (R9, R15)."""

from __future__ import annotations

import io
import resource
import struct
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binding.errors import InputError
from binding.io.audio import MAX_AUDIO_CHANNELS, Audio, decode_audio, decode_audio_track

RATE = 16_000


def tone(seconds: float, rate: int = RATE, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encode(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    """Bytes of a sound file written by libsndfile; `samples` is (frames,) or (frames, channels)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def encode_m4a(samples: np.ndarray, rate: int) -> bytes:
    """AAC in an MP4 (.m4a) container, written by FFmpeg."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def wav_header(*, channels: int = 1, rate: int = RATE, bits: int = 16, data_size: int) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH", 1, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits
    )
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_size)
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + body


# --- good files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate", "tolerance"),
    [
        ("WAV", "PCM_16", 16_000, 1e-4),
        ("WAV", "FLOAT", 44_100, 1e-7),
        ("FLAC", "PCM_24", 48_000, 1e-6),
        ("OGG", "VORBIS", 22_050, None),
        ("OGG", "OPUS", 48_000, None),
        ("MP3", "MPEG_LAYER_III", 44_100, None),
    ],
)
def test_decodes_every_libsndfile_format(
    fmt: str, subtype: str, rate: int, tolerance: float | None
) -> None:
    # This machine's libsndfile (1.2.2, bundled with soundfile) decodes MP3 and Opus.
    signal = tone(1.0, rate)
    audio = decode_audio(encode(signal, rate, fmt, subtype), name=f"tone.{fmt.lower()}")
    assert audio.sample_rate == rate
    assert audio.samples.dtype == np.float32 and audio.samples.shape[0] == 1
    assert audio.source == f"tone.{fmt.lower()}"
    if tolerance is not None:  # lossless: the very samples come back
        assert audio.frames == len(signal)
        np.testing.assert_allclose(audio.samples[0], signal, atol=tolerance)
    else:  # lossy codecs: same length (within codec padding), and clearly the same tone
        assert abs(audio.frames - len(signal)) <= 2048
        spectrum = np.abs(np.fft.rfft(audio.samples[0]))
        assert abs(np.argmax(spectrum) * audio.sample_rate / audio.frames - 440) < 5


def test_keeps_channels_apart_and_reads_paths(tmp_path: Path) -> None:
    stereo = np.stack([tone(0.5), tone(0.5, freq=1000) * 0.5], axis=1)  # (frames, 2)
    path = tmp_path / "stereo.flac"
    path.write_bytes(encode(stereo, RATE, "FLAC"))
    audio = decode_audio(path)
    assert audio.samples.shape == (2, len(stereo))
    assert audio.channels == 2 and audio.duration_s == pytest.approx(0.5)
    np.testing.assert_allclose(audio.samples.T, stereo, atol=1e-4)
    assert audio.source == str(path)


def test_m4a_aac_goes_through_ffmpeg() -> None:
    # libsndfile cannot read AAC; the M4A is recognised by its bytes and decoded with PyAV.
    signal = tone(1.0)
    m4a = encode_m4a(signal, RATE)
    with pytest.raises(soundfile.LibsndfileError):
        soundfile.read(io.BytesIO(m4a))
    audio = decode_audio(m4a, name="voice.m4a")
    assert audio.sample_rate == RATE and audio.channels == 1
    assert abs(audio.frames - len(signal)) <= 2048
    assert audio is not None and isinstance(audio, Audio)
    assert decode_audio_track(m4a).sample_rate == RATE


# --- bad files (R9): each an InputError naming the file, fast, without large allocations ----------


def _giant_data_wav() -> bytes:  # the 52-byte WAV whose data chunk claims 4 GiB
    return wav_header(data_size=0xFFFFFFFF) + b"\x00" * 8


def _giant_channels_wav() -> bytes:
    return wav_header(channels=65535, data_size=8) + b"\x00" * 8


def _truncated_wav() -> bytes:
    whole = encode(tone(1.0), RATE, "WAV", "PCM_16")
    return whole[: len(whole) // 2]


def _truncated_flac() -> bytes:
    whole = encode(tone(1.0), RATE, "FLAC")
    return whole[: len(whole) // 2]


def _truncated_mp3() -> bytes:
    whole = encode(tone(3.0), RATE, "MP3")
    return whole[: len(whole) * 3 // 4]


def _ten_ms_clip() -> bytes:
    return encode(tone(0.010), RATE, "WAV", "PCM_16")


def _nan_wav() -> bytes:
    signal = tone(0.5)
    signal[100] = np.nan
    return encode(signal, RATE, "WAV", "FLOAT")


def _random_bytes() -> bytes:
    return np.random.default_rng(0).bytes(4096)


def _mp3_garbage() -> bytes:
    return b"ID3\x03\x00\x00\x00\x00\x00\x00" + np.random.default_rng(1).bytes(4096)


def _mp3_sync_garbage() -> bytes:
    return b"\xff\xfb\x90\x00" + np.random.default_rng(2).bytes(4096)


def _header_only_wav() -> bytes:
    return wav_header(data_size=0)


def _zero_rate_wav() -> bytes:
    return wav_header(rate=0, data_size=8) + b"\x00" * 8


def _m4a_without_audio() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), index * 40, np.uint8))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


BAD_AUDIO: dict[str, tuple[Callable[[], bytes], str]] = {
    "giant_data_chunk.wav": (_giant_data_wav, "truncated WAV"),
    "giant_channels.wav": (_giant_channels_wav, "channels"),
    "truncated.wav": (_truncated_wav, "truncated WAV"),
    "truncated.flac": (_truncated_flac, "not a readable audio file"),
    "truncated.mp3": (_truncated_mp3, "truncated"),
    "ten_ms.wav": (_ten_ms_clip, "too short: 10.0 ms"),
    "nan.wav": (_nan_wav, "NaN"),
    "random.wav": (_random_bytes, "not a readable audio file"),
    "garbage.mp3": (_mp3_garbage, "not a readable audio file"),
    "sync_garbage.mp3": (_mp3_sync_garbage, "not a readable audio file"),
    "header_only.wav": (_header_only_wav, "no audio samples"),
    "zero_rate.wav": (_zero_rate_wav, "sample rate"),
    "video_only.m4a": (_m4a_without_audio, "no audio stream"),
    "empty.wav": (lambda: b"", "empty file"),
}


@pytest.mark.parametrize("name", sorted(BAD_AUDIO))
def test_bad_audio_is_rejected_quickly_and_small(name: str, tmp_path: Path) -> None:
    make, reason = BAD_AUDIO[name]
    content = make()
    path = tmp_path / name
    path.write_bytes(content)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(InputError) as caught:
        decode_audio(path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert str(path) in str(caught.value) and reason in str(caught.value)
    assert elapsed < 1.0, f"{name}: {elapsed:.2f} s"
    assert peak < 16 * 2**20, f"{name}: Python peak {peak / 2**20:.1f} MiB"
    assert rss_growth_mib < 64, f"{name}: RSS grew by {rss_growth_mib:.0f} MiB"
    # and the same from bytes, named by `name`
    with pytest.raises(InputError, match=name.replace(".", r"\.")):
        decode_audio(content, name=name)


def test_limits_are_checked_before_decoding() -> None:
    long = encode(tone(2.0), RATE, "WAV", "PCM_16")
    with pytest.raises(InputError, match="too long: 32,000 frames x 1 channels"):
        decode_audio(long, name="long.wav", max_samples=RATE)
    assert MAX_AUDIO_CHANNELS >= 8
    with pytest.raises(InputError, match="no such file"):
        decode_audio(Path("/nonexistent/sound.wav"))


# --- fuzzing (R15): only InputError may escape ----------------------------------------------------

_SEEDS = [
    encode(tone(0.1), RATE, "WAV", "PCM_16"),
    encode(tone(0.1), RATE, "FLAC"),
    encode(tone(0.2), RATE, "OGG", "VORBIS"),
    encode(tone(0.2), RATE, "MP3"),
    _giant_data_wav(),
]


@st.composite
def mutated_audio(draw: st.DrawFn) -> bytes:
    content = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        position = draw(st.integers(0, len(content) - 1))
        content[position] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(content)))
    return bytes(content[:cut]) if draw(st.booleans()) else bytes(content)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_audio(), st.binary(max_size=512)))
def test_fuzzed_audio_raises_only_input_error(content: bytes) -> None:
    try:
        audio = decode_audio(content, name="fuzz.bin")
    except InputError as error:
        assert "fuzz.bin" in str(error)
        return
    assert audio.samples.ndim == 2 and audio.samples.dtype == np.float32
    assert np.isfinite(audio.samples).all() and audio.duration_s >= 0.025

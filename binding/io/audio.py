"""Audio decoding: every sound file becomes float32 samples, checked before anything is allocated.

libsndfile (through `soundfile`) decodes WAV, FLAC, Ogg Vorbis, Ogg Opus, MP3 (libsndfile
>= 1.1; this project's wheels ship 1.2.2), AIFF and the other formats it knows. Containers it
cannot read (MP4/M4A with AAC, WebM/Matroska, raw ADTS AAC) go through FFmpeg (PyAV) instead,
which is also how a video's sound track is read (`decode_audio_track`).

Before any sample is decoded the header is checked: sample rate, channel count and
frames x channels against `max_samples`; a WAV whose chunk sizes promise more bytes than the
file holds (the 52-byte "giant header" WAV that makes Python's `wave` module allocate
gigabytes) is refused as truncated. Python's `wave` module is never used.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from binding.errors import InputError
from binding.io.files import read_head, source_name
from binding.io.sniff import FFMPEG_FORMATS, HEAD_BYTES, sniff

#: Most samples (frames x channels) decoded from one file: an hour of 48 kHz mono, 691 MB as
#: float32. Pass `max_samples` to change it.
MAX_AUDIO_SAMPLES = 3600 * 48_000
#: Most channels accepted (7.1 surround has 8; ambisonic 3rd order 16).
MAX_AUDIO_CHANNELS = 32
#: Sample rates accepted; outside this a header is corrupt or the data is not audio.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 768_000
#: Shortest clip accepted: one Kaldi fbank frame is 25 ms (imagebind.md); shorter yields no
#: features at all.
MIN_AUDIO_SECONDS = 0.025
# libmpg123 may report a frame count from the stream header (Xing/LAME) or an estimate from
# the file size; one MPEG frame (1152 samples) plus 0.5% is the slack allowed before
# calling an MP3 truncated.
_MP3_SLACK_FRAMES, _MP3_SLACK_FRACTION = 1152, 0.005


@dataclass(frozen=True)
class Audio:
    """Decoded sound: samples in [-1, 1] at their own rate, all channels kept."""

    samples: np.ndarray  # (channels, frames) float32
    sample_rate: int
    source: str | None = None  # what errors call the file

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _file_argument(source: Path | str | bytes) -> Any:
    """What soundfile and PyAV open: a path string, or the bytes as a file object."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    return os.fspath(source)


def _head_and_size(source: Path | str | bytes, label: str) -> tuple[bytes, int]:
    return read_head(source, label, HEAD_BYTES)


def _check_wav_chunks(head: bytes, size: int, label: str) -> None:
    """Refuse a RIFF/WAVE file whose `fmt ` or `data` chunk promises what the file lacks."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    offset = 12
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (chunk_size,) = struct.unpack_from("<I", head, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt " and body + 16 <= len(head):
            _, channels, rate = struct.unpack_from("<HHI", head, body)
            if channels == 0 or channels > MAX_AUDIO_CHANNELS:
                raise InputError(
                    label, f"WAV header declares {channels} channels (1-{MAX_AUDIO_CHANNELS})"
                )
            if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
                raise InputError(label, f"WAV header declares a sample rate of {rate} Hz")
        if chunk_id == b"data":
            available = size - body
            if chunk_size > available:
                raise InputError(
                    label,
                    f"truncated WAV: its data chunk declares {chunk_size:,} bytes but the "
                    f"file holds {max(available, 0):,}",
                )
            return
        offset = body + chunk_size + (chunk_size & 1)
    if offset > size:
        raise InputError(label, f"truncated WAV: a chunk runs past the end ({size:,} bytes)")


def _libsndfile_reason(error: Exception) -> str:
    # soundfile's messages embed the repr of our BytesIO; its `error_string` is the clean part.
    reason = str(getattr(error, "error_string", None) or error)
    if "not a regular file" in reason:  # what libsndfile says when its MP3 probe gives up
        return "corrupt or unrecognised data"
    return reason


def decode_audio(
    source: Path | str | bytes,
    *,
    name: str | None = None,
    max_samples: int = MAX_AUDIO_SAMPLES,
    min_duration_s: float = MIN_AUDIO_SECONDS,
) -> Audio:
    """Decode a sound file (a path or its bytes) to float32 samples, all channels kept.

    `name` is what errors call an in-memory input. Raises `InputError` naming the file for
    anything that is not a whole, readable recording: empty or truncated files, absurd
    headers, more than `max_samples` samples (frames x channels), fewer than
    `min_duration_s` seconds, NaN or infinite samples, or no audio stream at all.
    """
    label = source_name(source, name)
    head, size = _head_and_size(source, label)
    if size == 0:
        raise InputError(label, "empty file (0 bytes)")
    kind = sniff(head)
    if kind is not None and kind.format in FFMPEG_FORMATS:
        audio = decode_audio_track(source, name=label, max_samples=max_samples)
    else:
        _check_wav_chunks(head, size, label)
        audio = _decode_with_libsndfile(source, label, max_samples)
    if not np.isfinite(audio.samples).all():
        raise InputError(label, "contains NaN or infinite samples")
    if audio.duration_s < min_duration_s:
        raise InputError(
            label,
            f"too short: {audio.duration_s * 1000:.1f} ms of audio; at least "
            f"{min_duration_s * 1000:.0f} ms is needed (one 25 ms filter-bank frame)",
        )
    return audio


def _check_shape(label: str, frames: int, channels: int, rate: int, max_samples: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InputError(
            label, f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE}"
        )
    if not 1 <= channels <= MAX_AUDIO_CHANNELS:
        raise InputError(label, f"{channels} channels (accepted: 1-{MAX_AUDIO_CHANNELS})")
    if frames <= 0:
        raise InputError(label, "no audio samples")
    if frames * channels > max_samples:
        raise InputError(
            label,
            f"too long: {frames:,} frames x {channels} channels ({frames / rate:,.0f} s) is over "
            f"the limit of {max_samples:,} samples (pass max_samples to raise it)",
        )


def _decode_with_libsndfile(source: Path | str | bytes, label: str, max_samples: int) -> Audio:
    file = _file_argument(source)
    try:
        with soundfile.SoundFile(file) as sound:
            frames, channels, rate = sound.frames, sound.channels, sound.samplerate
            _check_shape(label, frames, channels, rate, max_samples)
            samples = sound.read(frames, dtype="float32", always_2d=True)  # (frames, channels)
            is_mp3 = sound.format == "MP3"
    except InputError:
        raise
    except Exception as error:  # LibsndfileError, RuntimeError, ...: all mean "bad input"
        raise InputError(
            label, f"not a readable audio file ({_libsndfile_reason(error)})"
        ) from None
    got = samples.shape[0]
    slack = int(_MP3_SLACK_FRAMES + _MP3_SLACK_FRACTION * frames) if is_mp3 else 0
    if got + slack < frames:
        raise InputError(
            label, f"truncated: the header promises {frames:,} frames, the file holds {got:,}"
        )
    if got == 0:
        raise InputError(label, "no audio samples")
    return Audio(np.ascontiguousarray(samples.T), int(rate), label)


def decode_audio_track(
    source: Path | str | bytes,
    *,
    name: str | None = None,
    max_samples: int = MAX_AUDIO_SAMPLES,
) -> Audio:
    """The first audio stream of a media container (MP4, M4A, MOV, WebM, MKV...) via FFmpeg.

    Returns float32 samples at the stream's own rate with its channels. Raises `InputError`
    if the file cannot be read, has no audio stream, or holds more than `max_samples`.
    """
    import av  # FFmpeg; imported here so that plain WAV/FLAC decoding does not load it

    label = source_name(source, name)
    file = _file_argument(source)
    chunks: list[np.ndarray] = []
    try:
        with av.open(file, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InputError(label, "no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate or 0)
            channels = int(stream.codec_context.channels or 0)
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = (container.duration or 0) / av.time_base
            _check_shape(label, max(int(seconds * rate), 1), channels, rate, max_samples)
            resampler = av.AudioResampler(
                format="fltp", layout=stream.codec_context.layout, rate=rate
            )
            total = 0
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    chunk = converted.to_ndarray()  # (channels, n) float32
                    total += chunk.size
                    if total > max_samples:
                        raise InputError(
                            label, f"too long: more than {max_samples:,} samples (pass max_samples)"
                        )
                    chunks.append(chunk)
            for converted in resampler.resample(None):
                chunks.append(converted.to_ndarray())
    except InputError:
        raise
    except Exception as error:  # av.error.FFmpegError and friends: corrupt or unsupported data
        raise InputError(label, f"not a readable media file ({error})") from None
    if not chunks:
        raise InputError(label, "no audio samples could be decoded")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    return Audio(np.ascontiguousarray(samples), rate, label)

"""What a file is, from its first bytes: media kind, format, MIME type, and the modality it feeds.

Content decides, never the file name: an upload called `cat.jpg` that holds a WAV is audio.
The extension only breaks ties the bytes cannot break, and only these two:
- an ISO base-media file (`ftyp`: MP4, MOV, M4A) whose track list is not in the first bytes
  (the `moov` box is often at the end) is audio when named `.m4a/.m4b/.aac` and video otherwise;
- a Matroska/WebM file is audio when named `.mka/.weba` and video otherwise.

Only the first `HEAD_BYTES` of a file are read.
"""

from __future__ import annotations

import csv
import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from binding.errors import InputError
from binding.io.files import csv_delimiter, read_head
from binding.io.imu import ACCEPTED_NAMES, imu_columns  # the one list of accepted IMU column names
from binding.modality import Modality, modality_specs

#: How much of a file sniffing reads (magic numbers, the npy header, a CSV header line).
HEAD_BYTES = 8192

Category = Literal["image", "audio", "video", "array", "table", "text"]


@dataclass(frozen=True)
class MediaKind:
    """What the bytes are: a category, a format name, its MIME type and a file extension."""

    category: Category
    format: str  # "jpeg", "png", "wav", "flac", "ogg-vorbis", "mp3", "mp4", "webm", "npy", "csv"...
    mime: str
    extension: str  # ".jpg", ".wav"...: what the media store names a file of this kind


def _kind(category: Category, fmt: str, mime: str, extension: str) -> MediaKind:
    return MediaKind(category, fmt, mime, extension)


JPEG = _kind("image", "jpeg", "image/jpeg", ".jpg")
PNG = _kind("image", "png", "image/png", ".png")
GIF = _kind("image", "gif", "image/gif", ".gif")
WEBP = _kind("image", "webp", "image/webp", ".webp")
BMP = _kind("image", "bmp", "image/bmp", ".bmp")
TIFF = _kind("image", "tiff", "image/tiff", ".tif")
HEIF = _kind("image", "heif", "image/heif", ".heic")
AVIF = _kind("image", "avif", "image/avif", ".avif")
WAV = _kind("audio", "wav", "audio/wav", ".wav")
AIFF = _kind("audio", "aiff", "audio/aiff", ".aiff")
FLAC = _kind("audio", "flac", "audio/flac", ".flac")
OGG_VORBIS = _kind("audio", "ogg-vorbis", "audio/ogg", ".ogg")
OGG_OPUS = _kind("audio", "ogg-opus", "audio/ogg", ".opus")
OGG_FLAC = _kind("audio", "ogg-flac", "audio/ogg", ".oga")
OGG_SPEEX = _kind("audio", "ogg-speex", "audio/ogg", ".spx")
OGG_THEORA = _kind("video", "ogg-theora", "video/ogg", ".ogv")
MP3 = _kind("audio", "mp3", "audio/mpeg", ".mp3")
AAC = _kind("audio", "aac", "audio/aac", ".aac")  # raw ADTS stream
M4A = _kind("audio", "m4a", "audio/mp4", ".m4a")
MP4 = _kind("video", "mp4", "video/mp4", ".mp4")
MOV = _kind("video", "mov", "video/quicktime", ".mov")
THREE_GP = _kind("video", "3gp", "video/3gpp", ".3gp")
WEBM = _kind("video", "webm", "video/webm", ".webm")
MATROSKA = _kind("video", "matroska", "video/x-matroska", ".mkv")
MKA = _kind("audio", "matroska-audio", "audio/x-matroska", ".mka")
WEBM_AUDIO = _kind("audio", "webm-audio", "audio/webm", ".weba")
NPY = _kind("array", "npy", "application/x-npy", ".npy")
CSV = _kind("table", "csv", "text/csv", ".csv")
TEXT = _kind("text", "text", "text/plain", ".txt")

#: Formats decoded through FFmpeg (PyAV) rather than libsndfile: containers and AAC.
FFMPEG_FORMATS = frozenset(
    {"aac", "m4a", "mp4", "mov", "3gp", "webm", "matroska", "matroska-audio", "webm-audio"}
)

_AUDIO_ONLY_ISO_EXTENSIONS = {".m4a", ".m4b", ".m4p", ".aac"}
_AUDIO_ONLY_MATROSKA_EXTENSIONS = {".mka", ".weba"}


# --- magic numbers -----------------------------------------------------------------------


def _sniff_ogg(head: bytes) -> MediaKind:
    # Every logical stream starts with a BOS page whose first packet names the codec; all BOS
    # pages come before any data page, so the first few pages tell video from audio.
    kinds = []
    offset = 0
    while offset + 27 <= len(head) and head[offset : offset + 4] == b"OggS":
        segments = head[offset + 26]
        table_end = offset + 27 + segments
        if table_end > len(head):
            break
        body_size = sum(head[offset + 27 : table_end])
        packet = head[table_end : table_end + 8]
        if packet.startswith(b"\x80theora"):
            kinds.append(OGG_THEORA)
        elif packet.startswith(b"\x01vorbis"):
            kinds.append(OGG_VORBIS)
        elif packet.startswith(b"OpusHead"):
            kinds.append(OGG_OPUS)
        elif packet.startswith(b"\x7fFLAC"):
            kinds.append(OGG_FLAC)
        elif packet.startswith(b"Speex   "):
            kinds.append(OGG_SPEEX)
        if not head[offset + 5] & 0x02:  # not a beginning-of-stream page: headers are over
            break
        offset = table_end + body_size
    if OGG_THEORA in kinds:
        return OGG_THEORA
    return kinds[0] if kinds else OGG_VORBIS


# MPEG audio frame header tables (ISO 11172-3 / 13818-3): kbit/s by [version][layer][index].
_MPEG_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_length(head: bytes, offset: int) -> int | None:
    """Length of the MPEG audio frame starting at `offset`, or None if no valid header is there."""
    if offset + 4 > len(head):
        return None
    b1, b2 = head[offset + 1], head[offset + 2]
    if head[offset] != 0xFF or b1 & 0xE0 != 0xE0:
        return None
    version_bits, layer_bits = (b1 >> 3) & 0x3, (b1 >> 1) & 0x3
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 0x3, (b2 >> 1) & 0x1
    if version_bits == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values (free-format streams are too rare to sniff)
    layer = 4 - layer_bits
    version = 1 if version_bits == 3 else 2
    bitrate = _MPEG_BITRATES[(version, layer)][bitrate_index] * 1000
    rate = _MPEG_RATES[version_bits][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    per_frame = 144 if (layer == 3 and version == 1) or layer == 2 else 72
    return per_frame * bitrate // rate + padding


def _is_mpeg_audio(head: bytes) -> bool:
    length = _mpeg_frame_length(head, 0)
    if length is None:
        return False
    if length + 4 > len(head):
        return len(head) < 512  # too short to hold a second frame: trust the one header
    return _mpeg_frame_length(head, length) is not None  # two frames in a row, not chance


def _is_adts(head: bytes) -> bool:
    # ADTS AAC: 12-bit sync, layer 00, valid sampling-frequency index.
    return (
        len(head) >= 7 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0xF < 13
    )


def _sniff_iso_bmff(head: bytes) -> MediaKind:
    brand = head[8:12]
    if brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "):
        return M4A
    if brand in (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"):
        return HEIF
    if brand in (b"avif", b"avis"):
        return AVIF
    if brand == b"qt  ":
        return MOV
    if brand.startswith(b"3g"):
        return THREE_GP
    # A `moov` box in the head lists the tracks: handler `soun` without `vide` is audio only.
    if b"moov" in head:
        handlers = {head[i + 12 : i + 16] for i in _find_all(head, b"hdlr")}  # handler_type
        if b"soun" in handlers and b"vide" not in handlers:
            return M4A
    return MP4


def _find_all(head: bytes, needle: bytes) -> list[int]:
    found, start = [], 0
    while (index := head.find(needle, start)) >= 0:
        found.append(index)
        start = index + 1
    return found


def _sniff_ebml(head: bytes) -> MediaKind:
    # The EBML header's DocType element (ID 0x4282) says "webm" or "matroska".
    index = head.find(b"\x42\x82", 4, 64)
    if index >= 0 and index + 3 <= len(head):
        size_byte = head[index + 2]
        if size_byte & 0x80:  # one-byte EBML size
            doctype = head[index + 3 : index + 3 + (size_byte & 0x7F)]
            if doctype == b"webm":
                return WEBM
    return MATROSKA


def _is_bmp(head: bytes) -> bool:
    if len(head) < 18 or head[:2] != b"BM":
        return False
    reserved = head[6:10]
    dib_size = struct.unpack_from("<I", head, 14)[0]
    return reserved == b"\x00\x00\x00\x00" and dib_size in (12, 16, 40, 52, 56, 64, 108, 124)


def _sniff_text(head: bytes) -> MediaKind | None:
    if b"\x00" in head:
        return None
    text = None
    for cut in range(4):  # the head may end inside a multi-byte character
        try:
            text = head[: len(head) - cut].decode("utf-8-sig")
            break
        except UnicodeDecodeError:
            continue
    if text is None or not text.strip():
        return None
    if any(ch < " " and ch not in "\t\r\n\f" for ch in text):
        return None
    return CSV if _has_csv_header(text) else TEXT


def _csv_rows(text: str, limit: int) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        return []
    delimiter = csv_delimiter(lines[0])
    if delimiter is None:
        return []
    return list(csv.reader(lines[:limit], delimiter=delimiter))


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _has_csv_header(text: str) -> bool:
    rows = _csv_rows(text, 3)
    if len(rows) < 2:
        return False
    header = [field.strip() for field in rows[0]]
    if len(header) < 2 or any(not field or _is_number(field) for field in header):
        return False
    return len(rows[1]) == len(header)


def _ragged_csv(text: str, truncated: bool) -> tuple[list[str], int, int, int] | None:
    """(header, line number, fields, header fields) of the first row whose field count
    differs from the header's, when `text` is a table with such rows: a header of at least
    two names (not numbers) and data rows with a number in them. None otherwise (prose)."""
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if truncated and len(lines) > 1:
        lines = lines[:-1]  # the head may end inside the last line
    if len(lines) < 2:
        return None
    delimiter = csv_delimiter(lines[0][1])
    if delimiter is None:
        return None
    try:
        rows = list(csv.reader([line for _, line in lines], delimiter=delimiter))
    except csv.Error:
        return None
    header = [field.strip() for field in rows[0]]
    if len(header) < 2 or any(not field or _is_number(field) for field in header):
        return None
    data = rows[1:]
    if not any(_is_number(field.strip()) for row in data for field in row):
        return None
    for (number, _), row in zip(lines[1:], data, strict=True):
        if len(row) != len(header):
            return header, number, len(row), len(header)
    return None


def sniff(head: bytes) -> MediaKind | None:
    """The media kind of a file from its first bytes (see `HEAD_BYTES`), or None if unknown."""
    head = bytes(head[:HEAD_BYTES])
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return AIFF
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"OggS"):
        return _sniff_ogg(head)
    if head[4:8] == b"ftyp":
        return _sniff_iso_bmff(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _sniff_ebml(head)
    if head.startswith(b"\x93NUMPY"):
        return NPY
    if head.startswith(b"ID3") or _is_mpeg_audio(head):
        return MP3
    if _is_adts(head):
        return AAC
    if _is_bmp(head):
        return BMP
    return _sniff_text(head)


# --- modality ----------------------------------------------------------------------------


def _other_encoding_text(head: bytes) -> bool:
    """Bytes that read as text in some 8-bit encoding (Latin-1, Windows-1252) but not as
    UTF-8: no NUL or other control bytes but tab and line ends, and some bytes over 0x7f."""
    controls = set(range(32)) - {9, 10, 12, 13}
    return any(b > 0x7F for b in head) and not any(b in controls for b in head)


def _read_head(source: Path | str | bytes, label: str) -> tuple[bytes, str | None]:
    """The first bytes of `source` and its lower-case extension (None for bytes)."""
    head, _ = read_head(source, label, HEAD_BYTES)
    if isinstance(source, bytes | bytearray | memoryview):
        return head, None
    return head, Path(source).suffix.lower() or None


def _npy_shape(head: bytes, label: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        stream = io.BytesIO(head)
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    except Exception as error:  # numpy raises ValueError/SyntaxError/EOFError on bad headers
        raise InputError(label, f"unreadable .npy header: {error}") from None
    return tuple(shape), dtype


def detect_modality(source: Path | str | bytes, *, name: str | None = None) -> Modality:
    """The modality a file feeds, decided from its content (see the module docstring).

    Images -> IMAGE (a 16-bit single-channel PNG is refused as ambiguous: depth or thermal),
    audio -> AUDIO, video containers -> VIDEO, a CSV whose header names the six IMU channels
    or a `.npy` of shape (6, T) or (T, 6) -> IMU. Anything else, or anything ambiguous (a 2-D
    `.npy` could be a depth or a thermal map), is an `InputError` that says what to do.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        label = name or "<bytes>"
    else:
        label = name or os.fspath(source)
    head, extension = _read_head(source, label)
    if name is not None and extension is None:
        extension = Path(name).suffix.lower() or None
    if not head:
        raise InputError(label, "empty file (0 bytes)")
    kind = sniff(head)
    hint = "give its modality (--modality; modality= in Python), or put the file under a folder named after its modality"
    if kind is None:
        if _other_encoding_text(head):
            raise InputError(label, "text that is not UTF-8; save it as UTF-8")
        raise InputError(label, f"unrecognised content (not a known media format); {hint}")
    if kind is PNG and len(head) >= 26 and head[24] == 16 and head[25] in (0, 4):
        raise InputError(
            label,
            "a 16-bit single-channel PNG is usually a depth map (or a thermal frame); " + hint,
        )
    if kind.format in ("mp4", "mov", "3gp") and extension in _AUDIO_ONLY_ISO_EXTENSIONS:
        return Modality.AUDIO  # tie broken by the extension: the track list is not in the head
    if kind.format in ("webm", "matroska") and extension in _AUDIO_ONLY_MATROSKA_EXTENSIONS:
        return Modality.AUDIO
    for spec in modality_specs():  # pictures are images, sound is audio: the specs say so
        if kind.category in spec.media_categories:
            return spec.modality
    if kind is NPY:
        shape, dtype = _npy_shape(head, label)
        if len(shape) == 2 and 6 in shape and max(shape) > 6 and dtype.kind in "fiu":
            return Modality.IMU
        raise InputError(
            label,
            f"a .npy array of shape {shape} and dtype {dtype} could be a depth or thermal map "
            f"(IMU arrays are (6, T) or (T, 6)); {hint}",
        )
    if kind in (CSV, TEXT):
        text = head.decode("utf-8-sig", errors="replace")
        ragged = _ragged_csv(text, len(head) >= HEAD_BYTES)
        if ragged is not None:
            header, number, fields, expected = ragged
            if imu_columns(header) is not None:
                return Modality.IMU  # the IMU reader names the bad line and why
            raise InputError(
                label,
                f"a CSV table with ragged rows (line {number} has {fields} fields, the header "
                f"has {expected}), and its header does not name the six IMU channels; " + hint,
            )
    if kind is CSV:
        header = _csv_rows(head.decode("utf-8-sig", errors="replace"), 1)[0]
        if imu_columns(header) is not None:
            return Modality.IMU
        shown = [name.strip()[:30] for name in header[:8]] + (["..."] if len(header) > 8 else [])
        raise InputError(  # a folder would not help: name the columns (binding.io.imu)
            label,
            f"a CSV table whose header {shown} does not name the six IMU channels "
            f"({ACCEPTED_NAMES}); rename its columns (a CSV file is read as IMU only)",
        )
    if kind is TEXT:
        return Modality.TEXT  # a text file: its passages become text points
    raise InputError(label, f"cannot tell the modality of {kind.format} content; {hint}")

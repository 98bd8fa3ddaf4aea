"""The modalities users name, and the network input each one feeds.

Users speak of images and videos; the network has one `vision` tower for both
(a video is a stack of two-frame clips that the model averages).
"""

from __future__ import annotations

from enum import StrEnum


class Modality(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DEPTH = "depth"
    THERMAL = "thermal"
    IMU = "imu"


#: The network's input key (the reference's `ModalityType`) for each user modality.
NETWORK_INPUT: dict[Modality, str] = {
    Modality.TEXT: "text",
    Modality.IMAGE: "vision",
    Modality.VIDEO: "vision",
    Modality.AUDIO: "audio",
    Modality.DEPTH: "depth",
    Modality.THERMAL: "thermal",
    Modality.IMU: "imu",
}

#: The network's towers, in the reference's order.
NETWORK_MODALITIES: tuple[str, ...] = ("vision", "text", "audio", "thermal", "depth", "imu")


def parse_modality(name: str) -> Modality:
    """`Modality` from a user's word; accepts `vision` as a synonym of `image`."""
    key = name.strip().lower()
    if key == "vision":
        return Modality.IMAGE
    try:
        return Modality(key)
    except ValueError:
        choices = ", ".join(m.value for m in Modality)
        raise ValueError(f"unknown modality {name!r}; choose one of: {choices}") from None

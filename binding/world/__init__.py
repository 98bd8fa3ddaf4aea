"""A seeded synthetic world of coloured shapes, rendered into every modality, with captions.

The training ground of `binding_mini` (docs/mini.md, "The synthetic world"): each `Scene`
(colour, shape, count, size, background, the camera holder's activity) renders to an image,
a caption, audio, depth, thermal, IMU and video, so that every modality can be bound to images
the way ImageBind binds its modalities (Girdhar et al., 2023). `write_world` writes a split to
a folder with the pair manifests the trainer reads and the labels the eval harness reads.
"""

from binding.world.render import (
    render_audio,
    render_depth,
    render_image,
    render_imu,
    render_thermal,
    render_video,
)
from binding.world.scene import ACTIVITIES, COLOURS, SHAPES, Scene, caption, sample_scenes
from binding.world.write import World, write_world

__all__ = [
    "ACTIVITIES",
    "COLOURS",
    "SHAPES",
    "Scene",
    "World",
    "caption",
    "render_audio",
    "render_depth",
    "render_image",
    "render_imu",
    "render_thermal",
    "render_video",
    "sample_scenes",
    "write_world",
]

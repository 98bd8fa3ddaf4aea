"""binding: one ImageBind-style embedding space for text, images, video, audio, depth, thermal and IMU."""

__version__ = "0.1.0"

"""File uploads over the official client's protocol: configs, the upload channel, helpers."""

from .config import UploadConfig, UploadEntry, UploadError

__all__ = ["UploadConfig", "UploadEntry", "UploadError"]

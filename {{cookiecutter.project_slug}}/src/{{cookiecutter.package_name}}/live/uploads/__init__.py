"""File uploads over the official client's protocol: configs, the upload channel, helpers."""

from .config import UploadConfig, UploadEntry, UploadError
from .writer import remove_stale as remove_stale_uploads

__all__ = ["UploadConfig", "UploadEntry", "UploadError", "remove_stale_uploads"]

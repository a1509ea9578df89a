"""Reading photos and masks, and writing files atomically."""

from .load import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE, SUPPORTED_FORMATS, load_photo

__all__ = ["DEFAULT_MAX_PIXELS", "DEFAULT_MAX_SIDE", "SUPPORTED_FORMATS", "load_photo"]

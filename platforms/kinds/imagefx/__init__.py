"""Google ImageFX: an image generator reached with a browser cookie; it publishes nothing."""

from platforms.kinds.base import Kind


class ImageFXKind(Kind):
    type = "imagefx"
    label = "Google ImageFX"


KIND = ImageFXKind()

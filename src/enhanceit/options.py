"""What a user asks for, validated once for the CLI, the API and the queue alike."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from enhanceit.errors import InvalidRequest
from enhanceit.imaging.formats import FORMAT_ALIASES, OutputFormat

DEFAULT_MODEL = "waifu2x-cunet"

#: The noise reduction levels: -1 is none, 3 the strongest (waifu2x's four levels; other models have fewer).
MIN_NOISE, MAX_NOISE = -1, 3
#: A noise reduction level: "auto" (from the input, see :mod:`enhanceit.models.autonoise`), -1 (none) or 0-3.
Noise = Annotated[int, Field(ge=MIN_NOISE, le=MAX_NOISE)] | Literal["auto"]


def check_noise_level(noise: int) -> None:
    """400 for a level outside -1 to 3 (whatever the model: which levels it has is checked with it)."""
    if not MIN_NOISE <= noise <= MAX_NOISE:
        raise InvalidRequest(f"noise must be between {MIN_NOISE} (none) and {MAX_NOISE}")


#: How an input's alpha channel is enlarged: resized with Lanczos, or run through the network as a grey image.
AlphaMode = Literal["lanczos", "network"]
#: Which of the input's metadata a result keeps: the camera's EXIF without GPS, all of it, or only the ICC profile.
Metadata = Literal["keep", "all", "none"]


class EnhanceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(
        DEFAULT_MODEL,
        description="model id or alias ('photo', 'art'), see GET /v1/models",
        max_length=64,
    )
    noise: Noise = Field(
        "auto",
        description="noise reduction level: 'auto' (from the input: a JPEG's quality, none for lossless "
        "formats), -1 = none, 0-3 = stronger and stronger",
    )
    scale: float | None = Field(
        None, gt=0, le=16, allow_inf_nan=False, description="scale factor (default 2 unless width/height)"
    )
    width: int | None = Field(None, ge=1, le=65535, description="output width; height keeps the aspect ratio")
    height: int | None = Field(None, ge=1, le=65535, description="output height; width keeps the aspect ratio")
    tta: Literal[0, 2, 4, 8] = Field(0, description="test-time augmentation level (0 = off)")
    format: OutputFormat | None = Field(
        None, description="output format (default: PNG; an animation keeps its own format, APNG becomes WebP)"
    )
    quality: int | None = Field(
        None, ge=1, le=100, description="lossy quality (JPEG/AVIF/WebP; WebP is lossless without it; GIF ignores it)"
    )
    frames: Literal["all", "first"] = Field(
        "all", description="an animation: enhance every frame, or only the first (a still image, PNG by default)"
    )
    tile: int | None = Field(None, ge=16, le=4096, description="tile side (default: the model's)")
    alpha: AlphaMode = Field(
        "network",
        description="an image with transparency: its alpha channel enlarged by the network too ('network', "
        "sharper edges, twice the inference), or resized with Lanczos ('lanczos'); animations use Lanczos",
    )
    metadata: Metadata = Field(
        "keep",
        description="the input's EXIF in the result: 'keep' (camera, dates, exposure, author; never the GPS "
        "position), 'all' (with GPS and XMP), 'none' (only the ICC profile)",
    )
    strict: bool = Field(
        False, description="refuse damaged images (data that ends early) instead of filling what is missing"
    )

    @field_validator("format", mode="before")
    @classmethod
    def _format_aliases(cls, value: object) -> object:
        """``jpg`` is ``jpeg``, wherever options are given: the API (a job, a batch item), a preset, a URL's
        pairs. The CLI takes it too (from file names)."""
        return FORMAT_ALIASES.get(value.lower(), value) if isinstance(value, str) else value

    @field_validator("tta", mode="before")
    @classmethod
    def _tta_from_text(cls, value: object) -> object:
        """Form fields arrive as text: "8" is 8 (a Literal would not coerce it)."""
        return int(value) if isinstance(value, str) and value.isdigit() else value

    @model_validator(mode="after")
    def _one_size(self) -> EnhanceOptions:
        if sum(v is not None for v in (self.scale, self.width, self.height)) > 1:
            raise ValueError("give only one of scale, width and height")
        return self

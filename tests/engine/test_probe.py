"""The probe: an operator's net run once in a limited child process, before anything else loads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from enhanceit.engine.probe import SAME_PADDING_CONTEXT, Request, probe
from enhanceit.errors import ModelIntegrityError
from enhanceit.models.registry import get_model
from enhanceit.models.weights import verified_net_files


def zoo_request(model: str, scale: int, **changes: object) -> Request:
    net = get_model(model).net(scale, -1)
    assert net is not None
    param, weights = verified_net_files(net)
    fields = {"input_blob": net.input_blob, "output_blob": net.output_blob, "scale": scale, **changes}
    return Request(param, weights, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("model", "scale"), [("waifu2x-upconv7-photo", 2), ("waifu2x-cunet", 2)])
def test_a_valid_convolution_nets_border_is_the_zoos_pad(model: str, scale: int) -> None:
    shown = probe(zoo_request(model, scale, multiple=get_model(model).net(scale, -1).multiple))  # type: ignore[union-attr]
    assert (shown.pad, shown.exact) == (get_model(model).net(scale, -1).pad, True)  # type: ignore[union-attr]
    assert shown.kb_per_px > 1 and shown.base_mb >= 50


def test_a_same_padded_net_gets_overlapping_tiles() -> None:
    shown = probe(zoo_request("realesr-animevideov3", 4))
    assert (shown.pad, shown.exact) == (SAME_PADDING_CONTEXT, False)


#: A child that dies as a native crash in ncnn would: a real segmentation fault, from Python's faulthandler.
SEGFAULT = ("-c", "import faulthandler; faulthandler._sigsegv()")


def test_a_crash_of_the_probe_process_refuses_the_net_and_this_process_goes_on() -> None:
    with pytest.raises(ModelIntegrityError, match=r"^the net crashed the probe process \(SIGSEGV\)$"):
        probe(zoo_request("waifu2x-upconv7-photo", 2), child=SEGFAULT)
    assert probe(zoo_request("waifu2x-upconv7-photo", 2)).pad == 7  # and the next probe runs as ever


def test_a_net_past_the_memory_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="probe"):
        probe(zoo_request("waifu2x-upconv7-photo", 2), memory_mb=64)

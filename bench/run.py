"""``make bench``: print speed and memory figures with the date and machine they were measured on.

python bench/run.py                 everything
python bench/run.py --quick         only the 512x512 runs
python bench/run.py --models waifu2x-cunet
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    alpha,
    animated,
    backends,
    container,
    distributed,
    engine,
    int8,
    noise,
    photos,
    service,
    speed,
    zoo,
)
from enhanceit import __version__

DEFAULT_MODELS = ["waifu2x-cunet", "waifu2x-upconv7-anime", "waifu2x-upconv7-photo"]


def machine() -> str:
    """The CPU with the flags that matter to the engine (every figure is quoted with them), cores, memory."""
    from enhanceit.engine.choice import cpu as this_cpu

    cpu = this_cpu().describe()
    try:
        mem_kb = int(
            next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1]
        )
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        mem = "? GiB"
    return f"{cpu}, {os.cpu_count()} cores, {mem}, {platform.system()} {platform.machine()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", nargs="*", default=DEFAULT_MODELS)
    parser.add_argument(
        "--only",
        choices=(
            "engine",
            "backends",
            "speed",
            "int8",
            "zoo",
            "photos",
            "noise",
            "alpha",
            "animated",
            "service",
            "distributed",
            "container",
        ),
        help="run one section",
    )
    args = parser.parse_args()
    print(f"# EnhanceIt {__version__} benchmarks, {datetime.date.today().isoformat()}")
    print(f"machine: {machine()}; Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="enhanceit-bench-") as tmp:
        if args.only in (None, "engine"):
            engine.main(Path(tmp), args.models, quick=args.quick)
        if args.only in (None, "backends") and not args.quick:
            backends.main(Path(tmp))
        if args.only in (None, "speed") and not args.quick:
            speed.main(Path(tmp))
        if args.only in (None, "int8") and not args.quick:
            int8.main(Path(tmp))
        if args.only in (None, "zoo") and not args.quick:
            zoo.main(Path(tmp))
        if args.only in (None, "photos") and not args.quick:
            photos.main(Path(tmp))  # with the noise tables
        if args.only == "noise":
            noise.main(Path(tmp))
        if args.only == "alpha":
            alpha.main(Path(tmp))
        if args.only in (None, "animated") and not args.quick:
            animated.main(Path(tmp))
        if args.only in (None, "service") and not args.quick:
            service.main(Path(tmp))
        if args.only in (None, "distributed") and not args.quick:
            distributed.main(Path(tmp))
        if args.only in (None, "container") and not args.quick:
            container.main(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())

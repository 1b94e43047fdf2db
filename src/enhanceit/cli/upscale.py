"""``enhanceit upscale``: files to a file or a folder, with a progress bar on a terminal."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from enhanceit.cli.common import EXIT_FAILED, EXIT_OK, UsageError, check_writable_dir, presets, settings
from enhanceit.cli.flags import add_image_options, given, usage_error
from enhanceit.errors import EnhanceItError, InvalidRequest
from enhanceit.imaging.formats import (
    DEFAULT_OUTPUT,
    FORMATS,
    IMAGE_SUFFIXES,
    OutputFormat,
    extension,
    output_format,
)

if TYPE_CHECKING:
    from enhanceit.options import EnhanceOptions
    from enhanceit.presets import Presets


@dataclass(frozen=True)
class FileTask:
    """One input file, where its result goes, and in which format."""

    src: Path
    dst: Path
    #: None: PNG, or an animation's own format (settled from the input's header when it is enhanced).
    format: OutputFormat | None


def add_parser(sub: Any) -> None:
    up = sub.add_parser(
        "upscale", help="enhance image files", description="Enhance one file to a file, or many to a folder."
    )
    up.add_argument("inputs", nargs="+", metavar="INPUT", type=Path, help="image files or folders")
    up.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="OUT",
        help="output file, or folder for several inputs",
    )
    up.add_argument(
        "--preset",
        help="a named option set of the settings (ENHANCEIT_PRESETS, ENHANCEIT_PRESETS_FILE); options given here "
        "override its own",
    )
    add_image_options(
        up,
        format_help="output format (default: from OUT's extension, else png; an animation keeps its own, APNG "
        "becomes webp)",
    )
    up.add_argument("--tile", type=int, help="tile side in pixels (default: the model's; smaller uses less memory)")
    up.add_argument("--threads", type=int, help="inference threads (default: all cores)")
    up.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders of folder inputs")
    up.add_argument("--quiet", action="store_true", help="no progress bar")
    up.set_defaults(run=run)


class ProgressBar:
    """``name [#####-----] 12/64 tiles`` redrawn in place on a terminal; silent elsewhere."""

    def __init__(self, name: str, stream: TextIO, enabled: bool, width: int = 30) -> None:
        self.name, self.stream, self.enabled, self.width = name, stream, enabled, width
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        filled = self.width * done // total
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.name[:40]} [{bar}] {done}/{total} tiles")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._last >= 0:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _format_for(path: Path, explicit: str | None) -> OutputFormat | None:
    if explicit:
        return output_format(explicit)
    suffix = path.suffix.lower().lstrip(".")
    try:
        return output_format(suffix)
    except ValueError:
        return None


def _default_extension(src: Path, frames: str) -> str:
    """The extension of a result written without ``--format``: an animation's own format's, else PNG's."""
    try:
        from enhanceit.imaging.probe import probe

        info = probe(src)
    except (EnhanceItError, OSError):
        return extension(DEFAULT_OUTPUT)  # the error is reported when the file is enhanced
    becomes = FORMATS[info.format].animation_becomes if info.animated and frames == "all" else None
    return FORMATS[becomes or DEFAULT_OUTPUT].extension


def _folder_inputs(folder: Path, recursive: bool) -> list[Path]:
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def plan_tasks(
    inputs: list[Path],
    output: Path,
    recursive: bool,
    explicit_format: str | None,
    frames: str = "all",
    preset_format: OutputFormat | None = None,
) -> list[FileTask]:
    """Pair every input with its output: one file to one file, anything else into a folder.

    The format: ``--format``, else an output file's extension, else the preset's (``preset_format``)."""
    if len(inputs) == 1 and inputs[0].is_file() and not output.is_dir():
        check_writable_dir(output.parent if str(output.parent) else Path("."))
        return [FileTask(inputs[0], output, _format_for(output, explicit_format) or preset_format)]
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output}: several inputs need an output folder, and this is a file")
    fmt = output_format(explicit_format) if explicit_format else preset_format
    pairs: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            # an output folder inside the input folder holds earlier results: never inputs
            found = [p for p in _folder_inputs(item, recursive) if not p.resolve().is_relative_to(output.resolve())]
            pairs += [(p, p.relative_to(item)) for p in found]
        else:
            pairs.append((item, Path(item.name)))
    exts = [extension(fmt) if fmt else _default_extension(src, frames) for src, _ in pairs]
    names = _unique_names([rel for _, rel in pairs], exts)
    return [FileTask(src, output / name, fmt) for (src, _), name in zip(pairs, names, strict=True)]


def _unique_names(rels: list[Path], exts: list[str]) -> list[Path]:
    """An output name per input, no two alike even on a case-insensitive file system.

    a.png and a.jpg both want a.png: the one already named so keeps it, the other becomes a.jpg.png; if
    that is taken too (an input a.jpg.png), a.jpg-2.png, -3…"""
    wanted: dict[str, int] = {}
    for rel, ext in zip(rels, exts, strict=True):
        key = str(rel.with_suffix(ext)).casefold()
        wanted[key] = wanted.get(key, 0) + 1
    used: set[str] = set()
    names: list[Path] = [Path()] * len(rels)
    # inputs that already carry the output's extension claim their own names first
    for i in sorted(range(len(rels)), key=lambda i: rels[i].suffix.lower() != exts[i]):
        rel, ext = rels[i], exts[i]
        name = rel.with_suffix(ext)
        if wanted[str(name).casefold()] > 1 and rel.suffix.lower() != ext:
            name = rel.with_name(rel.name + ext)
        stem, n = name.name[: -len(ext)], 2
        while str(name).casefold() in used:
            name, n = name.with_name(f"{stem}-{n}{ext}"), n + 1
        used.add(str(name).casefold())
        names[i] = name
    return names


def _options(args: argparse.Namespace, fmt: OutputFormat | None, presets: Presets | None = None) -> EnhanceOptions:
    """The options given (the defaults for those not), over ``--preset``'s when there is one."""
    from pydantic import ValidationError

    from enhanceit.options import EnhanceOptions
    from enhanceit.presets import Presets

    asked = {**given(args), "format": fmt, "tile": args.tile}
    asked = {name: value for name, value in asked.items() if value is not None}
    try:
        if args.preset is not None:
            return (presets or Presets()).options([args.preset], asked)
        return EnhanceOptions(**asked)
    except ValidationError as e:
        raise usage_error(e) from None


def run(args: argparse.Namespace) -> int:
    from enhanceit.engine.choose import check_request
    from enhanceit.engine.runtime import engine_from
    from enhanceit.pipeline.process import enhance_file

    config = settings()
    found = presets(config)
    asked = _options(args, None, found)  # with a preset: its format and frames name the outputs
    tasks = plan_tasks(list(args.inputs), args.output, args.recursive, args.format, asked.frames, asked.format)
    if not tasks:
        raise UsageError("no images found in the given inputs")
    engine = engine_from(config, threads=args.threads)
    first = _options(args, tasks[0].format, found)
    # Refuse an impossible request before touching any file (exit 2), not once per file.
    check_request(engine.registry, first.model, first.noise, first.scale)

    interactive = sys.stderr.isatty() and not args.quiet
    failures = 0
    for task in tasks:
        if task.dst.parent != Path(""):
            task.dst.parent.mkdir(parents=True, exist_ok=True)
        bar = ProgressBar(task.src.name, sys.stderr, interactive)
        started = time.perf_counter()
        try:
            if not task.src.is_file():
                raise EnhanceItError("no such file")
            outcome = enhance_file(
                task.src,
                task.dst,
                _options(args, task.format, found),
                engine,
                config.limits,
                tmp_dir=config.tmp_dir,
                progress=bar,
            )
        except InvalidRequest:
            raise
        except EnhanceItError as e:
            bar.close()
            print(f"enhanceit: {task.src}: {e}", file=sys.stderr)
            failures += 1
            continue
        finally:
            bar.close()
        for warning in outcome.warnings:  # shown even with --quiet: the result is not the whole picture
            print(f"enhanceit: warning: {task.src}: {warning}", file=sys.stderr)
        if not args.quiet:
            enc = outcome.encoded
            print(
                f"{task.src} -> {enc.path} ({enc.width}x{enc.height} {enc.format}, {outcome.model.id}, "
                f"noise {outcome.noise}, {time.perf_counter() - started:.2f} s)",
                file=sys.stderr,
            )
    return EXIT_FAILED if failures else EXIT_OK

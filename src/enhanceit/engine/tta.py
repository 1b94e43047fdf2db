"""Test-time augmentation: run a tile under flips and rotations, undo each on the output, average.

Levels: 2 = identity and mirror; 4 = the four flips (identity, mirror, upside down, both);
8 = those four, each also transposed (the whole dihedral group of the square). Transposing swaps a tile's
sides, which is fine because both are multiples of the net's ``multiple``. Tiles are channels-first.
"""

from __future__ import annotations

from collections.abc import Callable

from enhanceit.engine.base import FloatImage

Transform = Callable[[FloatImage], FloatImage]
LEVELS = (0, 2, 4, 8)


def _identity(a: FloatImage) -> FloatImage:
    return a


def _mirror(a: FloatImage) -> FloatImage:
    return a[:, :, ::-1]


def _flip(a: FloatImage) -> FloatImage:
    return a[:, ::-1, :]


def _rot180(a: FloatImage) -> FloatImage:
    return a[:, ::-1, ::-1]


def _transpose(a: FloatImage) -> FloatImage:
    return a.transpose(0, 2, 1)


_FLIPS: tuple[Transform, ...] = (_identity, _mirror, _flip, _rot180)


def _then_transpose(f: Transform) -> tuple[Transform, Transform]:
    # forward: flip, then transpose; inverse: transpose back, then flip (flips are their own inverses)
    return (lambda a: _transpose(f(a))), (lambda a: f(_transpose(a)))


def augmented(level: int) -> list[tuple[Transform, Transform]]:
    """(forward, inverse) pairs for a TTA level."""
    if level not in LEVELS:
        raise ValueError(f"TTA level must be one of {LEVELS}, not {level}")
    if level <= 1:
        return [(_identity, _identity)]
    pairs = [(f, f) for f in _FLIPS[: min(level, 4)]]
    if level == 8:
        pairs += [_then_transpose(f) for f in _FLIPS]
    return pairs

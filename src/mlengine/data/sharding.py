"""Which part of a data set each rank of a data-parallel job reads.

Every rank plans the same split from the same file list and sizes, without talking to the
others, and keeps its own part. The parts are disjoint and together cover the data exactly:

* **Whole files** when there are at least as many files as ranks and the files can be dealt
  out evenly: largest first, each to the least loaded rank, accepted when the loads differ by
  at most :data:`WHOLE_FILE_TOLERANCE` of the largest. Each file is then opened by one rank.
* **Ranges** otherwise: the files are laid end to end and rank ``r`` of ``n`` takes units
  ``[total * r // n, total * (r + 1) // n)`` of the whole, so a rank reads a run of whole files
  and at most two partial ones, and the parts differ by at most one unit. A unit is a row for
  Parquet (row counts are in the footers) and a byte for CSV (a line belongs to the range
  holding its first byte, see :class:`~mlengine.data.readers.FileSource`).

A file that cannot be cut (a compressed CSV file) is never split into ranges: with enough
files the whole-file split is used however uneven, and with fewer files than ranks the caller
falls back to striding rows (every rank reads all files and keeps every n-th row).
"""

from __future__ import annotations

from collections.abc import Sequence

WHOLE_FILE_TOLERANCE = 0.05
"""How uneven (as a fraction of the largest part) a whole-file split may be before ranges are
used instead: an uneven split costs padded or dropped rows every epoch (see ``InputFn.shard``),
while ranges cost at most two partial files per rank."""

Piece = tuple[int, tuple[int, int] | None]
"""A file index and the range of it to read (rows or bytes), or None for the whole file."""


def even_range(total: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rank ``rank``'s share ``[start, stop)`` of ``total`` units: shares differ by at most one."""
    return total * rank // world_size, total * (rank + 1) // world_size


def deal_files(sizes: Sequence[int], world_size: int) -> list[list[int]]:
    """Deals whole files to ranks, largest first to the least loaded rank (ties: lower index).

    Returns each rank's file indices in their original order.
    """
    groups: list[list[int]] = [[] for _ in range(world_size)]
    loads = [0] * world_size
    for index in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        groups[rank].append(index)
        loads[rank] += sizes[index]
    return [sorted(group) for group in groups]


def range_pieces(sizes: Sequence[int], start: int, stop: int) -> list[Piece]:
    """The pieces of files that units ``[start, stop)`` of the files laid end to end cover."""
    pieces: list[Piece] = []
    offset = 0
    for index, size in enumerate(sizes):
        low, high = max(start - offset, 0), min(stop - offset, size)
        if high > low:
            pieces.append((index, None if (low, high) == (0, size) else (low, high)))
        offset += size
    return pieces


def plan_shards(
    sizes: Sequence[int],
    world_size: int,
    splittable: Sequence[bool] | None = None,
    tolerance: float = WHOLE_FILE_TOLERANCE,
) -> list[list[Piece]] | None:
    """Every rank's pieces, as the module docstring describes.

    Args:
        sizes: Each file's size in the unit ranges are cut in (rows or bytes).
        world_size: The number of ranks.
        splittable: Whether each file may be cut (all when None).
        tolerance: See :data:`WHOLE_FILE_TOLERANCE`.

    Returns:
        ``plan[rank]``, the pieces of rank ``rank`` in file order; None when fewer files than
        ranks would have to be cut and one of them cannot be.
    """
    if world_size == 1:
        return [[(index, None) for index in range(len(sizes))]]
    whole: list[list[Piece]] | None = None
    if len(sizes) >= world_size:
        groups = deal_files(sizes, world_size)
        whole = [[(index, None) for index in group] for group in groups]
        loads = [sum(sizes[i] for i in group) for group in groups]
        if min(loads) > 0 and max(loads) - min(loads) <= tolerance * max(loads):
            return whole
    total = sum(sizes)
    ranges = [range_pieces(sizes, *even_range(total, r, world_size)) for r in range(world_size)]
    cut = {index for pieces in ranges for index, part in pieces if part is not None}
    if splittable is None or all(splittable[index] for index in cut):
        return ranges
    return whole


__all__ = [
    "WHOLE_FILE_TOLERANCE",
    "Piece",
    "deal_files",
    "even_range",
    "plan_shards",
    "range_pieces",
]

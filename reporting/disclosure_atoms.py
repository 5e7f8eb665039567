"""The unknowns of the attacker's program: merged atoms, split into shared and private dimensions.

An *atom* is one combination of levels of all dimensions; its count is an unknown non-negative integer.
Atoms with the same *membership signature* (the set of populations that contain them) always appear
together and merge exactly into one variable.  A study has dimensions that many tables cross (arm,
programme, answered per wave: the *shared* ones) and many that only meet the shared ones (one per scale,
per model, ...: *private* groups).  Merging alone still leaves the product of the private groups'
classes, so the program is split (Hundepool et al. 2012, 4.3; the coupling is Dantzig's transportation
problem):

- ``z_c`` for every signature class ``c`` of the shared dimensions (over the shared part of every population);
- for every private group ``g``: ``y_{g,c',h}`` for every class ``c'`` of the shared dimensions as ``g``'s
  populations see them and every class ``h`` of ``g``'s own dimensions (its zero class included: those
  atoms hold people too), tied by ``sum_h y_{g,c',h} = sum_{c -> c'} z_c``.

A population that restricts dimensions of ``g`` is a sum of ``y_g``; one that restricts only shared
dimensions is a sum of ``z``.  This is exact: integer ``y_g`` whose sums equal integer ``z`` always extend to
integer counts of the full atoms (each coupling is a transportation problem with integer margins, which has
an integer solution, and private groups combine freely within a shared atom), so both programs allow the
same counts of every population.

The shared dimensions are chosen greedily: while two non-shared dimensions are restricted together by
some population (directly or through others), the one restricted together with most other non-shared
dimensions becomes shared.  Without private groups the program is the plain merged-atom program.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.sparse import csr_array

Key = tuple[tuple[str, tuple[str, ...]], ...]


def signatures(dims: Mapping[str, Sequence[str]], keys: Sequence[Key], names: Sequence[str] | None = None,
               *, keep_zero: bool = False) -> list[int]:  # fmt: skip
    """Distinct membership bitsets (bit ``j``: inside ``keys[j]``) of the atoms of dimensions ``names``.

    Built one dimension at a time (membership is the AND over dimensions of "its level is allowed") and
    deduplicated after every dimension, so the product of levels is never enumerated.
    """
    restricted = [dict(key) for key in keys]
    classes = {(1 << len(keys)) - 1}
    for dim in dims if names is None else names:
        masks = []
        for level in dims[dim]:
            bits = 0
            for j, fixed in enumerate(restricted):
                if dim not in fixed or level in fixed[dim]:
                    bits |= 1 << j
            masks.append(bits)
        classes = {c & m for c in classes for m in masks}
        if not keep_zero:
            classes.discard(0)
    return sorted(classes)


def split(keys: Sequence[Key]) -> tuple[list[str], list[list[str]]]:
    """(shared dimensions, private groups) for the populations ``keys`` (dimensions no key restricts are left out)."""
    used = sorted({dim for key in keys for dim, _ in key})
    linked: dict[str, set[str]] = {dim: set() for dim in used}
    for key in keys:
        for dim, _ in key:
            linked[dim] |= {other for other, _ in key if other != dim}
    shared: set[str] = set()
    while True:
        free = [dim for dim in used if dim not in shared]
        degree = {dim: len(linked[dim] - shared) for dim in free}
        if not free or max(degree.values()) == 0:
            break
        shared.add(max(free, key=lambda dim: (degree[dim], dim)))
    groups = [[dim] for dim in used if dim not in shared]
    return sorted(shared), groups


def _rows(signature: int, width: int) -> np.ndarray:
    """The positions of the set bits of ``signature`` (the populations a variable belongs to)."""
    raw = np.frombuffer(signature.to_bytes((max(width, 1) + 7) // 8, "little"), dtype=np.uint8)
    return np.flatnonzero(np.unpackbits(raw, bitorder="little")[:width])


def variables(dims: Mapping[str, Sequence[str]], keys: Sequence[Key]) -> tuple[csr_array, csr_array]:
    """``(members, coupling)``: ``members[j] @ x`` is the count of ``keys[j]``; ``coupling @ x == 0`` ties the split."""
    shared, groups = split(keys)
    width = len(keys)
    group_of = {dim: g for g, names in enumerate(groups) for dim in names}
    owner = np.array([next((group_of[dim] for dim, _ in key if dim in group_of), -1) for key in keys], dtype=int)
    shared_part = [tuple(item for item in key if item[0] not in group_of) for key in keys]
    z = signatures(dims, shared_part, shared)
    shared_only = sum(1 << j for j in range(width) if owner[j] < 0)
    columns = [_rows(c & shared_only, width) for c in z]  # a group's population is counted by its y only
    coupling: list[tuple[list[int], list[int]]] = []  # (z columns, y columns) per projected class of a group
    for g, names in enumerate(groups):
        mine = [j for j in range(width) if owner[j] == g]
        mask = sum(1 << j for j in mine)
        own = signatures(dims, [tuple(item for item in keys[j] if item[0] in group_of) for j in mine], names,
                         keep_zero=True)  # fmt: skip
        projected: dict[int, list[int]] = {}
        for column, c in enumerate(z):
            projected.setdefault(c & mask, []).append(column)
        for seen, z_columns in sorted(projected.items()):
            y_columns = []
            for h in own:
                inside = [j for k, j in enumerate(mine) if (h >> k) & 1 and (seen >> j) & 1]
                columns.append(np.array(inside, dtype=int))
                y_columns.append(len(columns) - 1)
            coupling.append((z_columns, y_columns))
    n = len(columns)
    rows = np.concatenate([c for c in columns] + [np.zeros(0, dtype=int)])
    cols = np.repeat(np.arange(n), [len(c) for c in columns]) if n else np.zeros(0, dtype=int)
    members = csr_array((np.ones(len(rows)), (rows, cols)), shape=(width, n))
    c_rows = [row for row, (zs, ys) in enumerate(coupling) for _ in (*zs, *ys)]
    c_cols = [col for zs, ys in coupling for col in (*zs, *ys)]
    c_vals = [v for zs, ys in coupling for v in ([1.0] * len(zs) + [-1.0] * len(ys))]
    return members, csr_array((c_vals, (c_rows, c_cols)), shape=(len(coupling), n))

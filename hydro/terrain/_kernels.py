"""Numba kernels of the terrain engine, on flat (row-major) numpy arrays only.

No xarray here: the public functions in :mod:`hydro.terrain` wrap these. Cell ``i`` of an
``(ny, nx)`` grid is ``row * nx + col``. Neighbour ``k`` (0..7) follows the ESRI D8 order
E, SE, S, SW, W, NW, N, NE with codes ``1 << k``.

Codes: 0 = drains off the grid or into nodata (an outlet), 255 = nodata, and internally
``FLAT`` (254) for cells not yet given a direction.
"""
from __future__ import annotations

import numba as nb
import numpy as np

__all__ = [
    "D8_CODES",
    "NODATA_CODE",
    "OUTLET_CODE",
    "priority_flood",
    "d8_steepest",
    "resolve_flats",
    "downstream_index",
    "topological_order",
    "accumulate",
    "accumulate_count",
    "hand_from_drainage",
    "strahler",
    "label_catchments",
]

D8_CODES = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=np.uint8)
DROW = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
DCOL = np.array([1, 1, 0, -1, -1, -1, 0, 1], dtype=np.int64)
NODATA_CODE = np.uint8(255)
OUTLET_CODE = np.uint8(0)
FLAT = np.uint8(254)
#: code -> neighbour index (0..7); 8 for outlet/nodata/anything else
_CODE_TO_K = np.full(256, 8, dtype=np.int64)
for _k in range(8):
    _CODE_TO_K[1 << _k] = _k

_JIT = dict(cache=True, nogil=True)


# --------------------------------------------------------------------------------------------
# priority queue (binary min-heap on parallel key/value arrays, grown by doubling); equal keys leave in
# heap order, which is deterministic for a given DEM
@nb.njit(**_JIT)
def _heap_push(keys, vals, size, key, val):
    """Push (key, val) on a heap with spare capacity; return the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        pk = keys[parent]
        if pk <= key:
            break
        keys[i] = pk
        vals[i] = vals[parent]
        i = parent
    keys[i] = key
    vals[i] = val
    return size + 1


@nb.njit(**_JIT)
def _heap_pop(keys, vals, size):
    """Remove the root (caller reads keys[0], vals[0] first); return the new size."""
    size -= 1
    if size == 0:
        return size
    key = keys[size]
    val = vals[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        right = child + 1
        if right < size and keys[right] < keys[child]:
            child = right
        ck = keys[child]
        if ck >= key:
            break
        keys[i] = ck
        vals[i] = vals[child]
        i = child
    keys[i] = key
    vals[i] = val
    return size


@nb.njit(**_JIT)
def _grow(a, n):
    """Twice the capacity, first ``n`` items kept (an explicit loop: slice assignment is slow to compile)."""
    b = np.empty(2 * a.shape[0] + 16, a.dtype)
    for i in range(n):
        b[i] = a[i]
    return b


# --------------------------------------------------------------------------------------------
@nb.njit(**_JIT)
def priority_flood(z, ny, nx, epsilon):
    """Fill depressions in place: Priority-Flood (Barnes, Lehman & Mulla 2014) with a pit queue,
    and upslope tracing that keeps most cells out of the priority queue (Zhou, Sun & Fu 2016).

    Parameters
    ----------
    z : float array (ny*nx,)
        Elevation, NaN = nodata; modified in place (never lowered).
    epsilon : bool
        If True, raise filled cells to the next representable value above their spill cell so
        that every filled cell has a strictly lower neighbour (Priority-Flood+epsilon);
        otherwise keep exact flats.

    Returns
    -------
    int
        Number of cells raised.

    Notes
    -----
    A cell reached from a lower, already final cell keeps its own elevation (it drains to that
    cell). If it also has no unprocessed neighbour at or below its elevation, processing it at
    once cannot fill anything wrongly, so it and the cells above it are traced with a stack
    instead of the heap; only cells bordering unprocessed lower ground wait in the heap.
    """
    n = ny * nx
    closed = np.zeros(n, np.uint8)
    cap = max(1024, 2 * (ny + nx) + n // 64)
    keys = np.empty(cap, z.dtype)
    vals = np.empty(cap, np.int32)
    size = 0
    pit = np.empty(max(1024, n // 64), np.int32)
    phead = 0
    ptail = 0
    trace = np.empty(max(1024, n // 64), np.int32)
    nbr = np.empty(8, np.int64)
    inf = np.asarray(np.inf, z.dtype)
    # seeds: valid cells on the grid edge or next to nodata
    for r in range(ny):
        for c in range(nx):
            i = r * nx + c
            if np.isnan(z[i]):
                closed[i] = 1
                continue
            seed = r == 0 or c == 0 or r == ny - 1 or c == nx - 1
            if not seed:
                for k in range(8):
                    if np.isnan(z[(r + DROW[k]) * nx + c + DCOL[k]]):
                        seed = True
                        break
            if seed:
                closed[i] = 1
                if size == keys.shape[0]:
                    keys = _grow(keys, size)
                    vals = _grow(vals, size)
                size = _heap_push(keys, vals, size, z[i], i)
    raised = 0
    while size > 0 or ptail > phead:
        if ptail > phead:
            i = pit[phead]
            phead += 1
            if phead == ptail:
                phead = 0
                ptail = 0
        else:
            i = vals[0]
            size = _heap_pop(keys, vals, size)
        zi = z[i]
        r = i // nx
        c = i - r * nx
        for k in range(8):
            rr = r + DROW[k]
            cc = c + DCOL[k]
            if rr < 0 or rr >= ny or cc < 0 or cc >= nx:
                continue
            j = rr * nx + cc
            if closed[j]:
                continue
            closed[j] = 1
            zj = z[j]
            if zj <= zi:
                # a depression cell: raised to the spill level (or just above it)
                if epsilon:
                    z[j] = np.nextafter(zi, inf)
                    raised += 1
                else:
                    if zj < zi:
                        raised += 1
                    z[j] = zi
                if ptail == pit.shape[0]:
                    pit = _grow(pit, ptail)
                pit[ptail] = j
                ptail += 1
                continue
            # j is final at its own elevation: trace upslope from it
            ntrace = 1
            trace[0] = j
            while ntrace > 0:
                ntrace -= 1
                m = trace[ntrace]
                zm = z[m]
                rm = m // nx
                cm = m - rm * nx
                free = True
                nopen = 0
                for kk in range(8):
                    r2 = rm + DROW[kk]
                    c2 = cm + DCOL[kk]
                    if r2 < 0 or r2 >= ny or c2 < 0 or c2 >= nx:
                        continue
                    q = r2 * nx + c2
                    if not closed[q]:
                        if z[q] <= zm:
                            free = False
                            break
                        nbr[nopen] = q
                        nopen += 1
                if not free:
                    if size == keys.shape[0]:
                        keys = _grow(keys, size)
                        vals = _grow(vals, size)
                    size = _heap_push(keys, vals, size, zm, m)
                    continue
                for kk in range(nopen):
                    q = nbr[kk]
                    closed[q] = 1
                    if ntrace == trace.shape[0]:
                        trace = _grow(trace, ntrace)
                    trace[ntrace] = q
                    ntrace += 1
    return raised


# --------------------------------------------------------------------------------------------
@nb.njit(**_JIT)
def d8_steepest(z, ny, nx, dist_ew, dist_ns, dist_diag, fdir):
    """D8 steepest-slope directions.

    ``dist_ew``/``dist_diag`` (per row) and ``dist_ns`` (scalar) are the distances in metres to
    the E/W, diagonal and N/S neighbours. Cells with no lower valid neighbour drain off the grid
    (code 0) when on the edge or next to nodata, and are marked ``FLAT`` (254) otherwise.
    Ties go to the first neighbour in ESRI order (E, SE, S, ...).

    Returns the number of FLAT cells.
    """
    nflat = 0
    for r in range(ny):
        dew = dist_ew[r]
        ddg = dist_diag[r]
        for c in range(nx):
            i = r * nx + c
            zi = z[i]
            if np.isnan(zi):
                fdir[i] = NODATA_CODE
                continue
            best = 0.0
            bestk = -1
            edge = False
            for k in range(8):
                rr = r + DROW[k]
                cc = c + DCOL[k]
                if rr < 0 or rr >= ny or cc < 0 or cc >= nx:
                    edge = True
                    continue
                zn = z[rr * nx + cc]
                if np.isnan(zn):
                    edge = True
                    continue
                if zn < zi:
                    if k == 2 or k == 6:
                        d = dist_ns
                    elif k == 0 or k == 4:
                        d = dew
                    else:
                        d = ddg
                    s = (np.float64(zi) - np.float64(zn)) / d
                    if s > best:
                        best = s
                        bestk = k
            if bestk >= 0:
                fdir[i] = D8_CODES[bestk]
            elif edge:
                fdir[i] = OUTLET_CODE
            else:
                fdir[i] = FLAT
                nflat += 1
    return nflat


@nb.njit(**_JIT)
def resolve_flats(z, ny, nx, fdir):
    """Give every FLAT cell a direction (Barnes, Lehman & Mulla 2014, flat resolution).

    Combines a gradient towards lower terrain (BFS distance from the flat's outlets, weight 2)
    with a gradient away from higher terrain (inverted BFS distance from the flat's higher
    edges), then points each flat cell at the neighbour of the same elevation with the lowest
    combined value; outlets of a flat (non-flat cells of the same elevation, the "low edges")
    count 0. Flats with no outlet (pits of an unfilled DEM) get code 0.

    Work arrays are compact (one entry per flat cell) apart from one int32 position map.

    Returns the number of flat cells without an outlet.
    """
    n = ny * nx
    pos = np.full(n, -1, np.int32)
    nflat = 0
    for i in range(n):
        if fdir[i] == FLAT:
            pos[i] = nflat
            nflat += 1
    cells = np.empty(nflat, np.int64)
    for i in range(n):
        if pos[i] >= 0:
            cells[pos[i]] = i
    label = np.zeros(nflat, np.int32)
    away = np.zeros(nflat, np.int32)
    towards = np.full(nflat, -1, np.int32)
    # every flat cell enters each BFS queue at most once: preallocated int32 queues
    queue = np.empty(max(nflat, 1), np.int32)
    hq = np.empty(max(nflat, 1), np.int32)  # away-from-higher BFS, seeded with flat cells next to higher ground
    lq = np.empty(max(nflat, 1), np.int32)  # towards-lower BFS, seeded with flat cells next to an outlet
    nh = 0
    nl = 0
    # 1. label connected flats (same elevation, 8-connected); the same neighbour scan finds the seeds:
    #    high edges (next to higher valid terrain, away = 1) and cells next to an outlet of the flat
    #    (a non-flat valid cell of the same elevation, towards = 1)
    nlab = 0
    for s in range(nflat):
        if label[s] != 0:
            continue
        nlab += 1
        label[s] = nlab
        head = 0
        tail = 1
        queue[0] = s
        while head < tail:
            p = queue[head]
            head += 1
            i = cells[p]
            zi = z[i]
            r = i // nx
            c = i - r * nx
            high = False
            low = False
            for k in range(8):
                rr = r + DROW[k]
                cc = c + DCOL[k]
                if rr < 0 or rr >= ny or cc < 0 or cc >= nx:
                    continue
                j = rr * nx + cc
                f = fdir[j]
                if f == NODATA_CODE:
                    continue
                zj = z[j]
                if zj > zi:
                    high = True
                elif zj == zi:
                    q = pos[j]
                    if q < 0:
                        low = True
                    elif label[q] == 0:
                        label[q] = nlab
                        queue[tail] = q
                        tail += 1
            if high:
                away[p] = 1
                hq[nh] = p
                nh += 1
            if low:
                towards[p] = 1
                lq[nl] = p
                nl += 1
    # 2. gradient away from higher terrain: BFS from the high edges within each flat
    flat_height = np.zeros(nlab + 1, np.int32)
    head = 0
    tail = nh
    while head < tail:
        p = hq[head]
        head += 1
        a = away[p]
        lab = label[p]
        if a > flat_height[lab]:
            flat_height[lab] = a
        i = cells[p]
        r = i // nx
        c = i - r * nx
        for k in range(8):
            rr = r + DROW[k]
            cc = c + DCOL[k]
            if rr < 0 or rr >= ny or cc < 0 or cc >= nx:
                continue
            q = pos[rr * nx + cc]
            if q >= 0 and away[q] == 0 and label[q] == lab:
                away[q] = a + 1
                hq[tail] = q
                tail += 1
    # 3. gradient towards lower terrain: BFS from the cells next to the flat's outlets
    head = 0
    tail = nl
    while head < tail:
        p = lq[head]
        head += 1
        t = towards[p]
        i = cells[p]
        zi = z[i]
        r = i // nx
        c = i - r * nx
        for k in range(8):
            rr = r + DROW[k]
            cc = c + DCOL[k]
            if rr < 0 or rr >= ny or cc < 0 or cc >= nx:
                continue
            j = rr * nx + cc
            q = pos[j]
            if q >= 0 and towards[q] < 0 and z[j] == zi:
                towards[q] = t + 1
                lq[tail] = q
                tail += 1
    # combined value (stored in `away`): 2 * towards + inverted away-from-higher
    for p in range(nflat):
        if towards[p] > 0:
            if away[p] > 0:
                away[p] = 2 * towards[p] + (flat_height[label[p]] - away[p])
            else:
                away[p] = 2 * towards[p]
    # 5. directions: lowest combined value among same-elevation neighbours (outlets count 0);
    #    ties to the first neighbour in ESRI order
    unresolved = 0
    for p in range(nflat):
        i = cells[p]
        if towards[p] <= 0:
            unresolved += 1
            continue
        zi = z[i]
        r = i // nx
        c = i - r * nx
        best = away[p]
        bestk = -1
        for k in range(8):
            rr = r + DROW[k]
            cc = c + DCOL[k]
            if rr < 0 or rr >= ny or cc < 0 or cc >= nx:
                continue
            j = rr * nx + cc
            if z[j] != zi:
                continue
            q = pos[j]
            if q < 0:
                if fdir[j] == NODATA_CODE:
                    continue
                v = 0  # an outlet of the flat
            else:
                if towards[q] <= 0:
                    continue
                v = away[q]
            if v < best:
                best = v
                bestk = k
        if bestk < 0:  # cannot happen by construction (a neighbour one BFS step closer exists)
            unresolved += 1
            continue
        fdir[i] = D8_CODES[bestk]
    if unresolved:
        for p in range(nflat):
            if fdir[cells[p]] == FLAT:
                fdir[cells[p]] = OUTLET_CODE
    return unresolved


# --------------------------------------------------------------------------------------------
@nb.njit(**_JIT)
def downstream_index(fdir, ny, nx, ds):
    """Flat index of each cell's downstream neighbour (-1 for outlets, nodata, or codes leaving the grid)."""
    for r in range(ny):
        for c in range(nx):
            i = r * nx + c
            k = _CODE_TO_K[fdir[i]]
            if k == 8:
                ds[i] = -1
                continue
            rr = r + DROW[k]
            cc = c + DCOL[k]
            if rr < 0 or rr >= ny or cc < 0 or cc >= nx or fdir[rr * nx + cc] == NODATA_CODE:
                ds[i] = -1
            else:
                ds[i] = rr * nx + cc


@nb.njit(**_JIT)
def topological_order(ds, fdir):
    """Valid cells ordered upstream before downstream (Kahn's algorithm).

    Returns
    -------
    order : int32 array
        Flat indices of all valid cells.
    ok : bool
        False if the graph has a cycle (then ``order`` is incomplete).
    """
    n = ds.shape[0]
    indeg = np.zeros(n, np.uint8)
    nvalid = 0
    for i in range(n):
        if fdir[i] != NODATA_CODE:
            nvalid += 1
            d = ds[i]
            if d >= 0:
                indeg[d] += 1
    order = np.empty(nvalid, np.int32)
    tail = 0
    for i in range(n):
        if fdir[i] != NODATA_CODE and indeg[i] == 0:
            order[tail] = i
            tail += 1
    head = 0
    while head < tail:
        i = order[head]
        head += 1
        d = ds[i]
        if d >= 0:
            indeg[d] -= 1
            if indeg[d] == 0:
                order[tail] = d
                tail += 1
    return order, tail == nvalid


@nb.njit(**_JIT)
def accumulate(order, ds, acc):
    """In place: ``acc[ds[i]] += acc[i]`` in topological order (acc holds the cell weights)."""
    for m in range(order.shape[0]):
        i = order[m]
        d = ds[i]
        if d >= 0:
            acc[d] += acc[i]


@nb.njit(**_JIT)
def accumulate_count(order, ds, acc):
    """Upstream cell count including the cell itself (acc zero-initialised, any numeric dtype)."""
    for m in range(order.shape[0]):
        acc[order[m]] = 1
    for m in range(order.shape[0]):
        i = order[m]
        d = ds[i]
        if d >= 0:
            acc[d] += acc[i]


@nb.njit(**_JIT)
def hand_from_drainage(order, ds, z, is_drain, out):
    """Height above the drainage cell each cell flows to (NaN on nodata).

    ``is_drain`` marks drainage cells (streams; outlets are added by the caller). Cells whose
    path reaches no drainage cell take the elevation of the outlet they end at.
    """
    for i in range(out.shape[0]):
        out[i] = np.nan
    # downstream first: drainage elevation
    for m in range(order.shape[0] - 1, -1, -1):
        i = order[m]
        d = ds[i]
        if is_drain[i] or d < 0:
            out[i] = z[i]
        else:
            out[i] = out[d]
    for m in range(order.shape[0]):
        i = order[m]
        out[i] = z[i] - out[i]


@nb.njit(**_JIT)
def strahler(order, ds, is_stream, out):
    """Strahler order on stream cells (0 elsewhere); ``out`` int8 zero-initialised."""
    nmax = np.zeros(out.shape[0], np.uint8)  # how many upstream tributaries carry the max order
    for m in range(order.shape[0]):
        i = order[m]
        if not is_stream[i]:
            continue
        if nmax[i] == 0:
            o = 1
        elif nmax[i] >= 2:
            o = out[i] + 1
        else:
            o = out[i]
        out[i] = o
        d = ds[i]
        if d >= 0 and is_stream[d]:
            if o > out[d]:
                out[d] = o
                nmax[d] = 1
            elif o == out[d]:
                nmax[d] += 1


@nb.njit(**_JIT)
def label_catchments(order, ds, labels):
    """Propagate outlet labels upstream: cells take the label of the first labelled cell downstream.

    ``labels`` holds the outlet ids (> 0) at outlet cells and 0 elsewhere; modified in place.
    """
    for m in range(order.shape[0] - 1, -1, -1):
        i = order[m]
        if labels[i] == 0:
            d = ds[i]
            if d >= 0:
                labels[i] = labels[d]


def precompile_later_stages() -> None:
    """Compile (and cache) the kernels used after filling and D8, for float32 DEMs.

    Run in a separate process by the CLI when the numba cache is empty, so that these kernels
    compile on the second core while the main process reads the DEM and compiles the fill.
    """
    ny = nx = 4
    n = ny * nx
    z = np.arange(n, dtype=np.float32)
    fdir = np.full(n, FLAT, np.uint8)
    fdir[0] = OUTLET_CODE
    z[:] = 1.0
    resolve_flats(z, ny, nx, fdir)
    ds = np.empty(n, np.int32)
    downstream_index(fdir, ny, nx, ds)
    order, _ = topological_order(ds, fdir)
    acc = np.zeros(n, np.int32)
    accumulate_count(order, ds, acc)
    is_stream = acc > 1
    hand_from_drainage(order, ds, z, is_stream, np.empty(n, np.float32))
    strahler(order, ds, is_stream, np.zeros(n, np.int8))


def cache_is_warm() -> bool:
    """True when compiled kernels of this module are in numba's on-disk cache."""
    import glob
    import os

    cache_dir = os.environ.get("NUMBA_CACHE_DIR")
    here = os.path.dirname(os.path.abspath(__file__))
    pattern = "*_kernels.resolve_flats-*.nbi"
    places = [cache_dir] if cache_dir else [os.path.join(here, "__pycache__")]
    return any(glob.glob(os.path.join(p, "**", pattern), recursive=True) for p in places)

"""Numba kernels of the terrain engine, on flat (row-major) numpy arrays only.

No xarray here: the public functions in :mod:`hydro.terrain` wrap these. Cell ``i`` of an
``(ny, nx)`` grid is ``row * nx + col``. Neighbour ``k`` (0..7) follows the ESRI D8 order
E, SE, S, SW, W, NW, N, NE with codes ``1 << k``.

Codes: 0 = drains off the grid or into nodata (an outlet), 255 = nodata, and internally
``FLAT`` (254) for cells not yet given a direction.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

__all__ = [
    "D8_CODES",
    "NODATA_CODE",
    "OUTLET_CODE",
    "priority_flood",
    "fill",
    "fill_strips",
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
#: drops are scaled by 2**100 (exact) before dividing by the distance: a drop of a few ulps of 0 m (float64 epsilon
#: fill of a 0 m depression: 5e-324 m) over 10 m underflowed to a slope of 0, leaving an interior cell without a
#: direction; the comparisons of normal slopes are unchanged
_SLOPE_SCALE = 2.0**100
#: code -> neighbour index (0..7); 8 for outlet/nodata/anything else
_CODE_TO_K = np.full(256, 8, dtype=np.int64)
for _k in range(8):
    _CODE_TO_K[1 << _k] = _k

_JIT = dict(cache=True, nogil=True)

#: below this many cells every kernel runs on one thread: threads, the seam solve and the compile
#: time of the strip kernels are not worth it (the embedded 1.2 M-cell DEM fills in ~0.15 s)
PARALLEL_MIN_CELLS = 2_000_000
#: rows per strip at least (the seam rows are extra outlets of each strip)
MIN_STRIP_ROWS = 64


# --------------------------------------------------------------------------------------------
# threads: the kernels release the GIL (nogil), so plain Python threads run them side by side
def num_threads() -> int:
    """Threads the terrain kernels use: ``NUMBA_NUM_THREADS`` (numba's default: the CPU count)."""
    env = os.environ.get("NUMBA_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return max(1, int(nb.config.NUMBA_NUM_THREADS))


def _run(jobs: Sequence[Callable[[], object]], threads: int | None = None) -> list:
    """Run callables (nogil kernels) on up to ``threads`` threads; results in job order."""
    threads = num_threads() if threads is None else threads
    if len(jobs) == 1 or threads <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(min(threads, len(jobs))) as ex:
        futures = [ex.submit(job) for job in jobs]
        return [f.result() for f in futures]


def _row_bounds(ny: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous row ranges covering 0..ny."""
    edges = np.linspace(0, ny, parts + 1).round().astype(np.int64)
    return [(int(edges[s]), int(edges[s + 1])) for s in range(parts)]


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
# strip-parallel priority-flood (Barnes 2016)
@nb.njit(**_JIT)
def _seam_label(r, c, r0, r1, s, ny, nx):
    """Label (> 0) of a seam-row cell of strip ``s`` (rows r0..r1-1): 1 + seam-row number * nx + column."""
    if r == r0 and r0 > 0:
        return 1 + (2 * s - 1) * nx + c
    return 1 + 2 * s * nx + c


@nb.njit(**_JIT)
def _flood_strip(z, st, lab, ny, nx, r0, r1, s):
    """Priority-flood of rows r0..r1-1 alone, its seam rows (next to another strip) as extra outlets.

    Same algorithm as :func:`priority_flood` (epsilon=False) restricted to the strip; true outlets
    (grid edge, next to nodata anywhere in the grid) are seeds as in the whole-grid fill, and so is
    every cell of a seam row. Each cell records where it was flooded from: ``st`` = 1 a true
    outlet, 2 a seam cell (its label in ``lab``, see :func:`_seam_label`), 3 nodata. ``z`` of the
    strip ends at the local fill, which is <= the global one.

    Returns the number of cells raised.
    """
    lo = r0 * nx
    hi = r1 * nx
    n = hi - lo
    cap = max(1024, 4 * nx + n // 64)
    keys = np.empty(cap, z.dtype)
    vals = np.empty(cap, np.int32)
    size = 0
    pit = np.empty(max(1024, n // 64), np.int32)
    phead = 0
    ptail = 0
    trace = np.empty(max(1024, n // 64), np.int32)
    nbr = np.empty(8, np.int64)
    top = r0 > 0
    bottom = r1 < ny
    for r in range(r0, r1):
        for c in range(nx):
            i = r * nx + c
            if np.isnan(z[i]):
                st[i] = 3
                continue
            seed = r == 0 or c == 0 or r == ny - 1 or c == nx - 1
            if not seed:
                for k in range(8):
                    if np.isnan(z[(r + DROW[k]) * nx + c + DCOL[k]]):
                        seed = True
                        break
            if seed:
                st[i] = 1
            elif (top and r == r0) or (bottom and r == r1 - 1):
                st[i] = 2
                lab[i] = _seam_label(r, c, r0, r1, s, ny, nx)
            else:
                st[i] = 0
                continue
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
        si = st[i]
        r = i // nx
        c = i - r * nx
        for k in range(8):
            rr = r + DROW[k]
            cc = c + DCOL[k]
            if rr < r0 or rr >= r1 or cc < 0 or cc >= nx:
                continue
            j = rr * nx + cc
            if st[j]:
                continue
            st[j] = si
            if si == 2:
                lab[j] = lab[i]
            zj = z[j]
            if zj <= zi:
                if zj < zi:
                    raised += 1
                z[j] = zi
                if ptail == pit.shape[0]:
                    pit = _grow(pit, ptail)
                pit[ptail] = j
                ptail += 1
                continue
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
                    if r2 < r0 or r2 >= r1 or c2 < 0 or c2 >= nx:
                        continue
                    q = r2 * nx + c2
                    if not st[q]:
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
                sm = st[m]
                lm = lab[m] if sm == 2 else 0
                for kk in range(nopen):
                    q = nbr[kk]
                    st[q] = sm
                    if sm == 2:
                        lab[q] = lm
                    if ntrace == trace.shape[0]:
                        trace = _grow(trace, ntrace)
                    trace[ntrace] = q
                    ntrace += 1
    return raised


@nb.njit(**_JIT)
def _strip_edges(z, st, lab, nx, r0, r1, nlab):
    """Spill edges between the watersheds of one strip after :func:`_flood_strip`.

    Two adjacent cells of different watersheds join them at the higher of their local fill
    levels. Returns ``minr`` (per seam label, the lowest join with a true-outlet watershed; inf
    if none) and the joins between two seam watersheds as arrays (a, b, level), consecutive
    duplicates dropped.
    """
    minr = np.full(nlab, np.inf, z.dtype)
    ecap = 4096
    ea = np.empty(ecap, np.int32)
    eb = np.empty(ecap, np.int32)
    ew = np.empty(ecap, z.dtype)
    ne = 0
    for r in range(r0, r1):
        for c in range(nx):
            i = r * nx + c
            si = st[i]
            if si == 3:
                continue
            zi = z[i]
            li = lab[i] if si == 2 else 0
            for k in range(4):  # E, SE, S, SW: every pair once
                rr = r + DROW[k]
                cc = c + DCOL[k]
                if rr >= r1 or cc < 0 or cc >= nx:
                    continue
                j = rr * nx + cc
                sj = st[j]
                if sj == 3 or (sj == 1 and si == 1):
                    continue
                lj = lab[j] if sj == 2 else 0
                if lj == li:
                    continue
                zj = z[j]
                w = max(zi, zj)
                if li == 0:
                    minr[lj] = min(minr[lj], w)
                elif lj == 0:
                    minr[li] = min(minr[li], w)
                elif ne == 0 or ea[ne - 1] != li or eb[ne - 1] != lj or w < ew[ne - 1]:
                    if ne == ea.shape[0]:
                        ea = _grow(ea, ne)
                        eb = _grow(eb, ne)
                        ew = _grow(ew, ne)
                    ea[ne] = li
                    eb[ne] = lj
                    ew[ne] = w
                    ne += 1
    return minr, ea[:ne].copy(), eb[:ne].copy(), ew[:ne].copy()


@nb.njit(**_JIT)
def _solve_spill(minr, ea, eb, ew, z, st, lab, ny, nx, bounds):
    """Spill level of every seam watershed: the lowest level at which water from it reaches a
    true outlet, over the graph of watersheds (a priority-flood on labels; Barnes 2016).

    ``minr`` (joins to true-outlet watersheds, all strips) and ``ea, eb, ew`` (joins between seam
    watersheds inside strips); the joins across seams are added here from the seam rows, whose
    cells keep their own elevation. ``minr`` is updated in place. Returns ``S`` per label (label 0,
    the true outlets, -inf).
    """
    nlab = minr.shape[0]
    nstrip = bounds.shape[0] - 1
    # cross-seam pairs: bottom row of strip s-1 against top row of strip s
    nx3 = 3 * nx * (nstrip - 1)
    ne0 = ea.shape[0]
    m = ne0 + nx3
    A = np.empty(m, np.int32)
    Bv = np.empty(m, np.int32)
    W = np.empty(m, z.dtype)
    for e in range(ne0):
        A[e] = ea[e]
        Bv[e] = eb[e]
        W[e] = ew[e]
    ne = ne0
    for s in range(1, nstrip):
        ra = bounds[s] - 1
        rb = bounds[s]
        for c in range(nx):
            x = ra * nx + c
            if st[x] == 3:
                continue
            la = lab[x] if st[x] == 2 else 0
            for dc in range(-1, 2):
                cc = c + dc
                if cc < 0 or cc >= nx:
                    continue
                y = rb * nx + cc
                if st[y] == 3:
                    continue
                lb = lab[y] if st[y] == 2 else 0
                if lb == la:
                    continue
                w = max(z[x], z[y])
                if la == 0:
                    minr[lb] = min(minr[lb], w)
                elif lb == 0:
                    minr[la] = min(minr[la], w)
                else:
                    A[ne] = la
                    Bv[ne] = lb
                    W[ne] = w
                    ne += 1
    # CSR over both directions
    deg = np.zeros(nlab + 1, np.int64)
    for e in range(ne):
        deg[A[e] + 1] += 1
        deg[Bv[e] + 1] += 1
    for a in range(nlab):
        deg[a + 1] += deg[a]
    fill = deg[:-1].copy()
    adj = np.empty(2 * ne, np.int32)
    adw = np.empty(2 * ne, z.dtype)
    for e in range(ne):
        a = A[e]
        b = Bv[e]
        adj[fill[a]] = b
        adw[fill[a]] = W[e]
        fill[a] += 1
        adj[fill[b]] = a
        adw[fill[b]] = W[e]
        fill[b] += 1
    # minimax Dijkstra from the true outlets
    S = np.full(nlab, np.inf, z.dtype)
    done = np.zeros(nlab, np.uint8)
    keys = np.empty(nlab + 2 * ne + 16, z.dtype)
    vals = np.empty(nlab + 2 * ne + 16, np.int32)
    size = 0
    for a in range(1, nlab):
        if minr[a] < np.inf:
            S[a] = minr[a]
            size = _heap_push(keys, vals, size, minr[a], a)
    S[0] = -np.inf
    done[0] = 1
    while size > 0:
        a = vals[0]
        sa = keys[0]
        size = _heap_pop(keys, vals, size)
        if done[a]:
            continue
        done[a] = 1
        for p in range(deg[a], deg[a + 1]):
            b = adj[p]
            if done[b]:
                continue
            w = adw[p]
            v = max(sa, w)
            if v < S[b]:
                S[b] = v
                size = _heap_push(keys, vals, size, v, b)
    return S


@nb.njit(**_JIT)
def _raise_strip(z, z0, st, lab, S, lo, hi):
    """Cells lo..hi-1 to max(local fill, spill level of their watershed); returns cells newly raised
    (``z0``: the unfilled DEM)."""
    raised = 0
    for i in range(lo, hi):
        if st[i] == 2:
            v = S[lab[i]]
            zi = z[i]
            if v > zi:
                if zi == z0[i]:
                    raised += 1
                z[i] = v
    return raised


def fill_strips(z: np.ndarray, z0: np.ndarray, ny: int, nx: int, nstrip: int, threads: int | None = None) -> int:
    """Priority-flood (epsilon=False) of horizontal strips in parallel; the same result as
    :func:`priority_flood`, bit for bit.

    Each strip is filled on its own with its seam rows as extra outlets, labelling the watershed
    (true outlet or seam cell) every cell is flooded from; the watersheds' spill levels are then
    solved on the small graph of watersheds joined inside strips and across seams, and each cell
    is raised to its watershed's spill level where that is higher than its local fill (Barnes
    2016, with strips as tiles).

    Parameters
    ----------
    z : float array (ny*nx,)
        Elevation [m], NaN = nodata; filled in place.
    z0 : float array (ny*nx,)
        The unfilled elevation (read only; to count raised cells).
    nstrip : int
        Strips (>= 2, each >= 2 rows).

    Returns
    -------
    int
        Number of cells raised.

    References
    ----------
    Barnes, R. (2016). Parallel priority-flood depression filling for trillion cell digital
    elevation models on desktops or clusters. Computers & Geosciences 96, 56-68.
    """
    bounds = _row_bounds(ny, nstrip)
    if any(r1 - r0 < 2 for r0, r1 in bounds):
        raise ValueError("strips need at least 2 rows")
    nlab = 1 + 2 * (nstrip - 1) * nx
    st = np.empty(ny * nx, np.uint8)
    lab = np.empty(ny * nx, np.int32)  # written only where st == 2
    raised = sum(_run([lambda s=s: _flood_strip(z, st, lab, ny, nx, bounds[s][0], bounds[s][1], s) for s in range(nstrip)], threads))
    res = _run([lambda s=s: _strip_edges(z, st, lab, nx, bounds[s][0], bounds[s][1], nlab) for s in range(nstrip)], threads)
    minr = res[0][0]
    for r in res[1:]:
        np.minimum(minr, r[0], out=minr)
    ea = np.concatenate([r[1] for r in res])
    eb = np.concatenate([r[2] for r in res])
    ew = np.concatenate([r[3] for r in res])
    del res
    spill = _solve_spill(minr, ea, eb, ew, z, st, lab, ny, nx, np.array([b[0] for b in bounds] + [ny], np.int64))
    raised += sum(_run([lambda s=s: _raise_strip(z, z0, st, lab, spill, bounds[s][0] * nx, bounds[s][1] * nx) for s in range(nstrip)], threads))
    return int(raised)


def fill(z: np.ndarray, z0: np.ndarray, ny: int, nx: int, epsilon: bool, threads: int | None = None) -> int:
    """Fill depressions in place: :func:`fill_strips` on large grids with several threads,
    :func:`priority_flood` otherwise (and always with ``epsilon``, whose result depends on the
    order cells are flooded in). ``z0`` is the unfilled DEM (read only). Returns cells raised."""
    threads = num_threads() if threads is None else threads
    nstrip = min(threads, ny // MIN_STRIP_ROWS)
    if epsilon or nstrip < 2 or ny * nx < PARALLEL_MIN_CELLS:
        return int(priority_flood(z, ny, nx, bool(epsilon)))
    return fill_strips(z, z0, ny, nx, nstrip, threads)


# --------------------------------------------------------------------------------------------
@nb.njit(**_JIT)
def _d8_rows(z, ny, nx, dist_ew, dist_ns, dist_diag, fdir, r0, r1):
    """D8 steepest-slope directions of rows r0..r1-1 (see :func:`d8_steepest`).

    ``dist_ew``/``dist_diag`` (per row) and ``dist_ns`` (scalar) are the distances in metres to
    the E/W, diagonal and N/S neighbours. Cells with no lower valid neighbour drain off the grid
    (code 0) when on the edge or next to nodata, and are marked ``FLAT`` (254) otherwise.
    Ties go to the first neighbour in ESRI order (E, SE, S, ...).

    Returns the number of FLAT cells.
    """
    nflat = 0
    for r in range(r0, r1):
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
                    s = (np.float64(zi) - np.float64(zn)) * _SLOPE_SCALE / d
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


def d8_steepest(z: np.ndarray, ny: int, nx: int, dist_ew: np.ndarray, dist_ns: float, dist_diag: np.ndarray,
                fdir: np.ndarray, threads: int | None = None) -> int:
    """D8 steepest-slope directions, rows split over threads.

    ``dist_ew``/``dist_diag`` (per row) and ``dist_ns`` (scalar) are the distances in metres to
    the E/W, diagonal and N/S neighbours. Cells with no lower valid neighbour drain off the grid
    (code 0) when on the edge or next to nodata, and are marked ``FLAT`` (254) otherwise.
    Ties go to the first neighbour in ESRI order (E, SE, S, ...).

    Returns the number of FLAT cells.
    """
    threads = num_threads() if threads is None else threads
    parts = max(1, min(threads, ny // MIN_STRIP_ROWS)) if ny * nx >= PARALLEL_MIN_CELLS else 1
    dns = float(dist_ns)
    return int(sum(_run([lambda r0=r0, r1=r1: _d8_rows(z, ny, nx, dist_ew, dns, dist_diag, fdir, r0, r1)
                         for r0, r1 in _row_bounds(ny, parts)], threads)))


@nb.njit(**_JIT)
def _flat_count(fdir, lo, hi):
    """FLAT cells among lo..hi-1."""
    m = 0
    for i in range(lo, hi):
        if fdir[i] == FLAT:
            m += 1
    return m


@nb.njit(**_JIT)
def _flat_index(fdir, lo, hi, start, pos, cells):
    """Compact numbering of the FLAT cells lo..hi-1 from ``start``: ``pos`` (-1 elsewhere) and ``cells``."""
    p = start
    for i in range(lo, hi):
        if fdir[i] == FLAT:
            pos[i] = p
            cells[p] = i
            p += 1
        else:
            pos[i] = -1


@nb.njit(**_JIT)
def _flat_away(z, ny, nx, fdir, pos, cells, away):
    """Gradient away from higher terrain, flat by flat (run beside :func:`_flat_towards`).

    Each flat (8-connected FLAT cells of one elevation) is found by a BFS; then a BFS from its
    cells next to higher valid terrain gives the distance d >= 1 from the higher edge, and
    ``away[p]`` ends as ``H - d`` with H the flat's largest d (Barnes et al. 2014's inverted
    gradient), 0 where no higher edge exists. ``away`` must be zero on entry. Doing one flat at a
    time keeps its cells in cache and needs no label array. Returns the number of flats.
    """
    nflat = cells.shape[0]
    seen = np.zeros(nflat, np.uint8)
    queue = np.empty(max(nflat, 1), np.int32)
    hq = np.empty(max(nflat, 1), np.int32)
    nlab = 0
    for s in range(nflat):
        if seen[s]:
            continue
        nlab += 1
        seen[s] = 1
        head = 0
        tail = 1
        queue[0] = s
        nh = 0
        while head < tail:
            p = queue[head]
            head += 1
            i = cells[p]
            zi = z[i]
            r = i // nx
            c = i - r * nx
            high = False
            for k in range(8):
                rr = r + DROW[k]
                cc = c + DCOL[k]
                if rr < 0 or rr >= ny or cc < 0 or cc >= nx:
                    continue
                j = rr * nx + cc
                zj = z[j]
                if zj > zi:
                    if fdir[j] != NODATA_CODE:
                        high = True
                elif zj == zi:
                    q = pos[j]
                    if q >= 0 and seen[q] == 0:
                        seen[q] = 1
                        queue[tail] = q
                        tail += 1
            if high:
                away[p] = 1
                hq[nh] = p
                nh += 1
        if nh == 0:
            continue
        h0 = 0
        h1 = nh
        while h0 < h1:
            p = hq[h0]
            h0 += 1
            a = away[p]
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
                if q >= 0 and away[q] == 0 and z[j] == zi:
                    away[q] = a + 1
                    hq[h1] = q
                    h1 += 1
        H = away[hq[h1 - 1]]
        for m in range(tail):
            p = queue[m]
            if away[p] > 0:
                away[p] = H - away[p]
    return nlab


@nb.njit(**_JIT)
def _flat_towards(z, ny, nx, fdir, pos, cells, towards):
    """Gradient towards lower terrain: BFS distance (>= 1) within each flat from its cells next to
    an outlet of the flat (a non-flat valid cell of the same elevation, the "low edge"); -1 where
    the flat has no outlet. BFS distances do not depend on the seed order. Returns the seed count.
    """
    nflat = cells.shape[0]
    lq = np.empty(max(nflat, 1), np.int32)
    nl = 0
    for p in range(nflat):
        i = cells[p]
        zi = z[i]
        r = i // nx
        c = i - r * nx
        towards[p] = -1
        for k in range(8):
            rr = r + DROW[k]
            cc = c + DCOL[k]
            if rr < 0 or rr >= ny or cc < 0 or cc >= nx:
                continue
            j = rr * nx + cc
            if pos[j] < 0 and z[j] == zi and fdir[j] != NODATA_CODE:
                towards[p] = 1
                lq[nl] = p
                nl += 1
                break
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
    return nl


@nb.njit(**_JIT)
def _flat_dirs(z, ny, nx, fdir, pos, cells, away, towards, p0, p1):
    """Directions of flat cells p0..p1-1: towards the same-elevation neighbour with the lowest
    combined value 2 * towards + away (outlets of the flat 0); ties to the first in ESRI order.
    Reads only values of other cells, so ranges of p run in parallel. Returns unresolved cells."""
    unresolved = 0
    for p in range(p0, p1):
        t = towards[p]
        if t <= 0:
            unresolved += 1
            continue
        i = cells[p]
        zi = z[i]
        r = i // nx
        c = i - r * nx
        best = 2 * t + away[p]
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
                v = 0
            else:
                tq = towards[q]
                if tq <= 0:
                    continue
                v = 2 * tq + away[q]
            if v < best:
                best = v
                bestk = k
        if bestk < 0:
            unresolved += 1
            continue
        fdir[i] = D8_CODES[bestk]
    return unresolved


@nb.njit(**_JIT)
def _flats_to_outlet(fdir, cells):
    """FLAT cells left (flats without outlet: pits of an unfilled DEM) get code 0."""
    for p in range(cells.shape[0]):
        if fdir[cells[p]] == FLAT:
            fdir[cells[p]] = OUTLET_CODE


def resolve_flats(z: np.ndarray, ny: int, nx: int, fdir: np.ndarray, threads: int | None = None) -> int:
    """Give every FLAT cell a direction (Barnes, Lehman & Mulla 2014, flat resolution).

    Combines a gradient towards lower terrain (BFS distance from the flat's outlets, weight 2)
    with a gradient away from higher terrain (inverted BFS distance from the flat's higher
    edges), then points each flat cell at the neighbour of the same elevation with the lowest
    combined value; outlets of a flat (non-flat cells of the same elevation, the "low edges")
    count 0. Flats with no outlet (pits of an unfilled DEM) get code 0. The same directions as
    the serial reference in tests/terrain/reference_flats.py; the two gradients are computed side by side on two threads
    and the directions on all threads.

    Work arrays are compact (one entry per flat cell) apart from one int32 position map.

    Returns the number of flat cells without an outlet.
    """
    threads = num_threads() if threads is None else threads
    n = ny * nx
    parts = max(1, min(threads, ny // MIN_STRIP_ROWS)) if n >= PARALLEL_MIN_CELLS else 1
    spans = [(r0 * nx, r1 * nx) for r0, r1 in _row_bounds(ny, parts)]
    counts = _run([lambda lo=lo, hi=hi: _flat_count(fdir, lo, hi) for lo, hi in spans], threads)
    nflat = int(sum(counts))
    if nflat == 0:
        return 0
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    pos = np.empty(n, np.int32)
    cells = np.empty(nflat, np.int32)
    _run([lambda s=s: _flat_index(fdir, spans[s][0], spans[s][1], int(starts[s]), pos, cells) for s in range(parts)], threads)
    away = np.zeros(nflat, np.int32)
    towards = np.empty(nflat, np.int32)
    two = threads if n >= PARALLEL_MIN_CELLS else 1
    _run([lambda: _flat_away(z, ny, nx, fdir, pos, cells, away), lambda: _flat_towards(z, ny, nx, fdir, pos, cells, towards)], two)
    pparts = max(1, min(two, nflat // 50_000))
    pb = np.linspace(0, nflat, pparts + 1).round().astype(np.int64)
    unresolved = int(sum(_run([lambda s=s: _flat_dirs(z, ny, nx, fdir, pos, cells, away, towards, int(pb[s]), int(pb[s + 1]))
                               for s in range(pparts)], two)))
    if unresolved:
        _flats_to_outlet(fdir, cells)
    return unresolved


# --------------------------------------------------------------------------------------------
@nb.njit(**_JIT)
def _downstream_rows(fdir, ny, nx, ds, r0, r1):
    """:func:`downstream_index` of rows r0..r1-1."""
    for r in range(r0, r1):
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


def downstream_index(fdir: np.ndarray, ny: int, nx: int, ds: np.ndarray, threads: int | None = None) -> None:
    """Flat index of each cell's downstream neighbour (-1 for outlets, nodata, or codes leaving the
    grid), into ``ds`` (int32); rows split over threads."""
    threads = num_threads() if threads is None else threads
    parts = max(1, min(threads, ny // MIN_STRIP_ROWS)) if ny * nx >= PARALLEL_MIN_CELLS else 1
    _run([lambda r0=r0, r1=r1: _downstream_rows(fdir, ny, nx, ds, r0, r1) for r0, r1 in _row_bounds(ny, parts)], threads)


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
    """Compile (and cache) the kernels used after filling and D8, for float32 DEMs, then those of
    the strip-parallel fill (large DEMs).

    Run in a separate process by the CLI when the numba cache is empty, so that these kernels
    compile on the second core while the main process reads the DEM and compiles the fill. It
    lowers its own process's CPU priority (``os.nice``) before the strip kernels: call it only in a
    process of its own.
    """
    ny = nx = 4
    n = ny * nx
    z = np.arange(n, dtype=np.float32)
    fdir = np.full(n, FLAT, np.uint8)
    fdir[0] = OUTLET_CODE
    z[:] = 1.0
    resolve_flats(z, ny, nx, fdir, threads=1)
    _flats_to_outlet(fdir, np.zeros(0, np.int32))
    ds = np.empty(n, np.int32)
    downstream_index(fdir, ny, nx, ds, threads=1)
    order, _ = topological_order(ds, fdir)
    acc = np.zeros(n, np.int32)
    accumulate_count(order, ds, acc)
    accumulate(order, ds, acc)
    is_stream = acc > 1
    hand_from_drainage(order, ds, z, is_stream, np.empty(n, np.float32))
    strahler(order, ds, is_stream, np.zeros(n, np.int8))
    # last, at the lowest CPU priority (this runs in its own throwaway process): the strip-parallel
    # fill, used from PARALLEL_MIN_CELLS on, so not needed by the run that started this process
    try:
        os.nice(19)
    except OSError:  # pragma: no cover - not permitted: compile at normal priority
        pass
    z = np.array([3, 3, 3, 3, 3, 1, 2, 3, 3, 2, 0, 3, 3, 3, 3, 3], np.float32)
    fill_strips(z, z.copy(), ny, nx, 2, threads=1)


def cache_is_warm() -> bool:
    """True when compiled kernels of this module are in numba's on-disk cache."""
    import glob

    cache_dir = os.environ.get("NUMBA_CACHE_DIR")
    here = os.path.dirname(os.path.abspath(__file__))
    pattern = "*_kernels._flat_dirs-*.nbi"
    places = [cache_dir] if cache_dir else [os.path.join(here, "__pycache__")]
    return any(glob.glob(os.path.join(p, "**", pattern), recursive=True) for p in places)

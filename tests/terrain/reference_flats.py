"""The serial, step-by-step Barnes et al. (2014) flat resolution: the oracle the threaded
:func:`hydro.terrain._kernels.resolve_flats` is tested against (kept out of the package)."""
import numba as nb
import numpy as np

from hydro.terrain._kernels import _JIT, D8_CODES, DCOL, DROW, FLAT, NODATA_CODE, OUTLET_CODE


@nb.njit(**_JIT)
def resolve_flats_reference(z, ny, nx, fdir):
    """Give every FLAT cell a direction (Barnes, Lehman & Mulla 2014, flat resolution): the
    serial, step-by-step formulation, kept as the reference :func:`resolve_flats` is tested against.

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

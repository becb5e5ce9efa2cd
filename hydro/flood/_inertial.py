"""numba kernels of the 2-D local-inertial (LISFLOOD-FP ACC / de Almeida) solver.

numpy/numba only: no xarray here. Grid conventions (Arakawa C):

* ``z``, ``h`` at cell centres ``(ny, nx)``; row 0 is the **first raster row** (north for north-up rasters);
* ``qx`` on x-faces ``(ny, nx + 1)``; face ``j`` lies between cells ``j - 1`` and ``j``; ``qx > 0`` towards +x (east);
* ``qy`` on y-faces ``(ny + 1, nx)``; face ``i`` lies between rows ``i - 1`` and ``i``; ``qy > 0`` towards
  **increasing row index** (south for north-up rasters);
* unit discharges ``q`` in m2 s-1, depth ``h`` in m (float64 always), ``z`` and fluxes float32 or float64.

One time step = three parallel sweeps over rows (``prange``):

1. :func:`momentum` reads the state fluxes ``qx, qy`` and writes raw new fluxes into the scratch buffers;
2. :func:`outflow_limiter` computes, per cell, the fraction ``f`` of its outgoing volume it can supply;
3. :func:`continuity` scales each face flux by ``f`` of its donor cell, stores the limited flux back into the
   state buffers (each face written by exactly one row -> no race), updates ``h``, the volume accumulators and the
   running products (max depth, max speed, first wetting, duration, max hazard rating).

Edge boundary kinds (per edge face): 0 closed, 1 inflow (inward unit discharge), 2 water level (ghost cell with
the level and the boundary cell's bed), 3 free outflow (normal depth with slope).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange, types
from numba.extending import intrinsic

__all__ = [
    "BC_CLOSED",
    "BC_INFLOW",
    "BC_LEVEL",
    "BC_FREE",
    "momentum",
    "outflow_limiter",
    "continuity",
    "add_point_sources",
    "edge_volumes",
    "debris_factor",
    "fast_cbrt",
    "fast_inv_cbrt",
]

BC_CLOSED = 0
BC_INFLOW = 1
BC_LEVEL = 2
BC_FREE = 3

_OPTS = dict(cache=True, error_model="numpy", nogil=True)


@intrinsic
def _f64_bits(typingctx, x):
    """Reinterpret a float64 as int64 (bit cast)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


@intrinsic
def _bits_f64(typingctx, i):
    """Reinterpret an int64 as float64 (bit cast)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@intrinsic
def _f32_bits(typingctx, x):
    """Reinterpret a float32 as int32 (bit cast)."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int32))

    return sig, codegen


@intrinsic
def _bits_f32(typingctx, i):
    """Reinterpret an int32 as float32 (bit cast)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return sig, codegen


@numba.njit(inline="always", **_OPTS)
def fast_cbrt(x):
    """Cube root of a positive float64: float32 bit-level first guess + two Halley steps (rel. error < 1e-13).

    libm ``cbrt`` is neither inlined nor vectorised and dominated the momentum sweep (flood.md section 1.11);
    this form is branch-free and vectorises (bit casts; the exponent division by 3 in float64, 2 divisions).
    """
    y = np.float64(_bits_f32(np.int32(np.float64(_f32_bits(np.float32(x))) * (1.0 / 3.0)) + np.int32(709921077)))
    y3 = y * y * y
    y = y * (y3 + 2.0 * x) / (2.0 * y3 + x)
    y3 = y * y * y
    y = y * (y3 + 2.0 * x) / (2.0 * y3 + x)
    return y


@numba.njit(inline="always", **_OPTS)
def fast_inv_cbrt(x):
    """``x**(-1/3)`` for a positive float64 without division: float32 bit-level guess (3.4 % error) and three
    Newton steps ``y <- y (4 - x y^3) / 3`` (relative error < 3e-10); vectorises (flood.md section 1.11)."""
    y = np.float64(_bits_f32(np.int32(1419916032) - np.int32(np.float64(_f32_bits(np.float32(x))) * (1.0 / 3.0))))
    y = y * (4.0 - x * y * y * y) * (1.0 / 3.0)
    y = y * (4.0 - x * y * y * y) * (1.0 / 3.0)
    y = y * (4.0 - x * y * y * y) * (1.0 / 3.0)
    return y


# fast-math flags that keep NaN/inf semantics (so instability checks still see NaN) but let LLVM vectorise
# the per-row sums: reassociation, no signed zeros, reciprocal, contraction (FMA).
_FAST = {"reassoc", "nsz", "arcp", "contract"}


@numba.njit(inline="always", **_OPTS)
def _flux(q0, qs, etaL, etaR, zL, zR, nf, dt, inv_dx, g, h_dry, qcap_fr, qcap_u, implicit):
    """Branch-free face update; returns (q_new, hflow_safe, wet). Same maths as flood.md section 1.2."""
    hflow = max(etaL, etaR) - max(zL, zR)
    wet = hflow > h_dry
    hs = max(hflow, h_dry)
    y = fast_inv_cbrt(hs)  # hs^(-7/3) = y^7, no division, no pow
    y2 = y * y
    a = g * dt * nf * nf * (y2 * y2 * y2 * y)
    gts = g * dt * hs * (etaR - etaL) * inv_dx
    down = etaL - etaR
    if implicit:
        b = qs - gts
        b = (q0 - gts) if b * down < 0.0 else b
        qn = 2.0 * b / (1.0 + np.sqrt(1.0 + 4.0 * a * abs(b)))
    else:
        # explicit friction magnitude: the larger of the face's old flux and the theta-smoothed flux (equal when
        # theta = 1, i.e. Bates et al. 2010); with |q0| alone, neighbour flux smoothed onto a thin wet/dry face
        # escapes friction and can reach implausible speeds (found by tests/flood/test_properties.py)
        den = 1.0 + a * max(abs(q0), abs(qs))
        qn = (qs - gts) / den
        qn = ((q0 - gts) / den) if qn * down < 0.0 else qn
    qmax = min(qcap_fr * hs * np.sqrt(g * hs), qcap_u * hs)  # caps off: qcap = 1e300 (branch-free)
    qn = min(max(qn, -qmax), qmax)
    return (qn if wet else 0.0), hs, wet


@numba.njit(inline="always", **_OPTS)
def _edge_flux(kind, val, q_old, eta_out, z_in, h_in, n0, dt, inv_dx, g, h_dry, qcap_fr, qcap_u, implicit, sign):
    """Flux on an edge face, positive **inward**; ``sign`` = +1 if the domain lies on the + side of the face."""
    if kind == 1:  # inflow: inward unit discharge
        return val
    if kind == 2:  # level: ghost cell eta = val, z = z_in
        eta_in = z_in + h_in
        q_in_dir = sign * q_old  # old flux expressed as inward
        qn, hs, wet = _flux(q_in_dir, q_in_dir, val, eta_in, z_in, z_in, n0, dt, inv_dx, g, h_dry, qcap_fr, qcap_u,
                            implicit)
        return qn
    if kind == 3:  # free outflow at normal depth
        if h_in > h_dry and n0 > 0.0:
            return -h_in * fast_cbrt(h_in * h_in) * np.sqrt(val) / n0
    return 0.0


@numba.njit(inline="always", fastmath=_FAST, **_OPTS)
def _x_row(z, h, active, qx, qx_new, n, i, nx, n_uni, theta, c_side, dt, inv_dx, g, h_dry, qcap_fr, qcap_u,
           velocity_bound, implicit, uniform_n):
    """Interior x faces of row ``i``; returns the number of implausible faces."""
    nbad = 0
    for j in range(1, nx):
        zL = np.float64(z[i, j - 1])
        zR = np.float64(z[i, j])
        etaL = zL + h[i, j - 1]
        etaR = zR + h[i, j]
        nf = n_uni if uniform_n else 0.5 * (np.float64(n[i, j - 1]) + np.float64(n[i, j]))
        q0 = np.float64(qx[i, j])
        qs = theta * q0 + c_side * (np.float64(qx[i, j - 1]) + np.float64(qx[i, j + 1]))
        qn, hs, wet = _flux(q0, qs, etaL, etaR, zL, zR, nf, dt, inv_dx, g, h_dry, qcap_fr, qcap_u, implicit)
        qn = qn if (active[i, j - 1] & active[i, j]) else 0.0
        nbad += 0 if abs(qn) <= velocity_bound * hs else 1
        qx_new[i, j] = qn
    return nbad


@numba.njit(inline="always", fastmath=_FAST, **_OPTS)
def _y_row(z, h, active, qy, qy_new, n, i, nx, n_uni, theta, c_side, dt, inv_dx, g, h_dry, qcap_fr, qcap_u,
           velocity_bound, implicit, uniform_n):
    """Interior y faces of face row ``i`` (between rows i-1 and i); returns the number of implausible faces."""
    nbad = 0
    for j in range(nx):
        zU = np.float64(z[i - 1, j])
        zD = np.float64(z[i, j])
        etaU = zU + h[i - 1, j]
        etaD = zD + h[i, j]
        nf = n_uni if uniform_n else 0.5 * (np.float64(n[i - 1, j]) + np.float64(n[i, j]))
        q0 = np.float64(qy[i, j])
        qs = theta * q0 + c_side * (np.float64(qy[i - 1, j]) + np.float64(qy[i + 1, j]))
        qn, hs, wet = _flux(q0, qs, etaU, etaD, zU, zD, nf, dt, inv_dx, g, h_dry, qcap_fr, qcap_u, implicit)
        qn = qn if (active[i - 1, j] & active[i, j]) else 0.0
        nbad += 0 if abs(qn) <= velocity_bound * hs else 1
        qy_new[i, j] = qn
    return nbad


@numba.njit(parallel=True, fastmath=_FAST, **_OPTS)
def momentum(
    z, h, active, qx, qy, qx_new, qy_new, n, dt, dx, g, theta, h_dry, froude_limit, velocity_limit,
    velocity_bound, bcx_kind, bcx_val, bcy_kind, bcy_val, bad, implicit=False,
):
    """Momentum update of every face (semi-implicit Manning friction, theta smoothing), branch-free rows.

    Parameters
    ----------
    z : (ny, nx) float array
        Bed elevation (m).
    h : (ny, nx) float64
        Water depth at the old time level (m).
    active : (ny, nx) bool
        Cells taking part; faces touching an inactive cell are closed.
    qx, qy : face arrays
        Old unit discharges (m2 s-1), read only.
    qx_new, qy_new : face arrays
        Receive the new, not yet limited, unit discharges.
    n : (ny, nx) or (1, 1) float array
        Manning coefficient (s m-1/3); a (1, 1) array means uniform. Face value = mean of the two cells.
    dt, dx, g : float
        Time step (s), cell size (m), gravity (m s-2).
    theta : float
        de Almeida weighting (1 = Bates et al. 2010, no smoothing).
    h_dry : float
        Faces with flow depth ``hflow <= h_dry`` carry no flow (m).
    froude_limit, velocity_limit : float
        Steep-slope safeguards: ``|q| <= Fr*hflow*sqrt(g*hflow)`` and ``|q| <= u_lim*hflow``; <= 0 disables.
    velocity_bound : float
        Physical plausibility bound (m s-1): a face velocity above it or a non-finite flux is reported in ``bad``.
    bcx_kind, bcx_val : (ny, 2) arrays
        West (column 0) and east (column 1) edge faces: kind codes and current values (inward unit discharge
        m2 s-1 for inflow, water level m for level, friction slope for free outflow).
    bcy_kind, bcy_val : (2, nx) arrays
        North (row 0 = raster row 0 side) and south (row 1) edge faces.
    bad : (ny + 1,) int64
        Out: per face row, -1 if fine, else the column of the first implausible face (x-faces: column,
        y-faces: column + 10**9).
    implicit : bool
        Friction magnitude implicit too (``q (1 + a|q|) = b`` solved exactly) instead of semi-implicit.

    Returns
    -------
    int
        0 (implausible faces are reported in ``bad``).
    """
    ny, nx = h.shape
    uniform_n = n.shape[0] == 1 and n.shape[1] == 1
    inv_dx = 1.0 / dx
    c_side = 0.5 * (1.0 - theta)
    big = 1e300
    qcap_fr = froude_limit if froude_limit > 0.0 else big
    qcap_u = velocity_limit if velocity_limit > 0.0 else big
    n_uni = np.float64(n[0, 0])
    for i in prange(ny + 1):
        bad[i] = -1
        nbad = 0
        if i < ny:
            # ---- interior x faces of row i (vectorisable; one variant keeps compile time low — specialising the
            # implicit/uniform-n flags as literals gained only ~10 % in this sweep for 4x the compile time)
            nbad += _x_row(z, h, active, qx, qx_new, n, i, nx, n_uni, theta, c_side, dt, inv_dx, g, h_dry,
                           qcap_fr, qcap_u, velocity_bound, implicit, uniform_n)
            # ---- edge faces (west j = 0: + inward; east j = nx: + outward)
            n0 = n_uni if uniform_n else np.float64(n[i, 0])
            q = _edge_flux(bcx_kind[i, 0], bcx_val[i, 0], np.float64(qx[i, 0]), bcx_val[i, 0], np.float64(z[i, 0]),
                           h[i, 0], n0, dt, inv_dx, g, h_dry, qcap_fr, qcap_u, implicit, 1.0)
            qx_new[i, 0] = q if active[i, 0] else 0.0
            n0 = n_uni if uniform_n else np.float64(n[i, nx - 1])
            q = _edge_flux(bcx_kind[i, 1], bcx_val[i, 1], np.float64(qx[i, nx]), bcx_val[i, 1],
                           np.float64(z[i, nx - 1]), h[i, nx - 1], n0, dt, inv_dx, g, h_dry, qcap_fr, qcap_u,
                           implicit, -1.0)
            qx_new[i, nx] = -q if active[i, nx - 1] else 0.0
        # ---- y faces of face row i (between rows i-1 and i)
        if i == 0 or i == ny:
            side = 0 if i == 0 else 1
            r = 0 if i == 0 else ny - 1
            sgn = 1.0 if i == 0 else -1.0
            for j in range(nx):
                n0 = n_uni if uniform_n else np.float64(n[r, j])
                q = _edge_flux(bcy_kind[side, j], bcy_val[side, j], np.float64(qy[i, j]), bcy_val[side, j],
                               np.float64(z[r, j]), h[r, j], n0, dt, inv_dx, g, h_dry, qcap_fr, qcap_u, implicit,
                               sgn)
                qy_new[i, j] = sgn * q if active[r, j] else 0.0
        else:
            nbad += _y_row(z, h, active, qy, qy_new, n, i, nx, n_uni, theta, c_side, dt, inv_dx, g, h_dry,
                           qcap_fr, qcap_u, velocity_bound, implicit, uniform_n)
        if nbad > 0:  # locate (rare): first implausible face of this face row
            _locate_bad_faces(z, h, qx_new, qy_new, i, velocity_bound, h_dry, bad)
    return 0


@numba.njit(**_OPTS)
def _locate_bad_faces(z, h, qx_new, qy_new, i, velocity_bound, h_dry, bad):
    ny, nx = h.shape
    if i < ny:
        for j in range(1, nx):
            hf = max(max(z[i, j - 1] + h[i, j - 1], z[i, j] + h[i, j]) - max(z[i, j - 1], z[i, j]), h_dry)
            if not (abs(qx_new[i, j]) <= velocity_bound * hf):
                bad[i] = j
                return
    if 0 < i < ny:
        for j in range(nx):
            hf = max(max(z[i - 1, j] + h[i - 1, j], z[i, j] + h[i, j]) - max(z[i - 1, j], z[i, j]), h_dry)
            if not (abs(qy_new[i, j]) <= velocity_bound * hf):
                bad[i] = j + 1_000_000_000
                return
    bad[i] = 0


@numba.njit(inline="always", **_OPTS)
def _net_vertical(h, r, f, inv_dt):
    """Rain minus infiltration (m s-1) with infiltration limited to the water available; returns (net, f_eff)."""
    fe = max(min(f, h * inv_dt + r), 0.0)
    return r - fe, fe


@numba.njit(parallel=True, fastmath=_FAST, **_OPTS)
def outflow_limiter(h, active, qx, qy, rain, infil, dt, dx, fac):
    """Donor-cell outflow limiter: fraction of each cell's outgoing volume it can supply this step.

    ``V_avail = h*A + dt*A*(r - f)``; ``V_out = dt*dx*sum(outgoing q)``; ``fac = min(1, V_avail/V_out)``.
    ``rain``/``infil`` are (ny, nx) or (1, 1) rates in m s-1. Writes ``fac`` (ny, nx).
    """
    ny, nx = h.shape
    uniform_r = rain.shape[0] == 1 and rain.shape[1] == 1
    uniform_f = infil.shape[0] == 1 and infil.shape[1] == 1
    r0 = rain[0, 0]
    f0 = infil[0, 0]
    inv_dt = 1.0 / dt
    for i in prange(ny):
        for j in range(nx):
            out = (max(-np.float64(qx[i, j]), 0.0) + max(np.float64(qx[i, j + 1]), 0.0)
                   + max(-np.float64(qy[i, j]), 0.0) + max(np.float64(qy[i + 1, j]), 0.0))
            hij = h[i, j]
            r = r0 if uniform_r else rain[i, j]
            f = f0 if uniform_f else infil[i, j]
            net, fe = _net_vertical(hij, r, f, inv_dt)
            # in depth units: available h + dt*net against dt*out/dx
            avail = max(hij + dt * net, 0.0)
            need = dt * out / dx
            ok = need <= avail or not active[i, j]
            # (1 - 2.4e-7): a float32 factor never rounds up past the water available (no clipping)
            fac[i, j] = 1.0 if ok else avail / need * (1.0 - 2.4e-7)


@numba.njit(inline="always", **_OPTS)
def debris_factor(depth, speed, landuse):
    """Debris factor of Defra/EA FD2321 (TR2 Table 3.1): landuse 0 pasture/arable, 1 woodland, 2 urban."""
    mid = 0.0 if landuse == 0 else (0.5 if landuse == 1 else 1.0)
    high = 0.5 if landuse == 0 else 1.0
    df = mid if (depth <= 0.75 and speed <= 2.0) else high
    return 0.0 if depth <= 0.25 else df


@numba.njit(inline="always", **_OPTS)
def _limited_x(qx_raw, fac, i, j, nx):
    """Flux of x-face (i, j) scaled by its donor cell's limiter factor (float64; edge ghosts unscaled)."""
    q = np.float64(qx_raw[i, j])
    if q > 0.0:
        if j > 0:
            q *= np.float64(fac[i, j - 1])
    elif q < 0.0:
        if j < nx:
            q *= np.float64(fac[i, j])
    return q


@numba.njit(inline="always", **_OPTS)
def _limited_y(qy_raw, fac, i, j, ny):
    """Flux of y-face (i, j) scaled by its donor cell's limiter factor (float64; edge ghosts unscaled)."""
    q = np.float64(qy_raw[i, j])
    if q > 0.0:
        if i > 0:
            q *= np.float64(fac[i - 1, j])
    elif q < 0.0:
        if i < ny:
            q *= np.float64(fac[i, j])
    return q


@numba.njit(inline="always", **_OPTS)
def _pos_bits(x):
    """int64 bit pattern of a float64 >= 0 (orders like the value; integer max reductions vectorise)."""
    return _f64_bits(x)


@numba.njit(parallel=True, fastmath=_FAST, **_OPTS)
def continuity(
    h, active, qx_raw, qy_raw, fac, qx, qy, rain, infil, dt, dx, h_dry, t_end_step, threshold, depth_bound,
    landuse, max_depth, max_speed, t_wet, duration, max_hazard, row_hmax, row_rain, row_infil, row_clip, bad,
    row_umax,
):
    """Limit face fluxes by their donor's factor, store them, update depth, volumes and running products.

    Face fluxes ``qx_raw``/``qy_raw`` (from :func:`momentum`) are scaled by ``fac`` of the cell they leave (edge
    ghost cells: no scaling) and written into ``qx``/``qy`` (state for the next step). ``h`` is updated in place.

    Per row accumulators (float64, added to): ``row_rain`` rain volume (m3), ``row_infil`` infiltrated volume,
    ``row_clip`` volume created by setting round-off negatives to zero; ``row_hmax`` is overwritten with the row's
    maximum depth and ``row_umax`` with its maximum cell speed (m s-1). Products (in place): ``max_depth`` (m),
    ``max_speed`` (m s-1, where ``h > threshold``), ``t_wet`` (s, first time ``h > threshold``, -1 if never),
    ``duration`` (s with ``h > threshold``), ``max_hazard`` (Defra hazard rating). ``bad[i]`` receives the first
    column of row ``i`` whose new depth is non-finite or above ``depth_bound``.

    Returns
    -------
    int
        0 (implausible cells are reported in ``bad``).
    """
    ny, nx = h.shape
    uniform_r = rain.shape[0] == 1 and rain.shape[1] == 1
    uniform_f = infil.shape[0] == 1 and infil.shape[1] == 1
    uniform_lu = landuse.shape[0] == 1 and landuse.shape[1] == 1
    r0 = rain[0, 0]
    f0 = infil[0, 0]
    lu0 = landuse[0, 0]
    area = dx * dx
    inv_dx = 1.0 / dx
    inv_dt = 1.0 / dt
    t_end32 = np.float32(t_end_step)
    dt32 = np.float32(dt)
    for i in prange(ny):
        limx = np.empty(nx + 1)
        limn = np.empty(nx)
        lims = np.empty(nx)
        spd = np.empty(nx)
        # --- limited fluxes of the row's faces (float64 products: exact for float32 operands)
        for j in range(1, nx):
            q = np.float64(qx_raw[i, j])
            fl = np.float64(fac[i, j - 1])  # unconditional loads: the select vectorises
            fr = np.float64(fac[i, j])
            w = np.float64(q > 0.0)  # arithmetic blend: branch-free and deterministic for both neighbours
            limx[j] = q * (fr + w * (fl - fr))
        limx[0] = _limited_x(qx_raw, fac, i, 0, nx)
        limx[nx] = _limited_x(qx_raw, fac, i, nx, nx)
        if i > 0:
            for j in range(nx):
                q = np.float64(qy_raw[i, j])
                fu = np.float64(fac[i - 1, j])
                fd = np.float64(fac[i, j])
                w = np.float64(q > 0.0)
                limn[j] = q * (fd + w * (fu - fd))
        else:
            for j in range(nx):
                limn[j] = _limited_y(qy_raw, fac, 0, j, ny)
        if i < ny - 1:
            for j in range(nx):
                q = np.float64(qy_raw[i + 1, j])
                fu = np.float64(fac[i, j])
                fd = np.float64(fac[i + 1, j])
                w = np.float64(q > 0.0)
                lims[j] = q * (fd + w * (fu - fd))
        else:
            for j in range(nx):
                lims[j] = _limited_y(qy_raw, fac, ny, j, ny)
        for j in range(nx + 1):
            qx[i, j] = limx[j]
        for j in range(nx):
            qy[i, j] = limn[j]
        if i == ny - 1:
            for j in range(nx):
                qy[ny, j] = lims[j]
        # --- continuity (vectorisable; few arrays per loop so LLVM's alias checks stay cheap)
        hbits = np.int64(0)
        ubits = np.int64(0)
        vr = 0.0
        vf = 0.0
        vc = 0.0
        nbad = 0
        hrow = h[i]
        arow = active[i]
        for j in range(nx):
            act = arow[j]
            hij = hrow[j]
            r = r0 if uniform_r else rain[i, j]
            f = f0 if uniform_f else infil[i, j]
            net, fe = _net_vertical(hij, r, f, inv_dt)
            hn = hij + dt * ((limx[j] - limx[j + 1] + limn[j] - lims[j]) * inv_dx + net)
            hn = hn if act else 0.0
            vr += dt * r * area if act else 0.0
            vf += dt * fe * area if act else 0.0
            vc += -hn * area if hn < 0.0 else 0.0
            hn = max(hn, 0.0)
            nbad += 0 if hn <= depth_bound else 1
            hrow[j] = hn
            hbits = max(hbits, _pos_bits(hn))
        # --- cell speed (m s-1) into a row buffer
        for j in range(nx):
            hn = hrow[j]
            inv_h = 1.0 / max(hn, h_dry)
            u = (limx[j] + limx[j + 1]) * inv_h
            v = (limn[j] + lims[j]) * inv_h
            sp = 0.5 * np.sqrt(u * u + v * v)
            sp = sp if hn > h_dry else 0.0
            spd[j] = sp
            ubits = max(ubits, _pos_bits(sp))
        # --- running products
        mdrow = max_depth[i]
        for j in range(nx):
            mdrow[j] = max(mdrow[j], np.float32(hrow[j]))
        twrow = t_wet[i]
        durow = duration[i]
        for j in range(nx):
            flooded = hrow[j] > threshold
            tw = twrow[j]
            twrow[j] = t_end32 if (flooded and tw < 0.0) else tw
            durow[j] = durow[j] + (dt32 if flooded else np.float32(0.0))
        msrow = max_speed[i]
        for j in range(nx):
            msrow[j] = max(msrow[j], np.float32(spd[j])) if hrow[j] > threshold else msrow[j]
        mhrow = max_hazard[i]
        for j in range(nx):
            hn = hrow[j]
            sp = spd[j]
            lu = lu0 if uniform_lu else landuse[i, j]
            mhrow[j] = max(mhrow[j], np.float32(hn * (sp + 0.5) + debris_factor(hn, sp, lu)))
        row_hmax[i] = _bits_f64(hbits)
        row_umax[i] = _bits_f64(ubits)
        row_rain[i] += vr
        row_infil[i] += vf
        row_clip[i] += vc
        bad[i] = -1
        if nbad > 0:
            for j in range(nx):
                if not (h[i, j] <= depth_bound):
                    bad[i] = j
                    break
    return 0


@numba.njit(**_OPTS)
def add_point_sources(h, active, rows, cols, discharge, dt, dx):
    """Add point inflows (m3 s-1) to the depth of their cells; returns the volume added (m3)."""
    area = dx * dx
    vol = 0.0
    hmax = 0.0
    for k in range(rows.shape[0]):
        i = rows[k]
        j = cols[k]
        if active[i, j]:
            h[i, j] += dt * discharge[k] / area
            vol += dt * discharge[k]
            if h[i, j] > hmax:
                hmax = h[i, j]
    return vol, hmax


@numba.njit(**_OPTS)
def edge_volumes(qx_raw, qy_raw, fac, dx, dt):
    """Volume entering and leaving through the four edges in one step (m3, both >= 0), limited fluxes."""
    ny = qx_raw.shape[0]
    nx = qy_raw.shape[1]
    vin = 0.0
    vout = 0.0
    for i in range(ny):
        q = _limited_x(qx_raw, fac, i, 0, nx)  # west: + is inward
        if q > 0.0:
            vin += q
        else:
            vout -= q
        q = _limited_x(qx_raw, fac, i, nx, nx)  # east: + is outward
        if q > 0.0:
            vout += q
        else:
            vin -= q
    for j in range(nx):
        q = _limited_y(qy_raw, fac, 0, j, ny)  # north (row 0 side): + is inward
        if q > 0.0:
            vin += q
        else:
            vout -= q
        q = _limited_y(qy_raw, fac, ny, j, ny)  # south: + is outward
        if q > 0.0:
            vout += q
        else:
            vin -= q
    return vin * dx * dt, vout * dx * dt


@numba.njit(parallel=True, **_OPTS)
def cell_velocity(h, qx, qy, h_dry, u_out, v_out):
    """Cell-centre velocity components (m s-1): ``u`` along +x, ``v`` along +row; 0 where ``h <= h_dry``."""
    ny, nx = h.shape
    for i in prange(ny):
        for j in range(nx):
            hij = h[i, j]
            if hij > h_dry:
                u_out[i, j] = 0.5 * (qx[i, j] + qx[i, j + 1]) / hij
                v_out[i, j] = 0.5 * (qy[i, j] + qy[i + 1, j]) / hij
            else:
                u_out[i, j] = 0.0
                v_out[i, j] = 0.0

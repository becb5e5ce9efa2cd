"""numba kernels of the 2-D local-inertial solver (LISFLOOD-FP ACC / de Almeida et al. 2012).

numpy/numba only: no xarray here. Grid conventions (Arakawa C):

* ``z``, ``h`` at cell centres ``(ny, nx)``; row 0 is the **first raster row** (north for north-up rasters);
* ``qx`` on x-faces ``(ny, nx + 1)``; face ``j`` lies between cells ``j - 1`` and ``j``; ``qx > 0`` towards +x (east);
* ``qy`` on y-faces ``(ny + 1, nx)``; face ``i`` lies between rows ``i - 1`` and ``i``; ``qy > 0`` towards
  **increasing row index** (south for north-up rasters);
* unit discharges ``q`` in m2 s-1, depth ``h`` in m (float64 always), ``z`` and fluxes float32 or float64.

One time step = **one** fused parallel sweep, :func:`step`, over blocks of rows (``prange``): per row the momentum
update of its faces, the donor-cell outflow limiter and, one row behind, continuity, the volume accumulators, the
max-depth/speed reductions of the next time step and the running products (max depth, max speed, first wetting,
duration, max hazard rating). Depth and fluxes are double-buffered (old read, new written; the caller swaps).

Edge boundary kinds (per edge face): 0 closed, 1 inflow (inward unit discharge), 2 water level (ghost cell with
the level and the boundary cell's bed), 3 free outflow (normal depth with slope).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange, types
from numba.extending import intrinsic, overload

__all__ = [
    "BC_CLOSED",
    "BC_INFLOW",
    "BC_LEVEL",
    "BC_FREE",
    "ROWS_PER_BLOCK",
    "step",
    "make_workspace",
    "add_point_sources",
    "cell_velocity",
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


@intrinsic
def _wide_vectors(typingctx):
    """Mark the calling function ``"prefer-vector-width"="512"``; a no-op at run time.

    On AVX-512 CPUs LLVM prefers 256-bit vectors by default (the ``prefer-256-bit`` tuning of Skylake-X and later:
    numba compiles every loop of this module to ``ymm`` registers). This per-function attribute lets the loop
    vectoriser use the full 512-bit registers in the four row kernels, without touching the process-wide
    numba target (other numba code of the caller is not affected). Measured on the benchmark case (Emerald
    Rapids, one thread): 1.4x faster, results bit-identical. On CPUs without AVX-512 the width is clamped to what
    the CPU has.
    """
    sig = types.none()

    def codegen(context, builder, signature, args):
        # llvmlite's FunctionAttributes only admits flag attributes; a "key"="value" string attribute is written
        # verbatim into the IR by set.add
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

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
# the same without reassociation, for every kernel with no floating-point sum. numba links a copy of each callee
# into the cached object of `step` and optimises it again there; the process that compiles the kernels runs the
# callees' own (once optimised) code, a process that loads `step` from the on-disk cache runs those copies. With
# "reassoc" the second optimisation regrouped products of the face update ((a b) sqrt(c) -> (sqrt(c) b) a):
# first run and cached runs differed in the last bits, 5 mm of depth after a 12 h run (flood.md).
_EXACT = {"nsz", "arcp", "contract"}


@numba.njit(inline="always", **_OPTS)
def _decay_clip(qn, qst, qeq, a):
    """Bound of the implicit friction form by the exact solution of its ODE (h and S frozen over the step).

    ``dq/dt = -c (q|q| - q_eq|q_eq|)`` with ``a = c dt``: from a start ``q_st`` beyond the equilibrium (same sign,
    larger magnitude) ``|q - q_eq|`` decays at least as fast as ``d' = -c d^2``, so after the step
    ``|q - q_eq| <= |d0| / (1 + a |d0|)``; from below it moves monotonically towards ``q_eq``. The implicit
    quadratic ``q (1 + a|q|) = b`` gives ``~sqrt(b/a)``, far above that bound when momentum of a deep state meets
    a thin film (``a|d0| >> 1``): a draining cell's stored flux over a few millimetres then exceeded the 50 m/s
    plausibility bound (tests/flood/test_properties.py, 60 % slopes). Clip to ``[q_eq, q_far]``.
    """
    d = qst - qeq
    qfar = (qeq + d / (_like(a, 1.0) + a * abs(d))) if d * qeq > _like(a, 0.0) else qst
    return min(max(qn, min(qfar, qeq)), max(qfar, qeq))


@numba.njit(inline="always", **_OPTS)
def _flux(q0, qs, etaL, etaR, zL, zR, gdtn2, inv_fric, gdt_dx, h_dry, caps, qcap_fr, qcap_u, g, implicit):
    """Branch-free face update; returns (q_new, hflow_safe, wet). Same maths as flood.md section 1.2.

    ``gdtn2 = g dt n^2`` and ``inv_fric = 1 / gdtn2`` (1e300 without friction) of the face; ``gdt_dx = g dt / dx``.
    Per face: one division and one square root (float64), no ``pow``.
    """
    hflow = max(etaL, etaR) - max(zL, zR)
    wet = hflow > h_dry
    hs = max(hflow, h_dry)
    y = fast_inv_cbrt(hs)  # hs^(-1/3): hs^(-7/3) = y^7, no division, no pow
    y2 = y * y
    a = gdtn2 * (y2 * y2 * y2 * y)
    gts = gdt_dx * hs * (etaR - etaL)
    down = etaL - etaR
    if implicit:
        b = qs - gts
        flip = b * down < 0.0
        qst = q0 if flip else qs
        b = (q0 - gts) if flip else b
        qn = 2.0 * b / (1.0 + np.sqrt(1.0 + 4.0 * a * abs(b)))
        qeq = hs * y * np.sqrt(abs(gts) * hs * inv_fric)
        qeq = qeq if down > 0.0 else -qeq
        qn = _decay_clip(qn, qst, qeq, a)
    else:
        # explicit friction magnitude: the larger of the face's old flux and the theta-smoothed flux (equal when
        # theta = 1, i.e. Bates et al. 2010); with |q0| alone, neighbour flux smoothed onto a thin wet/dry face
        # escapes friction and can reach implausible speeds (found by tests/flood/test_properties.py)
        inv_den = 1.0 / (1.0 + a * max(abs(q0), abs(qs)))
        qn = (qs - gts) * inv_den
        flip = qn * down < 0.0  # smoothing produced flow against the gradient: theta = 1 fallback
        qst = q0 if flip else qs
        qn = ((q0 - gts) * inv_den) if flip else qn
        # friction-equilibrium limiter: with h and S frozen over the step, the exact solution of
        # dq/dt = -g h S - g n^2 q|q| / h^(7/3) moves monotonically from its start value towards the equilibrium
        # q_eq = sign(-S) sqrt(|gts| / a) (Manning normal flow at the current slope) and never crosses it. The
        # semi-implicit update does cross it, by a factor ~ a|q_eq| when a|q_eq| >> 1 (thin, steep rain-on-grid
        # sheets with long steps: a newly wet face gets the frictionless g dt S, the next step the friction of
        # that flux, ... -> the flip-flop the property test found); clip to [q_start, q_eq].
        # 1/a = hs^(7/3) / (g dt n^2) = hs^3 y^2 inv_fric -> q_eq = hs y sqrt(|gts| hs inv_fric): no division
        qeq = hs * y * np.sqrt(abs(gts) * hs * inv_fric)
        qeq = qeq if down > 0.0 else -qeq
        qn = min(max(qn, min(qst, qeq)), max(qst, qeq))
    if caps:
        qmax = min(qcap_fr * hs * np.sqrt(g * hs), qcap_u * hs)
        qn = min(max(qn, -qmax), qmax)
    return (qn if wet else 0.0), hs, wet


@numba.njit(inline="always", **_OPTS)
def _inv_cbrt32(x):
    """``x**(-1/3)`` of a positive float32: bit-level guess and three float32 Newton steps (float32 precision)."""
    y = _bits_f32(np.int32(1419916032) - np.int32(np.float32(_f32_bits(x)) * np.float32(1.0 / 3.0)))
    third = np.float32(1.0 / 3.0)
    four = np.float32(4.0)
    y = y * (four - x * y * y * y) * third
    y = y * (four - x * y * y * y) * third
    y = y * (four - x * y * y * y) * third
    return y


@numba.njit(inline="always", **_OPTS)
def _face32(hL, hR, deta_pair, zL, zR, q0, qW, qE, theta, c_side, gdtn2, inv_fric, gdt_dx, h_dry, caps, qcap_fr,
            qcap_u, g, implicit):
    """:func:`_flux` for float32 fluxes, all in float32 (twice the SIMD lanes of float64).

    No single float32 level is formed (float32 levels lose the depth at high elevations, SFINCS#114): the level
    difference ``deta_pair`` comes from float32 hi/lo pairs of the float64 levels (:func:`_ring_row`), exactly 0
    between cells whose float64 levels are equal (lake at rest), else accurate to ~1e-7 of itself plus ~1e-11 m at
    1000 m elevation; the flow depth is ``max(eta) - max(z) = max(hL - max(dz, 0), hR - max(-dz, 0))`` with
    ``dz = zR - zL``, accurate relative to the depths. Returns (q_new, flow depth, wet) in float32: the face loops
    then hold no float64 value and vectorise 16 lanes wide with AVX-512.
    """
    zero = np.float32(0.0)
    one = np.float32(1.0)
    dz = zR - zL
    hLf = np.float32(hL)
    hRf = np.float32(hR)
    hflow = max(hLf - max(dz, zero), hRf - max(-dz, zero))
    h_dry32 = np.float32(h_dry)
    wet = hflow > h_dry32
    hs = max(hflow, h_dry32)
    deta = np.float32(deta_pair)  # etaR - etaL from the hi/lo level pairs (:func:`_ring_row`)
    qs = np.float32(theta) * q0 + np.float32(c_side) * (qW + qE)
    y = _inv_cbrt32(hs)
    y2 = y * y
    a = np.float32(gdtn2) * (y2 * y2 * y2 * y)
    gts = np.float32(gdt_dx) * hs * deta
    if implicit:
        b = qs - gts
        flip = b * deta > zero
        qst = q0 if flip else qs
        b = (q0 - gts) if flip else b
        qn = np.float32(2.0) * b / (one + np.sqrt(one + np.float32(4.0) * a * abs(b)))
        qeq = hs * y * np.sqrt(abs(gts) * hs * np.float32(min(inv_fric, 1e30)))
        qeq = qeq if deta < zero else -qeq
        qn = _decay_clip(qn, qst, qeq, a)
    else:
        inv_den = one / (one + a * max(abs(q0), abs(qs)))
        qn = (qs - gts) * inv_den
        flip = qn * deta > zero  # against the gradient: theta = 1 fallback
        qst = q0 if flip else qs
        qn = ((q0 - gts) * inv_den) if flip else qn
        qeq = hs * y * np.sqrt(abs(gts) * hs * np.float32(min(inv_fric, 1e30)))  # friction-equilibrium limiter
        qeq = qeq if deta < zero else -qeq
        qn = min(max(qn, min(qst, qeq)), max(qst, qeq))
    if caps:
        qmax = min(np.float32(qcap_fr) * hs * np.sqrt(np.float32(g) * hs), np.float32(min(qcap_u, 1e30)) * hs)
        qn = min(max(qn, -qmax), qmax)
    return (qn if wet else zero), hs, wet


@numba.njit(inline="always", **_OPTS)
def _face64(hL, hR, deta_pair, zL, zR, q0, qW, qE, theta, c_side, gdtn2, inv_fric, gdt_dx, h_dry, caps, qcap_fr,
            qcap_u, g, implicit):
    """Float64 face update (levels formed in float64 here, so ``deta_pair`` is not used): theta smoothing +
    :func:`_flux`."""
    zL = np.float64(zL)
    zR = np.float64(zR)
    q0 = np.float64(q0)
    qs = theta * q0 + c_side * (np.float64(qW) + np.float64(qE))
    return _flux(q0, qs, zL + hL, zR + hR, zL, zR, gdtn2, inv_fric, gdt_dx, h_dry, caps, qcap_fr, qcap_u, g,
                 implicit)


def _face(hL, hR, deta_pair, zL, zR, q0, qW, qE, theta, c_side, gdtn2, inv_fric, gdt_dx, h_dry, caps, qcap_fr,
          qcap_u, g, implicit):
    """Face update in the precision of the stored flux ``q0``: :func:`_face32` or :func:`_face64` (numba only)."""
    raise NotImplementedError("numba only")


@overload(_face, inline="always")
def _face_ov(hL, hR, deta_pair, zL, zR, q0, qW, qE, theta, c_side, gdtn2, inv_fric, gdt_dx, h_dry, caps, qcap_fr,
             qcap_u, g, implicit):
    if isinstance(q0, types.Float) and q0.bitwidth == 32 and isinstance(zL, types.Float) and zL.bitwidth == 32:
        def impl32(hL, hR, deta_pair, zL, zR, q0, qW, qE, theta, c_side, gdtn2, inv_fric, gdt_dx, h_dry, caps,
                   qcap_fr, qcap_u, g, implicit):
            return _face32(hL, hR, deta_pair, zL, zR, q0, qW, qE, theta, c_side, gdtn2, inv_fric, gdt_dx, h_dry,
                           caps, qcap_fr, qcap_u, g, implicit)
        return impl32

    def impl64(hL, hR, deta_pair, zL, zR, q0, qW, qE, theta, c_side, gdtn2, inv_fric, gdt_dx, h_dry, caps, qcap_fr,
               qcap_u, g, implicit):
        return _face64(hL, hR, deta_pair, zL, zR, q0, qW, qE, theta, c_side, gdtn2, inv_fric, gdt_dx, h_dry, caps,
                       qcap_fr, qcap_u, g, implicit)
    return impl64


def _like(x, v):
    """``v`` converted to the float type of ``x`` (numba only; a variable has one type in numba, so
    ``np.float32(v) if flag else v`` would be float64)."""
    raise NotImplementedError("numba only")


@overload(_like, inline="always")
def _like_ov(x, v):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x, v: np.float32(v)
    return lambda x, v: np.float64(v)


@numba.njit(inline="always", **_OPTS)
def _friction_coefs(nf, g, dt):
    """``(g dt n^2, 1 / (g dt n^2))`` of a face; the inverse is 1e300 without friction (n = 0)."""
    gdtn2 = g * dt * nf * nf
    return gdtn2, 1.0 / max(gdtn2, 1e-300)


@numba.njit(inline="always", **_OPTS)
def _edge_flux(kind, val, q_old, eta_out, z_in, h_in, n0, dt, inv_dx, g, h_dry, caps, qcap_fr, qcap_u, implicit,
               sign):
    """Flux on an edge face, positive **inward**; ``sign`` = +1 if the domain lies on the + side of the face."""
    if kind == 1:  # inflow: inward unit discharge
        return val
    if kind == 2:  # level: ghost cell eta = val, z = z_in
        eta_in = z_in + h_in
        q_in_dir = sign * q_old  # old flux expressed as inward
        gdtn2, inv_fric = _friction_coefs(n0, g, dt)
        qn, hs, wet = _flux(q_in_dir, q_in_dir, val, eta_in, z_in, z_in, gdtn2, inv_fric, g * dt * inv_dx, h_dry,
                            caps, qcap_fr, qcap_u, g, implicit)
        return qn
    if kind == 3:  # free outflow at normal depth
        if h_in > h_dry and n0 > 0.0:
            q = h_in * fast_cbrt(h_in * h_in) * np.sqrt(val) / n0
            if caps:  # froude_limit / velocity_limit cap every face, the free edge too (its normal flow is
                # supercritical on steep edges: Fr 3 at 0.5 m and S = 0.1 with n = 0.03)
                q = min(q, min(qcap_fr * h_in * np.sqrt(g * h_in), qcap_u * h_in))
            return -q
    return 0.0


@numba.njit(inline="always", **_OPTS)
def _net_vertical(h, r, f, inv_dt):
    """Rain minus infiltration (m s-1) with infiltration limited to the water available; returns (net, f_eff)."""
    fe = max(min(f, h * inv_dt + r), 0.0)
    return r - fe, fe


@numba.njit(inline="always", **_OPTS)
def debris_factor(depth, speed, landuse):
    """Debris factor of Defra/EA FD2321 (TR2 Table 3.1): landuse 0 pasture/arable, 1 woodland, 2 urban.

    In the float type of ``depth`` (float32 depths keep the product loop free of float64: 16 lanes).
    """
    zero = _like(depth, 0.0)
    half = _like(depth, 0.5)
    one = _like(depth, 1.0)
    mid = zero if landuse == 0 else (half if landuse == 1 else one)
    high = half if landuse == 0 else one
    df = mid if (depth <= _like(depth, 0.75) and speed <= _like(depth, 2.0)) else high
    return zero if depth <= _like(depth, 0.25) else df


@numba.njit(inline="always", **_OPTS)
def _cell_speed32(h32, qx_sum, qy_sum, h_dry32):
    """Cell speed (m s-1, float32) from the depth and the sums of the cell's two x-face and two y-face fluxes;
    0 at or below ``h_dry``."""
    inv_h = np.float32(0.5) / max(h32, h_dry32)
    u = np.float32(qx_sum) * inv_h
    v = np.float32(qy_sum) * inv_h
    sp = np.sqrt(u * u + v * v)
    return sp if h32 > h_dry32 else np.float32(0.0)


@numba.njit(inline="always", **_OPTS)
def _pos_bits(x):
    """int64 bit pattern of a float64 >= 0 (orders like the value; integer max reductions vectorise)."""
    return _f64_bits(x)


def _face_coefs(nL, nR, j, gdtn2_u, inv_fric_u, g, dt):
    """Friction coefficients ``(g dt n^2, 1 / (g dt n^2))`` of face ``j`` (numba only): the uniform ones when ``nL``
    is None, else from the mean of the two cells' n. Resolved at compile time, so each face loop has one form."""
    raise NotImplementedError("numba only")


@overload(_face_coefs, inline="always")
def _face_coefs_ov(nL, nR, j, gdtn2_u, inv_fric_u, g, dt):
    if isinstance(nL, types.NoneType):
        return lambda nL, nR, j, gdtn2_u, inv_fric_u, g, dt: (gdtn2_u, inv_fric_u)

    def impl(nL, nR, j, gdtn2_u, inv_fric_u, g, dt):
        return _friction_coefs(0.5 * (np.float64(nL[j]) + np.float64(nR[j])), g, dt)
    return impl


@numba.njit(fastmath=_EXACT, **_OPTS)
def _face_row(zL, zR, hL, hR, eL, eR, eLlo, eRlo, q0, qW, qE, oW, oE, aL, aR, nL, nR, theta, c_side, gdtn2_u,
              inv_fric_u, dt, gdt_dx, h_dry, caps, qcap_fr, qcap_u, g, implicit, vb, out):
    """Raw new fluxes of one row of faces (1-D views: left/right cell, face, its two neighbours along the face row);
    returns the number of implausible fluxes (``|q| > vb * h_flow``).

    ``nL``/``nR``: the cells' Manning n, or None for the uniform ``gdtn2_u``/``inv_fric_u`` (compiled apart: one
    loop with one face update, and with float32 fluxes and uniform n nothing in float64, so 16 lanes with AVX-512).
    ``oW``/``oE``: whether the parallel neighbour faces of the theta smoothing are open; a wall (closed edge, face
    of a nodata cell) is no neighbour and the face's own flux takes its place (flood.md 1.2: theta = 1 where the
    neighbour is missing). Smoothed with the wall's q = 0, a face next to a wall lost (1 - theta)/2 of its flux
    every step: the steady depth depended on dt (inflow cell at a closed end 9-20 % above normal depth).
    """
    _wide_vectors()
    nbad = np.int32(0)  # an int32 count: an int64 counter would halve the vector width, a float32 sum needs reassoc
    for j in range(out.shape[0]):
        gdtn2, inv_fric = _face_coefs(nL, nR, j, gdtn2_u, inv_fric_u, g, dt)
        q0j = q0[j]
        qWj = qW[j] if oW[j] else q0j
        qEj = qE[j] if oE[j] else q0j
        qn, hs, wet = _face(hL[j], hR[j], (eR[j] - eL[j]) + (eRlo[j] - eLlo[j]), zL[j], zR[j], q0j, qWj, qEj,
                            theta, c_side, gdtn2, inv_fric, gdt_dx, h_dry, caps, qcap_fr, qcap_u, g, implicit)
        qn = qn if (aL[j] & aR[j]) else np.float32(0.0)
        nbad = np.int32(nbad + (np.int32(0) if abs(qn) <= vb * hs else np.int32(1)))
        out[j] = qn
    return np.int64(nbad)


@numba.njit(inline="always", **_OPTS)
def _ring_row(z, h, r, dst, dst_eta):
    """Row ``r`` of the depth in the flux precision and of the level ``eta = z + h`` as a hi/lo pair
    (``dst_eta[0] = eta`` rounded, ``dst_eta[1] = eta - dst_eta[0]`` rounded); once per row and step (read by three
    face rows). The level difference of two cells is then ``(hi_R - hi_L) + (lo_R - lo_L)``: the hi difference is
    exact for levels within a factor of two (Sterbenz), so equal float64 levels give exactly 0 (float32 levels
    alone lose the depth at high elevations, SFINCS#114; float32 depths alone give ~1e-7 h spurious gradients)."""
    for j in range(h.shape[1]):
        hv = h[r, j]
        dst[j] = hv
        eta = np.float64(z[r, j]) + hv
        dst_eta[0, j] = eta
        dst_eta[1, j] = eta - np.float64(dst_eta[0, j])


#: rows per block of the fused sweep (each block recomputes the raw fluxes and limiter factors of its two halo
#: rows: 2/ROWS_PER_BLOCK extra momentum work, no synchronisation between blocks)
ROWS_PER_BLOCK = 64


@numba.njit(fastmath=_EXACT, **_OPTS)
def _x_faces(z, h, hr, er, active, qx, open_x, n, i, nx, n_uni, uniform_n, theta, c_side, dt, inv_dx, g, h_dry, caps, qcap_fr,
             qcap_u, velocity_bound, implicit, bcx_kind, bcx_val, out):
    """Raw (not limited) new fluxes of the x faces of row ``i`` into ``out[0..nx]``; returns #implausible faces.

    ``hr``, ``er``: row ``i`` of the depth and of the level pair in the flux precision (:func:`_ring_row`);
    ``h`` (float64) for the edge faces.
    """
    gdt_dx = g * dt * inv_dx
    vb = np.float32(velocity_bound)  # a plausibility bound: float32 keeps the float32 face loop free of float64
    gdtn2_u, inv_fric_u = _friction_coefs(n_uni, g, dt)
    cells = (z[i, : nx - 1], z[i, 1:], hr[: nx - 1], hr[1:], er[0, : nx - 1], er[0, 1:], er[1, : nx - 1], er[1, 1:],
             qx[i, 1:nx], qx[i, : nx - 1], qx[i, 2:], open_x[i, : nx - 1], open_x[i, 2:], active[i, : nx - 1],
             active[i, 1:])
    rest = (theta, c_side, gdtn2_u, inv_fric_u, dt, gdt_dx, h_dry, caps, qcap_fr, qcap_u, g, implicit, vb, out[1:nx])
    # two call sites, two compiled forms (a None-or-array variable would be one Optional form with a branch)
    if uniform_n:
        nbad = _face_row(*cells, None, None, *rest)
    else:
        nbad = _face_row(*cells, n[i, : nx - 1], n[i, 1:], *rest)
    # edge faces (west j = 0: + inward; east j = nx: + outward)
    n0 = n_uni if uniform_n else np.float64(n[i, 0])
    q = _edge_flux(bcx_kind[i, 0], bcx_val[i, 0], np.float64(qx[i, 0]), bcx_val[i, 0], np.float64(z[i, 0]),
                   h[i, 0], n0, dt, inv_dx, g, h_dry, caps, qcap_fr, qcap_u, implicit, 1.0)
    out[0] = q if active[i, 0] else 0.0
    n0 = n_uni if uniform_n else np.float64(n[i, nx - 1])
    q = _edge_flux(bcx_kind[i, 1], bcx_val[i, 1], np.float64(qx[i, nx]), bcx_val[i, 1], np.float64(z[i, nx - 1]),
                   h[i, nx - 1], n0, dt, inv_dx, g, h_dry, caps, qcap_fr, qcap_u, implicit, -1.0)
    out[nx] = -q if active[i, nx - 1] else 0.0
    return nbad


@numba.njit(fastmath=_EXACT, **_OPTS)
def _y_faces(z, h, hu, hd, eu, ed, active, qy, open_y, n, k, ny, nx, n_uni, uniform_n, theta, c_side, dt, inv_dx, g, h_dry,
             caps,
             qcap_fr, qcap_u, velocity_bound, implicit, bcy_kind, bcy_val, out):
    """Raw new fluxes of y-face row ``k`` (between rows k-1 and k; 0 and ny are edges) into ``out[0..nx-1]``.

    ``hu``, ``hd`` (``eu``, ``ed``): rows ``k-1`` and ``k`` of the depth (level pair) in the flux precision (not
    read on the edge rows).
    """
    gdt_dx = g * dt * inv_dx
    if k == 0 or k == ny:
        side = 0 if k == 0 else 1
        r = 0 if k == 0 else ny - 1
        sgn = 1.0 if k == 0 else -1.0
        for j in range(nx):
            n0 = n_uni if uniform_n else np.float64(n[r, j])
            q = _edge_flux(bcy_kind[side, j], bcy_val[side, j], np.float64(qy[k, j]), bcy_val[side, j],
                           np.float64(z[r, j]), h[r, j], n0, dt, inv_dx, g, h_dry, caps, qcap_fr, qcap_u, implicit,
                           sgn)
            out[j] = sgn * q if active[r, j] else 0.0
        return 0
    vb = np.float32(velocity_bound)
    gdtn2_u, inv_fric_u = _friction_coefs(n_uni, g, dt)
    cells = (z[k - 1], z[k], hu, hd, eu[0], ed[0], eu[1], ed[1], qy[k], qy[k - 1], qy[k + 1], open_y[k - 1],
             open_y[k + 1], active[k - 1], active[k])
    rest = (theta, c_side, gdtn2_u, inv_fric_u, dt, gdt_dx, h_dry, caps, qcap_fr, qcap_u, g, implicit, vb, out)
    if uniform_n:
        return _face_row(*cells, None, None, *rest)
    return _face_row(*cells, n[k - 1], n[k], *rest)


@numba.njit(**_OPTS)
def _first_bad_face(z, h, raw, k, is_y, velocity_bound, h_dry):
    """Column of the first implausible raw flux of x-face row ``k`` (or y-face row ``k``); -1 if none (rare path)."""
    nx = z.shape[1]
    if is_y:
        for j in range(nx):
            hf = max(max(z[k - 1, j] + h[k - 1, j], z[k, j] + h[k, j]) - max(z[k - 1, j], z[k, j]), h_dry)
            if not (abs(raw[j]) <= velocity_bound * hf):
                return j + 1_000_000_000
    else:
        for j in range(1, nx):
            hf = max(max(z[k, j - 1] + h[k, j - 1], z[k, j] + h[k, j]) - max(z[k, j - 1], z[k, j]), h_dry)
            if not (abs(raw[j]) <= velocity_bound * hf):
                return j
    return 0


@numba.njit(fastmath=_EXACT, **_OPTS)
def _fac_row(hr, active, rx, ryn, rys, rain, infil, i, nx, uniform_r, uniform_f, r0, f0, dt, inv_dt, inv_dx, margin,
             out):
    """Donor-cell limiter of row ``i``: fraction of each cell's outgoing volume it can supply this step.

    ``avail = max(h + dt (r - f), 0)`` against ``need = dt/dx * sum(outgoing raw q)`` (depth units);
    ``out[j] = min(1, avail/need)``. Computed in the flux precision (``hr``: the depth row of :func:`_ring_row`;
    with float32 the loop runs 16 lanes wide), so ``avail`` is first lowered by a bound of its rounding error,
    ``margin * (h + dt r + dt f)`` (``margin`` = 1e-6 for float32, 1e-12 for float64): the limited outflow never
    exceeds the water present, whatever the rounding.
    """
    _wide_vectors()
    h0 = hr[0]  # scalars in the flux precision keep the (uniform rain) loop free of float64
    zero = _like(h0, 0.0)
    dtt = _like(h0, dt)
    inv_dtt = _like(h0, inv_dt)
    kk = _like(h0, dt * inv_dx)
    mg = _like(h0, margin)
    r0t = _like(h0, r0)
    f0t = _like(h0, f0)
    for j in range(nx):
        qo = max(-rx[j], zero) + max(rx[j + 1], zero) + max(-ryn[j], zero) + max(rys[j], zero)
        hij = hr[j]
        r = r0t if uniform_r else rain[i, j]
        f = f0t if uniform_f else infil[i, j]
        s = hij + dtt * r
        avail = s - dtt * min(f, hij * inv_dtt + r)  # h + dt (r - f_eff), f_eff = infiltration the water allows
        avail = max(avail - mg * (s + dtt * f), zero)
        need = kk * qo
        ok = need <= avail or not active[i, j]
        out[j] = 1.0 if ok else avail / need


@numba.njit(fastmath=_FAST, **_OPTS)
def _finish_row(i, ny, nx, h, h_new, active, rx, ryn, rys, fu, fc, fd, qx_new, qy_new, rain, infil, uniform_r,
                uniform_f, r0, f0, dt, inv_dt, inv_dx, area, h_dry, threshold, depth_bound, t_end32, dt32, landuse,
                uniform_lu, lu0, max_depth, max_speed, t_wet, duration, max_hazard, lx, ln, ls, ln_ready, spd, acc,
                row_hmax, row_umax, row_store, maps, speeds):
    """Limit the fluxes around row ``i``, store them, update depth, volumes and running products of row ``i``.

    ``fu``, ``fc``, ``fd``: limiter factors of rows i-1, i, i+1 (ones beyond the edges: ghost cells are not
    limited). ``ln_ready``: ``ln`` already holds the limited north faces (the south faces of row i-1).
    ``acc[i, :]`` (float64, added to): rain, infiltration, clipped, boundary inflow, boundary outflow volumes (m3).
    ``maps``: update the five running products; ``speeds``: compute the cell speeds (the maximum speed feeds an
    advective time step). Returns the number of implausible depths.
    """
    _wide_vectors()
    # --- limited fluxes in the flux precision (raw flux times the donor cell's factor, one value per face used by
    # both of its cells and stored as the new flux: exact conservation), stored
    zero = _like(rx[0], 0.0)
    qxr = qx_new[i]
    for j in range(1, nx):
        q = rx[j]
        lq = q * (fc[j - 1] if q > zero else fc[j])
        lx[j] = lq
        qxr[j] = lq
    q = rx[0]
    lx[0] = q if q > 0.0 else q * fc[0]  # west ghost: inflow not limited
    qxr[0] = lx[0]
    q = rx[nx]
    lx[nx] = q * fc[nx - 1] if q > 0.0 else q  # east ghost
    qxr[nx] = lx[nx]
    qyr = qy_new[i]
    if ln_ready:  # the previous row's south faces (same expression, same operands: bit-identical)
        for j in range(nx):
            qyr[j] = ln[j]
    else:
        for j in range(nx):
            q = ryn[j]
            lq = q * (fu[j] if q > zero else fc[j])
            ln[j] = lq
            qyr[j] = lq
    for j in range(nx):
        q = rys[j]
        ls[j] = q * (fc[j] if q > zero else fd[j])
    if i == ny - 1:
        qyr = qy_new[ny]
        for j in range(nx):
            qyr[j] = ls[j]
    # --- boundary volumes of the edge faces of this row (+ inward)
    vin = 0.0
    vout = 0.0
    q = lx[0]
    vin += max(q, 0.0)
    vout += max(-q, 0.0)
    q = lx[nx]
    vout += max(q, 0.0)
    vin += max(-q, 0.0)
    if i == 0:
        for j in range(nx):
            q = ln[j]
            vin += max(q, 0.0)
            vout += max(-q, 0.0)
    if i == ny - 1:
        for j in range(nx):
            q = ls[j]
            vout += max(q, 0.0)
            vin += max(-q, 0.0)
    # --- two loops: continuity (h old -> h_new, float64), volumes and the max depth for the next time step; then,
    # all in float32 (16 lanes), cell speed (it only feeds float32 maps and the time-step estimate) and the max
    # depth and max hazard maps; spd carries the float32 depth from the first loop to the second
    hbits = np.int64(0)
    vr = 0.0
    vf = 0.0
    vc = 0.0
    vs = 0.0
    nbad = 0
    hrow = h[i]
    hnrow = h_new[i]
    arow = active[i]
    for j in range(nx):
        act = arow[j]
        hij = hrow[j]
        r = r0 if uniform_r else rain[i, j]
        f = f0 if uniform_f else infil[i, j]
        net, fe = _net_vertical(hij, r, f, inv_dt)
        # float64 before any sum: the divergence of float32 fluxes summed in float32 would round differently in
        # the two cells of a face and lose conservation (~1e-11 relative, found by the dam-break mass test)
        lxw = np.float64(lx[j])
        lxe = np.float64(lx[j + 1])
        lnj = np.float64(ln[j])
        lsj = np.float64(ls[j])
        hn = hij + dt * ((lxw - lxe + lnj - lsj) * inv_dx + net)
        hn = hn if act else 0.0
        vr += dt * r * area if act else 0.0
        vf += dt * fe * area if act else 0.0
        vc += -hn * area if hn < 0.0 else 0.0
        hn = max(hn, 0.0)
        nbad += 0 if hn <= depth_bound else 1
        vs += hn
        hnrow[j] = hn
        spd[j] = hn
        hbits = max(hbits, _pos_bits(hn))
    ubits = np.int32(0)
    h_dry32 = np.float32(h_dry)
    half = np.float32(0.5)
    mdrow = max_depth[i]
    mhrow = max_hazard[i]
    if speeds and not maps:
        for j in range(nx):
            ubits = max(ubits, _f32_bits(_cell_speed32(spd[j], lx[j] + lx[j + 1], ln[j] + ls[j], h_dry32)))
    for j in range(nx if maps else 0):
        h32 = spd[j]
        sp = _cell_speed32(h32, lx[j] + lx[j + 1], ln[j] + ls[j], h_dry32)
        spd[j] = sp
        ubits = max(ubits, _f32_bits(sp))
        lu = lu0 if uniform_lu else landuse[i, j]
        mdrow[j] = max(mdrow[j], h32)
        mhrow[j] = max(mhrow[j], h32 * (sp + half) + debris_factor(h32, sp, lu))
    if maps and _bits_f64(hbits) > threshold:  # first wetting, duration and max speed change only where flooded
        twrow = t_wet[i]
        durow = duration[i]
        msrow = max_speed[i]
        for j in range(nx):
            fl = hnrow[j] > threshold
            tw = twrow[j]
            twrow[j] = t_end32 if (fl & (tw < np.float32(0.0))) else tw  # bitwise &: no branch, vectorises
            durow[j] += dt if fl else 0.0  # float64: 10^5-10^6 float32 additions of ~0.1 s drift by ~0.5 %
            msrow[j] = max(msrow[j], spd[j]) if fl else msrow[j]
    row_hmax[i] = _bits_f64(hbits)
    row_umax[i] = np.float64(_bits_f32(ubits))
    row_store[i] = vs * area
    acc[i, 0] += vr
    acc[i, 1] += vf
    acc[i, 2] += vc
    acc[i, 3] += vin * dt * (area * inv_dx)
    acc[i, 4] += vout * dt * (area * inv_dx)
    return nbad


def make_workspace(ny: int, nx: int, rows_per_block: int = ROWS_PER_BLOCK,
                   flux_dtype: type = np.float64) -> tuple[np.ndarray, ...]:
    """Per-block scratch rows of :func:`step`, allocated once per run (no temporaries per step).

    Returns ``(raw_x (nb, 3, nx+1), raw_y (nb, 3, nx), fac (nb, 3, nx), lim_x (nb, nx+1), lim_y (nb, 2, nx)`` in
    ``flux_dtype``, ``speed (nb, nx)`` float32, ``ones (nx,)`` and ``depth_rows (nb, 3, nx)`` in
    ``flux_dtype`` and ``level_rows (nb, 3, 2, nx)`` likewise).
    """
    nb = (ny + rows_per_block - 1) // rows_per_block
    return (np.zeros((nb, 3, nx + 1), flux_dtype), np.zeros((nb, 3, nx), flux_dtype), np.ones((nb, 3, nx), flux_dtype),
            np.zeros((nb, nx + 1), flux_dtype), np.zeros((nb, 2, nx), flux_dtype), np.zeros((nb, nx), np.float32),
            np.ones(nx, flux_dtype),
            np.zeros((nb, 3, nx), flux_dtype), np.zeros((nb, 3, 2, nx), flux_dtype))


@numba.njit(parallel=True, fastmath=_EXACT, **_OPTS)
def step(
    z, h, h_new, active, qx, qy, qx_new, qy_new, open_x, open_y, n, rain, infil, landuse, bcx_kind, bcx_val, bcy_kind, bcy_val,
    max_depth, max_speed, t_wet, duration, max_hazard, acc, row_hmax, row_umax, row_store, bad_v, bad_d,
    raw_x, raw_y, fac, lim_x, lim_y, speed, ones, depth_rows, level_rows, rows_per_block,
    dt, dx, g, theta, h_dry, froude_limit, velocity_limit, velocity_bound, depth_bound, threshold, t_end_step,
    implicit, maps=True, speeds=True,
):
    """One time step of the local-inertial scheme in a single fused sweep over row blocks (``prange``).

    Per block of ``rows_per_block`` rows the sweep runs a three-row pipeline: at row ``k`` it computes the raw
    momentum update of the x faces of row ``k`` and of the y faces between rows ``k`` and ``k+1`` (old depths
    ``h``, old fluxes ``qx``/``qy``, semi-implicit friction, theta smoothing, friction-equilibrium limiter), the
    donor-cell limiter factors of row ``k``, and then finishes row ``k-1``: limited fluxes (stored in
    ``qx_new``/``qy_new``), continuity into ``h_new``, the volume accumulators, the max depth/speed reductions
    of the adaptive time step and the running products. Each block recomputes the raw fluxes and factors of its
    two halo rows (identical arithmetic, so a face shared by two blocks gets the same flux in both: exact
    conservation, results independent of the thread count). Every array is streamed once per step.

    Parameters
    ----------
    z : (ny, nx) float array
        Bed elevation (m).
    h, h_new : (ny, nx) float64
        Depth at the old time level (read) and the new one (written), m.
    active : (ny, nx) bool
        Cells taking part; faces touching an inactive cell are closed.
    qx, qy, qx_new, qy_new : face arrays (ny, nx+1), (ny+1, nx)
        Old unit discharges (read) and the new, limited ones (written), m2 s-1; qy > 0 towards increasing row.
    open_x, open_y : bool arrays of the face shapes
        Faces that can carry flow (both cells active; edge faces: active cell and a boundary kind other than
        closed): a closed face is no neighbour of the theta smoothing.
    n : (ny, nx) or (1, 1) float array
        Manning coefficient (s m-1/3); face value = mean of the two cells.
    rain, infil : (ny, nx) or (1, 1) float64
        Rain and infiltration capacity (m s-1).
    landuse : (ny, nx) or (1, 1) int8
        Debris-factor class (0 pasture/arable, 1 woodland, 2 urban).
    bcx_kind, bcx_val, bcy_kind, bcy_val : edge arrays
        West/east (``(ny, 2)``) and north/south (``(2, nx)``) edge kinds (0 closed, 1 inflow, 2 level, 3 free)
        and values (inward unit discharge m2 s-1, level m, friction slope).
    max_depth, max_speed, t_wet, duration, max_hazard : (ny, nx) float32 (``duration`` float64)
        Running products, updated in place (the duration is a sum over every step: float64).
    acc : (ny, 5) float64
        Per-row volume accumulators (m3, added to): rain, infiltration, clipped, boundary in, boundary out.
    row_hmax, row_umax, row_store : (ny,) float64
        Out: per-row maximum depth (m), maximum cell speed (m s-1) and stored volume (m3) after the step.
    bad_v, bad_d : (ny+1,), (ny,) int64
        Out: -1, or the column of the first implausible raw face flux (y faces: column + 10**9) / depth per row.
    raw_x, raw_y, fac, lim_x, lim_y, speed, ones, depth_rows, level_rows : scratch from :func:`make_workspace`.
    rows_per_block : int
        Block height used to build the scratch.
    dt, dx, g, theta, h_dry : float
        Step (s), cell size (m), gravity (m s-2), de Almeida weight, wet/dry threshold (m).
    froude_limit, velocity_limit : float
        Flux caps ``Fr*h*sqrt(g h)`` and ``u_lim*h``; <= 0 disables.
    velocity_bound, depth_bound : float
        Plausibility bounds (m s-1, m).
    threshold : float
        Flooded-depth threshold of the products (m).
    t_end_step : float
        Time at the end of the step (s), for the first-wetting map.
    implicit : bool
        Fully implicit friction magnitude instead of semi-implicit.
    maps : bool
        Update the five running products (False: they are left untouched; 2.6 of ~10 ns per cell update).
    speeds : bool
        Compute cell speeds for ``row_umax`` (always when ``maps``; else ``row_umax`` is 0).

    Returns
    -------
    int
        0.
    """
    ny, nx = h.shape
    nb = (ny + rows_per_block - 1) // rows_per_block
    uniform_n = n.shape[0] == 1 and n.shape[1] == 1
    uniform_r = rain.shape[0] == 1 and rain.shape[1] == 1
    uniform_f = infil.shape[0] == 1 and infil.shape[1] == 1
    uniform_lu = landuse.shape[0] == 1 and landuse.shape[1] == 1
    n_uni = np.float64(n[0, 0])
    r0 = rain[0, 0]
    f0 = infil[0, 0]
    lu0 = landuse[0, 0]
    inv_dx = 1.0 / dx
    inv_dt = 1.0 / dt
    area = dx * dx
    c_side = 0.5 * (1.0 - theta)
    big = 1e300
    qcap_fr = froude_limit if froude_limit > 0.0 else big
    qcap_u = velocity_limit if velocity_limit > 0.0 else big
    caps = froude_limit > 0.0 or velocity_limit > 0.0
    t_end32 = np.float32(t_end_step)
    dt32 = np.float32(dt)
    margin = 1e-6 if raw_x.itemsize == 4 else 1e-12  # relative rounding bound of the limiter (see _fac_row)
    for blk in prange(nb):
        a = blk * rows_per_block
        b = min(a + rows_per_block, ny)
        lo = max(a - 1, 0)
        hi = min(b + 1, ny)
        rx = raw_x[blk]
        ry = raw_y[blk]
        fc = fac[blk]
        lx = lim_x[blk]
        lyb = lim_y[blk]
        for r in range(a, b):
            bad_v[r] = -1
            bad_d[r] = -1
        if b == ny:
            bad_v[ny] = -1
        hg = depth_rows[blk]  # rings of three depth / level-pair rows in the flux precision: row r in slot r % 3
        hl = level_rows[blk]
        if lo > 0:
            _ring_row(z, h, lo - 1, hg[(lo - 1) % 3], hl[(lo - 1) % 3])
        _ring_row(z, h, lo, hg[lo % 3], hl[lo % 3])
        nbad = _y_faces(z, h, hg[(lo - 1) % 3], hg[lo % 3], hl[(lo - 1) % 3], hl[lo % 3], active, qy, open_y, n, lo, ny, nx,
                        n_uni, uniform_n, theta, c_side, dt, inv_dx, g, h_dry, caps, qcap_fr, qcap_u, velocity_bound,
                        implicit, bcy_kind, bcy_val, ry[lo % 3])
        if nbad > 0 and lo == a:
            bad_v[lo] = _first_bad_face(z, h, ry[lo % 3], lo, True, velocity_bound, h_dry)
        for k in range(lo, hi + (1 if hi == ny and b == ny else 0)):
            if k < hi:
                # ---- momentum: x faces of row k, y faces between rows k and k+1; limiter factors of row k
                if k + 1 < ny:
                    _ring_row(z, h, k + 1, hg[(k + 1) % 3], hl[(k + 1) % 3])
                nbad = _x_faces(z, h, hg[k % 3], hl[k % 3], active, qx, open_x, n, k, nx, n_uni, uniform_n, theta, c_side,
                                dt, inv_dx, g, h_dry, caps, qcap_fr, qcap_u, velocity_bound, implicit, bcx_kind,
                                bcx_val, rx[k % 3])
                if nbad > 0 and a <= k < b and bad_v[k] < 0:
                    bad_v[k] = _first_bad_face(z, h, rx[k % 3], k, False, velocity_bound, h_dry)
                nbad = _y_faces(z, h, hg[k % 3], hg[(k + 1) % 3], hl[k % 3], hl[(k + 1) % 3], active, qy, open_y, n,
                                k + 1,
                                ny, nx, n_uni, uniform_n, theta, c_side, dt, inv_dx, g, h_dry, caps, qcap_fr,
                                qcap_u, velocity_bound, implicit, bcy_kind, bcy_val, ry[(k + 1) % 3])
                if nbad > 0 and a <= k + 1 < b and bad_v[k + 1] < 0:
                    bad_v[k + 1] = _first_bad_face(z, h, ry[(k + 1) % 3], k + 1, True, velocity_bound, h_dry)
                _fac_row(hg[k % 3], active, rx[k % 3], ry[k % 3], ry[(k + 1) % 3], rain, infil, k, nx, uniform_r,
                         uniform_f, r0, f0, dt, inv_dt, inv_dx, margin, fc[k % 3])
            # ---- finish row k - 1 (its factors and those of both neighbours are known now)
            i = k - 1
            if a <= i < b:
                fu = fc[(i - 1) % 3] if i > 0 else ones
                fd = fc[(i + 1) % 3] if i < ny - 1 else ones
                cur = (i - a) % 2  # row i's south faces become row i+1's north faces: swap the two buffers
                nbad = _finish_row(i, ny, nx, h, h_new, active, rx[i % 3], ry[i % 3], ry[(i + 1) % 3], fu,
                                   fc[i % 3], fd, qx_new, qy_new, rain, infil, uniform_r, uniform_f, r0, f0, dt,
                                   inv_dt, inv_dx, area, h_dry, threshold, depth_bound, t_end32, dt32, landuse,
                                   uniform_lu, lu0, max_depth, max_speed, t_wet, duration, max_hazard, lx, lyb[cur],
                                   lyb[1 - cur], i > a, speed[blk], acc, row_hmax, row_umax, row_store, maps,
                                   speeds)
                if nbad > 0:
                    for j in range(nx):
                        if not (h_new[i, j] <= depth_bound):
                            bad_d[i] = j
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

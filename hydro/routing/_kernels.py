"""Numba kernels of the routing engine, on flat numpy arrays only (no xarray here).

Cells are held in **topological position order**: position ``p`` is the ``p``-th cell of the
flow network's ``order`` (every cell before the cell it drains to), so ``downstream_pos[p] > p``
or ``-1`` (outlet). Everything is float64 (state and mass accounting).

Kinematic wave (Chow, Maidment & Mays 1988, §9.6; LISFLOOD ``solve1Pixel``; wflow):
``∂A/∂t + ∂Q/∂x = q_lat``, ``A = α Q^β``, solved per cell with the implicit (backward-Euler
in time, upwind in space) form

    Q + a Q^β = Q_up^{new} + a (Q^{old})^β + Q_lat,      a = α L / Δt

which is the exact volume balance of the cell's reach ``V = α L Q^β`` over the step:
``(V_new - V_old)/Δt = Q_up + Q_lat - Q_new``. It is solved by Newton's method in the
variable ``u = Q^β`` (``f(u) = u^{1/β} + a u - RHS`` is convex and increasing with
``f'(0) = a > 0``; Halley's variant, which costs no more than Newton here since ``f''`` comes
from the same power). The reach **volume** ``V = α L u`` is the prognostic state and the
outflow is taken from the balance, ``Q_new = RHS − V_new/Δt``, so volume is conserved to
round-off whatever the iteration tolerance, and a restart from saved ``V`` is bit-identical.

Level-pool reservoir (modified Puls in backward-Euler form, consistent with the channel scheme):
``S_new + Δt·(O(S_new) + W) = S_old + Δt·(I - E)`` with ``O`` the spillway
``C·L·(h(S) - h_crest)^k`` (k = 3/2 for a broad-crested weir) plus a fixed release, solved by
safeguarded Newton on the monotone function of ``S``.
"""
from __future__ import annotations

import numba as nb
import numpy as np

__all__ = [
    "kinematic_alpha",
    "channel_geometry",
    "kinematic_newton",
    "route_step",
    "route_step_sub",
    "interp_monotone",
    "reservoir_outflow",
    "reservoir_solve",
    "kinematic_cell",
    "propagate_downstream",
]

_JIT = dict(cache=True, nogil=True)

#: accept the Halley correction once it is below this (relative; the error left is ~its cube)
NEWTON_ACCEPT = 1e-6
NEWTON_MAXITER = 60


def channel_geometry(upstream_area_km2, a_width, b_width, a_depth, b_depth):
    """Hydraulic-geometry power laws ``W = a_W A^b_W``, ``D_bf = a_D A^b_D`` (A in km2) [m]."""
    a = np.asarray(upstream_area_km2, dtype=np.float64)
    return a_width * a**b_width, a_depth * a**b_depth


def kinematic_alpha(manning_n, wetted_perimeter_m, slope, beta=0.6):
    """``α = (n P^{2/3} / √S0)^β`` of ``A = α Q^β`` (SI: A in m2, Q in m3 s-1)."""
    n = np.asarray(manning_n, dtype=np.float64)
    p = np.asarray(wetted_perimeter_m, dtype=np.float64)
    s = np.asarray(slope, dtype=np.float64)
    return (n * p ** (2.0 / 3.0) / np.sqrt(s)) ** beta


#: iteration at which a kinematic solve that has not converged yet also bounds u by rhs^β (small β)
SLOW_ITERATIONS = 4
#: u = Q^β below which the kinematic solve returns 0 (the volume balance then passes the inflow on whole)
U_NEGLIGIBLE = 1e-250


@nb.njit(**_JIT)
def kinematic_newton(rhs, a, u_old, inv_beta):
    """Solve ``u^{1/β} + a u = rhs`` for ``u = Q^β ≥ 0`` (Halley's method, cubic convergence).

    Returns ``(u, iterations)``; ``iterations = NEWTON_MAXITER + 1`` flags non-convergence.
    The iteration stops once the Halley correction is below ``NEWTON_ACCEPT`` relative: the
    error of the corrected ``u`` is then ~``NEWTON_ACCEPT^3``. Callers take ``Q = rhs − a u``
    so that the volume balance holds exactly whatever the tolerance.
    """
    if rhs <= 0.0:
        return 0.0, 0
    # f(u) = u^(1/β) + a u − rhs is convex and increasing, f(rhs/a) ≥ 0: rhs/a bounds the root
    u_hi = rhs / a
    if u_hi < U_NEGLIGIBLE:
        # a flow of ~1e-250 or less: the root is 0 to round-off (Q = rhs passes the whole inflow on). It also keeps
        # u normal below: for a subnormal u, u^(1/β) underflows to 0 and 1/u to inf, and 0·inf = NaN would flow
        # into every cell downstream
        return 0.0, 0
    u = u_old if (u_old > U_NEGLIGIBLE and u_old < u_hi) else u_hi
    bounded = False
    for it in range(1, NEWTON_MAXITER + 1):
        q = u**inv_beta
        if not bounded and (q > rhs or it == SLOW_ITERATIONS):
            # u^(1/β) ≤ rhs bounds the root too (rhs^β), within a factor 2^β of it: with a small β (u^(1/β) steep)
            # Halley from rhs/a alone shrinks u by only (1 - β)/(1 + β) per iteration (or u^(1/β) overflows) and gave
            # up far above the root (V off the rating curve by 3x to 1e3x). Taken only when u is above that bound or the
            # solve is slow: one more power in every solve cost 20-40 %, and a warm start below the bound that
            # converges in 2-3 iterations (the usual case) follows the same path as before, bit for bit
            u_hi = min(u_hi, rhs**(1.0 / inv_beta))
            bounded = True
            if u > u_hi:
                u = u_hi
                q = u**inv_beta
        r = 1.0 / u
        dq = inv_beta * q * r
        d2q = (inv_beta - 1.0) * dq * r
        f = q + a * u - rhs
        df = dq + a
        den = 2.0 * df * df - f * d2q
        du = 2.0 * f * df / den if den > 0.0 else f / df
        u_new = u - du
        if u_new > u_hi:
            u_new = u_hi  # from a start below the root a step can overshoot far beyond the bound (u^(1/β) → inf)
        if u_new <= 0.0:
            u_new = 0.5 * u
            if u_new <= 0.0:
                return 0.0, it
        if abs(u_new - u) <= NEWTON_ACCEPT * u_new:
            return u_new, it
        u = u_new
    return u, NEWTON_MAXITER + 1


@nb.njit(**_JIT)
def kinematic_cell(inflow_m3s, volume_m3, alpha_length, dt, inv_beta):
    """Implicit kinematic-wave update of one reach: returns ``(Q_new, V_new, iterations)``.

    ``V_new + dt·Q_new = V_old + dt·inflow`` holds to round-off (volume is the prognostic state,
    ``V = α L Q^β``).
    """
    inv_dt = 1.0 / dt
    rhs = inflow_m3s + volume_m3 * inv_dt
    if rhs <= 0.0:
        return 0.0, 0.0, 0
    a = alpha_length * inv_dt
    u, it = kinematic_newton(rhs, a, volume_m3 / alpha_length, inv_beta)
    v_new = alpha_length * u
    q_new = rhs - a * u
    if q_new < 0.0:
        q_new = 0.0
        v_new = rhs * dt
    return q_new, v_new, it


@nb.njit(**_JIT)
def interp_monotone(x, xp, fp):
    """Piecewise-linear interpolation on increasing ``xp``; linear extrapolation at both ends."""
    n = xp.shape[0]
    if n == 1:
        return fp[0]
    j = 1
    while j < n - 1 and x > xp[j]:
        j += 1
    x0 = xp[j - 1]
    x1 = xp[j]
    return fp[j - 1] + (fp[j] - fp[j - 1]) * (x - x0) / (x1 - x0)


@nb.njit(**_JIT)
def reservoir_outflow(storage, level_table, storage_table, crest_level, spill_coef, spill_exp, release):
    """Outflow [m3 s-1] of a level-pool node at ``storage`` [m3]: spillway + fixed release.

    The release is limited to what is above dead storage (``storage_table[0]``) per second of
    the step by the caller; here it is returned as given when storage is above dead storage.
    """
    h = interp_monotone(storage, storage_table, level_table)
    o = 0.0
    if h > crest_level:
        o = spill_coef * (h - crest_level) ** spill_exp
    return o


@nb.njit(**_JIT)
def reservoir_solve(s_old, inflow_volume, evaporation_volume, abstraction_volume, release_volume, dt,
                    level_table, storage_table, crest_level, spill_coef, spill_exp):
    """Backward-Euler level-pool step.

    ``S + dt·O(S) = S_old + inflow - evaporation - abstraction - release`` (volumes over the
    step, m3), the losses already limited by the caller so the right-hand side is >= 0.
    Returns ``(S_new, spill_volume, iterations)``.
    """
    rhs = s_old + inflow_volume - evaporation_volume - abstraction_volume - release_volume
    if rhs <= 0.0:
        return 0.0, 0.0, 0
    # f(S) = S + dt*O(S) - rhs, increasing; root in [lo, hi] with lo = storage at crest (or 0)
    s_crest = interp_monotone(crest_level, level_table, storage_table)
    if rhs <= s_crest:
        return rhs, 0.0, 0
    lo = s_crest
    hi = rhs
    s = min(max(s_old, lo), hi)
    for it in range(1, 200):
        o = reservoir_outflow(s, level_table, storage_table, crest_level, spill_coef, spill_exp, 0.0)
        f = s + dt * o - rhs
        if f > 0.0:
            hi = s
        else:
            lo = s
        # derivative: dO/dS = C k (h - hc)^(k-1) dh/dS, dh/dS from the table segment
        h = interp_monotone(s, storage_table, level_table)
        j = 1
        n = storage_table.shape[0]
        while j < n - 1 and s > storage_table[j]:
            j += 1
        dhds = (level_table[j] - level_table[j - 1]) / (storage_table[j] - storage_table[j - 1])
        dodh = spill_coef * spill_exp * (h - crest_level) ** (spill_exp - 1.0) if h > crest_level else 0.0
        df = 1.0 + dt * dodh * dhds
        s_new = s - f / df
        if not (s_new > lo and s_new < hi):
            s_new = 0.5 * (lo + hi)
        if abs(s_new - s) <= 1e-15 * max(s_new, 1.0) or hi - lo <= 1e-15 * max(hi, 1.0):
            s = s_new
            break
        s = s_new
    # spill volume from the balance, so the node conserves exactly what the solver left
    spill = rhs - s
    return s, spill, it


@nb.njit(**_JIT)
def route_step(dt, n_sub, downstream_pos, fine_pos, is_fine, alpha, length_m, inv_beta,
               q, volume, lateral_m3s, boundary_m3s, res_pos_of, res_state, res_level_table, res_storage_table,
               res_table_start, res_table_len, res_crest, res_coef, res_exp, res_evap_m3, res_abstr_m3s,
               res_release_m3s, q_mean, q_max, out_volume, res_out):
    """Route one model step in place, the coarse (overland) cells in one solve of ``dt``:
    :func:`route_step_sub` with ``n_sub_coarse = 1``."""
    route_step_sub(dt, n_sub, 1, downstream_pos, fine_pos, is_fine, alpha, length_m, inv_beta,
                   q, volume, lateral_m3s, boundary_m3s, res_pos_of, res_state, res_level_table, res_storage_table,
                   res_table_start, res_table_len, res_crest, res_coef, res_exp, res_evap_m3, res_abstr_m3s,
                   res_release_m3s, q_mean, q_max, out_volume, res_out)


@nb.njit(**_JIT)
def route_step_sub(dt, n_sub, n_sub_coarse, downstream_pos, fine_pos, is_fine, alpha, length_m, inv_beta,
                   q, volume, lateral_m3s, boundary_m3s, res_pos_of, res_state, res_level_table, res_storage_table,
                   res_table_start, res_table_len, res_crest, res_coef, res_exp, res_evap_m3, res_abstr_m3s,
                   res_release_m3s, q_mean, q_max, out_volume, res_out):
    """Route one model step in place.

    Parameters
    ----------
    dt : float
        Model step [s].
    n_sub : int
        Sub-steps of the fine (channel) cells, a multiple of ``n_sub_coarse``.
    n_sub_coarse : int
        Sub-steps of the coarse (overland) cells; the fine cells take ``n_sub / n_sub_coarse``
        sub-steps within each, fed by its outflow.
    downstream_pos : int64 (n,)
        Position of the downstream cell, -1 for outlets.
    fine_pos : int64 (m,)
        Positions of the fine cells, increasing (topological).
    is_fine : bool (n,)
        Fine flag (every cell downstream of a fine cell is fine).
    alpha, length_m : float64 (n,)
        ``α`` of ``A = α Q^β`` and reach length ``L`` [m] per cell.
    q, volume : float64 (n,)
        In/out: discharge at the end of the step [m3 s-1] and water volume of each reach
        ``V = α L Q^β`` [m3] (the prognostic state; 0 at reservoir nodes).
    lateral_m3s : float64 (n,)
        Lateral inflow (runoff of the cell) [m3 s-1], constant over the step.
    boundary_m3s : float64 (n,)
        External inflow (upstream boundaries) [m3 s-1], constant over the step.
    res_pos_of : int64 (n,)
        Reservoir index of a cell, -1 for ordinary cells.
    res_state : float64 (r,)
        In/out: reservoir storage [m3].
    res_* : reservoir tables (concatenated) and parameters; ``res_evap_m3`` open-water
        evaporation demand over the step [m3]; ``res_abstr_m3s``/``res_release_m3s`` requested
        abstraction and fixed release [m3 s-1].
    q_mean, q_max : float64 (n,)
        Out: step mean and step maximum of the outflow of each cell [m3 s-1].
    out_volume : float64 (4,)
        Out: [outflow through outlets, reservoir evaporation, reservoir abstraction,
        non-converged Newton solves] over the step [m3, m3, m3, count].
    res_out : float64 (r, 4)
        Out: per reservoir [inflow, outflow (spill + release), evaporation, abstraction]
        volumes over the step [m3].

    Notes
    -----
    Coarse cells never receive water from fine cells (enforced by the caller), so one pass of
    the coarse cells in topological order followed by ``n_sub / n_sub_coarse`` passes over the
    fine cells is the same as solving every cell in topological order within each sub-step.
    """
    n = q.shape[0]
    nres = res_state.shape[0]
    inflow_coarse = np.zeros(n)   # inflow into coarse cells, and constant part for fine cells
    inflow_sub = np.zeros(n)      # inflow of fine cells from fine cells, per sub-step
    for k in range(4):
        out_volume[k] = 0.0
    for r in range(nres):
        for k in range(4):
            res_out[r, k] = 0.0
    nonconv = 0
    # the coarse (overland) cells take n_sub_coarse sub-steps of dt_c = dt / n_sub_coarse; within each, the fine
    # cells take n_sub / n_sub_coarse sub-steps fed by that coarse sub-step's outflow (n_sub_coarse = 1: one coarse
    # solve of dt, then n_sub fine sub-steps, the sums below then being exactly those of a single coarse pass)
    n_per = max(1, n_sub // n_sub_coarse)
    n_tot = n_sub_coarse * n_per
    dtc = dt / n_sub_coarse
    dts = dt / n_tot
    m = fine_pos.shape[0]
    for jj in range(m):  # coarse cells are set by their first sub-step below
        p = fine_pos[jj]
        q_mean[p] = 0.0
        q_max[p] = 0.0
    inv_nsc = 1.0 / n_sub_coarse
    for jc in range(n_sub_coarse):
        # coarse cells, one sub-step of dt_c
        for p in range(n):
            if is_fine[p]:
                continue
            # inflow_coarse of a coarse cell is complete here (topological order, coarse cells receive only from
            # coarse cells) and is consumed: it collects the next coarse sub-step's inflow afresh
            qin = inflow_coarse[p] + boundary_m3s[p] + lateral_m3s[p]
            inflow_coarse[p] = 0.0
            qn, vn, it = kinematic_cell(qin, volume[p], alpha[p] * length_m[p], dtc, inv_beta)
            if it > NEWTON_MAXITER:
                nonconv += 1
            q[p] = qn
            volume[p] = vn
            if jc == 0:
                q_mean[p] = qn * inv_nsc
                q_max[p] = qn
            else:
                q_mean[p] += qn * inv_nsc
                if qn > q_max[p]:
                    q_max[p] = qn
            d = downstream_pos[p]
            if d >= 0:
                inflow_coarse[d] += qn
            else:
                out_volume[0] += qn * dtc
        # fine cells, n_per sub-steps of dts; reservoir losses limited per step, spread evenly over the sub-steps
        for j in range(n_per):
            for jj in range(m):
                p = fine_pos[jj]
                qin = inflow_coarse[p] + inflow_sub[p] + boundary_m3s[p] + lateral_m3s[p]
                inflow_sub[p] = 0.0
                r = res_pos_of[p]
                if r >= 0:
                    t0 = res_table_start[r]
                    tl = res_table_len[r]
                    lt = res_level_table[t0:t0 + tl]
                    st = res_storage_table[t0:t0 + tl]
                    s_old = res_state[r]
                    avail = s_old + qin * dts
                    ev = min(res_evap_m3[r] / n_tot, max(avail, 0.0))  # never a gain from a negative volume
                    avail -= ev
                    s_dead = st[0]
                    above_dead = max(avail - s_dead, 0.0)
                    ab = min(res_abstr_m3s[r] * dts, above_dead)
                    above_dead -= ab
                    rel = min(res_release_m3s[r] * dts, above_dead)
                    s_new, spill, it = reservoir_solve(s_old, qin * dts, ev, ab, rel, dts, lt, st,
                                                       res_crest[r], res_coef[r], res_exp[r])
                    res_state[r] = s_new
                    qn = (spill + rel) / dts
                    res_out[r, 0] += qin * dts
                    res_out[r, 1] += spill + rel
                    res_out[r, 2] += ev
                    res_out[r, 3] += ab
                    out_volume[1] += ev
                    out_volume[2] += ab
                    q[p] = qn
                    volume[p] = 0.0
                else:
                    qn, vn, it = kinematic_cell(qin, volume[p], alpha[p] * length_m[p], dts, inv_beta)
                    if it > NEWTON_MAXITER:
                        nonconv += 1
                    q[p] = qn
                    volume[p] = vn
                q_mean[p] += qn / n_tot
                if qn > q_max[p]:
                    q_max[p] = qn
                d = downstream_pos[p]
                if d >= 0:
                    inflow_sub[d] += qn
                else:
                    out_volume[0] += qn * dts
        for jj in range(m):
            inflow_coarse[fine_pos[jj]] = 0.0
    out_volume[3] = nonconv


@nb.njit(**_JIT)
def propagate_downstream(downstream_pos, flag):
    """In place: a flagged cell flags the cell it drains to (positions in topological order)."""
    for p in range(downstream_pos.shape[0]):
        d = downstream_pos[p]
        if flag[p] and d >= 0:
            flag[d] = True

"""The D8 flow network, built once from a flow-direction grid and reused by routing."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import xarray as xr

from hydro.errors import InputDataError
from hydro.terrain import _kernels as k
from hydro.terrain.grid import GridGeometry, grid_geometry

__all__ = ["FlowNetwork", "flow_network"]


def check_on_grid(what: str, arr: Any, net: "FlowNetwork") -> None:
    """Refuse a per-cell DataArray that is not on the network's grid in its row order: (x, y) dims, rows stored
    south to north (a NetCDF with ascending y, ``sortby("y")``) or another grid of the same shape were read
    row-major and gave wrong results without an error. Plain arrays and DataArrays without x/y coordinates are
    taken as row-major on the network's grid (only their shape can be checked)."""
    if not isinstance(arr, xr.DataArray):
        return
    from rioxarray.exceptions import MissingSpatialDimensionError

    try:
        arr.rio.y_dim, arr.rio.x_dim
    except MissingSpatialDimensionError:
        return
    from hydro.io.raster import check_dims, grid_transform

    check_dims(arr, what)
    if not ("x" in arr.coords and "y" in arr.coords and arr["x"].size >= 2 and arr["y"].size >= 2):
        return
    if tuple(arr.shape[-2:]) != tuple(net.shape):
        return  # the callers' shape checks give the message
    t, tn = grid_transform(arr), net.transform
    cell = max(abs(tn.a), abs(tn.e))
    if not (np.allclose([t.a, t.e], [tn.a, tn.e], rtol=1e-6, atol=0.0)
            and np.allclose([t.c, t.f], [tn.c, tn.f], rtol=0.0, atol=1e-3 * cell)):
        raise InputDataError(
            f"{what} is not on the grid of the flow directions (its transform {tuple(t)[:6]}, theirs {tuple(tn)[:6]}): "
            "give it north-up (rows north to south) on the same grid (do not sortby('y') or flip it)"
        )


@dataclass(eq=False)
class FlowNetwork:
    """A D8 flow network on flat (row-major) arrays.

    Attributes
    ----------
    shape : (ny, nx)
    downstream : int32 ndarray (ny*nx,)
        Flat index of the downstream cell; -1 for outlets (drain off the grid or into nodata)
        and for nodata cells.
    order : int32 ndarray (nvalid,)
        Flat indices of every valid cell, each cell before the cell it drains to.
    valid : bool ndarray (ny*nx,)
    geometry : GridGeometry
        Cell sizes and areas in metres.
    fdir : uint8 ndarray (ny*nx,)
        The ESRI D8 codes the network was built from.
    """

    shape: tuple[int, int]
    downstream: np.ndarray
    order: np.ndarray
    valid: np.ndarray
    geometry: GridGeometry
    fdir: np.ndarray
    _hash: str | None = field(default=None, repr=False)

    # -- derived -----------------------------------------------------------------------------
    @property
    def ncell(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def transform(self) -> Any:
        return self.geometry.transform

    @property
    def crs(self) -> Any:
        return self.geometry.crs

    @property
    def cell_area_m2(self) -> np.ndarray:
        """Cell area [m2], flat float64 (nodata cells included)."""
        return self.geometry.cell_area_flat()

    @property
    def outlets(self) -> np.ndarray:
        """Flat indices of valid cells that drain off the grid or into nodata."""
        return np.flatnonzero(self.valid & (self.downstream < 0))

    @property
    def distance_to_downstream_m(self) -> np.ndarray:
        """Length of each cell's D8 link to its downstream cell [m] (0 at outlets/nodata), float64."""
        out = self.step_length_m
        out[self.downstream < 0] = 0.0
        return out

    @property
    def step_length_m(self) -> np.ndarray:
        """Length of the D8 step of each cell's flow direction [m] (also where it leaves the grid or enters
        nodata; 0 without a direction), flat float64."""
        ny, nx = self.shape
        g = self.geometry
        code = self.fdir.reshape(ny, nx)
        out = np.zeros((ny, nx))
        ew = (code == 1) | (code == 16)
        ns = (code == 4) | (code == 64)
        dg = (code == 2) | (code == 8) | (code == 32) | (code == 128)
        out[ew] = np.broadcast_to(g.dx_m[:, None], (ny, nx))[ew]
        out[ns] = np.broadcast_to(g.ns_step_m()[:, None], (ny, nx))[ns]
        out[dg] = np.broadcast_to(g.diag_m[:, None], (ny, nx))[dg]
        return out.ravel()

    @property
    def hash(self) -> str:
        """sha256 of the grid definition and the downstream links (identifies the network in state files)."""
        if self._hash is None:
            h = hashlib.sha256()
            h.update(repr(self.shape).encode())
            h.update(repr(tuple(self.geometry.transform)[:6]).encode())
            h.update(self.geometry.crs.to_wkt().encode())
            h.update(np.ascontiguousarray(self.downstream).tobytes())
            self._hash = h.hexdigest()
        return self._hash

    # -- operations --------------------------------------------------------------------------
    def accumulate(self, weights: np.ndarray) -> np.ndarray:
        """Sum of ``weights`` over each cell and everything upstream of it.

        Parameters
        ----------
        weights : ndarray (ny*nx,) or (ny, nx)
            Per-cell values (e.g. runoff volume); NaN/nodata cells should be 0.

        Returns
        -------
        ndarray (ny*nx,)
            Accumulated values in float64 (a copy; ``weights`` is not modified).
        """
        acc = np.array(weights, dtype=np.float64).ravel()
        if acc.shape[0] != self.ncell:
            raise InputDataError(f"weights have {acc.shape[0]} cells, the network {self.ncell}")
        acc[~self.valid] = 0.0
        k.accumulate(self.order, self.downstream, acc)
        return acc

    def upstream_count(self) -> np.ndarray:
        """Number of cells draining through each cell, itself included (int32 flat; 0 on nodata)."""
        acc = self.valid.astype(np.int32)  # 1 per valid cell, in one linear pass
        k.accumulate(self.order, self.downstream, acc)
        return acc

    def upstream_area_m2(self) -> np.ndarray:
        """Upstream area including the cell [m2], float64 flat (0 on nodata)."""
        if self.geometry.planar:
            return self.upstream_count() * float(self.geometry.area_m2[0])
        return self.accumulate(self.cell_area_m2)

    def rowcol(self, index: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of flat indices."""
        return np.divmod(np.asarray(index), self.shape[1])

    def xy(self, index: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates (CRS units) of flat indices."""
        r, c = self.rowcol(index)
        t = self.geometry.transform
        return t.c + t.a * (c + 0.5), t.f + t.e * (r + 0.5)

    def snap(
        self,
        points_xy: Sequence[tuple[float, float]],
        max_distance_m: float,
        streams: np.ndarray | xr.DataArray | None = None,
        upstream_area_m2: np.ndarray | xr.DataArray | None = None,
        expected_area_m2: Any = None,
    ) -> np.ndarray:
        """Snap points (gauges, outlets) to the nearest stream cell within ``max_distance_m``.

        The distance is measured from the point itself to the centre of each stream cell, in metres
        (in the CRS's plane on planar grids, geodesic on geographic and scale-corrected grids, see
        :func:`~hydro.terrain.grid.grid_geometry`). Cells whose centre is farther than
        ``max_distance_m`` are not candidates. Tie rule (deterministic): among candidates at the same
        distance (equal to 1 micrometre) the one with the larger upstream area wins, then the smaller
        flat index (northernmost, then westernmost). Without ``streams`` the cell that contains the
        point is used (it must be valid) and ``max_distance_m`` is not used.

        With ``expected_area_m2`` (a gauge's published catchment area) the candidate whose upstream area is
        closest to it (in ratio, ``|ln(A / A_expected)|``) wins, then the nearest: near a confluence the nearest
        stream cell may be the tributary's, whose catchment can be a hundredth of the main stem's.

        Parameters
        ----------
        points_xy : sequence of (x, y)
            Point coordinates in the grid's CRS.
        max_distance_m : float
            Largest distance from the point to a stream cell centre [m], >= 0.
        streams : ndarray or DataArray (ny, nx), optional
            Stream mask (non-zero / True = stream); nodata cells are never candidates.
        upstream_area_m2 : ndarray or DataArray, optional
            Upstream area [m2] for the tie rule (computed from the network when not given).
        expected_area_m2 : float or sequence of (float or None), optional
            Expected upstream area of each point [m2] (one value for all points, or one per point, None = nearest).

        Returns
        -------
        int64 ndarray
            Flat index per point.

        Raises
        ------
        InputDataError
            A point outside the grid, a negative or non-finite ``max_distance_m``, or no stream cell
            within ``max_distance_m``.
        """
        ny, nx = self.shape
        t = self.geometry.transform
        inv = ~t
        g = self.geometry
        if not np.isfinite(max_distance_m) or max_distance_m < 0:
            raise InputDataError(f"max_distance_m must be a finite distance >= 0 [m], got {max_distance_m}")
        stream_flat = None
        if streams is not None:
            check_on_grid("stream mask", streams, self)
            stream_flat = np.asarray(streams).ravel()
            if stream_flat.size != self.ncell:
                raise InputDataError(f"stream mask has {stream_flat.size} cells, the network {self.ncell}")
            stream_flat = (np.nan_to_num(stream_flat.astype(np.float64), nan=0.0) > 0) & self.valid
            if upstream_area_m2 is None:
                upstream_area_m2 = self.upstream_area_m2()
            up = np.nan_to_num(np.asarray(upstream_area_m2, np.float64).ravel(), nan=-np.inf)
            # search window: every cell whose centre can be within max_distance_m (+1 cell for the point's offset)
            rad_r = int(np.ceil(max_distance_m / float(np.min(g.ns_step_m())))) + 1
            rad_c = int(np.ceil(max_distance_m / float(np.min(g.dx_m)))) + 1
        out = np.empty(len(points_xy), np.int64)
        if expected_area_m2 is None or np.ndim(expected_area_m2) == 0:
            expected = [expected_area_m2] * len(points_xy)
        else:
            expected = list(expected_area_m2)
            if len(expected) != len(points_xy):
                raise InputDataError(f"expected_area_m2 has {len(expected)} values for {len(points_xy)} points")
        for v in expected:
            if v is not None and not (np.isfinite(float(v)) and float(v) > 0):
                raise InputDataError(f"expected upstream area {v!r} must be a positive area [m2]")
        if stream_flat is None and any(v is not None for v in expected):
            raise InputDataError("expected_area_m2 needs a stream mask (streams=) to choose among")
        for p, (x, y) in enumerate(points_xy):
            colf, rowf = inv @ (x, y)
            if not (np.isfinite(colf) and np.isfinite(rowf)):
                raise InputDataError(f"point {p} ({x}, {y}) is outside the grid")
            r0, c0 = int(np.floor(rowf)), int(np.floor(colf))
            if not (0 <= r0 < ny and 0 <= c0 < nx):
                raise InputDataError(f"point {p} ({x}, {y}) is outside the grid")
            if stream_flat is None:
                i = r0 * nx + c0
                if not self.valid[i]:
                    raise InputDataError(f"point {p} ({x}, {y}) falls on a nodata cell")
                out[p] = i
                continue
            rs = np.arange(max(0, r0 - rad_r), min(ny, r0 + rad_r + 1))
            cs = np.arange(max(0, c0 - rad_c), min(nx, c0 + rad_c + 1))
            idx = (rs[:, None] * nx + cs[None, :]).ravel()
            idx = idx[stream_flat[idx]]
            if idx.size == 0:
                raise InputDataError(f"point {p} ({x}, {y}): no stream cell within {max_distance_m} m")
            cx, cy = self.xy(idx)
            dist = g.distance_m(float(x), float(y), cx, cy)
            sel = dist <= max_distance_m * (1 + 1e-12) + 1e-9
            if not sel.any():
                raise InputDataError(
                    f"point {p} ({x}, {y}): no stream cell within {max_distance_m} m (nearest stream cell centre in "
                    f"the search window is {float(dist.min()):.1f} m away)"
                )
            idx, dist = idx[sel], dist[sel]
            if expected[p] is None:
                best = np.lexsort((idx, -up[idx], np.round(dist, 6)))[0]
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    mismatch = np.abs(np.log(np.maximum(up[idx], 1e-300) / float(expected[p])))
                best = np.lexsort((idx, np.round(dist, 6), np.round(mismatch, 9)))[0]
            out[p] = idx[best]
        return out


def flow_network(fdir: xr.DataArray | np.ndarray, geometry: GridGeometry | None = None) -> FlowNetwork:
    """Build the :class:`FlowNetwork` of a D8 flow-direction grid (ESRI codes, 255 nodata).

    Raises
    ------
    InputDataError
        Unknown codes, a cycle in the flow graph, or a DataArray whose dims are not (y, x) or whose grid is not
        north-up with west-to-east columns.
    """
    if isinstance(fdir, xr.DataArray):
        from hydro.io.raster import check_dims, grid_transform

        # the codes are read row-major: refuse (x, y) dims and flipped grids (e.g. sortby("y")) rather than
        # following every code the wrong way (single-row or single-column networks are fine)
        check_dims(fdir, "flow direction")
        t = grid_transform(fdir)
        if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
            raise InputDataError(
                f"flow direction: unsupported orientation (transform {tuple(t)[:6]}); the D8 codes need west-to-east "
                "columns and north-up rows, as flow_direction returns them (do not flip or sortby the grid)"
            )
        geometry = geometry or grid_geometry(fdir)
        codes = np.ascontiguousarray(fdir.values)
    else:
        if geometry is None:
            raise InputDataError("a numpy flow-direction array needs geometry=")
        codes = np.ascontiguousarray(fdir)
    if codes.dtype != np.uint8:
        # check before the cast: NaN (a float grid read with its _FillValue masked) or 256 would become code 0, a
        # valid outlet
        vals = np.asarray(codes, dtype=np.float64)
        if not np.all(np.isfinite(vals)):
            raise InputDataError("flow direction has NaN cells: give nodata as code 255 (e.g. fdir.fillna(255))")
        if np.any((vals < 0) | (vals > 255) | (vals != np.round(vals))):
            bad = np.unique(vals[(vals < 0) | (vals > 255) | (vals != np.round(vals))])[:5]
            raise InputDataError(f"flow direction has codes {bad.tolist()} that are not ESRI D8 (0,1,2,4,...,128,255)")
        codes = codes.astype(np.uint8)
    ny, nx = codes.shape
    flat = codes.ravel()
    allowed = np.zeros(256, bool)
    allowed[[0, 1, 2, 4, 8, 16, 32, 64, 128, 255]] = True
    if not allowed[flat].all():
        bad = np.unique(flat[~allowed[flat]])
        raise InputDataError(f"flow direction has codes {bad.tolist()} that are not ESRI D8 (0,1,2,4,...,128,255)")
    ds = np.empty(ny * nx, np.int32)
    k.downstream_index(flat, ny, nx, ds)
    order, ok = k.topological_order(ds, flat)
    if not ok:
        raise InputDataError("flow directions contain a cycle: not a valid D8 network")
    return FlowNetwork((ny, nx), ds, order, flat != k.NODATA_CODE, geometry, flat)

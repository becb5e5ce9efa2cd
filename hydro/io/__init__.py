"""Input and output: DEM rasters in, CF-1.11/ACDD-1.3 NetCDF out (one place for the CF rules)."""
from hydro.io.dsg import timeseries_dataset
from hydro.io.netcdf import NETCDF_LOCK, atomic_path, discard_temp, netcdf_compression, netcdf4_dataset, open_netcdf, replace_atomically, sha256_file, write_netcdf
from hydro.io.raster import from_array, open_dem

__all__ = ["open_dem", "from_array", "write_netcdf", "open_netcdf", "netcdf4_dataset", "NETCDF_LOCK", "timeseries_dataset", "sha256_file", "atomic_path", "discard_temp", "netcdf_compression", "replace_atomically"]

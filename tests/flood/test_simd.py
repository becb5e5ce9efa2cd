"""The 512-bit vector-width attribute of the flood row kernels (hydro.flood._inertial._wide_vectors)."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from hydro.flood import _inertial as K


@numba.njit(cache=False, fastmath=True)
def _saxpy_wide(a, x, y):
    K._wide_vectors()
    for j in range(x.size):
        y[j] = a * x[j] + y[j]


@numba.njit(cache=False, fastmath=True)
def _saxpy_default(a, x, y):
    for j in range(x.size):
        y[j] = a * x[j] + y[j]


def _host_has_avx512() -> bool:
    import llvmlite.binding as llvm

    return bool(llvm.get_host_cpu_features().get("avx512f", False))


def test_attribute_reaches_the_llvm_ir_and_changes_nothing_else():
    x = np.arange(1000, dtype=np.float32)
    y1 = np.ones(1000, np.float32)
    y2 = np.ones(1000, np.float32)
    _saxpy_wide(np.float32(2.0), x, y1)
    _saxpy_default(np.float32(2.0), x, y2)
    np.testing.assert_array_equal(y1, y2)
    ir_wide = next(iter(_saxpy_wide.inspect_llvm().values()))
    ir_default = next(iter(_saxpy_default.inspect_llvm().values()))
    assert '"prefer-vector-width"="512"' in ir_wide
    assert '"prefer-vector-width"' not in ir_default  # per function: the process-wide numba target is untouched


@pytest.mark.skipif(not _host_has_avx512(), reason="the host CPU has no AVX-512: the attribute is clamped to ymm")
def test_avx512_hosts_get_zmm_loops():
    asm_wide = next(iter(_saxpy_wide.inspect_asm().values()))
    assert "zmm" in asm_wide

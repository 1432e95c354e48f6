import pytest

from via.rec.data import data_root


@pytest.fixture(scope="session")
def shared_data():
    root = data_root()
    if not (root / "raw").is_dir():
        pytest.fail(f"shared data not found at {root}; set VIA_DATA to the data folder")
    return root


@pytest.fixture
def blas(monkeypatch):
    """`blas("numpy" | "torch")` sets VIA_CPU_BLAS for one test; `common.cpu_blas` reads it
    afresh, and again after the test (the process's own choice comes back)."""
    from via.rec.models.neural import common

    def choose(library: str) -> None:
        monkeypatch.setenv(common.CPU_BLAS_ENV, library)
        common.cpu_blas.cache_clear()

    yield choose
    monkeypatch.undo()
    common.cpu_blas.cache_clear()

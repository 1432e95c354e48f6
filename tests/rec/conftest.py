import pytest

from via.rec.data import data_root


@pytest.fixture(scope="session")
def shared_data():
    root = data_root()
    if not (root / "raw").is_dir():
        pytest.fail(f"shared data not found at {root}; set VIA_DATA to the data folder")
    return root

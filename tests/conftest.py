import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Each notebook's exercise checks run in its nbval kernel, after its last cell (see tests/test_exercises.py)."""
    from test_exercises import add_to_nbval

    add_to_nbval(config, items)

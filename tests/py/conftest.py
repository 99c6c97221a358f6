import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
MLIC = os.path.join(ROOT, "build", "mlic")


@pytest.fixture(scope="session")
def mlic():
    assert os.path.exists(MLIC), "build/mlic is missing: run make first"
    return MLIC

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The build folder the tests drive: ./build, or another one given by MLIC_BUILD (make check-asan
# runs these tests on build-asan's sanitized binaries).
BUILD = os.path.join(ROOT, os.environ.get("MLIC_BUILD", "build"))
MLIC = os.path.join(BUILD, "mlic")


@pytest.fixture(scope="session")
def mlic():
    assert os.path.exists(MLIC), "build/mlic is missing: run make first"
    return MLIC

"""Test configuration: Keras 2 before TensorFlow loads, quiet logs, seeded runs, the fault
cases' shared reference runs, and EDNAS_TEST_REPEAT."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.faults.resume import REFERENCES_ENV  # noqa: E402

# EDNAS_TEST_REPEAT=N runs every selected test N times in one session (ids end in -0 ... -N-1),
# sharing its set-up: how docs/results/30-race-free-faults.md ran the interrupting tests 20 times.
REPEAT = int(os.environ.get("EDNAS_TEST_REPEAT", "1"))


def pytest_generate_tests(metafunc):
    if REPEAT > 1:
        metafunc.fixturenames.append("_repeat")
        metafunc.parametrize("_repeat", range(REPEAT))


@pytest.fixture(autouse=True)
def _seed():
    tf.keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(autouse=True, scope="session")
def _shared_fault_references(tmp_path_factory):
    """One folder of the fault cases' uninterrupted reference runs (bench/faults/resume.py) for
    the whole test session: pytest-xdist's workers share their base folder's parent, so each
    reference run is made once per session instead of once per worker."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    os.environ.setdefault(REFERENCES_ENV, str(shared / "fault-references"))
    yield

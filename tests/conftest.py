import pytest
import torch

from axk1 import ModelConfig


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def tiny_config() -> ModelConfig:
    return ModelConfig.from_preset("axk1-tiny")


@pytest.fixture
def outside():
    """What a sandbox run must leave alone (tests/sandbox_helpers.py: Outside), cleaned up after the test."""
    import shutil

    from tests.sandbox_helpers import Outside

    o = Outside()
    yield o
    shutil.rmtree(o.folder, ignore_errors=True)

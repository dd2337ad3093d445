"""Shared fixtures: one small synthetic dataset built once per test session."""
import pytest
import torch

from styletalker.data.build import build_dataset

# CI runs two xdist workers on two cores: one thread each (torch's default of all cores oversubscribes, 10-30x slower)
torch.set_num_threads(1)

SMALL = dict(n_identities=4, clips_per_identity=2, val_identities=1, test_identities=1, max_words=5)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("world") / "ds"
    build_dataset(out, "quick", workers=1, progress=False, **SMALL)
    return out

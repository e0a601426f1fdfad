import os

# Inductor's CPU kernels as plain C++ loops, not SIMD ones, in every test and the processes tests start (set before
# torch loads; a developer's own setting is kept). What a compile test proves is that dynamo traces the code whole,
# that AOT autograd and inductor lower it and that the result is eager's; the vector code is twice the C++ for g++
# to compile (measured cold: the compiled decode step 50 -> 30 CPU-s, the compiled layers' loss and gradients and the
# fused loss chunk 63 -> 41), and an accelerator runs Triton, not it. One setting for all keeps one precompiled
# header (~12 CPU-s to build on a fresh machine) instead of one per setting. It is part of inductor's cache key.
os.environ.setdefault("TORCHINDUCTOR_VEC_ISA_OK", "0")

import pytest  # noqa: E402
import torch  # noqa: E402

from axk1 import ModelConfig

# Under pytest-xdist (`make test` runs one worker per CPU) each worker and the processes its tests start get an even
# share of the CPUs: torch's default (a thread per CPU in every worker) oversubscribes them and the tiny models'
# ops slow down. Set before any test starts a child, which inherits OMP_NUM_THREADS.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = max(1, len(os.sched_getaffinity(0)) // _WORKERS)
    os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    # inductor's compile pool is sized by the whole box too (a 2-core box: two compile subprocesses a worker, started
    # on the first compile, racing the other worker for its core); one thread a worker compiles in the worker itself.
    # The env var reaches the children (the gpu check's, torchrun ranks), the config this process's own compiles.
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", str(_THREADS))
    import torch._inductor.config

    torch._inductor.config.compile_threads = int(os.environ["TORCHINDUCTOR_COMPILE_THREADS"])

# Property tests (hypothesis) draw new inputs on every local run, which is how they keep finding defects (the WARC
# fuzz test's examples each came from one); on CI the same draws every time, so a landing is never failed by an
# input no earlier run tried. A failure found locally goes into the test as an @example.
if os.environ.get("CI"):
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    settings.load_profile("ci")


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` need CUDA: skipped where torch sees none. The mark, not a skipif of each test's own, is
    what benchmarks/gpu_check.sh selects (-m gpu) on a lent GPU: exactly these, and none of the CPU tests whose file
    names happened to match its old -k ("device", "memory"), which ran first and used up its time."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a GPU (marked gpu: benchmarks/gpu_check.sh runs it)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:  # a trainer built in this process set its recipe's [run] threads
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """axk1-tiny's single-process run, uninterrupted, 4 steps (checkpoints at steps 2 and 4), and its init weights:
    what the distributed runs are compared with (tests/train_helpers.py::single_process_reference). Read only."""
    from tests.train_helpers import single_process_reference

    return single_process_reference(tmp_path_factory.mktemp("reference"))


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

"""SpeedMonitor's MFU is per device: the step's tokens (summed over all ranks) over the world size, against one
device's peak."""

from types import SimpleNamespace

import pytest
import torch

from axk1 import ModelConfig
from axk1.train import callbacks
from axk1.train.callbacks import SpeedMonitor
from axk1.flops import training_flops_per_token


def _trainer(world: int | None):
    recipe = SimpleNamespace(logging=SimpleNamespace(every_steps=1, peak_tflops=1.0),
                             parallelism=SimpleNamespace(precision="fp32"))
    parallel = None if world is None else SimpleNamespace(mesh=SimpleNamespace(size=lambda: world))
    return SimpleNamespace(recipe=recipe, parallel=parallel, device=torch.device("cpu"), total_steps=10,
                           state=SimpleNamespace(step=0, tokens=0, skipped_steps=0),
                           config=ModelConfig.from_preset("axk1-tiny"), model=SimpleNamespace(mtp=None),
                           domain_losses=dict, progress={})


@pytest.mark.parametrize("world", [None, 2])
def test_mfu_divides_the_global_tokens_by_the_world_size(monkeypatch, world):
    clock = iter([100.0, 102.0])  # on_fit_start, then the step's end: 2 s
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    trainer, monitor = _trainer(world), SpeedMonitor()
    monitor.on_fit_start(trainer)
    trainer.state.step, trainer.state.tokens = 1, 4096  # all ranks' tokens in the step
    row = {"seq_len": 32, "stage": "s1", "tokens": 4096, "loss": 2.0}
    monitor.on_step_end(trainer, row)
    devices = world or 1
    assert row["tokens_per_s"] == pytest.approx(2048.0)
    assert row["tokens_per_s_per_device"] == pytest.approx(2048.0 / devices)
    flops = training_flops_per_token(trainer.config, 32, with_mtp=False, causal=True)
    assert row["mfu"] == pytest.approx(2048.0 / devices * flops / 1e12)


def test_an_mfu_past_the_peak_is_flagged_and_the_denominator_is_named(monkeypatch, capsys):
    """A CPU run recorded mfu = 1.21 with nothing to say the measured peak had read low (the peak, measured once at
    start in 0.1 s windows, caught other work on a shared machine)."""
    clock = iter([100.0, 102.0, 104.0])
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    trainer, monitor = _trainer(None), SpeedMonitor()
    trainer.recipe.logging.peak_tflops = 1e-9  # a denominator far below what the step reaches
    monitor.on_fit_start(trainer)
    for step in (1, 2):
        trainer.state.step, trainer.state.tokens = step, 4096 * step
        row = {"seq_len": 32, "stage": "s1", "tokens": 4096, "loss": 2.0}
        monitor.on_step_end(trainer, row)
        assert row["mfu"] > 1 and row["mfu_over_peak"] is True
        assert row["peak_source"] == "recipe" and row["peak_tflops"] == pytest.approx(1e-9)
    assert capsys.readouterr().err.count("is above the peak") == 1  # said once, flagged in every row


def test_the_cpu_peak_is_measured_once_a_process_and_thread_count(monkeypatch):
    """Every Trainer.fit on CPU measured it again (0.6 s of every core: the demo's four stages paid it four times, a
    test process once per run). An earlier figure is the answer now; another thread count is measured."""
    from axk1.train import metrics

    monkeypatch.setattr(metrics, "_MEASURED", {})
    first = metrics.measure_matmul_peak(seconds=0.01, trials=1)
    assert first > 0 and metrics._MEASURED == {torch.get_num_threads(): first}

    def measured_again(*args, **kwargs):
        raise AssertionError("the peak was measured again")

    monkeypatch.setattr(metrics.torch, "randn", measured_again)
    assert metrics.measure_matmul_peak() == first
    monkeypatch.setitem(metrics._MEASURED, torch.get_num_threads(), 1e18)  # an earlier, quieter measurement
    assert metrics.measure_matmul_peak() == 1e18
    assert metrics.peak_source(torch.device("cpu")) == "measured"

"""What `axk1 serve` is set up with: the engine's settings (EngineConfig: batch, context, cache) and the server's
(ServeConfig: the folder, the device, timeouts, and an EngineConfig). Each default is written once, here: the flags
of `axk1 serve` read theirs from these fields (axk1/infer/cli.py; tests/test_cli_defaults.py holds them to it), and
each range is checked here, naming the field (the command line names the flag instead: cli.flag_names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK_SIZE = 16  # tokens per cache block, vLLM's default: a sequence wastes at most one partial block
PREFILL_CHUNK = 256  # prompt tokens computed per step, over all prefilling sequences (see scheduler.py)
DEFAULT_CACHE_BYTES = 2**30  # the pool when cache_tokens is not given: at most this, at least one whole context


@dataclass(frozen=True)
class EngineConfig:
    """The batching engine's settings (axk1/infer/engine.py)."""

    max_batch: int = 32  # most sequences generated together
    max_model_len: int | None = None  # context served, prompt + completion; None: the model's whole context
    # the paged latent cache's size in tokens; None: every sequence at full length, at most DEFAULT_CACHE_BYTES, at
    # least one whole context
    cache_tokens: int | None = None
    block_size: int = BLOCK_SIZE
    prefill_chunk: int = PREFILL_CHUNK
    prefix_caching: bool = True  # reuse the cached blocks of a repeated prompt prefix
    speculative: bool = False  # draft with the model's MTP module, verified in the decode step (drafting.py)

    def __post_init__(self) -> None:
        for name in ("max_batch", "block_size", "prefill_chunk", "max_model_len", "cache_tokens"):
            value = getattr(self, name)
            optional = name in ("max_model_len", "cache_tokens")
            if (value is None and not optional) or (value is not None and not _count(value)):
                raise ValueError(f"{name} must be a whole number >= 1{' (or None)' if optional else ''}, got {value!r}")


@dataclass(frozen=True)
class ServeConfig:
    """`axk1 serve`'s settings (cli.build_server): the folder served, how, and its engine's EngineConfig."""

    model_dir: Path
    engine: EngineConfig = field(default_factory=EngineConfig)
    served_name: str | None = None  # the model id clients send; None: the folder's name
    dtype: Any = None  # torch.dtype; None: the folder's
    device: str = "cpu"  # cpu, cuda or auto
    read_timeout: float = 30.0  # seconds for a request's headers, and again its body (axk1/infer/http_timeouts.py)
    shutdown_timeout: int = 5  # seconds the requests in flight may go on after the exit signal (shutdown.py)
    weight_updates: bool = False  # POST /update_weights_from_disk (weight_updates.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_dir", Path(self.model_dir))
        if isinstance(self.read_timeout, bool) or not isinstance(self.read_timeout, (int, float)) \
                or not self.read_timeout > 0:  # NaN too
            raise ValueError(f"read_timeout must be a positive number of seconds, got {self.read_timeout!r}")
        if not (_count(self.shutdown_timeout) or self.shutdown_timeout == 0):
            raise ValueError(f"shutdown_timeout must be a whole number of seconds >= 0, got {self.shutdown_timeout!r}")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1

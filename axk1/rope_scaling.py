"""YaRN's rope_scaling block as config.json holds it: checked and normalised to the keys the model reads, and the
attention scale YaRN derives from it. Its own module because a model's config (axk1/config.py), the model's
RoPE and a recipe's stage all read it.
"""

from __future__ import annotations

import math
from typing import Any

# transformers treats a missing (or zero) beta as these defaults; mscale and mscale_all_dim stay optional because
# "absent" and "1.0" give different attention factors there.
YARN_BETA_DEFAULTS = {"beta_fast": 32.0, "beta_slow": 1.0}


def json_number(name: str, value: Any) -> float:
    """A JSON number as float: a string or a bool is refused, not converted."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"ModelConfig.{name} must be a number, got {value!r}")
    return float(value)


def yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


# A factor past this is a typo, not a context: 1e300 wrote a 300-digit max_position_embeddings, and 1e308 x the
# original length overflowed to infinity (the release's: 4). `axk1 export --yarn` and every config.json read share it;
# below 1 YaRN would shrink the context (transformers warns there).
MAX_YARN_FACTOR = 1024

_YARN_RANGES = {"factor": (1, MAX_YARN_FACTOR), "beta_fast": (1e-6, 1e6), "beta_slow": (1e-6, 1e6),
                "mscale": (0, 100), "mscale_all_dim": (0, 100), "attention_factor": (1e-6, 100)}


def normalise_rope_scaling(raw: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"ModelConfig.rope_scaling must be an object (a YaRN block) or null, got {raw!r}")
    kind = raw.get("type", raw.get("rope_type"))
    if kind != "yarn":
        raise ValueError(f"ModelConfig.rope_scaling type {kind!r} is unsupported; axk1 supports 'yarn' or none")
    if "factor" not in raw or "original_max_position_embeddings" not in raw:
        raise ValueError("ModelConfig.rope_scaling (yarn) needs 'factor' and 'original_max_position_embeddings'")
    original = raw["original_max_position_embeddings"]
    if isinstance(original, bool) or not isinstance(original, int) or original <= 0:
        raise ValueError(f"ModelConfig.rope_scaling.original_max_position_embeddings must be a positive integer, "
                         f"got {original!r}")
    out: dict[str, Any] = {"type": "yarn", "factor": json_number("rope_scaling.factor", raw["factor"]),
                           "original_max_position_embeddings": original}
    for key, default in YARN_BETA_DEFAULTS.items():
        out[key] = json_number(f"rope_scaling.{key}", raw.get(key) or default)
    out.update({key: json_number(f"rope_scaling.{key}", raw[key])
                for key in ("mscale", "mscale_all_dim", "attention_factor") if raw.get(key) is not None})
    for key, value in out.items():
        low, high = _YARN_RANGES.get(key, (-math.inf, math.inf))  # RoPE takes the betas' logs ("math domain error")
        if isinstance(value, float) and not (math.isfinite(value) and low <= value <= high):
            within = f" and from {low:g} to {high:g}" if key in _YARN_RANGES else ""
            raise ValueError(f"ModelConfig.rope_scaling.{key} must be finite{within}, got {value}")
    if "truncate" in raw:
        if not isinstance(raw["truncate"], bool):  # bool("false") is True
            raise ValueError(f"ModelConfig.rope_scaling.truncate must be true or false, got {raw['truncate']!r}")
        out["truncate"] = raw["truncate"]
    return out

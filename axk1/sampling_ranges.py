"""The ranges of the sampling settings every generator takes (temperature, top_p, top_k), checked in one place.

Generation (axk1/infer/sampling.py), the eval backends' requests, RL's rollouts and the synth teacher's requests
all take them; each had its own copy of the comparisons, and the copies drifted (one let an infinite temperature
through, one a NaN before it was caught). The check lives here, below all of them; each caller words the error
with the names its user wrote (a flag, a recipe key), using RULES.
"""

from __future__ import annotations

import math

# The defaults of generate() and generate_speculative(), and so of `axk1 generate`'s flags: greedy, no cut, and the
# tokens a generation may add when its caller sets no limit (`axk1 generate` also stays within the context). Here,
# below torch, so that building the command line's parser reads them without importing torch.
DEFAULT_TEMPERATURE = 0.0
DEFAULT_TOP_P = 1.0
DEFAULT_TOP_K = 0
DEFAULT_MAX_NEW_TOKENS = 64

# What each setting must be, in words that finish "<name> must be ...".
RULES = {
    "temperature": "a finite number >= 0 (0 = greedy)",
    "top_p": "in (0, 1]",
    "top_k": ">= 0 (0 = no limit)",
}


def sampling_problems(temperature: float, top_p: float, top_k: int = 0) -> dict[str, str]:
    """The settings out of range, each with the rule it breaks (RULES), in RULES' order; {} when all are in range.
    Written as `not in range` so that NaN, which fails every comparison, is out of range too."""
    fine = {
        "temperature": 0 <= temperature < math.inf,
        "top_p": 0 < top_p <= 1,
        "top_k": top_k >= 0,
    }
    return {name: RULES[name] for name, ok in fine.items() if not ok}

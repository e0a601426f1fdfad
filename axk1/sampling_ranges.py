"""The ranges of the sampling settings every generator takes (temperature, top_p, top_k, seed), in one place.

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

# A sampling seed, one range for `axk1 generate --seed`, `axk1 serve`'s request `seed` (infer/schema.py) and its
# engine (infer/engine.py): a signed 64-bit integer, as OpenAI's API and vLLM take it, so a seed generate takes is
# never a 422 from serve (generate took up to 2**64 - 1, serve below 2**63). It lies inside what
# torch.Generator.manual_seed takes, [-2**63, 2**64) (past it: "Overflow when unpacking long long", naming no flag),
# with room above: a request's choice i samples with seed + i, and 2**63 - 1 + i stays below 2**64 for any n.
SEED_RANGE = (-(2**63), 2**63 - 1)  # least and most, both allowed
SEED_RULE = "from -2**63 to 2**63 - 1 (a signed 64-bit integer)"  # finishes "seed must be ..."

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

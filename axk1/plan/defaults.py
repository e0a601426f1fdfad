"""The planner's defaults and choices that `axk1 plan`'s flags (and `plan sweep`'s) show, in a module that imports
nothing: the planner's own modules import the model config and the trainer's recipe, and with them torch, which
building the command line's parser does not need (`axk1 --help` took 2 s). The planner reads them from here too,
so the flags and the library cannot drift apart (tests/test_cli_defaults.py)."""

# make_plan's keyword defaults (planner.py)
PRECISION = "bf16"  # training compute precision, and the release weights' (--serve-precision)
LAW = "deepseek"
SEQ_LEN = 4096  # A.X K1's base sequence length
SERVE_GPUS = 8  # one node
TOP = 10  # candidates in the table
DOWNTIME = 0.0  # the default MFU already absorbs A.X K1's failures and restarts

# The limits of the search (constraints.py says why each)
DEFAULT_UNIQUE_TOKENS = 20e12
DEFAULT_MAX_EPOCHS = 4.0
MIN_TOKENS_PER_ACTIVE_PARAM = 10
MAX_TOKENS_PER_ACTIVE_PARAM = 1000
MIN_ACTIVATION = 0.045  # see search.py for why 4.5%

# The architectures searched: MoE and dense shapes in one ranking, or one kind (SearchSpace.arch)
ARCHES = ("both", "moe", "dense")

# `axk1 plan sweep`'s IsoFLOP grid (sweep.py): compute budgets in FLOPs, sizes per budget, their spread.
# C = M D. Below ~2e11 FLOPs the byte-level models of this corpus sit on a plateau (every size at the same loss, the
# bigram level): the sweep starts above it (benchmarks/RESULTS.md, "Scaling law from this machine's runs"). Four
# budgets a factor 2 apart, 5 sizes each over a factor 4 around the guess: single runs of these tiny models scatter by
# ~5% (one size at 1.6e12 sat 9% above its neighbours), so the top of the range carries 5 runs and no size is more than
# 2x from the guess, where runs are short of steps rather than of capacity
DEFAULT_BUDGETS = (2.5e11, 5e11, 1e12, 2e12)
DEFAULT_SIZES, DEFAULT_SPREAD = 5, 2.0

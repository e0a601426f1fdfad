"""Scaling laws, each a small function with its source and fitted constants.

* Compute-optimal split of C between model scale and tokens: DeepSeek LLM (default) or Chinchilla.
* Optimal batch size and peak learning rate as power laws of C: DeepSeek LLM.
* MoE efficiency leverage from activation ratio, granularity and C: the form of Tian et al. 2025 (Ling).
* Optimal vocabulary size: Tao et al. 2024, with A.X K1's +25% as an option.

A MoE enters the dense laws through its efficiency leverage EL (the ratio of dense to MoE compute at equal
loss): a MoE with M activated FLOPs per token trains like a dense model of scale EL x M. Minimising a loss of the
form E + A/(EL*M)^alpha + B/D^beta at C = M*D then gives D_opt(EL*C) tokens and M = C / D_opt(EL*C): fewer
activated FLOPs and more tokens than the dense optimum, which is what Ling 2.0 reports for MoE (arXiv 2510.22115
§2.3.1, Fig. 1b). The planner scores its candidates with that loss (plan/search.py), so its search lands there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class LossSurface:
    """L(X, D) = E + A / X^alpha + B / D^beta, with C = flops_per_unit * X * D: the one loss-surface type, for the
    built-in laws, a fit (axk1/plan/fit.py returns one) and a law file (law_file.LawFile holds one).

    X is the model scale: non-embedding FLOPs per token M for DeepSeek LLM (flops_per_unit 1), parameters N for
    Chinchilla (flops_per_unit 6). Minimising L at fixed C gives X_opt = G (C/k)^a, D_opt = (C/k)/X_opt with
    a = beta/(alpha+beta) and G = (alpha A / (beta B))^(1/(alpha+beta)).
    """

    name: str
    E: float
    A: float
    alpha: float
    B: float
    beta: float
    flops_per_unit: float
    source: str
    # plausible alternatives to (E, A, alpha, B, beta) from the fit's uncertainty (bootstrap refits for a fitted law
    # file; drawn from the published standard errors for the built-in laws): the prediction band
    samples: tuple[tuple[float, float, float, float, float], ...] = ()
    fitted_flops: float = 0.0  # the largest budget the law was fitted on, where known (a law file); 0: not known
    rmse_log: float | None = None  # a fit's root mean squared error of log L over its runs; None: a published law
    fitted_vocab: int | None = None  # the vocabulary of the runs a law file was fitted on, where they record it

    @property
    def label(self) -> str:
        """The law in a sentence: a built-in one by its name ("deepseek law"), a law file by its name in quotes
        ("fitted law 'runs/law.json'": the path --law gave; "law law" read as a typo, and the stem alone, often
        "law", named nothing)."""
        return f"{self.name} law" if LAWS.get(self.name) is self else f"fitted law {self.name!r}"

    @property
    def terms(self) -> tuple[float, float, float, float, float]:
        """(E, A, alpha, B, beta): a sample's shape, and a law file's samples' entries."""
        return self.E, self.A, self.alpha, self.B, self.beta

    def loss(self, scale, tokens):
        """L at model scale `scale` and `tokens`: numbers, or numpy arrays (the fit's plot) elementwise."""
        return self.E + self.A / scale ** self.alpha + self.B / tokens ** self.beta

    def band(self, scale: float, tokens: float, level: float = 0.90) -> tuple[float, float]:
        """The central `level` interval of the loss over the samples ((nan, nan) without samples)."""
        losses = sorted(e + a / scale ** al + b / tokens ** be for e, a, al, b, be in self.samples)
        if not losses:
            return math.nan, math.nan
        k = int((1 - level) / 2 * (len(losses) - 1))
        return losses[k], losses[len(losses) - 1 - k]

    @property
    def model_exponent(self) -> float:
        return self.beta / (self.alpha + self.beta)

    @property
    def model_coefficient(self) -> float:
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def optimal(self, flops: float) -> tuple[float, float]:
        """(X_opt, D_opt) for a dense model at compute `flops`."""
        c = flops / self.flops_per_unit
        scale = self.model_coefficient * c ** self.model_exponent
        return scale, c / scale


# Chinchilla (Hoffmann et al. 2022, arXiv 2203.15556) as refitted from the paper's own data by Besiroglu et al.
# 2024 (arXiv 2404.10102, "Chinchilla Scaling: A replication attempt"): E 1.8172, A 482.01, alpha 0.3478,
# B 2085.43, beta 0.3658; ~20 tokens per parameter, consistent with Hoffmann et al.'s approaches 1 and 2.
CHINCHILLA = LossSurface("chinchilla", 1.8172, 482.01, 0.3478, 2085.43, 0.3658, 6.0,
                         "Hoffmann et al. 2022, refit by Besiroglu et al. 2024 (arXiv 2404.10102)")

# DeepSeek LLM (Bi et al. 2024, arXiv 2401.02954, §3.3, Eq. 4): M_opt = 0.1715 C^0.5243, D_opt = 5.8316 C^0.4757,
# with M = non-embedding FLOPs/token (incl. attention) and C = M D. The paper publishes the allocation, not a
# loss surface, so this surface is built to reproduce it exactly: beta taken from the Chinchilla refit,
# alpha = beta (1 - a)/a with a = 0.5243, and A set so that G = 0.1715 (then 1/G = 5.831 is the D coefficient).
# Its losses serve for ranking candidates at one budget, not as predictions of a real loss.
_DS_A_EXP, _DS_M_COEF = 0.5243, 0.1715
_DS_BETA = CHINCHILLA.beta
_DS_ALPHA = _DS_BETA * (1 - _DS_A_EXP) / _DS_A_EXP
_DS_B = CHINCHILLA.B
_DS_A = _DS_BETA * _DS_B / _DS_ALPHA * _DS_M_COEF ** (_DS_ALPHA + _DS_BETA)
DEEPSEEK = LossSurface("deepseek", CHINCHILLA.E, _DS_A, _DS_ALPHA, _DS_B, _DS_BETA, 1.0,
                       "DeepSeek LLM (arXiv 2401.02954) Eq. 4: M_opt=0.1715*C^0.5243, D_opt=5.8316*C^0.4757")



def _published_samples(law: LossSurface, n: int = 400, seed: int = 0) -> LossSurface:
    """The law with samples drawn from Besiroglu et al.'s standard errors (Table 1: E 0.03, alpha 0.02, beta 0.02;
    their A and B errors are those of exponents' intercepts). The paper gives no covariance, and A is tied to alpha
    (and B to beta) in any fit: so each exponent is drawn and its coefficient moved to keep the term unchanged at
    the middle of Chinchilla's data (N ~ 1e9 parameters, D ~ 1e11 tokens; in FLOPs/token x 6 for a FLOPs law).
    The band is then narrow inside the data and widens with extrapolation, as a fit's band does."""
    import random

    rng = random.Random(seed)
    x0, d0 = (6e9 if law.flops_per_unit == 1 else 1e9), 1e11  # M = 6N for a FLOPs-per-token law
    out = []
    for _ in range(n):
        e = law.E + rng.gauss(0, 0.03)
        alpha, beta = max(0.05, law.alpha + rng.gauss(0, 0.02)), max(0.05, law.beta + rng.gauss(0, 0.02))
        a = law.A / x0 ** law.alpha * x0 ** alpha
        b = law.B / d0 ** law.beta * d0 ** beta
        out.append((e, a, alpha, b, beta))
    return replace(law, samples=tuple(out))


CHINCHILLA = _published_samples(CHINCHILLA)
DEEPSEEK = _published_samples(DEEPSEEK)
LAWS = {"deepseek": DEEPSEEK, "chinchilla": CHINCHILLA}
FIT_SOURCE = "axk1 plan fit"  # a fitted law's source, as its law file records it


def optimal_batch_tokens(flops: float) -> float:
    """DeepSeek LLM (arXiv 2401.02954) Eq. 1: B_opt = 0.2920 C^0.3271 tokens per step."""
    return 0.2920 * flops ** 0.3271


def optimal_learning_rate(flops: float) -> float:
    """DeepSeek LLM (arXiv 2401.02954) Eq. 1: eta_opt = 0.3118 C^-0.1250 (AdamW, warmup then step decay)."""
    return 0.3118 * flops ** -0.1250


# ---- MoE efficiency leverage ------------------------------------------------------------------------------
@dataclass(frozen=True)
class LeverageLaw:
    """EL(A, G, C) = (1/Â)^(alpha(C) - gamma (ln G - ln G*)^2), alpha(C) = a + d log10(C / C0), Â = A + A_sat.

    The functional form is Tian et al. 2025 ("Towards Greater Leverage", arXiv 2507.17702, Eq. 1 as quoted in
    Ling 2.0, arXiv 2510.22115 §2.3.2): EL = Â^(alpha + gamma (log G)^2 + beta log G), alpha = a + d log C,
    Â a saturating transform of the activation ratio A (after Clark et al. 2022). The log-quadratic in G is
    rewritten around its optimum G*. The paper's fitted constants were not available offline; ours come from
    two published comparisons (see `from_anchors`) and the paper's qualitative findings:

    * G* = 9.8, the geometric middle of the published optimal range 8-12; gamma = 0.25 makes G = 7 (A.X K1,
      "slightly below the optimal range") cost ~9% of EL and G = 4 about half;
    * A_sat = 0.002: the paper finds the gain still quantifiable at A = 1/128 (0.0078), so saturation is mild.
    """

    a: float
    d: float
    c0: float
    gamma: float = 0.25
    g_opt: float = 9.8
    a_sat: float = 0.002

    @classmethod
    def from_anchors(cls, low: tuple[float, float, float, float], high: tuple[float, float, float, float],
                     gamma: float = 0.25, g_opt: float = 9.8, a_sat: float = 0.002) -> "LeverageLaw":
        """Solve a and d from two measured (EL, A, G, C) points; C0 is the first point's compute."""
        def needed(el: float, ratio: float, gran: float) -> float:
            return math.log(el) / math.log(1 / (ratio + a_sat)) + gamma * (math.log(gran) - math.log(g_opt)) ** 2
        (el0, a0, g0, c0), (el1, a1, g1, c1) = low, high
        alpha0, alpha1 = needed(el0, a0, g0), needed(el1, a1, g1)
        return cls(alpha0, (alpha1 - alpha0) / math.log10(c1 / c0), c0, gamma, g_opt, a_sat)

    def exponent(self, granularity: float, flops: float) -> float:
        return (self.a + self.d * math.log10(flops / self.c0)
                - self.gamma * (math.log(granularity) - math.log(self.g_opt)) ** 2)

    def __call__(self, activation_ratio: float, granularity: float, flops: float) -> float:
        if not 0 < activation_ratio <= 1:
            raise ValueError(f"activation ratio must be in (0, 1], got {activation_ratio}")
        if activation_ratio == 1:
            return 1.0  # a dense model
        a_hat = activation_ratio + self.a_sat
        return max(1.0, (1.0 / a_hat) ** self.exponent(granularity, flops))


# Anchor 1, Ling-mini-beta (arXiv 2507.17702 abstract): 0.85B activated, 1T tokens (6 x 0.85e9 x 1e12 = 5.1e21
# FLOPs), matched a 6.1B dense model trained on the same 1T tokens: EL = 6.1/0.85 = 7.2 ("over 7x"), with the
# Ling 2.0 design A = (8 + 1)/(256 + 1) = 3.5% and G = 2 x 2048 / 512 = 8 (Ling 2.0 report, Table 1).
LING_MINI_ANCHOR = (7.2, 9 / 257, 8.0, 5.1e21)
# Anchor 2, DeepSeek-V3 vs LLaMA-3.1-405B base (DeepSeek-V3 report, arXiv 2412.19437, Table 3): DeepSeek-V3
# (37B activated, 14.8T tokens, 6 x 37e9 x 14.8e12 = 3.29e24) is on par with or better than the dense 405B model
# trained on 15.6T tokens (3.79e25): EL >= 11.5 at A = 3.5%, G = 7. A lower bound (different data), taken as is.
DEEPSEEK_V3_ANCHOR = (11.5, 9 / 257, 7.0, 3.29e24)
LEVERAGE = LeverageLaw.from_anchors(LING_MINI_ANCHOR, DEEPSEEK_V3_ANCHOR)


def efficiency_leverage(activation_ratio: float, granularity: float, flops: float) -> float:
    """EL of a MoE with this activation ratio (shared experts counted) and granularity 2d/d_expert at C."""
    return LEVERAGE(activation_ratio, granularity, flops)


# ---- vocabulary ---------------------------------------------------------------------------------------------
# Tao et al. 2024 (arXiv 2407.13623), approach 2 (derivative-based estimation; the coefficients of the authors'
# sail-sg/scaling-with-vocab `approach2_derivative`): N_v_opt = 3,145,728 x (N_nv / 33M)^0.8354, vocabulary
# parameters N_v = V d. For a MoE we take N_nv = activated non-vocabulary parameters: for A.X K1 (30.43B, d 7168)
# this gives V ~ 131.5K, the report's "about 132,500", raised by 25% for its 10T-token budget to 163,840.
VOCAB_NV_REF, VOCAB_PARAMS_REF, VOCAB_EXPONENT = 33_000_000, 3_145_728, 0.8353974
AXK1_VOCAB_ADJUST = 1.25


def optimal_vocab_size(non_vocab_params: float, hidden_size: int, adjust: float = 1.0, multiple: int = 128) -> int:
    """Vocabulary size from Tao et al.'s law, times `adjust` (A.X K1: 1.25), rounded to a multiple of `multiple`."""
    if non_vocab_params <= 0 or hidden_size <= 0 or adjust <= 0:
        raise ValueError("non_vocab_params, hidden_size and adjust must be positive")
    vocab_params = VOCAB_PARAMS_REF * (non_vocab_params / VOCAB_NV_REF) ** VOCAB_EXPONENT
    size = vocab_params / hidden_size * adjust
    return max(multiple, int(round(size / multiple)) * multiple)

"""The RL run as a picture: reward and accuracy per mode, and response length, against the iteration."""

from __future__ import annotations

from pathlib import Path

from axk1.json_text import read_metrics_rows
from axk1.posttrain.rewards import reward_range
from axk1.train.callbacks import Callback


def plot_rl(rows: list[dict], out_dir: str | Path, reward_range: tuple[float, float] = (-2.0, 1.0)) -> Path:
    """rl_curves.png in out_dir; `reward_range` (rewards.reward_range of the recipe) labels the reward axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir) / "rl_curves.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    steps = [r["step"] for r in rows]
    fig, (ax_r, ax_l) = plt.subplots(1, 2, figsize=(11, 4))
    for mode, style in (("think", "-"), ("non-think", "--")):
        if any(f"reward/{mode}" in r for r in rows):
            ax_r.plot(steps, [r.get(f"reward/{mode}") for r in rows], style, label=f"reward ({mode})")
            ax_r.plot(steps, [r.get(f"accuracy/{mode}") for r in rows], style, alpha=0.6, label=f"accuracy ({mode})")
            ax_l.plot(steps, [r.get(f"response_len/{mode}") for r in rows], style, label=mode)
    low, high = (f"{x:g}".replace("-", "−") for x in reward_range)
    ax_r.set(xlabel="RL iteration", ylabel=f"reward ({low}..{high}) / sampled accuracy",
             title="rollout reward and accuracy")
    ax_l.set(xlabel="RL iteration", ylabel="tokens", title="response length")
    for ax in (ax_r, ax_l):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


class RLPlots(Callback):
    """rl_curves.png beside the run's metrics JSONL when the iterations end (main rank), from the whole run's rows
    (a resumed run's earlier iterations too), as pretraining's RunPlots draws loss.png."""

    def on_fit_end(self, trainer) -> None:
        jsonl = trainer.recipe.logging.jsonl
        if not (trainer.is_main and jsonl and Path(jsonl).exists()):
            return
        try:
            s = trainer.recipe.rl  # the axis says the recipe's range: format_penalty and overlong set its low end
            plot_rl(read_metrics_rows(jsonl), Path(jsonl).parent,
                    reward_range(s.format_penalty, s.overlong, s.overlong_buffer))
        except OSError as e:  # a full disk at the very end: the run and its checkpoint are complete all the same
            print(f"note: rl_curves.png was not written to {Path(jsonl).parent} ({e.strerror or e}); the run is "
                  f"complete and its metrics are in {jsonl}", flush=True)

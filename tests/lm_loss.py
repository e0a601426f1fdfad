"""The next-token loss of a bare AXK1ForCausalLM through the fused head + loss (axk1/train/loss.py), for tests and
benchmarks that time or compare the model alone; the trainer's objective is `Objective` there."""

from __future__ import annotations

import torch

from axk1.train.loss import linear_cross_entropy, next_token_labels


def causal_lm_loss(model, input_ids_BT: torch.Tensor, document_ids_BT: torch.Tensor | None = None,
                   chunk_size: int | None = None) -> torch.Tensor:
    """Next-token loss of an AXK1ForCausalLM without materialising the batch's logits."""
    h_BTD, _ = model.hidden_states(input_ids_BT, document_ids_BT)
    h_ND = model.model.norm(h_BTD).flatten(0, 1)
    labels_N = next_token_labels(input_ids_BT, document_ids_BT).flatten()
    return linear_cross_entropy(h_ND, model.lm_head.weight, labels_N, chunk_size)

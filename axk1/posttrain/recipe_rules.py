"""What the `axk1 sft` and `axk1 rl` recipes share beyond the pretraining recipe's tables: the routing bias they
keep frozen, and the pretraining settings they do not read, refused rather than accepted and ignored
(docs/configuration.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from axk1.train.recipe import Recipe
from axk1.train.recipe_sections import DataConfig, MoEConfig, StageConfig, ValidationConfig


@dataclass
class PostTrainMoEConfig(MoEConfig):
    """[moe] of a post-training recipe. The exported model drops the routers' balancing bias (it routes with b = 0,
    as the release does: axk1/checkpoint/export.py), so post-training must route as the model will be served: the
    bias is never updated (a moved bias would be trained with, then thrown away by the export)."""
    bias_update_rate: float = 0.0


@dataclass
class PostTrainRecipe(Recipe):
    """The tables SFT and RL share; each adds its own ([sft], [rl]) and `verb`."""
    moe: PostTrainMoEConfig = field(default_factory=PostTrainMoEConfig)
    # not keys of a post-training recipe (init=False: the unknown-key error neither takes nor lists them); kept as
    # attributes with their defaults, which the trainer reads
    stages: list[StageConfig] = field(default_factory=list, init=False)
    validation: ValidationConfig = field(default_factory=ValidationConfig, init=False)
    removed_keys = {
        "stages": "not read by post-training, whose data is its own table ([sft] data, [rl] tasks): remove [[stages]]",
        "validation": "not read by post-training ([validation] holds out token shards' documents in pretraining); "
                      "remove it, and measure held-out problems with `axk1 posttrain heldout` (docs/posttraining.md)",
    }
    needs_stages = False
    verb = ""
    # [data] manifest is refused below, compared as written (not resolved against the recipe's folder)
    path_keys = tuple(k for k in Recipe.path_keys if k != "data.manifest")

    def validate(self) -> None:
        super().validate()
        if self.moe.bias_update_rate != 0:
            raise ValueError(f"[moe] bias_update_rate = {self.moe.bias_update_rate}: `{self.verb}` would move the "
                             "routers' balancing bias, but the exported model routes with it at 0 (as the release "
                             "does), so the model written would not be the one trained; set bias_update_rate = 0.0 "
                             "(the default here)")
        if self.data.manifest != DataConfig.manifest:
            raise ValueError(f"[data] manifest is not read by `{self.verb}` (token shards are pretraining's data): "
                             "remove it ([data] seed is read)")

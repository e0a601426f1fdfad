"""What the `axk1 sft` and `axk1 rl` recipes share beyond the pretraining recipe's tables: the routing bias they
keep frozen, the pretraining settings they do not read, refused rather than accepted and ignored
(docs/configuration.md), and their own table's chat template folder and export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from axk1.train.recipe import Recipe
from axk1.train.recipe_sections import DataConfig, MoEConfig, StageConfig, ValidationConfig


@dataclass
class PostTrainMoEConfig(MoEConfig):
    """[moe] of a post-training recipe. The routers' balancing bias is pretraining's device for spreading the load;
    post-training routes with the bias its base model came with (zeros for the release, a DeepSeek-style or
    transformers-trained model's own otherwise) and its export writes that bias (keeps_router_bias), so the model
    written routes as the one trained. The bias is never updated: the base model's routing is kept."""
    bias_update_rate: float = 0.0


@dataclass
class ChatTable:
    """The keys [sft] and [rl] share."""
    template_from: str = ""      # model folder whose tokenizer + chat template render the rows ("" = [model] init_from)
    export: bool = True          # write [run] out_dir/model (HF folder + tokenizer + template) at the end


@dataclass
class PostTrainRecipe(Recipe):
    """The tables SFT and RL share; each adds its own ([sft], [rl], a ChatTable named by `table`) and `verb`."""
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
    keeps_router_bias = True     # the export writes the bias it trained with, the base model's (not zeros)
    verb = ""
    table = ""                   # "sft" | "rl": the field holding the recipe's own table
    renders = ""                 # what its template renders, for the errors ("chat rows", "prompts")
    # [data] manifest is refused below, compared as written (not resolved against the recipe's folder)
    path_keys = tuple(k for k in Recipe.path_keys if k != "data.manifest")

    def validate(self) -> None:
        super().validate()
        if self.moe.bias_update_rate != 0:
            raise ValueError(f"[moe] bias_update_rate = {self.moe.bias_update_rate}: `{self.verb}` would move the "
                             "routers' balancing bias, which post-training keeps as the base model has it (its "
                             "routing is the base model's); set bias_update_rate = 0.0 (the default here)")
        if self.data.manifest != DataConfig.manifest:
            raise ValueError(f"[data] manifest is not read by `{self.verb}` (token shards are pretraining's data): "
                             "remove it ([data] seed is read)")

    @property
    def chat(self) -> ChatTable:
        """The recipe's own table ([sft] or [rl])."""
        return getattr(self, self.table)

    @property
    def export_dir(self) -> Path | None:
        """Where the trained model is exported ([run] out_dir/model), None when the table says export = false."""
        return Path(self.run.out_dir) / "model" if self.chat.export else None

    @property
    def export_option(self) -> str:
        """What a run refused its model folder (exporting_lock: an `axk1 export` writing it) is told to change."""
        return f"[run] out_dir (the model is exported to its model/ folder), or set [{self.table}] export = false"

    def resolve_paths(self, base: Path) -> None:
        super().resolve_paths(base)  # path_keys, the table's template_from among them
        self.chat.template_from = self.chat.template_from or self.model.init_from or ""

    def check_template(self) -> None:
        """The chat template folder holds a tokenizer.json: found when the file is read (a dry run too), not when the
        rows are rendered after the weights have loaded."""
        where = f"[{self.table}] template_from"
        if not self.chat.template_from:
            raise ValueError(f"[{self.table}] needs a chat template: set [model] init_from to a model folder (or "
                             f"{where} to a folder with tokenizer.json + chat template)")
        if not (Path(self.chat.template_from) / "tokenizer.json").exists():
            raise FileNotFoundError(self._no_tokenizer())

    def chat_codec(self):
        """The template folder's ChatCodec (axk1/infer/chat.py), which renders the rows."""
        from axk1.infer.chat import ChatCodec

        codec = ChatCodec.from_folder(self.chat.template_from)
        if codec is None:  # checked by validate; gone since
            raise FileNotFoundError(self._no_tokenizer())
        return codec

    def _no_tokenizer(self) -> str:
        return (f"{self.chat.template_from} has no tokenizer.json: `{self.verb}` renders {self.renders} with the model "
                f"folder's tokenizer and chat template (set [{self.table}] template_from to a folder that has them, "
                "e.g. the released A.X K1 or one `axk1 export --tokenizer` wrote)")

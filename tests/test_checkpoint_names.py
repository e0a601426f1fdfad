"""A run's checkpoint folders are named once (axk1/config.py's STEP_PREFIX and TRAIN_STATE): the checkpoint writer
(axk1/checkpoint/dcp.py, a layer above) writes and lists them by those names, and the hint for a run folder given as
a model (model_folder_hint) recognises what the writer wrote."""

from axk1 import ModelConfig
from axk1.checkpoint import dcp
from axk1.config import STEP_PREFIX, TRAIN_STATE, model_folder_hint
from tests.train_helpers import one_step_checkpoint


def test_the_hint_recognises_the_folders_the_checkpoint_writer_writes(tmp_path):
    config = ModelConfig.from_preset("axk1-tiny")
    step = one_step_checkpoint(tmp_path / "run" / "checkpoints", config, with_mtp=False)
    assert step.name.startswith(STEP_PREFIX) and (step / TRAIN_STATE).is_file()
    assert dcp.list_steps(tmp_path / "run" / "checkpoints") == [1]
    for given in (tmp_path / "run", tmp_path / "run" / "checkpoints", step):
        assert "holds training checkpoints, not a model" in model_folder_hint(given), given
    assert model_folder_hint(tmp_path) == ""

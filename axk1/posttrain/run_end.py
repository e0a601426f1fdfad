"""What `axk1 sft` and `axk1 rl` write after their last checkpoint (the model folder, RL's report), and what a
failure there becomes.

By then training is complete and checkpointed. A full disk (or a lost mount) at this point used to end the command
with safetensors' "I/O error: No space left on device" traceback, or an errno without a file name, and left an empty
rl_report.json: as if the run had failed, with no word that its checkpoint holds it all. Now the error names the
file or folder, says that training is complete, and gives the way on: the same command with --resume, which finds
every iteration done and only writes these again.
"""

from __future__ import annotations

from pathlib import Path

from axk1.atomic_file import atomic_writer
from axk1.checkpoint.dcp import latest_step
from axk1.checkpoint.export import export_checkpoint
from axk1.json_text import strict_json


class WriteAfterTraining(OSError):
    """An output of a finished run could not be written. An OSError: the command line prints it as an error."""


def _failed(what: str, where: Path, ckpt_dir: Path, e: BaseException) -> WriteAfterTraining:
    if isinstance(e, OSError) and isinstance(e.__cause__, OSError):  # the export's own account: its cause is said here
        e = e.__cause__
    cause = (e.strerror if isinstance(e, OSError) and e.strerror else f"{type(e).__name__}: {e}").splitlines()[0]
    return WriteAfterTraining(f"{cause}: {what} {where} failed after training was complete (its checkpoint, step "
                              f"{latest_step(ckpt_dir)}, is in {ckpt_dir}). Free space there (or point --out at a "
                              "larger disk), then run the same command with --resume: it trains nothing more and "
                              "writes this again")


def export_after_training(ckpt_dir: Path, out: Path, tokenizer: str | Path | None, distributed: bool = False,
                          chat_template: str | None = None) -> Path:
    """The newest checkpoint exported to `out` (axk1.checkpoint.export; `distributed`: every rank calls this and
    writes its share), with the routers' balancing bias the run trained with (its base model's: post-training never
    moves it), not the zeros a pretraining export writes, and `chat_template`, the one the rows were rendered with,
    where the tokenizer's folder has none (axk1's default then); a write that fails is named, not a traceback.
    Errors that already say what is wrong with the checkpoint or the tokenizer (ValueError) pass as they are."""
    from safetensors import SafetensorError

    try:
        return export_checkpoint(ckpt_dir, out, tokenizer=tokenizer, distributed=distributed,
                                 keep_router_bias=True, chat_template=chat_template)
    except ValueError:
        raise
    except (OSError, SafetensorError) as e:  # safetensors reports a full disk as its own SafetensorError; another
        # rank's failure (a collective's RuntimeError) is not this one's write and gets no advice about disks
        raise _failed("exporting the model to", out, ckpt_dir, e) from e


def write_report(path: Path, summary: dict, ckpt_dir: Path) -> None:
    """`summary` as strict JSON at `path` (axk1.json_text.strict_json), whole or not at all (never the empty
    file a full disk left)."""
    try:
        with atomic_writer(path) as f:
            f.write(strict_json(summary, indent=2))
    except OSError as e:
        raise _failed("writing", path, ckpt_dir, e) from e

"""Model state on disk: the released Hugging Face layout (hf.py, its name mapping in state_dict_adapter.py, sharded
reading in hf_sharded.py), training checkpoints (dcp.py), DCP → HF export (export.py) and weight merging (merge.py).

This layer sits above axk1.model and axk1.parallel: it reads and writes models, sharded or not."""

"""Checkpoint formats: the released Hugging Face safetensors layout (hf.py); training state comes later (dcp.py)."""

"""What an export adds to a tokenizer folder's files when the folder lacks them: tokenizer_config.json, with the
special tokens config.json names by id, and the chat template the model was trained to (SFT's and RL's, which
rendered their rows with axk1's default template when the folder had none).

A folder with tokenizer.json alone exported as it was: transformers' AutoTokenizer loaded it with bos, eos and pad
None (generate and batching had no pad or stop token), and a model post-trained on the default template was written
without it, so `axk1 generate --chat`, serve and transformers' apply_chat_template refused or could not render the
very format it was trained on."""

from __future__ import annotations

import json

from axk1.config import ModelConfig
from axk1.json_text import JsonError, parse_json
from axk1.text.tokenizer_file import PADDING_SIDE, other_special_tokens

TEMPLATE_FILE, CONFIG_FILE = "chat_template.jinja", "tokenizer_config.json"


def has_chat_template(files: dict[str, bytes]) -> bool:
    """Whether a tokenizer folder's files (name -> bytes) carry a chat template, in either place transformers
    reads one from."""
    if TEMPLATE_FILE in files:
        return True
    try:
        config = parse_json(files[CONFIG_FILE]) if CONFIG_FILE in files else {}
    except JsonError:
        return False
    return isinstance(config, dict) and bool(config.get("chat_template"))


def special_tokens(config: ModelConfig, tokenizer_json: bytes) -> dict[str, str]:
    """bos_token, eos_token and pad_token as text, for config.json's ids (its first eos where it lists several);
    an id the tokenizer does not have is left out rather than guessed."""
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
    eos = config.eos_token_ids[0] if config.eos_token_ids else None
    out = {}
    for key, token_id in (("bos_token", config.bos_token_id), ("eos_token", eos), ("pad_token", config.pad_token_id)):
        text = vocab.id_to_token(token_id) if token_id is not None else None
        if text is not None:
            out[key] = text
    return out


def complete_tokenizer_files(files: dict[str, bytes], config: ModelConfig,
                             chat_template: str | None = None) -> dict[str, bytes]:
    """`files` (holding tokenizer.json) with what they lack: `chat_template` (the one the rows were rendered with)
    as chat_template.jinja where they carry no template, and a tokenizer_config.json naming config.json's special
    tokens where they have none (the export then sets its model_max_length)."""
    files = dict(files)
    if chat_template is not None and not has_chat_template(files):
        files[TEMPLATE_FILE] = chat_template.encode("utf-8")
    if CONFIG_FILE not in files:
        named = special_tokens(config, files["tokenizer.json"])
        others = [t for t in other_special_tokens(files["tokenizer.json"].decode("utf-8")) if t not in named.values()]
        made: dict = {"tokenizer_class": "PreTrainedTokenizerFast", **named,
                      "additional_special_tokens": others,  # as tokenizer_file.write_tokenizer_files says why
                      "clean_up_tokenization_spaces": False, "padding_side": PADDING_SIDE}
        if TEMPLATE_FILE in files:  # kept here too: older readers know only this place
            made["chat_template"] = files[TEMPLATE_FILE].decode("utf-8", errors="replace")
        files[CONFIG_FILE] = json.dumps(made, indent=2, ensure_ascii=False).encode("utf-8")
    return files

"""Whether two model folders `axk1 merge` averages read tokens alike. The merge keeps A's tokenizer files; an
embedding row of B averaged into A's row of the same id is meaningless when the id names another token in B (a
tokenizer retrained, ids reordered): the merged model then writes nonsense with no error anywhere. So the token
each id names (tokenizer.json's vocabulary and added tokens) must agree, and the refusal names the first id that
differs. A chat template that differs only changes how prompts are rendered: the merge goes on and says so, as it
does when A has no tokenizer at all and B has one (the output then has none).
"""

from __future__ import annotations

import json
from pathlib import Path

TOKENIZER = "tokenizer.json"
_TEMPLATE_FILE = "chat_template.jinja"
_TOKENIZER_CONFIG = "tokenizer_config.json"


def _read_json(path: Path, role: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"merge input {role}: cannot read {path}: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"merge input {role}: {path} is not a JSON object")
    return data


def _tokens(path: Path, role: str) -> dict[int, str]:
    """id -> token of a tokenizer.json: its model's vocabulary (a {token: id} map for BPE and WordPiece, a list of
    [token, score] for Unigram), then its added tokens (which win, as the tokenizers library reads them)."""
    data = _read_json(path, role)
    vocab = (data.get("model") or {}).get("vocab") or {}
    ids = ({i: t for t, i in vocab.items()} if isinstance(vocab, dict)
           else {i: entry[0] for i, entry in enumerate(vocab) if isinstance(entry, list) and entry})
    for token in data.get("added_tokens") or []:
        if isinstance(token, dict) and isinstance(token.get("id"), int):
            ids[token["id"]] = token.get("content")
    return ids


def _template(folder: Path) -> str | None:
    """The chat template a folder renders with: chat_template.jinja, else tokenizer_config.json's."""
    if (folder / _TEMPLATE_FILE).is_file():
        return (folder / _TEMPLATE_FILE).read_text(encoding="utf-8")
    if (folder / _TOKENIZER_CONFIG).is_file():
        try:
            template = json.loads((folder / _TOKENIZER_CONFIG).read_text(encoding="utf-8")).get("chat_template")
        except (OSError, ValueError, AttributeError):
            return None
        return template if isinstance(template, str) else None
    return None


def check_tokenizers(a: Path, b: Path) -> list[str]:
    """Warnings about the two folders' tokenizers (the merge goes on), or a ValueError when an id names another
    token in A than in B."""
    file_a, file_b = a / TOKENIZER, b / TOKENIZER
    warnings = []
    if file_a.is_file() and file_b.is_file() and file_a.read_bytes() != file_b.read_bytes():
        tokens_a, tokens_b = _tokens(file_a, "A"), _tokens(file_b, "B")
        differ = sorted(i for i in tokens_a.keys() | tokens_b.keys() if tokens_a.get(i) != tokens_b.get(i))
        if differ:
            i = differ[0]
            raise ValueError(f"cannot merge {a} and {b}: their tokenizers differ ({len(differ)} token ids; the "
                             f"first, id {i}, is {tokens_a.get(i, '<absent>')!r} in A but "
                             f"{tokens_b.get(i, '<absent>')!r} in B), so an averaged embedding row would mix two "
                             "tokens. Merge only fine-tunes of the same base model with the same tokenizer")
    elif file_b.is_file() and not file_a.is_file():
        warnings.append(f"A ({a}) has no {TOKENIZER} and B has one: the output, which takes A's files, has no "
                        f"tokenizer; copy B's tokenizer files into it if B's tokenizer is the models' own")
    template_a, template_b = _template(a), _template(b)
    if template_a is not None and template_b is not None and template_a != template_b:
        warnings.append("the chat templates of A and B differ: the output renders prompts with A's; check that "
                        "it is the one both models were trained with")
    return warnings

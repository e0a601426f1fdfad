"""Whether two model folders `axk1 merge` averages read tokens alike. The merge keeps A's tokenizer files; an
embedding row of B averaged into A's row of the same id is meaningless when the id names another token in B (a
tokenizer retrained, ids reordered): the merged model then writes nonsense with no error anywhere. So the token
each id names (tokenizer.json's vocabulary and added tokens) must agree, and the refusal names the first id that
differs. A chat template that differs only changes how prompts are rendered: the merge goes on and says so, as it
does when A has no tokenizer at all and B has one (the output then has none).
"""

from __future__ import annotations

from pathlib import Path

from axk1.json_text import read_json_file
from axk1.text.chat_template import read_chat_template

TOKENIZER = "tokenizer.json"
_TOKENIZER_CONFIG = "tokenizer_config.json"
_ADVICE = "give `axk1 merge` two model folders whose tokenizer files are the ones transformers wrote"


def _read_json(path: Path, role: str) -> dict:
    """A JSON object file of merge input `role` (a FIFO in its place is refused, never waited on)."""
    try:
        return read_json_file(path, _ADVICE, what=f"merge input {role}:", need_object=True)
    except OSError as e:
        raise ValueError(f"merge input {role}: cannot read {path}: {e}") from e


def _or(value, default):
    """`value`, or `default` where it is null or absent (an empty {} where a list belongs is still wrong)."""
    return default if value is None else value


def _tokens(path: Path, role: str) -> dict[int, str]:
    """id -> token of a tokenizer.json: its model's vocabulary (a {token: id} map for BPE and WordPiece, a list of
    [token, score] for Unigram), then its added tokens (which win, as the tokenizers library reads them). A file
    of another shape is a ValueError naming it (it was an AttributeError's traceback)."""
    data = _read_json(path, role)
    model, added = _or(data.get("model"), {}), _or(data.get("added_tokens"), [])
    vocab = _or(model.get("vocab"), {}) if isinstance(model, dict) else None
    wrong = ("model" if not isinstance(model, dict)
             else "model.vocab" if not isinstance(vocab, (dict, list))
             or (isinstance(vocab, dict) and not all(isinstance(i, int) for i in vocab.values()))
             else "added_tokens" if not isinstance(added, list) else None)
    if wrong is not None:
        raise ValueError(f"merge input {role}: {path} is not a tokenizer.json: its {wrong} is not what the "
                         f"tokenizers library writes there; {_ADVICE}")
    ids = ({i: t for t, i in vocab.items()} if isinstance(vocab, dict)
           else {i: entry[0] for i, entry in enumerate(vocab) if isinstance(entry, list) and entry})
    for token in added:
        if isinstance(token, dict) and isinstance(token.get("id"), int):
            ids[token["id"]] = token.get("content")
    return ids


def _template(folder: Path, role: str) -> str | None:
    """The chat template a folder renders with (text/chat_template.read_chat_template: chat_template.jinja, else
    tokenizer_config.json's, a named list's 'default' included)."""
    config = folder / _TOKENIZER_CONFIG
    return read_chat_template(folder, _read_json(config, role) if config.is_file() else {})


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
    template_a, template_b = _template(a, "A"), _template(b, "B")
    if template_a is not None and template_b is not None and template_a != template_b:
        warnings.append("the chat templates of A and B differ: the output renders prompts with A's; check that "
                        "it is the one both models were trained with")
    return warnings

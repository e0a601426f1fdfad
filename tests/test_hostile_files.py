"""Hostile files in a user's folders (a security probe's findings): each is refused with one clear error naming the
file and the setting, and none hangs, segfaults or allocates without bound. A case that blocked or crashed the
process runs in a child with a timeout, so that the old behaviour fails its test instead of hanging the run."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import axk1
import axk1.checkpoint.export as export
import axk1.checkpoint.hf as hf
import axk1.train.trainer as trainer
from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.cli import main
from axk1.infer.chat import ChatCodec
from axk1.toml_file import read_toml
from tests.serve_helpers import make_model_folder
from tests.train_helpers import one_step_checkpoint, write_recipe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny model folder with tokenizer.json, tokenizer_config.json and chat_template.jinja."""
    return make_model_folder(tmp_path_factory.mktemp("base") / "m")


@pytest.fixture
def folder(base, tmp_path):
    return Path(shutil.copytree(base, tmp_path / "m"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A DCP step folder as the trainer writes it (the loss module holds the LM as `lm`), trained with MTP."""
    return one_step_checkpoint(tmp_path_factory.mktemp("ckpt"), ModelConfig.from_preset("axk1-tiny"), with_mtp=True)


def _edit_json(file, **changes):
    data = json.loads(file.read_text())
    data.update(changes)
    file.write_text(json.dumps(data))


def _refuse(*args, **kwargs):
    raise AssertionError("a model was built (or its names mapped) before the counts were checked")


def _one_line_error(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def _child(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`code` run by a fresh interpreter: a read that blocks, or a segfault, ends the child, not this test run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


def _forked(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`code` as `_child` runs it, in a process forked from the warm server (tests/warm_ranks.py: torch imported
    once, not by each child); killed past `timeout` (subprocess.TimeoutExpired) as `_child` is."""
    from tests.warm_ranks import run_code

    return run_code(code, [], {**os.environ, "PYTHONPATH": str(ROOT)}, timeout=timeout)


def _render_in_child(template: str) -> str:
    """What rendering `template` prints (its output or its error) in a child under a 3 GiB address-space limit, so
    that a template building gigabytes fails the test, not the machine."""
    code = f"""
import resource
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from axk1.text.chat_template import render_template
try:
    print(render_template({template!r}, {{"messages": []}}, source="t.jinja"))
except ValueError as e:
    print(e)
"""
    run = _child(code)
    assert run.returncode == 0, run.stderr
    return run.stdout


# ---- 1: counts that size the build, checked against the files first ------------------------------------------------

@pytest.mark.parametrize("field", ["n_routed_experts", "num_nextn_predict_layers"])
def test_config_counts_are_checked_against_the_headers_before_building(field, tmp_path, monkeypatch):
    """config.json with 10**7 experts looped for ever mapping per-expert names (and grew memory without bound);
    10**7 MTP layers built as many modules. Both are refused from the headers before any module is built."""
    folder = axk1.save_pretrained(AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=True), tmp_path / "m")
    _edit_json(folder / "config.json", **{field: 10**7})
    monkeypatch.setattr(hf, "AXK1ForCausalLM", _refuse)
    monkeypatch.setattr(hf, "hf_tensors", _refuse)
    with pytest.raises(ValueError, match=rf"config\.json says {field} = 10000000, but the weight files hold"):
        axk1.load_model(folder)


def test_export_checks_the_train_states_model_config_against_the_checkpoint(checkpoint, tmp_path, monkeypatch,
                                                                             capsys):
    """A train_state.json whose model_config claims 10**9 experts made `axk1 export` loop for ever; one with another
    expert width failed as torch's "Size mismatch" inside a tuple."""
    ckpt = Path(shutil.copytree(checkpoint, tmp_path / "c" / "step-000001"))
    state = json.loads((ckpt / "train_state.json").read_text())
    state["model_config"]["n_routed_experts"] = 10**9
    (ckpt / "train_state.json").write_text(json.dumps(state))
    with monkeypatch.context() as m:
        m.setattr(export, "AXK1ForCausalLM", _refuse)
        err = _one_line_error(["export", str(ckpt), str(tmp_path / "out")], capsys)
    assert "model_config says n_routed_experts = 1000000000, but the checkpoint holds 8" in err
    state["model_config"]["n_routed_experts"] = 8
    state["model_config"]["moe_intermediate_size"] = 24
    (ckpt / "train_state.json").write_text(json.dumps(state))
    err = _one_line_error(["export", str(ckpt), str(tmp_path / "out")], capsys)
    assert "its model_config makes model.layers.1.mlp.experts.gate_up_proj (8, 48, 64)" in err
    assert "stores (8, 64, 64)" in err and not (tmp_path / "out").exists()


def test_a_recipes_model_too_big_for_the_device_is_refused_before_allocating(tmp_path, monkeypatch, capsys):
    """[model] overrides = { n_routed_experts = 1000000000 } ended in the allocator's traceback (256 GB)."""
    recipe = write_recipe(tmp_path)
    text = recipe.read_text().replace('preset = "axk1-tiny"',
                                      'preset = "axk1-tiny"\noverrides = { n_routed_experts = 1000000000 }')
    recipe.write_text(text)
    monkeypatch.setattr(trainer, "materialize_", _refuse)
    err = _one_line_error(["train", str(recipe)], capsys)
    assert "[model] preset 'axk1-tiny' with overrides {'n_routed_experts': 1000000000} makes a model of" in err
    assert "weights alone take" in err and "more than the" in err


def test_a_recipes_deep_model_is_refused_before_it_is_built(tmp_path, monkeypatch, capsys):
    """`num_hidden_layers = 200000` was built layer by layer on the meta device before the size check: > 5 minutes
    and 7 GB with no output. The check counts from the config, so nothing is built."""
    recipe = write_recipe(tmp_path)
    text = recipe.read_text().replace('preset = "axk1-tiny"',
                                      'preset = "axk1-tiny"\noverrides = { num_hidden_layers = 200000000 }')
    recipe.write_text(text)
    monkeypatch.setattr(trainer, "AXK1ForCausalLM", _refuse)
    err = _one_line_error(["train", str(recipe)], capsys)
    assert "overrides {'num_hidden_layers': 200000000} makes a model of" in err and "weights alone take" in err


# ---- 2: tokenizer_config.json's tokens ----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [5, ["x"], {"content": 5}])
def test_a_token_that_is_not_text_names_the_file_and_field(value, folder, capsys):
    _edit_json(folder / "tokenizer_config.json", eos_token=value)
    err = _one_line_error(["generate", str(folder), "--prompt", "hello", "--max-new-tokens", "1"], capsys)
    assert "tokenizer_config.json: eos_token must be a token's text" in err


# ---- 3: chat templates ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("template,says", [
    ("{% include 'x' %}", r"does not compile \(line 1: \{% include %\} reads another template"),
    ("{% extends 'x' %}", r"\{% extends %\} reads another template"),
    ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
     "took more than 5,000,000 steps"),
    ("{{ 'x' * 1000 * 1000 * 1000 }}", "made a str of 1,000,000,000 items"),
    ("{{ 'x'.ljust(1000000000) }}", "passed 1000000000 to a call"),
    ("{{ 'x' | center(1000000000) }}", "passed 1000000000 to the filter center"),
    ("{{ '%999999999d' % 1 }}", "formatted with '%999999999'"),
    ("{{ 2 ** 100000000 }}", "raised to the power 100000000"),
    ("{{ (['z' * 1000000] * 68) | join | length }}", "made a str of 68,000,000 items with `join`"),
])
def test_a_template_past_the_bounds_is_refused_at_load(template, says, folder):
    (folder / "chat_template.jinja").write_text(template)
    with pytest.raises(ValueError, match=rf"chat_template\.jinja: the chat template .*{says}"):
        ChatCodec.from_folder(folder)


@pytest.mark.parametrize("body,error", [("{{ 1 / 0 }}", "ZeroDivisionError"), ("{{ messages + 1 }}", "TypeError"),
                                        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "RecursionError")])
def test_any_error_a_template_raises_names_its_file(body, error, folder):
    """The template's own Python errors reached `axk1 posttrain heldout` and `eval` as tracebacks: they caught
    jinja's TemplateError only. A template that fails only on some messages loads (it may refuse them on purpose)."""
    (folder / "chat_template.jinja").write_text("{% if messages[-1]['content'] == 'boom' %}" + body + "{% endif %}ok")
    codec = ChatCodec.from_folder(folder)
    assert codec.render([{"role": "user", "content": "hi"}]) == "ok"
    says = rf"chat_template\.jinja: the chat template failed on these messages \({error}"
    with pytest.raises(ValueError, match=says):
        codec.render([{"role": "user", "content": "boom"}])


def test_a_render_that_passes_the_bounds_on_some_messages_ends(folder):
    """A template can loop for ever on one conversation and not on the probe: serve kept a thread spinning per
    such request. The render is bounded, in its own thread."""
    loop = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    (folder / "chat_template.jinja").write_text("{% if messages[-1]['content'] == 'boom' %}" + loop + "{% endif %}ok")
    codec = ChatCodec.from_folder(folder)
    with pytest.raises(ValueError, match="took more than 5,000,000 steps"):
        codec.render([{"role": "user", "content": "boom"}])


@pytest.mark.parametrize("op,seed", [("~", "'a'"), ("+", "'a'"), ("+", "['a']")])  # `~` always makes text
def test_a_value_doubled_by_a_recursive_macro_is_refused_before_it_takes_the_memory(op, seed):
    """A macro recursing on `s ~ s` built 2^n characters in n steps (2^27 in 0.2 s): no bound covered `~` or `+`."""
    template = ("{% macro d(s, n) %}{% if n %}{{ d(s " + op + " s, n - 1) }}{% else %}{{ s|length }}{% endif %}"
                "{% endmacro %}{{ d(" + seed + ", 40) }}")
    kind = "str" if seed.startswith("'") else "list"
    out = _render_in_child(template)
    assert f"t.jinja: the chat template made a {kind} of 134,217,728 items with `{op}`" in out, out


@pytest.mark.parametrize("body, made", [
    ("{% set s = 'a' * 40000 %}{{ s.replace('a', s)|length }}", "made a str of 1,600,000,000 items with `replace`"),
    ("{% set s = 'a' * 1000000 %}{{ ([s] * 1000000)|join|length }}", "made a str of 1,000,000,000,000 items with `join`"),
    ("{% set s = 'a' * 1000000 %}{{ ''.join([s] * 1000000)|length }}", "made a str of 1,000,000,000,000 items with `join`"),
    ("{{ '{:>999999999}'.format(1)|length }}", "formatted with '{:>999999999', a width past 1,048,576"),
])
def test_a_str_method_or_join_that_would_build_gigabytes_is_sized_before_it_runs(body, made):
    """The bounds on `~`, `+` and arguments left the values a str method or the join filter builds: `s.replace('a',
    s)` from 40,000 characters made 1.6 billion, a join of a million references to one string a trillion, a format
    width a billion."""
    out = _render_in_child(body)
    assert f"t.jinja: the chat template {made}" in out, out
    from axk1.text.chat_template import render_template  # the same methods at ordinary sizes are untouched
    assert render_template("{{ ['a', 'b']|join('-') }} {{ 'x-y'.replace('-', '+') }} {{ '{:>3}'.format(1) }} "
                           "{{ ','.join(['p', 'q']) }}", {"messages": []}) == "a-b x+y   1 p,q"


@pytest.mark.parametrize("keep", ["ns.kept + [ns.s ~ i]", "ns.kept + [ns.s + i|string]", "ns.kept + [ns.s|upper]"])
def test_values_each_within_the_bound_cannot_add_up_past_the_memory(keep):
    """Each value was bounded, their sum was not: a loop keeping a fresh copy of a 16 Mi-character string per step
    in a list grew by 16 MiB a step, past the child's 3 GiB in 200 steps (5,000,000 were allowed)."""
    template = ("{% set ns = namespace(s='a' * 1000000, kept=[]) %}{% for _ in range(4) %}{% set ns.s = ns.s ~ ns.s "
                "%}{% endfor %}{% for i in range(200) %}{% set ns.kept = " + keep + " %}{% endfor %}"
                "{{ ns.kept|length }}")
    out = _render_in_child(template)
    assert "t.jinja: the chat template built more than 268,435,456 items of strings and lists in all" in out, out


def test_a_message_longer_than_the_call_bound_still_renders_through_plus_and_tilde():
    """The bound on `~` and `+` is a render's output, not MAX_SIZE: released templates join a message's content with
    `+`, and a long-context prompt's message passes 2^20 characters."""
    from axk1.text.chat_template import render_template
    content = "x" * (3 << 20)
    template = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] }}"
                "{{ '<|im_end|>' ~ '\\n' ~ m['content']|length }}{% endfor %}")
    text = render_template(template, {"messages": [{"role": "user", "content": content}]})
    assert text == "<|im_start|>user\n" + content + "<|im_end|>\n" + str(len(content))


def test_the_default_template_and_a_released_style_one_still_render(folder):
    codec = ChatCodec.from_folder(folder)
    text = codec.render([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], enable_thinking=False)
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>") and "<|im_start|>system\ns" in text


# ---- 4: a FIFO in place of any file read from a user's folder ------------------------------------------------------

@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                                  "generation_config.json"])
def test_a_fifo_in_a_model_folder_is_refused_not_waited_on(name, folder):
    (folder / name).unlink(missing_ok=True)  # generation_config.json is optional, and not in this folder
    os.mkfifo(folder / name)
    run = _forked(f"from axk1.cli import main; raise SystemExit(main(['generate', {str(folder)!r}, '--prompt-ids', "
                 "'1 2', '--max-new-tokens', '1']))")
    assert run.returncode == 2, run.stderr
    assert f"{folder / name} is not a regular file" in run.stderr


def test_a_fifo_for_train_state_manifest_or_recipe_is_refused(checkpoint, tmp_path):
    ckpt = Path(shutil.copytree(checkpoint, tmp_path / "c" / "step-000001"))
    (ckpt / "train_state.json").unlink()
    os.mkfifo(ckpt / "train_state.json")
    os.mkfifo(tmp_path / "manifest.json")
    os.mkfifo(tmp_path / "recipe.toml")
    code = f"""
from pathlib import Path
from axk1.checkpoint.export import export_checkpoint
from axk1.toml_file import read_toml
from axk1.train.data import load_shards
for call in (lambda: export_checkpoint({str(ckpt)!r}, {str(tmp_path / 'out')!r}),
             lambda: load_shards({str(tmp_path / 'manifest.json')!r}),
             lambda: read_toml({str(tmp_path / 'recipe.toml')!r}, 'recipe')):
    try:
        call()
    except ValueError as e:
        print(e)
"""
    run = _forked(code)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(" is not a regular file")[0] for line in lines] == [
        str(ckpt / "train_state.json"), str(tmp_path / "manifest.json"), str(tmp_path / "recipe.toml")], lines


# ---- 5: thread counts ----------------------------------------------------------------------------------------------

def test_a_thread_count_past_the_bound_is_a_flag_error_not_a_segfault(base, capsys):
    """torch.set_num_threads(100000) and then a matmul segfaulted (exit 139, no message). The flag is refused as it
    is parsed (the bad --port after it stops serve before it starts, should --threads pass)."""
    with pytest.raises(SystemExit) as ended:
        main(["serve", str(base), "--threads", "100000", "--port", "99999"])
    assert ended.value.code == 2
    assert "--threads: 100000 must be 0 (torch's default) to 1024" in capsys.readouterr().err


# ---- 6: recipes and templates that are not TOML, not UTF-8, or nested too deep ----------------------------------

def test_a_recipe_nested_too_deep_or_not_utf8_names_the_file(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 100000 + "]" * 100000 + "\n")
    with pytest.raises(ValueError, match=rf"{deep} is not valid TOML for axk1: a value is nested too deep"):
        read_toml(deep, "recipe")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff" + b"[run]\n")
    with pytest.raises(ValueError, match=rf"recipe {binary} is not UTF-8 text \(byte 0 is 0xff\)"):
        read_toml(binary, "recipe")


def test_a_chat_template_that_is_not_utf8_names_the_file(folder, capsys):
    (folder / "chat_template.jinja").write_bytes(b"\xff\xfe")
    err = _one_line_error(["generate", str(folder), "--prompt", "hi", "--max-new-tokens", "1"], capsys)
    assert f"{folder / 'chat_template.jinja'} is not UTF-8 text" in err


@pytest.mark.parametrize("key,value", [("mscale", -5), ("beta_fast", 1e308), ("beta_slow", -1e308),
                                       ("attention_factor", 0)])
def test_yarn_values_out_of_range_name_the_field(key, value, folder, capsys):
    _edit_json(folder / "config.json", rope_parameters=None, rope_theta=10000.0, rope_scaling={
        "type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64, key: value})
    err = _one_line_error(["generate", str(folder), "--prompt-ids", "1 2", "--max-new-tokens", "1"], capsys)
    assert f"rope_scaling.{key} must be finite and from" in err


# ---- 7: tokenizer ids past the model's vocabulary -------------------------------------------------------------------

def test_a_tokenizer_with_ids_past_vocab_size_is_refused_at_load(folder, capsys):
    """An added token with id 600 for a 512-token model: a chat template writing it, or a prompt holding its text,
    gave the model an id it has no embedding for (serve answered the client's request with a 400 for it)."""
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    top = max(t["id"] for t in tokenizer["added_tokens"])
    tokenizer["added_tokens"] += [{"id": i, "content": f"<|x{i}|>", "single_word": False, "lstrip": False,
                                   "rstrip": False, "normalized": False, "special": True} for i in range(top + 1, 601)]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    err = _one_line_error(["generate", str(folder), "--prompt", "hi", "--max-new-tokens", "1"], capsys)
    assert "tokenizer.json has the token '<|x600|>' with id 600" in err and "vocab_size = 512" in err


def test_a_config_cut_short_is_not_called_optional(folder):
    """The tokenizer's check read config.json as an optional file: `axk1 eval --model` (which loads the tokenizer
    before the model) said "fix it or delete it (it is optional)", and deleting it loses the model."""
    (folder / "config.json").write_text('{"vocab_size": 1024,')
    with pytest.raises(ValueError) as refused:
        ChatCodec.from_folder(folder)
    err = str(refused.value)
    assert f"{folder / 'config.json'} is not valid JSON" in err and "re-export the folder" in err, err
    assert "optional" not in err and "delete" not in err, err


@pytest.mark.parametrize("factor", ["1e300", "inf", "1", "four"])
def test_a_yarn_factor_out_of_range_is_a_flag_error(factor, checkpoint, tmp_path, capsys):
    """`axk1 export --yarn 1e300` wrote a config.json with a 300-digit max_position_embeddings."""
    with pytest.raises(SystemExit) as exited:
        main(["export", str(checkpoint), str(tmp_path / "out"), "--yarn", factor])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err and "argument --yarn: " in err, err
    says = "is not a number" if factor == "four" else "--yarn takes a factor > 1 and at most 1024"
    assert says in err and not (tmp_path / "out").exists(), err

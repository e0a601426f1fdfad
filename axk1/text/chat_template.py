"""axk1's one chat template (ChatML with a think block) and the one way to render a chat template.

Think mode: the generation prompt ends with `<think>`, so the model writes its reasoning, `</think>`, then the
answer. Non-think mode (`enable_thinking=False`): the prompt ends with an empty think block, so the model answers
at once. Assistant turns from the history carry no reasoning: the template keeps what follows a `</think>`,
trimmed (as DeepSeek- and Qwen3-style templates do, and as SFT renders history, so that a client sending a reply
back verbatim gets the prompt the model was trained on; the reasoning stayed in before).

A whole conversation rendered without the generation prompt (for training: TRL's SFTTrainer, transformers'
return_assistant_tokens_mask) ends with its last assistant turn as axk1's SFT trains it (posttrain/chat_data.py):
after the generation prompt's `<think>`, its reasoning, `</think>`, a blank line and the answer; with no reasoning,
the empty think block of non-think mode and the answer; with `enable_thinking=False`, the empty block and the answer
whatever reasoning the turn has, as `axk1 sft` trains it in non-think mode. That text and `<|im_end|>` sit in a
`{% generation %}` block, which marks the tokens an assistant-only loss trains (without it TRL refuses the template,
and with every turn's reasoning dropped it could only train answers in a format no prompt leads to). A last turn
whose trace is still open (`<think>\nLet me think`) is written on inside the think block, so that transformers'
continue_final_message continues the trace (in think mode only: with `enable_thinking=False` the trace is dropped as
any turn's, and continue_final_message then refuses, the text it was to continue not being in the render). The
template cannot see continue_final_message (transformers does not pass it), so a render of such a turn without it
ends `trace<|im_end|>`: a continuation prompt, not a training row (`axk1 sft` refuses an unclosed think block).
The calling turns before it in the same exchange (after the last user message: user, call, result, answer) are
marked too where their render is the one `axk1 sft` trains (no trace, or `enable_thinking=False`), so that TRL
trains a tool row's calls as well as its answer; earlier exchanges, whose traces the history drops, are not.
A trace under several names is read in one order (text/reasoning.REASONING_FIELDS, transformers 5's). Prompts (the generation prompt added) render as before.

The template reads what `axk1 sft` reads (posttrain/chat_formats.py), so that SFT, the server and transformers give
one set of ids: role `developer` is the system turn, a trace under `reasoning` or `thinking` is the
`reasoning_content`, an assistant's message-level `refusal` with no content is its text, and a bare function tool
is listed as OpenAI's `{"type": "function", "function": ...}` (tool_format.openai_tools).

Tools (transformers' `tools=`, a request's `tools`) use the hermes layout (axk1/text/tool_format.py): the system
turn gets a tools block after the system message's text; an assistant's `tool_calls` are written after its answer
as `<tool_call>` blocks (inside the generation block when it is the trained turn, so tool calls are trained); `tool`
messages go back in a user turn as `<tool_response>` blocks, consecutive ones in one turn. A calling turn in the
history keeps an empty think block (its reasoning dropped as any turn's): in non-think mode an agent loop's next
prompt is then the last prompt, the reply and the results, so the server's prefix cache serves it, and TRL takes
the template for tool training (it requires this). A conversation with
neither renders byte for byte as before. Written into every model folder axk1 makes (tokenizer_config.json and
chat_template.jinja); a folder's own template (the released A.X K1's) is used where it has one.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from axk1.user_file import read_text

TEMPLATE_FILE = "chat_template.jinja"  # where transformers 5 writes a folder's template


def _literal(text: str) -> str:
    """`text` as a Jinja string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


# The tools block of the system turn (the hermes layout, axk1/text/tool_format.py): the functions one JSON object a
# line, then how to call one. Our own wording.
TOOLS_INTRO = ("# Tools\n\nYou can call functions to help with the request. Each function you can call is described by "
               "one JSON object per line inside <tools></tools>:\n<tools>")
TOOLS_HOW = ("\n</tools>\n\nTo call a function, write a JSON object with its name and its arguments inside "
             "<tool_call></tool_call> tags, one block per call:\n<tool_call>\n"
             "{\"name\": <function name>, \"arguments\": <the arguments as a JSON object>}\n</tool_call>")

# What a whole-conversation render (training) says of a call whose arguments are a JSON string.
STRING_ARGUMENTS = ("tool call arguments are a JSON string: parse them to an object first (json.loads), as transformers' "
                    "chat templates expect and as axk1 sft, axk1 serve and vLLM do, so that training writes the call "
                    "as serving renders it")

CHAT_TEMPLATE = (
    # OpenAI's list of content parts as one text: text parts, and an assistant's refusal parts (as the openai client
    # sends a refusal back) by their refusal text, as infer.chat.message_text reads them and vLLM renders them
    # (`map(attribute='text')` wrote a refusal as nothing in transformers); other parts are refused before
    "{%- macro text_of(parts) -%}"
    "{%- for part in parts -%}"
    "{{ part['refusal'] if part['type'] == 'refusal' else part['text'] }}"
    "{%- endfor -%}"
    "{%- endmacro -%}"
    # An assistant turn's text with its calls: the answer, then one <tool_call> block per call, a newline apart
    # (tool_format.answer_with_calls, what SFT trains). axk1 (its server and SFT) and vLLM parse arguments given as
    # a JSON string before rendering, so a call has one text; Jinja cannot parse JSON, so a string that reaches the
    # template is written as it is when it renders a prompt, and refused when it renders a whole conversation for
    # training (transformers, TRL), which would otherwise train other text than `axk1 sft` and serving show
    "{%- macro with_calls(text, calls) -%}"
    "{{ text }}"
    "{%- for call in calls -%}"
    "{%- set fn = call['function'] if call['function'] is mapping else call -%}"
    "{%- set args = fn['arguments'] if fn['arguments'] is defined else {} -%}"
    "{%- if args is string and not add_generation_prompt -%}"
    "{{ raise_exception(" + _literal(STRING_ARGUMENTS) + ") }}"
    "{%- endif -%}"
    "{{ ('\\n' if text or not loop.first else '') + '<tool_call>\\n{\"name\": ' + (fn['name'] | tojson) "
    "+ ', \"arguments\": ' + (args if args is string else args | tojson) + '}\\n</tool_call>' }}"
    "{%- endfor -%}"
    "{%- endmacro -%}"
    # with tools: one system turn, the system message's text (if any) first, then the tools block; its content
    # as a string or OpenAI's list of text parts, joined as a message's are below (transformers passes the list)
    "{%- if tools -%}"
    "{{ '<|im_start|>system\\n' }}"
    "{%- set system = (messages[0]['content'] or '') if messages and messages[0]['role'] in ('system', 'developer') "
    "else '' -%}"
    "{%- if system is not string -%}"
    "{%- set system = text_of(system) -%}"
    "{%- endif -%}"
    "{%- if system -%}"
    "{{ system + '\\n\\n' }}"
    "{%- endif -%}"
    "{{ " + _literal(TOOLS_INTRO) + " }}"
    "{%- for tool in tools -%}"
    # a bare function ({"name", "parameters"}: transformers' tools=, LLaMA-Factory's data) listed in OpenAI's form,
    # as SFT and the server list it (tool_format.openai_tools): one tool, one text
    "{{ '\\n' + ((tool if 'function' in tool else {'type': 'function', 'function': tool}) | tojson) }}"
    "{%- endfor -%}"
    "{{ " + _literal(TOOLS_HOW) + " + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    # the last user message: the assistant turns after it (the calls of the exchange a row ends with) are marked for
    # training below where their render is the one `axk1 sft` trains
    "{%- set exchange = namespace(start=-1) -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{%- set exchange.start = loop.index0 -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- for message in messages -%}"
    # OpenAI's `developer` role (its SDKs send system instructions so since o1) is the system turn, as `axk1 sft`
    # reads it (posttrain/chat_formats.ROLE_ALIASES): a `developer` turn of its own was never trained
    "{%- set role = 'system' if message['role'] == 'developer' else message['role'] -%}"
    "{%- set content = message['content'] if message['content'] is not none else '' -%}"
    "{%- if content is not string -%}"
    "{%- set content = text_of(content) -%}"
    "{%- endif -%}"
    # an assistant's top-level `refusal` (OpenAI's form of a turn that declines: content null) is its text, as SFT
    # trains it (chat_formats._refusal_content); it rendered an empty turn
    "{%- if role == 'assistant' and not content and message['refusal'] is string -%}"
    "{%- set content = message['refusal'] -%}"
    "{%- endif -%}"
    "{%- if tools and loop.first and role == 'system' -%}"
    # rendered above, with the tools
    "{%- elif role == 'tool' -%}"
    # a tool's result goes back as the user's; consecutive results share one turn
    "{{ ('<|im_start|>user' if loop.first or loop.previtem['role'] != 'tool' else '') + '\\n<tool_response>\\n' "
    "+ content + '\\n</tool_response>' + ('<|im_end|>\\n' if loop.last or loop.nextitem['role'] != 'tool' else '') }}"
    "{%- elif role == 'assistant' and loop.last and not add_generation_prompt -%}"
    # a whole conversation for training: its last turn as the model writes it after the generation prompt, its
    # reasoning in the think block (none: the empty block of non-think mode), the written text marked (generation)
    "{%- set reasoning = none -%}"
    "{%- set open_trace = none -%}"
    # the trace under the names SFT reads (text/reasoning.REASONING_FIELDS: gpt-oss' `thinking`, vLLM's `reasoning`),
    # first found first, as transformers 5 aliases them (older ones pass them as sent)
    "{%- if message['reasoning_content'] is string -%}"
    "{%- set reasoning = message['reasoning_content'] -%}"
    "{%- elif message['thinking'] is string -%}"
    "{%- set reasoning = message['thinking'] -%}"
    "{%- elif message['reasoning'] is string -%}"
    "{%- set reasoning = message['reasoning'] -%}"
    "{%- elif content.lstrip().startswith('<think>') and '</think>' in content -%}"
    "{%- set body = content.lstrip()[7:] -%}"
    "{%- set reasoning = body.split('</think>', 1)[0] -%}"
    "{%- set content = body.split('</think>', 1)[1] -%}"
    "{%- elif '<think>' not in content and content.count('</think>') == 1 -%}"
    # DeepSeek-R1's `trace</think>answer`, read as chat_data.split_think reads it
    "{%- set reasoning = content.split('</think>')[0] -%}"
    "{%- set content = content.split('</think>')[1] -%}"
    "{%- elif content.lstrip().startswith('<think>') and not message['tool_calls'] -%}"
    # a trace still open (`<think>\\nLet me think`, no `</think>`): written on in the generation prompt's think
    # block, so that transformers' continue_final_message continues the trace (an empty block came first). The
    # template cannot see that flag (transformers does not pass it), so this is any final turn's render without the
    # generation prompt; in non-think mode the trace is dropped below, as any turn's is
    "{%- set open_trace = content.lstrip()[7:] -%}"
    "{%- endif -%}"
    # an empty trace is non-think, as `axk1 sft` trains it
    "{%- if reasoning is not none and not (reasoning | trim) -%}"
    "{%- set reasoning = none -%}"
    "{%- endif -%}"
    # non-think mode: the turn as `axk1 sft --mode non-think` trains it, after the empty think block, its trace
    # dropped (a turn is trained in one mode, and this one's prompt has no open block to hold the trace)
    "{%- if enable_thinking is defined and not enable_thinking -%}"
    "{%- set reasoning = none -%}"
    "{%- if open_trace is not none -%}"  # an open trace is all reasoning: no answer yet
    "{%- set open_trace = none -%}"
    "{%- set content = '' -%}"
    "{%- endif -%}"
    "{%- endif -%}"
    "{%- set answer = content | trim -%}"
    "{%- if message['tool_calls'] -%}"
    "{%- set answer = with_calls(answer, message['tool_calls']) -%}"
    "{%- endif -%}"
    "{{ '<|im_start|>assistant\\n<think>' + ('\\n\\n</think>' if reasoning is none and open_trace is none else '') }}"
    "{%- generation -%}"
    "{%- if open_trace is not none -%}"
    "{{ open_trace + '<|im_end|>' }}"
    "{%- else -%}"
    "{{ ('' if reasoning is none else (reasoning | trim) + '\\n</think>\\n\\n') + answer + '<|im_end|>' }}"
    "{%- endif -%}"
    "{%- endgeneration -%}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{%- set marked = false -%}"
    "{%- if role == 'assistant' -%}"  # history: the answer alone, as SFT trains (chat_data.prompt_text)
    "{%- set trace = content.split('</think>')[0].replace('<think>', '') if '</think>' in content else '' -%}"
    "{%- set content = (content.split('</think>')[-1] if '</think>' in content else content) | trim -%}"
    "{%- if message['tool_calls'] -%}"
    # a calling turn of the exchange the row ends with (after its last user message) renders as `axk1 sft` trains
    # it when it has no trace (or non-think mode drops it): marked (generation), so that TRL's assistant-only loss
    # trains the call as well as the answer. With a trace it is not: history drops the trace, and training the call
    # without it would teach calls with no reasoning in think mode. Earlier exchanges are never marked: their turns
    # lost their traces (and a plain answer its think block) in the history, not as `axk1 sft` trains them
    # the trace read as the last turn's is: its names first found first, then inline
    "{%- if message['reasoning_content'] is string -%}"
    "{%- set trace = message['reasoning_content'] -%}"
    "{%- elif message['thinking'] is string -%}"
    "{%- set trace = message['thinking'] -%}"
    "{%- elif message['reasoning'] is string -%}"
    "{%- set trace = message['reasoning'] -%}"
    "{%- endif -%}"
    "{%- set marked = loop.index0 > exchange.start and (not (trace | trim) or (enable_thinking is defined "
    "and not enable_thinking)) -%}"
    # a calling turn keeps the empty think block it was written after in non-think mode, so that an agent loop's
    # next prompt extends the last one (prefix-cache hits; TRL requires it of a template with tools)
    "{%- set content = with_calls(content, message['tool_calls']) -%}"
    "{%- if not marked -%}"
    "{%- set content = '<think>\\n\\n</think>' + content -%}"
    "{%- endif -%}"
    "{%- endif -%}"
    "{%- endif -%}"
    "{%- if marked -%}"
    "{{ '<|im_start|>assistant\\n<think>\\n\\n</think>' }}"
    "{%- generation -%}"
    "{{ content + '<|im_end|>' }}"
    "{%- endgeneration -%}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + role + '\\n' + content + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{%- if enable_thinking is defined and not enable_thinking -%}"
    "{{ '<|im_start|>assistant\\n<think>\\n\\n</think>' }}"
    "{%- else -%}"
    "{{ '<|im_start|>assistant\\n<think>' }}"
    "{%- endif -%}"
    "{%- endif -%}"
)


def template_environment():
    """The jinja2 environment a chat template is parsed and rendered in: what transformers' apply_chat_template
    gives a template (trim_blocks and lstrip_blocks; the loop controls `{% break %}` / `{% continue %}`; the
    `{% generation %}` block that marks assistant text for training masks, rendered as its body; `tojson` with
    ensure_ascii, indent, separators and sort_keys; `raise_exception`; `strftime_now`), in jinja2's immutable
    sandbox: a model folder's template is untrusted text. Templates that used any of these were refused by
    `axk1 serve` or failed every request while transformers rendered them. Bounded in steps, time, sizes and files
    read (axk1/text/template_limits.py)."""
    from datetime import datetime

    from jinja2.exceptions import TemplateError
    from jinja2.ext import Extension, loopcontrols

    from axk1.text.template_limits import BoundedEnvironment

    class GenerationBlock(Extension):
        tags = {"generation"}

        def parse(self, parser):
            next(parser.stream)  # the tag's name
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    def raise_exception(message: str):
        raise TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = BoundedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, loopcontrols])
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.add_filter("tojson", tojson)
    return env


@lru_cache(maxsize=16)
def _compiled(template: str):
    """The template parsed and compiled once: compiling took 14 ms, 97% of rendering a row, so an SFT set of 1M
    rows spent four hours compiling one template (a jinja2 Template renders from many threads at once)."""
    return template_environment().from_string(template)


def render_template(template: str, variables: dict[str, Any], source: str = "axk1's default chat template") -> str:
    """A chat template rendered as transformers renders it (template_environment), within the bounds of
    template_limits. Whatever the render raises is one ValueError naming `source` (the template's file): a
    template's own Python errors (`1/0`, a type error) reached the callers as tracebacks."""
    from jinja2.exceptions import TemplateError

    from axk1.text.template_limits import PastBounds, TemplateLimit, render_bounded

    try:
        # a dict, not **: a variable named "self" is no clash
        return render_bounded(_compiled(template), variables)
    except TemplateLimit as e:
        raise PastBounds(f"{source}: the chat template {e}, past the bounds on rendering a conversation: fix it, "
                         "or delete it to use axk1's default template") from None
    except TemplateError as e:
        raise ValueError(f"{source}: the chat template failed on these messages: {e}") from e
    except Exception as e:  # noqa: BLE001 (any error of the template's own code is the template's, said as one line)
        raise ValueError(f"{source}: the chat template failed on these messages ({type(e).__name__}: {e})") from e


def read_chat_template(folder: Path, tokenizer_config: dict[str, Any]) -> str | None:
    """The chat template a model folder renders with (the one reader: serving, eval, `axk1 merge`): transformers 5
    writes `chat_template.jinja`; older folders keep it in tokenizer_config.json (a string or a list of named
    templates, of which 'default' is used, as transformers uses it); None where there is none."""
    if (Path(folder) / TEMPLATE_FILE).exists():
        return read_text(Path(folder) / TEMPLATE_FILE, "the chat template")
    template = tokenizer_config.get("chat_template")
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) else None

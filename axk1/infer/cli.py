"""`axk1 serve <model-dir>`: the OpenAI-compatible server."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import re
import socket
from pathlib import Path

from axk1.api_key import SERVER_KEY_ENV, add_api_key_flags, read_api_key
from axk1.atomic_file import staged_path, write_text_atomic
from axk1.cli_args import non_negative_int, positive_int, tcp_port, thread_count
from axk1.dtype_flag import add_dtype_flag, flag_dtype
from axk1.cli_flag_file import add_flag_file, with_flag_file
from axk1.infer.engine_config import EngineConfig, ServeConfig

log = logging.getLogger("axk1.serve")


def build_server(cfg: ServeConfig, api_key: str | None = None):
    """Load cfg.model_dir and return (FastAPI app, engine); the engine thread is started."""
    from axk1.config import model_config_file
    from axk1.checkpoint.hf import load_model
    from axk1.device import resolve_device
    from axk1.infer.chat import ChatCodec
    from axk1.infer.engine import Engine
    from axk1.infer.generation_config import GenerationDefaults
    from axk1.infer.server import ServerState, create_app

    model_dir = cfg.model_dir
    model_config_file(model_dir)  # before loading anything: a wrong folder is the likelier mistake
    device = resolve_device(str(cfg.device), "--device")
    model = load_model(model_dir, dtype=cfg.dtype, device=device, with_mtp=cfg.engine.speculative)
    codec = ChatCodec.from_folder(model_dir)
    defaults = GenerationDefaults.from_folder(model_dir, model.config.vocab_size)
    if codec is None:
        log.warning("%s has no tokenizer.json: only /v1/completions with token-id prompts will work", model_dir)
    # The cache is paged, so the context no longer multiplies the memory by max_batch: serve all of it.
    engine = Engine(model, cfg.engine).start()
    log.info("serving %s: context %d, up to %d sequences, latent cache of %d blocks x %d tokens (%.1f MiB)",
             model_dir, engine.max_model_len, engine.max_batch, engine.pool.num_blocks - 1, engine.block_size,
             engine.cache.nbytes() / 2**20)
    if defaults != GenerationDefaults():
        log.info("%s/generation_config.json: the defaults of requests that leave them out %s", model_dir, defaults)
    state = ServerState(engine, codec, cfg.served_name or model_dir.resolve().name, api_key,
                        read_timeout=cfg.read_timeout, defaults=defaults, weight_updates=cfg.weight_updates,
                        guide=_guide(codec, engine, defaults))
    state.shutdown.timeout = cfg.shutdown_timeout
    return create_app(state), engine


def serve_config(args: argparse.Namespace) -> ServeConfig:
    """The flags of `axk1 serve` as its ServeConfig: `args` as with_flag_file gave them, the --config file read."""
    engine = EngineConfig(max_batch=args.max_batch, max_model_len=args.max_model_len, cache_tokens=args.cache_tokens,
                          block_size=args.block_size, prefill_chunk=args.prefill_chunk,
                          prefix_caching=not args.no_prefix_caching, speculative=args.speculative)
    return ServeConfig(args.model_dir, engine, served_name=args.served_model_name, dtype=flag_dtype(args.dtype),
                       device=args.device, read_timeout=args.read_timeout, shutdown_timeout=args.shutdown_timeout,
                       weight_updates=args.enable_weight_updates)


def flag_names(message: str) -> str:
    """An EngineConfig's or ServeConfig's error as `axk1 serve` says it: the flags for the fields they name."""
    return _FIELD.sub(lambda m: "--" + m.group().replace("_", "-"), message)


_FIELD = re.compile(r"\b(max_batch|max_model_len|cache_tokens|block_size|prefill_chunk|read_timeout|"
                    r"shutdown_timeout)\b")


def _guide(codec, engine, defaults):
    """Structured outputs' view of the tokenizer (axk1/infer/guided.py), built once; None without a tokenizer, or
    (logged) one llguidance cannot read: requests asking for a constraint are then refused, the rest served."""
    if codec is None:
        return None
    from axk1.infer.guided import Guide
    from axk1.text.tokenizer_file import THINK_CLOSE

    eos = set(engine.eos_ids) | set(defaults.eos_ids) | ({codec.turn_end} if codec.turn_end is not None else set())
    try:
        return Guide(codec.tokenizer, engine.vocab_size, sorted(eos), codec.token_id(THINK_CLOSE))
    except Exception as e:  # llguidance's own error type for a tokenizer it cannot read
        log.warning("structured outputs are off: llguidance cannot read this tokenizer (%s)", e)
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Binds the address once, as uvicorn will (SO_REUSEADDR), before the model is loaded: uvicorn binds only after
    the load, and a port another server holds then ended the start-up with its own log line and exit status 3."""
    if port == 0:
        return
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        why = ("another process is listening there: stop it, or give another --port (0: any free one)"
               if e.errno == errno.EADDRINUSE else f"{e.strerror or e}: give another --host or --port")
        raise ValueError(f"cannot serve on {host}:{port}: {why}") from None


def clear_port_file(path: Path | None) -> None:
    """--port-file checked before the model loads: its folder must exist, the file must be writable there (its
    staged copy is created and removed: a path that cannot be written failed only once the server listened, with a
    traceback), and a port file an earlier server left there is removed now, so that a script waiting for the file
    to appear reads this server's port, not a dead one's. A file holding anything but a port number is no port
    file: it was removed all the same, even when the start then failed; now it is kept, and the start refused."""
    if path is None:
        return
    if not path.parent.is_dir():
        raise ValueError(f"--port-file {path}: the folder {path.parent} does not exist: create it, or give another "
                         "path")
    if path.is_dir():
        raise ValueError(f"--port-file {path} is a folder: give the path of a file to write the port in")
    if path.exists():
        _remove_old_port_file(path)
    staged = staged_path(path)
    try:
        staged.write_text("")
        staged.unlink()
    except OSError as e:
        why = f" for {staged.name}, where the port is written before the rename" if e.errno == errno.ENAMETOOLONG \
            else ""
        raise ValueError(f"--port-file {path}: cannot write there ({e.strerror}{why}): give another path") from None


def _remove_old_port_file(path: Path) -> None:
    """Removes a port file an earlier server left: a regular file empty or holding a port number, nothing else."""
    if not path.is_file():
        raise ValueError(f"--port-file {path} exists and is not a regular file: give the path of a file to write the "
                         "port in")
    try:
        with open(path, "rb") as f:
            head = f.read(64)
        if not re.fullmatch(rb"(\d{1,20}\n?)?", head):
            raise ValueError(f"--port-file {path} holds something other than a port number, so no server wrote it: "
                             "it is left as it is; give another path, or remove it")
        path.unlink()
    except OSError as e:
        raise ValueError(f"--port-file {path}: cannot remove the file there ({e.strerror}): give another path") \
            from None


def report_listening(sockets: list[socket.socket], port_file: Path | None) -> None:
    """Says where the server listens, with the port the OS chose under --port 0, and writes it to `port_file`:
    written whole under another name first and then renamed (atomic_file.py), so a reader never sees half a number."""
    addresses = [sock.getsockname()[:2] for sock in sockets]
    for host, port in addresses:
        log.info("listening on http://%s:%d", f"[{host}]" if ":" in host else host, port)
    if port_file is not None:
        try:
            write_text_atomic(port_file, f"{addresses[0][1]}\n")
        except OSError as e:
            raise ValueError(f"--port-file {port_file}: cannot write it ({e.strerror or e}): give another path") \
                from None


def cmd_serve(args: argparse.Namespace) -> int:
    import torch
    import uvicorn

    from axk1.infer.http_timeouts import timed_h11
    from axk1.infer.shutdown import BACKSTOP_S, DrainingServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = with_flag_file(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    api_key = read_api_key(args.api_key_env, SERVER_KEY_ENV)
    if not _is_loopback(args.host) and not api_key:
        log.warning("serving on %s without an API key ($%s is not set): anyone who can reach this port can use the "
                    "model", args.host, args.api_key_env)
    check_port(args.host, args.port)
    port_file = Path(args.port_file) if args.port_file else None
    clear_port_file(port_file)
    try:
        cfg = serve_config(args)
        app, engine = build_server(cfg, api_key)
    except ValueError as e:  # a field's name, where the user typed a flag
        raise ValueError(flag_names(str(e))) from None
    shutdown = app.state.axk1.shutdown
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            timeout_graceful_shutdown=cfg.shutdown_timeout + BACKSTOP_S,
                            http=timed_h11(cfg.read_timeout, connections=shutdown.connections))
    # stops the engine while the event loop is still up; says the address once the sockets are bound
    server = DrainingServer(config, shutdown, engine.stop, lambda sockets: report_listening(sockets, port_file))
    try:
        # uvicorn raises the Ctrl-C it caught again once it has shut down (SIGTERM and SIGHUP too: axk1/cli_exit.py's
        # Terminated): they go on to main(), which ends with a line and 130, 143 or 129 as every verb does (a Ctrl-C
        # ended with 0 here, as if the server had stopped of itself)
        server.run()
    finally:
        engine.stop()  # at once if the server stopped it: here for a server that never started
        if port_file is not None and server.started and server.listen_error is None:
            try:  # the port is no longer served: a script must not connect
                port_file.unlink(missing_ok=True)
            except OSError as e:
                log.warning("--port-file %s: cannot remove it (%s): remove it before a script reads it", port_file,
                            e.strerror)
    if server.listen_error is not None:  # the server stopped at once: the error is one line, after uvicorn's log
        raise server.listen_error
    return 0 if server.started else 3  # uvicorn.run's status for a server that never started


def add_serve_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve", help="OpenAI-compatible HTTP server (chat, completions, streaming, reasoning, tool calls, JSON schemas) over a model folder",
        description="Serve a model folder (HF layout) with an OpenAI-compatible API: /v1/models, /v1/completions, "
                    "/v1/chat/completions (streaming or not; thinking on/off via chat_template_kwargs), /health, "
                    "/metrics. Concurrent requests share decode steps over one latent KV cache.")
    p.add_argument("model_dir", help="model folder: config.json + safetensors (+ tokenizer.json for text)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=tcp_port, default=8000,
                   help="TCP port, 0-65535 (0: any free one, said in the 'listening on' log line; default "
                        "%(default)s)")
    p.add_argument("--port-file", metavar="PATH", default=None,
                   help="once the server listens, write its port there (a number and a newline, written whole: the "
                        "file appears complete or not at all); removed before the model loads and when the server "
                        "stops. For scripts that start it with --port 0")
    add_api_key_flags(p, SERVER_KEY_ENV, "the key clients must send on /v1 ('Authorization: Bearer KEY')")
    p.add_argument("--served-model-name", default=ServeConfig.served_name,
                   help="the model id clients send (default: the folder name)")
    p.add_argument("--max-batch", type=positive_int, default=EngineConfig.max_batch,
                   help="most choices generated together (default %(default)s)")
    p.add_argument("--max-model-len", type=positive_int, default=EngineConfig.max_model_len,
                   help="context served, prompt + completion, at most the model's (default: the model's context)")
    p.add_argument("--cache-tokens", type=positive_int, default=EngineConfig.cache_tokens,
                   help="size of the paged latent cache in tokens, shared by all sequences (default: every sequence "
                        "at full length, at most 1 GiB, at least one whole context)")
    p.add_argument("--block-size", type=positive_int, default=EngineConfig.block_size,
                   help="tokens per cache block (default %(default)s)")
    p.add_argument("--prefill-chunk", type=positive_int, default=EngineConfig.prefill_chunk,
                   help="prompt tokens computed per step, between decode steps (default %(default)s)")
    p.add_argument("--no-prefix-caching", action="store_true",
                   help="compute every prompt in full (default: reuse cached blocks of a repeated prefix)")
    p.add_argument("--speculative", action="store_true",
                   help="draft a token per step with the model's MTP module (mtp.safetensors: `axk1 export "
                        "--keep-mtp`) and verify it in the decode step; the same outputs (greedy) or distribution")
    add_dtype_flag(p)
    p.add_argument("--device", default=ServeConfig.device,
                   help="cpu, cuda or auto (CUDA when torch sees a GPU); cpu by default: the serving engine has not "
                        "yet run on a GPU (docs/gpu.md)")
    p.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--read-timeout", type=float, default=ServeConfig.read_timeout,
                   help="seconds a client has to send a request's headers, and again its body (default %(default)s): a "
                        "connection that trickles them is closed (headers) or answered 408 (body); also how long a "
                        "client may read nothing of a streamed reply before its connection is closed and its "
                        "generation stopped")
    p.add_argument("--enable-weight-updates", action="store_true",
                   help="accept POST /update_weights_from_disk {\"model_path\": FOLDER} (SGLang's route): the served "
                        "weights replaced by a folder's between requests, for RL rollouts (docs/posttraining.md, \"At "
                        "scale\"); it reads any folder the server can see, so set an API key (--api-key-env) off loopback")
    p.add_argument("--shutdown-timeout", type=non_negative_int, default=ServeConfig.shutdown_timeout,
                   help="seconds the requests generating may go on after SIGTERM, SIGHUP or Ctrl-C (new connections "
                        "are refused at once, and a request still queued is answered at once as below); then each "
                        "still running ends with an error (a 503; a stream, an error event and [DONE]). 0: at once; a "
                        "second Ctrl-C: at once too (default %(default)s)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="the server's log (uvicorn's): debug .. critical (default %(default)s)")
    # the one path among the flags a file may set (the model folder is the positional argument, and the API key is
    # read from an environment variable, never a file)
    add_flag_file(p, "max_batch = 16, host = \"0.0.0.0\", no_prefix_caching = true", path_flags=("port_file",))
    p.set_defaults(func=cmd_serve)
    return p

"""JSON requests to an OpenAI-style server (eval's openai backend, RL's rollout-server client), with the API key
(axk1/api_key.py reads it) as a bearer token, and a timeout that bounds the whole reply; and the one reading of an
`openai:URL` flag value into the server's API base URL."""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from urllib.parse import urlparse, urlunparse


def openai_base_url(spec: str, flag: str) -> str:
    """The API base URL an `openai:URL` value of `flag` (--model, --translator, --teacher) names: the URL without a
    trailing slash, with /v1 added when it has no path (the root of `axk1 serve`, vLLM or SGLang; their API is under
    /v1). One reading for every verb: eval read openai:http://host:8000 as a base without /v1 where synth added it."""
    if not spec.startswith("openai:"):
        raise ValueError(f"{flag} {spec!r}: write openai:URL, e.g. openai:http://127.0.0.1:8000/v1")
    url = spec[len("openai:"):].rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"{flag} {spec!r}: {url!r} is not an http(s) URL; write openai:URL, e.g. "
                         "openai:http://127.0.0.1:8000/v1")
    return url if parsed.path else urlunparse(parsed._replace(path="/v1"))  # "?x=1" stays after the path


class EventStreamReply(ValueError):
    """A reply streamed as server-sent events (text/event-stream, `data: {...}` lines) to a request for one JSON
    reply: read as JSON it failed as "Expecting value", naming neither the stream nor the fix."""


def request_json(method: str, url: str, body: dict | None, api_key: str | None, timeout: float) -> dict:
    """The one way a key is sent: a request to an OpenAI-style server with a JSON body and the key (if any) as a
    bearer token, answered with JSON (eval's openai backend; RL's rollout-server client). `timeout` bounds the whole
    reply (TimeoutError), not each read. Its failures (urllib's HTTPError and URLError, OSError, a reply that is not
    JSON) are the caller's to name."""
    deadline = time.monotonic() + timeout
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        data = _read_by(reply, deadline, timeout)
        if reply.headers.get_content_type() == "text/event-stream" or data.lstrip().startswith(b"data:"):
            raise EventStreamReply(f"{url} answered with an event stream (text/event-stream, `data:` lines) although "
                                   "the request asked for one JSON reply (\"stream\": false): the server or a proxy "
                                   "in front of it streams regardless; turn its streaming off")
        return json.loads(data)


def _read_by(reply, deadline: float, timeout: float) -> bytes:
    """The reply's body, read a piece at a time, each read given only the time left before `deadline`: a socket
    timeout alone bounds the wait for each piece, so a server trickling a byte a second held a reply for ever."""
    sock = getattr(getattr(reply.fp, "raw", None), "_sock", None)  # the socket under http.client's reader
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the reply took longer than {timeout:g} s")
        if sock is not None:
            sock.settimeout(left)
        chunk = reply.read1(1 << 16)
        if not chunk:
            if getattr(reply, "length", None):  # read1 ends quietly where read() named the cut: say so as read() did
                raise http.client.IncompleteRead(b"".join(chunks), reply.length)
            return b"".join(chunks)
        chunks.append(chunk)

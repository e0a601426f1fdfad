"""The scripted eval server itself: what one test leaves running must not reach the next."""

import json
import threading
import urllib.error
import urllib.request

import pytest

from tests.eval_fake_server import OK, fake_server


def _handler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request_thread" in t.name and t.is_alive()]


def test_a_delayed_reply_does_not_outlive_its_server():
    """A reply delayed past its client's timeout left its handler thread sleeping after the test; it woke during a
    later test, met the closed pipe, and socketserver printed the traceback into that test's captured stderr. The
    server now wakes and joins every handler thread as it closes."""
    with fake_server() as (base, handler):
        handler.route = staticmethod(lambda prompt: (200, OK, 60))
        body = json.dumps({"messages": [{"role": "user", "content": "slow"}]}).encode()
        request = urllib.request.Request(f"{base}/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            urllib.request.urlopen(request, timeout=0.5)
        assert handler.calls == 1 and _handler_threads()  # the reply is still waiting
    assert _handler_threads() == []

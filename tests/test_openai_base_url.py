"""One reading of `openai:URL` (axk1/http_json.py openai_base_url) for `axk1 eval --model/--translator` and
`axk1 data synth --teacher`: eval took openai:http://host:8000 as a base without /v1, where synth added it, so the
same server URL posted to /chat/completions (a 404 from `axk1 serve` and vLLM) in one verb and worked in the other."""

import pytest

from axk1.eval.backend_target import load_backend
from axk1.http_json import openai_base_url

SPECS = {  # what a user writes -> the API base both verbs use
    "openai:http://127.0.0.1:9": "http://127.0.0.1:9/v1",
    "openai:http://127.0.0.1:9/": "http://127.0.0.1:9/v1",
    "openai:http://127.0.0.1:9/v1": "http://127.0.0.1:9/v1",
    "openai:https://api.example.com/v1/": "https://api.example.com/v1",
    "openai:http://gateway:8080/serving/v2": "http://gateway:8080/serving/v2",  # a path given is kept as written
    "openai:http://127.0.0.1:9?key=1": "http://127.0.0.1:9/v1?key=1",  # /v1 was glued to the query: "?key=1/v1"
}


@pytest.mark.parametrize("spec", SPECS)
def test_eval_and_synth_read_an_openai_url_the_same_way(spec):
    assert openai_base_url(spec, "--teacher") == SPECS[spec]
    assert load_backend(spec, served_model="m").base_url == SPECS[spec]  # served_model: no request is made


@pytest.mark.parametrize("spec, problem", [("openai:127.0.0.1:9", "'127.0.0.1:9' is not an http(s) URL"),
                                           ("openai:ftp://host/v1", "'ftp://host/v1' is not an http(s) URL"),
                                           ("openai:http://", "'http:' is not an http(s) URL")])
def test_a_bad_url_is_refused_naming_the_flag_and_the_form(spec, problem):
    for flag, load in (("--model", lambda: load_backend(spec, served_model="m")),
                       ("--translator", lambda: load_backend(spec, served_model="m", flag="--translator")),
                       ("--teacher", lambda: openai_base_url(spec, "--teacher"))):
        with pytest.raises(ValueError) as e:
            load()
        assert str(e.value) == (f"{flag} {spec!r}: {problem}; write openai:URL, e.g. openai:http://127.0.0.1:8000/v1")


def test_a_teacher_without_the_prefix_is_refused_with_the_form():
    with pytest.raises(ValueError, match=r"--teacher 'http://127.0.0.1:8000': write openai:URL, e\.g\. "
                                         r"openai:http://127\.0\.0\.1:8000/v1"):
        openai_base_url("http://127.0.0.1:8000", "--teacher")

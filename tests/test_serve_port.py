"""`axk1 serve --port 0`: the OS picks a free port, and the server says which (its "listening on" log line, and
--port-file for scripts), so nothing has to pick a port free and hope it is still free when the server binds it
(another process can take it in between: the test suite's parallel workers did). A bad --port is still one line."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from axk1.cli import main
from tests.serve_helpers import ServerProcess, make_model_folder


def test_a_server_on_port_0_says_its_port_and_answers_there(tmp_path):
    """The port in the log line and in --port-file is the one the server answers on; the file is gone once the
    server has stopped (a script reading it then would connect to nothing, or to another server)."""
    folder = make_model_folder(tmp_path / "m")
    with ServerProcess(folder, "--served-model-name", "tiny") as server:  # --port 0 --port-file (serve_helpers)
        log = server.log.read_text()
        said = [int(port) for port in re.findall(r"axk1\.serve INFO listening on http://127\.0\.0\.1:(\d+)$", log,
                                                  re.MULTILINE)]
        assert said == [server.port] and 0 < server.port < 65536, log
        assert server.port_file.read_text() == f"{server.port}\n"
        with urllib.request.urlopen(f"http://127.0.0.1:{said[0]}/v1/models", timeout=30) as reply:
            assert [m["id"] for m in json.loads(reply.read())["data"]] == ["tiny"]
        server.proc.terminate()
        server.proc.wait(timeout=30)
        assert not server.port_file.exists()


def test_a_port_file_is_checked_and_an_old_one_removed_before_the_model_loads(tmp_path, capsys):
    """A --port-file an earlier server left is removed at the start (a script waiting for the file would read a
    dead server's port), whether or not this start then succeeds; a folder that does not exist is one line."""
    stale = tmp_path / "serve.port"
    stale.write_text("8000\n")
    assert main(["serve", str(tmp_path / "no-model"), "--port", "0", "--port-file", str(stale)]) == 2
    assert "no-model does not exist: give a model folder" in capsys.readouterr().err and not stale.exists()
    missing = tmp_path / "no-such-folder" / "serve.port"
    assert main(["serve", str(tmp_path), "--port", "0", "--port-file", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == (f"axk1 serve: error: --port-file {missing}: the folder {missing.parent} does not exist: create "
                   "it, or give another path\n"), err


@pytest.mark.parametrize("port, why", [("-1", "-1 must be a TCP port, 0-65535"),
                                       ("70000", "70000 must be a TCP port, 0-65535"),
                                       ("abc", "'abc' is not a whole number")])
def test_a_bad_port_is_one_line(tmp_path, capsys, port, why):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", str(tmp_path), "--port", port])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.splitlines()[-1] == f"axk1 serve: error: argument --port: {why}", err
    assert "Traceback" not in err

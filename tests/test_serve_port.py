"""`axk1 serve --port 0`: the OS picks a free port, and the server says which (its "listening on" log line, and
--port-file for scripts), so nothing has to pick a port free and hope it is still free when the server binds it
(another process can take it in between: the test suite's parallel workers did). A bad --port is still one line."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

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


def test_a_file_that_holds_more_than_a_port_is_kept_and_the_start_refused(tmp_path, capsys):
    """Any file at the --port-file path was removed before the load, even when the start then failed: a file of
    notes given by mistake was lost. Only an empty file or one holding a port number (what a server writes) is."""
    notes = tmp_path / "n.txt"
    notes.write_text("notes\n")
    assert main(["serve", str(tmp_path / "no-model"), "--port", "0", "--port-file", str(notes)]) == 2
    err = capsys.readouterr().err
    assert err == (f"axk1 serve: error: --port-file {notes} holds something other than a port number, so no server "
                   "wrote it: it is left as it is; give another path, or remove it\n"), err
    assert notes.read_text() == "notes\n"
    empty = tmp_path / "empty.port"
    empty.write_text("")
    assert main(["serve", str(tmp_path / "no-model"), "--port", "0", "--port-file", str(empty)]) == 2
    assert "no-model does not exist" in capsys.readouterr().err and not empty.exists()


def test_a_port_file_that_cannot_be_written_is_one_line_before_the_model_loads(tmp_path, capsys):
    """It failed only once the server listened, after the load, with uvicorn's tracebacks: now the port file's
    staged copy is created (and removed) first. A 250-character name is legal, but its staged name is not."""
    long_name = tmp_path / ("p" * 250)
    for path, why in ((Path("/proc/axk1.port"), "No such file or directory"),
                      (long_name, f"File name too long for .{long_name.name}.{os.getpid()}.tmp, where the port is "
                                  "written before the rename")):
        assert main(["serve", str(tmp_path / "no-model"), "--port", "0", "--port-file", str(path)]) == 2
        err = capsys.readouterr().err
        assert err == f"axk1 serve: error: --port-file {path}: cannot write there ({why}): give another path\n", err
    assert list(tmp_path.iterdir()) == []  # the staged copy is gone


def test_a_port_file_that_fails_once_listening_stops_the_server_in_one_line(tmp_path, capsys, monkeypatch):
    """A port file that passed the check but cannot be written once the server listens (its folder removed in
    between): the server stops cleanly and the error is one line after it, not uvicorn's start-up tracebacks."""
    import axk1.infer.cli as serve_cli

    def unwritable(sockets, port_file):
        raise ValueError(f"--port-file {port_file}: cannot write it (No such file or directory): give another path")

    folder = make_model_folder(tmp_path / "m")
    port_file = tmp_path / "serve.port"
    monkeypatch.setattr(serve_cli, "report_listening", unwritable)
    assert main(["serve", str(folder), "--port", "0", "--port-file", str(port_file)]) == 2
    err = capsys.readouterr().err
    assert err.endswith(f"axk1 serve: error: --port-file {port_file}: cannot write it (No such file or directory): "
                        "give another path\n") and "Traceback" not in err, err
    assert "Finished server process" in err and not port_file.exists()  # shut down as after a signal


@pytest.mark.parametrize("port, why", [("-1", "-1 must be a TCP port, 0-65535"),
                                       ("70000", "70000 must be a TCP port, 0-65535"),
                                       ("abc", "'abc' is not a whole number")])
def test_a_bad_port_is_one_line(tmp_path, capsys, port, why):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", str(tmp_path), "--port", port])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.splitlines()[-1] == f"axk1 serve: error: argument --port: {why}", err
    assert "Traceback" not in err

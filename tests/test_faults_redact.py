"""No credential in any text that leaves the process, even when the endpoint echoes them (#11).

The local Bedrock server answers every call with an error whose text quotes the request
headers: the Authorization header (access key ID) and the session token. Stdout, stderr, the
run store, the reports and `check`'s output must hold neither.
"""

from __future__ import annotations

import shutil

from bedrock_server import ACCESS_KEY, echo_headers

from genre_desktop.cli import main
from genre_desktop.core.resources import data_dir

TOKEN = "FwoGZXIvYXdzEXAMPLEsessiontoken0123456789abcdefTESTONLY"


def _every_file(folder) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_an_echoed_session_token_is_masked_everywhere(gtzan_dir, tmp_path, bedrock_server,
                                                     monkeypatch, capsys):
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    bedrock_server.default = echo_headers()
    songs = tmp_path / "songs" / "blues"
    songs.mkdir(parents=True)
    shutil.copy(gtzan_dir / "genres" / "blues" / "blues.00000.wav", songs)
    out = tmp_path / "out"
    main(["classify", str(songs.parent), "--backend", "bedrock", "--out", str(out),
          "--extract-workers", "1", "--no-progress"])
    text = capsys.readouterr()
    echoed = bedrock_server.converse_calls()[0].headers
    assert echoed["x-amz-security-token"] == TOKEN  # the token was really sent, and echoed
    printed = text.out + text.err
    assert "Headers were" in printed  # the echoed error is reported ...
    assert TOKEN not in printed and ACCESS_KEY not in printed  # ... masked
    written = _every_file(out) + _every_file(data_dir() / "runs")
    assert b"Headers were" in written
    assert TOKEN.encode() not in written and ACCESS_KEY.encode() not in written

    bedrock_server.queue(echo_headers(), times=10)
    main(["check"])  # the default, a current model (a retired one skips the inference)
    checked = capsys.readouterr()
    assert "Headers were" in checked.out + checked.err
    assert TOKEN not in checked.out + checked.err and ACCESS_KEY not in checked.out + checked.err

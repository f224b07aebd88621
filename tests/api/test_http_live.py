"""The HTTP layer against a real uvicorn (issue 14, item 9): slow heads and bodies are cut
off, ambiguous framing is refused and closed, gzip bodies are decoded and other codings
refused. The server runs with the options of README's production command (its host, port and
process count aside)."""

from __future__ import annotations

import gzip
import json
import shlex
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.live import ROOT, uvicorn_server

pytestmark = pytest.mark.timeout(60)

BODY = {"data": {"columns": ["a", "b"], "data": [[1.0, 2.0], [2.0, None], [3.0, 5.0], [4.0, 1.0]]}}


def readme_production_args() -> tuple[str, ...]:
    """The uvicorn options of README's production command, without --host, --port and --workers."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Production"):]
    start = section.index("```sh\n") + 6
    block = section[start : section.index("\n```", start)]
    words = shlex.split(block.replace("\\\n", " "))
    args = words[words.index("api.main:app") + 1 :]
    out: list[str] = []
    while args:
        word = args.pop(0)
        if word in ("--host", "--port", "--workers"):
            args.pop(0)
        else:
            out.append(word)
    return tuple(out)


def test_readme_production_command_uses_the_guarded_protocol() -> None:
    assert "api.http:GuardedH11Protocol" in readme_production_args()


def test_readme_systemd_unit_runs_the_production_command() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Production"):]
    unit = section[section.index("```ini\n"):]
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    command = (section[section.index("```sh\n") + 6:].split("\n```")[0]).replace("\\\n", " ")
    assert shlex.split(exec_start)[1:] == shlex.split(command)[shlex.split(command).index("api.main:app"):]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    env = {"IMPUTER_MAX_CONCURRENT_JOBS": "1", "IMPUTER_API_KEYS": "",
           "IMPUTER_HEADER_TIMEOUT_S": "1", "IMPUTER_BODY_TIMEOUT_S": "1"}
    with uvicorn_server(env, args=readme_production_args()) as (url, _):
        yield url, int(url.rsplit(":", 1)[1])


def _read_all(sock: socket.socket, limit_s: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (at most ``limit_s``)."""
    sock.settimeout(limit_s)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except ConnectionResetError:  # closed with our bytes unread: what came before still counts
        pass
    return out


def test_slowloris_connections_are_closed(server: tuple[str, int]) -> None:
    _, port = server
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    try:
        for s in socks:
            s.sendall(b"POST /v1/impute HTTP/1.1\r\nHost: x\r\n")
        for _ in range(2):  # a header line now and then, never the end of the head (deadline: 1 s)
            time.sleep(0.2)
            for s in socks:
                s.sendall(b"X-a: b\r\n")
        answers = [_read_all(s) for s in socks]
    finally:
        for s in socks:
            s.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[:2]


def test_slow_second_head_on_a_kept_alive_connection_is_408(server: tuple[str, int]) -> None:
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        first = s.recv(65536)
        s.sendall(b"GET /healthz HTTP/1.1\r\n")  # then nothing more
        answer = _read_all(s)
    both = first + answer  # (the first answer's body may come with the second read)
    assert both.startswith(b"HTTP/1.1 200 ") and both.count(b"HTTP/1.1 ") == 2 and b"HTTP/1.1 408 " in both, both


def test_stalled_body_is_408_and_closed(server: tuple[str, int]) -> None:
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /v1/impute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"data\":")
        answer = _read_all(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower(), head
    assert b"IMPUTER_BODY_TIMEOUT_S" in body


def test_content_length_with_transfer_encoding_is_400_and_closed(server: tuple[str, int]) -> None:
    _, port = server
    raw = json.dumps(BODY).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(raw), raw)
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /v1/impute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s" % (len(chunked), chunked)
                  + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # smuggled: never answered
        answer = _read_all(s)  # returns: the server closed the connection
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert answer.count(b"HTTP/1.1") == 1
    assert b"ambiguous framing" in answer


def test_gzip_body_is_decoded_and_brotli_refused(server: tuple[str, int]) -> None:
    url, _ = server
    raw = json.dumps(BODY).encode()
    plain = httpx.post(f"{url}/v1/impute", content=raw, headers={"content-type": "application/json"}, timeout=30)
    zipped = httpx.post(f"{url}/v1/impute", content=gzip.compress(raw),
                        headers={"content-type": "application/json", "content-encoding": "gzip"}, timeout=30)
    assert plain.status_code == 200 and zipped.status_code == 200, zipped.text
    assert zipped.json()["completed"] == plain.json()["completed"]
    br = httpx.post(f"{url}/v1/impute", content=raw, headers={"content-type": "application/json", "content-encoding": "br"},
                    timeout=30)
    assert br.status_code == 415 and br.headers["content-type"].startswith("application/problem+json")
    assert "Unsupported Content-Encoding 'br'" in br.json()["detail"]


def test_corrupt_gzip_body_is_400(server: tuple[str, int]) -> None:
    url, _ = server
    bad = gzip.compress(json.dumps(BODY).encode())[:-12]
    r = httpx.post(f"{url}/v1/impute", content=bad,
                   headers={"content-type": "application/json", "content-encoding": "gzip"}, timeout=30)
    assert r.status_code == 400 and "The gzip body (Content-Encoding) is cut short" in r.json()["detail"], r.text

"""The HTTP service against hostile requests, on real servers: projects outside the served folder or not regular
files, names and bodies that broke it (too long, NUL, NaN, lone surrogates, 10 MB), foreign Host and Origin
headers (DNS rebinding), the page's security headers. Every case is a 4xx with a message, none hangs, and the
server's memory stays under 500 MB."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.service_helpers import peak_memory_mb, serve_process, serving, wait_for

MB = 1_000_000


def post_json(client: httpx.Client, path: str, text: str) -> httpx.Response:
    """POST a raw JSON text (it may hold NaN or escapes a JSON encoder would not write)."""
    return client.post(path, content=text.encode(), headers={"Content-Type": "application/json"})


def chunks(total: int, size: int = 64 * 1024):
    """A body sent chunked, with no Content-Length: the server must count it as it comes."""
    for _ in range(total // size):
        yield b"x" * size


def test_hostile_requests_are_4xx_with_a_message_and_memory_stays_bounded(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    os.mkfifo(served / "fifo.yaml")
    (served / "folder.yaml").mkdir()
    (served / "big.yaml").write_bytes(b"# " + b"x" * (2 * MB) + b"\n")
    (served / "zero.yaml").symlink_to("/dev/zero")
    (served / "passwd.yaml").symlink_to("/etc/passwd")
    (served / "loop.yaml").symlink_to(served / "loop.yaml")
    (served / "pool.jsonl").write_text('{"id": "1", "text": "a"}\n')
    (served / "long.yaml").write_text(f"name: {'n' * 300}\npool: pool.jsonl\nlabels: [a, b]\n")
    cases = {  # project -> (status, words in the message)
        "/dev/zero": (403, "only project files inside"),
        "/etc/passwd": (403, "only project files inside"),
        "../outside.yaml": (403, "only project files inside"),
        "zero.yaml": (403, "only project files inside"),  # a symlink out of the folder
        "passwd.yaml": (403, "only project files inside"),
        "fifo.yaml": (422, "not a regular file"),
        "folder.yaml": (422, "not a regular file"),
        ".": (422, "not a regular file"),
        "": (422, "give the path of a project file"),
        "a\x00b": (422, "no NUL"),
        "p" * 5000: (422, "at most 4096 characters"),
        "loop.yaml": (422, "cannot be opened"),
        "missing.yaml": (422, "cannot be opened"),
        "big.yaml": (422, "over the limit"),
        "long.yaml": (422, "too long"),
    }
    with serve_process(served) as (url, process), httpx.Client(base_url=url, timeout=20) as client:
        for project, (code, words) in cases.items():
            answer = client.post("/runs", json={"project": project})
            assert answer.status_code == code and words in answer.json()["detail"], (project[:40], answer.text)
        long_name = "r" * 300
        for path in (f"/runs/{long_name}", f"/runs/{long_name}/reviews", f"/runs/{'x' * 5000}", "/runs/a%00b"):
            answer = client.get(path)
            assert answer.status_code == 404 and "no run named" in answer.json()["detail"], answer.text
        for body in (
            '{"project": NaN}',
            '{"project": "p.yaml", "start": NaN}',
            '{"project": "\\ud83d.yaml"}',
            '{"project": ',
            "[]",
        ):
            answer = post_json(client, "/runs", body)
            assert answer.status_code == 422 and answer.json()["detail"], (body, answer.text)
        for body in ('{"answers": [{"id": "a", "label": NaN}]}', '{"answers": [{"id": "\\ud83d", "label": "a"}]}'):
            answer = post_json(client, f"/runs/{long_name}/answers", body)
            assert answer.status_code == 422 and answer.json()["detail"], answer.text

        big = b'{"project": "' + b"x" * (10 * MB) + b'"}'
        declared = client.post("/runs", content=big, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and "over the limit" in declared.json()["detail"]
        streamed = client.post("/runs", content=chunks(10 * MB), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413 and "over the limit" in streamed.json()["detail"]

        def flood(n: int) -> int:  # eight clients post 10 MB at once, without a Content-Length
            with httpx.Client(base_url=url, timeout=60) as own:
                return own.post("/runs/x/answers", content=chunks(10 * MB)).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(flood, range(8))) == {413}
        assert client.get("/runs").status_code == 200  # still serving
        peak = peak_memory_mb(process.pid)
    assert peak < 500, f"the server grew to {peak:.0f} MB"


def test_bad_answer_bodies_are_422_and_record_nothing(make_project, tmp_path):
    project = make_project(budget=20)
    with serving(tmp_path / "runs") as url, httpx.Client(base_url=url, timeout=60) as client:
        name = client.post("/runs", json={"project": str(project)}).json()["name"]
        wait_for(client, name, {"paused"})
        first, second = [item["id"] for item in client.get(f"/runs/{name}/reviews").json()[:2]]
        path = f"/runs/{name}/answers"
        twice = {"answers": [{"id": first, "label": "positive"}, {"id": first, "label": "negative"}]}
        duplicate = client.post(path, json=twice)
        assert duplicate.status_code == 422 and f"item '{first}' is answered twice" in duplicate.json()["detail"]
        bodies = [
            f'{{"answers": [{{"id": "{first}", "label": NaN}}]}}',
            f'{{"answers": [{{"id": "{first}", "label": "positive"}}], "reviewer": NaN}}',
            f'{{"answers": [{{"id": "{first}", "label": "positive"}}], "reviewer": "\\ud83d"}}',
            f'{{"answers": [{{"id": "{first}", "label": "\\udc00"}}]}}',
            f'{{"answers": [{{"id": "{first}\\ud83d", "label": "positive"}}]}}',
        ]
        for body in bodies:
            answer = post_json(client, path, body)
            assert answer.status_code == 422 and answer.json()["detail"], (body, answer.text)
        status = client.get(f"/runs/{name}").json()
        assert status["answered"] == [] and first in status["pending"]
        ok = client.post(path, json={"answers": [{"id": first, "label": "positive"}, {"id": second, "label": None}]})
        assert ok.status_code == 200 and ok.json()["recorded"] == 2


def test_a_tokenless_server_answers_only_its_own_host_and_origin(tmp_path):
    with serving(tmp_path / "runs") as url:
        port = url.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            assert httpx.get(f"{url}/runs", headers={"Host": host}).status_code == 200
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{int(port) + 1}", "127.0.0.1"):
            refused = httpx.get(f"{url}/runs", headers={"Host": host})
            assert refused.status_code == 400 and "is not this server" in refused.json()["detail"], host
            assert httpx.get(f"{url}/", headers={"Host": host}).status_code == 400
        body = {"project": "nope.yaml"}
        for origin in (f"http://evil.example:{port}", "null", f"http://localhost:{int(port) + 1}"):
            refused = httpx.post(f"{url}/runs", json=body, headers={"Origin": origin})
            assert refused.status_code == 403 and "may not write here" in refused.json()["detail"], origin
            assert httpx.delete(f"{url}/runs/x/answers/y", headers={"Origin": origin}).status_code == 403
        same = httpx.post(f"{url}/runs", json=body, headers={"Origin": f"http://127.0.0.1:{port}"})
        assert same.status_code == 422 and "cannot be opened" in same.json()["detail"]  # past the guard
        reading = httpx.get(f"{url}/runs", headers={"Origin": "http://evil.example"})
        assert reading.status_code == 200  # a read from elsewhere gets no CORS header: the browser hides it
        assert "access-control-allow-origin" not in reading.headers
    with serving(tmp_path / "runs", allowed_hosts=["labels.example"]) as url:
        assert httpx.get(f"{url}/runs", headers={"Host": "labels.example"}).status_code == 200
        assert httpx.get(f"{url}/runs", headers={"Host": "evil.example"}).status_code == 400
    with serving(tmp_path / "runs", allowed_hosts=["*"]) as url:
        assert httpx.get(f"{url}/runs", headers={"Host": "evil.example"}).status_code == 200


def test_with_a_token_any_host_is_answered_but_only_with_the_token(tmp_path):
    with serving(tmp_path / "runs", token="s3cret") as url:
        good = {"Authorization": "Bearer s3cret", "Host": "labels.example:443"}
        assert httpx.get(f"{url}/runs", headers=good).status_code == 200
        assert httpx.get(f"{url}/runs", headers={"Host": "labels.example:443"}).status_code == 401


def test_the_page_carries_a_content_security_policy_it_works_under(tmp_path):
    with serving(tmp_path / "runs") as url:
        page = httpx.get(f"{url}/")
        api = httpx.get(f"{url}/runs")
    assert page.status_code == 200
    assert page.headers["x-content-type-options"] == "nosniff" == api.headers["x-content-type-options"]
    assert page.headers["x-frame-options"] == "DENY"
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'" and "unsafe-inline" not in page.headers["content-security-policy"]
    script = re.search(r"<script>(.*?)</script>", page.text, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"  # the page's own script runs, no other


@pytest.mark.parametrize("size", [MB - 100, MB + 1])
def test_the_body_limit_is_counted_in_bytes(tmp_path, size):
    with serving(tmp_path / "runs") as url:
        body = json.dumps({"project": "x" * (size - 15)}).encode()
        answer = httpx.post(f"{url}/runs", content=body, headers={"Content-Type": "application/json"}, timeout=20)
    assert answer.status_code == (413 if len(body) > MB else 422), answer.text


def generated_requests(seed: int, count: int) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """``count`` hostile requests (method, path, body, headers), the same for the same seed."""
    import random
    from urllib.parse import quote

    rng = random.Random(seed)
    odd = ["", "\x00", "\\ud83d", "\\udc00", "..", "/", "%00", "%2e%2e", "\u202e", "\U0001f600", "'", '"', "\\"]

    def text() -> str:
        parts = [rng.choice(odd) if rng.random() < 0.4 else "x" * rng.choice([1, 10, 255, 256, 5000]) for _ in range(3)]
        return "".join(parts)

    def value() -> str:
        return rng.choice(
            [
                json.dumps(text())[1:-1].join('""'),
                f'"{rng.choice(odd)}"',
                "NaN",
                "-Infinity",
                "1e999",
                str(rng.randint(-(2**70), 2**70)),
                "null",
                "true",
                "[]",
                "{}",
                "[" * 3000 + "]" * 3000,
                '{"a":' * 3000 + "1" + "}" * 3000,
            ]
        )

    cases = []
    for _ in range(count):
        kind = rng.choice(["project", "answers", "name", "path", "raw"])
        headers = {"Content-Type": "application/json"}
        if kind == "project":
            cases.append(("POST", "/runs", f'{{"project": {value()}, "start": {value()}}}'.encode(), headers))
        elif kind == "answers":
            answer = f'{{"id": {value()}, "label": {value()}}}'
            body = f'{{"answers": [{answer}, {answer}], "reviewer": {value()}}}'.encode()
            cases.append(("POST", f"/runs/{rng.choice(['x', 'r' * 300])}/answers", body, headers))
        elif kind == "name":
            raw = rng.choice(["", "%00", "%ED%A0%BD", "%FF", "%2F..%2F", "%2e%2e"])  # NUL, a surrogate, not UTF-8
            name = "/runs/" + quote(text(), safe="") + raw
            suffix = rng.choice(["", "/reviews", "/metrics", "/export?format=" + quote(text()[:50], safe=""), "/step"])
            cases.append((rng.choice(["GET", "POST", "DELETE"]), name + suffix, b"", {}))
        elif kind == "path":
            target = rng.choice(["/dev/zero", "/dev/random", "/proc/self/mem", "/etc/shadow", "fifo.yaml", "."])
            cases.append(("POST", "/runs", json.dumps({"project": target}).encode(), headers))
        else:
            cases.append(("POST", "/runs", bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 10, 1000]))), {}))
    return cases


def test_a_few_hundred_generated_hostile_requests_get_no_5xx_and_no_hang(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    os.mkfifo(folder / "fifo.yaml")
    cases = generated_requests(seed=10, count=300)
    codes: dict[int, int] = {}
    with serving(folder / "runs") as url, httpx.Client(base_url=url, timeout=10) as client:
        for method, path, body, headers in cases:
            answer = client.request(method, path, content=body, headers=headers)  # a hang is a ReadTimeout
            codes[answer.status_code] = codes.get(answer.status_code, 0) + 1
            assert answer.status_code < 500, (method, path[:80], body[:80], answer.text[:200])
            if answer.status_code >= 400:
                assert answer.json()["detail"], (method, path[:80], body[:80])
    assert sum(codes.values()) == 300 and all(code >= 400 for code in codes), codes

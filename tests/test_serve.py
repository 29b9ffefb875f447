"""`sleeprx serve` for real: a uvicorn server in a subprocess, called over loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from sleeprx.survey.read import shipped_survey_path

TOKEN = "a-test-token-of-some-length"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], out=subprocess.PIPE) -> subprocess.Popen:
    """The server; ``out`` takes its log (a long-lived server's log goes to a file: a
    pipe nobody reads fills and stalls it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "sleeprx", "serve", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )


@contextlib.contextmanager
def _serving(model_dir, folder, *extra: str):
    """A server with a token (its log checked for answers when it stops) and an
    authorised client of it."""
    token_file, log_file = folder / "token", folder / "server.log"
    token_file.write_text(TOKEN + "\n")
    port = _free_port()
    args = ["--model", str(model_dir), "--port", str(port), "--token-file", str(token_file)]
    log = log_file.open("wb")
    proc = _start([*args, *extra], out=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # a busy machine loads the model slowly
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the server did not start: {log_file.read_text()}")
        time.sleep(0.2)
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    client.process = proc
    yield client
    client.close()
    proc.terminate()
    proc.wait(timeout=30)
    log.close()
    assert "Stress Level" not in log_file.read_text()  # counts and timings, no answers


@pytest.fixture(scope="module")
def server(small_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    with _serving(small_model_dir, folder, "--max-body-bytes", "20000", "--max-people", "5") as c:
        yield c


@pytest.fixture(scope="module")
def pooled(small_model_dir, tmp_path_factory):
    """A server with two solver processes behind its HTTP process."""
    with _serving(small_model_dir, tmp_path_factory.mktemp("pooled"), "--workers", "2") as c:
        yield c


@pytest.fixture(scope="module")
def people():
    """The shipped survey's rows as an app sends them: one JSON object per person."""
    raw = pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False)
    return raw.to_dict(orient="records")


def test_one_person_gets_the_row_prescribe_writes(server, people, small_model):
    from sleeprx.prescribing.run import prescribe

    response = server.post("/prescribe", json={"people": people[:1]})
    assert response.status_code == 200
    (row,) = response.json()["prescriptions"]
    expected = prescribe(pd.DataFrame(people[:1]), small_model)
    assert row["person_id"] == int(people[0]["Person ID"]) == expected["person_id"].iloc[0]
    assert row["status"] == expected["status"].iloc[0]
    assert row["advice"] == expected["advice"].iloc[0]
    assert row["p_before"] == pytest.approx(expected["p_before"].iloc[0])


def test_many_people_with_an_invalid_one_get_an_error_row(server, people):
    sent = [dict(p) for p in people[:4]]
    sent[2]["Stress Level"] = "14"
    response = server.post("/prescribe", json={"people": sent, "settings": {"max_changes": 1}})
    assert response.status_code == 200
    rows = response.json()["prescriptions"]
    assert [r["status"] == "error" for r in rows] == [False, False, True, False]
    assert "column 'Stress Level': 14 is outside 1..10" in rows[2]["advice"]
    assert all(r["n_changes"] <= 1 for r in rows if r["status"] != "error")


def test_a_request_may_ask_for_the_n_best_plans(server, people, small_model):
    from sleeprx.prescribing.run import prescribe
    from sleeprx.settings import PrescribeSettings

    response = server.post("/prescribe", json={"people": people[:2], "settings": {"options": 3}})
    assert response.status_code == 200
    rows = response.json()["prescriptions"]
    expected = prescribe(
        pd.DataFrame(people[:2]), small_model, settings=PrescribeSettings(options=3)
    )
    assert [(r["person_id"], r["option"]) for r in rows] == list(
        zip(expected["person_id"], expected["option"], strict=True)
    )
    assert [r["advice"] for r in rows] == expected["advice"].tolist()
    assert (
        server.post(
            "/prescribe", json={"people": people[:1], "settings": {"options": 0}}
        ).status_code
        == 422
    )


@pytest.mark.parametrize("served", ["server", "pooled"])
def test_concurrent_requests_each_get_their_own_answer(served, request, people, small_model):
    """Requests in flight at once queue for the solver thread, or for the first free
    solver process; each answer is its own person's, and a bad request among them is
    refused alone, its message carried back from the process that read it."""
    from concurrent.futures import ThreadPoolExecutor

    from sleeprx.prescribing.run import prescribe

    server = request.getfixturevalue(served)

    sent = [dict(p) for p in people[10:18]]
    sent[3]["Stress Level"] = "14"
    url, headers = f"{server.base_url}/prescribe", server.headers

    def ask(person: dict) -> httpx.Response:
        return httpx.post(url, json={"people": [person]}, headers=headers, timeout=60)

    with ThreadPoolExecutor(len(sent)) as pool:
        responses = list(pool.map(ask, sent))
    assert [r.status_code for r in responses] == [200, 200, 200, 422, 200, 200, 200, 200]
    good = [p for i, p in enumerate(sent) if i != 3]
    expected = prescribe(pd.DataFrame(good), small_model)
    rows = [r.json()["prescriptions"] for i, r in enumerate(responses) if i != 3]
    assert [len(r) for r in rows] == [1] * len(good)
    assert [r[0]["person_id"] for r in rows] == [int(p["Person ID"]) for p in good]
    assert [r[0]["advice"] for r in rows] == expected.set_index("person_id").loc[
        [int(p["Person ID"]) for p in good], "advice"
    ].tolist()


def test_the_load_generators_count_only_right_answers(server, people):
    """bench_serve.py's clients: a 200 with one prescription for the person sent is an
    answer; a 401, or a body for someone else, is an error."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_serve import CLIENTS, correct

    url, plan = str(server.base_url), [[0, 1], [2], [3, 4]]
    for name, load in CLIENTS.items():
        assert [ok for _, ok in load(url, TOKEN, people, plan)] == [True] * 5, name
        assert [ok for _, ok in load(url, "wrong-token-of-some-length", people, plan)] == [
            False
        ] * 5, name
    body = server.post("/prescribe", json={"people": people[:1]}).content
    person = int(people[0]["Person ID"])
    assert correct(200, body, person)
    assert not correct(200, body, person + 1)
    assert not correct(200, b'{"prescriptions": []}', person)
    assert not correct(422, body, person)


def test_a_bad_value_is_a_422_naming_the_column_and_value(server, people):
    person = dict(people[0]) | {"Stress Level": "14"}
    response = server.post("/prescribe", json={"people": [person]})
    assert response.status_code == 422
    assert "column 'Stress Level': 14 is outside 1..10" in response.json()["detail"]
    assert "Traceback" not in response.text


def test_settings_outside_the_request_subset_are_refused(server, people):
    for settings in ({"time_limit": 1e6}, {"highs_options": {"log_file": "x"}}, {"lam": -1}):
        response = server.post("/prescribe", json={"people": people[:1], "settings": settings})
        assert response.status_code == 422, settings


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-of-some-length", TOKEN])
def test_a_missing_or_wrong_token_is_a_401(server, people, header):
    headers = {"Authorization": header} if header else {}
    url = f"{server.base_url}/prescribe"
    response = httpx.post(url, json={"people": people[:1]}, headers=headers, timeout=60)
    assert response.status_code == 401
    assert httpx.get(f"{server.base_url}/description", headers=headers).status_code == 401
    assert httpx.get(f"{server.base_url}/health").status_code == 200  # open


def test_an_oversized_body_or_too_many_people_is_a_413(server, people):
    big = server.post("/prescribe", json={"people": people[:100]})
    assert (big.status_code, big.json()["detail"]) == (413, "request body over 20000 bytes")
    many = server.post("/prescribe", json={"people": people[:6]})
    assert (many.status_code, many.json()["detail"]) == (413, "6 people; at most 5")
    assert server.post("/prescribe", json={"people": people[:5]}).status_code == 200


def test_description_gives_levers_labels_units_and_safe_ranges(server, small_model):
    body = server.get("/description").json()
    levers = {lever["name"]: lever for lever in body["levers"]}
    assert list(levers) == list(small_model.description.modifiable_names)
    for factor in small_model.description.modifiable:
        lever = levers[factor.column]
        assert (lever["label"], lever["unit"]) == (factor.label, factor.unit)
        assert (lever["lower"], lever["upper"]) == (factor.safe_lower, factor.safe_upper)
    assert server.get("/openapi.json").json()["paths"].keys() >= {"/prescribe", "/description"}


def test_binding_beyond_loopback_without_a_token_is_refused(small_model_dir):
    proc = _start(["--model", str(small_model_dir), "--host", "0.0.0.0", "--port", "1"])
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "needs a bearer token" in out.decode()


def test_a_solver_process_that_dies_is_replaced(pooled, people):
    """Last in this file: it breaks the pooled server's first pool. The requests that
    meet the broken pool are a 503 saying so; a new pool answers the next ones."""
    import psutil

    solvers = [
        p
        for p in psutil.Process(pooled.process.pid).children()
        if "spawn_main" in " ".join(p.cmdline())
    ]
    assert len(solvers) == 2
    solvers[0].kill()
    solvers[0].wait(timeout=30)
    statuses = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = pooled.post("/prescribe", json={"people": people[:1]})
        statuses.append(response.status_code)
        if response.status_code == 200:
            break
        assert response.json()["detail"] == "a solver process stopped; send the request again"
    assert statuses[-1] == 200 and set(statuses[:-1]) <= {503}, statuses
    assert pooled.post("/prescribe", json={"people": people[1:2]}).status_code == 200

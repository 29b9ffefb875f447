"""A bounded load run of ``sleeprx serve``, on loopback only.

Starts ``python -m sleeprx serve`` on a free loopback port with a token, then sends
``--requests`` one-person ``POST /prescribe`` requests (people of the shipped survey
in turn) from ``--clients`` concurrent clients, each waiting for its answer before it
sends the next, and reports p50/p99 latency, requests per second, errors (a status
but 200, or a body that is not one prescription for the person sent) and the CPU time
per request of the load generator and of the server's processes. ``--before OLD_TREE``
first runs the same load against a server started from another sleeprx checkout (say
the commit before a change), so that both rows come from one run on the same machine.

The clients share the server's cores, so their CPU is part of what is measured:
``--client asyncio`` (the default) is one event loop holding a keep-alive connection
per client and speaking HTTP/1.1 itself (status line, Content-Length, the JSON body
parsed and checked); ``--client httpx`` is a thread per client, each with an
``httpx.Client``, which costs several times more CPU per request. Name both to compare
them in one run.

    python benchmarks/bench_serve.py --model MODEL [--workers 1] [--before OLD]
        [--client asyncio httpx] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import psutil
from common import (
    ROOT,
    command_head,
    load_average,
    machine_line,
    markdown,
    tree_label,
    write_blocks,
)

Result = tuple[float, bool]  # (latency in ms, a correct 200 answer)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    model: str, workers: int, token_file: Path, tree: Path = ROOT
) -> tuple[subprocess.Popen, str]:
    """The server and its base URL, once ``/health`` answers. Its log goes to a file
    beside the token: a pipe nobody reads would fill and stall the server."""
    port = _free_port()
    command = [sys.executable, "-m", "sleeprx", "serve", "--model", model, "--port", str(port)]
    command += ["--workers", str(workers), "--token-file", str(token_file)]
    env = os.environ | {"PYTHONPATH": str(tree)}
    log_file = (token_file.parent / "server.log").open("wb")
    # in the tree's folder: ``python -m`` puts the working folder first on sys.path
    proc = subprocess.Popen(command, env=env, cwd=tree, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    log_text = (token_file.parent / "server.log").read_text(errors="replace")
    raise SystemExit(f"the server did not start: {log_text[-2000:]}")


def server_cpu(proc: subprocess.Popen) -> float:
    """CPU seconds (user + system) used so far by the server and its worker processes."""
    try:
        tree = [psutil.Process(proc.pid)]
        tree += tree[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0.0
    for process in tree:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def connection_split(proc: subprocess.Popen, port: int) -> str:
    """The clients' connections held by each process that accepts them, most first
    ("5/3" for two uvicorn workers; one number for one HTTP process): the kernel gives
    each new connection to one of them, and a keep-alive one stays there."""
    held = {}
    try:
        tree = [psutil.Process(proc.pid)]
        tree += tree[0].children(recursive=True)
        for process in tree:
            sockets = [c for c in process.net_connections("tcp") if c.laddr.port == port]
            if any(c.status == psutil.CONN_LISTEN for c in sockets):  # a worker, or uvicorn
                held[process.pid] = sum(c.status == psutil.CONN_ESTABLISHED for c in sockets)
    except psutil.Error:
        return "?"
    if len(held) > 1:  # uvicorn's supervisor listens too, and serves nobody
        held.pop(proc.pid, None)
    return "/".join(str(n) for n in sorted(held.values(), reverse=True))


def _held(split: str) -> int:
    return sum(int(n) for n in split.split("/") if n.isdigit())


def correct(status: int, payload: bytes, person_id: int) -> bool:
    """A 200 whose body holds one prescription, for the person sent."""
    if status != 200:
        return False
    try:
        rows = json.loads(payload)["prescriptions"]
    except (ValueError, KeyError, TypeError):
        return False
    return len(rows) == 1 and rows[0].get("person_id") == person_id


# ----------------------------------------------------------------------- the clients


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response: its status, its body (by Content-Length) and whether the
    server keeps the connection open."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:  # uvicorn sends it for every answer here
        raise ValueError(f"a response without Content-Length: {head[:3]}")
    body = await reader.readexactly(int(headers["content-length"]))
    return status, body, headers.get("connection", "").lower() != "close"


def asyncio_load(url: str, token: str, people: list[dict], plan: list[list[int]]) -> list[Result]:
    """The requests of ``plan`` (one list of people per client) from one event loop,
    one keep-alive connection per client."""
    host, port = url.removeprefix("http://").split(":")
    bodies = [json.dumps({"people": [p]}).encode() for p in people]
    head = (
        f"POST /prescribe HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}"
        "\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n"
    )

    async def client(indices: list[int]) -> list[Result]:
        out: list[Result] = []
        stream = None
        for i in indices:
            body, start = bodies[i % len(bodies)], time.perf_counter()
            try:
                stream = stream or await asyncio.open_connection(host, int(port))
                stream[1].write(head.format(len(body)).encode() + body)
                status, payload, keep = await read_response(stream[0])
                ok = correct(status, payload, int(people[i % len(people)]["Person ID"]))
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                ok, keep = False, False
            out.append(((time.perf_counter() - start) * 1e3, ok))
            if not keep and stream is not None:
                stream[1].close()
                stream = None
        if stream is not None:
            stream[1].close()
        return out

    async def everyone() -> list[Result]:
        parts = await asyncio.gather(*(client(indices) for indices in plan))
        return [r for part in parts for r in part]

    return asyncio.run(everyone())


def httpx_load(url: str, token: str, people: list[dict], plan: list[list[int]]) -> list[Result]:
    """The requests of ``plan`` from a thread per client, each with an ``httpx.Client``."""

    def client(indices: list[int]) -> list[Result]:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            out = []
            for i in indices:
                person = people[i % len(people)]
                start = time.perf_counter()
                try:
                    response = http.post("/prescribe", json={"people": [person]})
                    ok = correct(response.status_code, response.content, int(person["Person ID"]))
                except httpx.HTTPError:
                    ok = False
                out.append(((time.perf_counter() - start) * 1e3, ok))
            return out

    with ThreadPoolExecutor(len(plan)) as pool:
        return [r for part in pool.map(client, plan) for r in part]


CLIENTS: dict[str, Callable[[str, str, list[dict], list[list[int]]], list[Result]]] = {
    "asyncio": asyncio_load,
    "httpx": httpx_load,
}


def load_run(
    server: subprocess.Popen,
    url: str,
    token: str,
    people: list[dict],
    requests: int,
    clients: int,
    client: str = "asyncio",
) -> dict:
    """Send the requests; latencies in ms, the wall time, the errors, the CPU ms per
    request of this process (the clients) and of the server, and how the server's
    processes held the clients' connections."""
    plan = [list(range(c, requests, clients)) for c in range(clients)]
    done, splits = threading.Event(), []
    port = int(url.rsplit(":", 1)[1])

    def look() -> None:  # every half second: the clients connect when they first send
        while not done.wait(0.5):
            splits.append(connection_split(server, port))

    looking = threading.Thread(target=look)
    looking.start()
    start, cpu, served = time.perf_counter(), time.process_time(), server_cpu(server)
    results = CLIENTS[client](url, token, people, plan)
    wall = time.perf_counter() - start
    done.set()
    looking.join()
    cpu, served = time.process_time() - cpu, server_cpu(server) - served
    latencies = sorted(ms for ms, _ in results)
    return {
        "requests": len(results),
        "errors": sum(not ok for _, ok in results),
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "rps": len(results) / wall,
        "wall": wall,
        "client_cpu": cpu / len(results) * 1e3,
        "server_cpu": served / len(results) * 1e3,
        "split": max(splits, key=_held, default="?"),  # the look that saw every client
    }


HEADER = ["tree", "client", "workers", "clients", "requests", "errors", "p50 ms", "p99 ms"]
HEADER += ["req/s", "client CPU ms/req", "server CPU ms/req", "connections per HTTP process"]


def run_tree(args: argparse.Namespace, tree: Path, token_file: Path, people: list[dict]):
    """One result per client of ``args.client``, against a server from ``tree``."""
    token = token_file.read_text()
    proc, url = start_server(args.model, args.workers, token_file, tree)
    try:
        results = []
        for client in args.client:
            load_run(proc, url, token, people, 50, args.clients, client)  # warm every worker
            results.append(load_run(proc, url, token, people, args.requests, args.clients, client))
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def row(label: str, client: str, args: argparse.Namespace, r: dict) -> list[str]:
    """A row of :data:`HEADER`."""
    counts = [args.workers, args.clients, r["requests"], r["errors"]]
    figures = [f"{r[key]:.1f}" for key in ("p50", "p99")] + [f"{r['rps']:.0f}"]
    figures += [f"{r[key]:.1f}" for key in ("client_cpu", "server_cpu")]
    return [label, client, *map(str, counts), *figures, r["split"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder written by 'sleeprx train'")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--client", nargs="+", choices=list(CLIENTS), default=["asyncio"])
    parser.add_argument("--before", type=Path, help="another sleeprx checkout to load first")
    parser.add_argument("--write", action="store_true", help="write the table to BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.model = str(Path(args.model).resolve())  # the server runs in its tree's folder
    from sleeprx.survey.read import shipped_survey_path

    raw = pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False)
    people = raw.to_dict(orient="records")
    trees = ({tree_label("before", args.before): args.before} if args.before else {}) | {
        "this tree": ROOT
    }
    load = load_average()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        token_file = Path(folder) / "token"
        token_file.write_text(secrets.token_urlsafe(32))
        for label, tree in trees.items():
            results = run_tree(args, tree, token_file, people)
            rows += [row(label, c, args, r) for c, r in zip(args.client, results, strict=True)]
    text = (
        f"{command_head('bench_serve.py', argv)} Load average at the start: {load}, at the "
        f"end: {load_average()}, on {machine_line(['xgboost', 'HiGHS (highspy)'])}; the "
        f"clients run on the same cores. Targets: 0 errors, p99 <= 50 ms, >= 150 req/s.\n\n"
        + markdown(HEADER, rows, numeric=True)
    )
    print(text)
    if args.write:
        write_blocks(
            "serve",
            "The HTTP service under load (bench_serve.py)",
            "One-person `POST /prescribe` requests over loopback, surrogate mode, from "
            "clients that each wait for an answer before sending the next.",
            {f"workers_{args.workers}": text},
        )


if __name__ == "__main__":
    main()

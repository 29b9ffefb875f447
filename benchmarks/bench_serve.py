"""A bounded load run of ``sleeprx serve``, on loopback only.

Starts ``python -m sleeprx serve`` on a free loopback port with a token, then sends
``--requests`` one-person ``POST /prescribe`` requests (people of the shipped survey
in turn) from ``--clients`` concurrent clients, and reports p50/p99 latency,
requests per second and errors (any status but 200). ``--before OLD_TREE`` first runs
the same load against a server started from another sleeprx checkout (say the commit
before a change), so that both rows come from one run on the same machine.

    python benchmarks/bench_serve.py --model MODEL [--workers 1] [--before OLD] [--write]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
from common import (
    ROOT,
    command_head,
    load_average,
    machine_line,
    markdown,
    tree_label,
    write_blocks,
)


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


def load_run(url: str, token: str, people: list[dict], requests: int, clients: int) -> dict:
    """Send the requests; latencies in ms, the wall time and the errors."""
    per_client = [list(range(c, requests, clients)) for c in range(clients)]

    def client(indices: list[int]) -> list[tuple[float, int]]:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            out = []
            for i in indices:
                body = {"people": [people[i % len(people)]]}
                start = time.perf_counter()
                try:
                    status = http.post("/prescribe", json=body).status_code
                except httpx.HTTPError:
                    status = 0
                out.append(((time.perf_counter() - start) * 1e3, status))
            return out

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for part in pool.map(client, per_client) for r in part]
    wall = time.perf_counter() - start
    latencies = sorted(ms for ms, _ in results)
    return {
        "requests": len(results),
        "errors": sum(status != 200 for _, status in results),
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "rps": len(results) / wall,
        "wall": wall,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder written by 'sleeprx train'")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--before", type=Path, help="another sleeprx checkout to load first")
    parser.add_argument("--write", action="store_true", help="write the table to BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.model = str(Path(args.model).resolve())  # the server runs in its tree's folder
    from sleeprx.survey.read import shipped_survey_path

    raw = pd.read_csv(shipped_survey_path(), dtype=str, keep_default_na=False)
    people = raw.to_dict(orient="records")
    token = secrets.token_urlsafe(32)
    trees = ({tree_label("before", args.before): args.before} if args.before else {}) | {
        "this tree": ROOT
    }
    load = load_average()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        token_file = Path(folder) / "token"
        token_file.write_text(token)
        for label, tree in trees.items():
            proc, url = start_server(args.model, args.workers, token_file, tree)
            try:
                load_run(url, token, people, 50, args.clients)  # warm every worker
                r = load_run(url, token, people, args.requests, args.clients)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            rows.append([label, str(args.workers), str(args.clients), str(r["requests"])])
            rows[-1] += [str(r["errors"]), f"{r['p50']:.1f}", f"{r['p99']:.1f}", f"{r['rps']:.0f}"]
    header = ["tree", "workers", "clients", "requests", "errors", "p50 ms", "p99 ms", "req/s"]
    text = (
        f"{command_head('bench_serve.py', argv)} Load average at the start: {load}, at the "
        f"end: {load_average()}, on {machine_line(['xgboost', 'HiGHS (highspy)'])}; the "
        f"clients run on the same cores. Targets: 0 errors, p99 <= 50 ms, >= 150 req/s.\n\n"
        + markdown(header, rows, numeric=True)
    )
    print(text)
    if args.write:
        write_blocks(
            "serve",
            "The HTTP service under load (bench_serve.py)",
            "One-person `POST /prescribe` requests over loopback, surrogate mode.",
            {f"workers_{args.workers}": text},
        )


if __name__ == "__main__":
    main()

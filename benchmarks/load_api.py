"""Bounded load test of the REST service on loopback (127.0.0.1 only).

Starts ``uvicorn api.main:app`` on a free port (or uses ``--url`` of a server already
running on this machine), then for each scenario runs ``--clients`` concurrent
clients (httpx, asyncio) for ``--duration`` seconds, each posting the same
pre-serialised request in a loop, and stops by itself. Reports throughput, latency
percentiles (p50/p95/p99) and the count of non-2xx answers per status. During the
large scenario a probe also times ``GET /healthz`` (the event loop must stay free).

Baseline, measured in the same run: the library call itself (``imputer.impute`` on
the same table, in this process); the ratio p50 / baseline is the service overhead
(parsing, validation, process hop, JSON encoding, HTTP) plus queueing.

The started server runs with the guarded protocol (``--http api.http:GuardedH11Protocol``)
and the production default queue (256): ``--clients`` (40) small clients must all get 200.
Overload runs against a second server with 2 x workers waiting places and a 2 s queue
timeout, with ``--overload`` (5) times its capacity (workers + waiting places) in clients:
it reports the 503s with Retry-After and their latency. The memory scenario posts
``--burst`` (8) uploads of ``--burst-rows`` (100,000) rows at once and reports the RSS of
the server, the forkserver and the workers before and after; with ``--inflight-mb`` below
the burst's bytes, the uploads beyond it are refused (503) before they are read.

Scenarios: ``small`` = airquality (153 x 6, 44 missing cells) as JSON;
``large`` = 20,000 x 10 correlated normal table with MAR missingness in 5 columns
(missingness depends on the fully observed column c0), as JSON. The small table is
also run with a single client (its latency is the service time without queueing) and
with more clients than workers plus waiting places (``overload``): the excess is
answered 503 with Retry-After (clients back off 50 ms), latency of the accepted
requests stays bounded and ``/healthz`` keeps answering.

    python benchmarks/load_api.py --duration 8 --workers 2   # the figures of benchmarks/README.md

    python benchmarks/load_api.py            # 20 s per scenario
    python benchmarks/load_api.py --quick    # 4 s per scenario, 5,000-row large table
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._timing import machine, timed

AIRQUALITY = ROOT / "tests" / "data" / "airquality.csv"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# ---------------------------------------------------------------- data
def small_frame() -> pd.DataFrame:
    return pd.read_csv(AIRQUALITY)


def mar_frame(n: int, p: int = 10, seed: int = 2026) -> pd.DataFrame:
    """``n x p`` correlated normal; columns c5..c9 missing at random given c0 (about 25%)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((p, p)) / np.sqrt(p)
    x = rng.standard_normal((n, p)) @ (a + np.eye(p))
    frame = pd.DataFrame(np.round(x, 4), columns=[f"c{i}" for i in range(p)])
    z = (frame["c0"] - frame["c0"].mean()) / frame["c0"].std()
    for j in range(p // 2, p):
        prob = 1.0 / (1.0 + np.exp(-(-1.3 + 1.2 * z.to_numpy() * (1 if j % 2 else -1))))
        frame.loc[rng.random(n) < prob, f"c{j}"] = np.nan
    return frame


def json_body(frame: pd.DataFrame) -> bytes:
    return json.dumps({"data": json.loads(frame.to_json(orient="split"))}).encode()


# ---------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    workers: int, max_queue: int, timeout_s: float, queue_timeout_s: float | None = None, **settings: str
) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        **os.environ,
        **{f"IMPUTER_{k.upper()}": v for k, v in settings.items()},
        "PYTHONPATH": str(ROOT),
        "IMPUTER_MAX_CONCURRENT_JOBS": str(workers),
        "IMPUTER_MAX_QUEUE": str(max_queue),
        "IMPUTER_TIMEOUT_S": str(timeout_s),
        "IMPUTER_QUEUE_TIMEOUT_S": str(timeout_s if queue_timeout_s is None else queue_timeout_s),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log",
         "--http", "api.http:GuardedH11Protocol"],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"uvicorn exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return url, proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("uvicorn did not become ready within 60 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# ---------------------------------------------------------------- memory
def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (VmRSS; 0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):
        return 0.0


def descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except FileNotFoundError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    kids = [int(x) for x in fh.read().split()]
            except FileNotFoundError:
                continue
            for k in kids:
                if k not in found:
                    found.append(k)
                    stack.append(k)
    return found


def memory(pid: int) -> tuple[float, list[float]]:
    """RSS (MiB) of the server process and of each of its descendants (forkserver, workers)."""
    return rss_mb(pid), sorted((rss_mb(k) for k in descendants(pid)), reverse=True)


async def burst(base: str, body: bytes, uploads: int) -> Counter[int | str]:
    """``uploads`` large bodies posted at once; the statuses."""
    statuses: Counter[int | str] = Counter()
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0)) as client:
        async def one() -> None:
            try:
                r = await client.post(f"{base}/v1/impute", content=body, headers={"content-type": "application/json"})
                statuses[r.status_code] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
        await asyncio.gather(*[one() for _ in range(uploads)])
    return statuses


def memory_scenario(pid: int, base: str, rows: int, uploads: int) -> None:
    frame = mar_frame(rows)
    body = json_body(frame)
    before = memory(pid)
    t0 = time.perf_counter()
    statuses = asyncio.run(burst(base, body, uploads))
    elapsed = time.perf_counter() - t0
    time.sleep(1.0)
    after = memory(pid)
    print(f"\n[memory] burst of {uploads} uploads of {rows:,} x {frame.shape[1]} ({len(body) / 1e6:.1f} MB JSON) "
          f"in {elapsed:.1f} s: {dict(statuses)}")
    print(f"  RSS MiB server {before[0]:.0f} -> {after[0]:.0f}; forkserver and workers "
          f"{[round(x) for x in before[1]]} -> {[round(x) for x in after[1]]}")


# ---------------------------------------------------------------- load
@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # seconds, 2xx only
    statuses: Counter[int | str] = field(default_factory=Counter)
    elapsed: float = 0.0
    probe: list[float] = field(default_factory=list)  # /healthz latencies
    retry_after: list[float] = field(default_factory=list)  # Retry-After of the 503 answers
    refused: list[float] = field(default_factory=list)  # latencies of the non-2xx answers


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def client_loop(client: httpx.AsyncClient, url: str, body: bytes, end: float, run: Run) -> None:
    headers = {"content-type": "application/json"}
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        try:
            r = await client.post(url, content=body, headers=headers)
            status: int | str = r.status_code
            if status == 503 and "retry-after" in r.headers:
                run.retry_after.append(float(r.headers["retry-after"]))
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        dt = time.perf_counter() - t0
        run.statuses[status] += 1
        if isinstance(status, int) and 200 <= status < 300:
            run.latencies.append(dt)
        else:
            run.refused.append(dt)
        if status == 503:
            await asyncio.sleep(0.05)  # saturated: back off briefly, as a client honouring Retry-After would


async def probe_loop(client: httpx.AsyncClient, url: str, end: float, run: Run) -> None:
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        r = await client.get(url)
        if r.status_code == 200:
            run.probe.append(time.perf_counter() - t0)
        await asyncio.sleep(0.1)


async def load(base: str, body: bytes, clients: int, duration: float, probe: bool) -> Run:
    run = Run()
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0), limits=limits) as client:
        # warm-up: one request per worker slot, not measured
        await asyncio.gather(*[client.post(f"{base}/v1/impute", content=body,
                                           headers={"content-type": "application/json"})
                               for _ in range(min(clients, 2))])
        start = time.perf_counter()
        end = start + duration
        tasks = [client_loop(client, f"{base}/v1/impute", body, end, run) for _ in range(clients)]
        if probe:
            tasks.append(probe_loop(client, f"{base}/healthz", end, run))
        await asyncio.gather(*tasks)
        run.elapsed = time.perf_counter() - start
    return run


def baseline(frame: pd.DataFrame, repeats: int) -> float:
    import imputer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return timed(lambda: imputer.impute(frame), repeats)[0]


def report(name: str, shape: tuple[int, int], body: bytes, run: Run, base_s: float, clients: int) -> None:
    ok = len(run.latencies)
    non2xx = {k: v for k, v in run.statuses.items() if not (isinstance(k, int) and 200 <= k < 300)}
    p50 = pct(run.latencies, 50)
    print(f"\n[{name}] {shape[0]} x {shape[1]}, body {len(body) / 1e6:.2f} MB, {clients} clients, "
          f"{run.elapsed:.1f} s")
    print(f"  requests {sum(run.statuses.values())}, 2xx {ok}, non-2xx {sum(non2xx.values())} {dict(non2xx) or ''}")
    print(f"  throughput {ok / run.elapsed:8.2f} req/s")
    print(f"  latency ms  p50 {p50 * 1e3:8.1f}  p95 {pct(run.latencies, 95) * 1e3:8.1f}  "
          f"p99 {pct(run.latencies, 99) * 1e3:8.1f}  max {max(run.latencies, default=float('nan')) * 1e3:8.1f}")
    print(f"  baseline imputer.impute in-process {base_s * 1e3:.1f} ms; p50 / baseline = {p50 / base_s:.2f}")
    if run.refused:
        print(f"  non-2xx answered in ms: p50 {pct(run.refused, 50) * 1e3:.1f}, max {max(run.refused) * 1e3:.1f}; "
              f"503 with Retry-After: {len(run.retry_after)} (values {sorted(set(run.retry_after))[:6]})")
    if run.probe:
        print(f"  /healthz during load: n {len(run.probe)}, p50 {pct(run.probe, 50) * 1e3:.1f} ms, "
              f"p99 {pct(run.probe, 99) * 1e3:.1f} ms, max {max(run.probe) * 1e3:.1f} ms")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="base URL of a server already running on loopback (default: start one)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per scenario (default 20)")
    ap.add_argument("--clients", type=int, default=40, help="concurrent clients, small scenario (default 40)")
    ap.add_argument("--large-clients", type=int, default=4, help="concurrent clients, large scenario (default 4)")
    ap.add_argument(
        "--overload", type=float, default=5.0,
        help="clients of the overload scenario as a multiple of the capacity (workers + 2 x workers waiting "
        "places) of a second server with a 2 s queue timeout: expect 503s (default 5; 0 skips)",
    )
    ap.add_argument("--burst", type=int, default=8, help="large uploads at once in the memory scenario (default 8)")
    ap.add_argument("--burst-rows", type=int, default=100_000, help="rows of each upload of the burst (default 100000)")
    ap.add_argument("--large-rows", type=int, default=20_000, help="rows of the large table (default 20000)")
    ap.add_argument(
        "--inflight-mb", type=float, default=0,
        help="IMPUTER_MAX_INFLIGHT_BODY_BYTES of the started server in MB (default: the server's, 4 x the body "
        "limit); below burst x upload size, the burst's excess is refused (503) before it is read",
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes of the started server")
    ap.add_argument("--max-queue", type=int, default=256, help="IMPUTER_MAX_QUEUE of the started server (default 256)")
    ap.add_argument("--quick", action="store_true", help="4 s per scenario and a 5,000-row large table")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 4.0)
        args.large_rows = min(args.large_rows, 5_000)
        args.burst_rows = min(args.burst_rows, 20_000)
    if args.duration <= 0 or args.duration > 600:
        raise SystemExit("--duration must be in (0, 600] seconds")

    proc = None
    if args.url:
        host = urlparse(args.url).hostname or ""
        if host not in LOOPBACK:
            raise SystemExit(f"refusing to load {host!r}: only loopback (127.0.0.1, localhost) is allowed")
        base = args.url.rstrip("/")
    else:
        inflight = {"max_inflight_body_bytes": str(int(args.inflight_mb * 1e6))} if args.inflight_mb > 0 else {}
        base, proc = start_server(args.workers, args.max_queue, timeout_s=300, **inflight)
    try:
        print(f"server {base} ({'started here, ' + str(args.workers) + ' workers' if proc else 'external'}); "
              f"{machine()}")
        small = small_frame()
        large = mar_frame(args.large_rows)
        for name, frame, clients, probe, reps in [
            ("small, 1 client (service latency)", small, 1, False, 20),
            ("small", small, args.clients, False, 20),
            ("large", large, args.large_clients, True, 3),
        ]:
            if clients < 1:
                continue
            body = json_body(frame)
            run = asyncio.run(load(base, body, clients, args.duration, probe))
            report(name, frame.shape, body, run, baseline(frame, reps), clients)
        if proc is not None and args.burst > 0:
            memory_scenario(proc.pid, base, args.burst_rows, args.burst)
    finally:
        if proc is not None:
            stop_server(proc)
    if args.overload > 0 and not args.url:
        waiting = 2 * args.workers
        clients = int(round(args.overload * (args.workers + waiting)))
        base, proc = start_server(args.workers, waiting, timeout_s=300, queue_timeout_s=2.0)
        try:
            small = small_frame()
            body = json_body(small)
            run = asyncio.run(load(base, body, clients, args.duration, True))
            report(f"small, overload x{args.overload:g} (max queue {waiting}, queue timeout 2 s)", small.shape,
                   body, run, baseline(small, 20), clients)
        finally:
            stop_server(proc)


if __name__ == "__main__":
    main()

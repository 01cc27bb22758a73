"""The load generator: wrk (C, event loop, LuaJIT) with a script that sends each prepared request
exactly once — one pool member, one token, one Idempotency-Key per enrollment — counts every
status, and prints its figures in lines this module parses.

wrk's CPU time is measured from its rusage, so a report can show it was not the bottleneck.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huiminbao_bench.database import BenchSetupError

WRK_TIMEOUT = "30s"  # a slow answer is a slow answer (in p99), not a dropped one
MARKER = "HMB"

# Each wrk thread has its own Lua state. setup() numbers the threads; init() keeps every
# nthreads-th line of the requests file and pre-formats those requests; request() hands them out
# once each. If a thread runs out (the pool was too small) it sends GET /api/v1/health (answered
# 200, reported as "filler") and stops itself: no pool member ever enrolls twice.
LUA_SCRIPT = r"""
local thread_count = 0
local threads = {}

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local mode, nthreads = args[1], tonumber(args[2])
  statuses = {}
  samples = {}
  used = 0
  exhausted = 0
  requests = {}
  filler = wrk.format("GET", "/api/v1/health", {["Accept"] = "application/json"})
  if mode == "health" then
    static = filler
    expected = 200
    available = -1
    return
  end
  expected = 201
  local body_file = io.open(args[4], "rb")
  local body = body_file:read("*a")
  body_file:close()
  local index = 0
  for line in io.lines(args[3]) do
    if index % nthreads == tid then
      local token, key = line:match("^([^\t]+)\t([^\t]+)$")
      requests[#requests + 1] = wrk.format("POST", "/api/v1/enrollments", {
        ["Authorization"] = "Bearer " .. token,
        ["Idempotency-Key"] = key,
        ["Content-Type"] = "application/json",
        ["Accept"] = "application/json",
      }, body)
    end
    index = index + 1
  end
  available = #requests
end

function request()
  if static then
    return static
  end
  used = used + 1
  local next_request = requests[used]
  if next_request == nil then
    exhausted = exhausted + 1
    return filler
  end
  requests[used] = false
  return next_request
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status ~= expected and #samples < 5 then
    samples[#samples + 1] = key .. " " .. string.sub(string.gsub(body or "", "%s+", " "), 1, 240)
  end
  if exhausted > 0 then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local out = io.write
  out(string.format("HMB duration_us %d\n", summary.duration))
  out(string.format("HMB requests %d\n", summary.requests))
  out(string.format("HMB errors %d %d %d %d %d\n", summary.errors.connect, summary.errors.read,
      summary.errors.write, summary.errors.status, summary.errors.timeout))
  out(string.format("HMB latency_us %d %d %d %d %d %d %d\n", latency.mean, latency.max,
      latency:percentile(50.0), latency:percentile(90.0), latency:percentile(95.0),
      latency:percentile(99.0), latency:percentile(99.9)))
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      out(string.format("HMB status %s %d\n", status, count))
    end
    out(string.format("HMB pool %d %d\n", thread:get("available"), thread:get("exhausted")))
    for _, sample in ipairs(thread:get("samples")) do
      out("HMB sample " .. sample .. "\n")
    end
  end
end
"""


@dataclass
class LoadResult:
    label: str
    duration_s: float
    requests: int
    statuses: Counter[int]
    expected_status: int
    latency_ms: dict[str, float]
    socket_errors: dict[str, int]
    loadgen_cpu_s: float
    wall_s: float
    filler: int = 0
    pool_available: int = 0
    samples: list[str] = field(default_factory=list)

    @property
    def good(self) -> int:
        return self.statuses.get(self.expected_status, 0)

    @property
    def errors(self) -> int:
        """Answers other than the expected status (filler excluded), plus socket errors."""
        bad = sum(count for status, count in self.statuses.items()
                  if status != self.expected_status)
        return bad - self.filler + sum(self.socket_errors.values())

    @property
    def throughput(self) -> float:
        return self.good / self.duration_s if self.duration_s else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "duration_s": self.duration_s, "requests": self.requests,
                "statuses": dict(self.statuses), "throughput": self.throughput,
                "latency_ms": self.latency_ms, "errors": self.errors,
                "socket_errors": self.socket_errors, "loadgen_cpu_s": self.loadgen_cpu_s,
                "filler": self.filler}


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchSetupError("wrk is not installed: apt-get install -y wrk")
    return path


def write_script(workdir: Path) -> Path:
    path = workdir / "huiminbao-bench.lua"
    path.write_text(LUA_SCRIPT, encoding="utf-8")
    return path


def write_requests(workdir: Path, name: str, lines: list[tuple[str, str]],
                   body: dict[str, Any]) -> tuple[Path, Path]:
    """The requests file (token TAB Idempotency-Key, one line per enrollment) and the body."""
    requests_path = workdir / f"{name}.tsv"
    requests_path.write_text("".join(f"{token}\t{key}\n" for token, key in lines),
                             encoding="ascii")
    body_path = workdir / f"{name}.json"
    body_path.write_text(json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                         encoding="utf-8")
    return requests_path, body_path


def run_wrk(label: str, base_url: str, *, script: Path, duration_s: int, concurrency: int,
            threads: int = 2, requests_file: Path | None = None,
            body_file: Path | None = None) -> LoadResult:
    """One wrk run; bounded by its duration (plus a margin for the slowest answer)."""
    mode = "health" if requests_file is None else "enroll"
    command = [wrk_path(), "-t", str(threads), "-c", str(concurrency), "-d", f"{duration_s}s",
               "--timeout", WRK_TIMEOUT, "-s", str(script), base_url, "--", mode, str(threads)]
    if requests_file is not None and body_file is not None:
        command += [str(requests_file), str(body_file)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, check=False,  # noqa: S603
                               timeout=duration_s + 90)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}\n"
                           f"{completed.stdout[-2000:]}")
    return parse(label, completed.stdout, expected_status=200 if mode == "health" else 201,
                 loadgen_cpu_s=cpu, wall_s=wall)


def parse(label: str, output: str, *, expected_status: int, loadgen_cpu_s: float,
          wall_s: float) -> LoadResult:
    statuses: Counter[int] = Counter()
    latency: dict[str, float] = {}
    socket_errors: dict[str, int] = {}
    duration_s = 0.0
    requests = filler_requests = available = 0
    samples: list[str] = []
    for line in output.splitlines():
        if not line.startswith(MARKER + " "):
            continue
        _marker, kind, *rest = line.split(" ")
        if kind == "duration_us":
            duration_s = int(rest[0]) / 1e6
        elif kind == "requests":
            requests = int(rest[0])
        elif kind == "errors":
            connect, read, write, _status, timeout = (int(v) for v in rest)
            socket_errors = {name: value for name, value in (
                ("connect", connect), ("read", read), ("write", write), ("timeout", timeout))
                if value}
        elif kind == "latency_us":
            names = ("mean", "max", "p50", "p90", "p95", "p99", "p99.9")
            latency = {name: int(value) / 1000 for name, value in zip(names, rest, strict=True)}
        elif kind == "status":
            statuses[int(rest[0])] += int(rest[1])
        elif kind == "pool":
            available += max(0, int(rest[0]))
            filler_requests += int(rest[1])
        elif kind == "sample":
            samples.append(" ".join(rest))
    # Filler requests are health checks, answered 200; they are not enrollments.
    filler_requests = (min(filler_requests, statuses.get(200, 0)) if expected_status != 200
                       else 0)
    return LoadResult(label=label, duration_s=duration_s, requests=requests, statuses=statuses,
                      expected_status=expected_status, latency_ms=latency,
                      socket_errors=socket_errors, loadgen_cpu_s=loadgen_cpu_s, wall_s=wall_s,
                      filler=filler_requests, pool_available=available, samples=samples)

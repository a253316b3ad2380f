#!/usr/bin/env python3
"""scripts/bench's helper: a local Lambda runtime-API stub that records timestamps, and the
measurements that need it (cold init, peak RSS through a rotation), plus package size and the
figures tests/bench_requests.rs prints. Writes target/bench.json and prints a table.

Run through scripts/bench (it builds the binaries and sets the environment).
"""
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEXT = "/2018-06-01/runtime/invocation/next"


class Stub:
    """The runtime API: GET next, POST response/error, POST init/error. It hands out the queued
    events one by one (none queued: the first GET next is only recorded and held, the caller then
    kills the process), records the responses, and when the first GET next and the first result
    (`/response` or `/error`) arrived."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                now = time.perf_counter_ns()
                if self.path != NEXT:
                    self.send_error(404)
                    return
                with stub.lock:
                    if stub.first_next is None:
                        stub.first_next = now
                    stub.got_next.set()
                    event = stub.events.pop(0) if stub.events else None
                if event is None:
                    # Hold the long poll until the process is killed.
                    stub.done.set()
                    time.sleep(30)
                    return
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", f"bench-{len(stub.responses)}")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:jamf-entra-rotator")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                now = time.perf_counter_ns()
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with stub.lock:
                    if stub.first_result is None and self.path.startswith("/2018-06-01/runtime/invocation/"):
                        stub.first_result = now
                        stub.got_result.set()
                    stub.responses.append((self.path, body.decode("utf-8", "replace")))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A process killed in the middle of a request (the cold starts end that way).
                if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self, events=None):
        self.first_next = None
        self.first_result = None
        self.got_next = threading.Event()
        self.got_result = threading.Event()
        self.done = threading.Event()
        self.events = list(events or [])
        self.responses = []


def lambda_env(stub, extra):
    # A Lambda-like environment: only what Lambda sets (no SSL_CERT_FILE/SSL_CERT_DIR and the
    # like from this shell: rustls-native-certs would read a whole certificate directory).
    env = {k: os.environ[k] for k in ("PATH", "LANG", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if k in os.environ}
    env.update({
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{stub.port}",
        "AWS_LAMBDA_FUNCTION_NAME": "jamf-entra-rotator",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        # What Lambda sets; boto3 reads the second.
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "us-east-1"),
    })
    env.update(extra)
    return env


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def cold_start(argv, env, event=None):
    """One cold start: milliseconds from spawn to the first GET next (init), and, when `event` is
    given, to the POST of its result (init + first invocation), with the result's path and body.
    Each start gets a stub of its own: a process killed after answering may already have sent
    its next GET, which must not take the next start's event."""
    stub = Stub()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{stub.port}")
    stub.reset([event] if event is not None else [])
    t0 = time.perf_counter_ns()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not stub.got_next.wait(30):
            p.kill()
            err = p.communicate()[1].decode(errors="replace")
            raise SystemExit(f"bench: {argv[0]} never asked for an invocation:\n{err[-2000:]}")
        init_ms = (stub.first_next - t0) / 1e6
        if event is None:
            return init_ms, None, None
        if not stub.got_result.wait(60):
            p.kill()
            err = p.communicate()[1].decode(errors="replace")
            raise SystemExit(f"bench: {argv[0]} never answered its first invocation:\n{err[-2000:]}")
        with stub.lock:
            result = stub.responses[0]
        return init_ms, (stub.first_result - t0) / 1e6, result
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        # shutdown() waits for the serve loop's next poll: off the measuring thread.
        threading.Thread(target=lambda: (stub.server.shutdown(), stub.server.server_close()), daemon=True).start()


def summary(xs):
    return {"runs": len(xs), "median_ms": round(statistics.median(xs), 2), "p90_ms": round(pct(xs, 90), 2),
            "min_ms": round(min(xs), 2), "max_ms": round(max(xs), 2)}


# The Python subject's cold start: the init of python_init.py (import boto3, create the Secrets
# Manager client, GET next), then a first invocation like the first thing AWS's Python rotation
# template does with an event: DescribeSecret and GetSecretValue (AWSCURRENT) of the target, then
# the response. It talks to Secrets Manager only (no Graph): a lower bound for a Python rotator.
PYTHON_FIRST = r"""
import json, os, http.client
import boto3
service_client = boto3.client("secretsmanager", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
conn.request("GET", "/2018-06-01/runtime/invocation/next")
r = conn.getresponse()
event = json.loads(r.read())
request_id = r.getheader("Lambda-Runtime-Aws-Request-Id")
secret_id = os.environ["TARGET_SECRET_IDS"].split(",")[0]
meta = service_client.describe_secret(SecretId=secret_id)
service_client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
body = json.dumps({"secret_id": secret_id, "rotation_enabled": bool(meta.get("RotationEnabled"))})
conn.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body=body.encode())
conn.getresponse().read()
"""


def peak_rss(stub, argv, env, events):
    """Runs the function over `events`, returns (VmHWM kB, responses)."""
    stub.reset(events)
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = []
    threading.Thread(target=lambda: out.extend(p.stdout), daemon=True).start()
    if not stub.done.wait(600):
        p.kill()
        raise SystemExit("bench: the function did not finish the rotation in 600 s:\n"
                         + b"".join(out[-40:]).decode(errors="replace"))
    hwm = None
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    p.kill()
    p.wait()
    return hwm, list(stub.responses), b"".join(out).decode(errors="replace")


def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "loadavg": open("/proc/loadavg").read().split()[:3],
            "kernel": platform.release(), "python": platform.python_version()}


def main():
    cfg = json.loads(sys.argv[1])
    runs = int(cfg.get("runs", 30))
    stub = Stub()
    res = {"machine_before": machine(), "runs": runs}

    # The function's environment: the stand-ins' settings and the target seeded into moto.
    fenv = dict(cfg["function_env"])
    boot = lambda_env(stub, fenv)
    hello = lambda_env(stub, {})
    py = lambda_env(stub, {"AWS_ENDPOINT_URL": fenv.get("AWS_ENDPOINT_URL", ""),
                           "TARGET_SECRET_IDS": fenv.get("TARGET_SECRET_IDS", "")})

    # bootstrap_nofetch: the same binary with ROTATOR_AUTH=federated, which reads no secret (its
    # sign-in asks STS for a token instead). Its first invocation is not measured: the stand-ins
    # have no STS with federation, so a status event could only fail.
    nofetch = lambda_env(stub, dict(fenv, ROTATOR_AUTH="federated"))
    status = {"action": "status"}
    # name: (argv, env, first event or None for init only)
    subjects = {"bootstrap": ([cfg["bootstrap"]], boot, status),
                "hello": ([cfg["hello"]], hello, {"hello": "world"}),
                "python": ([cfg["python"], "-c", PYTHON_FIRST], py, {"hello": "world"}),
                "bootstrap_nofetch": ([cfg["bootstrap"]], nofetch, None)}
    # The same two subjects from an earlier build (scripts/bench --before PATH), for before/after
    # figures from one run.
    if cfg.get("bootstrap_before"):
        subjects["bootstrap_before"] = ([cfg["bootstrap_before"]], boot, status)
        subjects["bootstrap_before_nofetch"] = ([cfg["bootstrap_before"]], nofetch, None)
    print(f"bench: cold starts, {runs} each ({', '.join(subjects)}): init, and init + first invocation",
          file=sys.stderr)
    # Interleaved by round, so the shared machine's load hits every subject alike. Each start
    # gives both figures: the first GET next (init), then the result of the first event.
    init = {k: [] for k in subjects}
    first = {k: [] for k in subjects}
    results = {}
    for _ in range(runs):
        for k, (argv, env, event) in subjects.items():
            i, f, result = cold_start(argv, env, event)
            init[k].append(i)
            if f is not None:
                first[k].append(f)
                results.setdefault(k, {}).setdefault(result[0].rsplit("/", 1)[-1], result[1][:300])
    for k in subjects:
        res[f"init_{k}"] = summary(init[k])
        if first[k]:
            res[f"first_{k}"] = dict(summary(first[k]), results=results.get(k))
    b, h, p = (res[f"init_{k}"]["median_ms"] for k in ("bootstrap", "hello", "python"))
    res["init_bootstrap_over_hello"] = round(b / h, 2)
    res["init_python_over_bootstrap"] = round(p / b, 2)
    res["init_nofetch_over_hello"] = round(res["init_bootstrap_nofetch"]["median_ms"] / h, 2)
    fb, fh, fp = (res[f"first_{k}"]["median_ms"] for k in ("bootstrap", "hello", "python"))
    res["first_bootstrap_over_hello"] = round(fb / fh, 2)
    res["first_python_over_bootstrap"] = round(fp / fb, 2)
    for k in ("bootstrap", "bootstrap_before"):
        r = (res.get(f"first_{k}") or {}).get("results") or {}
        if "response" not in r:
            print(f"bench: {k}'s first invocation did not succeed: {r}", file=sys.stderr)

    print("bench: peak RSS through a rotation (scheduled check of a due target)", file=sys.stderr)
    event = json.load(open(os.path.join(REPO, "events", "scheduled-check.json")))
    hwm, responses, log = peak_rss(stub, [cfg["bootstrap"]], boot, [event])
    ok = bool(responses) and responses[0][0].endswith("/response") and '"rotated"' in responses[0][1]
    res["rss_rotation"] = {"vmhwm_kb": hwm, "vmhwm_mb": round(hwm / 1024, 1) if hwm else None,
                           "rotated": ok, "response": responses[0][1][:300] if responses else None}
    if not ok:
        print(f"bench: the rotation under the stub did not rotate: {responses}\n{log[-3000:]}", file=sys.stderr)
    hwm_h, _, _ = peak_rss(stub, [cfg["hello"]], hello, [{"hello": "world"}])
    res["rss_hello"] = {"vmhwm_kb": hwm_h, "vmhwm_mb": round(hwm_h / 1024, 1) if hwm_h else None}
    # Python after its init (boto3 imported, client created), waiting for its first event.
    hwm_p, _, _ = peak_rss(stub, [cfg["python"], os.path.join(REPO, "bench", "python_init.py")], py, [])
    res["rss_python_init"] = {"vmhwm_kb": hwm_p, "vmhwm_mb": round(hwm_p / 1024, 1) if hwm_p else None}

    zip_path = cfg.get("zip")
    res["zip"] = {"path": zip_path, "label": cfg.get("zip_label"),
                  "bytes": os.path.getsize(zip_path) if zip_path and os.path.exists(zip_path) else None}
    res["binaries"] = {k: os.path.getsize(cfg[k]) for k in ("bootstrap", "hello")}

    if cfg.get("requests_json") and os.path.exists(cfg["requests_json"]):
        res["engine"] = json.load(open(cfg["requests_json"]))
    res["machine_after"] = machine()
    os.makedirs(os.path.join(REPO, "target"), exist_ok=True)
    with open(os.path.join(REPO, "target", "bench.json"), "w") as f:
        json.dump(res, f, indent=2)
    table(res)


# The fewest requests a rotation can make, per service (docs/PERFORMANCE.md explains each).
MINIMUM = {
    "smtp-graph": {"entra_token": 2, "graph": 3, "jamf": 4, "secrets_manager": 6, "sns": 0},
    "conditional-access": {"entra_token": 2, "graph": 3, "jamf": 8, "secrets_manager": 6, "sns": 0},
}


def engine_rows(e):
    rows = []
    for kind, r in (e.get("requests") or {}).items():
        req = r["requests"]
        for svc in ("entra_token", "graph", "jamf", "secrets_manager", "sns"):
            m = MINIMUM.get(kind, {}).get(svc)
            rows.append((f"requests/rotation {kind}: {svc}", req[svc], f"minimum {m}", f"<= {m + 2}" if m is not None else ""))
    o = e.get("overhead") or {}
    for k, label in (("virtual_0ms", "rotation wall time, 0 ms latency, engine pauses virtual"),
                     ("virtual_50ms", "rotation wall time, 50 ms/call, engine pauses virtual"),
                     ("system_0ms", "rotation wall time, 0 ms latency, real clock"),
                     ("system_50ms", "rotation wall time, 50 ms/call, real clock")):
        if k in o:
            n = sum(o[k]["requests"][x] for x in ("entra_token", "graph", "jamf", "secrets_manager", "sns"))
            rows.append((label, f"{o[k]['wall_ms']:.0f} ms", f"{n} requests", ""))
    for k, label in (("none_due", "check 200 targets, 50 ms/call, none due"),
                     ("five_due", "check 200 targets, 50 ms/call, 5 due"),
                     ("all_due_one_jamf_server", "check 20 due targets on ONE Jamf server, 50 ms/call")):
        sc = (e.get("scale") or {}).get(k)
        if sc:
            n = sum(sc["requests"][x] for x in ("entra_token", "graph", "jamf", "secrets_manager"))
            rows.append((label, f"{sc['wall_ms'] / 1000:.2f} s",
                         f"{n} requests, max {sc['max_concurrent_per_jamf_host']} conn/Jamf host", "< 10 s, <= 5 conn"))
    return rows


def table(res):
    rows = []
    mb = lambda b: f"{b / 1048576:.2f} MB" if b else "n/a"
    labels = (("bootstrap", "bootstrap (ROTATOR_AUTH=client-secret)"), ("hello", "hello-world lambda_runtime"),
              ("python", "Python 3 + boto3 client"), ("bootstrap_nofetch", "bootstrap (ROTATOR_AUTH=federated)"),
              ("bootstrap_before", "bootstrap BEFORE (--before), client-secret"),
              ("bootstrap_before_nofetch", "bootstrap BEFORE (--before), federated"))
    for k, label in labels:
        if f"init_{k}" not in res:
            continue
        r = res[f"init_{k}"]
        rows.append((f"cold init, {label}", f"{r['median_ms']:.1f} ms", f"p90 {r['p90_ms']:.1f} ms", ""))
    first_event = {"hello": "echo", "python": "DescribeSecret + GetSecretValue"}
    for k, label in labels:
        r = res.get(f"first_{k}")
        if not r:
            continue
        outcome = ",".join(sorted(r.get("results") or {}))
        rows.append((f"init + first invocation, {label}", f"{r['median_ms']:.1f} ms",
                     f"p90 {r['p90_ms']:.1f} ms; {first_event.get(k, 'status')} -> {outcome}", ""))
    rows.append(("init ratio bootstrap / hello (median)", f"{res['init_bootstrap_over_hello']:.2f}x",
                 f"federated: {res['init_nofetch_over_hello']:.2f}x", "<= 1.5x"))
    rows.append(("init ratio Python / bootstrap (median)", f"{res['init_python_over_bootstrap']:.2f}x", "", ">= 5x"))
    rows.append(("init + first invocation ratio bootstrap / hello", f"{res['first_bootstrap_over_hello']:.2f}x",
                 f"Python / bootstrap {res['first_python_over_bootstrap']:.2f}x", ""))
    r = res["rss_rotation"]
    rows.append(("peak RSS, bootstrap through a rotation", f"{r['vmhwm_mb']} MB", "rotated" if r["rotated"] else "DID NOT ROTATE", "<= 32 MB"))
    rows.append(("peak RSS, hello-world, one invocation", f"{res['rss_hello']['vmhwm_mb']} MB", "", ""))
    rows.append(("peak RSS, Python + boto3 client, after init", f"{res['rss_python_init']['vmhwm_mb']} MB", "", ""))
    z = res["zip"]
    rows.append((f"zip ({z['label']})", mb(z["bytes"]), "", "<= 6 MB"))
    rows.append(("binary bootstrap (x86_64, stripped)", mb(res["binaries"]["bootstrap"]), "", ""))
    rows.extend(engine_rows(res.get("engine") or {}))
    w = [max(len(str(r[i])) for r in rows) for i in range(4)]
    hdr = ("measure", "value", "p90 / note", "target")
    w = [max(w[i], len(hdr[i])) for i in range(4)]
    fmt = " | ".join("{:<%d}" % x for x in w)
    print(fmt.format(*hdr))
    print("-+-".join("-" * x for x in w))
    for r in rows:
        print(fmt.format(*[str(c) for c in r]))
    m = res["machine_after"]
    print(f"\nmachine: {m['nproc']} x {m['cpu']}, load {' '.join(res['machine_before']['loadavg'])} -> {' '.join(m['loadavg'])}")
    print("JSON: target/bench.json")


if __name__ == "__main__":
    main()

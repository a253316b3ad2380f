#!/usr/bin/env python3
"""scripts/bench-fleet's helper: the release `bootstrap` checks a fleet seeded by
`jamf-entra-rotator sim --fleet N` (Secrets Manager on moto, targets found by tag), one scheduled
check under bench.py's runtime-API stub (15 minutes to its deadline). Prints one JSON object: the
process's peak RSS (VmHWM) after the check, its wall time, the response's size and summary.

    bench/fleet_rss.py SIM_JSON BOOTSTRAP
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Stub, lambda_env, peak_rss  # noqa: E402


def main():
    info = json.loads(open(sys.argv[1]).readline())
    bootstrap = sys.argv[2]
    env = dict(info["env"])
    env["TARGET_TAG_KEY"] = info["fleet"]["tag_key"]
    env["TARGET_TAG_VALUE"] = info["fleet"]["tag_value"]
    env["AWS_LAMBDA_LOG_LEVEL"] = "warn"
    for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        env[k] = os.environ[k]
    stub = Stub()
    started = time.perf_counter()
    hwm, responses, output = peak_rss(stub, [bootstrap], lambda_env(stub, env), [{"action": "check"}])
    wall = time.perf_counter() - started
    results = [(path, body) for path, body in responses if "/invocation/" in path]
    if not results or not results[0][0].endswith("/response"):
        raise SystemExit("fleet_rss: the check did not succeed:\n" + str(results)[:2000] + "\n" + output[-3000:])
    body = results[0][1]
    response = json.loads(body)
    print(json.dumps({
        "targets": response["targets"],
        "failed": response["failed"],
        "compact": response.get("compact"),
        "none": sum(1 for r in response["results"] if r.get("report", {}).get("action") == "none"),
        "peak_rss_kb": hwm,
        "wall_s": wall,
        "response_bytes": len(body.encode()),
    }))


if __name__ == "__main__":
    main()

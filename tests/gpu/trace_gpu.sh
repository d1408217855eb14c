# --trace on the GPU: besides the host's tracks, the phases as the GPU ran them on the compute stream's
# track ("cuda:N default stream") and the batch copies on the copy stream's, at times within the run's
# host time span (aligned through the reference event).
source "$(dirname "$0")/../lib.sh"
"$GPU_PROBE" || exit 77
"$HPCTRAIN" gen-data --kind heteroscedastic --n 2048 --out d.h5 >/dev/null
"$HPCTRAIN" train --device cuda --data.train d.h5 --epochs 2 --batch-size 128 --trace t.json --run-dir r >r.log 2>&1 ||
  die "train --trace failed: $(tail -5 r.log)"
"$PYTHON" - t.json <<'PY' || die "GPU tracks missing or misplaced"
import sys, json
ev = json.load(open(sys.argv[1]))["traceEvents"]
names = {(e["pid"], e["tid"]): e["args"]["name"] for e in ev if e.get("name") == "thread_name"}
track = lambda e: names.get((e["pid"], e["tid"]), "")
gpu = [e for e in ev if e.get("ph") == "X" and track(e).endswith("default stream")]
copy = [e for e in ev if e.get("ph") == "X" and e["name"] == "batch copy" and " stream " in track(e)]
host = [e for e in ev if e.get("ph") == "X" and track(e) == "compute"]
phases = {e["name"] for e in gpu}
print("GPU phases:", sorted(phases), len(gpu), "spans;", len(copy), "batch copies")
assert {"data", "forward", "backward", "optimizer"} <= phases, phases
assert copy, "no batch copies on a copy stream track"
lo = min(e["ts"] for e in host) - 1e6
hi = max(e["ts"] + e["dur"] for e in host) + 1e6
assert all(lo <= e["ts"] and e["ts"] + e["dur"] <= hi and e["dur"] >= 0 for e in gpu + copy), "GPU spans outside the run"
PY
pass "the GPU's phases and batch copies are on their stream tracks, within the run"
finish

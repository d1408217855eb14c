# Watching a run: progress lines inside epochs (plain lines when stdout is not a terminal, one
# updating line on a terminal), RUN/train.log (what rank 0 printed), RUN/events.jsonl (one JSON object
# per line: start, step, epoch, checkpoint, end; parsed with Python's json), under mpirun on 2 ranks,
# for an ensemble (a log per member), --quiet, a failed run, and `hpctrain info RUN_DIR`.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-mpirun}

"$HPCTRAIN" gen-data --kind heteroscedastic --n 1024 --out d.h5 >/dev/null

# events.jsonl is valid JSON line by line, with the expected events in order; prints nothing.
check_events() {  # RUN_DIR EXPECTED_STEPS EXPECTED_STATUS
  "$PYTHON" - "$@" <<'PY'
import json, sys
run, steps, status = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ev = [json.loads(l) for l in open(run + "/events.jsonl")]
kinds = [e["event"] for e in ev]
assert kinds[0] == "start", kinds
assert "[model]" in ev[0]["config"] and ev[0]["topology"]["ranks"] >= 1 and "hpctrain" in ev[0]["versions"], ev[0]
assert kinds[-1] == ("end" if status in ("finished", "stopped") else "failed"), kinds
if status == "finished":
    end = ev[-1]
    assert end["status"] == "finished" and end["steps"] == steps, end
    assert set(end["phases"]) == {"data", "forward", "backward", "comm_wait", "optimizer"}, end
    assert end["limits"], end
    # Peak RSS in MiB: more than the binary and its libraries (> 5), less than this test could use.
    assert 5 < end["peak_rss_mib"] < 4096, end
    epochs = [e for e in ev if e["event"] == "epoch"]
    assert len(epochs) == end["epochs"] and epochs[-1]["evaluated"] and epochs[-1]["val_loss"] > 0, epochs
    assert any(e["event"] == "checkpoint" and e.get("final") for e in ev), kinds
stepped = [e["step"] for e in ev if e["event"] == "step"]
assert stepped == sorted(stepped) and all(e["time"] > 1.6e9 for e in ev), stepped
PY
}

# One process, stdout to a file: a plain progress line every 2 steps, no carriage return.
"$HPCTRAIN" train --data.train d.h5 --epochs 2 --batch-size 64 --log-every 2 --run-dir one >one.out
[[ $(grep -c '^epoch 1/2 step [0-9]*/13 ([0-9]*) | [0-9]* samples/s | loss .* | lr .* | ETA epoch .*, run ' one.out) -eq 6 ]] \
  || die "progress lines: $(cat one.out)"
! grep -q $'\r' one.out || die "a carriage return in a non-terminal log"
cmp one.out one/train.log || die "train.log differs from what was printed"
check_events one 26 finished || die "events of one process"
[[ $("$PYTHON" -c "import json; print(sum(json.loads(l)['event'] == 'step' for l in open('one/events.jsonl')))") -eq 12 ]] \
  || die "step events"
grep -q '^limits: ' one.out || die "no limits line in the summary"
pass "plain progress lines every --log-every steps, train.log = stdout, events.jsonl parses"

# --log.interval-s: a line after that many seconds even without --log-every.
"$HPCTRAIN" train --data.train d.h5 --epochs 1 --batch-size 8 --log.interval-s 0.000001 --run-dir interval >interval.out
[[ $(grep -c '^epoch 1/1 step ' interval.out) -ge 50 ]] || die "--log.interval-s: $(head interval.out)"
pass "--log.interval-s prints lines by time"

# On a terminal: one updating line (carriage returns), no plain progress lines.
script -qec "$HPCTRAIN train --data.train d.h5 --epochs 1 --batch-size 8 --log-every 5 --run-dir tty" /dev/null >tty.out
grep -q $'\r\033\\[Kepoch 1/1 step ' tty.out || die "no updating line on a terminal: $(head -c 600 tty.out)"
! grep -q '^epoch 1/1 step ' tty.out || die "plain progress lines on a terminal"
pass "a terminal gets one updating progress line"

# --quiet: only the final line on stdout; train.log still has everything.
"$HPCTRAIN" train --data.train d.h5 --epochs 2 --log-every 2 --quiet --run-dir quiet >quiet.out
[[ $(wc -l <quiet.out) -eq 1 ]] && grep -q '^final: ' quiet.out || die "--quiet printed: $(cat quiet.out)"
grep -Eq ' \| peak RSS [1-9][0-9]* MiB \| model ' quiet.out || die "final line without peak RSS: $(cat quiet.out)"
grep -q '^epoch 2/2 train_loss=' quiet/train.log || die "--quiet: train.log lacks the epoch lines"
pass "--quiet prints only the final line, with the peak RSS"

# Two ranks: rank 0 alone prints and writes; the topology names 2 ranks.
"$mpirun" -np 2 "$HPCTRAIN" train --data.train d.h5 --epochs 2 --log-every 2 --run-dir two >two.out 2>two.err
[[ $(grep -c '^final: ' two.out) -eq 1 ]] || die "2 ranks: $(cat two.out)"
[[ $(grep -c '^epoch 1/2 step ' two.out) -eq 1 ]] || die "2 ranks: one progress line per log point: $(cat two.out)"
check_events two 8 finished || die "events on 2 ranks"
"$PYTHON" -c "import json; e = json.loads(open('two/events.jsonl').readline()); assert e['topology']['ranks'] == 2, e" \
  || die "topology of 2 ranks"
pass "2 ranks: rank 0 prints once, events.jsonl names 2 ranks"

# An ensemble on 2 ranks: each member has its own train.log and events.jsonl.
"$mpirun" -np 2 "$HPCTRAIN" train --data.train d.h5 --epochs 1 --ensemble.members 2 --run-dir ens >ens.out 2>ens.err
for m in ens/member-000 ens/member-001; do
  grep -q '^final: ' $m/train.log || die "$m/train.log: $(cat $m/train.log)"
  check_events $m 7 finished || die "events of $m"
done
pass "an ensemble: a train.log and an events.jsonl per member"

# A run that fails: the last event says so, naming the error.
"$HPCTRAIN" train --data.train d.h5 --epochs 3 --optim.lr 1e30 --run-dir failed >/dev/null 2>&1 && die "lr 1e30 trained"
check_events failed 0 failed || die "events of a failed run"
"$PYTHON" -c "import json; e = [json.loads(l) for l in open('failed/events.jsonl')][-1]; assert 'diverged' in e['error'], e" \
  || die "the failed event lacks the error"
pass "a failed run ends its events with 'failed' and the error"

# A warning lands in events.jsonl as printed (here: more threads than SLURM gave the task).
SLURM_JOB_ID=42 SLURM_CPUS_PER_TASK=1 "$HPCTRAIN" train --data.train d.h5 --epochs 1 --threads 2 --run-dir warned \
  >warned.out 2>&1 || die "run with a warning: $(cat warned.out)"
grep -q '^warning: 2 threads per rank but SLURM_CPUS_PER_TASK=1' warned.out || die "no warning printed: $(cat warned.out)"
"$PYTHON" -c "import json; w = [e for e in map(json.loads, open('warned/events.jsonl')) if e['event'] == 'warning']; \
assert len(w) == 1 and w[0]['message'].startswith('2 threads per rank but SLURM_CPUS_PER_TASK=1'), w" \
  || die "the warning event"
pass "a warning is printed and recorded as a warning event"

# hpctrain info RUN_DIR: a finished run, a failed one, an ensemble, and several paths at once.
"$HPCTRAIN" info one >info.out
grep -q '^  status      finished (last event .end. ' info.out || die "info status: $(cat info.out)"
grep -q '^  progress    epoch 2, step 26$' info.out || die "info progress: $(cat info.out)"
grep -q '^  best val    epoch [12]: val_loss=' info.out && grep -q '^  last val    epoch 2: val_loss=' info.out \
  || die "info validation: $(cat info.out)"
grep -q '^  checkpoints .*model.h5' info.out && grep -q '^  phases      data .* forward .* comm_wait ' info.out \
  || die "info checkpoints/phases: $(cat info.out)"
grep -q '^  limits      ' info.out || die "info limits: $(cat info.out)"
"$HPCTRAIN" info failed | grep -q '^  status      failed (last event .failed. .*): training diverged' || die "info of a failed run"
"$HPCTRAIN" info ens >ens_info.out
[[ $(grep -c '^  member-00[01]: finished .*, epochs 1, val_loss=.* samples/s$' ens_info.out) -eq 2 ]] \
  || die "info of an ensemble: $(cat ens_info.out)"
"$HPCTRAIN" info one/model.h5 d.h5 two >multi.out
grep -q '^one/model.h5: hpctrain checkpoint' multi.out && grep -q '^d.h5: data set' multi.out && grep -q '^two: hpctrain run' multi.out \
  || die "info of several paths: $(cat multi.out)"
# A run still going: events end with a step event.
mkdir -p running && head -3 one/events.jsonl >running/events.jsonl
"$HPCTRAIN" info running | grep -q '^  status      running (last event .step. ' || die "info of a running run"
mkdir -p empty
expect_fail "empty: not a run directory" "$HPCTRAIN" info empty
expect_fail "info: unknown option --bogus" "$HPCTRAIN" info one --bogus
pass "info RUN_DIR: status, progress, validation, checkpoints, phases, limits; ensembles; several paths"

# --trace: a Chrome trace-event file of both ranks, merged by rank 0: a process per rank, tracks for
# the compute thread (phases), the communication thread (allreduces with their bytes) and the loader
# workers; --trace.steps bounds it.
"$mpirun" -np 2 "$HPCTRAIN" train --data.train d.h5 --epochs 2 --data.workers 2 --trace trace.json --run-dir traced >traced.out 2>&1 \
  || die "traced run: $(cat traced.out)"
"$mpirun" -np 2 "$HPCTRAIN" train --data.train d.h5 --epochs 2 --trace part.json --trace.steps 2:5 --run-dir traced2 >/dev/null 2>&1
"$PYTHON" - <<'PY' || die "the trace files"
import json, collections, glob
for path, steps in (("trace.json", 8), ("part.json", 3)):
    ev = json.load(open(path))["traceEvents"]
    tracks = {(e["pid"], e["tid"]): e["args"]["name"] for e in ev if e["name"] == "thread_name"}
    procs = {e["pid"]: e["args"]["name"] for e in ev if e["name"] == "process_name"}
    assert procs == {0: "rank 0", 1: "rank 1"}, procs
    spans = [e for e in ev if e["ph"] == "X"]
    assert all(e["dur"] >= 0 and e["ts"] > 1.6e15 for e in spans)
    per = collections.Counter((e["pid"], tracks[(e["pid"], e["tid"])].split()[0], e["name"]) for e in spans)
    for rank in (0, 1):
        for phase in ("data", "forward", "backward", "comm_wait", "optimizer"):
            assert per[(rank, "compute", phase)] == steps, (path, rank, phase, per)
        reduces = [e for e in spans if e["pid"] == rank and e["cat"] == "comm"]
        assert reduces and all(e["args"]["bytes"] > 0 for e in reduces), (path, reduces[:2])
        if path == "trace.json":
            assert per[(rank, "loader", "batch")] >= 8, per
assert not glob.glob("*.part"), glob.glob("*.part")
PY
expect_fail "option --trace.steps: expected A:B" "$HPCTRAIN" train --data.train d.h5 --trace x.json --trace.steps 5 --run-dir badtrace
[[ ! -e badtrace ]] || die "a refused --trace.steps made its run directory"
pass "--trace: valid JSON, a process per rank, compute/communication/loader tracks, --trace.steps bounds it"

# mpirun across 2 emulated hosts (tests/cluster/hosts_box.sh: network namespaces on a bridge, an rsh
# agent, host 2's link limited to 200 Mbit/s by tc tbf): a 2-host x 2-rank training reaches the
# weights of 1 process and of 4 ranks on one host, reducing gradients node-aware by default (shared
# memory inside a host, MPI between the hosts' leaders) and flat with --ddp.hierarchical off; a rank
# killed on one host, and one host's link taken down, end the job within --dist.timeout-s (plus Open MPI's own detection) with a message.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/hosts_box.sh"
hosts_start 2
hosts_limit 2 200mbit
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

"$HPCTRAIN" gen-data --kind physics19 --n 1600 --out d.h5 >/dev/null
common=(--data.train "$PWD/d.h5" --epochs 3 --threads 1 --model.widths 48,33 --model.layernorm
        --optim.weight-decay 0.01 --ddp.bucket-mb 0.01 --ddp.check-every 5)
"$HPCTRAIN" train "${common[@]}" --batch-size 64 --run-dir "$PWD/r1" >r1.log
mpirun -np 4 --oversubscribe "$HPCTRAIN" train "${common[@]}" --batch-size 16 --run-dir "$PWD/r4" >r4.log
hosts_mpirun -np 4 "$HPCTRAIN" train "${common[@]}" --batch-size 16 --run-dir "$PWD/r22" >r22.log
grep -q "topology: 2 node(s), 2 rank(s) on this node, 4 rank(s) in all" r22.log \
  || die "the 2x2 run did not see 2 nodes: $(grep topology r22.log)"
rx=$(ip -s link show "hpv2-$hosts_tag" | awk '/RX:/ {getline; print $1}')
[[ $rx -gt 100000 ]] || die "no traffic crossed host 2's link ($rx bytes)"
pass "2 hosts x 2 ranks: topology line names 2 nodes; $rx bytes crossed host 2's link"
for run in r22 r4; do
  msg=$(same_weights r1 "$run") || die "$run differs from the 1-process run: $msg"
  pass "$run: same weights as 1 process, $msg"
done
msg=$(same_weights r4 r22) || die "the 2x2 run differs from 4 ranks on one host: $msg"
pass "2x2 hosts vs 4 ranks on one host: $msg"
# The gradients of r22 went the node-aware way (auto); off: flat MPI_Allreduce across the hosts.
grep -q "gradients: node-aware reduction: shared memory inside each node (2 rank(s) here), MPI_Allreduce among 2 node leader(s)" r22.log \
  || die "auto across 2 hosts did not choose the node-aware reduction: $(grep gradients r22.log)"
hosts_mpirun -np 4 "$HPCTRAIN" train "${common[@]}" --batch-size 16 --ddp.hierarchical off --run-dir "$PWD/r22off" >r22off.log
! grep -q "node-aware" r22off.log || die "--ddp.hierarchical off still chose the node-aware path"
# Same order of the sums on 2 nodes of 2: (a+b)+(c+d) both ways (Open MPI's recursive doubling for
# these small buckets), so the weights are bit-identical.
"$PYTHON" - r22/model.h5 r22off/model.h5 <<'PY' || die "node-aware and flat MPI across 2 hosts differ"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
sys.exit(0 if all(np.array_equal(a[k][:], b[k][:]) for k in a) else 1)
PY
pass "2x2 hosts, node-aware (auto) vs flat MPI (off): bit-identical weights"

# fault NAME ACTION: a long 2x2 training; after 4 s ACTION runs; prints seconds from it to mpirun's end.
long=(--data.train "$PWD/d.h5" --epochs 2000 --threads 1 --model.widths 256,256 --dist.timeout-s 4)
fault() {
  local name=$1 action=$2
  timeout 120 bash -c "$(declare -f hosts_mpirun); hosts_tag=$hosts_tag hosts_net=$hosts_net SCRATCH=$SCRATCH \
    hosts_mpirun -np 4 '$HPCTRAIN' train ${long[*]} --run-dir '$PWD/$name'" >"$name.out" 2>"$name.err" &
  local job=$!
  sleep 4
  kill -0 "$job" 2>/dev/null || die "$name: the job ended before the fault: $(tail -3 "$name.err")"
  eval "$action" || { kill -- -$job 2>/dev/null; kill "$job"; die "$name: '$action' failed"; }
  local t0; t0=$(date +%s.%N)
  wait "$job" && die "$name: the job did not fail"
  local t1; t1=$(date +%s.%N)
  python3 -c "print(round($t1 - $t0, 1))"
}
# A rank on host 2 (hpctrain re-executes itself through /proc/self/exe: its comm is "exe").
victim() { for p in $(hosts_pids 2); do [[ $(cat /proc/$p/comm) == exe ]] && echo "$p"; done | head -1; }

t=$(fault kill 'kill -9 $(victim)')
check "t < 10" t="$t"
# mpirun names the killed rank, or (when a peer that lost it exits first) the rank that failed.
msg='killed|signal 9|exited on signal|returned a non-zero exit code|rank [0-9]+: error'
grep -qiE "$msg" kill.err kill.out || die "kill: no message: $(tail -5 kill.err)"
pass "a rank on host 2 killed (SIGKILL): the job ended in $t s: $(grep -hiE "$msg" kill.err kill.out | head -1)"

t=$(fault linkdown 'hosts_link 2 down')
check "t < 20" t="$t"  # 4 s timeout + ~6 s until mpirun gives up on the dead link
grep -q "error: rank [0-9]: .* did not complete within 4 s" linkdown.err \
  || die "link down: no timeout message naming a rank: $(tail -5 linkdown.err)"
pass "host 2's link down: the job ended in $t s: $(grep -m1 'did not complete' linkdown.err)"
finish

# A SLURM cluster of one node on this machine, for the cluster tests: munged, slurmctld and slurmd
# from Debian's packages (scripts/install-deps), with a generated slurm.conf and every path (state,
# spool, logs, pids, sockets) in one temporary folder. No systemd: the daemons run in the foreground
# under setsid, and the EXIT trap cancels the jobs and stops the daemons by PID, leaving nothing
# running. Source it after tests/lib.sh, then `box_start [GPUS]`; SLURM_CONF then points the client
# commands (sbatch, squeue, scontrol, sacct) at this cluster. Facts it relies on: docs/slurm-box.md.

# Exit code 77 is ctest's SKIP_RETURN_CODE for the cluster tests: only when the machine lacks a part.
box_skip() { echo "SKIP: $*"; exit 77; }

# Two free TCP ports on the loopback (the controller's and the node's), so that boxes of parallel
# test runs, or a real SLURM on the machine, never collide.
box_free_ports() {
  "$PYTHON" - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
}

# box_start [GPUS]: start munge, the controller and one node named `box` with the machine's CPUs and
# memory (and GPUS counted GPUs, gres without devices: enough for the scheduler to place
# --gpus-per-task jobs), and wait until the node is idle.
box_start() {
  local gpus=${1:-0} tool i
  for tool in munged slurmctld slurmd sbatch srun squeue scontrol sacct; do
    command -v $tool >/dev/null || box_skip "$tool is not installed (scripts/install-deps installs slurm-wlm and munge)"
  done
  [[ $(id -u) -eq 0 ]] || box_skip "the SLURM box runs slurmd as root (SlurmUser=root); this test runs as $(id -un)"

  BOX=$(mktemp -d /tmp/hpctrain-slurm.XXXXXX)  # short: a unix socket's path has at most 107 bytes
  chmod 755 "$BOX"  # munged wants its socket's folder searchable by all
  BOX_PIDS=()
  trap box_stop EXIT
  mkdir -p "$BOX"/{state,spool,log,tmp,run}
  dd if=/dev/urandom of="$BOX/munge.key" bs=1024 count=1 status=none
  chmod 400 "$BOX/munge.key"
  box_daemon munged --foreground --force --socket="$BOX/munge.sock" --key-file="$BOX/munge.key" \
    --log-file="$BOX/log/munged.log" --pid-file="$BOX/run/munged.pid" --seed-file="$BOX/run/munged.seed"

  local ports node
  read -r -a ports < <(box_free_ports)
  # The node as slurmd sees it (CPUs, sockets, cores, threads, memory), under the name `box`.
  node=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]*/NodeName=box NodeAddr=127.0.0.1/')
  # Memory is a consumable as on real clusters; a job without --mem gets its CPUs' share, so small
  # jobs (array tasks) can share the node.
  local mem_per_cpu=$(( $(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node") / $(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node") ))
  local gres_line=""
  if ((gpus > 0)); then
    node+=" Gres=gpu:$gpus"
    gres_line="GresTypes=gpu"
    # Stand-ins for GPU device files (character devices like /dev/null, 1:3): slurmd counts them,
    # numbers the GPUs from their names and sets CUDA_VISIBLE_DEVICES per task as on a GPU node.
    mkdir -p "$BOX/dev"
    for ((i = 0; i < gpus; i++)); do
      mknod "$BOX/dev/gpu$i" c 1 3 || box_skip "cannot create a device node for the stand-in GPUs (mknod)"
    done
    printf 'AutoDetect=off\nNodeName=box Name=gpu File=%s Flags=nvidia_gpu_env\n' "$BOX/dev/gpu[0-$((gpus - 1))]" >"$BOX/gres.conf"
  fi
  cat >"$BOX/slurm.conf" <<CONF
ClusterName=hpctrainbox
MailProg=/bin/true
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$BOX/munge.sock
CredType=cred/munge
StateSaveLocation=$BOX/state
SlurmdSpoolDir=$BOX/spool/%n
SlurmctldPidFile=$BOX/run/slurmctld.pid
SlurmdPidFile=$BOX/run/slurmd-%n.pid
SlurmctldLogFile=$BOX/log/slurmctld.log
SlurmdLogFile=$BOX/log/slurmd-%n.log
TmpFS=$BOX/tmp/%n
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$BOX/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$mem_per_cpu
MpiDefault=none
ReturnToService=2
MinJobAge=3600
KillWait=5
SchedulerParameters=sched_interval=2,bf_interval=2
$gres_line
$node State=UNKNOWN
PartitionName=batch Nodes=box Default=YES MaxTime=INFINITE State=UP
CONF
  mkdir -p "$BOX/spool/box" "$BOX/tmp/box"
  export SLURM_CONF=$BOX/slurm.conf
  box_daemon slurmctld -D -i -f "$SLURM_CONF"
  box_daemon slurmd -D -N box -f "$SLURM_CONF"

  local deadline=$((SECONDS + 30)) state=""
  while ((SECONDS < deadline)); do
    state=$(sinfo -h -n box -o %T 2>/dev/null || true)
    [[ $state == idle ]] && {
      srun --mpi=list 2>&1 | grep -q pmix || box_skip "srun has no PMIx plugin (srun --mpi=list: $(srun --mpi=list 2>&1 | tr '\n' ' '))"
      echo "slurm box: node idle ($(tr ' ' '\n' <<<"$node" | grep -E '^(CPUs|RealMemory|Gres)=' | tr '\n' ' ')) in $BOX"; return 0; }
    sleep 0.5
  done
  box_logs
  die "the SLURM box's node is not idle after 30 s (state '$state')"
}

# box_daemon CMD...: start a daemon in the foreground in its own session; its PID goes to BOX_PIDS.
box_daemon() {
  SLURM_CONF=$BOX/slurm.conf setsid "$@" >>"$BOX/log/$1.out" 2>&1 </dev/null &
  BOX_PIDS+=($!)
}

box_logs() {
  local f
  for f in "$BOX"/log/*; do echo "--- $f"; tail -n 30 "$f"; done >&2
}

# Stops everything the box started: its jobs, then the daemons (slurmd, slurmctld, munged) by PID.
# Any process still carrying this box's SLURM_CONF afterwards (a job step slurmd left behind) is
# killed by PID too, and reported.
box_stop() {
  local rc=$? pid i deadline left
  trap - EXIT
  if [[ -n ${BOX:-} ]]; then
    scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    deadline=$((SECONDS + 15))
    while ((SECONDS < deadline)) && [[ -n $(squeue -h -t RUNNING,COMPLETING,PENDING 2>/dev/null) ]]; do sleep 0.5; done
    for ((i = ${#BOX_PIDS[@]} - 1; i >= 0; i--)); do
      pid=${BOX_PIDS[i]}
      kill -TERM "$pid" 2>/dev/null || continue
      deadline=$((SECONDS + 10))
      while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null && echo "slurm box: killed $pid after 10 s" >&2
      wait "$pid" 2>/dev/null || true
    done
    left=$(box_leftovers)
    if [[ -n $left ]]; then
      echo "slurm box: processes left behind, killed: $left" >&2
      kill -KILL $left 2>/dev/null || true
      ((rc != 0)) || rc=1
    fi
    ((rc == 0)) || [[ -n ${BOX_KEEP_LOGS:-} ]] || box_logs
    rm -rf "$BOX"
  fi
  exit $rc
}

# PIDs of processes whose environment names this box's slurm.conf (not this shell nor the grep).
box_leftovers() {
  local f pid
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/}; pid=${pid%/environ}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qxF "SLURM_CONF=$BOX/slurm.conf" && echo -n "$pid "
  done
  true
}

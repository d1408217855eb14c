# A SLURM cluster of one node on this machine, for the cluster tests: munged, slurmctld and slurmd
# from Debian's packages (scripts/install-deps), with a generated slurm.conf and every path (state,
# spool, logs, pids, sockets) in one temporary folder. No systemd: the daemons run in the foreground
# under setsid, and the EXIT trap cancels the jobs and stops the daemons by PID, leaving nothing
# running. Source it after tests/lib.sh, then `box_start [GPUS]`; SLURM_CONF then points the client
# commands (sbatch, squeue, scontrol, sacct) at this cluster. What it relies on, measured: docs/cluster.md.

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

# box_start [GPUS [HOSTS]]: start munge, the controller and the nodes, with the machine's CPUs and
# memory each (and GPUS stand-in GPUs: device files the scheduler counts and binds to tasks, enough to
# check where a job script puts its ranks; the training runs on the CPU), and wait until they are idle.
# HOSTS = 0 (default): one node named `box` on the loopback. HOSTS = N: N nodes host1..hostN, each a
# slurmd in its own emulated host (tests/cluster/hosts_box.sh: network namespace, hostname, /dev/shm),
# the controller on the hosts' bridge, as on a cluster of N machines.
box_start() {
  local gpus=${1:-0} hosts=${2:-0} tool i
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

  local ports node names ctld_addr=127.0.0.1
  read -r -a ports < <(box_free_ports)
  # The node as slurmd sees it (CPUs, sockets, cores, threads, memory), under the name `box`, or
  # host1..hostN at the emulated hosts' addresses.
  if ((hosts > 0)); then
    hosts_start "$hosts"
    trap box_stop EXIT  # which removes the hosts last
    ctld_addr=$hosts_net.1
    names="host[1-$hosts]"
    node=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$names NodeAddr=$(seq -s, -f "$hosts_net.%.0f" 11 $((10 + hosts)))/")
  else
    names=box
    node=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]*/NodeName=box NodeAddr=127.0.0.1/')
  fi
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
    printf 'AutoDetect=off\nNodeName=%s Name=gpu File=%s Flags=nvidia_gpu_env\n' "$names" "$BOX/dev/gpu[0-$((gpus - 1))]" >"$BOX/gres.conf"
  fi
  cat >"$BOX/slurm.conf" <<CONF
ClusterName=hpctrainbox
MailProg=/bin/true
SlurmctldHost=$(hostname -s)($ctld_addr)
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
PartitionName=batch Nodes=$names Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$BOX/slurm.conf
  box_daemon slurmctld -D -i -f "$SLURM_CONF"
  if ((hosts > 0)); then
    for ((i = 1; i <= hosts; i++)); do
      mkdir -p "$BOX/spool/host$i" "$BOX/tmp/host$i"
      # nsenter and unshare exec (no fork), so the PID recorded is slurmd's. Not `ip netns exec`: it
      # remounts /sys, and slurmd 22.05 then refuses to start.
      box_daemon nsenter --net="/run/netns/hpc$i-$hosts_tag" unshare --uts --mount \
        bash -c 'hostname "$1" && mount -t tmpfs tmpfs /dev/shm && exec slurmd -D -N "$1" -f "$SLURM_CONF"' bash "host$i"
    done
  else
    mkdir -p "$BOX/spool/box" "$BOX/tmp/box"
    box_daemon slurmd -D -N box -f "$SLURM_CONF"
  fi

  local deadline=$((SECONDS + 30)) state=""
  until [[ $state == idle ]]; do
    ((SECONDS < deadline)) || { box_logs; die "the SLURM box's nodes are not idle after 30 s (state '$state')"; }
    sleep 0.5
    state=$(sinfo -h -n "$names" -o %T 2>/dev/null | sort -u | tr '\n' ' ' | sed 's/ $//' || true)
  done
  srun --mpi=list 2>&1 | grep -q pmix || box_skip "srun has no PMIx plugin (srun --mpi=list: $(srun --mpi=list 2>&1 | tr '\n' ' '))"
  echo "slurm box: node(s) $names idle ($(tr ' ' '\n' <<<"$node" | grep -E '^(CPUs|RealMemory|Gres)=' | tr '\n' ' ')) in $BOX"
}

# box_setup [GPUS [HOSTS]]: what every job-script test starts from: the box (GPUS stand-in GPUs, HOSTS hosts), the
# default data set in ./data (where configs/default.ini looks), `templates` (slurm/) and `config`
# (configs/default.ini). Open MPI as root (containers, CI; a user's job needs none of this), and
# idle ranks yield their core, since ranks share 2 cores here.
box_setup() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
  templates=$HPCTRAIN_SOURCE/slurm
  config=$HPCTRAIN_SOURCE/configs/default.ini
  "$HPCTRAIN" gen-data --config "$HPCTRAIN_SOURCE/configs/default-data.ini" --out data/heteroscedastic.h5 >/dev/null
  box_start "${1:-0}" "${2:-0}"
}

# box_daemon CMD...: start a daemon in the foreground in its own session; its PID goes to BOX_PIDS.
box_daemon() {
  SLURM_CONF=$BOX/slurm.conf setsid "$@" >>"$BOX/log/$1.out" 2>&1 </dev/null &
  BOX_PIDS+=($!)
}

# The daemons' logs (their last lines, without the start-up notes about missing state files).
box_logs() {
  local f
  for f in "$BOX"/log/jobcomp.txt "$BOX"/log/*.log; do
    [[ -f $f ]] || continue
    echo "--- $f"
    grep -vE 'state file|Trying backup state' "$f" | tail -n 15
  done >&2
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
    ((rc == 0)) || box_logs
    rm -rf "$BOX"
  fi
  if ((${hosts_n:-0} > 0)); then hosts_remove; fi
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

# box_wait JOB [SECONDS]: wait until the job (every task of an array) has ended; on a time-out,
# print the queue, the job and its output, and fail.
box_wait() {
  local job=$1 limit=${2:-60} deadline lines
  deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    lines=$(scontrol show job -o "$job" 2>/dev/null || true)
    if [[ -n $lines ]] && ! grep -qvE 'JobState=(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE) ' <<<"$lines"; then
      return 0
    fi
    sleep 0.5
  done
  squeue >&2 || true
  box_job_report "$job"
  die "job $job did not end within $limit s"
}

# box_field JOB FIELD: FIELD of the job's first record (scontrol show job), e.g. StdOut, ExitCode.
box_field() {
  scontrol show job -o "$1" | head -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# The job's records and the tail of each record's output file, on stderr.
box_job_report() {
  local line out
  while read -r line; do
    echo "$line" | grep -oE '(JobId|ArrayTaskId|JobState|Reason|ExitCode)=[^ ]*' | tr '\n' ' ' >&2
    out=$(tr ' ' '\n' <<<"$line" | sed -n 's/^StdOut=//p')
    echo >&2
    [[ -f $out ]] && { echo "--- $out" >&2; tail -n 40 "$out" >&2; }
  done < <(scontrol show job -o "$1" 2>/dev/null)
  true
}

# box_expect_ok JOB TASKS: the job ended with TASKS record(s) (array tasks, or 1), each COMPLETED
# with exit code 0:0, as scontrol and the job completion log read by `sacct -c` both say.
box_expect_ok() {
  local job=$1 tasks=$2 lines n ok id
  lines=$(scontrol show job -o "$job")
  n=$(grep -c . <<<"$lines")
  ok=$(grep -c 'JobState=COMPLETED .*ExitCode=0:0 ' <<<"$lines" || true)
  [[ $n -eq $tasks && $ok -eq $tasks ]] || { box_job_report "$job"; die "job $job: $ok of $n record(s) COMPLETED with exit 0:0, expected $tasks"; }
  for id in $(grep -oE '^JobId=[0-9]+' <<<"$lines" | cut -d= -f2); do
    sacct -c -n -P -o JobID,State,ExitCode 2>/dev/null | grep -qx "$id|COMPLETED|0:0" \
      || die "sacct -c does not show job record $id as COMPLETED 0:0: $(sacct -c -n -P -o JobID,State,ExitCode 2>&1)"
  done
  pass "job $job: $tasks record(s) COMPLETED, exit code 0:0 (scontrol and sacct -c)"
}

# A library, not a test: emulated hosts on this machine for `mpirun` across "nodes" (CLUSTER-LAB.md).
#   hosts_start N   N network namespaces hpcN<i>-<pid>, each a host with its own eth0 (a veth whose other
#                   end is on a bridge), its own hostname and /dev/shm, so Open MPI sees N nodes;
#   hosts_mpirun ARGS...  mpirun (on host 1) over them (hostfile of the hosts' addresses, 2 slots each), started
#                   through rsh_agent.sh, which enters the host's namespaces, as ssh would;
#   hosts_limit I RATE    tc tbf on host I's link (e.g. 100mbit); hosts_link I down|up;
#   hosts_pids I    the processes running in host I.
# The EXIT trap (hosts_stop) kills what runs in the namespaces and removes them and the bridge.
# Exits 77 (skipped, reason printed) where the machine forbids network namespaces or lacks ip/tc.
hosts_tag=$$
hosts_bridge=hpcbr$hosts_tag
hosts_net=10.$((100 + hosts_tag % 150)).$((hosts_tag / 150 % 250))
hosts_n=0

hosts_skip() { echo "SKIP: $*"; exit 77; }

hosts_start() {
  local n=$1 i
  [[ $(id -u) -eq 0 ]] || hosts_skip "emulated hosts need root (network namespaces)"
  command -v ip >/dev/null && command -v tc >/dev/null && command -v unshare >/dev/null \
    || hosts_skip "ip, tc or unshare missing"
  ip netns add "hpcprobe$hosts_tag" 2>/dev/null || hosts_skip "this machine forbids network namespaces"
  ip netns del "hpcprobe$hosts_tag"
  trap hosts_stop EXIT
  ip link add "$hosts_bridge" type bridge
  ip addr add "$hosts_net.1/24" dev "$hosts_bridge"
  ip link set "$hosts_bridge" up
  : >"$SCRATCH/hostfile"
  for ((i = 1; i <= n; i++)); do
    local ns=hpc$i-$hosts_tag
    ip netns add "$ns"
    ip link add "hpv$i-$hosts_tag" type veth peer name eth0 netns "$ns"
    ip link set "hpv$i-$hosts_tag" master "$hosts_bridge" up
    ip -n "$ns" addr add "$hosts_net.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via "$hosts_net.1"
    # A peer behind a dead link is given up after ~6 s of retransmissions (default: ~15 min), so
    # mpirun, whose kill messages to that host's daemon stay unacknowledged, ends (see docs/cluster.md).
    nsenter --net="/run/netns/$ns" sysctl -qw net.ipv4.tcp_retries2=4
    echo "$hosts_net.$((10 + i)) slots=2" >>"$SCRATCH/hostfile"
    hosts_n=$i
  done
  # The agent: "[ssh options] HOST COMMAND..." -> the command inside that host's namespaces.
  cat >"$SCRATCH/rsh_agent.sh" <<AGENT
#!/bin/bash
while [[ \$1 == -* ]]; do [[ \$1 == -[ilopF] ]] && shift; shift; done
host=\$1; shift
ns=hpc\$((\${host##*.} - 10))-$hosts_tag
exec nsenter --net=/run/netns/\$ns unshare --uts --mount bash -c \
  'hostname "host\${0##*.}" && mount -t tmpfs tmpfs /dev/shm && exec bash -c "\$*"' "\$host" "\$@"
AGENT
  chmod +x "$SCRATCH/rsh_agent.sh"
}

# mpirun runs on host 1, as on a cluster's first node.
hosts_mpirun() {
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  OMPI_MCA_oob_tcp_keepalive_time=5 OMPI_MCA_oob_tcp_keepalive_intvl=2 OMPI_MCA_oob_tcp_keepalive_probes=3 \
    "$SCRATCH/rsh_agent.sh" "$hosts_net.11" mpirun --hostfile "$SCRATCH/hostfile" --mca plm_rsh_agent "$SCRATCH/rsh_agent.sh" \
    --mca oob_tcp_if_include "$hosts_net.0/24" --mca btl_tcp_if_include "$hosts_net.0/24" \
    --mca mpi_yield_when_idle 1 -x OMP_NUM_THREADS -x PATH "$@"
}

hosts_limit() { tc qdisc replace dev "hpv$1-$hosts_tag" root tbf rate "$2" burst 64kb latency 50ms; }
hosts_link() { ip link set "hpv$1-$hosts_tag" "$2"; }
hosts_pids() { ip netns pids "hpc$1-$hosts_tag" 2>/dev/null; }

hosts_stop() {
  local rc=$?
  hosts_remove
  exit "$rc"
}

# Kills what runs in the hosts and removes them and the bridge (hosts_stop without the exit).
hosts_remove() {
  local i p
  for ((i = 1; i <= hosts_n; i++)); do
    for p in $(hosts_pids "$i"); do kill -9 "$p" 2>/dev/null || true; done
  done
  sleep 0.2
  for ((i = 1; i <= hosts_n; i++)); do
    ip link del "hpv$i-$hosts_tag" 2>/dev/null || true
    ip netns del "hpc$i-$hosts_tag" 2>/dev/null || true
  done
  ip link del "$hosts_bridge" 2>/dev/null || true
}

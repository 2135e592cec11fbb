# Ports for a test's own listeners. `test_ports NAME COUNT` sets PORT to the first of COUNT
# consecutive ports that are free right now (TCP and UDP on 127.0.0.1), inside a slice of
# 20000-31999 that is NAME's alone: tests that ctest runs at the same time never pick the same
# ports (they used to draw from one shared range at random). Python tests take theirs from the
# kernel's ephemeral range (32768 and up), which no slice reaches.
test_ports() {
  local names=(dns dkim postfix check instances readiness smtp rollout) slice=1500 i try
  for ((i = 0; i < ${#names[@]}; i++)); do [ "${names[i]}" = "$1" ] && break; done
  [ "$i" -lt ${#names[@]} ] || { echo "test_ports: no slice for '$1'" >&2; return 1; }
  for try in $(seq 50); do
    PORT=$((20000 + i * slice + RANDOM % (slice - $2)))
    python3 - "$PORT" "$2" <<'PY' && return 0
import socket, sys
base, count = int(sys.argv[1]), int(sys.argv[2])
for port in range(base, base + count):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                sys.exit(1)
PY
  done
  echo "test_ports: no $2 free ports in $1's slice" >&2
  return 1
}

#!/usr/bin/env bash
# A 60-second chaos soak (scripts/chaos-soak.sh): three hakeepd in network namespaces
# under nftables loss bursts, partitions, SIGKILL and SIGTERM restarts, then one Master
# per VRID, VIPs only on the Masters, nothing left after stopping, flat memory and fds.
# A random seed each run (printed with the command that replays it); SOAK_SEED fixes it.
set -euo pipefail
export SOAK_SECONDS=${SOAK_SECONDS:-60}
exec bash "$(dirname "$0")/../chaos-soak.sh"

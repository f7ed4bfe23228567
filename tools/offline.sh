#!/usr/bin/env bash
# Run a command with the network unplugged: in a new network namespace where only loopback is up (Jupyter
# kernels talk to their notebook over 127.0.0.1), so any download fails at once. BOOK_OFFLINE=1 tells
# tests/test_offline.py to prove that the network is really gone.
#
#   tools/offline.sh pytest
#
# Needs unshare(1) and permission for a user namespace (most Linux machines; not macOS or Windows).
set -euo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: tools/offline.sh COMMAND [ARGS...]" >&2
  exit 2
fi
# -r maps the caller to root inside the namespace, which may then bring loopback up; files stay the caller's.
exec unshare --map-root-user --net bash -c 'ip link set lo up && BOOK_OFFLINE=1 exec "$@"' offline "$@"

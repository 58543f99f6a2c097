#!/usr/bin/env bash
# Instructions the server spends per signed-in page view, counted by callgrind: deterministic
# to about 1%, where the load run's rates move by 15% from one run to the next on a shared
# machine. Compares builds exactly: `benches/instructions/measure.sh BIN [N]`.
# Needs valgrind, curl and python3. One account, one browser, N × (/dashboard +
# /account/sessions) after 50 warm-up rounds; the sign-in (Argon2) is outside the count.
set -euo pipefail
BIN=$(realpath "${1:?usage: measure.sh path/to/realmgate [rounds]}")
N=${2:-2000}
HERE=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
cd "$D"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export REALMGATE_DATABASE_URL=$D/ir.db REALMGATE_MAIL=log RUST_LOG=warn REALMGATE_BIND=127.0.0.1:$PORT
"$BIN" migrate >/dev/null
echo "correct horse battery staple 42" | "$BIN" create-user --email ir@example.com --name IR --password-stdin >/dev/null
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$D/cg.out" "$BIN" serve >"$D/server.log" 2>&1 &
VPID=$!
for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 1; done
python3 "$HERE/drive.py" "$PORT" 0 login
python3 "$HERE/drive.py" "$PORT" 50 warm >/dev/null
callgrind_control -i on "$VPID" >/dev/null 2>&1
python3 "$HERE/drive.py" "$PORT" "$N" views >/dev/null
callgrind_control -d "$VPID" >/dev/null 2>&1
sleep 1
kill "$VPID" 2>/dev/null || true
wait "$VPID" 2>/dev/null || true
TOTAL=$(cat "$D"/cg.out* | awk '/^summary:/ {s += $2} END {print s}')
echo "instructions per page view: $((TOTAL / (2 * N))) ($N rounds of /dashboard + /account/sessions)"

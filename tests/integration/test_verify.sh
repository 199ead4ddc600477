#!/usr/bin/env bash
# Integration test of `coldchainctl verify` (issue 7; docs/history.md "Verify"): a history is
# written through the store (make_audit_history: shipments, readings in batches, alerts, commands,
# a clock jump, a purge), then each copy of it is tampered with by the sqlite3 CLI the way
# someone holding the file would: a reading's value edited, a reading deleted, one inserted, a
# purged one put back, readings reordered, an alert's payload edited, an event deleted, an
# event's detail edited, events reordered, a shipment's end moved. Each time verify must exit 1
# and name the row that was touched first; on the untouched history it must exit 0. The same
# histories go through tools/verify_history.py, the auditor's independent script, which must
# agree.
#
# Environment (meson sets it): COLDCHAINCTL, MAKE_AUDIT_HISTORY, VERIFY_HISTORY_PY.
# Exit 0 all passed, 1 a check failed, 77 skipped: no sqlite3 CLI (COLDCHAIN_REQUIRE_PEERS=1
# turns that into a failure). python3 missing skips only the script's checks.
set -u

passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/coldchain-verify-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

check() { # check DESCRIPTION COMMAND [ARG...]
    local what=$1
    shift
    if "$@"; then
        echo "ok: $what"
        passed=$((passed + 1))
    else
        echo "FAIL: $what"
        failed=$((failed + 1))
    fi
}

finish() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
    exit $?
}

if ! command -v sqlite3 >/dev/null; then
    if [ "${COLDCHAIN_REQUIRE_PEERS:-}" = 1 ]; then
        echo "FAIL: no sqlite3 CLI, and COLDCHAIN_REQUIRE_PEERS=1 forbids skipping"
        exit 1
    fi
    echo "SKIP: no sqlite3 CLI (tools/setup installs it)"
    exit 77
fi
python=
if command -v python3 >/dev/null && [ -n "${VERIFY_HISTORY_PY:-}" ]; then
    python=python3
fi

base=$tmp/base
mkdir "$base"
if ! "$MAKE_AUDIT_HISTORY" "$base"; then
    echo "FAIL: make_audit_history could not write the history"
    exit 1
fi
# The file as the sqlite3 CLI and a copy see it: the WAL checkpointed into it.
sqlite3 "$base/history.db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null

q() { # q SQL: one value from the untouched history
    sqlite3 "$base/history.db" "$1"
}

# verify_status DB: coldchainctl verify's exit status; its output in $tmp/out.
verify_status() {
    "$COLDCHAINCTL" verify --db "$1" >"$tmp/out" 2>&1
    echo $?
}

intact() {
    [ "$(verify_status "$base/history.db")" = 0 ] && grep -q ': intact: ' "$tmp/out"
}
check "the untouched history verifies (exit 0)" intact
cat "$tmp/out"
check "it holds purged readings, a clock and a command event, three alerts" \
    test "$(q "SELECT (SELECT COUNT(*) FROM events WHERE kind IN ('purge', 'clock', 'command',
          'assign', 'shipment-end')) || '/' || (SELECT COUNT(*) FROM alerts)")" = "5/3"
if [ -n "$python" ]; then
    check "verify_history.py agrees: intact (exit 0)" \
        "$python" "$VERIFY_HISTORY_PY" "$base/history.db"
fi
json_intact() {
    "$COLDCHAINCTL" --json verify --db "$base/history.db" >"$tmp/json" &&
        grep -q '"intact":true' "$tmp/json" && grep -q '"findings":\[\]' "$tmp/json"
}
check "--json says intact with no findings" json_intact

# tampered NAME SQL EXPECTED: a copy of the history, SQL run on it by the sqlite3 CLI; verify
# must exit 1 and its first finding must start with EXPECTED ("readings 17: altered").
tampered() {
    local name=$1 sql=$2 expected=$3
    local dir=$tmp/$name
    mkdir "$dir"
    cp "$base/history.db" "$dir/history.db"
    if ! sqlite3 "$dir/history.db" "$sql"; then
        check "$name: the sqlite3 CLI ran: $sql" false
        return
    fi
    local status first
    status=$(verify_status "$dir/history.db")
    first=$(sed -n '2s/^  //p' "$tmp/out")
    check "$name: verify exits 1 (got $status)" test "$status" = 1
    check "$name: the first finding is \"$expected\" (got \"$first\")" \
        test "${first#"$expected"}" != "$first"
    if [ -n "$python" ]; then
        local py
        py=$("$python" "$VERIFY_HISTORY_PY" "$dir/history.db")
        check "$name: verify_history.py agrees (\"$py\")" \
            test "${py#*first: "$expected"}" != "$py"
    fi
}

reading=$(q "SELECT id FROM readings WHERE sensor_id = 'probe-a' ORDER BY id LIMIT 1 OFFSET 500")
tampered edit-reading "UPDATE readings SET value = value - 3 WHERE id = $reading" \
    "readings $reading: altered"
tampered delete-reading "DELETE FROM readings WHERE id = $reading" "readings $reading: deleted"
last=$(q "SELECT MAX(id) FROM readings")
tampered insert-reading "INSERT INTO readings (sensor_id, quantity, ts_ms, value, flags)
    VALUES ('probe-a', 0, $(q "SELECT MAX(ts_ms) FROM readings") + 60000, 4.2, 0)" \
    "readings $((last + 1)): inserted"
# Id 3 was logger-7's first reading: the truck's, purged by retention.
tampered put-back-purged "INSERT INTO readings (id, sensor_id, quantity, ts_ms, value, flags)
    VALUES (3, 'logger-7', 0, $(q "SELECT ts_ms FROM readings WHERE id = 1") + 200, 4.0, 0)" \
    "readings 3: inserted"
a=$(q "SELECT id FROM readings WHERE sensor_id = 'probe-a' ORDER BY id LIMIT 1 OFFSET 800")
b=$(q "SELECT id FROM readings WHERE sensor_id = 'probe-a' ORDER BY id LIMIT 1 OFFSET 801")
tampered reorder-readings "UPDATE readings SET id = -1 WHERE id = $a;
    UPDATE readings SET id = $a WHERE id = $b; UPDATE readings SET id = $b WHERE id = -1" \
    "readings $a: altered"
tampered edit-alert-payload "UPDATE alerts SET payload = replace(payload, '8.6', '7.6')
    WHERE seq = 2" "alerts 2: altered"
tampered delete-alert "DELETE FROM alerts WHERE seq = 3" "alerts 3: deleted"
event=$(q "SELECT id FROM events WHERE kind = 'clock'")
tampered delete-event "DELETE FROM events WHERE id = $event" "events $event: deleted"
command=$(q "SELECT id FROM events WHERE kind = 'command'")
tampered edit-event-detail "UPDATE events SET detail = replace(detail, 'Door left ajar',
    'All fine') WHERE id = $command" "events $command: altered"
tampered reorder-events "UPDATE events SET id = -1 WHERE id = $command;
    UPDATE events SET id = $command WHERE id = $((command + 1));
    UPDATE events SET id = $((command + 1)) WHERE id = -1" \
    "events $command..$((command + 1)): altered"
tampered edit-shipment-end "UPDATE shipments SET ended_ms = ended_ms + 3600000
    WHERE id = 'truck-7'" "shipments truck-7: altered"
tampered delete-assignment "DELETE FROM shipment_sensors WHERE sensor_id = 'logger-8'" \
    "shipment_sensors truck-7/logger-8: deleted"
# Read-only: verify of a file the process may not write still works, and changes nothing (as
# root the permissions are not enforced; the file's hash still shows that nothing was written).
chmod a-w "$base/history.db" "$base"
sum_before=$(sha256sum "$base/history.db" | cut -d' ' -f1)
check "verify reads a history it may not write" intact
check "and leaves the file as it was" \
    test "$(sha256sum "$base/history.db" | cut -d' ' -f1)" = "$sum_before"
chmod u+w "$base/history.db" "$base"

missing() {
    [ "$(verify_status "$tmp/none/history.db")" = 3 ]
}
check "a missing database: exit 3" missing
usage() {
    "$COLDCHAINCTL" verify --db "$base/history.db" extra >/dev/null 2>&1
    [ $? = 2 ]
}
check "a stray argument: exit 2" usage
finish

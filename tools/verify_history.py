#!/usr/bin/env python3
"""Recomputes a coldchain history's audit trail with nothing but Python's standard library.

An auditor's second opinion on `coldchainctl verify`: written from docs/history.md, not from the
gateway's C code. It opens the database read-only (the gateway may be running) and checks the
hash chain of the events table, each sealed reading, each alert, the shipments and their sensor
assignments, exactly as docs/history.md "Verify" describes.

    tools/verify_history.py /var/lib/coldchain/history.db [--json]

Exit status: 0 intact, 1 findings (the first is named on stdout), 2 usage, 3 cannot open or
not a schema-3 history.
"""
import base64
import hashlib
import json
import sqlite3
import struct
import sys

GENESIS = "0" * 64
FINGERPRINT_LEN = 4  # bytes of a row hash per reading in "rows" (base64)


def ns(value):
    """One field of the canonical encoding: a netstring, or "~" for NULL."""
    if value is None:
        return b"~"
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        value = value.encode("utf-8")
    return str(len(value)).encode() + b":" + value + b","


def real(value):
    """A REAL as the 16 hex digits of its IEEE 754 binary64 bits, big-endian; -0 as +0."""
    if value is None or value != value:
        return None
    value = float(value)
    if value == 0.0:
        value = 0.0
    return struct.pack(">d", value).hex()


def event_hash(eid, ts_ms, kind, shipment_id, actor, detail, prev_hash):
    fields = [b"event", eid, ts_ms, kind, shipment_id, actor, detail, prev_hash]
    return hashlib.sha256(b"".join(ns(f) for f in fields)).hexdigest()


def reading_digest(rid, sensor_id, quantity, ts_ms, value, flags):
    fields = [b"reading", rid, sensor_id, quantity, ts_ms, real(value), flags]
    return hashlib.sha256(b"".join(ns(f) for f in fields)).digest()


def alert_digest(row):
    (seq, alert_id, ts_ms, shipment_id, alarm_id, sensor_id, transition, value, worst,
     since_ms, payload, state, level, amount_ms) = row
    fields = [b"alert", seq, alert_id, ts_ms, shipment_id, alarm_id, sensor_id, transition,
              real(value), real(worst), since_ms, payload, state, level, amount_ms]
    return hashlib.sha256(b"".join(ns(f) for f in fields)).digest()


class Verifier:
    def __init__(self, db):
        self.db = db
        self.findings = []
        self.units = []        # dicts: event, first, last, count, sha256, purged, remaining...
        self.alarms = {}       # seq -> (event id, row sha256, payload sha256)
        self.ships = {}        # id -> dict
        self.head = (0, "")

    def add(self, table, rid, what, detail, key=""):
        last = self.findings[-1] if self.findings else None
        if (last and last["table"] == table and last["what"] == what and last["key"] == key
                and last["detail"] == detail and rid == last["id_last"] + 1):
            last["id_last"] = rid
            return
        self.findings.append({"table": table, "id": rid, "id_last": rid, "key": key,
                              "what": what, "detail": detail})

    # -- events --
    def events(self):
        prev_id, prev_hash, prev_ok = 0, GENESIS, True
        rows = self.db.execute(
            "SELECT id, ts_ms, kind, shipment_id, actor, detail, prev_hash, hash, typeof(ts_ms),"
            " typeof(kind), typeof(shipment_id), typeof(actor), typeof(detail),"
            " typeof(prev_hash), typeof(hash) FROM events ORDER BY id")
        for row in rows:
            eid, ts_ms, kind, ship, actor, detail, prev, stored = row[:8]
            types = row[8:]
            types_ok = (types[0] == "integer" and types[1] == "text"
                        and types[2] in ("text", "null") and types[3] in ("text", "null")
                        and types[4] == "text" and types[5] == "text" and types[6] == "text")
            self_ok = types_ok and event_hash(eid, ts_ms, kind, ship, actor, detail,
                                              prev) == stored
            self.head = (eid, stored if isinstance(stored, str) else "")
            if eid != prev_id + 1:
                self.findings.append({"table": "events", "id": prev_id + 1, "id_last": eid - 1,
                                      "key": "", "what": "deleted",
                                      "detail": "missing from the chain"})
            elif prev != prev_hash and self_ok and prev_ok and eid > 1:
                self.add("events", eid - 1, "altered", "replaced")
            elif prev != prev_hash and self_ok:
                self.add("events", eid, "altered", "prev_hash does not link")
            if not self_ok:
                self.add("events", eid, "altered", "hash does not match content")
            prev_id, prev_ok = eid, self_ok
            prev_hash = stored if isinstance(stored, str) and len(stored) == 64 else ""
            if isinstance(detail, str):
                try:
                    d = json.loads(detail)
                except ValueError:
                    d = None
                if isinstance(d, dict):
                    self.learn(eid, kind, ship, d)

    def learn(self, eid, kind, ship, d):
        if kind == "readings":
            try:
                first, last, count = d["first_id"], d["last_id"], d["count"]
                ok = (count == last - first + 1 and len(d["sha256"]) == 64
                      and len(base64.b64decode(d["rows"], validate=True))
                      == count * FINGERPRINT_LEN)
            except (KeyError, TypeError, ValueError):
                ok = False
            if not ok:
                self.add("events", eid, "altered", "bad readings detail")
                return
            self.units.append({"event": eid, "first": first, "last": last, "count": count,
                               "sha256": d["sha256"], "purged": None})
        elif kind == "alarm":
            self.alarms.setdefault(d.get("seq"), (eid, d.get("row_sha256"),
                                                  d.get("payload_sha256")))
        elif kind == "shipment-start":
            if ship in self.ships:
                self.add("events", eid, "altered", "second start")
                return
            s = {k: d.get(k) for k in ("kind", "profile", "description", "source",
                                       "started_ms")}
            s["ended_ms"] = d.get("ended_ms")
            s["assign"] = [[x, d["started_ms"], None, False] for x in d.get("sensors", [])]
            s["matched"] = False
            self.ships[ship] = s
        elif kind in ("shipment-end", "assign", "unassign"):
            s = self.ships.get(ship)
            if s is None:
                self.add("events", eid, "altered", "never started")
                return
            if kind == "shipment-end":
                s["ended_ms"] = d["ended_ms"]
                for a in s["assign"]:
                    if a[2] is None:
                        a[2] = d["ended_ms"]
                return
            open_ = [a for a in s["assign"] if a[0] == d["sensor"] and a[2] is None]
            if kind == "assign" and not open_:
                s["assign"].append([d["sensor"], d["from_ms"], None, False])
            elif kind == "unassign" and open_:
                open_[0][2] = d["to_ms"]
        elif kind == "purge":
            by_event = {u["event"]: u for u in self.units}
            for e in d.get("units", []):
                u = by_event.get(e.get("event"))
                if u is None or e.get("first_id") != u["first"] or e.get("last_id") != u["last"]:
                    self.add("events", eid, "altered", "purge names a missing seal")
                    continue
                u["purged"] = bytes.fromhex(e["purged"])
                u["remaining"] = e["count"]
                u["remaining_sha256"] = e["sha256"]

    # -- shipments and assignments --
    def shipments(self):
        for row in self.db.execute("SELECT id, kind, profile, description, source, started_ms,"
                                   " ended_ms FROM shipments ORDER BY id"):
            sid = row[0]
            s = self.ships.get(sid)
            if s is None:
                self.add("shipments", 0, "inserted", "no start event", key=sid)
                continue
            s["matched"] = True
            want = (s["kind"], s["profile"], s["description"], s["source"], s["started_ms"],
                    s["ended_ms"])
            if tuple(row[1:]) != want:
                self.add("shipments", 0, "altered", "differs from its events", key=sid)
        for sid, s in self.ships.items():
            if not s["matched"]:
                self.add("shipments", 0, "deleted", "started, not in the table", key=sid)

    def assignments(self):
        for rid, sid, sensor, from_ms, to_ms in self.db.execute(
                "SELECT id, shipment_id, sensor_id, from_ms, to_ms FROM shipment_sensors"
                " ORDER BY id"):
            key = "%s/%s" % (sid, sensor)
            cand = [a for a in self.ships.get(sid, {"assign": []})["assign"]
                    if not a[3] and a[0] == sensor and a[1] == from_ms]
            if not cand:
                self.add("shipment_sensors", rid, "inserted", "no event", key=key)
                continue
            cand[0][3] = True
            if cand[0][2] != to_ms:
                self.add("shipment_sensors", rid, "altered", "to_ms differs", key=key)
        for sid, s in self.ships.items():
            for a in s["assign"]:
                if not a[3]:
                    self.add("shipment_sensors", 0, "deleted", "not in the table",
                             key="%s/%s" % (sid, a[0]))

    # -- readings --
    def readings(self):
        """One walk over the table in id order against the seals in id order."""
        units = sorted(self.units, key=lambda u: u["first"])
        count = 0
        state = {"u": 0, "cur": None}

        def enter(u):
            detail = self.db.execute("SELECT detail FROM events WHERE id = ?",
                                     (u["event"],)).fetchone()[0]
            state["cur"] = {"u": u, "rows": base64.b64decode(json.loads(detail)["rows"]),
                            "next": u["first"],
                            "seal": hashlib.sha256(), "count": 0, "finding": False}

        def purged(u, rid):
            i = rid - u["first"]
            return u["purged"] is not None and (u["purged"][i // 8] >> (i % 8)) & 1

        def missing_until(c, rid):
            for m in range(c["next"], rid):
                if not purged(c["u"], m):
                    self.add("readings", m, "deleted", "sealed by event %d" % c["u"]["event"])
                    c["finding"] = True
            c["next"] = rid

        def leave():
            u = units[state["u"]]
            if state["cur"] is None:
                enter(u)
            c = state["cur"]
            missing_until(c, u["last"] + 1)
            want = (u["remaining"], u["remaining_sha256"]) if u["purged"] is not None else (
                u["count"], u["sha256"])
            if not c["finding"] and (c["count"], c["seal"].hexdigest()) != want:
                self.add("readings", u["first"], "altered", "seal of event %d" % u["event"])
            state["cur"] = None
            state["u"] += 1

        for row in self.db.execute(
                "SELECT id, sensor_id, quantity, ts_ms, value, flags, typeof(sensor_id),"
                " typeof(quantity), typeof(ts_ms), typeof(value), typeof(flags)"
                " FROM readings ORDER BY id"):
            rid = row[0]
            count += 1
            while state["u"] < len(units) and units[state["u"]]["last"] < rid:
                leave()
            if state["u"] == len(units) or rid < units[state["u"]]["first"]:
                self.add("readings", rid, "inserted", "no seal")
                continue
            u = units[state["u"]]
            if state["cur"] is None:
                enter(u)
            c = state["cur"]
            missing_until(c, rid)
            c["next"] = rid + 1
            if purged(u, rid):
                self.add("readings", rid, "inserted", "purged, yet back")
                c["finding"] = True
                continue
            digest = reading_digest(*row[:6])
            c["seal"].update(digest)
            c["count"] += 1
            i = rid - u["first"]
            if row[6:] not in (("text", "integer", "integer", "real", "integer"),
                               ("text", "integer", "integer", "null", "integer")):
                self.add("readings", rid, "altered", "wrong type")
                c["finding"] = True
            elif digest[:FINGERPRINT_LEN] != c["rows"][i * 4:i * 4 + FINGERPRINT_LEN]:
                self.add("readings", rid, "altered", "fingerprint of event %d" % u["event"])
                c["finding"] = True
        while state["u"] < len(units):
            leave()
        return count

    # -- alerts --
    def alerts(self):
        seen = set()
        for row in self.db.execute(
                "SELECT seq, alert_id, ts_ms, shipment_id, alarm_id, sensor_id, transition,"
                " value, worst, since_ms, payload, state, level, amount_ms,"
                " typeof(alert_id) || typeof(ts_ms) || typeof(shipment_id) || typeof(alarm_id)"
                " || typeof(sensor_id) || typeof(transition) || typeof(since_ms)"
                " || typeof(payload) || typeof(state) || typeof(level) || typeof(amount_ms),"
                " typeof(value), typeof(worst) FROM alerts ORDER BY seq"):
            seq = row[0]
            for missing in sorted(s for s in self.alarms if s not in seen and s < seq):
                self.add("alerts", missing, "deleted", "recorded, not in the table")
                seen.add(missing)
            seal = self.alarms.get(seq)
            seen.add(seq)
            if seal is None:
                self.add("alerts", seq, "inserted", "no alarm event")
                continue
            types_ok = (row[14] == "textintegertexttexttexttextintegertexttextintegerinteger"
                        and row[15] in ("real", "null") and row[16] in ("real", "null"))
            payload_sha = hashlib.sha256((row[10] or "").encode()).hexdigest()
            if not types_ok:
                self.add("alerts", seq, "altered", "wrong type")
            elif payload_sha != seal[2]:
                self.add("alerts", seq, "altered", "payload")
            elif alert_digest(row[:14]).hex() != seal[1]:
                self.add("alerts", seq, "altered", "row")
        for missing in sorted(s for s in self.alarms if s not in seen):
            self.add("alerts", missing, "deleted", "recorded, not in the table")


def main(argv):
    args = [a for a in argv[1:] if a != "--json"]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        db = sqlite3.connect("file:%s?mode=ro" % args[0], uri=True)
        db.execute("BEGIN")
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as e:
        print("%s: %s" % (args[0], e), file=sys.stderr)
        return 3
    if version != 3:
        print("%s: schema %d, not a schema-3 history" % (args[0], version), file=sys.stderr)
        return 3
    v = Verifier(db)
    v.events()
    v.shipments()
    v.assignments()
    readings = v.readings()
    v.alerts()
    if "--json" in argv:
        print(json.dumps({"intact": not v.findings, "head": {"id": v.head[0], "hash": v.head[1]},
                          "readings": readings, "findings": v.findings}))
    elif v.findings:
        f = v.findings[0]
        print("TAMPERED: %d finding(s); first: %s %s%s: %s (%s)" % (
            len(v.findings), f["table"], f["key"] or f["id"],
            "" if f["id_last"] == f["id"] else "..%d" % f["id_last"], f["what"], f["detail"]))
    else:
        print("intact: %d events, head %s" % (v.head[0], v.head[1]))
    return 1 if v.findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

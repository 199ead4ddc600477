#!/usr/bin/env python3
"""Checks MQTT payloads against the JSON Schemas in docs/schemas/ (draft 2020-12).

  validate_schemas.py [--docs docs/mqtt.md] [--require KINDS] [CAPTURE ...]

--docs: every fenced ```json block of docs/mqtt.md, by the section it stands in (status,
telemetry, alerts, the twin, Commands/Verbs, Commands/Replies; blocks of other sections are
configuration and are passed over), is checked against its schema; each schema must have at least
one example there, and each of a schema's own "examples" must be one of the doc's. Without
captures, --docs is the default.

CAPTURE: files, or directories read recursively, of captured messages, one a line, either
  {"topic": "...", "payload": "<the payload as a string>", "retained": false}   (JSON Lines;
      "retained" optional) or
  <topic> <payload>        as `mosquitto_sub -v` prints it ("(null)" is an empty payload).
The topic picks the schema: <root>/status, /telemetry, /alerts, /shipments/<id>/twin,
/cmd/<verb> (the verb is added to the payload; an empty payload is {}), and /reply or /reply/...
A topic under a root that is none of these is an error. Besides the schemas, what a schema cannot
see: the payload's "gateway" is the topic's, a twin's shipment is its topic's, a twin's
active_alarms counts its active and acknowledged alarms, a command's "verb" agrees with its topic,
a payload has no member twice, the retained flag (when recorded) is as documented, and alerts'
seq has no gaps and one id per seq.

--require status,telemetry,alerts,twin,cmd,reply: also fail when a kind never appeared.

Exit: 0 everything valid, 1 something invalid (each problem is printed as FILE:LINE: ...),
2 usage or unreadable input, 77 python3-jsonschema is not installed (Debian 12:
apt install python3-jsonschema; 4.10 or later).
"""

import argparse
import html
import json
import os
import re
import sys

try:
    import jsonschema
except ImportError:
    print("validate_schemas.py: python3-jsonschema is not installed "
          "(apt install python3-jsonschema)", file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SCHEMA_NAMES = ("status", "telemetry", "alert", "twin", "command", "reply")
TOPIC_KINDS = ("status", "telemetry", "alerts", "twin", "cmd", "reply")
SCHEMA_OF_KIND = {"status": "status", "telemetry": "telemetry", "alerts": "alert",
                  "twin": "twin", "cmd": "command", "reply": "reply"}
# docs/mqtt.md: status and twin are retained, the others are not.
RETAINED = {"status": True, "twin": True, "telemetry": False, "alerts": False, "cmd": False,
            "reply": False}
MAX_ERRORS_PER_PAYLOAD = 8


class Problems:
    def __init__(self):
        self.count = 0

    def add(self, where, text):
        self.count += 1
        print(f"{where}: {text}")


def no_duplicates(pairs):
    """object_pairs_hook: a member given twice is an error, not the last one winning."""
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f'member "{key}" given twice')
        seen[key] = value
    return seen


def parse_json(text):
    return json.loads(text, object_pairs_hook=no_duplicates)


def load_schemas(directory, problems):
    validators = {}
    for name in SCHEMA_NAMES:
        path = os.path.join(directory, f"{name}.schema.json")
        try:
            with open(path, encoding="utf-8") as f:
                schema = parse_json(f.read())
            jsonschema.Draft202012Validator.check_schema(schema)
        except (OSError, ValueError) as e:
            problems.add(path, f"cannot read the schema: {e}")
            continue
        except jsonschema.SchemaError as e:
            problems.add(path, f"not a valid draft 2020-12 schema: {e.message}")
            continue
        if not schema.get("description") or not schema.get("examples"):
            problems.add(path, 'the schema needs a "description" and "examples"')
        validators[name] = jsonschema.Draft202012Validator(schema)
    return validators


def sub_validator(validators, schema_name, definition, array=False):
    """A validator for #/$defs/<definition> of a schema (or an array of it), with its $defs."""
    schema = validators[schema_name].schema
    ref = {"$ref": f"#/$defs/{definition}"}
    sub = {"$schema": schema["$schema"], "$defs": schema["$defs"]}
    sub.update({"type": "array", "items": ref} if array else ref)
    return jsonschema.Draft202012Validator(sub)


def schema_errors(validator, instance):
    out = []
    for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path))):
        path = "/".join(str(p) for p in e.absolute_path) or "(root)"
        out.append(f"{path}: {e.message}")
    return out


def report_errors(problems, where, errors):
    for text in errors[:MAX_ERRORS_PER_PAYLOAD]:
        problems.add(where, text)
    if len(errors) > MAX_ERRORS_PER_PAYLOAD:
        problems.add(where, f"... and {len(errors) - MAX_ERRORS_PER_PAYLOAD} more")


# ---- docs/mqtt.md ---------------------------------------------------------------------------

def heading_text(line):
    text = line.lstrip("#").strip()
    return html.unescape(text.replace("`", "")).strip()


def doc_blocks(path):
    """Yields (line, h2, h3, paragraph before the block, text) for every ```json block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    h2 = h3 = ""
    paragraph = []  # the text since the last heading or block, paragraphs joined
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            fence_lang = line[3:].strip()
            start = i + 1
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                i += 1
            if fence_lang == "json":
                yield start, h2, h3, last_paragraph(paragraph), "\n".join(lines[start:i])
            paragraph = []
        elif line.startswith("## "):
            h2, h3, paragraph = heading_text(line), "", []
        elif line.startswith("### "):
            h3, paragraph = heading_text(line), []
        else:
            paragraph.append(line.strip())
        i += 1


def last_paragraph(lines):
    text = "\n".join(lines).strip()
    return " ".join(text.split("\n\n")[-1].split("\n")) if text else ""


def parse_block(text):
    """A block holds one JSON value, or one per line (the replies)."""
    try:
        return [parse_json(text)]
    except ValueError:
        return [parse_json(line) for line in text.split("\n") if line.strip()]


def check_docs(path, validators, problems):
    found = {name: [] for name in SCHEMA_NAMES}
    skipped = []
    twin_alarms = sub_validator(validators, "twin", "alarm", array=True)
    verb = None  # in Commands/Verbs, the verb of the last request example
    fragments = 0  # arrays of twin alarms
    for line, h2, h3, paragraph, text in doc_blocks(path):
        where = f"{path}:{line}"
        if h2 == "alerts":
            name = "alert"
        elif h2 in ("status", "telemetry"):
            name = h2
        elif h2 == "shipments/<id>/twin":
            name = "twin"
        elif h2 == "Commands" and h3 in ("Verbs", "Replies"):
            name = "command" if h3 == "Verbs" else "reply"
        else:
            skipped.append(h2)
            continue
        try:
            values = parse_block(text)
        except ValueError as e:
            problems.add(where, f"section {h2}: the example is not JSON: {e}")
            continue
        for value in values:
            target = name
            if target == "twin" and isinstance(value, list):
                fragments += 1
                report_errors(problems, where, schema_errors(twin_alarms, value))
                continue
            if target == "command":
                # Verbs holds, for each verb, the MQTT payload of a request after a paragraph
                # that starts with "`verb`:", and may follow it with the reply's "result" (after
                # a paragraph that says so) or with whole replies (objects with "ok").
                m = re.match(r"`([a-z-]+)`:", paragraph)
                if isinstance(value, dict) and "ok" in value:
                    target = "reply"
                elif m:
                    verb = m.group(1)
                    value = dict(value, verb=verb)
                elif verb and "`result`" in paragraph:
                    target, value = "reply", {"ok": True, "verb": verb, "result": value}
                else:
                    problems.add(where, "in Verbs, a block that is neither a request after "
                                 "\"`verb`: ...\", nor a reply, nor a reply's `result`")
                    continue
            found[target].append(value)
            if target in validators:
                report_errors(problems, where, schema_errors(validators[target], value))
    for name in SCHEMA_NAMES:
        if not found[name]:
            problems.add(path, f"no example for {name}.schema.json was found in its section")
        if name not in validators:
            continue
        # The schema's own examples must be the doc's, so that the two cannot drift apart.
        for n, example in enumerate(validators[name].schema.get("examples", [])):
            if example not in found[name]:
                problems.add(f"docs/schemas/{name}.schema.json",
                             f"examples[{n}] is not one of the examples in {path}")
            report_errors(problems, f"docs/schemas/{name}.schema.json: examples[{n}]",
                          schema_errors(validators[name], example))
    counts = ", ".join(f"{name} {len(found[name])}" for name in SCHEMA_NAMES)
    print(f"{path}: examples checked: {counts} (and {fragments} twin alarms[]); "
          f"blocks passed over (not payloads): "
          f"{len(skipped)}{' in ' + ', '.join(sorted(set(skipped))) if skipped else ''}")


# ---- captured messages ----------------------------------------------------------------------

def classify(topic):
    """Returns (kind, root, detail) for a topic under a gateway's root, or None."""
    levels = topic.split("/")
    if len(levels) >= 3 and levels[-2] == "cmd":
        return "cmd", levels[:-2], levels[-1]
    # A response topic may end in anything ("reply/status"): a "reply" level after at least a
    # prefix and a gateway id comes first (so a gateway may not be called "reply" here).
    for i in range(2, len(levels)):
        if levels[i] == "reply":
            return "reply", levels[:i], None
    if len(levels) >= 4 and levels[-3] == "shipments" and levels[-1] == "twin":
        return "twin", levels[:-3], levels[-2]
    if len(levels) >= 2 and levels[-1] in ("status", "telemetry", "alerts"):
        return levels[-1], levels[:-1], None
    return None


def read_capture(path):
    """Yields (line number, topic, payload text or None when not UTF-8, retained or None)."""
    with open(path, "rb") as f:
        data = f.read()
    for n, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        if raw.startswith(b"{"):
            record = parse_json(raw.decode("utf-8"))
            yield n, record["topic"], record["payload"], record.get("retained")
            continue
        topic, _, payload = raw.partition(b" ")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        yield n, topic.decode("utf-8", "replace"), "" if text == "(null)" else text, None


def capture_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for d, _, names in sorted(os.walk(p)):
                for name in sorted(names):
                    yield os.path.join(d, name)
        else:
            yield p


class Alerts:
    """Across all captures: one id per seq, and no gap in each gateway's seq."""

    def __init__(self):
        self.by_gateway = {}

    def add(self, problems, where, gateway, payload):
        seqs = self.by_gateway.setdefault(gateway, {})
        seq, alert_id = payload.get("seq"), payload.get("id")
        if seq in seqs and seqs[seq] != alert_id:
            problems.add(where, f"alert seq {seq} came with two ids: {seqs[seq]} and {alert_id}")
        seqs.setdefault(seq, alert_id)

    def check(self, problems):
        for gateway, seqs in self.by_gateway.items():
            ids = list(seqs.values())
            if len(set(ids)) != len(ids):
                problems.add(gateway, "alerts: one id was sent with two seqs")
            numbers = sorted(s for s in seqs if isinstance(s, int))
            missing = []
            if numbers:
                missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
            if missing:
                problems.add(gateway, f"alerts: seq has gaps (missing {missing[:10]})")


def check_semantics(kind, root, detail, payload, problems, where):
    """What the schemas cannot see (see the top of the file)."""
    gateway = root[-1] if root else None
    if kind in ("status", "telemetry", "alerts", "twin") and payload.get("gateway") != gateway:
        problems.add(where, f'"gateway" is {payload.get("gateway")!r}, the topic says {gateway!r}')
    if kind == "twin":
        shipment = payload.get("shipment")
        if isinstance(shipment, dict) and shipment.get("id") != detail:
            problems.add(where, f'shipment.id is {shipment.get("id")!r}, the topic says {detail!r}')
        alarms = payload.get("alarms")
        if isinstance(alarms, list):
            n = sum(1 for a in alarms
                    if isinstance(a, dict) and a.get("state") in ("active", "acknowledged"))
            if payload.get("active_alarms") != n:
                problems.add(where, f"active_alarms is {payload.get('active_alarms')!r}, but "
                             f"{n} alarms are active or acknowledged")


def check_captures(paths, validators, problems, required):
    seen = {kind: 0 for kind in TOPIC_KINDS}
    alerts = Alerts()
    total = 0
    for path in capture_files(paths):
        try:
            records = list(read_capture(path))
        except (OSError, ValueError, KeyError) as e:
            print(f"{path}: cannot read the capture: {e}", file=sys.stderr)
            sys.exit(2)
        for n, topic, text, retained in records:
            total += 1
            where = f"{path}:{n}: {topic}"
            c = classify(topic)
            if c is None:
                problems.add(where, "not a topic of docs/mqtt.md")
                continue
            kind, root, detail = c
            seen[kind] += 1
            if retained is not None and retained != RETAINED[kind]:
                problems.add(where, f"retained is {retained}, docs/mqtt.md says "
                             f"{'retained' if RETAINED[kind] else 'not retained'}")
            if text is None:
                problems.add(where, "the payload is not UTF-8")
                continue
            if kind == "cmd" and text.strip() == "":
                text = "{}"  # on MQTT an empty command payload stands for {}
            try:
                payload = parse_json(text)
            except ValueError as e:
                problems.add(where, f"the payload is not JSON: {e}")
                continue
            if kind == "cmd" and isinstance(payload, dict):
                if "verb" in payload and payload["verb"] != detail:
                    problems.add(where, f'"verb" is {payload["verb"]!r}, the topic says {detail!r}')
                payload = dict(payload, verb=detail)
            errors = schema_errors(validators[SCHEMA_OF_KIND[kind]], payload)
            report_errors(problems, where, errors)
            if errors or not isinstance(payload, dict):
                continue
            check_semantics(kind, root, detail, payload, problems, where)
            if kind == "alerts":
                alerts.add(problems, where, root[-1], payload)
    alerts.check(problems)
    for kind in required:
        if not seen[kind]:
            problems.add("captures", f"no {kind} message was captured")
    print(f"captures: {total} messages: " + ", ".join(f"{k} {seen[k]}" for k in TOPIC_KINDS))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--schemas", default=os.path.join(ROOT, "docs", "schemas"),
                    help="the directory of the *.schema.json files")
    ap.add_argument("--docs", help="check the examples of this docs/mqtt.md")
    ap.add_argument("--require", default="",
                    help="comma-separated kinds that must appear: " + ",".join(TOPIC_KINDS))
    ap.add_argument("captures", nargs="*", help="files or directories of captured messages")
    args = ap.parse_args()
    required = [k for k in args.require.split(",") if k]
    for k in required:
        if k not in TOPIC_KINDS:
            ap.error(f"--require: unknown kind {k!r}; known: {', '.join(TOPIC_KINDS)}")
    problems = Problems()
    validators = load_schemas(args.schemas, problems)
    if len(validators) != len(SCHEMA_NAMES):
        return 1
    docs = args.docs or (None if args.captures else os.path.join(ROOT, "docs", "mqtt.md"))
    if docs:
        check_docs(docs, validators, problems)
    if args.captures or required:
        check_captures(args.captures, validators, problems, required)
    print(f"{problems.count} problem{'s' if problems.count != 1 else ''}")
    return 1 if problems.count else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes flows.json: the Node-RED flow tools/bench/e2e runs beside the gateway (issue 9, part 4).

What a careful Node-RED user builds for the gateway's job on the same probes: one Modbus-Read
node per probe (node-red-contrib-modbus 5.23.3), each on its own Modbus TCP client as each probe
is its own device, polling input register 0x0001 (XY-MD02: 0.1 degC, signed) every second; one
function node that converts the value and judges it against the fridge's limits with a delay and
a hysteresis, per probe, kept in the node's context; the MQTT out node for the readings (QoS 0,
one message per reading) and the alarm transitions (QoS 1). No history and no outbox: Node-RED
has neither without further nodes and a database.

The limits are those of the gateway's cdc-vaccine-fridge preset (heat above 8 degC, freeze below
2 degC, hysteresis 0.3 degC, delay 0); the delay comes from the environment (CC_ALARM_DELAY_MS,
default 0), so both sides can be given the same one. Ports come from the environment too, as
Node-RED substitutes ${VAR} in node properties: CC_MQTT_PORT, and CC_SIM_PORT_000,
CC_SIM_PORT_001, ... the port of each probe's simulator.

  make_flows.py [--probes N] [--out FILE]   (defaults: 100, flows.json beside this file)
"""
import argparse
import json
import os
import sys

# What the function node runs; `env`, `context` and `msg` are Node-RED's.
LIMITS_JS = r"""// One message per poll of one probe: msg.topic is the probe, msg.payload[0] the raw
// register (XY-MD02 input register 0x0001: temperature x 10, signed 16 bit).
// The limits of a CDC 2-8 degC vaccine fridge, judged on each reading with a delay and a
// hysteresis, per probe: an alarm is raised when its condition has held for DELAY_MS (reading
// times), and cleared when the value is back inside by HYSTERESIS_C.
const LIMITS = [
    { alarm: 'heat', above: 8.0 },
    { alarm: 'freeze', below: 2.0 },
];
const HYSTERESIS_C = 0.3;
const DELAY_MS = Number(env.get('CC_ALARM_DELAY_MS') || 0);
const ROOT = 'nodered/bench';

const raw = msg.payload[0];
const ts = Date.now();
const value = (raw > 32767 ? raw - 65536 : raw) / 10;
const probe = msg.topic;
const state = context.get(probe) || {};
const alerts = [];
for (const l of LIMITS) {
    const s = state[l.alarm] || (state[l.alarm] = { active: false, since: null });
    const beyond = l.above !== undefined ? value > l.above : value < l.below;
    const back = l.above !== undefined ? value <= l.above - HYSTERESIS_C
                                       : value >= l.below + HYSTERESIS_C;
    let transition = null;
    if (!s.active) {
        if (!beyond) {
            s.since = null;
        } else {
            if (s.since === null)
                s.since = ts;
            if (ts - s.since >= DELAY_MS) {
                s.active = true;
                transition = 'raised';
            }
        }
    } else if (back) {
        s.active = false;
        transition = 'cleared';
    }
    if (transition) {
        alerts.push({
            topic: ROOT + '/alerts',
            payload: {
                sensor: probe, alarm: l.alarm, transition: transition, value: value,
                limit: l.above !== undefined ? l.above : l.below,
                since: new Date(s.since).toISOString(), ts: new Date(ts).toISOString(),
            },
        });
        if (transition === 'cleared')
            s.since = null;
    }
}
context.set(probe, state);
const reading = {
    topic: ROOT + '/readings/' + probe,
    payload: { sensor: probe, quantity: 'temperature', value: value, unit: '°C',
               ts: new Date(ts).toISOString() },
};
return [reading, alerts.length ? alerts : null];
"""


def flow(probes):
    tab = "e2e0000000000001"
    broker = "e2e0000000000002"
    limits = "e2e0000000000003"
    out_readings = "e2e0000000000004"
    out_alerts = "e2e0000000000005"
    nodes = [
        {"id": tab, "type": "tab", "label": "Cold chain probes", "disabled": False,
         "info": "tools/bench/peers/node-red/make_flows.py wrote this flow; see its top."},
        {"id": broker, "type": "mqtt-broker", "name": "local mosquitto",
         "broker": "127.0.0.1", "port": "${CC_MQTT_PORT}", "clientid": "node-red-bench",
         "autoConnect": True, "usetls": False, "protocolVersion": "5", "keepalive": "60",
         "cleansession": True, "autoUnsubscribe": True, "birthTopic": "", "closeTopic": "",
         "willTopic": "", "userProps": "", "sessionExpiry": ""},
        {"id": limits, "type": "function", "z": tab, "name": "limits with delay",
         "func": LIMITS_JS, "outputs": 2, "timeout": 0, "noerr": 0, "initialize": "",
         "finalize": "", "libs": [], "x": 520, "y": 40,
         "wires": [[out_readings], [out_alerts]]},
        {"id": out_readings, "type": "mqtt out", "z": tab, "name": "readings", "topic": "",
         "qos": "0", "retain": "false", "respTopic": "", "contentType": "", "userProps": "",
         "correl": "", "expiry": "", "broker": broker, "x": 760, "y": 20, "wires": []},
        {"id": out_alerts, "type": "mqtt out", "z": tab, "name": "alerts", "topic": "",
         "qos": "1", "retain": "false", "respTopic": "", "contentType": "", "userProps": "",
         "correl": "", "expiry": "", "broker": broker, "x": 760, "y": 60, "wires": []},
    ]
    for i in range(probes):
        client = "e2e1%015x" % i
        read = "e2e2%015x" % i
        probe = "probe-%03d" % i
        nodes.append({
            "id": client, "type": "modbus-client", "name": probe, "clienttype": "tcp",
            "bufferCommands": True, "stateLogEnabled": False, "queueLogEnabled": False,
            "failureLogEnabled": True, "tcpHost": "127.0.0.1",
            "tcpPort": "${CC_SIM_PORT_%03d}" % i, "tcpType": "DEFAULT",
            "serialPort": "/dev/ttyUSB", "serialType": "RTU-BUFFERD", "serialBaudrate": "9600",
            "serialDatabits": "8", "serialStopbits": "1", "serialParity": "none",
            "serialConnectionDelay": "100", "serialAsciiResponseStartDelimiter": "0x3A",
            "unit_id": "1", "commandDelay": "1", "clientTimeout": "1000",
            "reconnectOnTimeout": True, "reconnectTimeout": "2000",
            "parallelUnitIdsAllowed": True})
        nodes.append({
            "id": read, "type": "modbus-read", "z": tab, "name": probe, "topic": probe,
            "showStatusActivities": False, "logIOActivities": False, "showErrors": False,
            "unitid": "1", "dataType": "InputRegister", "adr": "1", "quantity": "1",
            "rate": "1", "rateUnit": "s", "delayOnStart": False, "startDelayTime": "",
            "server": client, "useIOFile": False, "ioFile": "", "useIOForPayload": False,
            "emptyMsgOnFail": False, "x": 200, "y": 40 + 40 * i, "wires": [[limits], []]})
    return nodes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "flows.json"))
    a = ap.parse_args()
    if not 1 <= a.probes <= 999:
        ap.error("--probes: 1 to 999")
    with open(a.out, "w", encoding="utf-8") as f:
        # One node a line: short, and a change to one node is a change to one line.
        f.write("[\n" + ",\n".join(json.dumps(n, ensure_ascii=False) for n in flow(a.probes))
                + "\n]\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

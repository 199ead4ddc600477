#!/usr/bin/env python3
"""The gateway end to end on this machine (issue 9, parts 1, 2 and 4): what the daemon costs with
100 probes, how many readings a second it takes at most and what holds it there, and the same
job done by Node-RED beside it. tools/bench/e2e builds the binaries and runs this; see its top
for the command line. Goals are printed beside the figures and never asserted.

Everything runs on loopback against a mosquitto of its own, with coldchain-sim for the probes:

  steady      100 probes, one reading per probe per second, rules and history on, telemetry
              to mosquitto and a subscriber: "modbus" is 100 Modbus TCP probes (a bus each, as
              each probe is its own device; ten simulator processes serve ten connections each),
              "mix" is 76 Modbus TCP probes, 16 BLE thermometers (a btsnoop capture from
              coldchain-sim ble, replayed from the gateway's start) and 8 DS18B20 on 1-Wire
              (coldchain-sim w1's fake sysfs). Measured over --duration after a warm-up, from
              /proc/<pid>: peak RSS (VmHWM), CPU (utime+stime) per 1 000 readings and as a share
              of one core, bytes written to disk (write_bytes) per reading; readings per second
              delivered to the subscriber (readings stamped inside the window, counted from the
              telemetry messages that carry them).
  saturation  a capture of 16 BLE thermometers recorded in the past (its readings go through
              at once, as fast as the gateway takes them; the shipments are made to start before
              it by a first start under libfaketime, so the rules judge every reading), three
              times: the store as shipped (a commit per 256 readings), with commits of up to
              100 000, and that without a broker (MQTT off). For each: the sustained rate
              between 10 % and 90 % of the capture, the rate delivered to the subscriber, commits
              per second and disk bytes per reading, the CPU of each thread (and of mosquitto,
              the subscriber and everything else on the machine), where the engine thread's wall
              time goes (on a CPU, waiting for one, or blocked in which system call), and with
              perf its CPU time by stage: which one holds the rate.
  node-red    the gateway and then Node-RED (peers/node-red: node-red 4 with
              node-red-contrib-modbus 5.23.3, installed from the npm registry into the temp
              directory) on the same simulators and broker, one after the other: 98 probes
              drifting inside 2-8 degC and 2 that step between 5 and 10 degC every 2.05 s. Both
              judge heat above 8 degC with delay 0 (the cdc-vaccine-fridge preset; Node-RED's
              function node the same). Alert latency is from the simulator's step, timed here
              by polling the simulator's register at 1 kHz around each step, to the alert's
              arrival at the subscriber ("from the step": includes waiting for the next 1 s
              poll, the same for both), and from the reading that crossed to the arrival
              ("from the reading": the pipeline alone). The step period is not a whole number of
              seconds, so the steps fall at every phase of the poll.
"""
import argparse
import ctypes
import datetime
import glob
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

GOAL_RSS_KB = 8 * 1024
GOAL_CORE_PCT = 1.0
GOAL_SAT_PER_S = 100000
PROBES = 100
DRIFT_SIMS = 10
STEP_PROBES = 2            # node-red run: the last two probes read the stepping simulator
STEP_HIGH_MS = 2050        # the step simulator: 5 degC for 2.05 s, 10 degC for 2.05 s, again
STEP_PERIOD_MS = 4100
HEAT_LIMIT_C = 8.0
BLE_DEVICES = 16
W1_PROBES = 8
MIX_MODBUS = PROBES - BLE_DEVICES - W1_PROBES
SHIPMENT_SIZE = 10         # ten probes per shipment (a cold room)
NODE_RED_VERSION = "node-red@4"
NODE_RED_MODBUS = "node-red-contrib-modbus@5.23.3"
# coldchain-sim ble device formats, cycled, and the name the gateway's config gives each.
BLE_FORMATS = [("ruuvi5", "ruuvi", "D0:00:00:00:00"), ("bthome", "bthome", "A4:C1:38:00:00"),
               ("pvvx", "pvvx", "A4:C1:38:00:00"), ("atc1441", "atc1441", "A4:C1:38:00:00"),
               ("govee", "govee", "A4:C1:38:00:00"), ("inkbird", "inkbird", "49:42:07:00:00")]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


def die(msg):
    print("e2e: " + msg, file=sys.stderr)
    sys.exit(1)


def iso_ms(s):
    """RFC 3339 with milliseconds and Z (docs/mqtt.md) -> ms since the epoch."""
    d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return int(round(d.timestamp() * 1000))


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


# ---- processes: each in its own group, killed by id on every exit path (STYLE §10) ----

_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    # The parent's death (a kill -9 of this script) takes the child with it.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Procs:
    def __init__(self, work):
        self.work = work
        self.live = []

    def start(self, name, argv, env=None, stdout=None):
        log = open(os.path.join(self.work, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=stdout if stdout is not None else log, stderr=log,
                             env=env, start_new_session=True, preexec_fn=_child_setup)
        p.log_path = log.name
        p.bench_name = name
        log.close()
        self.live.append(p)
        return p

    def stop(self, p, timeout=15):
        """SIGTERM to the process group, then SIGKILL after timeout. Returns the exit status."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def stop_all(self):
        for p in reversed(list(self.live)):
            self.stop(p, timeout=5)


def wait_for(pred, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            die("%s: %s exited with %s; see %s" % (what, proc.bench_name, proc.returncode,
                                                  proc.log_path))
        time.sleep(0.01)
    die("%s: not within %d s%s" % (what, timeout, "; see " + proc.log_path if proc else ""))


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def read_port_file(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


# ---- /proc ----

def proc_sample(pid):
    """CPU seconds (utime+stime), memory (kB) and write_bytes of a process, and its threads' CPU."""
    s = {"t": time.monotonic()}
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    s["cpu_s"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "Threads"):
                s[k] = int(v.split()[0])
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == "write_bytes":
                    s["write_bytes"] = int(v)
    except OSError:
        s["write_bytes"] = None
    threads = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    head, _, rest = f.read().rpartition(")")
                tf = rest.split()
                comm = head.split("(", 1)[1]
                threads[int(tid)] = (comm, (int(tf[11]) + int(tf[12])) / CLK_TCK)
            except OSError:
                pass
    except OSError:
        pass
    s["threads"] = threads
    return s


# ---- the subscriber: mosquitto_sub, each message stamped on arrival (%U) ----

class Subscriber:
    """Counts what arrives, per topic family, with the arrival wall time of each message."""

    def __init__(self, procs, port):
        self.lock = threading.Lock()
        self.telemetry = {}     # gateway id -> [(arrival_s, [reading ts_ms]) or (arrival_s, n)]
        self.count_only = set()
        self.alerts = {}        # gateway id -> [(arrival_s, alert dict)]
        self.nr_readings = []   # [(arrival_s, ts_ms)]
        self.nr_alerts = []     # [(arrival_s, alert dict)]
        argv = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                "-t", "coldchain/v1/+/telemetry", "-t", "coldchain/v1/+/alerts",
                "-t", "nodered/bench/#", "-F", "%U %t %p"]
        self.proc = procs.start("subscriber", argv, stdout=subprocess.PIPE)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            try:
                stamp, topic, payload = raw.decode("utf-8").rstrip("\n").split(" ", 2)
                arrival = float(stamp)
                parts = topic.split("/")
                if parts[0] == "coldchain" and parts[3] == "telemetry":
                    gw = parts[2]
                    if gw in self.count_only:
                        rec = (arrival, payload.count('"sensor":'))
                    else:
                        rec = (arrival, [iso_ms(r["ts"]) for r in json.loads(payload)["readings"]])
                    with self.lock:
                        self.telemetry.setdefault(gw, []).append(rec)
                elif parts[0] == "coldchain" and parts[3] == "alerts":
                    with self.lock:
                        self.alerts.setdefault(parts[2], []).append((arrival, json.loads(payload)))
                elif parts[2] == "readings":
                    with self.lock:
                        self.nr_readings.append((arrival, iso_ms(json.loads(payload)["ts"])))
                elif parts[2] == "alerts":
                    with self.lock:
                        self.nr_alerts.append((arrival, json.loads(payload)))
            except (ValueError, KeyError, IndexError) as e:
                print("e2e: subscriber: cannot read a message: %s" % e, file=sys.stderr)


# ---- the stepping simulator's steps, timed from outside ----

class StepWatcher:
    """Polls the stepping simulator's temperature register (input 0x0001) at about 1 kHz from a
    little before each predicted rise until it reads above the limit; the rise is the midpoint
    between the last low and the first high request. Predictions come from the last rise seen,
    so they follow the simulator's own clock."""

    def __init__(self, port, start_est_s):
        self.port = port
        self.next_s = start_est_s + STEP_HIGH_MS / 1000.0
        self.rises = []
        self.misses = 0
        self.error = None
        self.stop = threading.Event()
        self.tid = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read_temp_c(self, sock):
        self.tid = (self.tid + 1) & 0xFFFF
        sock.sendall(struct.pack(">HHHBBHH", self.tid, 0, 6, 1, 4, 0x0001, 1))
        buf = b""
        while len(buf) < 11:
            chunk = sock.recv(11 - len(buf))
            if not chunk:
                raise OSError("the simulator closed the connection")
            buf += chunk
        return struct.unpack(">h", buf[9:11])[0] / 10.0

    def _run(self):
        try:
            self._watch()
        except OSError as e:
            self.error = str(e)

    def _watch(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        margin = 0.08
        while not self.stop.is_set():
            if self.stop.wait(max(0.0, self.next_s - margin - time.time())):
                break
            last_low = None
            deadline = self.next_s + 0.5
            while time.time() < deadline:
                sent = time.time()
                if self._read_temp_c(sock) > HEAT_LIMIT_C:
                    if last_low is None:
                        break  # high already: the prediction was late; look again next time
                    rise = (last_low + sent) / 2
                    self.rises.append(rise)
                    self.next_s = rise + STEP_PERIOD_MS / 1000.0
                    margin = 0.08
                    break
                last_low = sent
                time.sleep(0.001)
            else:
                last_low = None
            if last_low is None:
                self.misses += 1
                margin = min(margin * 2, 1.5)
                self.next_s += STEP_PERIOD_MS / 1000.0
        sock.close()

    def rise_before(self, t_s):
        best = None
        for r in self.rises:
            if r <= t_s:
                best = r
        return best


def ble_devices():
    """coldchain-sim ble's --device arguments for BLE_DEVICES thermometers of the formats in
    turn, the ble bus's probes[] for them and their sensor ids."""
    devices, probes, sensors = [], [], []
    for i in range(BLE_DEVICES):
        sim_fmt, gw_fmt, prefix = BLE_FORMATS[i % len(BLE_FORMATS)]
        address = "%s:%02X" % (prefix, i + 1)
        devices += ["--device", "%s=%s" % (sim_fmt, address)]
        sensors.append("ble-%02d" % i)
        probes.append({"address": address, "sensor": sensors[-1], "format": gw_fmt})
    return devices, probes, sensors


# ---- the bench ----

class Bench:
    def __init__(self, args):
        self.a = args
        self.build = args.builddir
        self.gateway = os.path.join(self.build, "gateway", "coldchain-gateway")
        self.sim = os.path.join(self.build, "tools", "coldchain-sim")
        self.ctl = os.path.join(self.build, "tools", "coldchainctl")
        self.work = tempfile.mkdtemp(prefix="coldchain-e2e.")
        self.procs = Procs(self.work)
        self.results = {}
        self.sims = []         # drift simulators' ports
        self.step_port = None
        self.watcher = None

    # -- shared fixtures --

    def start_broker(self):
        for _ in range(20):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            conf = os.path.join(self.work, "mosquitto.conf")
            with open(conf, "w") as f:
                # TCP_NODELAY towards the subscriber: the instrument must not hold an alert back
                # for Nagle's 40 ms behind the telemetry it just sent (both sides alike).
                f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "set_tcp_nodelay true\n" % port)
            p = self.procs.start("mosquitto", ["mosquitto", "-c", conf])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and p.poll() is None and not port_open(port):
                time.sleep(0.02)
            if p.poll() is None and port_open(port):
                self.mqtt_port, self.broker = port, p
                return
            self.procs.stop(p)
        die("mosquitto would not start; see %s" % os.path.join(self.work, "mosquitto.log"))

    def start_modbus_sim(self, name, script):
        port_file = os.path.join(self.work, name + ".port")
        p = self.procs.start(name, [self.sim, "modbus-tcp", "--port", "0", "--port-file",
                                    port_file, "--unit", "1", "--script", script, "--loop",
                                    "--quiet"])
        port = wait_for(lambda: read_port_file(port_file), 10, name, p)
        return port, time.time()

    def start_sims(self):
        for k in range(DRIFT_SIMS):
            # Drifting inside the fridge's range, each from its own base: 4.0 .. 7.3 degC.
            base = 4.0 + 0.2 * k
            script = "0s=%.1f,30s=%.1f,60s=%.1f" % (base, base + 1.5, base)
            self.sims.append(self.start_modbus_sim("sim-modbus-%d" % k, script)[0])
        script = "0s=5.0,%dms=5.0,%dms=10.0,%dms=10.0" % (STEP_HIGH_MS, STEP_HIGH_MS,
                                                          STEP_PERIOD_MS)
        self.step_port, started = self.start_modbus_sim("sim-modbus-step", script)
        self.watcher = StepWatcher(self.step_port, started)

    def start_subscriber(self):
        self.sub = Subscriber(self.procs, self.mqtt_port)
        # Subscribed once a message could arrive: mosquitto_sub prints nothing before, so wait
        # for the broker to list it (a connect takes a few ms on loopback).
        time.sleep(0.5)

    # -- the gateway --

    def modbus_bus(self, i, port):
        return {"name": "mb-%03d" % i, "type": "modbus-tcp", "host": "127.0.0.1", "port": port,
                "poll_interval": "1s", "response_timeout": "500ms",
                "devices": [{"unit_id": 1, "points": [
                    {"sensor": "probe-%03d" % i, "quantity": "temperature", "address": 1,
                     "type": "int16", "scale": 0.1}]}]}

    def config(self, gw_id, data_dir, sensors, buses, uri=None, store=None):
        shipments = []
        for k in range(0, len(sensors), SHIPMENT_SIZE):
            shipments.append({"id": "room-%d" % (k // SHIPMENT_SIZE), "kind": "storage",
                              "profile": "cdc-vaccine-fridge",
                              "sensors": sensors[k:k + SHIPMENT_SIZE]})
        cfg = {"gateway_id": gw_id, "data_dir": data_dir, "log_level": "notice",
               "mqtt": {"uri": uri or "tcp://127.0.0.1:%d" % self.mqtt_port},
               "sensors": [{"id": s} for s in sensors], "buses": buses,
               "shipments": shipments}
        if store:
            cfg["store"] = store
        path = os.path.join(self.work, gw_id + ".json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        r = subprocess.run([self.gateway, "--check-config", "-c", path], capture_output=True,
                           text=True)
        if r.returncode != 0:
            die("the generated config is refused: %s" % (r.stdout + r.stderr).strip())
        return path

    def start_gateway(self, gw_id, cfg_path):
        data_dir = os.path.join(self.work, gw_id)
        p = self.procs.start(gw_id, [self.gateway, "-c", cfg_path])
        sock = os.path.join(data_dir, "control.sock")
        wait_for(lambda: self.status(sock) is not None, 30, gw_id + ": control socket", p)
        p.sock = sock
        return p

    def status(self, sock):
        r = subprocess.run([self.ctl, "--socket", sock, "--json", "status"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)["result"]
        except (ValueError, KeyError):
            return None

    def readings(self, p):
        st = self.status(p.sock)
        if st is None:
            die("%s: status failed; see %s" % (p.bench_name, p.log_path))
        return st["readings"]

    def stop_gateway(self, p):
        rc = self.procs.stop(p, timeout=30)
        if rc != 0:
            print("e2e: %s exited with %s; see %s" % (p.bench_name, rc, p.log_path),
                  file=sys.stderr)

    def measure_window(self, p, count_readings):
        """Warm-up, then --duration: CPU, memory and disk of process p over the window."""
        time.sleep(self.a.warmup)
        r0, s0, w0, b0 = count_readings(), proc_sample(p.pid), time.time(), machine_busy_s()
        time.sleep(self.a.duration)
        r1, s1, w1, b1 = count_readings(), proc_sample(p.pid), time.time(), machine_busy_s()
        m = {"readings": r1 - r0, "wall0": w0, "wall1": w1, "secs": s1["t"] - s0["t"],
             "machine_pct": 100 * (b1 - b0) / (s1["t"] - s0["t"]),
             "cpu_s": s1["cpu_s"] - s0["cpu_s"], "hwm_kb": s1["VmHWM"], "rss_kb": s1["VmRSS"],
             "anon_kb": s1.get("RssAnon"), "file_kb": s1.get("RssFile"),
             "threads": s1.get("Threads")}
        if s0["write_bytes"] is not None and s1["write_bytes"] is not None:
            m["write_bytes"] = s1["write_bytes"] - s0["write_bytes"]
        return m

    def delivered(self, gw_id, w0, w1):
        """Readings stamped in [w0, w1) that reached the subscriber."""
        lo, hi = w0 * 1000, w1 * 1000
        with self.sub.lock:
            recs = list(self.sub.telemetry.get(gw_id, []))
        return sum(1 for _, tss in recs for ts in tss if lo <= ts < hi)

    # -- part 1: steady state --

    def run_steady(self, layout):
        gw_id = "e2e-" + layout
        data_dir = os.path.join(self.work, gw_id)
        n_modbus = PROBES if layout == "modbus" else MIX_MODBUS
        sensors = ["probe-%03d" % i for i in range(n_modbus)]
        buses = [self.modbus_bus(i, self.sims[i % DRIFT_SIMS]) for i in range(n_modbus)]
        w1_sim = None
        if layout == "mix":
            sensors += self.mix_ble(buses, gw_id)
            w1_sensors, w1_sim = self.mix_w1(buses, gw_id)
            sensors += w1_sensors
        cfg = self.config(gw_id, data_dir, sensors, buses)
        print("steady/%s: %d probes, %d buses, %d s after %d s of warm-up ..."
              % (layout, len(sensors), len(buses), self.a.duration, self.a.warmup), flush=True)
        p = self.start_gateway(gw_id, cfg)
        m = self.measure_window(p, lambda: self.readings(p))
        m["smaps"], m["pss_kb"] = smaps_top(p.pid)
        # The telemetry of the window's last readings leaves at the next telemetry interval
        # (10 s by default): wait for it.
        time.sleep(12)
        m["delivered"] = self.delivered(gw_id, m["wall0"], m["wall1"])
        self.stop_gateway(p)
        if w1_sim:
            self.procs.stop(w1_sim)
        m["probes"] = len(sensors)
        self.results["steady-" + layout] = m

    def mix_ble(self, buses, gw_id):
        capture = os.path.join(self.work, gw_id + ".btsnoop")
        devices, probes, sensors = ble_devices()
        length = self.a.warmup + self.a.duration + 120
        self.run_tool([self.sim, "ble", "--out", capture, "--duration", "%ds" % length,
                       "--interval", "1s", "--script", "0s=4.0,30s=6.0,60s=4.0", "--loop"]
                      + devices)
        buses.append({"name": "radio", "type": "ble", "replay": capture, "replay_start": "now",
                      "interval": "1s", "probes": probes})
        return sensors

    def mix_w1(self, buses, gw_id):
        root = os.path.join(self.work, gw_id + "-w1")
        ids = ["28-0000000e2e%02x" % i for i in range(W1_PROBES)]
        argv = [self.sim, "w1", "--root", root, "--script", "0s=4.5,30s=6.5,60s=4.5", "--loop",
                "--quiet"]
        for i in ids:
            argv += ["--probe", i]
        p = self.procs.start("sim-w1", argv)
        wait_for(lambda: all(os.path.exists(os.path.join(root, i, "w1_slave")) for i in ids),
                 10, "sim-w1", p)
        sensors = ["w1-%02d" % i for i in range(W1_PROBES)]
        buses.append({"name": "onewire", "type": "w1", "root": root, "poll_interval": "1s",
                      "probes": [{"id": i, "sensor": s} for i, s in zip(ids, sensors)]})
        return sensors, p

    def run_tool(self, argv):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            die("%s failed: %s" % (" ".join(argv[:2]), (r.stdout + r.stderr).strip()))
        return r.stdout

    # -- part 2: saturation --

    def run_saturation(self):
        capture = os.path.join(self.work, "saturation.btsnoop")
        devices, probes, sensors = ble_devices()
        # About three readings per advert (temperature, humidity, battery), one advert per
        # device per second of capture, all of it before now. Device i reads the script plus
        # 0.5 degC x i: the warmest cross 8 degC now and then, so alarms are raised and cleared.
        secs = max(60, self.a.saturation_readings // (3 * BLE_DEVICES))
        start = int(time.time()) - secs - 600
        self.run_tool([self.sim, "ble", "--out", capture, "--start", str(start), "--duration",
                       "%ds" % secs, "--interval", "1s", "--script",
                       "0s=2.5,1h=4.5,2h=2.5", "--loop"] + devices)
        buses = [{"name": "radio", "type": "ble", "replay": capture, "interval": "1s",
                  "probes": probes}]
        m = {"capture_mb": os.path.getsize(capture) / 1e6, "capture_s": secs, "runs": []}
        # The rules judge a shipment's readings from its start on: the shipments must have
        # started before the capture. The gateway records a shipment's start the first time it
        # runs with it, so that first run is given the capture's start as its clock.
        faketime = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
        m["rules_note"] = ("shipments started before the capture (a first start under "
                           "libfaketime): the rules judge every reading" if faketime else
                           "libfaketime is missing (Debian package faketime): the shipments "
                           "start now and the rules skip the capture's readings")
        print("saturation: a %.0f MB capture of %d BLE thermometers, %s of adverts recorded in "
              "the past, three runs ..." % (m["capture_mb"], BLE_DEVICES,
                                            datetime.timedelta(seconds=secs)), flush=True)
        runs = [("as shipped (store.batch_max 256)", "e2e-sat", None, None),
                ("store.batch_max 100000", "e2e-sat-batch", {"batch_max": 100000}, None),
                ("batch_max 100000, MQTT off", "e2e-sat-nomqtt", {"batch_max": 100000},
                 "tcp://127.0.0.1:%d" % self.closed_port())]
        for label, gw_id, store, uri in runs:
            data_dir = os.path.join(self.work, gw_id)
            cfg = self.config(gw_id, data_dir, sensors, buses, uri=uri, store=store)
            if faketime:
                self.seed_shipments(gw_id, cfg, faketime[-1], start - 60)
            run = self.saturate(gw_id, cfg, profile=uri is None)
            run["label"] = label
            m["runs"].append(run)
        self.results["saturation"] = m

    def closed_port(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def seed_shipments(self, gw_id, cfg, libfaketime, when_s):
        env = dict(os.environ, LD_PRELOAD=libfaketime, FAKETIME="@" + time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(when_s)), FAKETIME_DONT_RESET="1")
        p = self.procs.start(gw_id + "-seed", [self.gateway, "-c", cfg], env=env)
        sock = os.path.join(self.work, gw_id, "control.sock")
        wait_for(lambda: self.status(sock) is not None, 30, gw_id + ": first start", p)
        self.stop_gateway(p)

    def saturate(self, gw_id, cfg, profile):
        self.sub.count_only.add(gw_id)
        p = self.start_gateway(gw_id, cfg)
        # (wall, readings, gateway, broker, subscriber, machine busy s, this script's CPU s,
        # the engine thread's schedstat)
        samples = []
        perf = None
        perf_data = os.path.join(self.work, gw_id + ".perf.data")
        split = {}
        engine_tid = sorted(proc_sample(p.pid)["threads"])[1]  # main's first thread
        last_change = time.monotonic()
        while True:
            n = self.readings(p)
            samples.append((time.time(), n, proc_sample(p.pid), proc_sample(self.broker.pid),
                            proc_sample(self.sub.proc.pid), machine_busy_s(),
                            proc_sample(os.getpid())["cpu_s"], schedstat(engine_tid)))
            if len(samples) > 1 and n != samples[-2][1]:
                last_change = time.monotonic()
            if time.monotonic() - last_change > 3:
                break
            if len(samples) == 4:
                if profile and self.a.perf and shutil.which("perf"):
                    perf = subprocess.Popen(
                        ["perf", "record", "-q", "--call-graph", "dwarf,16384", "-F", "499",
                         "-t", str(engine_tid), "-o", perf_data, "--", "sleep", "3"],
                        stdout=subprocess.DEVNULL, stderr=open(perf_data + ".log", "w"))
                split = blocked_split(engine_tid, 2.0)
            time.sleep(0.5)
        if perf is not None:
            perf.wait()
        final = samples[-1]
        total = final[1]
        m = {"total": total, "hwm_kb": final[2]["VmHWM"], "anon_kb": final[2].get("RssAnon")}
        lo = [s for s in samples if s[1] >= 0.1 * total]
        hi = [s for s in samples if s[1] <= 0.9 * total]
        if lo and hi and hi[-1][0] > lo[0][0]:
            a, b = lo[0], hi[-1]
            span = b[0] - a[0]
            m["rate"], m["span_s"] = (b[1] - a[1]) / span, span
            # The engine thread's wall time over the span: on a CPU, runnable and waiting for
            # one, or blocked (split by the system calls sampled meanwhile).
            on_cpu = 100.0 * (b[7][0] - a[7][0]) / (span * 1e9)
            runnable = 100.0 * (b[7][1] - a[7][1]) / (span * 1e9)
            blocked = max(0.0, 100.0 - on_cpu - runnable)
            m["states"] = [("on a CPU", on_cpu), ("waiting for a CPU", runnable)] + sorted(
                ((k, blocked * v) for k, v in split.items()), key=lambda kv: -kv[1])
            # Less the time it waited for a CPU that other processes had: what the engine
            # would take with a core to itself (an estimate: a busy machine also slows the
            # work it does get, through shared caches).
            m["quiet_rate"] = m["rate"] / max(0.05, 1.0 - runnable / 100.0)
            m["engine_us"] = 1e6 * (b[7][0] - a[7][0]) / 1e9 / (b[1] - a[1])
            tasks = sorted(b[2]["threads"])
            names = {}
            for i, tid in enumerate(tasks):
                comm = b[2]["threads"][tid][0]
                names[tid] = ("main" if i == 0 else "engine" if i == 1 else
                              "bus (BLE replay)" if i == 2 else
                              "Paho " + comm.split("_")[-1] if comm.startswith("MQTTAsync")
                              else "control")
            m["threads"] = [(names[t], 100 * (b[2]["threads"][t][1] - a[2]["threads"][t][1])
                             / span) for t in tasks if t in a[2]["threads"]]
            m["broker_pct"] = 100 * (b[3]["cpu_s"] - a[3]["cpu_s"]) / span
            m["sub_pct"] = 100 * (b[4]["cpu_s"] - a[4]["cpu_s"]) / span
            m["gw_pct"] = 100 * (b[2]["cpu_s"] - a[2]["cpu_s"]) / span
            # Everything else on the machine: other users' work competes for the cores.
            m["other_pct"] = max(0.0, 100 * (b[5] - a[5]) / span - m["gw_pct"] - m["broker_pct"]
                                 - m["sub_pct"] - 100 * (b[6] - a[6]) / span)
            m["bytes_per_reading"] = (b[2]["write_bytes"] - a[2]["write_bytes"]) / (b[1] - a[1])
            m["commits_per_s"] = count_commits(os.path.join(self.work, gw_id, "history.db"),
                                               a[0], b[0]) / span
            time.sleep(2)  # the last telemetry (QoS 0) on its way
            with self.sub.lock:
                recs = list(self.sub.telemetry.get(gw_id, []))
            m["delivered_total"] = sum(n for _, n in recs)
            m["delivered_rate"] = sum(n for t, n in recs if a[0] <= t < b[0]) / span
        self.stop_gateway(p)
        if perf is not None:
            m["stages"] = perf_stages(perf_data)
        return m

    # -- part 3: Node-RED beside it --

    def side_ports(self):
        ports = [self.sims[i % DRIFT_SIMS] for i in range(PROBES - STEP_PROBES)]
        return ports + [self.step_port] * STEP_PROBES

    def run_side_gateway(self):
        gw_id = "e2e-side"
        data_dir = os.path.join(self.work, gw_id)
        ports = self.side_ports()
        sensors = ["probe-%03d" % i for i in range(PROBES)]
        buses = [self.modbus_bus(i, ports[i]) for i in range(PROBES)]
        cfg = self.config(gw_id, data_dir, sensors, buses)
        print("node-red: the gateway, %d Modbus TCP probes (%d stepping), %d s ..."
              % (PROBES, STEP_PROBES, self.a.duration), flush=True)
        p = self.start_gateway(gw_id, cfg)
        m = self.measure_window(p, lambda: self.readings(p))
        time.sleep(2)
        self.stop_gateway(p)
        with self.sub.lock:
            alerts = list(self.sub.alerts.get(gw_id, []))
        m["lat"] = self.latencies(m, [(t, a["sensor"], a["ts"]) for t, a in alerts
                                      if a.get("alarm") == "heat"
                                      and a.get("transition") == "raised"])
        self.results["side-gateway"] = m

    def node_red_prefix(self):
        prefix = os.environ.get("COLDCHAIN_E2E_NODE_RED")
        if prefix:
            return prefix
        prefix = os.path.join(self.work, "node-red")
        print("node-red: npm install %s %s into %s ..." % (NODE_RED_VERSION, NODE_RED_MODBUS,
                                                           prefix), flush=True)
        r = subprocess.run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund",
                            "--loglevel", "error", NODE_RED_VERSION, NODE_RED_MODBUS],
                           capture_output=True, text=True)
        if r.returncode != 0:
            die("npm install failed:\n" + r.stdout + r.stderr)
        return prefix

    def run_side_node_red(self):
        prefix = self.node_red_prefix()
        red = os.path.join(prefix, "node_modules", "node-red", "red.js")
        if not os.path.exists(red):
            die("no Node-RED at %s" % red)
        peer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers", "node-red")
        userdir = os.path.join(self.work, "node-red-userdir")
        os.makedirs(userdir, exist_ok=True)
        shutil.copy(os.path.join(peer, "flows.json"), userdir)
        env = dict(os.environ, CC_MQTT_PORT=str(self.mqtt_port), CC_ALARM_DELAY_MS="0")
        for i, port in enumerate(self.side_ports()):
            env["CC_SIM_PORT_%03d" % i] = str(port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            env["CC_NODE_RED_PORT"] = str(s.getsockname()[1])
        version = json.load(open(os.path.join(prefix, "node_modules", "node-red",
                                              "package.json")))["version"]
        modbus = json.load(open(os.path.join(prefix, "node_modules", "node-red-contrib-modbus",
                                             "package.json")))["version"]
        print("node-red: Node-RED %s with node-red-contrib-modbus %s (node %s), the same %d "
              "probes, %d s ..." % (version, modbus, self.run_tool(["node", "--version"]).strip(),
                                    PROBES, self.a.duration), flush=True)
        p = self.procs.start("node-red", ["node", red, "-s", os.path.join(peer, "settings.js"),
                                          "-u", userdir], env=env)

        def count():
            with self.sub.lock:
                return len(self.sub.nr_readings)

        # Running once every probe has been read (a probe's first reading comes with its first
        # poll, after the connects).
        wait_for(lambda: count() >= 2 * PROBES, 60, "node-red: readings", p)
        m = self.measure_window(p, count)
        time.sleep(2)
        self.procs.stop(p)
        lo, hi = m["wall0"] * 1000, m["wall1"] * 1000
        with self.sub.lock:
            m["delivered"] = sum(1 for _, ts in self.sub.nr_readings if lo <= ts < hi)
            alerts = list(self.sub.nr_alerts)
        m["version"], m["modbus_version"] = version, modbus
        m["lat"] = self.latencies(m, [(t, a["sensor"], a["ts"]) for t, a in alerts
                                      if a["alarm"] == "heat" and a["transition"] == "raised"])
        self.results["side-node-red"] = m

    def latencies(self, m, raised):
        """(arrival_s, sensor, ts) of raised heat alerts -> latencies in ms for rises inside
        the window: from the step, and from the reading."""
        from_step, from_reading = [], []
        for arrival, sensor, ts in raised:
            rise = self.watcher.rise_before(arrival)
            if rise is None or not m["wall0"] <= rise < m["wall1"]:
                continue
            if arrival - rise > STEP_HIGH_MS / 1000.0:
                continue  # not this rise's alert
            from_step.append(1000 * (arrival - rise))
            from_reading.append(1000 * arrival - iso_ms(ts))
        return {"from_step": from_step, "from_reading": from_reading}

    # -- all of it --

    def run(self):
        parts = self.a.only
        try:
            self.start_broker()
            self.start_subscriber()
            if "steady" in parts or "node-red" in parts:
                self.start_sims()
            print_machine(self)
            if "steady" in parts:
                self.run_steady("modbus")
                self.run_steady("mix")
            if "saturation" in parts:
                self.run_saturation()
            if "node-red" in parts:
                self.run_side_gateway()
                self.run_side_node_red()
        finally:
            if self.watcher:
                self.watcher.stop.set()
            self.procs.stop_all()
        print_results(self)
        if self.a.keep:
            print("\ne2e: logs, configs and histories are in %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


# ---- where a thread's wall time goes, on-CPU or not ----

SYSCALLS = {
    "x86_64": {0: "read", 1: "write", 7: "poll", 17: "pread64", 18: "pwrite64", 74: "fsync",
               75: "fdatasync", 202: "futex", 232: "epoll_wait", 271: "ppoll",
               281: "epoll_pwait", 44: "sendto", 46: "sendmsg", 285: "fallocate",
               77: "ftruncate"},
    "aarch64": {63: "read", 64: "write", 67: "pread64", 68: "pwrite64", 82: "fsync",
                83: "fdatasync", 98: "futex", 73: "ppoll", 22: "epoll_pwait", 206: "sendto",
                211: "sendmsg", 47: "fallocate", 46: "ftruncate"},
}
STATE_LABELS = {"fsync": "in fsync/fdatasync (SQLite commits)",
                "fdatasync": "in fsync/fdatasync (SQLite commits)",
                "futex": "waiting on a lock (futex)",
                "poll": "waiting for work (poll)", "ppoll": "waiting for work (poll)",
                "write": "in write/pwrite", "pwrite64": "in write/pwrite",
                "read": "in read/pread", "pread64": "in read/pread"}


def schedstat(tid):
    """(ns on a CPU, ns runnable and waiting for one) of a thread, from /proc/TID/schedstat."""
    with open("/proc/%d/schedstat" % tid) as f:
        run_ns, wait_ns = f.read().split()[:2]
    return int(run_ns), int(wait_ns)


def blocked_split(tid, seconds):
    """While a thread is blocked, in which system call: /proc/TID/syscall sampled every ~2 ms
    for `seconds` (the state letter where it cannot be read). {label: share of the blocked
    samples}; schedstat() says how much of the time the thread is blocked at all."""
    table = SYSCALLS.get(os.uname().machine, {})
    counts = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % tid) as f:
                state = f.read().rpartition(")")[2].split()[0]
            if state == "R":
                time.sleep(0.002)
                continue
            label = None
            try:
                with open("/proc/%d/syscall" % tid) as f:
                    nr = f.read().split()[0]
                if nr.lstrip("-").isdigit():
                    name = table.get(int(nr), "syscall %s" % nr)
                    label = STATE_LABELS.get(name, "in " + name)
            except OSError:
                pass
            if label is None:
                label = "disk wait (state D)" if state == "D" else "sleeping (state %s)" % state
        except OSError:
            break
        counts[label] = counts.get(label, 0) + 1
        time.sleep(0.002)
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def machine_busy_s():
    """CPU seconds all CPUs of the machine spent busy (not idle, not in iowait) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


def count_commits(db, w0, w1):
    """Committed batches of readings in [w0, w1): the audit trail has one "readings" event each."""
    import sqlite3
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM events WHERE kind = 'readings' AND ts_ms >= ? "
                           "AND ts_ms < ?", (int(w0 * 1000), int(w1 * 1000))).fetchone()[0]
    finally:
        con.close()


def smaps_top(pid, n=6):
    """What a process's RSS is made of: [(what, rss_kB)], largest first, and its PSS (kB)."""
    rss, maps, pss = {}, {}, 0
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                size_kb = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
                path = m.group(3).strip()
                if path == "[heap]":
                    name = "heap"
                elif path:
                    name = os.path.basename(path)
                elif size_kb == 8192:
                    name = "thread stacks"  # glibc's default: 8 MiB each, touched a little
                else:
                    name = "other anonymous"
                maps[name] = maps.get(name, 0) + 1
            elif line.startswith("Rss:"):
                rss[name] = rss.get(name, 0) + int(line.split()[1])
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
    top = sorted(rss.items(), key=lambda kv: -kv[1])[:n]
    return [("%s (%d)" % (k, maps[k]) if k == "thread stacks" else k, v) for k, v in top], pss


# ---- perf: the engine thread's time by stage ----

# A sample is charged to the first frame, from the leaf up, that names a stage; frames of a
# library (its DSO) name the library's stage when its symbol does not.
STAGES = [
    ("history: audit hash (SHA-256)", re.compile(r"^(seal_|audit_|SHA256|EVP_|sha256|ossl_sha)"),
     ("libcrypto",)),
    ("telemetry JSON (cJSON)", re.compile(r"^(messages_telemetry|cJSON_)"), ("libcjson",)),
    ("twin and alert messages", re.compile(r"^(messages_|send_twin|twin_)"), ()),
    ("MQTT publish (Paho)", re.compile(r"^(MQTTAsync|MQTTProtocol|MQTTPacket|uplink_)"),
     ("libpaho",)),
    ("history: SQLite", re.compile(r"^(sqlite3|store_)"), ("libsqlite3",)),
    ("rules", re.compile(r"^(rules_|alarm_|mkt_|summary_)"), ()),
    ("queue", re.compile(r"^queue_"), ()),
]


def perf_stages(path):
    r = subprocess.run(["perf", "script", "-i", path, "-F", "ip,sym,dso"], capture_output=True,
                       text=True)
    counts = {}
    stack = []

    def charge():
        stage = "engine: the rest (lookup, calibration, loop)"
        for sym, dso in stack:
            hit = next((name for name, rx, dsos in STAGES
                        if rx.match(sym) or any(d in dso for d in dsos)), None)
            if hit:
                stage = hit
                break
            if "kernel" in dso and stage.startswith("engine"):
                stage = "kernel (syscalls: write, fsync, futex)"
        counts[stage] = counts.get(stage, 0) + 1

    for line in r.stdout.splitlines():
        line = line.strip()
        if not line:
            if stack:
                charge()
            stack = []
            continue
        m = re.match(r"^[0-9a-f]+\s+(.*?)\s+\((.*)\)$", line)
        if m:
            stack.append((m.group(1), m.group(2)))
    if stack:
        charge()
    total = sum(counts.values())
    return [(k, 100.0 * v / total) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])] \
        if total else []


# ---- output ----

def machine_lines(bench):
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return ["machine: %s, %d cpus, %.1f GB RAM, kernel %s; load average %s" % (
                model, os.cpu_count(), mem_kb / 1048576, os.uname().release, " ".join(load)),
            "disk: %s under %s, fsync of a 4 KiB write: median %.2f ms (what each commit "
            "waits for)" % (fs_type(bench.work), os.path.dirname(bench.work),
                            fsync_ms(bench.work)),
            "commit: %s%s; build: %s (release, LTO)" % (commit, "-dirty" if dirty else "",
                                                       bench.build),
            "temp dir (history, capture): %s" % bench.work]


def fs_type(path):
    """The file system type of the mount that holds path (from /proc/mounts)."""
    best, kind = "", "unknown"
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        for line in f:
            mnt, typ = line.split()[1:3]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, kind = mnt, typ
    return kind


def fsync_ms(folder, n=20):
    path = os.path.join(folder, "fsync-probe")
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for i in range(n):
            os.pwrite(fd, os.urandom(4096), 4096 * i)
            t = time.perf_counter()
            os.fsync(fd)
            times.append(1000 * (time.perf_counter() - t))
    finally:
        os.close(fd)
        os.unlink(path)
    return statistics.median(times)


def print_machine(bench):
    for line in machine_lines(bench):
        print(line)
    print()


def goal(ok):
    return "met" if ok else "MISSED"


def print_results(bench):
    r = bench.results
    steady = [(k.split("-", 1)[1], r[k]) for k in ("steady-modbus", "steady-mix") if k in r]
    if steady:
        print("\n== End to end, steady state: one reading per probe per second, rules, "
              "history, MQTT (%d s) ==" % bench.a.duration)
        print("%-8s %7s %9s %10s %11s %11s %12s %10s" % (
            "layout", "probes", "readings", "peak RSS", "CPU s/1000", "% of core",
            "disk B/rdg", "deliv./s"))
        for name, m in steady:
            core = 100 * m["cpu_s"] / m["secs"]
            print("%-8s %7d %9d %7.1f MB %11.4f %10.2f%% %12.0f %10.1f" % (
                name, m["probes"], m["readings"], m["hwm_kb"] / 1024,
                1000 * m["cpu_s"] / max(1, m["readings"]), core,
                m.get("write_bytes", float("nan")) / max(1, m["readings"]),
                m["delivered"] / m["secs"]))
        for name, m in steady:
            core = 100 * m["cpu_s"] / m["secs"]
            print("  %s: goals: peak RSS under 8 MB %s (%.1f MB: %.1f MB anonymous, %.1f MB "
                  "mapped files and libraries, %d threads); under 1 %% of one core %s (%.2f %%);"
                  " %.0f %% of the readings taken reached the subscriber" % (
                      name, goal(m["hwm_kb"] < GOAL_RSS_KB), m["hwm_kb"] / 1024,
                      (m["anon_kb"] or 0) / 1024, (m["file_kb"] or 0) / 1024, m["threads"],
                      goal(core < GOAL_CORE_PCT), core,
                      100 * m["delivered"] / max(1, m["readings"])))
            print("    the machine's CPUs were busy %.0f %% of one core meanwhile (everything: "
                  "simulators, broker, subscriber, this script, other users)" % m["machine_pct"])
            print("    RSS at the end: %s; PSS %.1f MB (shared library pages split among the "
                  "processes that map them)" % (", ".join("%s %.1f MB" % (k, v / 1024)
                                                           for k, v in m["smaps"]),
                                                m["pss_kb"] / 1024))
    if "saturation" in r:
        print_saturation(r["saturation"])
    if "side-gateway" in r and "side-node-red" in r:
        g, n = r["side-gateway"], r["side-node-red"]
        print("\n== Node-RED side by side: %d Modbus TCP probes polled every second, heat "
              "above 8 degC (delay 0), MQTT; one after the other on the same simulators and "
              "broker, %d s each ==" % (PROBES, bench.a.duration))

        def row(label, fg, fn, fmt, unit):
            vg, vn = fg(g), fn(n)
            ratio = vn / vg if vg else float("nan")
            print("%-34s %14s %14s %10s" % (label, (fmt % vg) + unit, (fmt % vn) + unit,
                                            "%.1fx" % ratio))

        def cpu1000(m):
            return 1000 * m["cpu_s"] / max(1, m["readings"])

        def med(key):
            return lambda m: statistics.median(m["lat"][key]) if m["lat"][key] else float("nan")

        def p90(key):
            return lambda m: pct(m["lat"][key], 90)

        print("%-34s %14s %14s %10s" % ("", "coldchain", "Node-RED %s" % n["version"],
                                        "NR / cc"))
        row("peak RSS (VmHWM)", lambda m: m["hwm_kb"] / 1024, lambda m: m["hwm_kb"] / 1024,
            "%.1f", " MB")
        row("CPU per 1 000 readings", cpu1000, cpu1000, "%.3f", " s")
        row("CPU, % of one core", lambda m: 100 * m["cpu_s"] / m["secs"],
            lambda m: 100 * m["cpu_s"] / m["secs"], "%.2f", " %")
        row("readings per second", lambda m: m["readings"] / m["secs"],
            lambda m: m["readings"] / m["secs"], "%.1f", "")
        row("alert latency from the step, median", med("from_step"), med("from_step"), "%.0f",
            " ms")
        row("  90th percentile", p90("from_step"), p90("from_step"), "%.0f", " ms")
        row("alert latency from the reading, median", med("from_reading"), med("from_reading"),
            "%.1f", " ms")
        row("  90th percentile", p90("from_reading"), p90("from_reading"), "%.1f", " ms")
        print("alerts timed: coldchain %d, Node-RED %d (steps seen by the watcher: %d, missed %d%s)"
              % (len(g["lat"]["from_step"]), len(n["lat"]["from_step"]),
                 len(bench.watcher.rises), bench.watcher.misses,
                 "; it stopped: " + bench.watcher.error if bench.watcher.error else ""))
        print("the machine's CPUs were busy %.0f %% (coldchain's run) and %.0f %% (Node-RED's) of "
              "one core, everything counted" % (g["machine_pct"], n["machine_pct"]))
        print("the gateway also keeps the history (SQLite, fsync per commit and per alert), the "
              "audit trail, twins and a durable outbox; the flow keeps none of these")


def print_saturation(m):
    print("\n== Saturation: a BLE capture recorded in the past, replayed as fast as the "
          "gateway takes it; rules, history and MQTT on ==")
    print("capture: %.0f MB, %d BLE thermometers in %d formats, %s of adverts; %s" % (
        m["capture_mb"], BLE_DEVICES, len(BLE_FORMATS),
        datetime.timedelta(seconds=m["capture_s"]), m["rules_note"]))
    print("%-34s %8s %10s %8s %8s %9s %9s %10s" % (
        "run", "rdg/s", "quiet est.", "deliv./s", "engine", "commits/s", "disk B/rdg",
        "anon RSS"))
    for run in m["runs"]:
        if "rate" not in run:
            print("%-34s too short to measure (%d readings)" % (run["label"], run["total"]))
            continue
        print("%-34s %8.0f %10.0f %8.0f %5.1f us %9.1f %10.0f %7.1f MB" % (
            run["label"], run["rate"], run["quiet_rate"], run["delivered_rate"],
            run["engine_us"], run["commits_per_s"], run["bytes_per_reading"],
            (run["anon_kb"] or 0) / 1024))
    print("(quiet est.: the rate less the engine thread's waits for a CPU; engine: its CPU "
          "time per reading)")
    for run in m["runs"]:
        if "rate" not in run:
            continue
        print("%s: goal above %d readings/s %s (%.0f/s, 10 %%..90 %% of %d readings, %.1f s; "
              "about %.0f/s with a core to itself: %s); %d of them reached the subscriber "
              "(QoS 0)" % (
                  run["label"], GOAL_SAT_PER_S, goal(run["rate"] > GOAL_SAT_PER_S), run["rate"],
                  run["total"], run["span_s"], run["quiet_rate"],
                  goal(run["quiet_rate"] > GOAL_SAT_PER_S), run["delivered_total"]))
        print("  CPU, %% of one core (%d cpus): gateway %.0f %% (%s), mosquitto %.0f %%, "
              "subscriber %.0f %%, other processes on the machine %.0f %%" % (
                  os.cpu_count(), run["gw_pct"], ", ".join(
                      "%s %.0f %%" % (k, v) for k, v in run["threads"] if v >= 0.5),
                  run["broker_pct"], run["sub_pct"], run["other_pct"]))
        if run.get("states"):
            print("  engine thread's wall time: " + ", ".join(
                "%s %.0f %%" % (k, v) for k, v in run["states"] if v >= 1))
        if run.get("stages"):
            print("  engine thread's CPU time by stage (perf, dwarf call graphs, 3 s):")
            for name, p in run["stages"]:
                print("    %-45s %5.1f %%" % (name, p))
        print("  bottleneck: " + verdict(run))


def verdict(m):
    threads = dict(m["threads"])
    bus = threads.get("bus (BLE replay)", 0)
    states = dict(m.get("states") or [])
    on_cpu = states.get("on a CPU", threads.get("engine", 0))
    starved = states.get("waiting for a CPU", 0)
    fsync = states.get(STATE_LABELS["fsync"], 0) + states.get("disk wait (state D)", 0)
    idle = states.get(STATE_LABELS["poll"], 0)
    if states and idle < 10:
        top = ", ".join("%s %.0f %%" % (k, v) for k, v in (m.get("stages") or [])[:3])
        s = ("the engine thread: it never waits for readings (%.0f %% of its time in poll; the "
             "bus thread, %.0f %% busy, waits on the full queue), and every reading passes "
             "through it in turn (calibrate, SQLite insert, audit hash, rules, telemetry JSON, "
             "publish). Its time: %.0f %% on a CPU" % (idle, bus, on_cpu))
        if top:
            s += " (" + top + ")"
        if fsync >= 1:
            s += ", %.0f %% in SQLite's fsync (%.0f commits/s)" % (fsync, m["commits_per_s"])
        if starved >= 1:
            s += (", %.0f %% waiting for a CPU that other processes had (they used %.0f %% of "
                  "one core; a quiet machine gives a higher rate)" % (starved, m["other_pct"]))
        return s
    if bus >= 85:
        return "the producer: the BLE replay thread (btsnoop parse and decode) at %.0f %%" % bus
    if m["broker_pct"] >= 85:
        return "the broker: mosquitto at %.0f %% of one core" % m["broker_pct"]
    return ("no stage is saturated: the engine thread waits for readings %.0f %% of its time "
            "(bus thread %.0f %%)" % (idle, bus))


def main():
    ap = argparse.ArgumentParser(prog="tools/bench/e2e", description=__doc__.splitlines()[0])
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--duration", type=int, default=60,
                    help="seconds measured per steady and side-by-side run (default 60)")
    ap.add_argument("--warmup", type=int, default=5, help="seconds before each window (5)")
    ap.add_argument("--saturation-readings", type=int, default=3000000,
                    help="readings in the saturation capture, about (default 3 000 000)")
    ap.add_argument("--only", default="steady,saturation,node-red",
                    help="comma-separated: steady, saturation, node-red (default all)")
    ap.add_argument("--no-perf", dest="perf", action="store_false",
                    help="no perf profile of the engine thread in the saturation run")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    a = ap.parse_args()
    a.only = set(x.strip() for x in a.only.split(",") if x.strip())
    unknown = a.only - {"steady", "saturation", "node-red"}
    if unknown or a.duration < 5 or a.warmup < 1:
        ap.error("--only takes steady, saturation, node-red; --duration >= 5, --warmup >= 1")
    for tool in ("mosquitto", "mosquitto_sub") + (("node", "npm") if "node-red" in a.only
                                                   else ()):
        if not shutil.which(tool):
            die("%s is not installed" % tool)
    bench = Bench(a)

    def on_signal(signo, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        bench.run()
    except KeyboardInterrupt:
        print("e2e: interrupted; temp files in %s" % bench.work, file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Starts the built `stadtkern serve` for interop tests: free ports, a temporary data
directory, an admin token from `stadtkern token create`, the embedded MQTT broker on a free
port (read from the server's start-up lines). Used by test_mqtt.py and test_frost_client.py."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def binary():
    b = os.environ.get("STADTKERN_BIN") or str(ROOT / "target" / "debug" / "stadtkern")
    if not Path(b).exists():
        raise RuntimeError(f"{b} is missing: build it with `cargo build -p stadtkern`")
    return b


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="stadtkern-interop-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STADTKERN_")}
        env["RUST_LOG"] = "warn"
        self.env = env
        base = [binary(), "--data-dir", str(Path(self.dir) / "data")]
        self.token = subprocess.run(
            base + ["token", "create", "--name", "probe", "--scope", "admin"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()
        port = free_port()
        self.proc = subprocess.Popen(
            base + ["serve", "--listen", f"127.0.0.1:{port}", "--mqtt-listen", "127.0.0.1:0"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.mqtt_port = None
        for line in self.proc.stdout:
            if line.startswith("MQTT: embedded broker on mqtt://"):
                addr = line.split("mqtt://", 1)[1].split()[0]
                self.mqtt_port = int(addr.rsplit(":", 1)[1])
            if " ready on " in line:
                break
        else:
            raise RuntimeError("stadtkern serve ended before it was ready")
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.http_port = port
        self.base = f"http://127.0.0.1:{port}"
        self.sta = f"{self.base}/sta/v1.1"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, token=True):
        url = path if path.startswith("http") else self.sta + path
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text else None)

    def station(self, name, visibility="public"):
        """A Thing with a Location and one Datastream; returns (thing id, datastream id)."""
        _, t = self.request("POST", "/Things", {
            "name": name, "description": "Messstation", "visibility": visibility,
            "Locations": [{"name": f"{name} Ort", "description": "Standort",
                           "encodingType": "application/geo+json",
                           "location": {"type": "Point", "coordinates": [7.46, 51.51]}}],
            "Datastreams": [{
                "name": f"{name} Temperatur", "description": "Lufttemperatur",
                "visibility": visibility,
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                "unitOfMeasurement": {"name": "Grad Celsius", "symbol": "°C", "definition": "ucum:Cel"},
                "Sensor": {"name": "DHT22", "description": "Sensor", "encodingType": "application/pdf",
                           "metadata": "https://example.org/dht22.pdf"},
                "ObservedProperty": {"name": "Temperatur", "definition": "https://example.org/temp",
                                     "description": "Lufttemperatur"},
            }],
        })
        _, ds = self.request("GET", f"/Things({t['@iot.id']})/Datastreams")
        return t["@iot.id"], ds["value"][0]["@iot.id"]

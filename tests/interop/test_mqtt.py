"""The SensorThings MQTT extension with paho-mqtt, the client most sensor gateways use:
publishing Observations (QoS 1, with an API token as password), subscribing to entity-set,
navigation, property and $select topics, anonymous subscribers seeing public data only, and
MQTT over WebSocket at /mqtt."""

import json
import queue
import time

import paho.mqtt.client as mqtt
import pytest

from stadtkern_server import Server

TIMEOUT = 10


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


def client(server, password=None, websocket=False):
    """A connected paho client whose messages land in `c.inbox` as (topic, JSON)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                    transport="websockets" if websocket else "tcp")
    c.inbox = queue.Queue()
    c.stash = []
    c.on_message = lambda _c, _u, m: c.inbox.put((m.topic, json.loads(m.payload)))
    if password:
        c.username_pw_set("sensor", password)
    if websocket:
        c.ws_set_options(path="/mqtt")
        rc = c.connect("127.0.0.1", server.http_port)
    else:
        rc = c.connect("127.0.0.1", server.mqtt_port)
    assert rc == mqtt.MQTT_ERR_SUCCESS
    c.loop_start()
    return c


def subscribe(c, *topics):
    done = queue.Queue()
    c.on_subscribe = lambda _c, _u, mid, codes, _p: done.put(codes)
    c.subscribe([(t, 1) for t in topics])
    codes = done.get(timeout=TIMEOUT)
    assert all(not rc.is_failure for rc in codes), codes


def wait_for(c, topic):
    """The next message on `topic`; messages on other topics stay for later calls."""
    for i, (t, v) in enumerate(c.stash):
        if t == topic:
            del c.stash[i]
            return v
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        try:
            t, v = c.inbox.get(timeout=max(0.01, deadline - time.time()))
        except queue.Empty:
            break
        if t == topic:
            return v
        c.stash.append((t, v))
    pytest.fail(f"no message on {topic}")


def drain(c, seconds):
    out = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            out.append(c.inbox.get(timeout=max(0.01, deadline - time.time())))
        except queue.Empty:
            pass
    return out


def test_service_root_advertises_mqtt(server):
    _, root = server.request("GET", "", token=False)
    settings = root["serverSettings"]
    create = "http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/observations-creation"
    assert create in settings["conformance"]
    endpoints = settings[create]["endpoints"]
    assert f"mqtt://127.0.0.1:{server.mqtt_port}" in endpoints
    assert f"ws://127.0.0.1:{server.http_port}/mqtt" in endpoints


def test_paho_publishes_observations_and_subscribers_receive_them(server):
    tid, ds = server.station("Paho")
    nav = f"v1.1/Datastreams({ds})/Observations"
    select = "v1.1/Observations?$select=result,phenomenonTime"
    sub = client(server)
    subscribe(sub, nav, select, f"v1.1/Things({tid})/name")
    sensor = client(server, password=server.token)
    try:
        info = sensor.publish(nav, json.dumps({"result": 21.5, "phenomenonTime": "2026-11-01T10:00:00Z"}), qos=1)
        info.wait_for_publish(timeout=TIMEOUT)
        assert info.is_published()
        # The PUBACK came after the commit: the Observation is readable right away.
        _, obs = server.request("GET", f"/Datastreams({ds})/Observations")
        assert [o["result"] for o in obs["value"]] == [21.5]
        full = wait_for(sub, nav)
        assert full["result"] == 21.5 and full["@iot.id"] == obs["value"][0]["@iot.id"]
        assert wait_for(sub, select) == {"result": 21.5, "phenomenonTime": "2026-11-01T10:00:00Z"}
        server.request("PATCH", f"/Things({tid})", {"name": "Paho Ost"})
        assert wait_for(sub, f"v1.1/Things({tid})/name") == {"name": "Paho Ost"}
    finally:
        sub.loop_stop()
        sensor.loop_stop()


def test_anonymous_publish_is_ignored_and_anonymous_subscribers_see_public_data_only(server):
    _, public = server.station("Offen")
    _, internal = server.station("Intern", visibility="internal")
    anon = client(server)
    subscribe(anon, "v1.1/Observations")
    intruder = client(server)
    sensor = client(server, password=server.token)
    try:
        info = intruder.publish(f"v1.1/Datastreams({public})/Observations", json.dumps({"result": 666}), qos=1)
        info.wait_for_publish(timeout=TIMEOUT)
        for ds in (public, internal):
            sensor.publish(f"v1.1/Datastreams({ds})/Observations", json.dumps({"result": ds}), qos=1) \
                .wait_for_publish(timeout=TIMEOUT)
        seen = [v["result"] for _, v in drain(anon, 1.0)]
        assert seen == [public]
        _, obs = server.request("GET", f"/Datastreams({public})/Observations")
        assert 666 not in [o["result"] for o in obs["value"]]
    finally:
        for c in (anon, intruder, sensor):
            c.loop_stop()


def test_mqtt_over_websocket_at_slash_mqtt(server):
    _, ds = server.station("Browser")
    nav = f"v1.1/Datastreams({ds})/Observations"
    browser = client(server, websocket=True)
    try:
        subscribe(browser, nav)
        server.request("POST", f"/Datastreams({ds})/Observations", {"result": 7})
        assert wait_for(browser, nav)["result"] == 7
    finally:
        browser.loop_stop()

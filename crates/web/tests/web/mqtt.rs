//! The SensorThings MQTT extension (OGC 18-088, section 14) with real MQTT clients (rumqttc):
//! against the embedded broker (create via MQTT with PUBACK after commit, subscriptions to
//! entity sets, entities, properties, navigation collections and `$select` topics, visibility
//! per subscriber, MQTT over WebSocket at /mqtt), and against the local Mosquitto on
//! 127.0.0.1:1883 as external broker with two replicas over one database (every Observation
//! stored once, every change published once).

use axum::http::StatusCode;
use bytes::BytesMut;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use web::testing::{HttpMethod as M, TestApp};

const B: &str = "/sta/v1.1";
const MOSQUITTO: (&str, u16) = ("127.0.0.1", 1883);
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Fixtures

async fn post(app: &TestApp, tok: &str, path: &str, body: Value) -> Value {
    let r = app
        .with_token(M::POST, &format!("{B}{path}"), tok, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.body);
    r.json()
}

async fn get(app: &TestApp, tok: &str, path: &str) -> Value {
    let r = app
        .with_token(M::GET, &format!("{B}{path}"), tok, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.json()
}

/// A Thing with a Location and one Datastream; returns (thing, datastream).
async fn station(app: &TestApp, tok: &str, name: &str, visibility: &str) -> (i64, i64) {
    let t = post(
        app,
        tok,
        "/Things",
        json!({
            "name": name, "description": "Messstation", "visibility": visibility,
            "Locations": [{ "name": format!("{name} Ort"), "description": "Standort",
                "encodingType": "application/geo+json",
                "location": { "type": "Point", "coordinates": [7.46, 51.51] } }],
            "Datastreams": [{
                "name": format!("{name} Temperatur"), "description": "Lufttemperatur",
                "visibility": visibility,
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                "unitOfMeasurement": { "name": "Grad Celsius", "symbol": "°C", "definition": "ucum:Cel" },
                "Sensor": { "name": "DHT22", "description": "Sensor", "encodingType": "application/pdf", "metadata": "https://example.org/dht22.pdf" },
                "ObservedProperty": { "name": "Temperatur", "definition": "https://example.org/temp", "description": "Lufttemperatur" }
            }]
        }),
    )
    .await;
    let tid = t["@iot.id"].as_i64().unwrap();
    let ds = get(app, tok, &format!("/Things({tid})/Datastreams")).await;
    (tid, ds["value"][0]["@iot.id"].as_i64().unwrap())
}

async fn results(app: &TestApp, tok: &str, ds: i64) -> Vec<Value> {
    let v = get(
        app,
        tok,
        &format!("/Datastreams({ds})/Observations?$top=10000&$orderby=id"),
    )
    .await;
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].clone())
        .collect()
}

/// The embedded broker of `app` on a free loopback port (also serving /mqtt).
async fn embedded(app: &TestApp) -> SocketAddr {
    let broker = mqtt::broker::Broker::new(app.env.clone(), app.state.sta.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(broker.clone().serve(l));
    let b = broker.clone();
    let _ = app
        .state
        .mqtt_ws
        .set(Arc::new(move |io| b.accept(io, "websocket".into())));
    app.state
        .sta
        .set_endpoints(vec![format!("mqtt://{addr}"), "ws://test/mqtt".into()]);
    addr
}

// ---------------------------------------------------------------------------------------------
// A small MQTT test client over rumqttc that reports what happened on the wire.

struct Client {
    c: AsyncClient,
    events: mpsc::UnboundedReceiver<Packet>,
}

impl Client {
    async fn connect(host: &str, port: u16, password: Option<&str>) -> Client {
        Self::try_connect(host, port, password)
            .await
            .unwrap_or_else(|code| panic!("MQTT connect to {host}:{port} refused: {code}"))
    }

    async fn try_connect(host: &str, port: u16, password: Option<&str>) -> Result<Client, String> {
        let id = format!("t{}", rand_id());
        let mut o = MqttOptions::new(id, host, port);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(1 << 20, 1 << 20);
        o.set_inflight(200);
        if let Some(p) = password {
            o.set_credentials("sensor", p);
        }
        let (c, mut el) = AsyncClient::new(o, 1000);
        let (tx, mut events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(p)) => {
                        if tx.send(p).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                        let _ = tx.send(Packet::ConnAck(rumqttc::ConnAck::new(code, false)));
                        return;
                    }
                    Err(_) => {
                        let _ = tx.send(Packet::Disconnect);
                        return;
                    }
                }
            }
        });
        match tokio::time::timeout(WAIT, events.recv()).await {
            Ok(Some(Packet::ConnAck(a))) if a.code == rumqttc::ConnectReturnCode::Success => {
                Ok(Client { c, events })
            }
            Ok(Some(Packet::ConnAck(a))) => Err(format!("{:?}", a.code)),
            other => Err(format!("no CONNACK: {other:?}")),
        }
    }

    /// Subscribes and waits for the SUBACK; returns its return codes.
    async fn subscribe(&mut self, filters: &[&str]) -> Vec<rumqttc::SubscribeReasonCode> {
        self.c
            .subscribe_many(
                filters
                    .iter()
                    .map(|f| rumqttc::SubscribeFilter::new(f.to_string(), QoS::AtLeastOnce)),
            )
            .await
            .unwrap();
        loop {
            match tokio::time::timeout(WAIT, self.events.recv()).await {
                Ok(Some(Packet::SubAck(s))) => return s.return_codes,
                Ok(Some(_)) => {}
                other => panic!("no SUBACK: {other:?}"),
            }
        }
    }

    /// Publishes with QoS 1 and waits for the PUBACK.
    async fn publish_acked(&mut self, topic: &str, payload: Value) {
        self.c
            .publish(topic, QoS::AtLeastOnce, false, payload.to_string())
            .await
            .unwrap();
        loop {
            match tokio::time::timeout(WAIT, self.events.recv()).await {
                Ok(Some(Packet::PubAck(_))) => return,
                Ok(Some(_)) => {}
                other => panic!("no PUBACK for {topic}: {other:?}"),
            }
        }
    }

    /// The messages that arrive within `d`.
    async fn messages(&mut self, d: Duration) -> Vec<(String, Value)> {
        let until = tokio::time::Instant::now() + d;
        let mut out = Vec::new();
        while let Ok(Some(p)) = tokio::time::timeout_at(until, self.events.recv()).await {
            if let Packet::Publish(p) = p {
                let v = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                out.push((p.topic, v));
            }
        }
        out
    }

    /// Waits for the next message on `topic`.
    async fn next_on(&mut self, topic: &str) -> Value {
        loop {
            match tokio::time::timeout(WAIT, self.events.recv()).await {
                Ok(Some(Packet::Publish(p))) if p.topic == topic => {
                    return serde_json::from_slice(&p.payload).unwrap();
                }
                Ok(Some(_)) => {}
                other => panic!("no message on {topic}: {other:?}"),
            }
        }
    }
}

/// A number that differs between calls and runs (client ids, topic prefixes).
fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

fn on<'a>(msgs: &'a [(String, Value)], topic: &str) -> Vec<&'a Value> {
    msgs.iter()
        .filter(|(t, _)| t == topic)
        .map(|(_, v)| v)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Embedded broker

#[tokio::test]
async fn mqtt_publish_creates_observations_and_puback_comes_after_commit() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (_, ds) = station(&app, &tok, "Hafen", "public").await;
    let addr = embedded(&app).await;
    let mut sensor = Client::connect("127.0.0.1", addr.port(), Some(&tok)).await;

    // Each PUBACK means committed: the row is readable the moment the acknowledgement is in.
    for i in 0..20 {
        sensor
            .publish_acked(
                &format!("v1.1/Datastreams({ds})/Observations"),
                json!({ "result": i, "phenomenonTime": format!("2026-11-01T10:{i:02}:00Z") }),
            )
            .await;
        let got = results(&app, &tok, ds).await;
        assert_eq!(
            got.len(),
            i + 1,
            "observation {i} not committed at its PUBACK"
        );
        assert_eq!(got[i], json!(i));
    }

    // The entity-set topic with the Datastream named in the body.
    sensor
        .publish_acked(
            "v1.1/Observations",
            json!({ "result": 100, "Datastream": { "@iot.id": ds } }),
        )
        .await;
    // Below a FeatureOfInterest (linked to it) with the Datastream in the body.
    let foi = post(
        &app,
        &tok,
        "/FeaturesOfInterest",
        json!({ "name": "Kai", "description": "Messpunkt", "encodingType": "application/geo+json",
                "feature": { "type": "Point", "coordinates": [7.4, 51.5] } }),
    )
    .await["@iot.id"]
        .as_i64()
        .unwrap();
    sensor
        .publish_acked(
            &format!("v1.1/FeaturesOfInterest({foi})/Observations"),
            json!({ "result": 101, "Datastream": { "@iot.id": ds } }),
        )
        .await;
    let got = results(&app, &tok, ds).await;
    assert_eq!(got[20..], [json!(100), json!(101)]);
    let linked = get(
        &app,
        &tok,
        &format!("/FeaturesOfInterest({foi})/Observations"),
    )
    .await;
    assert_eq!(linked["value"][0]["result"], 101);
}

#[tokio::test]
async fn mqtt_many_messages_in_flight_are_stored_in_order_and_acknowledged_in_order() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (_, ds_a) = station(&app, &tok, "Nord", "public").await;
    let (_, ds_b) = station(&app, &tok, "Süd", "public").await;
    let addr = embedded(&app).await;
    // Two sensors publish without waiting for acknowledgements (up to 200 in flight each), so
    // the committer stores messages of both in shared transactions; one message of sensor A is
    // malformed and must neither be stored nor take the others with it.
    const N: usize = 150;
    const BAD: usize = 70;
    let mut a = Client::connect("127.0.0.1", addr.port(), Some(&tok)).await;
    let mut b = Client::connect("127.0.0.1", addr.port(), Some(&tok)).await;
    for i in 0..N {
        let body = if i == BAD {
            "{ not json".to_string()
        } else {
            json!({ "result": i, "phenomenonTime": "2026-11-02T08:00:00Z" }).to_string()
        };
        a.c.publish(
            format!("v1.1/Datastreams({ds_a})/Observations"),
            QoS::AtLeastOnce,
            false,
            body,
        )
        .await
        .unwrap();
        b.c.publish(
            format!("v1.1/Datastreams({ds_b})/Observations"),
            QoS::AtLeastOnce,
            false,
            json!({ "result": 1000 + i }).to_string(),
        )
        .await
        .unwrap();
    }
    for sensor in [&mut a, &mut b] {
        let mut acked = Vec::new();
        while acked.len() < N {
            match tokio::time::timeout(WAIT, sensor.events.recv()).await {
                Ok(Some(Packet::PubAck(p))) => acked.push(p.pkid),
                Ok(Some(_)) => {}
                other => panic!("{} of {N} PUBACKs, then {other:?}", acked.len()),
            }
        }
        // Acknowledged in the order published (the client numbers its packets 1, 2, ...).
        let mut sorted = acked.clone();
        sorted.sort_unstable();
        assert_eq!(acked, sorted, "PUBACKs out of order");
    }
    let want_a: Vec<Value> = (0..N).filter(|i| *i != BAD).map(|i| json!(i)).collect();
    assert_eq!(results(&app, &tok, ds_a).await, want_a);
    let want_b: Vec<Value> = (0..N).map(|i| json!(1000 + i)).collect();
    assert_eq!(results(&app, &tok, ds_b).await, want_b);
}

#[tokio::test]
async fn mqtt_publish_into_a_multidatastream() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (tid, _) = station(&app, &tok, "Wetter", "public").await;
    let md = post(
        &app,
        &tok,
        "/MultiDatastreams",
        json!({
            "name": "Wind", "description": "Wind", "Thing": { "@iot.id": tid },
            "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation",
            "multiObservationDataTypes": ["http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                                          "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"],
            "unitOfMeasurements": [{ "name": "m/s", "symbol": "m/s", "definition": "ucum:m/s" },
                                   { "name": "Grad", "symbol": "°", "definition": "ucum:deg" }],
            "Sensor": { "name": "Anemometer", "description": "Wind", "encodingType": "application/pdf", "metadata": "x" },
            "ObservedProperties": [
                { "name": "Windgeschwindigkeit", "definition": "https://example.org/ws", "description": "v" },
                { "name": "Windrichtung", "definition": "https://example.org/wd", "description": "d" }
            ]
        }),
    )
    .await["@iot.id"]
        .as_i64()
        .unwrap();
    let addr = embedded(&app).await;
    let mut sensor = Client::connect("127.0.0.1", addr.port(), Some(&tok)).await;
    sensor
        .publish_acked(
            &format!("v1.1/MultiDatastreams({md})/Observations"),
            json!({ "result": [3.5, 270] }),
        )
        .await;
    let v = get(&app, &tok, &format!("/MultiDatastreams({md})/Observations")).await;
    assert_eq!(v["value"][0]["result"], json!([3.5, 270]));
}

#[tokio::test]
async fn mqtt_publish_without_write_right_is_ignored_and_bad_tokens_are_refused() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let reader = app.token(&["sta:read"]).await;
    let (_, ds) = station(&app, &tok, "Markt", "public").await;
    let addr = embedded(&app).await;
    let topic = format!("v1.1/Datastreams({ds})/Observations");

    // Anonymous and read-only clients get their PUBACK (the message is handled: refused), and
    // nothing is stored.
    let mut anon = Client::connect("127.0.0.1", addr.port(), None).await;
    anon.publish_acked(&topic, json!({ "result": 1 })).await;
    let mut ro = Client::connect("127.0.0.1", addr.port(), Some(&reader)).await;
    ro.publish_acked(&topic, json!({ "result": 2 })).await;
    // Bad JSON and a topic that creates nothing are refused the same way.
    let mut w = Client::connect("127.0.0.1", addr.port(), Some(&tok)).await;
    w.c.publish(&topic, QoS::AtLeastOnce, false, "{not json")
        .await
        .unwrap();
    w.publish_acked("v1.1/Things", json!({ "name": "x", "description": "y" }))
        .await;
    assert!(results(&app, &tok, ds).await.is_empty());
    assert!(
        get(&app, &tok, "/Things").await["value"]
            .as_array()
            .unwrap()
            .len()
            == 1
    );

    // A password that is no valid token: CONNACK "bad user name or password".
    let refused = Client::try_connect("127.0.0.1", addr.port(), Some("stk_not-a-token")).await;
    assert_eq!(refused.err().as_deref(), Some("BadUserNamePassword"));
}

#[tokio::test]
async fn mqtt_subscribers_receive_sets_entities_properties_navigation_and_select_topics() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (tid, ds) = station(&app, &tok, "Phoenixsee", "public").await;
    let addr = embedded(&app).await;
    let mut sub = Client::connect("127.0.0.1", addr.port(), None).await;
    let nav = format!("v1.1/Datastreams({ds})/Observations");
    let thing = format!("v1.1/Things({tid})");
    let name = format!("{thing}/name");
    let select = "v1.1/Observations?$select=result,phenomenonTime";
    let codes = sub
        .subscribe(&[
            "v1.1/Things",
            &thing,
            &name,
            &nav,
            select,
            "v1.1/Observations",
        ])
        .await;
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_))),
        "{codes:?}"
    );
    // Query options other than $select/$expand are refused.
    let refused = sub
        .subscribe(&["v1.1/Observations?$filter=result gt 3"])
        .await;
    assert_eq!(refused, vec![rumqttc::SubscribeReasonCode::Failure]);

    // Created over HTTP: the entity set, the navigation collection and the $select topic.
    let created = post(
        &app,
        &tok,
        &format!("/Datastreams({ds})/Observations"),
        json!({ "result": 17.5, "phenomenonTime": "2026-11-01T10:00:00Z" }),
    )
    .await;
    let msgs = sub.messages(Duration::from_millis(800)).await;
    let full = on(&msgs, &nav);
    assert_eq!(full.len(), 1, "{msgs:?}");
    assert_eq!(full[0]["@iot.id"], created["@iot.id"]);
    assert_eq!(
        *full[0], created,
        "the message is the JSON the HTTP API returns"
    );
    assert_eq!(on(&msgs, "v1.1/Observations").len(), 1);
    let sel = on(&msgs, select);
    assert_eq!(sel.len(), 1);
    assert_eq!(
        *sel[0],
        json!({ "result": 17.5, "phenomenonTime": "2026-11-01T10:00:00Z" })
    );

    // Created over MQTT: the same topics.
    let tok2 = app.token(&["sta:write"]).await;
    let mut sensor = Client::connect("127.0.0.1", addr.port(), Some(&tok2)).await;
    sensor.publish_acked(&nav, json!({ "result": 18 })).await;
    assert_eq!(sub.next_on(select).await["result"], 18);
    let msgs = sub.messages(Duration::from_millis(500)).await;
    assert_eq!(on(&msgs, &nav).len(), 1, "{msgs:?}");
    assert_eq!(on(&msgs, &nav)[0]["result"], 18);

    // Updated: the entity topic, and the property topic only for what changed.
    let r = app
        .with_token(
            M::PATCH,
            &format!("{B}/Things({tid})"),
            &tok,
            Some(json!({ "name": "Phoenixsee Ost" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let msgs = sub.messages(Duration::from_millis(800)).await;
    assert_eq!(on(&msgs, &name), vec![&json!({ "name": "Phoenixsee Ost" })]);
    assert_eq!(on(&msgs, &thing).len(), 1);
    assert_eq!(on(&msgs, &thing)[0]["name"], "Phoenixsee Ost");
    let r = app
        .with_token(
            M::PATCH,
            &format!("{B}/Things({tid})"),
            &tok,
            Some(json!({ "description": "Seeufer", "name": "Phoenixsee Ost" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let msgs = sub.messages(Duration::from_millis(800)).await;
    assert_eq!(on(&msgs, &thing).len(), 1, "{msgs:?}");
    assert!(on(&msgs, &name).is_empty(), "name did not change: {msgs:?}");

    // A new Thing reaches the entity-set topic.
    post(
        &app,
        &tok,
        "/Things",
        json!({ "name": "Neu", "description": "neu" }),
    )
    .await;
    assert_eq!(sub.next_on("v1.1/Things").await["name"], "Neu");
}

#[tokio::test]
async fn mqtt_anonymous_subscribers_see_public_data_only() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (_, public) = station(&app, &tok, "Öffentlich", "public").await;
    let (_, internal) = station(&app, &tok, "Intern", "internal").await;
    let addr = embedded(&app).await;
    let mut anon = Client::connect("127.0.0.1", addr.port(), None).await;
    let reader = app.token(&["sta:read"]).await;
    let mut staff = Client::connect("127.0.0.1", addr.port(), Some(&reader)).await;
    for c in [&mut anon, &mut staff] {
        c.subscribe(&[
            "v1.1/#",
            &format!("v1.1/Datastreams({internal})/Observations"),
        ])
        .await;
    }
    let mut sensor = Client::connect("127.0.0.1", addr.port(), Some(&tok)).await;
    for ds in [public, internal] {
        sensor
            .publish_acked(
                &format!("v1.1/Datastreams({ds})/Observations"),
                json!({ "result": ds }),
            )
            .await;
    }
    let seen = |msgs: &[(String, Value)]| -> HashSet<i64> {
        msgs.iter()
            .filter(|(t, _)| t.ends_with("/Observations"))
            .filter_map(|(_, v)| v["result"].as_i64())
            .collect()
    };
    let a = anon.messages(Duration::from_millis(800)).await;
    let s = staff.messages(Duration::from_millis(300)).await;
    assert_eq!(seen(&a), HashSet::from([public]), "{a:?}");
    assert!(
        !a.iter().any(|(t, _)| t.contains(&format!("({internal})"))),
        "{a:?}"
    );
    assert_eq!(seen(&s), HashSet::from([public, internal]), "{s:?}");
}

#[tokio::test]
async fn mqtt_service_root_advertises_mqtt_only_when_it_runs() {
    let app = TestApp::new().await;
    let v = app.get(B).await.json();
    let conf = v["serverSettings"]["conformance"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!conf.iter().any(|c| c.as_str().unwrap().contains("mqtt")));
    let addr = embedded(&app).await;
    let v = app.get(B).await.json();
    let s = &v["serverSettings"];
    for class in [
        "http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/observations-creation",
        "http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates",
    ] {
        assert!(s["conformance"].as_array().unwrap().contains(&json!(class)));
        assert_eq!(
            s[class]["endpoints"],
            json!([format!("mqtt://{addr}"), "ws://test/mqtt"])
        );
    }
}

// ---------------------------------------------------------------------------------------------
// MQTT over WebSocket at /mqtt, spoken by hand: HTTP upgrade, masked client frames.

struct Ws {
    s: tokio::net::TcpStream,
    inbuf: BytesMut,
}

impl Ws {
    async fn open(base: &str) -> Ws {
        let host = base.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
        let req = format!(
            "GET /mqtt HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: mqtt\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("sec-websocket-protocol: mqtt"), "{head}");
        Ws {
            s,
            inbuf: BytesMut::new(),
        }
    }

    async fn send(&mut self, p: rumqttc::Packet) {
        let mut payload = BytesMut::new();
        p.write(&mut payload, 1 << 20).unwrap();
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut frame = vec![0x82u8];
        let n = payload.len();
        if n < 126 {
            frame.push(0x80 | n as u8);
        } else {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.s.write_all(&frame).await.unwrap();
    }

    /// The next MQTT packet from the server's (unmasked, binary) frames.
    async fn recv(&mut self) -> rumqttc::Packet {
        loop {
            if let Ok(p) = rumqttc::Packet::read(&mut self.inbuf, 1 << 20) {
                return p;
            }
            let mut h = [0u8; 2];
            tokio::time::timeout(WAIT, self.s.read_exact(&mut h))
                .await
                .expect("a frame in time")
                .unwrap();
            let mut n = u64::from(h[1] & 0x7f);
            if n == 126 {
                let mut l = [0u8; 2];
                self.s.read_exact(&mut l).await.unwrap();
                n = u64::from(u16::from_be_bytes(l));
            } else if n == 127 {
                let mut l = [0u8; 8];
                self.s.read_exact(&mut l).await.unwrap();
                n = u64::from_be_bytes(l);
            }
            let mut data = vec![0u8; n as usize];
            self.s.read_exact(&mut data).await.unwrap();
            if h[0] & 0x0f == 0x2 || h[0] & 0x0f == 0x0 {
                self.inbuf.extend_from_slice(&data);
            }
        }
    }
}

#[tokio::test]
async fn mqtt_over_websocket_at_slash_mqtt_subscribes_and_publishes() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (_, ds) = station(&app, &tok, "Brücke", "public").await;
    embedded(&app).await;
    let base = app.spawn().await;
    let mut ws = Ws::open(&base).await;
    let mut connect = rumqttc::Connect::new("browser");
    connect.keep_alive = 30;
    connect.set_login("karte", &tok);
    ws.send(rumqttc::Packet::Connect(connect)).await;
    assert!(
        matches!(ws.recv().await, rumqttc::Packet::ConnAck(a) if a.code == rumqttc::ConnectReturnCode::Success)
    );
    let topic = format!("v1.1/Datastreams({ds})/Observations");
    ws.send(rumqttc::Packet::Subscribe(rumqttc::Subscribe::new(
        &topic,
        QoS::AtMostOnce,
    )))
    .await;
    assert!(matches!(ws.recv().await, rumqttc::Packet::SubAck(_)));
    let mut p = rumqttc::Publish::new(&topic, QoS::AtLeastOnce, json!({ "result": 5 }).to_string());
    p.pkid = 7;
    ws.send(rumqttc::Packet::Publish(p)).await;
    let mut got_ack = false;
    let mut got_msg = None;
    while !(got_ack && got_msg.is_some()) {
        match ws.recv().await {
            rumqttc::Packet::PubAck(a) => {
                assert_eq!(a.pkid, 7);
                got_ack = true;
            }
            rumqttc::Packet::Publish(m) => {
                assert_eq!(m.topic, topic);
                got_msg = Some(serde_json::from_slice::<Value>(&m.payload).unwrap());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got_msg.unwrap()["result"], 5);
    assert_eq!(results(&app, &tok, ds).await, vec![json!(5)]);
}

// ---------------------------------------------------------------------------------------------
// External broker (the local Mosquitto): two replicas over one database.

/// A second replica of `app`: its own Env (own pool), state, router and HTTP port.
async fn replica(app: &TestApp) -> (web::AppState, String) {
    let db = app.tdb.another_handle().await;
    let env = platform::Env::new(
        (*app.env.config).clone(),
        db,
        app.clock.clone(),
        Arc::new(kern::SeededRandom::new(99)),
    );
    let state = web::AppState::new(env).await.unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let s = state.clone();
    tokio::spawn(async move {
        let _ = web::serve(l, s, std::future::pending()).await;
    });
    (state, base)
}

async fn bridge(
    env: &platform::Env,
    hooks: &sensorthings::mqtt::Hooks,
    prefix: &str,
    name: &str,
) -> mqtt::bridge::Bridge {
    let s = mqtt::Settings {
        listen: None,
        url: Some(format!("mqtt://{}:{}", MOSQUITTO.0, MOSQUITTO.1)),
        client_id: format!("{}{name}", prefix.trim_end_matches('/')),
        share_group: prefix.trim_end_matches('/').to_string(),
        external_create: true,
        topic_prefix: prefix.to_string(),
    };
    let b = mqtt::bridge::Bridge::connect(env.clone(), hooks.clone(), &s.url.clone().unwrap(), &s)
        .await
        .unwrap();
    assert!(
        b.ready(WAIT).await,
        "no connection to Mosquitto on {}:{}",
        MOSQUITTO.0,
        MOSQUITTO.1
    );
    b
}

/// Counts the Observations a replica created.
fn count_created(hooks: &sensorthings::mqtt::Hooks) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    hooks.on_commit(move |events| {
        let k = events
            .iter()
            .filter(|e| {
                e.change.kind == sensorthings::Kind::Observation
                    && e.change.op == sensorthings::ChangeOp::Created
            })
            .count();
        m.fetch_add(k, Ordering::SeqCst);
    });
    n
}

#[tokio::test]
async fn mqtt_mosquitto_two_replicas_store_each_observation_once_and_publish_each_change_once() {
    let app = TestApp::new().await;
    let tok = app.token(&["sta:write"]).await;
    let (tid, ds) = station(&app, &tok, "Zeche", "public").await;
    let prefix = format!("stadtkern-test-{}/", rand_id());
    let (state_b, base_b) = replica(&app).await;
    let made_a = count_created(&app.state.sta);
    let made_b = count_created(&state_b.sta);
    let _a = bridge(&app.env, &app.state.sta, &prefix, "-a").await;
    let _b = bridge(&state_b.env, &state_b.sta, &prefix, "-b").await;

    let mut sub = Client::connect(MOSQUITTO.0, MOSQUITTO.1, None).await;
    let set_topic = format!("{prefix}v1.1/Observations");
    let thing_topic = format!("{prefix}v1.1/Things({tid})");
    sub.subscribe(&[&set_topic, &thing_topic]).await;

    let n = 60;
    let mut sensor = Client::connect(MOSQUITTO.0, MOSQUITTO.1, None).await;
    for i in 0..n {
        sensor
            .publish_acked(
                &format!("{prefix}v1.1/Datastreams({ds})/Observations"),
                json!({ "result": i }),
            )
            .await;
    }
    // Stored exactly once each, by both replicas together.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = results(&app, &tok, ds).await;
        if got.len() >= n || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let msgs = sub.messages(Duration::from_millis(1500)).await;
    let got = results(&app, &tok, ds).await;
    assert_eq!(got.len(), n, "{got:?}");
    let distinct: HashSet<i64> = got.iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(distinct, (0..n as i64).collect());
    let (a, b) = (made_a.load(Ordering::SeqCst), made_b.load(Ordering::SeqCst));
    assert_eq!(a + b, n, "replica a stored {a}, b stored {b}");
    assert!(
        a > 0 && b > 0,
        "the shared subscription spreads the load: {a} / {b}"
    );

    // Every new Observation was published once (by the replica that stored it).
    let mut per_id: HashMap<i64, usize> = HashMap::new();
    for v in on(&msgs, &set_topic) {
        *per_id.entry(v["@iot.id"].as_i64().unwrap()).or_default() += 1;
    }
    assert_eq!(per_id.len(), n, "{msgs:?}");
    assert!(per_id.values().all(|c| *c == 1), "{per_id:?}");

    // A change made over replica b's HTTP reaches the subscriber once.
    let client = reqwest::Client::new();
    let r = client
        .patch(format!("{base_b}{B}/Things({tid})"))
        .bearer_auth(&tok)
        .json(&json!({ "name": "Zeche Zollern" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let msgs = sub.messages(Duration::from_millis(1000)).await;
    let things = on(&msgs, &thing_topic);
    assert_eq!(things.len(), 1, "{msgs:?}");
    assert_eq!(things[0]["name"], "Zeche Zollern");

    // Both replicas answer HTTP alike.
    let path = format!("{B}/Datastreams({ds})/Observations?$orderby=id&$top=1000");
    let from_b = client
        .get(format!("{base_b}{path}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(from_b, app.get(&path).await.body);
}

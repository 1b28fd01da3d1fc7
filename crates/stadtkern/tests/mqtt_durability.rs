//! Durability of ingest: the real `stadtkern serve` binary is killed (SIGKILL) while Observations
//! arrive over HTTP and over MQTT (QoS 1, embedded broker); after a restart every Observation
//! that was acknowledged (HTTP 201, MQTT PUBACK) is stored. On SQLite by default, on a schema of
//! `STADTKERN_TEST_DATABASE=postgres://...` otherwise.

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::testing::TestDb;

/// A running server, killed when dropped.
struct Server {
    child: Child,
    http: String,
    mqtt_port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Instance {
    dir: tempfile::TempDir,
    database: Option<String>,
    _pg: Option<TestDb>,
}

impl Instance {
    async fn new() -> Instance {
        let dir = tempfile::tempdir().unwrap();
        match std::env::var(store::testing::ENV)
            .ok()
            .filter(|u| u.starts_with("postgres"))
        {
            Some(url) => {
                let pg = TestDb::unmigrated().await;
                let schema = pg.schema().unwrap().to_string();
                let sep = if url.contains('?') { '&' } else { '?' };
                Instance {
                    dir,
                    database: Some(format!("{url}{sep}options[search_path]={schema},public")),
                    _pg: Some(pg),
                }
            }
            None => Instance {
                dir,
                database: None,
                _pg: None,
            },
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_stadtkern"));
        for (k, _) in std::env::vars() {
            if k.starts_with("STADTKERN_") {
                c.env_remove(k);
            }
        }
        c.env("RUST_LOG", "warn");
        c.arg("--data-dir").arg(self.dir.path().join("data"));
        if let Some(db) = &self.database {
            c.arg("--database").arg(db);
        }
        c
    }

    fn token(&self) -> String {
        let o = self
            .command()
            .args(["token", "create", "--name", "probe", "--scope", "admin"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }

    /// Starts `serve` on free ports and waits until it is ready.
    fn serve(&self) -> Server {
        let port = free_port();
        let mut child = self
            .command()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--mqtt-listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut mqtt_port = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("MQTT: embedded broker on mqtt://") {
                let addr = rest.split_whitespace().next().unwrap();
                mqtt_port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if line.contains(" ready on ") {
                break;
            }
        }
        // Keep reading so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            http: format!("http://127.0.0.1:{port}"),
            mqtt_port: mqtt_port.expect("the server names its MQTT port"),
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn all_results(http: &reqwest::Client, base: &str, ds: i64) -> HashSet<i64> {
    let mut out = HashSet::new();
    let mut url =
        format!("{base}/sta/v1.1/Datastreams({ds})/Observations?$select=result&$top=10000");
    loop {
        let v: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        for o in v["value"].as_array().unwrap() {
            out.insert(o["result"].as_i64().unwrap());
        }
        match v["@iot.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingest_loses_no_acknowledged_observation() {
    let inst = Instance::new().await;
    let token = inst.token();
    let server = inst.serve();
    let http = reqwest::Client::new();
    let thing: Value = http
        .post(format!("{}/sta/v1.1/Things", server.http))
        .bearer_auth(&token)
        .json(&json!({
            "name": "Zählstelle", "description": "Dauertest",
            "Locations": [{ "name": "Ort", "description": "Ort", "encodingType": "application/geo+json",
                            "location": { "type": "Point", "coordinates": [7.46, 51.51] } }],
            "Datastreams": [{
                "name": "Fahrzeuge", "description": "Anzahl",
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CountObservation",
                "unitOfMeasurement": { "name": "Anzahl", "symbol": "1", "definition": "ucum:1" },
                "Sensor": { "name": "Schleife", "description": "Induktion", "encodingType": "application/pdf", "metadata": "x" },
                "ObservedProperty": { "name": "Verkehr", "definition": "https://example.org/v", "description": "v" }
            }]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tid = thing["@iot.id"].as_i64().unwrap();
    let ds: Value = http
        .get(format!(
            "{}/sta/v1.1/Things({tid})/Datastreams",
            server.http
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ds = ds["value"][0]["@iot.id"].as_i64().unwrap();

    // HTTP: one request after the other, each 201 counted.
    let http_acked = Arc::new(Mutex::new(Vec::new()));
    let h = {
        let (acked, http, base, token) = (
            http_acked.clone(),
            http.clone(),
            server.http.clone(),
            token.clone(),
        );
        tokio::spawn(async move {
            for i in 1_000_000i64.. {
                let r = http
                    .post(format!("{base}/sta/v1.1/Datastreams({ds})/Observations"))
                    .bearer_auth(&token)
                    .json(&json!({ "result": i }))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 201 => acked.lock().unwrap().push(i),
                    _ => return,
                }
            }
        })
    };

    // MQTT: QoS 1 with many messages in flight; a PUBACK names the packet id of a result.
    let mqtt_acked = Arc::new(Mutex::new(Vec::new()));
    let mut o = MqttOptions::new("durability", "127.0.0.1", server.mqtt_port);
    o.set_credentials("sensor", &token);
    o.set_inflight(50);
    o.set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = AsyncClient::new(o, 100);
    let pending: Arc<Mutex<VecDeque<i64>>> = Arc::default();
    let ev = {
        let (acked, pending) = (mqtt_acked.clone(), pending.clone());
        tokio::spawn(async move {
            let mut by_pkid: HashMap<u16, i64> = HashMap::new();
            loop {
                match el.poll().await {
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(v) = pending.lock().unwrap().pop_front() {
                            by_pkid.insert(pkid, v);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(a))) => {
                        if let Some(v) = by_pkid.remove(&a.pkid) {
                            acked.lock().unwrap().push(v);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        })
    };
    let p = {
        let pending = pending.clone();
        tokio::spawn(async move {
            for i in 2_000_000i64.. {
                pending.lock().unwrap().push_back(i);
                let topic = format!("v1.1/Datastreams({ds})/Observations");
                let body = json!({ "result": i }).to_string();
                if client
                    .publish(topic, QoS::AtLeastOnce, false, body)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    };

    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(server); // SIGKILL, then wait for the process
    let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), ev).await;
    p.abort();
    let http_acked = http_acked.lock().unwrap().clone();
    let mqtt_acked = mqtt_acked.lock().unwrap().clone();
    assert!(!http_acked.is_empty(), "no HTTP 201 before the kill");
    assert!(!mqtt_acked.is_empty(), "no MQTT PUBACK before the kill");

    let again = inst.serve();
    let stored = all_results(&http, &again.http, ds).await;
    let lost_http: Vec<_> = http_acked.iter().filter(|v| !stored.contains(v)).collect();
    let lost_mqtt: Vec<_> = mqtt_acked.iter().filter(|v| !stored.contains(v)).collect();
    assert!(
        lost_http.is_empty() && lost_mqtt.is_empty(),
        "acknowledged but lost: HTTP {lost_http:?}, MQTT {lost_mqtt:?} ({} and {} acknowledged)",
        http_acked.len(),
        mqtt_acked.len()
    );
    eprintln!(
        "durability: {} HTTP and {} MQTT observations acknowledged before SIGKILL, all stored ({} rows)",
        http_acked.len(),
        mqtt_acked.len(),
        stored.len()
    );
}

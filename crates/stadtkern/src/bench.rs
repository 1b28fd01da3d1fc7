//! `stadtkern bench http`: a small closed-loop HTTP load generator for the figures in
//! BENCHMARKS.md (`scripts/bench-foundation.sh` drives it).
//!
//! N clients (tasks) each send one GET after another for a fixed time, over kept-alive
//! connections, and every latency is recorded; a warm-up phase before that is not counted.
//! It only talks to loopback addresses: it is for measuring an instance on this machine, never
//! for loading someone else's server.
//!
//! This is a benchmark, not a test: nothing asserts on its numbers.

use crate::Failure;
use crate::cli::{BenchCmd, BenchHttpArgs, BenchStaArgs};
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub async fn run(cmd: BenchCmd) -> Result<(), Failure> {
    match cmd {
        BenchCmd::Http(args) => http(args).await,
        BenchCmd::Sta(args) => sta(args).await,
    }
}

/// Parses `20s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration such as 20s, 500ms or 1m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        _ => return Err(format!("'{s}' is not a duration such as 20s, 500ms or 1m")),
    };
    if !(0.0..=24.0 * 3600.0).contains(&secs) {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Accepts only http(s) URLs whose host is a loopback address or `localhost`.
pub fn loopback_url(raw: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("'{raw}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{raw}': only http and https URLs can be measured"));
    }
    let host = url.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if !loopback {
        return Err(format!(
            "'{raw}' is not on this machine: the benchmark only targets loopback addresses \
             (127.0.0.0/8, ::1, localhost)"
        ));
    }
    Ok(url)
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    /// Latencies of answered requests (any status), in microseconds.
    latencies_us: Vec<u64>,
    /// Requests answered with a status other than 2xx/3xx.
    bad_status: u64,
    /// Requests that failed in transport (connect, timeout, reset).
    transport_errors: u64,
    first_error: Option<String>,
}

async fn client_loop(client: reqwest::Client, url: reqwest::Url, until: Instant) -> Tally {
    let mut t = Tally::default();
    while Instant::now() < until {
        let start = Instant::now();
        let result = match client.get(url.clone()).send().await {
            Ok(resp) => {
                let status = resp.status();
                match resp.bytes().await {
                    Ok(_) => Ok(status),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let took = start.elapsed();
        match result {
            Ok(status) => {
                t.latencies_us
                    .push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
                if !(status.is_success() || status.is_redirection()) {
                    t.bad_status += 1;
                    t.first_error
                        .get_or_insert_with(|| format!("HTTP status {status}"));
                }
            }
            Err(e) => {
                t.transport_errors += 1;
                t.first_error.get_or_insert(e);
                // Do not spin on a dead server.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    t
}

/// Runs `concurrency` clients until `duration` has passed and merges what they saw.
async fn phase(
    client: &reqwest::Client,
    url: &reqwest::Url,
    concurrency: usize,
    duration: Duration,
) -> (Tally, Duration) {
    let started = Instant::now();
    let until = started + duration;
    let handles: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(client_loop(client.clone(), url.clone(), until)))
        .collect();
    let mut all = Tally::default();
    for h in handles {
        match h.await {
            Ok(mut t) => {
                all.latencies_us.append(&mut t.latencies_us);
                all.bad_status += t.bad_status;
                all.transport_errors += t.transport_errors;
                if all.first_error.is_none() {
                    all.first_error = t.first_error;
                }
            }
            Err(e) => {
                all.transport_errors += 1;
                all.first_error
                    .get_or_insert(format!("client task failed: {e}"));
            }
        }
    }
    (all, started.elapsed())
}

/// The value below which `q` (0..=1) of the sorted samples lie (nearest rank).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

async fn http(args: BenchHttpArgs) -> Result<(), Failure> {
    let usage = |m: String| Failure {
        message: m,
        code: 2,
    };
    let url = loopback_url(&args.url).map_err(usage)?;
    let duration = parse_duration(&args.duration).map_err(usage)?;
    let warmup = parse_duration(&args.warmup).map_err(usage)?;
    if args.concurrency == 0 || args.concurrency > 10_000 {
        return Err(usage("--concurrency must be between 1 and 10000".into()));
    }
    if duration.is_zero() {
        return Err(usage("--duration must be longer than zero".into()));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("stadtkern-bench/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure {
            message: format!("cannot build the HTTP client: {e}"),
            code: 1,
        })?;

    eprintln!(
        "bench: GET {url} with {} clients, warm-up {:?}, measuring {:?}",
        args.concurrency, warmup, duration
    );
    if !warmup.is_zero() {
        let (w, _) = phase(&client, &url, args.concurrency, warmup).await;
        if w.latencies_us.is_empty() {
            return Err(Failure {
                message: format!(
                    "no answer from {url} during the warm-up: {}",
                    w.first_error.unwrap_or_default()
                ),
                code: 1,
            });
        }
    }
    let (mut t, elapsed) = phase(&client, &url, args.concurrency, duration).await;
    t.latencies_us.sort_unstable();
    let answered = t.latencies_us.len() as u64;
    let total = answered + t.transport_errors;
    let errors = t.bad_status + t.transport_errors;
    let rps = answered as f64 / elapsed.as_secs_f64();
    let (p50, p95, p99, max) = (
        percentile(&t.latencies_us, 0.50),
        percentile(&t.latencies_us, 0.95),
        percentile(&t.latencies_us, 0.99),
        t.latencies_us.last().copied().unwrap_or(0),
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "url": url.as_str(),
                "concurrency": args.concurrency,
                "duration_s": elapsed.as_secs_f64(),
                "warmup_s": warmup.as_secs_f64(),
                "requests": total,
                "requests_per_s": rps,
                "p50_ms": ms(p50),
                "p95_ms": ms(p95),
                "p99_ms": ms(p99),
                "max_ms": ms(max),
                "errors": errors,
                "bad_status": t.bad_status,
                "transport_errors": t.transport_errors,
                "first_error": t.first_error,
            })
        );
    } else {
        println!("url          {url}");
        println!("clients      {}", args.concurrency);
        println!(
            "duration     {:.1} s (after {:?} warm-up)",
            elapsed.as_secs_f64(),
            warmup
        );
        println!("requests     {total}");
        println!("requests/s   {rps:.1}");
        println!(
            "latency      p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            ms(p50),
            ms(p95),
            ms(p99),
            ms(max)
        );
        println!(
            "errors       {errors} ({} bad status, {} transport){}",
            t.bad_status,
            t.transport_errors,
            t.first_error
                .as_deref()
                .map(|e| format!("; first: {e}"))
                .unwrap_or_default()
        );
    }
    if answered == 0 {
        return Err(Failure {
            message: format!("no request to {url} was answered"),
            code: 1,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// `stadtkern bench sta`: SensorThings figures on a fresh database (see BENCHMARKS.md).

/// Resident set size of this process in MiB (Linux), for the memory figure.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The rows of ingest request `k`: `per` Datastreams with `batch / per` rows each.
fn ingest_rows(
    k: u64,
    batch: u64,
    first: i64,
    streams: u64,
    t0: i64,
) -> Vec<(i64, Vec<(i64, f64)>)> {
    let per = 10.min(streams).max(1);
    let each = (batch / per).max(1);
    (0..per)
        .map(|j| {
            let ds = first + ((k * per + j) % streams) as i64;
            let rows = (0..each)
                .map(|i| {
                    let n = k * each + i;
                    (t0 + n as i64 * 1_000_000, (n % 1000) as f64 / 10.0)
                })
                .collect();
            (ds, rows)
        })
        .collect()
}

fn create_body(groups: &[(i64, Vec<(i64, f64)>)]) -> String {
    let mut out = String::with_capacity(groups.iter().map(|g| g.1.len() * 40).sum::<usize>() + 64);
    out.push('[');
    for (gi, (ds, rows)) in groups.iter().enumerate() {
        if gi > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"Datastream\":{{\"@iot.id\":{ds}}},\"components\":[\"phenomenonTime\",\"result\"],\"dataArray\":["
        ));
        for (i, (t, v)) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("[\"{}\",{v}]", sensorthings::time::format(*t)));
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

fn new_obs(foi: i64, rows: &[(i64, f64)]) -> Vec<sensorthings::data_array::NewObs> {
    rows.iter()
        .map(|(t, v)| sensorthings::data_array::NewObs {
            foi: Some(foi),
            pt_start: *t,
            pt_end: None,
            result_time: None,
            result: serde_json::json!(v),
            quality: None,
            valid: None,
            parameters: None,
        })
        .collect()
}

async fn raw_insert(
    db: &store::Db,
    foi: i64,
    groups: &[(i64, Vec<(i64, f64)>)],
) -> Result<(), Failure> {
    let mut tx = db.begin().await?;
    for (ds, rows) in groups {
        let obs = new_obs(foi, rows);
        let refs: Vec<_> = obs.iter().collect();
        sensorthings::data_array::insert_rows(&mut tx, sensorthings::Kind::Datastream, *ds, &refs)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Messages one benchmark MQTT client has in flight (sent, PUBACK not yet received).
const MQTT_IN_FLIGHT: u16 = 200;

/// One MQTT client of the ingest benchmark: publishes `n` Observations with QoS 1, cycling over
/// the Datastreams, and returns how many were acknowledged.
#[allow(clippy::too_many_arguments)]
async fn mqtt_publisher(
    broker: std::net::SocketAddr,
    token: &str,
    client: u64,
    n: u64,
    first: i64,
    streams: u64,
    t0: i64,
    peak: &std::sync::atomic::AtomicU64,
) -> Result<u64, String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut o = MqttOptions::new(
        format!("bench-{client}"),
        broker.ip().to_string(),
        broker.port(),
    );
    o.set_credentials("bench", token);
    o.set_inflight(MQTT_IN_FLIGHT);
    o.set_keep_alive(Duration::from_secs(60));
    let (c, mut events) = AsyncClient::new(o, usize::from(MQTT_IN_FLIGHT));
    let publisher = tokio::spawn(async move {
        for i in 0..n {
            let k = client * n + i;
            let ds = first + (k % streams) as i64;
            let t = sensorthings::time::format(t0 + k as i64 * 1_000_000);
            let body = format!("{{\"phenomenonTime\":\"{t}\",\"result\":{}}}", k % 1000);
            c.publish(
                format!("v1.1/Datastreams({ds})/Observations"),
                QoS::AtLeastOnce,
                false,
                body,
            )
            .await
            .map_err(|e| e.to_string())?;
        }
        Ok::<AsyncClient, String>(c)
    });
    let mut acked = 0u64;
    while acked < n {
        match events.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acked += 1;
                if acked.is_multiple_of(1000) {
                    peak.fetch_max(
                        (rss_mib() * 1024.0) as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(a)))
                if a.code != rumqttc::ConnectReturnCode::Success =>
            {
                return Err(format!("MQTT login refused: {:?}", a.code));
            }
            Ok(_) => {}
            Err(e) => return Err(format!("MQTT: {e}")),
        }
    }
    let c = publisher.await.map_err(|e| e.to_string())??;
    let _ = c.disconnect().await;
    Ok(acked)
}

/// p50 and p95 (ms) of `runs` sequential GETs, and the size of the last answer.
async fn timed_gets(
    client: &reqwest::Client,
    url: &str,
    runs: usize,
) -> Result<(f64, f64, usize), Failure> {
    let mut lat = Vec::with_capacity(runs);
    let mut size = 0;
    for i in 0..runs + 2 {
        let start = Instant::now();
        let r = client
            .get(url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            return Err(fail(format!(
                "{url}: {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        size = body.len();
        if i >= 2 {
            lat.push(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
    }
    lat.sort_unstable();
    Ok((ms(percentile(&lat, 0.5)), ms(percentile(&lat, 0.95)), size))
}

fn fail(message: String) -> Failure {
    Failure { message, code: 1 }
}

// The benchmark reports wall-clock durations and dates its results.
#[allow(clippy::disallowed_methods)]
async fn sta(args: BenchStaArgs) -> Result<(), Failure> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let tmp = std::env::temp_dir().join(format!("stadtkern-bench-sta-{}", std::process::id()));
    let (url, schema) = match &args.database {
        Some(u) if u.starts_with("postgres") => (u.clone(), Some("bench_sta".to_string())),
        Some(u) => (u.clone(), None),
        None => {
            std::fs::create_dir_all(&tmp)?;
            (format!("sqlite://{}", tmp.join("bench.db").display()), None)
        }
    };
    if let Some(s) = &schema {
        let admin = store::Db::connect(&url, &store::OpenOptions::default()).await?;
        let mut tx = admin.begin().await?;
        tx.raw_execute(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
            .await?;
        tx.raw_execute(&format!("CREATE SCHEMA {s}")).await?;
        tx.commit().await?;
    }
    let opts = store::OpenOptions {
        schema: schema.clone(),
        ..store::OpenOptions::default()
    };
    let db = store::Db::connect(&url, &opts).await?;
    store::migrations::migrate(&db).await?;
    let mut cfg = kern::Config::default();
    cfg.http.body_limit_bytes = 64 << 20;
    cfg.http.request_timeout_secs = 600;
    let env = crate::env_for(cfg, db.clone());
    let admin = platform::Actor::new(
        kern::Principal::Token(kern::auth::TokenPrincipal {
            id: 0,
            name: "bench".into(),
            scopes: vec!["admin".parse().map_err(|_| fail("scope".into()))?],
        }),
        "bench",
    );
    let token = platform::tokens::create(
        &env,
        &platform::Actor::system(),
        "bench",
        &platform::tokens::parse_scopes(&["sta:write".to_string()])?,
    )
    .await?
    .token;
    // One Thing with a Location; Datastreams in bulk.
    let thing = serde_json::json!({
        "name": "Bench", "description": "bench",
        "Locations": [{ "name": "L", "description": "l", "encodingType": "application/geo+json",
                        "location": { "type": "Point", "coordinates": [7.46, 51.51] } }],
        "Datastreams": [{ "name": "D0", "description": "d", "observationType": "OM_Measurement",
            "unitOfMeasurement": { "name": "n", "symbol": "s", "definition": "d" },
            "Sensor": { "name": "S", "description": "s", "encodingType": "text/html", "metadata": "m" },
            "ObservedProperty": { "name": "P", "description": "p", "definition": "d" },
            "Observations": [{ "phenomenonTime": "2020-01-01T00:00:00Z", "result": 0 }] }]
    });
    sensorthings::service::post(&env, &admin, "/Things", thing.to_string().as_bytes()).await?;
    let one = |sql: &'static str| {
        let db = db.clone();
        async move {
            db.fetch_cells_sql(sql, store::sea_query::Values(vec![]))
                .await
                .map(|r| {
                    r.first()
                        .and_then(|c| c.values.first().and_then(|v| v.as_i64()))
                        .unwrap_or(0)
                })
        }
    };
    let first = one("SELECT MIN(id) FROM sta_datastreams").await?;
    let foi = one("SELECT MIN(feature_id) FROM sta_observations").await?;
    {
        let mut tx = db.begin().await?;
        let mut made = 1;
        while made < args.datastreams {
            let n = (args.datastreams - made).min(500);
            let values: Vec<String> = (0..n)
                .map(|i| format!(
                    "('D{}', 'd', 'OM_Measurement', '{{\"name\":\"n\"}}', 'public', '', (SELECT thing_id FROM sta_datastreams WHERE id = {first}), (SELECT sensor_id FROM sta_datastreams WHERE id = {first}), (SELECT obs_prop_id FROM sta_datastreams WHERE id = {first}))",
                    made + i
                ))
                .collect();
            tx.execute_sql(
                &format!("INSERT INTO sta_datastreams (name, description, observation_type, unit_of_measurement, visibility, groups, thing_id, sensor_id, obs_prop_id) VALUES {}", values.join(", ")),
                store::sea_query::Values(vec![]),
            )
            .await?;
            made += n;
        }
        tx.commit().await?;
    }
    let state = web::AppState::new(env.clone()).await?;
    let broker = mqtt::broker::Broker::new(env.clone(), state.sta.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = web::serve(listener, state, std::future::pending()).await;
    });
    let mqtt_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mqtt_addr = mqtt_listener.local_addr()?;
    tokio::spawn(broker.serve(mqtt_listener));
    let base = format!("http://{addr}/sta/v1.1");
    let client = reqwest::Client::new();
    let t0 = sensorthings::time::parse_instant("2021-01-01T00:00:00Z").unwrap_or(0);

    // 1. Ingest over HTTP: CreateObservations, `concurrency` requests in flight.
    let requests = args.ingest.div_ceil(args.batch.max(1));
    let next = Arc::new(AtomicU64::new(0));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, next, token, base, peak) = (
            client.clone(),
            next.clone(),
            token.clone(),
            base.clone(),
            peak_rss.clone(),
        );
        let (batch, streams) = (args.batch, args.datastreams);
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= requests {
                    return Ok::<u64, String>(sent);
                }
                let groups = ingest_rows(k, batch, first, streams, t0);
                let body = create_body(&groups);
                let r = client
                    .post(format!("{base}/CreateObservations"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if r.status().as_u16() != 201 {
                    return Err(format!(
                        "{}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ));
                }
                let _ = r.bytes().await;
                sent += groups.iter().map(|g| g.1.len() as u64).sum::<u64>();
                peak.fetch_max((rss_mib() * 1024.0) as u64, Ordering::Relaxed);
            }
        }));
    }
    let mut ingested = 0;
    for t in tasks {
        ingested += t.await.map_err(|e| fail(e.to_string()))?.map_err(fail)?;
    }
    let http_secs = started.elapsed().as_secs_f64();
    let http_rate = ingested as f64 / http_secs;

    // 1b. Ingest over MQTT: QoS 1 publishes to the create topic, counted at their PUBACK.
    let mqtt_peak = Arc::new(AtomicU64::new(0));
    let clients = args.mqtt_clients.max(1) as u64;
    let per_client = args.mqtt_ingest / clients;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (token, peak) = (token.clone(), mqtt_peak.clone());
        let (streams, t_mqtt) = (args.datastreams, t0 + 200 * 86_400_000_000);
        tasks.push(tokio::spawn(async move {
            mqtt_publisher(
                mqtt_addr, &token, c, per_client, first, streams, t_mqtt, &peak,
            )
            .await
        }));
    }
    let mut mqtt_ingested = 0;
    for t in tasks {
        mqtt_ingested += t.await.map_err(|e| fail(e.to_string()))?.map_err(fail)?;
    }
    let mqtt_secs = started.elapsed().as_secs_f64();
    let mqtt_rate = mqtt_ingested as f64 / mqtt_secs.max(1e-9);

    // 2. The same rows straight into the same database (no HTTP, no JSON), one after another.
    let started = Instant::now();
    let t_raw = t0 + 400 * 86_400_000_000;
    for k in 0..requests {
        raw_insert(
            &db,
            foi,
            &ingest_rows(k, args.batch, first, args.datastreams, t_raw),
        )
        .await?;
    }
    let raw_secs = started.elapsed().as_secs_f64();
    let raw_rate = ingested as f64 / raw_secs;

    // 3. Fill up to `observations`: half in the first Datastream, the rest spread evenly.
    let started = Instant::now();
    let have = one("SELECT COUNT(*) FROM sta_observations").await? as u64;
    let target = args.observations.max(have);
    let big_have =
        one("SELECT obs_count FROM sta_latest ORDER BY datastream_id LIMIT 1").await? as u64;
    let big_more = (target / 2)
        .saturating_sub(big_have)
        .min(target.saturating_sub(have));
    let rest = target.saturating_sub(have + big_more);
    let t_fill = t0 + 800 * 86_400_000_000;
    let mut done = 0u64;
    while done < big_more {
        let n = (big_more - done).min(100_000);
        let rows: Vec<(i64, f64)> = (0..n)
            .map(|i| (t_fill + (done + i) as i64 * 1_000_000, (i % 97) as f64))
            .collect();
        raw_insert(&db, foi, &[(first, rows)]).await?;
        done += n;
    }
    let others = args.datastreams.saturating_sub(1).max(1);
    let each = rest / others;
    let mut groups = Vec::new();
    for j in 0..others {
        let ds = first + 1 + j as i64;
        let rows: Vec<(i64, f64)> = (0..each)
            .map(|i| (t_fill + i as i64 * 900_000_000, (i % 89) as f64))
            .collect();
        groups.push((ds, rows));
        if groups.iter().map(|g| g.1.len()).sum::<usize>() >= 100_000 || j + 1 == others {
            raw_insert(&db, foi, &groups).await?;
            groups.clear();
        }
    }
    let fill_secs = started.elapsed().as_secs_f64();
    let total = one("SELECT COUNT(*) FROM sta_observations").await?;
    if db.backend() == store::Backend::Postgres {
        db.raw_execute("ANALYZE").await?;
    }

    // 4. Reads over HTTP (anonymous reader: public data, visibility applied).
    let latest = timed_gets(&client, &format!("{base}/LatestObservations"), 20).await?;
    let latest_sel = timed_gets(
        &client,
        &format!("{base}/LatestObservations?$select=result,phenomenonTime"),
        20,
    )
    .await?;
    let expand = timed_gets(
        &client,
        &format!("{base}/Datastreams?$top={}&$select=id&$expand=Observations($orderby=phenomenonTime%20desc;$top=1)", args.datastreams),
        10,
    )
    .await?;
    let count_all = timed_gets(
        &client,
        &format!("{base}/Observations?$count=true&$top=1"),
        30,
    )
    .await?;
    let count_ds = timed_gets(
        &client,
        &format!("{base}/Datastreams({first})/Observations?$count=true&$top=1"),
        30,
    )
    .await?;
    let page = timed_gets(
        &client,
        &format!("{base}/Datastreams({first})/Observations?$top=1000"),
        50,
    )
    .await?;
    let page_desc = timed_gets(
        &client,
        &format!(
            "{base}/Datastreams({first})/Observations?$top=1000&$orderby=phenomenonTime%20desc"
        ),
        50,
    )
    .await?;
    let page_da = timed_gets(
        &client,
        &format!("{base}/Datastreams({first})/Observations?$top=1000&$resultFormat=dataArray&$select=phenomenonTime,result"),
        50,
    )
    .await?;
    let result = serde_json::json!({
        "backend": db.backend().name(),
        "date": chrono::Utc::now().to_rfc3339(),
        "observations": total,
        "datastreams": args.datastreams,
        "ingest": {
            "observations": ingested, "batch": args.batch, "concurrency": args.concurrency,
            "http_per_s": http_rate.round(), "raw_per_s": raw_rate.round(),
            "ratio": (http_rate / raw_rate * 100.0).round() / 100.0,
            "peak_rss_mib": (peak_rss.load(Ordering::Relaxed) as f64 / 1024.0).round(),
        },
        "mqtt_ingest": {
            "observations": mqtt_ingested, "clients": clients, "in_flight_per_client": MQTT_IN_FLIGHT,
            "qos1_per_s": mqtt_rate.round(),
            "ratio_to_raw": (mqtt_rate / raw_rate * 100.0).round() / 100.0,
            "peak_rss_mib": (mqtt_peak.load(Ordering::Relaxed) as f64 / 1024.0).round(),
        },
        "fill_seconds": (fill_secs * 10.0).round() / 10.0,
        "p50_p95_ms": {
            "latest_observations_all": [latest.0, latest.1, latest.2],
            "latest_observations_select": [latest_sel.0, latest_sel.1, latest_sel.2],
            "expand_latest_top1": [expand.0, expand.1, expand.2],
            "count_all": [count_all.0, count_all.1],
            "count_one_datastream": [count_ds.0, count_ds.1],
            "page_1000": [page.0, page.1],
            "page_1000_time_desc": [page_desc.0, page_desc.1],
            "page_1000_data_array": [page_da.0, page_da.1],
        }
    });
    if args.json {
        println!("{result}");
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        );
    }
    if args.keep {
        db.close().await;
        match &schema {
            Some(s) => eprintln!("stadtkern: the benchmark data is kept: {url}, schema {s}"),
            None => eprintln!("stadtkern: the benchmark database is kept: {url}"),
        }
    } else if let Some(s) = &schema {
        db.close().await;
        let admin = store::Db::connect(&url, &store::OpenOptions::default()).await?;
        admin
            .raw_execute(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
            .await?;
    } else if args.database.is_none() {
        db.close().await;
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn only_loopback_is_measured() {
        assert!(loopback_url("http://127.0.0.1:8080/").is_ok());
        assert!(loopback_url("http://127.1.2.3/").is_ok());
        assert!(loopback_url("http://localhost:8080/x").is_ok());
        assert!(loopback_url("http://[::1]:8080/").is_ok());
        for bad in [
            "http://10.0.0.1/",
            "http://192.168.1.1/",
            "https://example.org/",
            "http://localhost.example.org/",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(loopback_url(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), 50);
        assert_eq!(percentile(&v, 0.95), 95);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[7], 0.99), 7);
    }
}

//! `stadtkern simulate`: keeps the demo city's sensors alive. It reads the Datastreams that
//! carry `properties.simulation` (set by the demo seeder), and every interval posts one new value
//! per Datastream through `POST /sta/v1.1/CreateObservations`, from the same models that
//! generated the history.

use crate::Failure;
use crate::bench::parse_duration;
use crate::cli::SimulateArgs;
use sensorthings::demo::{Noise, value};
use serde_json::{Value, json};

/// (datastream id, model, scale)
type Series = Vec<(i64, String, f64)>;

async fn streams(client: &reqwest::Client, base: &str, token: &str) -> Result<Series, Failure> {
    let mut out = Vec::new();
    let mut next = Some(format!(
        "{base}/sta/v1.1/Datastreams?$select=id,properties&$top=1000"
    ));
    while let Some(url) = next.take() {
        let resp = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| fail(format!("cannot reach {url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(fail(format!("{url} answered {}", resp.status())));
        }
        let page: Value = resp
            .json()
            .await
            .map_err(|e| fail(format!("{url}: not JSON: {e}")))?;
        for d in page["value"].as_array().into_iter().flatten() {
            let sim = &d["properties"]["simulation"];
            if let (Some(id), Some(model)) = (d["@iot.id"].as_i64(), sim["model"].as_str()) {
                out.push((id, model.to_string(), sim["scale"].as_f64().unwrap_or(1.0)));
            }
        }
        next = page["@iot.nextLink"].as_str().map(str::to_string);
    }
    Ok(out)
}

fn fail(message: String) -> Failure {
    Failure { message, code: 1 }
}

/// The CreateObservations body for one round at time `t` (microseconds).
pub fn round_body(series: &Series, t: i64, round: u64) -> Value {
    let time = sensorthings::time::format(t);
    Value::Array(
        series
            .iter()
            .map(|(id, model, scale)| {
                let mut n = Noise::new((*id as u64).wrapping_mul(31).wrapping_add(round));
                json!({
                    "Datastream": { "@iot.id": id },
                    "components": ["phenomenonTime", "result"],
                    "dataArray@iot.count": 1,
                    "dataArray": [[time, value(model, *scale, t, &mut n)]],
                })
            })
            .collect(),
    )
}

// The simulation follows the wall clock: it produces "now" values for a live demo.
#[allow(clippy::disallowed_methods)]
fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

pub async fn run(args: SimulateArgs) -> Result<(), Failure> {
    let every = parse_duration(&args.interval).map_err(|m| Failure {
        message: m,
        code: 2,
    })?;
    let token = args.token.clone().ok_or_else(|| Failure {
        message: "simulate needs --token (or STADTKERN_TOKEN) with the scope sta:write; \
                  create one with: stadtkern token create --name simulate --scope sta:write"
            .into(),
        code: 2,
    })?;
    let base = args.url.trim_end_matches('/').to_string();
    let client = reqwest::Client::new();
    let series = streams(&client, &base, &token).await?;
    if series.is_empty() {
        return Err(fail(format!(
            "{base} has no demo Datastreams (with properties.simulation); start it with `stadtkern demo`"
        )));
    }
    println!(
        "simulating {} Datastreams on {base}, every {:?}",
        series.len(),
        every
    );
    let mut tick = tokio::time::interval(every);
    let mut round = 0u64;
    loop {
        tick.tick().await;
        let t = now_micros();
        let body = round_body(&series, t, round);
        let url = format!("{base}/sta/v1.1/CreateObservations");
        match client
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status().as_u16() == 201 => {
                let links: Value = r.json().await.unwrap_or(Value::Null);
                let errors = links
                    .as_array()
                    .map(|a| a.iter().filter(|x| *x == "error").count())
                    .unwrap_or(0);
                println!(
                    "{}: {} values posted, {errors} refused",
                    sensorthings::time::format(t),
                    series.len() - errors
                );
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                eprintln!("{url} answered {status}: {text}");
            }
            Err(e) => eprintln!("{url}: {e}"),
        }
        round += 1;
        if args.rounds.is_some_and(|n| round >= n) {
            return Ok(());
        }
    }
}

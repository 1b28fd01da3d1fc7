//! Demo content of the street-lighting module: two schedules with the coming holidays as
//! overrides, one circuit per demo street-light controller (linked to its "Leistung" and
//! "Schaltzustand" Datastreams) with twenty LED poles whose rated power matches the
//! controller's simulated full power, and two maintenance orders.

use super::{
    NewCircuit, NewLuminaire, NewOrder, NewOverride, NewPole, NewSchedule, Report, add_luminaire,
    add_override, add_pole, create_circuit, create_order, create_schedule, report,
};
use chrono::Datelike;
use kern::Result;
use platform::demo::Seeder;
use platform::{Actor, Env};
use std::collections::BTreeMap;

pub const SEEDER: Seeder = Seeder {
    name: "lighting",
    run: |env| Box::pin(seed(env)),
};

/// Poles per demo circuit.
const POLES: usize = 20;

const STREETS: [&str; 5] = [
    "Hauptstraße",
    "Bahnhofstraße",
    "Schulstraße",
    "Gartenstraße",
    "Lindenweg",
];

async fn seed(env: &Env) -> Result<()> {
    let sys = Actor::system();
    let standard = create_schedule(
        env,
        &sys,
        NewSchedule {
            name: "Wohnstraßen: Dämmerung, Absenkung 23–5 Uhr".into(),
            on_event: "civil_dusk".into(),
            on_offset_min: 0,
            off_event: "civil_dawn".into(),
            off_offset_min: 0,
            dim_start: "23:00".into(),
            dim_end: "05:00".into(),
            dim_percent: Some(60),
        },
    )
    .await?;
    create_schedule(
        env,
        &sys,
        NewSchedule {
            name: "Hauptverkehrsstraßen: Sonnenuntergang, Absenkung 0–5 Uhr".into(),
            on_event: "sunset".into(),
            on_offset_min: 10,
            off_event: "sunrise".into(),
            off_offset_min: -10,
            dim_start: "00:00".into(),
            dim_end: "05:00".into(),
            dim_percent: Some(75),
        },
    )
    .await?;
    let year = super::astro::local_day(env.now()).year();
    for (day, label, kind, start, end, percent) in [
        ("12-24", "Heiligabend", "holiday", "", "", 100),
        ("12-31", "Silvester", "holiday", "", "", 100),
        (
            "12-12",
            "Weihnachtsmarkt, langer Abend",
            "event",
            "01:00",
            "05:00",
            60,
        ),
    ] {
        add_override(
            env,
            &sys,
            NewOverride {
                schedule_id: standard,
                day: format!("{year}-{day}"),
                label: label.into(),
                kind: kind.into(),
                dim_start: start.into(),
                dim_end: end.into(),
                dim_percent: Some(percent),
            },
        )
        .await?;
    }
    // The controllers' Datastreams: "Leuchtensteuerung <district>: Leistung|Schaltzustand".
    let streams = match sensorthings::service::get(
        env,
        &sys,
        "Datastreams",
        "$top=1000&$select=id,name,properties&$orderby=id",
    )
    .await?
    {
        sensorthings::service::Reply::Json { body, .. } => body,
        _ => serde_json::Value::Null,
    };
    let mut by_district: BTreeMap<String, (Option<i64>, Option<i64>, f64)> = BTreeMap::new();
    for s in streams["value"].as_array().cloned().unwrap_or_default() {
        let name = s["name"].as_str().unwrap_or("");
        let Some((district, what)) = name
            .strip_prefix("Leuchtensteuerung ")
            .and_then(|r| r.split_once(": "))
        else {
            continue;
        };
        let e = by_district
            .entry(district.to_string())
            .or_insert((None, None, 0.0));
        match what {
            "Leistung" => {
                e.0 = s["@iot.id"].as_i64();
                e.2 = s["properties"]["simulation"]["scale"]
                    .as_f64()
                    .unwrap_or(900.0);
            }
            "Schaltzustand" => e.1 = s["@iot.id"].as_i64(),
            _ => {}
        }
    }
    let mut first_circuit = None;
    for (district, (power, switch, full_w)) in by_district {
        let Some((number, _, _, lat, lon)) =
            platform::demo::DISTRICTS.iter().find(|d| d.1 == district)
        else {
            continue;
        };
        let (clat, clon) = (lat + 0.004, lon + 0.005);
        let circuit = create_circuit(
            env,
            &sys,
            NewCircuit {
                name: format!("{district}, Schaltkreis 1"),
                district: Some(*number),
                cabinet: format!("Schaltschrank {number:02}-01"),
                latitude: Some(clat),
                longitude: Some(clon),
                controller_serial: format!("SC-{number:02}-0001"),
                power_datastream_id: power,
                switch_datastream_id: switch,
                schedule_id: Some(standard),
            },
        )
        .await?;
        first_circuit.get_or_insert(circuit);
        let wattage = (full_w / POLES as f64 * 10.0).round() / 10.0;
        for i in 0..POLES {
            let pole = add_pole(
                env,
                &sys,
                NewPole {
                    number: format!("{number:02}-{:03}", i + 1),
                    circuit_id: circuit,
                    street: STREETS[i / 4].into(),
                    latitude: Some(clat + 0.0004 * (i % 10) as f64),
                    longitude: Some(clon + 0.0006 * (i / 10) as f64),
                    height_m: Some(if i % 4 == 0 { 10.0 } else { 6.0 }),
                    installed_on: format!("{}-04-01", 2016 + (i % 6)),
                },
            )
            .await?;
            add_luminaire(
                env,
                &sys,
                NewLuminaire {
                    pole_id: pole,
                    lamp_type: "led".into(),
                    wattage: Some(wattage),
                    installed_on: format!("{}-04-01", 2016 + (i % 6)),
                },
            )
            .await?;
        }
    }
    if let Some(c) = first_circuit {
        report(
            env,
            &sys,
            Report {
                pole_number: "01-007".into(),
                description: "Die Leuchte flackert seit drei Tagen.".into(),
                ..Report::default()
            },
        )
        .await?;
        create_order(
            env,
            &sys,
            NewOrder {
                circuit_id: Some(c),
                pole_id: None,
                description: "Jährliche Sichtprüfung der Masten, Standsicherheit prüfen".into(),
                assignee: "Team Innenstadt".into(),
            },
        )
        .await?;
    }
    Ok(())
}

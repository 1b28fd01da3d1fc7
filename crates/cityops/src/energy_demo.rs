//! Demo content of the building-energy module: one municipal building per demo energy meter
//! (its "Strom" and "Wärme" Datastreams), with the PV system of its district where there is
//! one, and a flexible load registered for the larger electricity meters.

use crate::energy::{NewBuilding, NewMeter, add_meter, create_building};
use kern::Result;
use platform::demo::Seeder;
use platform::{Actor, Env};
use std::collections::BTreeMap;

pub const SEEDER: Seeder = Seeder {
    name: "energy",
    run: |env| Box::pin(seed(env)),
};

/// Building kinds of the demo, cycled over the districts: (use type, name prefix, m²).
const KINDS: [(&str, &str, f64); 6] = [
    ("administration", "Bürgerdienste", 4200.0),
    ("school", "Gesamtschule", 9800.0),
    ("daycare", "Kita", 950.0),
    ("sports", "Sporthalle", 2600.0),
    ("culture", "Stadtteilbibliothek", 1400.0),
    ("fire_station", "Feuerwache", 3100.0),
];

/// The electricity, heat and PV Datastreams of a district.
type Streams = (Option<i64>, Option<i64>, Option<i64>);

async fn seed(env: &Env) -> Result<()> {
    let sys = Actor::system();
    let streams = match sensorthings::service::get(
        env,
        &crate::roadworks::sta_reader(),
        "Datastreams",
        "$top=1000&$select=id,name&$orderby=id",
    )
    .await?
    {
        sensorthings::service::Reply::Json { body, .. } => body,
        _ => serde_json::Value::Null,
    };
    // district -> (electricity, heat, pv)
    let mut by: BTreeMap<String, Streams> = BTreeMap::new();
    for s in streams["value"].as_array().cloned().unwrap_or_default() {
        let name = s["name"].as_str().unwrap_or("");
        let id = s["@iot.id"].as_i64();
        if let Some((d, what)) = name
            .strip_prefix("Energiezähler ")
            .and_then(|r| r.split_once(": "))
        {
            let e = by.entry(d.to_string()).or_default();
            match what {
                "Strom" => e.0 = id,
                "Wärme" => e.1 = id,
                _ => {}
            }
        } else if let Some(d) = name
            .strip_prefix("Photovoltaikanlage ")
            .and_then(|r| r.strip_suffix(": Erzeugung"))
        {
            by.entry(d.to_string()).or_default().2 = id;
        }
    }
    for (i, (district, (power, heat, pv))) in by.into_iter().enumerate() {
        let Some((number, _, _, lat, lon)) =
            platform::demo::DISTRICTS.iter().find(|d| d.1 == district)
        else {
            continue;
        };
        let (kind, prefix, area) = KINDS[i % KINDS.len()];
        let b = create_building(
            env,
            &sys,
            NewBuilding {
                name: format!("{prefix} {district}"),
                district: Some(*number),
                address: format!("Marktplatz {}, {district}", i + 1),
                latitude: Some(lat - 0.006),
                longitude: Some(lon - 0.005),
                floor_area_m2: Some(area),
                use_type: kind.into(),
            },
        )
        .await?;
        if power.is_some() {
            add_meter(
                env,
                &sys,
                NewMeter {
                    building_id: b,
                    name: "Hauptstromzähler".into(),
                    medium: "electricity".into(),
                    datastream_id: power,
                    flexible_kw: Some(if area > 2000.0 { 40.0 } else { 8.0 }),
                },
            )
            .await?;
        }
        if heat.is_some() {
            add_meter(
                env,
                &sys,
                NewMeter {
                    building_id: b,
                    name: "Wärmemengenzähler Fernwärme".into(),
                    medium: "heat".into(),
                    datastream_id: heat,
                    flexible_kw: None,
                },
            )
            .await?;
        }
        if pv.is_some() {
            add_meter(
                env,
                &sys,
                NewMeter {
                    building_id: b,
                    name: "PV-Anlage Dach".into(),
                    medium: "pv".into(),
                    datastream_id: pv,
                    flexible_kw: None,
                },
            )
            .await?;
        }
    }
    Ok(())
}

//! Building energy: bad input writes nothing, consumption per month and m² from a meter's
//! Datastream, the CO2 balance with PV, anomalies from real observations, the city view of
//! flexible loads and PV, and authorisation.

use crate::*;
use cityops::energy::{self, Factors, NewBuilding, NewMeter};
use kern::Error;
use sensorthings::service::{self, Reply};
use serde_json::json;

fn admin() -> Actor {
    Actor::new(
        Principal::Token(TokenPrincipal {
            id: 2,
            name: "sta".into(),
            scopes: vec!["admin".parse().unwrap()],
        }),
        "127.0.0.1",
    )
}

fn fields(e: Error) -> Vec<String> {
    match e {
        Error::Invalid(inv) => inv
            .problems
            .iter()
            .filter_map(|p| p.field.clone())
            .collect(),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

/// A meter Thing with one Datastream per name; returns the ids in order.
async fn streams(t: &T, names: &[&str]) -> Vec<i64> {
    let ds: Vec<_> = names
        .iter()
        .map(|n| {
            json!({ "name": n, "description": "d",
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                "unitOfMeasurement": { "name": "Kilowattstunde", "symbol": "kWh", "definition": "ucum:kW.h" },
                "Sensor": { "name": format!("S {n}"), "description": "s", "encodingType": "text/html", "metadata": "m" },
                "ObservedProperty": { "name": format!("P {n}"), "description": "p", "definition": "p" } })
        })
        .collect();
    let thing = json!({ "name": "Zähler Rathaus", "description": "d",
        "Locations": [{ "name": "L", "description": "l", "encodingType": "application/geo+json",
                        "location": { "type": "Point", "coordinates": [7.465, 51.513] } }],
        "Datastreams": ds });
    let w = service::post(&t.env, &admin(), "/Things", thing.to_string().as_bytes())
        .await
        .unwrap();
    let Reply::Json { body, .. } = w.reply else {
        panic!()
    };
    let id = body["@iot.id"].as_i64().unwrap();
    let Reply::Json { body, .. } = service::get(
        &t.env,
        &admin(),
        &format!("/Things({id})/Datastreams"),
        "$orderby=id",
    )
    .await
    .unwrap() else {
        panic!()
    };
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["@iot.id"].as_i64().unwrap())
        .collect()
}

/// Hourly observations `f(hour index)` for `hours` hours ending at the current hour.
async fn fill(t: &T, ds: i64, hours: i64, f: impl Fn(i64, DateTime<Utc>) -> f64) {
    fill_until(t, ds, hours, 0, f).await
}

/// The same, ending `ago` hours before the current hour.
async fn fill_until(t: &T, ds: i64, hours: i64, ago: i64, f: impl Fn(i64, DateTime<Utc>) -> f64) {
    let end = t.env.now() - Duration::minutes(30) - Duration::hours(ago);
    let body: Vec<_> = (0..hours)
        .map(|i| {
            let at = end - Duration::hours(hours - 1 - i);
            vec![json!(at.to_rfc3339()), json!(f(i, at))]
        })
        .collect();
    let req = json!([{ "Datastream": { "@iot.id": ds }, "components": ["phenomenonTime", "result"],
                       "dataArray": body }]);
    service::post(
        &t.env,
        &admin(),
        "/CreateObservations",
        req.to_string().as_bytes(),
    )
    .await
    .unwrap();
}

fn rathaus() -> NewBuilding {
    NewBuilding {
        name: "Rathaus".into(),
        district: Some(1),
        address: "Friedensplatz 1".into(),
        latitude: Some(51.5136),
        longitude: Some(7.4653),
        floor_area_m2: Some(5000.0),
        use_type: "administration".into(),
    }
}

#[tokio::test]
async fn bad_buildings_and_meters_are_refused_and_write_nothing() {
    let t = setup().await;
    let f = fields(
        energy::create_building(
            &t.env,
            &staff(),
            NewBuilding {
                name: "R".into(),
                district: Some(42),
                latitude: Some(52.5),
                longitude: Some(13.4),
                floor_area_m2: Some(-10.0),
                use_type: "castle".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        f,
        ["name", "latitude", "floor_area_m2", "use_type", "district"]
    );
    assert!(energy::buildings(&t.env).await.unwrap().is_empty());
    let b = energy::create_building(&t.env, &staff(), rathaus())
        .await
        .unwrap();
    assert!(matches!(
        energy::create_building(&t.env, &staff(), rathaus()).await,
        Err(Error::Conflict(_))
    ));
    let f = fields(
        energy::add_meter(
            &t.env,
            &staff(),
            NewMeter {
                building_id: b + 9,
                name: "Z".into(),
                medium: "steam".into(),
                datastream_id: Some(999_999),
                flexible_kw: Some(5.0),
            },
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        f,
        [
            "building_id",
            "name",
            "medium",
            "flexible_kw",
            "datastream_id"
        ]
    );
    let f = fields(
        energy::add_meter(
            &t.env,
            &staff(),
            NewMeter {
                building_id: b,
                name: "Strom".into(),
                medium: "electricity".into(),
                datastream_id: None,
                flexible_kw: Some(-1.0),
            },
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(f, ["flexible_kw"]);
    assert!(energy::meters(&t.env).await.unwrap().is_empty());
    let f = fields(
        energy::set_factors(
            &t.env,
            &staff(),
            Factors {
                electricity: -0.1,
                heat: f64::NAN,
                gas: 0.2,
                water: 0.3,
            },
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(f, ["electricity", "heat"]);
    assert_eq!(energy::factors(&t.env).await.unwrap(), Factors::default());
}

#[tokio::test]
async fn consumption_per_month_and_m2_and_the_co2_balance_with_pv() {
    let t = setup().await;
    let ds = streams(&t, &["Strom", "PV"]).await;
    let b = energy::create_building(&t.env, &staff(), rathaus())
        .await
        .unwrap();
    for (name, medium, d) in [("Strom", "electricity", ds[0]), ("PV", "pv", ds[1])] {
        energy::add_meter(
            &t.env,
            &staff(),
            NewMeter {
                building_id: b,
                name: name.into(),
                medium: medium.into(),
                datastream_id: Some(d),
                flexible_kw: (medium == "electricity").then_some(25.0),
            },
        )
        .await
        .unwrap();
    }
    // t0 is 22 November 2026, 10:00 UTC: 48 hours of 10 kWh and 2 kWh PV in November.
    fill(&t, ds[0], 48, |_, _| 10.0).await;
    fill(&t, ds[1], 48, |_, _| 2.0).await;
    let y = energy::year(&t.env, 2026).await.unwrap();
    assert_eq!(y.len(), 1);
    let r = &y[0];
    assert_eq!(r.months["electricity"][10], Some(480.0));
    assert_eq!(r.months["electricity"][9], None);
    assert_eq!(r.totals["electricity"], 480.0);
    assert!((r.per_m2["electricity"] - 0.096).abs() < 1e-9);
    assert!((r.co2_kg - 480.0 * 0.380).abs() < 1e-6);
    assert!((r.co2_avoided_kg - 96.0 * 0.380).abs() < 1e-6);
    assert!((r.co2_months[10] - 384.0 * 0.380).abs() < 1e-6);
    // Other factors change the balance.
    energy::set_factors(
        &t.env,
        &staff(),
        Factors {
            electricity: 0.5,
            ..Factors::default()
        },
    )
    .await
    .unwrap();
    assert!((energy::year(&t.env, 2026).await.unwrap()[0].co2_kg - 240.0).abs() < 1e-6);
    assert!(matches!(
        energy::year(&t.env, 1900).await,
        Err(Error::Invalid(_))
    ));

    // The utility's view: 25 kW flexible, the last full hour's consumption and PV.
    let v = energy::city_view(&t.env).await.unwrap();
    assert_eq!(v.flexible_kw, 25.0);
    assert_eq!(v.consumption_kw, 10.0);
    assert_eq!(v.pv_kw, 2.0);
    assert_eq!(v.hours.len(), 24);
    assert!(v.hours.iter().all(|h| h.1 == 10.0 && h.2 == 2.0));
    assert_eq!(v.districts.len(), 1);
    assert_eq!(v.districts[0].district_number, Some(1));
}

#[tokio::test]
async fn anomalies_from_observations() {
    let t = setup().await;
    let ds = streams(&t, &["Strom", "Wärme", "Wasser"]).await;
    let b = energy::create_building(&t.env, &staff(), rathaus())
        .await
        .unwrap();
    for (name, medium, d) in [
        ("Strom", "electricity", ds[0]),
        ("Wärme", "heat", ds[1]),
        ("Wasser", "water", ds[2]),
    ] {
        energy::add_meter(
            &t.env,
            &staff(),
            NewMeter {
                building_id: b,
                name: name.into(),
                medium: medium.into(),
                datastream_id: Some(d),
                flexible_kw: None,
            },
        )
        .await
        .unwrap();
    }
    let office = |at: DateTime<Utc>, high: f64, low: f64| {
        let (d, h) = energy::local_slot(at);
        if d < 5 && (7..19).contains(&h) {
            high
        } else {
            low
        }
    };
    let hours = 24 * 7 * 5;
    // Electricity: the base load stays high at night and at the weekend.
    fill(&t, ds[0], hours, |_, at| office(at, 10.0, 8.0)).await;
    // Heat: a normal office profile, then a jump in the last hours.
    fill(&t, ds[1], hours, |i, at| {
        office(at, 20.0, 5.0) + if i == hours - 2 { 60.0 } else { 0.0 }
    })
    .await;
    // Water stopped reporting three hours ago.
    fill_until(&t, ds[2], hours - 3, 3, |_, at| office(at, 1.0, 0.1)).await;
    let a = energy::anomalies(&t.env, &staff().principal).await.unwrap();
    let mut found: Vec<(String, &str)> = a.iter().map(|a| (a.meter.clone(), a.rule)).collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("Strom".to_string(), "night_load"),
            ("Strom".to_string(), "weekend_load"),
            ("Wasser".to_string(), "silent"),
            ("Wärme".to_string(), "jump"),
        ]
    );
    let jump = a.iter().find(|a| a.rule == "jump").unwrap();
    // t0 is a Sunday: the jump hour (09:00 local) usually takes 5 kWh.
    assert_eq!(jump.value, Some(65.0));
    assert_eq!(jump.reference, Some(5.0));
    assert!(jump.detail.contains("65.0"));
}

#[tokio::test]
async fn only_staff_may_change_buildings_or_see_anomalies() {
    let t = setup().await;
    assert!(matches!(
        energy::create_building(&t.env, &anonymous(), rathaus()).await,
        Err(Error::Forbidden(_) | Error::Unauthorized(_))
    ));
    assert!(
        energy::anomalies(&t.env, &anonymous().principal)
            .await
            .is_err()
    );
    assert!(
        energy::set_factors(&t.env, &anonymous(), Factors::default())
            .await
            .is_err()
    );
    assert!(
        energy::add_meter(&t.env, &anonymous(), NewMeter::default())
            .await
            .is_err()
    );
    assert!(energy::buildings(&t.env).await.unwrap().is_empty());
}

//! Parking: validation, free spaces from the latest observation, forecast shape, silent
//! sensors, DATEX II parking publications parsed back.

use crate::feeds::parse_xml;
use crate::*;
use chrono::TimeZone;
use cityops::feeds::{self, Publisher};
use cityops::parking::{self, NewParking};
use kern::Error;
use sensorthings::service::{self, Reply};
use serde_json::{Value, json};

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

/// A Datastream of occupied spaces with observations at the given times (UTC) and values.
pub async fn stream(t: &T, obs: &[(DateTime<Utc>, f64)]) -> i64 {
    let thing = json!({
        "name": "Parkhaus Test", "description": "d",
        "Locations": [{ "name": "L", "description": "l", "encodingType": "application/geo+json",
                        "location": { "type": "Point", "coordinates": [7.459, 51.506] } }],
        "Datastreams": [{ "name": "Belegung", "description": "d", "observationType": "OM_Measurement",
            "unitOfMeasurement": { "name": "Fahrzeuge", "symbol": "{vehicles}", "definition": "u" },
            "Sensor": { "name": "S", "description": "s", "encodingType": "text/html", "metadata": "m" },
            "ObservedProperty": { "name": "Belegung", "description": "p", "definition": "p" } }]
    });
    let w = service::post(&t.env, &admin(), "/Things", thing.to_string().as_bytes())
        .await
        .unwrap();
    let Reply::Json { body, .. } = w.reply else {
        panic!()
    };
    let id = body["@iot.id"].as_i64().unwrap();
    let Reply::Json { body, .. } =
        service::get(&t.env, &admin(), &format!("/Things({id})/Datastreams"), "")
            .await
            .unwrap()
    else {
        panic!()
    };
    let ds = body["value"][0]["@iot.id"].as_i64().unwrap();
    for (time, v) in obs {
        let o = json!({ "phenomenonTime": time.to_rfc3339(), "result": v });
        service::post(
            &t.env,
            &admin(),
            &format!("/Datastreams({ds})/Observations"),
            o.to_string().as_bytes(),
        )
        .await
        .unwrap();
    }
    ds
}

fn car_park(ds: Option<i64>) -> NewParking {
    NewParking {
        name: "Parkhaus Hohe Straße".into(),
        kind: "car_park".into(),
        district: Some(1),
        latitude: Some(51.506),
        longitude: Some(7.459),
        capacity: Some(300),
        tariffs: "2 € je Stunde".into(),
        opening_hours: "täglich 6–24 Uhr".into(),
        datastream_id: ds,
    }
}

pub fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
}

#[tokio::test]
async fn bad_parking_inputs_write_nothing() {
    let t = setup().await;
    let ds = stream(&t, &[]).await;
    for (field, p) in [
        (
            "capacity",
            NewParking {
                capacity: Some(-1),
                ..car_park(None)
            },
        ),
        (
            "capacity",
            NewParking {
                capacity: None,
                ..car_park(None)
            },
        ),
        (
            "kind",
            NewParking {
                kind: "garage".into(),
                ..car_park(None)
            },
        ),
        (
            "datastream_id",
            NewParking {
                datastream_id: Some(ds + 999),
                ..car_park(None)
            },
        ),
        (
            "latitude",
            NewParking {
                latitude: Some(48.1),
                longitude: Some(11.5),
                ..car_park(None)
            },
        ),
        (
            "district",
            NewParking {
                district: Some(77),
                ..car_park(None)
            },
        ),
    ] {
        match parking::create(&t.env, &staff(), p).await {
            Err(Error::Invalid(inv)) => assert!(
                inv.problems
                    .iter()
                    .any(|p| p.field.as_deref() == Some(field)),
                "{field}: {inv:?}"
            ),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(parking::list(&t.env).await.unwrap().is_empty());
    assert!(
        parking::create(&t.env, &anonymous(), car_park(None))
            .await
            .is_err()
    );
    parking::create(&t.env, &staff(), car_park(None))
        .await
        .unwrap();
    assert!(matches!(
        parking::create(&t.env, &staff(), car_park(None)).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(parking::list(&t.env).await.unwrap().len(), 1);
}

#[tokio::test]
async fn free_spaces_forecast_silence_and_datex() {
    let t = setup().await;
    // t0 is Sunday 22 Nov 2026, 10:00 UTC. Mondays 9:00–10:00 in the three weeks before, and
    // the latest value ten minutes ago.
    let ds = stream(
        &t,
        &[
            (at(2, 9, 0), 100.0),
            (at(2, 9, 30), 120.0),
            (at(9, 9, 10), 200.0),
            (at(16, 9, 0), 300.0),
            (at(22, 9, 50), 120.0),
        ],
    )
    .await;
    let id = parking::create(&t.env, &staff(), car_park(Some(ds)))
        .await
        .unwrap();
    parking::create(
        &t.env,
        &staff(),
        NewParking {
            name: "Parkzone Kampstraße".into(),
            kind: "on_street".into(),
            capacity: Some(0),
            ..car_park(None)
        },
    )
    .await
    .unwrap();
    let status = parking::status(&t.env).await.unwrap();
    let s = status.iter().find(|s| s.parking.id == id).unwrap();
    assert_eq!((s.free, s.silent), (Some(180), false));
    assert_eq!(s.observed_at, Some(at(22, 9, 50)));

    let f = parking::forecast(&t.env, id).await.unwrap();
    assert_eq!(f.len(), 7);
    assert!(f.iter().all(|row| row.len() == 24));
    let monday_9 = f[0][9].unwrap();
    assert!(
        (monday_9 - (110.0 + 200.0 + 300.0) / 3.0).abs() < 1e-9,
        "{monday_9}"
    );
    assert_eq!(f[6][9], Some(120.0));
    assert_eq!(f.iter().flatten().filter(|c| c.is_some()).count(), 2);

    let publisher = Publisher {
        country: "de".into(),
        national_identifier: "DE-MUSTERSTADT".into(),
    };
    let table = parse_xml(&feeds::datex_parking_table(
        &parking::list(&t.env).await.unwrap(),
        t.env.now(),
        &publisher,
    ));
    assert_eq!(
        (table.ns.as_str(), table.name.as_str()),
        (feeds::NS_D2, "payload")
    );
    assert_eq!(table.attr("xsi:type"), Some("prk:ParkingTablePublication"));
    assert_eq!(table.attr("xmlns:prk"), Some(feeds::NS_PRK));
    let records = table.child("parkingTable").unwrap().all("parkingRecord");
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.ns == feeds::NS_PRK && r.attr("xsi:type") == Some("prk:UrbanParkingSite"))
    );
    let spaces: Vec<&str> = records
        .iter()
        .map(|r| r.child("parkingNumberOfSpaces").unwrap().text.as_str())
        .collect();
    assert!(spaces.contains(&"300") && spaces.contains(&"0"));

    let live = parse_xml(&feeds::datex_parking_status(
        &status,
        t.env.now(),
        &publisher,
    ));
    assert_eq!(live.attr("xsi:type"), Some("prk:ParkingStatusPublication"));
    let st = live.all("parkingRecordStatus");
    assert_eq!(st.len(), 1, "only sites with a sensor");
    assert_eq!(
        st[0].child("parkingRecordReference").unwrap().attr("id"),
        Some(format!("stadtkern-parking-{id}").as_str())
    );
    let occ = st[0].child("parkingOccupancy").unwrap();
    assert_eq!(
        occ.child("parkingNumberOfVacantSpaces").unwrap().text,
        "180"
    );
    assert_eq!(
        st[0].child("parkingSiteStatus").unwrap().text,
        "spacesAvailable"
    );

    // Two hours later without new values the sensor is silent: no free count, an alert.
    t.clock.advance(Duration::hours(2));
    let s = parking::status(&t.env).await.unwrap();
    let s = s.iter().find(|s| s.parking.id == id).unwrap();
    assert_eq!((s.free, s.silent), (None, true));
    let alerts = parking::alerts(&t.env, &staff().principal).await.unwrap();
    assert_eq!(
        alerts.iter().map(|a| a.parking.id).collect::<Vec<_>>(),
        vec![id]
    );
    assert!(
        parking::alerts(&t.env, &anonymous().principal)
            .await
            .is_err()
    );
    let _: Value = json!(null);
}

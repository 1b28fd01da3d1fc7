//! Street lighting: schedules and overrides for Dortmund, inventory validation (bad input
//! writes nothing), fault detection from telemetry into maintenance orders, residents'
//! reports with feedback and erasure of the address, energy and CO2 per month, authorisation.

use crate::*;
use cityops::lighting::{
    self, NewCircuit, NewLuminaire, NewOrder, NewOverride, NewPole, NewSchedule, Report, Step,
};
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

fn resident() -> Actor {
    Actor::new(
        Principal::Token(TokenPrincipal {
            id: 3,
            name: "r".into(),
            scopes: vec!["sta:read".parse().unwrap()],
        }),
        "127.0.0.1",
    )
}

/// A controller Thing with a power and a switch Datastream; returns their ids.
async fn controller(t: &T) -> (i64, i64) {
    let ds = |name: &str, kind: &str| {
        json!({ "name": name, "description": "d", "observationType": kind,
            "unitOfMeasurement": { "name": "Watt", "symbol": "W", "definition": "ucum:W" },
            "Sensor": { "name": format!("S {name}"), "description": "s", "encodingType": "text/html", "metadata": "m" },
            "ObservedProperty": { "name": format!("P {name}"), "description": "p", "definition": "p" } })
    };
    let thing = json!({
        "name": "Leuchtensteuerung Test", "description": "d",
        "Locations": [{ "name": "L", "description": "l", "encodingType": "application/geo+json",
                        "location": { "type": "Point", "coordinates": [7.459, 51.507] } }],
        "Datastreams": [ds("Leistung", "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"),
                        ds("Schaltzustand", "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_TruthObservation")]
    });
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
    (
        body["value"][0]["@iot.id"].as_i64().unwrap(),
        body["value"][1]["@iot.id"].as_i64().unwrap(),
    )
}

async fn observe(t: &T, ds: i64, at: DateTime<Utc>, v: Value) {
    let o = json!({ "phenomenonTime": at.to_rfc3339(), "result": v });
    service::post(
        &t.env,
        &admin(),
        &format!("/Datastreams({ds})/Observations"),
        o.to_string().as_bytes(),
    )
    .await
    .unwrap();
}

fn standard() -> NewSchedule {
    NewSchedule {
        name: "Standard".into(),
        on_event: "civil_dusk".into(),
        on_offset_min: 0,
        off_event: "civil_dawn".into(),
        off_offset_min: 0,
        dim_start: "23:00".into(),
        dim_end: "05:00".into(),
        dim_percent: Some(60),
    }
}

fn circuit(schedule: Option<i64>, power: Option<i64>, switch: Option<i64>) -> NewCircuit {
    NewCircuit {
        name: "Hohe Straße Nord".into(),
        district: Some(1),
        cabinet: "Schaltschrank HS-3".into(),
        latitude: Some(51.507),
        longitude: Some(7.459),
        controller_serial: "SC-1000-17".into(),
        power_datastream_id: power,
        switch_datastream_id: switch,
        schedule_id: schedule,
    }
}

/// A circuit of ten poles with one 100 W LED luminaire each (1000 W rated).
async fn inventory(t: &T, schedule: Option<i64>, power: Option<i64>, switch: Option<i64>) -> i64 {
    let c = lighting::create_circuit(&t.env, &staff(), circuit(schedule, power, switch))
        .await
        .unwrap();
    for i in 0..10 {
        let pole = lighting::add_pole(
            &t.env,
            &staff(),
            NewPole {
                number: format!("HS-{i:03}"),
                circuit_id: c,
                street: "Hohe Straße".into(),
                latitude: Some(51.507 + i as f64 * 0.0003),
                longitude: Some(7.459),
                height_m: Some(8.0),
                installed_on: "2019-04-01".into(),
            },
        )
        .await
        .unwrap();
        lighting::add_luminaire(
            &t.env,
            &staff(),
            NewLuminaire {
                pole_id: pole,
                lamp_type: "led".into(),
                wattage: Some(100.0),
                installed_on: "2019-04-01".into(),
            },
        )
        .await
        .unwrap();
    }
    c
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

#[tokio::test]
async fn the_plan_for_dortmund_follows_twilight_and_a_holiday_override_keeps_full_light() {
    let t = setup().await;
    let s = lighting::create_schedule(&t.env, &staff(), standard())
        .await
        .unwrap();
    lighting::add_override(
        &t.env,
        &staff(),
        NewOverride {
            schedule_id: s,
            day: "2026-12-24".into(),
            label: "Heiligabend".into(),
            kind: "holiday".into(),
            dim_start: String::new(),
            dim_end: String::new(),
            dim_percent: Some(100),
        },
    )
    .await
    .unwrap();
    let from = chrono::NaiveDate::from_ymd_opt(2026, 12, 21).unwrap();
    let plan = lighting::plan(&t.env, s, from, 5).await.unwrap();
    assert_eq!(plan.len(), 5);
    // 21 December: civil dusk 16:03 UTC (astral reference 16:03:45).
    let on = plan[0].night.on;
    assert_eq!(
        on.format("%Y-%m-%d %H:%M").to_string().as_str()[..15],
        *"2026-12-21 16:0"
    );
    assert!(
        (on - Utc.with_ymd_and_hms(2026, 12, 21, 16, 3, 45).unwrap())
            .num_seconds()
            .abs()
            <= 60
    );
    assert_eq!(plan[0].night.dim_percent, 60);
    assert!(plan[0].night.dim_from.is_some());
    let eve = &plan[3];
    assert_eq!(eve.night.day.to_string(), "2026-12-24");
    assert_eq!(eve.override_label.as_deref(), Some("Heiligabend"));
    assert_eq!(eve.night.dim_from, None, "no dimming on Christmas Eve");
    assert_eq!(eve.night.level_at(eve.night.on + Duration::hours(8)), 100);
    assert_eq!(
        plan[4]
            .night
            .level_at(plan[4].night.on + Duration::hours(8)),
        60
    );
    // A second override for the same night is refused.
    let again = lighting::add_override(
        &t.env,
        &staff(),
        NewOverride {
            schedule_id: s,
            day: "2026-12-24".into(),
            label: "Doppelt".into(),
            kind: "event".into(),
            dim_percent: Some(100),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(again, Err(Error::Conflict(_))));
    assert!(lighting::plan(&t.env, s, from, 0).await.is_err());
    assert!(matches!(
        lighting::plan(&t.env, 999, from, 3).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn bad_inventory_and_schedule_input_is_refused_and_writes_nothing() {
    let t = setup().await;
    let e = lighting::create_schedule(
        &t.env,
        &staff(),
        NewSchedule {
            name: "X".into(),
            on_event: "noon".into(),
            off_event: "civil_dawn".into(),
            dim_start: "23:00".into(),
            dim_end: String::new(),
            dim_percent: Some(0),
            on_offset_min: 300,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    let f = fields(e);
    for want in [
        "name",
        "on_event",
        "on_offset_min",
        "dim_start",
        "dim_percent",
    ] {
        assert!(f.iter().any(|x| x == want), "{want} in {f:?}");
    }
    assert!(lighting::schedules(&t.env).await.unwrap().is_empty());

    let mut bad = circuit(Some(77), Some(999_999), None);
    bad.district = Some(99);
    bad.latitude = Some(48.0);
    let f = fields(
        lighting::create_circuit(&t.env, &staff(), bad)
            .await
            .unwrap_err(),
    );
    for want in ["latitude", "district", "power_datastream_id", "schedule_id"] {
        assert!(f.iter().any(|x| x == want), "{want} in {f:?}");
    }
    assert!(lighting::circuits(&t.env).await.unwrap().is_empty());

    let c = lighting::create_circuit(&t.env, &staff(), circuit(None, None, None))
        .await
        .unwrap();
    assert!(matches!(
        lighting::create_circuit(&t.env, &staff(), circuit(None, None, None)).await,
        Err(Error::Conflict(_))
    ));
    let f = fields(
        lighting::add_pole(
            &t.env,
            &staff(),
            NewPole {
                number: String::new(),
                circuit_id: c + 100,
                street: String::new(),
                latitude: Some(51.5),
                longitude: Some(f64::NAN),
                height_m: Some(-3.0),
                installed_on: "2099-01-01".into(),
            },
        )
        .await
        .unwrap_err(),
    );
    for want in [
        "number",
        "circuit_id",
        "street",
        "latitude",
        "height_m",
        "installed_on",
    ] {
        assert!(f.iter().any(|x| x == want), "{want} in {f:?}");
    }
    assert!(lighting::poles(&t.env).await.unwrap().is_empty());
    let f = fields(
        lighting::add_luminaire(
            &t.env,
            &staff(),
            NewLuminaire {
                pole_id: 5,
                lamp_type: "candle".into(),
                wattage: Some(-40.0),
                installed_on: "gestern".into(),
            },
        )
        .await
        .unwrap_err(),
    );
    for want in ["pole_id", "lamp_type", "wattage", "installed_on"] {
        assert!(f.iter().any(|x| x == want), "{want} in {f:?}");
    }
    assert!(lighting::luminaires(&t.env).await.unwrap().is_empty());
    let inv = lighting::inventory(&t.env).await.unwrap();
    assert_eq!(inv.len(), 1);
    assert_eq!(
        (inv[0].poles, inv[0].luminaires, inv[0].rated_w),
        (0, 0, 0.0)
    );
}

#[tokio::test]
async fn telemetry_faults_become_orders_once() {
    let t = setup().await;
    let s = lighting::create_schedule(&t.env, &staff(), standard())
        .await
        .unwrap();
    let (power, switch) = controller(&t).await;
    let c = inventory(&t, Some(s), Some(power), Some(switch)).await;
    assert_eq!(
        lighting::inventory(&t.env).await.unwrap()[0].rated_w,
        1000.0
    );

    // Noon on 22 November: the lights should be off but burn at full power.
    let noon = t0() + Duration::hours(2);
    t.clock.set(noon);
    observe(&t, power, noon - Duration::minutes(5), json!(980.0)).await;
    observe(&t, switch, noon - Duration::minutes(5), json!(true)).await;
    let f = lighting::faults(&t.env, &staff().principal).await.unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].faults.iter().map(|f| f.kind).collect::<Vec<_>>(),
        ["day_burner"]
    );
    assert_eq!(f[0].expected_level, Some(0));
    let created = lighting::detect(&t.env, &staff()).await.unwrap();
    assert_eq!(created.len(), 1);
    assert!(
        lighting::detect(&t.env, &staff()).await.unwrap().is_empty(),
        "no duplicate order"
    );

    // 20:00 UTC: full light expected, the circuit is dark.
    let evening = Utc.with_ymd_and_hms(2026, 11, 22, 20, 0, 0).unwrap();
    t.clock.set(evening);
    observe(&t, power, evening - Duration::minutes(2), json!(12.0)).await;
    observe(&t, switch, evening - Duration::minutes(2), json!(true)).await;
    let st = lighting::status(&t.env).await.unwrap();
    assert_eq!(st[0].expected_level, Some(100));
    assert_eq!(st[0].faults[0].kind, "dark");
    // 01:00 UTC (02:00 local), dimmed to 60 %: 600 W is right, 1000 W a deviation.
    let night = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
    t.clock.set(night);
    observe(&t, power, night - Duration::minutes(2), json!(605.0)).await;
    observe(&t, switch, night - Duration::minutes(2), json!(true)).await;
    let st = lighting::status(&t.env).await.unwrap();
    assert_eq!(st[0].expected_level, Some(60));
    assert!(st[0].faults.is_empty(), "{:?}", st[0].faults);
    observe(&t, power, night - Duration::minutes(1), json!(1000.0)).await;
    let st = lighting::status(&t.env).await.unwrap();
    assert_eq!(st[0].faults[0].kind, "power_deviation");
    // Two hours without readings: silent.
    t.clock.set(night + Duration::hours(2));
    let st = lighting::status(&t.env).await.unwrap();
    assert_eq!(
        st[0].faults.iter().map(|f| f.kind).collect::<Vec<_>>(),
        ["silent"]
    );
    let made = lighting::detect(&t.env, &staff()).await.unwrap();
    assert_eq!(made.len(), 1);
    let orders = lighting::orders(&t.env, &staff().principal).await.unwrap();
    assert_eq!(orders.len(), 2);
    assert!(
        orders
            .iter()
            .all(|o| o.circuit_id == Some(c) && o.source == "telemetry")
    );
    // A closed order lets the same fault open a new one.
    let day_burner = orders.iter().find(|o| o.kind == "day_burner").unwrap().id;
    lighting::step_order(
        &t.env,
        &staff(),
        day_burner,
        Step {
            state: "done".into(),
            assignee: "Team Nord".into(),
        },
    )
    .await
    .unwrap();
    t.clock.set(noon + Duration::days(1));
    observe(&t, power, noon + Duration::days(1), json!(990.0)).await;
    observe(&t, switch, noon + Duration::days(1), json!(true)).await;
    assert_eq!(lighting::detect(&t.env, &staff()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_residents_report_becomes_an_order_and_the_address_is_erased_when_it_is_closed() {
    let t = setup().await;
    inventory(&t, None, None, None).await;
    // Unknown pole number, bad e-mail: refused, nothing written.
    let f = fields(
        lighting::report(
            &t.env,
            &anonymous(),
            Report {
                pole_number: "XX-1".into(),
                email: "kein-at".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(f, ["pole_number", "email"]);
    let f = fields(
        lighting::report(&t.env, &anonymous(), Report::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(f, ["location"]);
    assert!(
        lighting::orders(&t.env, &staff().principal)
            .await
            .unwrap()
            .is_empty()
    );

    let id = lighting::report(
        &t.env,
        &anonymous(),
        Report {
            pole_number: "HS-004".into(),
            description: "Seit zwei Abenden dunkel.".into(),
            email: "anwohnerin@example.org".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let anon_report = lighting::report(
        &t.env,
        &anonymous(),
        Report {
            location: "Hohe Straße 12, vor der Apotheke".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let orders = lighting::orders(&t.env, &staff().principal).await.unwrap();
    let o = orders.iter().find(|o| o.id == id).unwrap();
    assert_eq!((o.source.as_str(), o.state.as_str()), ("resident", "open"));
    assert!(o.description.contains("HS-004") && o.description.contains("zwei Abenden"));
    assert!(o.circuit_id.is_some() && o.pole_id.is_some());
    assert_eq!(o.reporter_email.as_deref(), Some("anwohnerin@example.org"));
    let o2 = orders.iter().find(|o| o.id == anon_report).unwrap();
    assert_eq!(o2.reporter_email, None);
    assert_eq!(o2.pole_id, None);

    // Workflow: assigning needs a name; a closed order cannot reopen.
    let e = lighting::step_order(
        &t.env,
        &staff(),
        id,
        Step {
            state: "assigned".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(fields(e), ["assignee"]);
    lighting::step_order(
        &t.env,
        &staff(),
        id,
        Step {
            state: "assigned".into(),
            assignee: "Elektro Team Süd".into(),
        },
    )
    .await
    .unwrap();
    let done = lighting::step_order(
        &t.env,
        &staff(),
        id,
        Step {
            state: "done".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(done.reporter_email, None, "erased on closing");
    assert!(done.closed_at.is_some());
    assert_eq!(done.assignee, "Elektro Team Süd");
    let out = platform::mail::outbox(&t.env).await.unwrap();
    let mail = out
        .iter()
        .find(|m| m.to_addr == "anwohnerin@example.org")
        .expect("a feedback mail");
    assert!(mail.body.contains("behoben"));
    assert!(matches!(
        lighting::step_order(
            &t.env,
            &staff(),
            id,
            Step {
                state: "open".into(),
                ..Default::default()
            }
        )
        .await,
        Err(Error::Conflict(_))
    ));
    let stored = lighting::orders(&t.env, &staff().principal).await.unwrap();
    assert_eq!(
        stored.iter().find(|o| o.id == id).unwrap().reporter_email,
        None
    );
    assert!(matches!(
        lighting::step_order(
            &t.env,
            &staff(),
            4242,
            Step {
                state: "done".into(),
                ..Default::default()
            }
        )
        .await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn staff_orders_need_a_circuit_or_pole() {
    let t = setup().await;
    let c = inventory(&t, None, None, None).await;
    let f = fields(
        lighting::create_order(
            &t.env,
            &staff(),
            NewOrder {
                description: "x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(f, ["description", "circuit_id"]);
    let id = lighting::create_order(
        &t.env,
        &staff(),
        NewOrder {
            circuit_id: Some(c),
            description: "Mast HS-002 nach Unfall prüfen".into(),
            assignee: "Team Nord".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let o = lighting::orders(&t.env, &staff().principal).await.unwrap();
    assert_eq!((o[0].id, o[0].state.as_str()), (id, "assigned"));
}

#[tokio::test]
async fn energy_per_month_measured_and_planned_with_the_saving_from_dimming() {
    let t = setup().await;
    let s = lighting::create_schedule(&t.env, &staff(), standard())
        .await
        .unwrap();
    let (power, _) = controller(&t).await;
    inventory(&t, Some(s), Some(power), None).await;
    // Another circuit without telemetry, on the same schedule.
    let mut other = circuit(Some(s), None, None);
    other.name = "Kampstraße".into();
    lighting::create_circuit(&t.env, &staff(), other)
        .await
        .unwrap();
    // Three hours of readings in November: 1000 W, 1000 W, 600 W.
    for (h, w) in [(17, 1000.0), (18, 1000.0), (23, 600.0)] {
        let at = Utc.with_ymd_and_hms(2026, 11, 10, h, 20, 0).unwrap();
        observe(&t, power, at, json!(w)).await;
        observe(&t, power, at + Duration::minutes(20), json!(w)).await;
    }
    let e = lighting::energy(&t.env, "2026-11").await.unwrap();
    assert_eq!(e.len(), 2);
    let hs = e.iter().find(|x| x.name == "Hohe Straße Nord").unwrap();
    assert_eq!(hs.measured_kwh, Some(2.6));
    assert_eq!(hs.measured_hours, 3);
    assert_eq!(hs.rated_w, 1000.0);
    // November nights in Dortmund, civil dusk to civil dawn: from 13.2 h (1st) to 14.8 h
    // (30th), 6 h of each dimmed.
    assert!(
        hs.burn_hours > 30.0 * 13.6 && hs.burn_hours < 30.0 * 14.2,
        "{}",
        hs.burn_hours
    );
    assert!((hs.dim_hours - 180.0).abs() < 0.01, "{}", hs.dim_hours);
    assert!((hs.planned_kwh - (hs.undimmed_kwh - 180.0 * 0.4)).abs() < 0.05);
    assert!((hs.co2_kg - 2.6 * lighting::CO2_KG_PER_KWH).abs() < 0.01);
    let k = e.iter().find(|x| x.name == "Kampstraße").unwrap();
    assert_eq!((k.measured_kwh, k.rated_w, k.planned_kwh), (None, 0.0, 0.0));
    assert!(matches!(
        lighting::energy(&t.env, "November").await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test]
async fn only_staff_may_change_the_lighting_or_see_orders_and_faults() {
    let t = setup().await;
    for who in [anonymous(), resident()] {
        assert!(matches!(
            lighting::create_schedule(&t.env, &who, standard()).await,
            Err(Error::Forbidden(_) | Error::Unauthorized(_))
        ));
        assert!(matches!(
            lighting::create_circuit(&t.env, &who, circuit(None, None, None)).await,
            Err(Error::Forbidden(_) | Error::Unauthorized(_))
        ));
        assert!(lighting::orders(&t.env, &who.principal).await.is_err());
        assert!(lighting::faults(&t.env, &who.principal).await.is_err());
        assert!(lighting::detect(&t.env, &who).await.is_err());
        assert!(
            lighting::step_order(
                &t.env,
                &who,
                1,
                Step {
                    state: "done".into(),
                    ..Default::default()
                }
            )
            .await
            .is_err()
        );
    }
    assert!(lighting::schedules(&t.env).await.unwrap().is_empty());
    assert!(lighting::circuits(&t.env).await.unwrap().is_empty());
}

//! Traffic flow: stations, 15-minute flows, level of service, modal split, DATEX II.

use crate::feeds::parse_xml;
use crate::parking::{at, stream};
use crate::*;
use cityops::feeds::Publisher;
use cityops::traffic::{self, NewStation};
use kern::Error;

#[tokio::test]
async fn stations_flows_los_split_and_datex() {
    let t = setup().await;
    let car_in = stream(&t, &[(at(22, 9, 20), 80.0), (at(22, 9, 50), 190.0)]).await;
    let car_out = stream(&t, &[(at(22, 9, 50), 100.0)]).await;
    let bike_in = stream(&t, &[(at(22, 9, 50), 50.0)]).await;
    let walk_out = stream(&t, &[(at(22, 9, 55), 30.0)]).await;
    let good = NewStation {
        name: "Zählstelle Hohe Straße".into(),
        district: Some(1),
        segment: "Hohe Straße zwischen Wall und Kampstraße".into(),
        free_flow_kmh: 50.0,
        capacity_veh_h: 800.0,
        speed_datastream_id: None,
        streams: vec![
            ("car".into(), "inbound".into(), car_in),
            ("car".into(), "outbound".into(), car_out),
            ("bicycle".into(), "inbound".into(), bike_in),
            ("pedestrian".into(), "outbound".into(), walk_out),
        ],
    };
    // Bad inputs first: nothing is stored.
    for (field, s) in [
        (
            "capacity_veh_h",
            NewStation {
                capacity_veh_h: 0.0,
                ..good.clone()
            },
        ),
        (
            "free_flow_kmh",
            NewStation {
                free_flow_kmh: -5.0,
                ..good.clone()
            },
        ),
        (
            "streams",
            NewStation {
                streams: vec![("lorry".into(), "inbound".into(), car_in)],
                ..good.clone()
            },
        ),
        (
            "streams",
            NewStation {
                streams: vec![("car".into(), "inbound".into(), car_in + 999)],
                ..good.clone()
            },
        ),
        (
            "streams",
            NewStation {
                streams: vec![],
                ..good.clone()
            },
        ),
    ] {
        match traffic::create(&t.env, &staff(), s).await {
            Err(Error::Invalid(inv)) => assert!(
                inv.problems
                    .iter()
                    .any(|p| p.field.as_deref() == Some(field)),
                "{field}: {inv:?}"
            ),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(
        traffic::create(&t.env, &anonymous(), good.clone())
            .await
            .is_err()
    );
    assert!(traffic::stations(&t.env).await.unwrap().is_empty());
    let id = traffic::create(&t.env, &staff(), good).await.unwrap();

    let flows = traffic::flows(&t.env, id, at(22, 9, 0)).await.unwrap();
    let car_in_flows: Vec<(String, f64)> = flows
        .iter()
        .filter(|f| f.mode == "car" && f.direction == "inbound")
        .map(|f| (f.start.format("%H:%M").to_string(), f.count))
        .collect();
    assert_eq!(
        car_in_flows,
        vec![("09:15".to_string(), 80.0), ("09:45".to_string(), 190.0)]
    );
    assert!(matches!(
        traffic::flows(&t.env, id + 1, at(22, 9, 0)).await,
        Err(Error::NotFound(_))
    ));

    // Last complete quarter 09:45–10:00: inbound 4 × 190 = 760 veh/h of 800 → E (congested);
    // outbound 400 veh/h → A.
    let states = traffic::states(&t.env).await.unwrap();
    let d = &states[0].directions;
    assert_eq!(d.len(), 2);
    assert_eq!(
        (
            d[0].direction.as_str(),
            d[0].car_flow_veh_h,
            d[0].los,
            d[0].congested
        ),
        ("inbound", Some(760.0), Some('E'), true)
    );
    assert_eq!(
        (d[1].direction.as_str(), d[1].los, d[1].congested),
        ("outbound", Some('A'), false)
    );

    let split = traffic::modal_split(&t.env, 60).await.unwrap();
    assert_eq!(split.len(), 1);
    assert_eq!(
        (split[0].district_number, split[0].month.as_str()),
        (Some(1), "2026-11")
    );
    assert_eq!(
        (split[0].car, split[0].bicycle, split[0].pedestrian),
        (370.0, 50.0, 30.0)
    );

    let xml = traffic::datex_measured(
        &states,
        t.env.now(),
        &Publisher {
            country: "de".into(),
            national_identifier: "DE-MUSTERSTADT".into(),
        },
    );
    let root = parse_xml(&xml);
    assert_eq!(
        (root.ns.as_str(), root.name.as_str()),
        (cityops::feeds::NS_D2, "payload")
    );
    assert_eq!(root.attr("xsi:type"), Some("rtd:MeasuredDataPublication"));
    assert_eq!(root.attr("xmlns:rtd"), Some(traffic::NS_RTD));
    let sites = root.all("siteMeasurements");
    assert_eq!(sites.len(), 2);
    assert!(sites.iter().all(|s| s.ns == traffic::NS_RTD));
    let basic = sites[0].find("basicData")[0];
    assert_eq!(basic.attr("xsi:type"), Some("rtd:TrafficFlow"));
    assert_eq!(basic.find("vehicleFlowRate")[0].text, "760");
    assert_eq!(
        sites[0].child("measurementTimeDefault").unwrap().text,
        "2026-11-22T10:00:00Z"
    );
}

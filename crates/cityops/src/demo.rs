//! Demo content: the street directory and roadworks in the demo city (Dortmund), including
//! conflicts of every kind, so the coordination board has something to show.

use crate::roadworks::{self, Application, Step};
use chrono::Duration;
use kern::Result;
use platform::demo::Seeder;
use platform::{Actor, Env};

pub const SEEDER: Seeder = Seeder {
    name: "cityops",
    run: |env| Box::pin(seed(env)),
};

/// Streets of the directory and their district numbers.
pub const STREETS: &[(&str, i64)] = &[
    ("Hohe Straße", 1),
    ("Kampstraße", 1),
    ("Brückstraße", 1),
    ("Münsterstraße", 2),
    ("Mallinckrodtstraße", 2),
    ("Schützenstraße", 2),
    ("Kaiserstraße", 3),
    ("Ruhrallee", 3),
    ("Evinger Straße", 4),
    ("Gleiwitzstraße", 5),
    ("Brackeler Hellweg", 6),
    ("Aplerbecker Straße", 7),
    ("Hermannstraße", 8),
    ("Faßstraße", 8),
    ("Harkortstraße", 9),
    ("Limbecker Straße", 10),
    ("Huckarder Straße", 11),
    ("Mengeder Straße", 12),
];

fn line(points: &[(f64, f64)]) -> String {
    let coords: Vec<String> = points
        .iter()
        .map(|(lon, lat)| format!("[{lon},{lat}]"))
        .collect();
    format!(
        r#"{{"type":"LineString","coordinates":[{}]}}"#,
        coords.join(",")
    )
}

fn day(env: &Env, offset: i64) -> String {
    (env.now() + Duration::days(offset))
        .format("%Y-%m-%d")
        .to_string()
}

#[allow(clippy::too_many_arguments)]
fn app(
    env: &Env,
    title: &str,
    street: &str,
    site: String,
    detour: Option<String>,
    from: i64,
    to: i64,
    closure: &str,
    org: &str,
    contact: (&str, &str, &str),
) -> Application {
    Application {
        title: title.into(),
        description: String::new(),
        street: street.into(),
        geometry: site,
        detour: detour.unwrap_or_default(),
        period_start: day(env, from),
        period_end: day(env, to),
        working_hours: "Mo–Fr 7–18 Uhr".into(),
        closure: closure.into(),
        applicant_org: org.into(),
        contact_name: contact.0.into(),
        contact_email: contact.1.into(),
        contact_phone: contact.2.into(),
    }
}

async fn seed(env: &Env) -> Result<()> {
    let sys = Actor::system();
    for (name, district) in STREETS {
        roadworks::add_street(env, &sys, name, Some(*district)).await?;
    }
    let dew = ("Sabine Kortmann", "s.kortmann@dew21.example", "0231 5440");
    let netz = (
        "Murat Yilmaz",
        "m.yilmaz@glasfaser-ruhr.example",
        "0231 987654",
    );
    let eg = (
        "Jens Bergmann",
        "bauleitung@eg-dortmund.example",
        "0231 9611",
    );
    let tba = ("Petra Lange", "p.lange@tiefbau.example", "0231 500");

    // Innenstadt-West: district heating, current, and a fibre application on the same block.
    let hohe = line(&[(7.4588, 51.5080), (7.4590, 51.5062), (7.4593, 51.5045)]);
    let heat = app(
        env,
        "Fernwärmeleitung erneuern",
        "Hohe Straße",
        hohe.clone(),
        None,
        -10,
        40,
        "lane",
        "DEW21 Dortmunder Energie- und Wasserversorgung",
        dew,
    );
    let (heat_id, _) = roadworks::apply(env, &sys, heat).await?;
    roadworks::step(
        env,
        &sys,
        heat_id,
        Step::Approve {
            note: String::new(),
        },
    )
    .await?;
    let fibre = app(
        env,
        "Glasfaseranschlüsse verlegen",
        "Hohe Straße",
        line(&[(7.4589, 51.5070), (7.4592, 51.5050)]),
        None,
        20,
        60,
        "lane",
        "Glasfaser Ruhr GmbH",
        netz,
    );
    roadworks::apply(env, &sys, fibre).await?;

    // Innenstadt-Nord: two full closures; the second one's detour runs through the first site.
    let muenster = line(&[(7.4610, 51.5265), (7.4622, 51.5290)]);
    let sewer = app(
        env,
        "Kanalsanierung",
        "Münsterstraße",
        muenster,
        Some(line(&[
            (7.4590, 51.5262),
            (7.4575, 51.5292),
            (7.4615, 51.5296),
        ])),
        -5,
        55,
        "full",
        "Stadtentwässerung Dortmund",
        tba,
    );
    let (sewer_id, _) = roadworks::apply(env, &sys, sewer).await?;
    roadworks::step(
        env,
        &sys,
        sewer_id,
        Step::Approve {
            note: String::new(),
        },
    )
    .await?;
    let water = app(
        env,
        "Wasserleitung erneuern",
        "Mallinckrodtstraße",
        line(&[(7.4560, 51.5240), (7.4600, 51.5245)]),
        Some(line(&[
            (7.4560, 51.5240),
            (7.4605, 51.5270),
            (7.4630, 51.5260),
        ])),
        10,
        30,
        "full",
        "DEW21 Dortmunder Energie- und Wasserversorgung",
        dew,
    );
    roadworks::apply(env, &sys, water).await?;

    // Innenstadt-Ost: a section closed just now and dug again soon after (protection period).
    let kaiser = line(&[(7.4880, 51.5130), (7.4920, 51.5128)]);
    let surface = app(
        env,
        "Fahrbahndecke erneuert",
        "Kaiserstraße",
        kaiser.clone(),
        None,
        -90,
        -1,
        "full",
        "Tiefbauamt Dortmund",
        tba,
    );
    let (surface_id, _) = roadworks::apply(env, &sys, surface).await?;
    roadworks::step(
        env,
        &sys,
        surface_id,
        Step::Approve {
            note: String::new(),
        },
    )
    .await?;
    roadworks::step(env, &sys, surface_id, Step::Close).await?;
    let gas = app(
        env,
        "Gashausanschluss",
        "Kaiserstraße",
        line(&[(7.4895, 51.5129), (7.4905, 51.5129)]),
        None,
        30,
        37,
        "lane",
        "DEW21 Dortmunder Energie- und Wasserversorgung",
        dew,
    );
    roadworks::apply(env, &sys, gas).await?;

    // Hörde: planned; Brackel: rejected; Hombruch: current without conflicts.
    let herm = app(
        env,
        "Straßenbahngleise erneuern",
        "Hermannstraße",
        line(&[(7.5040, 51.4760), (7.5075, 51.4745)]),
        Some(line(&[
            (7.5040, 51.4760),
            (7.5030, 51.4730),
            (7.5075, 51.4745),
        ])),
        21,
        80,
        "full",
        "DSW21 Dortmunder Stadtwerke",
        eg,
    );
    let (herm_id, _) = roadworks::apply(env, &sys, herm).await?;
    roadworks::step(
        env,
        &sys,
        herm_id,
        Step::Approve {
            note: String::new(),
        },
    )
    .await?;
    let brackel = app(
        env,
        "Baumpflanzungen Mittelstreifen",
        "Brackeler Hellweg",
        line(&[(7.5600, 51.5160), (7.5660, 51.5163)]),
        None,
        5,
        12,
        "lane",
        "Grünflächenamt Dortmund",
        tba,
    );
    let (brackel_id, _) = roadworks::apply(env, &sys, brackel).await?;
    roadworks::step(
        env,
        &sys,
        brackel_id,
        Step::Reject {
            note: "Bitte im Frühjahr erneut beantragen (Vegetationsperiode).".into(),
        },
    )
    .await?;
    let hombruch = app(
        env,
        "Gehweg instand setzen",
        "Harkortstraße",
        r#"{"type":"Polygon","coordinates":[[[7.4330,51.4650],[7.4340,51.4650],[7.4340,51.4655],[7.4330,51.4655],[7.4330,51.4650]]]}"#
            .to_string(),
        None,
        -3,
        14,
        "none",
        "Tiefbauamt Dortmund",
        tba,
    );
    let (hom_id, _) = roadworks::apply(env, &sys, hombruch).await?;
    roadworks::step(
        env,
        &sys,
        hom_id,
        Step::Approve {
            note: String::new(),
        },
    )
    .await?;
    seed_parking(env, &sys).await?;
    seed_traffic(env, &sys).await
}

/// One counting station per demo traffic counter, linked to its six count Datastreams
/// ("Kfz/Rad/Fuß stadteinwärts/stadtauswärts").
async fn seed_traffic(env: &Env, sys: &Actor) -> Result<()> {
    use crate::traffic::{self, NewStation};
    use std::collections::BTreeMap;
    let streams = match sensorthings::service::get(
        env,
        sys,
        "Datastreams",
        "$top=1000&$select=id,name&$orderby=id",
    )
    .await?
    {
        sensorthings::service::Reply::Json { body, .. } => body,
        _ => serde_json::Value::Null,
    };
    let mut by_district: BTreeMap<String, Vec<(String, String, i64)>> = BTreeMap::new();
    for s in streams["value"].as_array().cloned().unwrap_or_default() {
        let name = s["name"].as_str().unwrap_or("");
        let Some(rest) = name.strip_prefix("Verkehrszählstelle ") else {
            continue;
        };
        let Some((district, what)) = rest.split_once(": ") else {
            continue;
        };
        let mode = match what.split(' ').next() {
            Some("Kfz") => "car",
            Some("Rad") => "bicycle",
            Some("Fuß") => "pedestrian",
            _ => continue,
        };
        let direction = if what.ends_with("stadteinwärts") {
            "inbound"
        } else {
            "outbound"
        };
        if let Some(id) = s["@iot.id"].as_i64() {
            by_district.entry(district.to_string()).or_default().push((
                mode.into(),
                direction.into(),
                id,
            ));
        }
    }
    for (district, streams) in by_district {
        let Some((number, ..)) = platform::demo::DISTRICTS.iter().find(|d| d.1 == district) else {
            continue;
        };
        traffic::create(
            env,
            sys,
            NewStation {
                name: format!("Zählstelle {district}"),
                district: Some(*number),
                segment: format!("Hauptverkehrsstraße in {district}"),
                free_flow_kmh: 50.0,
                capacity_veh_h: 1200.0,
                speed_datastream_id: None,
                streams,
            },
        )
        .await?;
    }
    Ok(())
}

/// One car park per demo car-park sensor (linked to its "Belegung" Datastream, capacity from
/// the simulation's scale) and two on-street zones without sensors.
async fn seed_parking(env: &Env, sys: &Actor) -> Result<()> {
    use crate::parking::{self, NewParking};
    let streams = match sensorthings::service::get(
        env,
        sys,
        "Datastreams",
        "$top=1000&$select=id,name,properties&$orderby=id",
    )
    .await?
    {
        sensorthings::service::Reply::Json { body, .. } => body,
        _ => serde_json::Value::Null,
    };
    for s in streams["value"].as_array().cloned().unwrap_or_default() {
        let name = s["name"].as_str().unwrap_or("");
        let Some(rest) = name.strip_prefix("Parkhaus ") else {
            continue;
        };
        let Some(district) = rest.strip_suffix(": Belegung") else {
            continue;
        };
        let Some((number, _, _, lat, lon)) =
            platform::demo::DISTRICTS.iter().find(|d| d.1 == district)
        else {
            continue;
        };
        let capacity = s["properties"]["simulation"]["scale"]
            .as_f64()
            .unwrap_or(300.0);
        parking::create(
            env,
            sys,
            NewParking {
                name: format!("Parkhaus {district}"),
                kind: "car_park".into(),
                district: Some(*number),
                latitude: Some(lat + 0.0015),
                longitude: Some(lon - 0.0012),
                capacity: Some(capacity as i64),
                tariffs: "1,50 € je angefangene Stunde, Tageshöchstsatz 12 €".into(),
                opening_hours: "Mo–Sa 6–24 Uhr, So 10–22 Uhr".into(),
                datastream_id: s["@iot.id"].as_i64(),
            },
        )
        .await?;
    }
    for (name, number, lat, lon, capacity) in [
        ("Parkzone Kaiserstraße", 3, 51.5129, 7.4900, 40),
        ("Parkzone Hörder Bahnhofstraße", 8, 51.4735, 7.5050, 25),
    ] {
        parking::create(
            env,
            sys,
            NewParking {
                name: name.into(),
                kind: "on_street".into(),
                district: Some(number),
                latitude: Some(lat),
                longitude: Some(lon),
                capacity: Some(capacity),
                tariffs: "Parkschein 0,50 € je 20 Minuten, höchstens 2 Stunden".into(),
                opening_hours: "Mo–Fr 9–19 Uhr, Sa 9–14 Uhr gebührenpflichtig".into(),
                datastream_id: None,
            },
        )
        .await?;
    }
    Ok(())
}

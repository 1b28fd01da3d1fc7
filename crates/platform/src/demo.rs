//! The demo city: a deterministic instance modelled on Dortmund.
//!
//! One seeding entry point: [`seed`] runs the foundation's seeder and then every module seeder
//! handed to it, each exactly once per instance (recorded in `settings`), so `stadtkern demo`
//! can be started again and again on the same data directory.

use crate::accounts::{self, NewAccount};
use crate::{Actor, Env};
use kern::{Result, Role};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use store::city::OrgUnit;

/// A module's demo content.
pub type SeedFn = for<'a> fn(&'a Env) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// A named seeder.
#[derive(Clone, Copy)]
pub struct Seeder {
    pub name: &'static str,
    pub run: SeedFn,
}

/// The accounts created for the demo, with their passwords (only for the demo: printed at
/// start so a visitor can sign in).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DemoLogin {
    pub username: String,
    pub password: String,
    pub role: String,
}

const CREDENTIALS_KEY: &str = "demo.credentials";

/// The 12 Stadtbezirke of Dortmund: number, name, population (rounded), approximate centre
/// (latitude, longitude).
pub const DISTRICTS: [(i64, &str, i64, f64, f64); 12] = [
    (1, "Innenstadt-West", 53_000, 51.507, 7.445),
    (2, "Innenstadt-Nord", 59_000, 51.527, 7.462),
    (3, "Innenstadt-Ost", 57_000, 51.506, 7.490),
    (4, "Eving", 39_000, 51.556, 7.475),
    (5, "Scharnhorst", 46_000, 51.547, 7.543),
    (6, "Brackel", 57_000, 51.516, 7.565),
    (7, "Aplerbeck", 56_000, 51.478, 7.567),
    (8, "Hörde", 56_000, 51.474, 7.505),
    (9, "Hombruch", 58_000, 51.465, 7.433),
    (10, "Lütgendortmund", 48_000, 51.499, 7.348),
    (11, "Huckarde", 37_000, 51.533, 7.405),
    (12, "Mengede", 39_000, 51.572, 7.385),
];

/// A convex outline around the city (lon, lat), closed.
const OUTLINE: [(f64, f64); 9] = [
    (7.302, 51.505),
    (7.340, 51.455),
    (7.430, 51.418),
    (7.540, 51.427),
    (7.637, 51.480),
    (7.620, 51.545),
    (7.500, 51.600),
    (7.380, 51.600),
    (7.302, 51.505),
];

/// Clips a convex polygon to the half-plane of points nearer to `a` than to `b`.
fn clip_nearer(poly: &[(f64, f64)], a: (f64, f64), b: (f64, f64)) -> Vec<(f64, f64)> {
    // Work in a locally isotropic plane: longitude degrees shrink with cos(latitude).
    let k = (51.5f64).to_radians().cos();
    let side = |p: (f64, f64)| {
        let d = |q: (f64, f64)| ((p.0 - q.0) * k).powi(2) + (p.1 - q.1).powi(2);
        d(b) - d(a) // > 0: nearer to a
    };
    let mut out = Vec::new();
    let n = poly.len();
    for i in 0..n {
        let p = poly[i];
        let q = poly[(i + 1) % n];
        let (sp, sq) = (side(p), side(q));
        if sp >= 0.0 {
            out.push(p);
        }
        if (sp >= 0.0) != (sq >= 0.0) {
            let t = sp / (sp - sq);
            out.push((p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1)));
        }
    }
    out
}

/// Plausible district boundaries: the city outline divided among the district centres
/// (Voronoi cells), as GeoJSON polygons.
pub fn district_polygons() -> Vec<serde_json::Value> {
    DISTRICTS
        .iter()
        .map(|&(_, _, _, lat, lon)| {
            let mut cell: Vec<(f64, f64)> = OUTLINE[..OUTLINE.len() - 1].to_vec();
            for &(_, _, _, olat, olon) in DISTRICTS.iter() {
                if (olat, olon) != (lat, lon) {
                    cell = clip_nearer(&cell, (lon, lat), (olon, olat));
                }
            }
            let mut ring: Vec<[f64; 2]> =
                cell.iter().map(|&(x, y)| [round6(x), round6(y)]).collect();
            if let Some(first) = ring.first().copied() {
                ring.push(first);
            }
            json!({ "type": "Polygon", "coordinates": [ring] })
        })
        .collect()
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The demo city's offices.
pub fn org_units() -> Vec<OrgUnit> {
    let ou = |key: &str,
              name: &str,
              address: &str,
              email: &str,
              phone: &str,
              hours: &str,
              access: &str| OrgUnit {
        id: 0,
        key: key.into(),
        name: name.into(),
        parent_id: None,
        address: address.into(),
        email: email.into(),
        phone: phone.into(),
        opening_hours: hours.into(),
        accessibility: access.into(),
    };
    let step_free = "Stufenloser Zugang, Aufzug, barrierefreies WC, Induktionsschleife am Empfang";
    vec![
        ou(
            "buergerdienste",
            "Bürgerdienste",
            "Südwall 2–4, 44137 Dortmund",
            "buergerdienste@demo.stadtkern.example",
            "+49 231 50-0",
            "Mo–Fr 8–16 Uhr, Do bis 18 Uhr",
            step_free,
        ),
        ou(
            "tiefbauamt",
            "Tiefbauamt",
            "Burgwall 14, 44135 Dortmund",
            "tiefbauamt@demo.stadtkern.example",
            "+49 231 50-1",
            "Mo–Do 8–15:30 Uhr, Fr 8–12 Uhr",
            step_free,
        ),
        ou(
            "ordnungsamt",
            "Ordnungsamt",
            "Olpe 1, 44135 Dortmund",
            "ordnungsamt@demo.stadtkern.example",
            "+49 231 50-2",
            "Mo–Fr 8–14 Uhr",
            step_free,
        ),
        ou(
            "umweltamt",
            "Umweltamt",
            "Brückstraße 45, 44135 Dortmund",
            "umweltamt@demo.stadtkern.example",
            "+49 231 50-3",
            "nach Vereinbarung",
            "Stufenloser Zugang, Aufzug",
        ),
        ou(
            "stadtplanung",
            "Stadtplanungs- und Bauordnungsamt",
            "Burgwall 14, 44135 Dortmund",
            "stadtplanung@demo.stadtkern.example",
            "+49 231 50-4",
            "Mo–Do 8–15:30 Uhr",
            step_free,
        ),
        ou(
            "dortmund-systemhaus",
            "Dortmunder Systemhaus (IT)",
            "Königswall 14, 44137 Dortmund",
            "dosys@demo.stadtkern.example",
            "+49 231 50-5",
            "Mo–Fr 7–17 Uhr",
            step_free,
        ),
        ou(
            "stadtkaemmerei",
            "Stadtkämmerei und Stadtkasse",
            "Friedensplatz 5, 44135 Dortmund",
            "stadtkasse@demo.stadtkern.example",
            "+49 231 50-6",
            "Mo–Fr 8–12 Uhr",
            step_free,
        ),
        ou(
            "buergerbeteiligung",
            "Büro für Bürgerbeteiligung",
            "Friedensplatz 1, 44135 Dortmund",
            "beteiligung@demo.stadtkern.example",
            "+49 231 50-7",
            "Mo–Fr 9–15 Uhr",
            step_free,
        ),
    ]
}

async fn seed_foundation(env: &Env) -> Result<()> {
    let mut tx = env.db.begin().await?;
    for ((number, name, population, _, _), geometry) in DISTRICTS.iter().zip(district_polygons()) {
        store::city::upsert_district(&mut tx, *number, name, *population, &geometry).await?;
    }
    for o in org_units() {
        store::city::upsert_org_unit(&mut tx, &o).await?;
    }
    tx.commit().await?;
    let buergerdienste = store::city::org_unit_by_key(&env.db, "buergerdienste")
        .await?
        .map(|o| o.id);
    let tiefbau = store::city::org_unit_by_key(&env.db, "tiefbauamt")
        .await?
        .map(|o| o.id);
    let mut logins = Vec::new();
    for (username, display, role, roles, units) in [
        (
            "admin",
            "Demo-Administration",
            "admin",
            vec![Role::Admin],
            vec![],
        ),
        (
            "sachbearbeitung",
            "Sam Sachbearbeiterin",
            "staff",
            vec![Role::Staff],
            [buergerdienste, tiefbau]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        ),
    ] {
        if accounts::find_by_username(env, username).await?.is_some() {
            continue;
        }
        let password = demo_password(env);
        accounts::create(
            env,
            &Actor::system(),
            NewAccount {
                username: username.into(),
                display_name: display.into(),
                email: format!("{username}@demo.stadtkern.example"),
                password: Some(password.clone()),
                roles,
                org_units: units,
            },
        )
        .await?;
        logins.push(DemoLogin {
            username: username.into(),
            password,
            role: role.into(),
        });
    }
    if !logins.is_empty() {
        store::settings::set(
            &env.db,
            CREDENTIALS_KEY,
            &serde_json::to_string(&logins).map_err(kern::Error::internal)?,
        )
        .await?;
    }
    Ok(())
}

/// A readable random password that passes the policy: four words and a number.
fn demo_password(env: &Env) -> String {
    const WORDS: [&str; 16] = [
        "Phoenixsee",
        "Westfalen",
        "Zeche",
        "Kokerei",
        "Hafen",
        "Borsig",
        "Florian",
        "Rombergpark",
        "Wall",
        "Emscher",
        "Hansa",
        "Reinoldi",
        "Zollern",
        "Brückstraße",
        "Fredenbaum",
        "Signal",
    ];
    let mut parts: Vec<String> = (0..4)
        .map(|_| WORDS[env.rng.below(WORDS.len() as u64) as usize].to_string())
        .collect();
    parts.push(format!("{:02}", env.rng.below(100)));
    parts.join("-")
}

/// The foundation's own seeder.
pub const FOUNDATION: Seeder = Seeder {
    name: "foundation",
    run: |env| Box::pin(seed_foundation(env)),
};

/// Runs the foundation seeder and then each module seeder that has not run on this instance
/// yet. Returns the names of the seeders that ran now.
pub async fn seed(env: &Env, modules: &[Seeder]) -> Result<Vec<&'static str>> {
    let mut ran = Vec::new();
    for s in std::iter::once(&FOUNDATION).chain(modules) {
        let key = format!("demo.seeded.{}", s.name);
        if store::settings::get(&env.db, &key).await?.is_some() {
            continue;
        }
        (s.run)(env).await?;
        store::settings::set(&env.db, &key, &env.now().to_rfc3339()).await?;
        ran.push(s.name);
    }
    Ok(ran)
}

/// The demo accounts and passwords, for printing at start.
pub async fn logins(env: &Env) -> Result<Vec<DemoLogin>> {
    Ok(
        match store::settings::get(&env.db, CREDENTIALS_KEY).await? {
            Some(s) => serde_json::from_str(&s).unwrap_or_default(),
            None => Vec::new(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn districts_partition_the_outline() {
        let polys = district_polygons();
        assert_eq!(polys.len(), 12);
        for (p, d) in polys.iter().zip(DISTRICTS) {
            let ring = p["coordinates"][0].as_array().unwrap();
            assert!(ring.len() >= 4, "{} has a degenerate boundary", d.1);
            assert_eq!(ring.first(), ring.last());
        }
    }
}

//! Roadworks permits (Baustellenmanagement): applications, decisions, conflict detection.
//!
//! States: `applied` → `approved` | `rejected`; `approved`/`extended` → `extended` (a later
//! end) | `closed`. Every change is audited in the same transaction and re-runs the conflict
//! detection for the permit, whose findings replace the stored ones that involve it.
//!
//! Conflict kinds (all computed in Rust, see [`pair_conflicts`]):
//! * `overlap`: two live permits whose sites come within the buffer of each other (metres, in
//!   the local projection) during overlapping periods;
//! * `protection`: a live permit digs within the buffer of a section whose works closed less
//!   than the protection period before it starts;
//! * `detour_closure`: two full closures at the same time where one's detour runs within the
//!   buffer of the other's site;
//! * `shared_detour`: two full closures at the same time whose detours share at least
//!   [`Rules::min_shared_detour_m`] metres of road (merely crossing is not sharing).

use crate::geometry::{self, Kinds, Projection};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use geo::Geometry;
use kern::{Error, Invalid, Principal, Result, Role};
use platform::{Actor, Env, audit};
use serde::{Deserialize, Serialize};
use serde_json::json;
pub use store::cityops::{Conflict, Roadworks, Street};

/// States in which a permit takes part in overlap and detour checks.
pub const LIVE: [&str; 3] = ["applied", "approved", "extended"];
/// States shown to the public.
pub const PUBLIC: [&str; 2] = ["approved", "extended"];

/// The configurable thresholds of conflict detection (settings `cityops.buffer_m`,
/// `cityops.protection_days`, `cityops.min_shared_detour_m`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    pub buffer_m: f64,
    pub protection_days: i64,
    pub min_shared_detour_m: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            buffer_m: 10.0,
            protection_days: 3 * 365,
            min_shared_detour_m: 50.0,
        }
    }
}

const RULES_KEY: &str = "cityops.rules";

pub async fn rules(env: &Env) -> Result<Rules> {
    Ok(store::settings::get(&env.db, RULES_KEY)
        .await?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// Changes the thresholds (staff); existing conflicts are recomputed on the next change.
pub async fn set_rules(env: &Env, actor: &Actor, r: Rules) -> Result<()> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    if !(r.buffer_m.is_finite() && (0.0..=1000.0).contains(&r.buffer_m)) {
        inv.push(
            "buffer_m",
            "Der Puffer muss zwischen 0 und 1000 Metern liegen.",
        );
    }
    if !(0..=36500).contains(&r.protection_days) {
        inv.push(
            "protection_days",
            "Die Schutzfrist muss zwischen 0 und 36500 Tagen liegen.",
        );
    }
    if !(r.min_shared_detour_m.is_finite() && (1.0..=10000.0).contains(&r.min_shared_detour_m)) {
        inv.push(
            "min_shared_detour_m",
            "Die gemeinsame Umleitungslänge muss zwischen 1 und 10000 Metern liegen.",
        );
    }
    inv.into_result()?;
    let mut tx = env.db.begin().await?;
    store::settings::set_tx(
        &mut tx,
        RULES_KEY,
        &serde_json::to_string(&r).unwrap_or_default(),
    )
    .await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "cityops.rules",
        "cityops:rules",
        json!(r),
    )
    .await?;
    tx.commit().await
}

/// Staff of the city (or a token with `cityops:write`) manage roadworks.
pub fn require_staff(p: &Principal) -> Result<()> {
    if p.has_scope("cityops:write") || p.has_role(Role::Staff) {
        Ok(())
    } else {
        platform::require_role(p, Role::Staff)
    }
}

/// The same for a writing actor: the system (command line, demo) may too.
pub fn require_staff_actor(a: &Actor) -> Result<()> {
    if a.is_system() {
        Ok(())
    } else {
        require_staff(&a.principal)
    }
}

/// The reader the city-operations tools use for their own SensorThings queries: it sees
/// public and internal Datastreams (scope `sta:read`), as a building's meters are usually
/// internal; restricted (group) data stays out. What the tools publish from them is
/// aggregated by the tools.
pub fn sta_reader() -> Actor {
    Actor::new(
        kern::Principal::Token(kern::auth::TokenPrincipal {
            id: 0,
            name: "cityops".into(),
            scopes: vec!["sta:read".parse().expect("sta:read is a scope")],
        }),
        "system",
    )
}

pub fn projection(env: &Env) -> Projection {
    Projection::new(env.config.city.latitude, env.config.city.longitude)
}

// ---- streets ----

pub async fn streets(env: &Env) -> Result<Vec<Street>> {
    store::cityops::streets(&env.db).await
}

pub async fn add_street(
    env: &Env,
    actor: &Actor,
    name: &str,
    district_number: Option<i64>,
) -> Result<i64> {
    require_staff_actor(actor)?;
    let name = name.trim();
    let n = name.chars().count();
    if !(2..=200).contains(&n) {
        return Err(Error::invalid(
            "name",
            "Der Straßenname muss 2 bis 200 Zeichen lang sein.",
        ));
    }
    if let Some(d) = district_number {
        let known = platform::city::districts(env).await?;
        if !known.iter().any(|k| k.number == d) {
            return Err(Error::invalid(
                "district",
                "Diesen Stadtbezirk gibt es nicht.",
            ));
        }
    }
    let mut tx = env.db.begin().await?;
    if store::cityops::street_by_name(&mut tx, name)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "Die Straße „{name}“ steht schon im Verzeichnis."
        )));
    }
    let id = store::cityops::insert_street(&mut tx, name, district_number, env.now()).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "cityops.street.create",
        &format!("cityops_street:{id}"),
        json!({ "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn delete_street(env: &Env, actor: &Actor, id: i64) -> Result<()> {
    require_staff_actor(actor)?;
    let mut tx = env.db.begin().await?;
    store::cityops::delete_street(&mut tx, id)
        .await
        .map_err(|e| match e {
            Error::Conflict(_) => Error::Conflict(
                "Die Straße wird von einer Baustelle verwendet und kann nicht gelöscht werden."
                    .into(),
            ),
            other => other,
        })?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "cityops.street.delete",
        &format!("cityops_street:{id}"),
        json!({}),
    )
    .await?;
    tx.commit().await
}

// ---- input ----

/// An application as entered (form or API): texts, checked by [`validate`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Application {
    pub title: String,
    pub description: String,
    pub street: String,
    /// GeoJSON LineString or Polygon (WGS 84).
    pub geometry: String,
    /// GeoJSON LineString of the detour; empty for none.
    pub detour: String,
    /// First day, `YYYY-MM-DD`.
    pub period_start: String,
    /// Last day, `YYYY-MM-DD`.
    pub period_end: String,
    pub working_hours: String,
    /// `none`, `lane` or `full`.
    pub closure: String,
    pub applicant_org: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
}

pub const CLOSURES: [&str; 3] = ["none", "lane", "full"];

/// A day given as `YYYY-MM-DD` (or an RFC 3339 time, whose UTC date counts), as midnight UTC.
pub fn parse_day(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().or_else(|| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc).date_naive())
    })?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

fn text_field(inv: &mut Invalid, field: &str, v: &str, min: usize, max: usize, msg: &str) {
    let n = v.trim().chars().count();
    if n < min || n > max {
        inv.push(field, msg);
    }
}

struct Checked {
    site: Geometry<f64>,
    detour: Option<Geometry<f64>>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    street: Street,
}

async fn validate(env: &Env, tx: &mut store::Tx, a: &Application) -> Result<Checked> {
    let proj = projection(env);
    let mut inv = Invalid::new();
    text_field(
        &mut inv,
        "title",
        &a.title,
        3,
        200,
        "Bitte geben Sie einen Titel an (3 bis 200 Zeichen).",
    );
    text_field(
        &mut inv,
        "description",
        &a.description,
        0,
        5000,
        "Die Beschreibung darf höchstens 5000 Zeichen lang sein.",
    );
    text_field(
        &mut inv,
        "working_hours",
        &a.working_hours,
        0,
        200,
        "Die Arbeitszeiten dürfen höchstens 200 Zeichen lang sein.",
    );
    text_field(
        &mut inv,
        "applicant_org",
        &a.applicant_org,
        2,
        200,
        "Bitte nennen Sie das antragstellende Unternehmen (2 bis 200 Zeichen).",
    );
    text_field(
        &mut inv,
        "contact_name",
        &a.contact_name,
        2,
        200,
        "Bitte nennen Sie eine Ansprechperson (2 bis 200 Zeichen).",
    );
    if !platform::accounts::valid_email(a.contact_email.trim()) {
        inv.push(
            "contact_email",
            "Bitte geben Sie eine gültige E-Mail-Adresse der Ansprechperson an.",
        );
    }
    let phone = a.contact_phone.trim();
    if phone.chars().count() > 40
        || !phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-/()".contains(c))
    {
        inv.push(
            "contact_phone",
            "Die Telefonnummer darf nur Ziffern, Leerzeichen und + - / ( ) enthalten.",
        );
    }
    if !CLOSURES.contains(&a.closure.trim()) {
        inv.push(
            "closure",
            "Bitte wählen Sie die Art der Sperrung: keine, Fahrstreifen oder Vollsperrung.",
        );
    }
    let site = match geometry::parse(&a.geometry, Kinds::Site, &proj) {
        Ok(g) => Some(g),
        Err(m) => {
            inv.push("geometry", m);
            None
        }
    };
    let detour = if a.detour.trim().is_empty() {
        None
    } else {
        match geometry::parse(&a.detour, Kinds::Line, &proj) {
            Ok(g) => Some(g),
            Err(m) => {
                inv.push("detour", m);
                None
            }
        }
    };
    let start = parse_day(&a.period_start);
    if start.is_none() {
        inv.push(
            "period_start",
            "Bitte geben Sie den Beginn als Datum an (JJJJ-MM-TT).",
        );
    }
    let end = parse_day(&a.period_end);
    if end.is_none() {
        inv.push(
            "period_end",
            "Bitte geben Sie das Ende als Datum an (JJJJ-MM-TT).",
        );
    }
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        inv.push("period_end", "Das Ende liegt vor dem Beginn.");
    }
    let street_name = a.street.trim();
    let street = if street_name.is_empty() {
        inv.push("street", "Bitte geben Sie die Straße an.");
        None
    } else {
        let s = store::cityops::street_by_name(tx, street_name).await?;
        if s.is_none() {
            inv.push(
                "street",
                format!("Die Straße „{street_name}“ steht nicht im Straßenverzeichnis der Stadt."),
            );
        }
        s
    };
    inv.into_result()?;
    match (site, start, end, street) {
        (Some(site), Some(start), Some(end), Some(street)) => Ok(Checked {
            site,
            detour,
            start,
            end,
            street,
        }),
        _ => Err(Error::internal("validation incomplete")),
    }
}

async fn district_for(env: &Env, site: &Geometry<f64>, street: &Street) -> Result<Option<i64>> {
    let districts: Vec<(i64, serde_json::Value)> = platform::city::districts(env)
        .await?
        .into_iter()
        .map(|d| (d.number, d.geometry.0))
        .collect();
    Ok(geometry::district_of(site, &districts).or(street.district_number))
}

/// Submits an application (state `applied`) and runs the conflict detection.
pub async fn apply(env: &Env, actor: &Actor, a: Application) -> Result<(i64, Vec<Conflict>)> {
    require_staff_actor(actor)?;
    let mut tx = env.db.begin().await?;
    let c = validate(env, &mut tx, &a).await?;
    let now = env.now();
    let mut row = Roadworks {
        id: 0,
        title: a.title.trim().into(),
        description: a.description.trim().into(),
        street_id: c.street.id,
        street_name: c.street.name.clone(),
        district_number: district_for(env, &c.site, &c.street).await?,
        geometry: geometry::to_geojson(&c.site).to_string(),
        detour: c
            .detour
            .as_ref()
            .map(|d| geometry::to_geojson(d).to_string()),
        period_start: c.start,
        period_end: c.end,
        working_hours: a.working_hours.trim().into(),
        closure: a.closure.trim().into(),
        applicant_org: a.applicant_org.trim().into(),
        contact_name: a.contact_name.trim().into(),
        contact_email: a.contact_email.trim().into(),
        contact_phone: a.contact_phone.trim().into(),
        status: "applied".into(),
        decision_note: String::new(),
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    row.id = store::cityops::insert_roadworks(&mut tx, &row).await?;
    let found = detect_tx(env, &mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "cityops.roadworks.apply",
        &format!("roadworks:{}", row.id),
        json!({ "title": row.title, "street": row.street_name, "conflicts": found.len() }),
    )
    .await?;
    tx.commit().await?;
    let conflicts = store::cityops::conflicts_of(&env.db, row.id).await?;
    Ok((row.id, conflicts))
}

/// Changes an application or a permit that is not closed or rejected.
pub async fn update(env: &Env, actor: &Actor, id: i64, a: Application) -> Result<Vec<Conflict>> {
    require_staff_actor(actor)?;
    let mut tx = env.db.begin().await?;
    let mut row = store::cityops::roadworks_tx(&mut tx, id)
        .await?
        .ok_or_else(not_found)?;
    if !LIVE.contains(&row.status.as_str()) {
        return Err(Error::Conflict(
            "Abgeschlossene oder abgelehnte Baustellen lassen sich nicht mehr ändern.".into(),
        ));
    }
    let c = validate(env, &mut tx, &a).await?;
    row.title = a.title.trim().into();
    row.description = a.description.trim().into();
    row.street_id = c.street.id;
    row.street_name = c.street.name.clone();
    row.district_number = district_for(env, &c.site, &c.street).await?;
    row.geometry = geometry::to_geojson(&c.site).to_string();
    row.detour = c
        .detour
        .as_ref()
        .map(|d| geometry::to_geojson(d).to_string());
    row.period_start = c.start;
    row.period_end = c.end;
    row.working_hours = a.working_hours.trim().into();
    row.closure = a.closure.trim().into();
    row.applicant_org = a.applicant_org.trim().into();
    row.contact_name = a.contact_name.trim().into();
    row.contact_email = a.contact_email.trim().into();
    row.contact_phone = a.contact_phone.trim().into();
    row.updated_at = env.now();
    store::cityops::update_roadworks(&mut tx, &row).await?;
    let found = detect_tx(env, &mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "cityops.roadworks.update",
        &format!("roadworks:{id}"),
        json!({ "title": row.title, "conflicts": found.len() }),
    )
    .await?;
    tx.commit().await?;
    store::cityops::conflicts_of(&env.db, id).await
}

/// A decision or a later step on a permit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    Approve {
        #[serde(default)]
        note: String,
    },
    Reject {
        #[serde(default)]
        note: String,
    },
    /// A new last day, later than the current one.
    Extend {
        period_end: String,
    },
    Close,
}

/// Applies a step; refuses the ones the state does not allow. Returns the new state.
pub async fn step(env: &Env, actor: &Actor, id: i64, s: Step) -> Result<Roadworks> {
    require_staff_actor(actor)?;
    let mut tx = env.db.begin().await?;
    let mut row = store::cityops::roadworks_tx(&mut tx, id)
        .await?
        .ok_or_else(not_found)?;
    let before = row.status.clone();
    let now = env.now();
    let wrong = |what: &str| {
        Error::Conflict(format!(
            "Im Zustand „{}“ ist „{what}“ nicht möglich.",
            state_label_de(&row.status)
        ))
    };
    let note_ok = |n: &str| {
        if n.chars().count() > 2000 {
            Err(Error::invalid(
                "note",
                "Die Begründung darf höchstens 2000 Zeichen lang sein.",
            ))
        } else {
            Ok(n.trim().to_string())
        }
    };
    let mut details = json!({ "from": before });
    match &s {
        Step::Approve { note } => {
            if row.status != "applied" {
                return Err(wrong("genehmigen"));
            }
            row.decision_note = note_ok(note)?;
            row.status = "approved".into();
        }
        Step::Reject { note } => {
            if row.status != "applied" {
                return Err(wrong("ablehnen"));
            }
            let n = note_ok(note)?;
            if n.is_empty() {
                return Err(Error::invalid("note", "Bitte begründen Sie die Ablehnung."));
            }
            row.decision_note = n;
            row.status = "rejected".into();
        }
        Step::Extend { period_end } => {
            if row.status != "approved" && row.status != "extended" {
                return Err(wrong("verlängern"));
            }
            let Some(end) = parse_day(period_end) else {
                return Err(Error::invalid(
                    "period_end",
                    "Bitte geben Sie das neue Ende als Datum an (JJJJ-MM-TT).",
                ));
            };
            if end <= row.period_end {
                return Err(Error::invalid(
                    "period_end",
                    "Das neue Ende muss nach dem bisherigen Ende liegen.",
                ));
            }
            details["old_end"] = json!(row.period_end);
            details["new_end"] = json!(end);
            row.period_end = end;
            row.status = "extended".into();
        }
        Step::Close => {
            if row.status != "approved" && row.status != "extended" {
                return Err(wrong("abschließen"));
            }
            row.status = "closed".into();
            row.closed_at = Some(now);
        }
    }
    row.updated_at = now;
    store::cityops::update_roadworks(&mut tx, &row).await?;
    let found = detect_tx(env, &mut tx, &row).await?;
    details["to"] = json!(row.status);
    details["conflicts"] = json!(found.len());
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "cityops.roadworks.step",
        &format!("roadworks:{id}"),
        details,
    )
    .await?;
    if row.status == "approved" {
        crate::subscriptions::notify_tx(env, &mut tx, &row).await?;
    }
    tx.commit().await?;
    Ok(row)
}

fn not_found() -> Error {
    Error::not_found("Diese Baustelle gibt es nicht.")
}

pub fn state_label_de(s: &str) -> &'static str {
    match s {
        "applied" => "beantragt",
        "approved" => "genehmigt",
        "rejected" => "abgelehnt",
        "extended" => "verlängert",
        "closed" => "abgeschlossen",
        _ => "unbekannt",
    }
}

// ---- reading ----

/// One permit with everything (staff).
pub async fn get(env: &Env, who: &Principal, id: i64) -> Result<Roadworks> {
    require_staff(who)?;
    store::cityops::roadworks(&env.db, id)
        .await?
        .ok_or_else(not_found)
}

/// Every permit (staff), optionally in the given states.
pub async fn list(env: &Env, who: &Principal, states: &[&str]) -> Result<Vec<Roadworks>> {
    require_staff(who)?;
    store::cityops::all_roadworks(&env.db, states).await
}

pub async fn conflicts_of(env: &Env, who: &Principal, id: i64) -> Result<Vec<Conflict>> {
    require_staff(who)?;
    store::cityops::conflicts_of(&env.db, id).await
}

/// What the public sees of a permit: no contact person, no e-mail, no phone, no notes.
#[derive(Debug, Clone, Serialize)]
pub struct PublicWorks {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub street: String,
    pub district_number: Option<i64>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub working_hours: String,
    pub closure: String,
    pub applicant_org: String,
    pub status: String,
    /// `current` or `planned`.
    pub phase: String,
    pub geometry: serde_json::Value,
    pub detour: Option<serde_json::Value>,
    pub updated_at: DateTime<Utc>,
}

/// Approved (or extended) works that have not ended yet, current ones first.
pub async fn public_list(env: &Env) -> Result<Vec<PublicWorks>> {
    let today = env.now().date_naive();
    let rows = store::cityops::all_roadworks(&env.db, &PUBLIC).await?;
    let mut out: Vec<PublicWorks> = rows
        .into_iter()
        .filter(|r| r.period_end.date_naive() >= today)
        .map(|r| {
            let phase = if r.period_start.date_naive() <= today {
                "current"
            } else {
                "planned"
            };
            PublicWorks {
                id: r.id,
                title: r.title,
                description: r.description,
                street: r.street_name,
                district_number: r.district_number,
                period_start: r.period_start,
                period_end: r.period_end,
                working_hours: r.working_hours,
                closure: r.closure,
                applicant_org: r.applicant_org,
                status: r.status,
                phase: phase.into(),
                geometry: serde_json::from_str(&r.geometry).unwrap_or_default(),
                detour: r.detour.and_then(|d| serde_json::from_str(&d).ok()),
                updated_at: r.updated_at,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.phase != "current", a.period_start, a.id).cmp(&(
            b.phase != "current",
            b.period_start,
            b.id,
        ))
    });
    Ok(out)
}

/// A conflict as the coordination board shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BoardEntry {
    pub conflict: Conflict,
    pub works: Roadworks,
    pub other: Roadworks,
}

/// The coordination board: conflicts whose permits lie (either one) in the district and whose
/// periods touch the window `[from, to]` (both optional).
pub async fn board(
    env: &Env,
    who: &Principal,
    district: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<BoardEntry>> {
    require_staff(who)?;
    let all = store::cityops::all_roadworks(&env.db, &[]).await?;
    let by_id = |id: i64| all.iter().find(|r| r.id == id).cloned();
    let touches = |r: &Roadworks| {
        from.is_none_or(|f| r.period_end >= f) && to.is_none_or(|t| r.period_start <= t)
    };
    let mut out = Vec::new();
    for c in store::cityops::conflicts(&env.db).await? {
        let (Some(w), Some(o)) = (by_id(c.works_id), by_id(c.other_id)) else {
            continue;
        };
        if let Some(d) = district
            && w.district_number != Some(d)
            && o.district_number != Some(d)
        {
            continue;
        }
        if !(touches(&w) || touches(&o)) {
            continue;
        }
        out.push(BoardEntry {
            conflict: c,
            works: w,
            other: o,
        });
    }
    Ok(out)
}

// ---- conflict detection ----

/// A permit prepared for the geometric checks: projected site and detour.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: i64,
    pub status: String,
    pub closure: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// When the works ended: the closing time if earlier than the planned end.
    pub ended: DateTime<Utc>,
    pub site: Geometry<f64>,
    pub detour: Option<Geometry<f64>>,
}

impl Prepared {
    pub fn of(r: &Roadworks, proj: &Projection) -> Option<Prepared> {
        let site = geometry::parse(&r.geometry, Kinds::Site, proj).ok()?;
        let detour = r
            .detour
            .as_deref()
            .and_then(|d| geometry::parse(d, Kinds::Line, proj).ok());
        let ended = r
            .closed_at
            .map(|c| c.min(r.period_end))
            .unwrap_or(r.period_end);
        Some(Prepared {
            id: r.id,
            status: r.status.clone(),
            closure: r.closure.clone(),
            start: r.period_start,
            end: r.period_end,
            ended,
            site: proj.to_metres(&site),
            detour: detour.map(|d| proj.to_metres(&d)),
        })
    }
    fn live(&self) -> bool {
        LIVE.contains(&self.status.as_str())
    }
    fn full(&self) -> bool {
        self.live() && self.closure == "full"
    }
}

/// Periods are whole days, both ends included.
fn periods_overlap(a: &Prepared, b: &Prepared) -> bool {
    a.start <= b.end && b.start <= a.end
}

/// The conflicts between two permits, as (kind, detail); symmetric in `a` and `b`.
pub fn pair_conflicts(rules: &Rules, a: &Prepared, b: &Prepared) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let gap = geometry::distance_m(&a.site, &b.site);
    if a.live() && b.live() && periods_overlap(a, b) && gap <= rules.buffer_m {
        out.push(("overlap".into(), format!("{gap:.0} m")));
    }
    let protect = Duration::days(rules.protection_days);
    for (new, old) in [(a, b), (b, a)] {
        if new.live()
            && old.status == "closed"
            && gap <= rules.buffer_m
            && new.start
                >= old
                    .ended
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .map_or(old.ended, |d| d.and_utc())
            && new.start < old.ended + protect
        {
            let days = (new.start - old.ended).num_days().max(0);
            out.push(("protection".into(), format!("{days} d")));
            break;
        }
    }
    if a.full() && b.full() && periods_overlap(a, b) {
        let through = |x: &Prepared, y: &Prepared| {
            x.detour
                .as_ref()
                .is_some_and(|d| geometry::distance_m(d, &y.site) <= rules.buffer_m)
        };
        if through(a, b) || through(b, a) {
            out.push(("detour_closure".into(), String::new()));
        }
        if let (Some(da), Some(db)) = (&a.detour, &b.detour) {
            let shared = geometry::shared_length_m(da, db, rules.buffer_m)
                .max(geometry::shared_length_m(db, da, rules.buffer_m));
            if shared >= rules.min_shared_detour_m {
                out.push(("shared_detour".into(), format!("{shared:.0} m")));
            }
        }
    }
    out
}

/// Runs the detection for `row` against every other permit and stores the findings.
async fn detect_tx(
    env: &Env,
    tx: &mut store::Tx,
    row: &Roadworks,
) -> Result<Vec<(i64, String, String)>> {
    let rules = rules(env).await?;
    let proj = projection(env);
    let mut found = Vec::new();
    if let Some(me) = Prepared::of(row, &proj) {
        for other in store::cityops::other_roadworks_tx(tx, row.id).await? {
            let Some(o) = Prepared::of(&other, &proj) else {
                continue;
            };
            for (kind, detail) in pair_conflicts(&rules, &me, &o) {
                found.push((other.id, kind, detail));
            }
        }
    }
    store::cityops::replace_conflicts(tx, row.id, &found, env.now()).await?;
    Ok(found)
}

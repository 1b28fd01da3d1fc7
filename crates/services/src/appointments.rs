//! Appointments and walk-ins: the analog door of the city hall.
//!
//! An office (a place of an org unit) has counters, a booking grid (`slot_min`), weekly opening
//! hours in the city's local time and closed days; it offers services with a duration. A
//! booking takes one counter for `[start, start + duration)`: it claims every grid unit of that
//! time on that counter (`svc_slot_claims`, unique per office, counter and unit), so two
//! bookings can never hold the same counter at the same time, whatever runs concurrently. The
//! booking transaction also takes the office's lock (PostgreSQL advisory lock; SQLite writes are
//! serial), so concurrent requests queue instead of failing on the index.
//!
//! A resident gets a reference (`T-…`) and a code by e-mail; with both they move or cancel the
//! appointment (never in a URL). Staff book for residents who phone or come in (recorded as
//! `booked_by`), mark arrival, call, service and no-show, issue walk-in tickets and call them to
//! a counter; the call display shows the latest calls.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Berlin;
use kern::error::Invalid;
use kern::{Error, Principal, Result, Role};
use platform::{Actor, Env, audit, mail};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::Json;
use store::services::{Appointment, Office, Ticket};

/// Alphabet of references and codes: no 0/O, 1/I/L, so they can be read out and typed.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// How far ahead residents may book.
pub const BOOKING_HORIZON_DAYS: i64 = 90;

/// Weekly opening hours: one interval of a weekday (1 = Monday … 7 = Sunday), local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opening {
    pub weekday: u32,
    /// `HH:MM`.
    pub open: String,
    /// `HH:MM`.
    pub close: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewOffice {
    /// Key of the org unit the office belongs to.
    pub org_unit: String,
    pub name: String,
    pub address: String,
    pub counters: i64,
    pub slot_min: i64,
    pub opening: Vec<Opening>,
}

/// A free start time of a service at an office.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Counters still free for the whole time.
    pub free: i64,
}

/// What a resident (or staff on their behalf) enters to book.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Booking {
    pub office_id: i64,
    pub service_id: i64,
    pub start: Option<DateTime<Utc>>,
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// A booked appointment with the code for moving or cancelling it (shown once).
#[derive(Debug, Clone)]
pub struct Booked {
    pub appointment: Appointment,
    pub code: String,
}

fn hm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

/// The local date of an instant, as `YYYY-MM-DD`.
pub fn local_day(t: DateTime<Utc>) -> String {
    t.with_timezone(&Berlin).format("%Y-%m-%d").to_string()
}

/// `HH:MM` local time of an instant.
pub fn local_hm(t: DateTime<Utc>) -> String {
    t.with_timezone(&Berlin).format("%H:%M").to_string()
}

fn local(day: NaiveDate, t: NaiveTime) -> Option<DateTime<Utc>> {
    Berlin
        .from_local_datetime(&day.and_time(t))
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

/// `n` characters of [`ALPHABET`] (references and codes of appointments and cases).
pub(crate) fn random_text(env: &Env, n: usize) -> String {
    env.rng
        .bytes(n)
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn office_lock(office_id: i64) -> i64 {
    0x5e_7000_0000 + office_id
}

/// Staff of the office's org unit (or an admin, or the scope `services:write`).
pub fn may_run_office(p: &Principal, office: &Office) -> bool {
    p.is_admin()
        || p.has_scope("services:write")
        || (p.has_role(Role::Staff) && p.in_org_unit(office.org_unit_id))
}

fn require_office(actor: &Actor, office: &Office) -> Result<()> {
    if actor.is_system() || may_run_office(&actor.principal, office) {
        Ok(())
    } else if actor.principal.is_anonymous() {
        Err(Error::Unauthorized("Bitte melden Sie sich an.".into()))
    } else {
        Err(Error::forbidden(
            "Dieser Standort gehört nicht zu Ihrer Organisationseinheit.",
        ))
    }
}

pub async fn office(env: &Env, office_id: i64) -> Result<Office> {
    store::services::office(&env.db, office_id)
        .await?
        .ok_or_else(|| Error::not_found("Diesen Standort gibt es nicht."))
}

pub async fn offices(env: &Env) -> Result<Vec<Office>> {
    store::services::offices(&env.db).await
}

/// The opening hours of an office.
pub fn opening(o: &Office) -> Vec<Opening> {
    serde_json::from_value(o.opening.0.clone()).unwrap_or_default()
}

fn validate_opening(inv: &mut Invalid, opening: &[Opening]) {
    for o in opening {
        match (hm(&o.open), hm(&o.close)) {
            (Some(a), Some(b)) if a < b && (1..=7).contains(&o.weekday) => {}
            _ => {
                inv.push(
                    "opening",
                    "Öffnungszeiten brauchen einen Wochentag 1–7 und Beginn vor Ende (HH:MM).",
                );
                return;
            }
        }
    }
}

/// Creates an office of an org unit (staff of that unit, admins, the scope).
pub async fn create_office(env: &Env, actor: &Actor, n: NewOffice) -> Result<i64> {
    let unit = store::city::org_unit_by_key(&env.db, n.org_unit.trim()).await?;
    let mut inv = Invalid::new();
    if unit.is_none() {
        inv.push("org_unit", "Diese Organisationseinheit gibt es nicht.");
    }
    if !(3..=200).contains(&n.name.trim().chars().count()) {
        inv.push("name", "Der Name muss 3 bis 200 Zeichen lang sein.");
    }
    if !(1..=100).contains(&n.counters) {
        inv.push("counters", "Ein Standort hat 1 bis 100 Schalter.");
    }
    if ![5, 10, 15, 20, 30].contains(&n.slot_min) {
        inv.push(
            "slot_min",
            "Das Buchungsraster ist 5, 10, 15, 20 oder 30 Minuten.",
        );
    }
    validate_opening(&mut inv, &n.opening);
    let unit_id = unit.as_ref().map(|u| u.id).unwrap_or(0);
    let probe = Office {
        id: 0,
        org_unit_id: unit_id,
        name: n.name.trim().into(),
        address: if n.address.trim().is_empty() {
            unit.as_ref().map(|u| u.address.clone()).unwrap_or_default()
        } else {
            n.address.trim().into()
        },
        counters: n.counters,
        slot_min: n.slot_min,
        opening: Json(serde_json::to_value(&n.opening).unwrap_or_default()),
        created_at: env.now(),
    };
    if unit.is_some() {
        require_office(actor, &probe)?;
    }
    inv.into_result()?;
    let mut tx = env.db.begin().await?;
    if store::services::office_by_name(&mut tx, &probe.name)
        .await?
        .is_some()
    {
        return Err(Error::invalid(
            "name",
            "Einen Standort mit diesem Namen gibt es schon.",
        ));
    }
    let id = store::services::insert_office(&mut tx, &probe).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.office.create",
        &format!("office:{id}"),
        json!({ "name": probe.name, "counters": probe.counters }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Offers a service at an office with a duration (minutes, a multiple of the grid).
pub async fn offer(
    env: &Env,
    actor: &Actor,
    office_id: i64,
    service_id: i64,
    duration_min: i64,
) -> Result<()> {
    let o = office(env, office_id).await?;
    require_office(actor, &o)?;
    crate::catalog::get(env, service_id).await?;
    if duration_min < o.slot_min || duration_min > 240 || duration_min % o.slot_min != 0 {
        return Err(Error::invalid(
            "duration_min",
            format!(
                "Die Dauer muss ein Vielfaches von {} Minuten sein (höchstens 240).",
                o.slot_min
            ),
        ));
    }
    let mut tx = env.db.begin().await?;
    store::services::set_office_service(&mut tx, office_id, service_id, duration_min).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.office.offer",
        &format!("office:{office_id}"),
        json!({ "service_id": service_id, "duration_min": duration_min }),
    )
    .await?;
    tx.commit().await
}

/// Closes an office on a local day (`YYYY-MM-DD`). Booked appointments stay; staff see them.
pub async fn close_day(
    env: &Env,
    actor: &Actor,
    office_id: i64,
    day: &str,
    reason: &str,
) -> Result<()> {
    let o = office(env, office_id).await?;
    require_office(actor, &o)?;
    if NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").is_err() {
        return Err(Error::invalid(
            "day",
            "Bitte geben Sie den Tag als JJJJ-MM-TT an.",
        ));
    }
    let mut tx = env.db.begin().await?;
    store::services::insert_closed_day(&mut tx, office_id, day.trim(), reason.trim()).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.office.closed_day",
        &format!("office:{office_id}"),
        json!({ "day": day.trim(), "reason": reason.trim() }),
    )
    .await?;
    tx.commit().await
}

/// Every (office, service, duration) offer, read once.
pub async fn offers(env: &Env) -> Result<Vec<store::services::OfficeService>> {
    store::services::office_services(&env.db).await
}

/// The duration of a service at an office, if it is offered there.
pub async fn duration(env: &Env, office_id: i64, service_id: i64) -> Result<Option<i64>> {
    Ok(store::services::office_services(&env.db)
        .await?
        .into_iter()
        .find(|x| x.office_id == office_id && x.service_id == service_id)
        .map(|x| x.duration_min))
}

/// Start times of the grid on a local day at which `duration` fits into the opening hours.
fn candidates(o: &Office, day: NaiveDate, duration: i64) -> Vec<DateTime<Utc>> {
    let weekday = day.weekday().number_from_monday();
    let mut out = Vec::new();
    for w in opening(o).iter().filter(|w| w.weekday == weekday) {
        let (Some(a), Some(b)) = (hm(&w.open), hm(&w.close)) else {
            continue;
        };
        let (Some(start), Some(end)) = (local(day, a), local(day, b)) else {
            continue;
        };
        let mut t = start;
        while t + Duration::minutes(duration) <= end {
            out.push(t);
            t += Duration::minutes(o.slot_min);
        }
    }
    out.sort();
    out
}

fn units(o: &Office, start: DateTime<Utc>, duration: i64) -> Vec<DateTime<Utc>> {
    (0..duration / o.slot_min)
        .map(|i| start + Duration::minutes(i * o.slot_min))
        .collect()
}

/// Counters with all units of `[start, start + duration)` free, given the claimed units.
fn free_counters(
    o: &Office,
    claims: &[store::services::Claim],
    start: DateTime<Utc>,
    duration: i64,
) -> Vec<i64> {
    let need = units(o, start, duration);
    (1..=o.counters)
        .filter(|c| {
            !claims
                .iter()
                .any(|x| x.counter == *c && need.contains(&x.unit_start))
        })
        .collect()
}

fn parse_day(day: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid("day", "Bitte geben Sie den Tag als JJJJ-MM-TT an."))
}

async fn is_closed(tx: &mut store::Tx, office_id: i64, day: &str) -> Result<bool> {
    Ok(store::services::closed_days_tx(tx, office_id)
        .await?
        .iter()
        .any(|d| d.day == day))
}

/// Free start times of a service at an office on a local day (public). Past times and days
/// beyond the booking horizon have none.
pub async fn slots(env: &Env, office_id: i64, service_id: i64, day: &str) -> Result<Vec<Slot>> {
    let o = office(env, office_id).await?;
    let d = parse_day(day)?;
    let Some(dur) = duration(env, office_id, service_id).await? else {
        return Err(Error::invalid(
            "service_id",
            "Diese Leistung wird an diesem Standort nicht angeboten.",
        ));
    };
    let now = env.now();
    let mut tx = env.db.begin_snapshot().await?;
    if is_closed(&mut tx, office_id, &d.to_string()).await? {
        return Ok(Vec::new());
    }
    let cands = candidates(&o, d, dur);
    let (Some(first), Some(last)) = (cands.first(), cands.last()) else {
        return Ok(Vec::new());
    };
    let claims =
        store::services::claims(&mut tx, office_id, *first, *last + Duration::minutes(dur)).await?;
    Ok(cands
        .into_iter()
        .filter(|t| *t > now && *t <= now + Duration::days(BOOKING_HORIZON_DAYS))
        .filter_map(|t| {
            let free = free_counters(&o, &claims, t, dur).len() as i64;
            (free > 0).then(|| Slot {
                start: t,
                end: t + Duration::minutes(dur),
                free,
            })
        })
        .collect())
}

fn check_person(inv: &mut Invalid, b: &Booking, staff: bool) {
    if !(2..=200).contains(&b.name.trim().chars().count()) {
        inv.push(
            "name",
            "Bitte geben Sie Ihren Namen an (2 bis 200 Zeichen).",
        );
    }
    let email = b.email.trim();
    if (!staff || !email.is_empty()) && !platform::accounts::valid_email(email) {
        inv.push("email", "Bitte geben Sie eine gültige E-Mail-Adresse an.");
    }
    if b.phone.trim().chars().count() > 50 {
        inv.push("phone", "Die Telefonnummer ist zu lang.");
    }
}

/// Checks that `start` is a bookable time of the service and returns the free counters.
async fn check_time(
    env: &Env,
    tx: &mut store::Tx,
    o: &Office,
    dur: i64,
    start: DateTime<Utc>,
) -> Result<i64> {
    let now = env.now();
    let day = start.with_timezone(&Berlin).date_naive();
    if start <= now || start > now + Duration::days(BOOKING_HORIZON_DAYS) {
        return Err(Error::invalid(
            "start",
            "Diese Zeit liegt in der Vergangenheit oder zu weit in der Zukunft.",
        ));
    }
    if is_closed(tx, o.id, &day.to_string()).await? || !candidates(o, day, dur).contains(&start) {
        return Err(Error::invalid(
            "start",
            "Zu dieser Zeit kann die Leistung an diesem Standort nicht gebucht werden.",
        ));
    }
    // When moving, the appointment's own claims were released in this transaction already.
    let claims = store::services::claims(tx, o.id, start, start + Duration::minutes(dur)).await?;
    free_counters(o, &claims, start, dur)
        .first()
        .copied()
        .ok_or_else(|| {
            Error::Conflict(
                "Dieser Termin ist gerade vergeben worden. Bitte wählen Sie eine andere Zeit."
                    .into(),
            )
        })
}

fn confirmation(a: &Appointment, code: &str, office: &Office, service: &str) -> mail::Mail {
    mail::Mail {
        to: a.email.clone(),
        subject: format!("Ihr Termin {} am {}", a.reference, local_day(a.starts_at)),
        text: format!(
            "Guten Tag {},\n\nIhr Termin ist gebucht.\n\nLeistung: {service}\nOrt: {}, {}\nTag: {}\nUhrzeit: {} Uhr\n\nVorgangsnummer: {}\nCode zum Verschieben oder Absagen: {code}\n\nVerschieben oder absagen können Sie den Termin auf der Seite „Termin verwalten“ mit Vorgangsnummer und Code. Geben Sie den Code nicht weiter.\n",
            a.name,
            office.name,
            office.address,
            local_day(a.starts_at),
            local_hm(a.starts_at),
            a.reference,
        ),
    }
}

/// Books an appointment. A resident books for themselves (with e-mail); staff of the office
/// book for a resident (recorded as `booked_by`; e-mail optional). Exactly one of concurrent
/// bookings of the last free counter succeeds; the others get `Conflict`.
pub async fn book(env: &Env, actor: &Actor, b: Booking) -> Result<Booked> {
    let o = office(env, b.office_id).await?;
    let staff = !actor.principal.is_anonymous() && may_run_office(&actor.principal, &o);
    let mut inv = Invalid::new();
    check_person(&mut inv, &b, staff);
    let dur = duration(env, o.id, b.service_id).await?;
    if dur.is_none() {
        inv.push(
            "service_id",
            "Diese Leistung wird an diesem Standort nicht angeboten.",
        );
    }
    if b.start.is_none() {
        inv.push("start", "Bitte wählen Sie eine Uhrzeit.");
    }
    inv.into_result()?;
    let (dur, start) = (dur.unwrap_or(0), b.start.unwrap_or_default());
    let service = crate::catalog::get(env, b.service_id).await?;
    let code = random_text(env, 8);
    let mut tx = env.db.begin().await?;
    tx.lock(office_lock(o.id)).await?;
    let counter = check_time(env, &mut tx, &o, dur, start).await?;
    let mut a = Appointment {
        id: 0,
        reference: format!("T-{}", random_text(env, 7)),
        office_id: o.id,
        service_id: b.service_id,
        counter,
        starts_at: start,
        ends_at: start + Duration::minutes(dur),
        day: local_day(start),
        name: b.name.trim().into(),
        email: b.email.trim().into(),
        phone: b.phone.trim().into(),
        code_hash: kern::secret::digest(&code),
        state: "booked".into(),
        user_id: actor.user_id().filter(|_| !staff),
        booked_by: actor.user_id().filter(|_| staff),
        reminded: false,
        arrived_at: None,
        called_at: None,
        served_at: None,
        created_at: env.now(),
    };
    a.id = store::services::insert_appointment(&mut tx, &a).await?;
    store::services::claim_units(&mut tx, a.id, o.id, counter, &units(&o, start, dur)).await?;
    if !a.email.is_empty() {
        mail::queue_tx(env, &mut tx, &confirmation(&a, &code, &o, &service.name)).await?;
    }
    audit::record_tx(
        env,
        &mut tx,
        actor,
        if staff {
            "services.appointment.book_assisted"
        } else {
            "services.appointment.book"
        },
        &format!("appointment:{}", a.id),
        json!({ "office_id": o.id, "service_id": a.service_id, "start": a.starts_at, "counter": counter }),
    )
    .await?;
    tx.commit().await?;
    Ok(Booked {
        appointment: a,
        code,
    })
}

/// The appointment of a reference and code (what a resident sees when managing it). Wrong codes
/// are throttled per reference and per address (see `platform::sessions`).
pub async fn find(env: &Env, actor: &Actor, reference: &str, code: &str) -> Result<Appointment> {
    let reference = check_code(env, actor, reference, code).await?;
    let mut tx = env.db.begin().await?;
    let a = by_reference(&mut tx, &reference).await?;
    tx.commit().await?;
    Ok(a)
}

fn wrong_code() -> Error {
    Error::not_found("Zu dieser Vorgangsnummer und diesem Code gibt es keinen Termin.")
}

/// Compares the code of a reference, counted by the code throttle, before any write
/// transaction is opened; answers the normalised reference.
async fn check_code(env: &Env, actor: &Actor, reference: &str, code: &str) -> Result<String> {
    let reference = reference.trim().to_uppercase();
    let check =
        platform::sessions::begin_code_check(env, actor, &format!("appointment:{reference}"))
            .await?;
    let mut tx = env.db.begin().await?;
    let a = store::services::appointment_by_reference(&mut tx, &reference).await?;
    tx.commit().await?;
    match a {
        Some(a)
            if kern::secret::eq(
                &a.code_hash,
                &kern::secret::digest(&code.trim().to_uppercase()),
            ) =>
        {
            platform::sessions::code_check_passed(env, check).await?;
            Ok(reference)
        }
        _ => Err(wrong_code()),
    }
}

async fn by_reference(tx: &mut store::Tx, reference: &str) -> Result<Appointment> {
    store::services::appointment_by_reference(tx, reference)
        .await?
        .ok_or_else(wrong_code)
}

/// Cancels an appointment with its reference and code; the time becomes free again.
pub async fn cancel(env: &Env, actor: &Actor, reference: &str, code: &str) -> Result<()> {
    let reference = check_code(env, actor, reference, code).await?;
    let mut tx = env.db.begin().await?;
    let mut a = by_reference(&mut tx, &reference).await?;
    if a.state != "booked" {
        return Err(Error::Conflict(
            "Dieser Termin ist nicht mehr offen und kann nicht abgesagt werden.".into(),
        ));
    }
    tx.lock(office_lock(a.office_id)).await?;
    a.state = "cancelled".into();
    store::services::update_appointment(&mut tx, &a).await?;
    store::services::release_units(&mut tx, a.id).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.appointment.cancel",
        &format!("appointment:{}", a.id),
        json!({}),
    )
    .await?;
    tx.commit().await
}

/// Moves an appointment (reference and code) to another free start time of the same service.
pub async fn reschedule(
    env: &Env,
    actor: &Actor,
    reference: &str,
    code: &str,
    start: DateTime<Utc>,
) -> Result<Appointment> {
    let reference = check_code(env, actor, reference, code).await?;
    let mut tx = env.db.begin().await?;
    let mut a = by_reference(&mut tx, &reference).await?;
    if a.state != "booked" {
        return Err(Error::Conflict(
            "Dieser Termin ist nicht mehr offen und kann nicht verschoben werden.".into(),
        ));
    }
    let o = office(env, a.office_id).await?;
    let dur = (a.ends_at - a.starts_at).num_minutes();
    tx.lock(office_lock(o.id)).await?;
    store::services::release_units(&mut tx, a.id).await?;
    let counter = check_time(env, &mut tx, &o, dur, start).await?;
    let from = a.starts_at;
    a.counter = counter;
    a.starts_at = start;
    a.ends_at = start + Duration::minutes(dur);
    a.day = local_day(start);
    a.reminded = false;
    store::services::update_appointment(&mut tx, &a).await?;
    store::services::claim_units(&mut tx, a.id, o.id, counter, &units(&o, start, dur)).await?;
    if !a.email.is_empty() {
        mail::queue_tx(
            env,
            &mut tx,
            &mail::Mail {
                to: a.email.clone(),
                subject: format!("Ihr Termin {} wurde verschoben", a.reference),
                text: format!(
                    "Guten Tag {},\n\nIhr Termin {} ist jetzt am {} um {} Uhr ({}, {}).\nIhr Code bleibt gültig.\n",
                    a.name,
                    a.reference,
                    local_day(a.starts_at),
                    local_hm(a.starts_at),
                    o.name,
                    o.address
                ),
            },
        )
        .await?;
    }
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.appointment.move",
        &format!("appointment:{}", a.id),
        json!({ "from": from, "to": start }),
    )
    .await?;
    tx.commit().await?;
    Ok(a)
}

/// Queues the reminder mail for booked appointments starting in the next 24 hours (each once);
/// returns how many were queued. Run by the hourly housekeeping.
pub async fn send_reminders(env: &Env) -> Result<usize> {
    let now = env.now();
    let due =
        store::services::appointments_to_remind(&env.db, now, now + Duration::hours(24)).await?;
    let mut n = 0;
    for a in due {
        if a.email.is_empty() {
            continue;
        }
        let o = office(env, a.office_id).await?;
        let mut tx = env.db.begin().await?;
        if store::services::mark_reminded(&mut tx, a.id).await? {
            mail::queue_tx(
                env,
                &mut tx,
                &mail::Mail {
                    to: a.email.clone(),
                    subject: format!("Erinnerung: Ihr Termin {} morgen", a.reference),
                    text: format!(
                        "Guten Tag {},\n\nwir erinnern an Ihren Termin am {} um {} Uhr: {}, {}.\nBitte bringen Sie die erforderlichen Unterlagen mit. Wenn Sie nicht kommen können, sagen Sie den Termin bitte ab.\n",
                        a.name,
                        local_day(a.starts_at),
                        local_hm(a.starts_at),
                        o.name,
                        o.address
                    ),
                },
            )
            .await?;
            n += 1;
        }
        tx.commit().await?;
    }
    Ok(n)
}

/// A staff step on an appointment: `arrived`, `called` (to its counter), `served`, `no_show`.
pub async fn step(env: &Env, actor: &Actor, appointment_id: i64, to: &str) -> Result<Appointment> {
    let mut tx = env.db.begin().await?;
    let mut a = store::services::appointment(&mut tx, appointment_id)
        .await?
        .ok_or_else(|| Error::not_found("Diesen Termin gibt es nicht."))?;
    let o = office(env, a.office_id).await?;
    require_office(actor, &o)?;
    let now = env.now();
    let ok = matches!(
        (a.state.as_str(), to),
        ("booked", "arrived")
            | ("booked", "called")
            | ("arrived", "called")
            | ("called", "served")
            | ("booked", "no_show")
            | ("called", "no_show")
    );
    if !ok {
        return Err(Error::Conflict(format!(
            "Ein Termin im Zustand „{}“ kann nicht „{to}“ werden.",
            a.state
        )));
    }
    match to {
        "arrived" => a.arrived_at = Some(now),
        "called" => a.called_at = Some(now),
        "served" => a.served_at = Some(now),
        _ => {}
    }
    a.state = to.into();
    store::services::update_appointment(&mut tx, &a).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.appointment.step",
        &format!("appointment:{}", a.id),
        json!({ "to": to }),
    )
    .await?;
    tx.commit().await?;
    Ok(a)
}

/// Issues the next walk-in ticket of the day (printed at the office; staff or the kiosk token).
pub async fn issue_ticket(
    env: &Env,
    actor: &Actor,
    office_id: i64,
    service_id: Option<i64>,
) -> Result<Ticket> {
    let o = office(env, office_id).await?;
    require_office(actor, &o)?;
    if let Some(s) = service_id {
        crate::catalog::get(env, s).await?;
    }
    let mut tx = env.db.begin().await?;
    tx.lock(office_lock(o.id)).await?;
    let t = store::services::insert_ticket(
        &mut tx,
        &Ticket {
            id: 0,
            office_id,
            service_id,
            day: local_day(env.now()),
            number: 0,
            state: "waiting".into(),
            counter: None,
            issued_by: actor.user_id(),
            created_at: env.now(),
            called_at: None,
            served_at: None,
        },
    )
    .await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.ticket.issue",
        &format!("ticket:{}", t.id),
        json!({ "office_id": office_id, "number": t.number }),
    )
    .await?;
    tx.commit().await?;
    Ok(t)
}

/// Calls the longest-waiting ticket of today to a counter; `None` when nobody waits.
pub async fn call_next(
    env: &Env,
    actor: &Actor,
    office_id: i64,
    counter: i64,
) -> Result<Option<Ticket>> {
    let o = office(env, office_id).await?;
    require_office(actor, &o)?;
    if !(1..=o.counters).contains(&counter) {
        return Err(Error::invalid("counter", "Diesen Schalter gibt es nicht."));
    }
    let mut tx = env.db.begin().await?;
    tx.lock(office_lock(o.id)).await?;
    let today = local_day(env.now());
    let waiting = store::services::tickets_of_day(&env.db, office_id, &today).await?;
    let mut next = None;
    for t in waiting.into_iter().filter(|t| t.state == "waiting") {
        // Re-read inside the lock: another counter may have called it a moment ago.
        if let Some(fresh) = store::services::ticket(&mut tx, t.id).await?
            && fresh.state == "waiting"
        {
            next = Some(fresh);
            break;
        }
    }
    let Some(mut t) = next else {
        return Ok(None);
    };
    t.state = "called".into();
    t.counter = Some(counter);
    t.called_at = Some(env.now());
    store::services::update_ticket(&mut tx, &t).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.ticket.call",
        &format!("ticket:{}", t.id),
        json!({ "counter": counter }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(t))
}

/// Marks a called ticket as served or as not present.
pub async fn finish_ticket(env: &Env, actor: &Actor, ticket_id: i64, to: &str) -> Result<Ticket> {
    let mut tx = env.db.begin().await?;
    let mut t = store::services::ticket(&mut tx, ticket_id)
        .await?
        .ok_or_else(|| Error::not_found("Diese Wartenummer gibt es nicht."))?;
    let o = office(env, t.office_id).await?;
    require_office(actor, &o)?;
    if t.state != "called" || !matches!(to, "served" | "no_show") {
        return Err(Error::Conflict(
            "Nur aufgerufene Wartenummern können abgeschlossen werden.".into(),
        ));
    }
    t.state = to.into();
    if to == "served" {
        t.served_at = Some(env.now());
    }
    store::services::update_ticket(&mut tx, &t).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.ticket.finish",
        &format!("ticket:{}", t.id),
        json!({ "to": to }),
    )
    .await?;
    tx.commit().await?;
    Ok(t)
}

/// One line of the call display.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// Ticket number (`A017`) or appointment reference.
    pub label: String,
    pub counter: i64,
    pub at: DateTime<Utc>,
}

/// The latest calls of today at an office, newest first (public: numbers and references only,
/// never names).
pub async fn display(env: &Env, office_id: i64, limit: usize) -> Result<Vec<Call>> {
    office(env, office_id).await?;
    let today = local_day(env.now());
    let mut calls: Vec<Call> = store::services::tickets_of_day(&env.db, office_id, &today)
        .await?
        .into_iter()
        .filter(|t| t.state == "called")
        .filter_map(|t| {
            Some(Call {
                label: format!("A{:03}", t.number),
                counter: t.counter?,
                at: t.called_at?,
            })
        })
        .collect();
    calls.extend(
        store::services::appointments_of_day(&env.db, office_id, &today)
            .await?
            .into_iter()
            .filter(|a| a.state == "called")
            .filter_map(|a| {
                Some(Call {
                    label: a.reference,
                    counter: a.counter,
                    at: a.called_at?,
                })
            }),
    );
    calls.sort_by_key(|c| std::cmp::Reverse(c.at));
    calls.truncate(limit);
    Ok(calls)
}

/// The staff day view of an office.
#[derive(Debug, Clone)]
pub struct Day {
    pub office: Office,
    pub appointments: Vec<Appointment>,
    pub tickets: Vec<Ticket>,
}

pub async fn day(env: &Env, actor: &Actor, office_id: i64, day: &str) -> Result<Day> {
    let o = office(env, office_id).await?;
    require_office(actor, &o)?;
    let d = parse_day(day)?.to_string();
    Ok(Day {
        appointments: store::services::appointments_of_day(&env.db, office_id, &d).await?,
        tickets: store::services::tickets_of_day(&env.db, office_id, &d).await?,
        office: o,
    })
}

/// Figures of an office over a period of local days.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub appointments: usize,
    pub served: usize,
    pub no_shows: usize,
    pub cancelled: usize,
    /// Share of no-shows among appointments that were due (served, called or no-show).
    pub no_show_rate: f64,
    pub tickets: usize,
    /// Mean wait of walk-ins from ticket to call, minutes.
    pub ticket_wait_min: Option<f64>,
    /// Mean wait of appointments from the later of arrival and start to call, minutes.
    pub appointment_wait_min: Option<f64>,
    pub assisted: usize,
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| (v.iter().sum::<f64>() / v.len() as f64 * 10.0).round() / 10.0)
}

pub async fn stats(
    env: &Env,
    actor: &Actor,
    office_id: i64,
    from: &str,
    to: &str,
) -> Result<Stats> {
    let o = office(env, office_id).await?;
    require_office(actor, &o)?;
    let (f, t) = (parse_day(from)?.to_string(), parse_day(to)?.to_string());
    let apps = store::services::appointments_between(&env.db, office_id, &f, &t).await?;
    let tickets = store::services::tickets_between(&env.db, office_id, &f, &t).await?;
    let count = |s: &str| apps.iter().filter(|a| a.state == s).count();
    let due = count("served") + count("called") + count("no_show");
    let awaits: Vec<f64> = apps
        .iter()
        .filter_map(|a| {
            let called = a.called_at?;
            let from = a.arrived_at.map_or(a.starts_at, |x| x.max(a.starts_at));
            Some(((called - from).num_seconds().max(0)) as f64 / 60.0)
        })
        .collect();
    let twaits: Vec<f64> = tickets
        .iter()
        .filter_map(|t| Some((t.called_at? - t.created_at).num_seconds().max(0) as f64 / 60.0))
        .collect();
    Ok(Stats {
        appointments: apps.len(),
        served: count("served"),
        no_shows: count("no_show"),
        cancelled: count("cancelled"),
        no_show_rate: if due == 0 {
            0.0
        } else {
            (count("no_show") as f64 / due as f64 * 1000.0).round() / 1000.0
        },
        tickets: tickets.len(),
        ticket_wait_min: mean(&twaits),
        appointment_wait_min: mean(&awaits),
        assisted: apps.iter().filter(|a| a.booked_by.is_some()).count(),
    })
}

/// The minute of the day of an instant in local time (for tests and pages).
pub fn local_minute(t: DateTime<Utc>) -> u32 {
    let l = t.with_timezone(&Berlin);
    l.hour() * 60 + l.minute()
}

//! Area subscriptions: anyone with an e-mail address subscribes to a district or a circle
//! (point and radius) and is told by mail when roadworks there are approved.
//!
//! Double opt-in: the subscription counts only after the link in the confirmation mail was
//! followed. The link's token is not a credential (it confirms or ends one subscription), but
//! only its SHA-256 is stored. The token itself is derived from the instance secret and a
//! random salt of the subscription, so later mails can carry the unsubscribe link again.

use crate::geometry::{self, Kinds};
use crate::roadworks::{Roadworks, projection};
use kern::{Error, Invalid, Result};
use platform::mail::{Mail, queue_tx};
use platform::{Actor, Env, audit};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
pub use store::cityops::Subscription;

/// What a subscriber asks for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Request {
    pub email: String,
    /// `district` or `circle`.
    pub area: String,
    pub district: Option<i64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub radius_m: Option<f64>,
}

fn sha_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

async fn token_for(env: &Env, salt: &str) -> Result<String> {
    let secret = env.instance_secret().await?;
    Ok(sha_hex(&[
        &secret,
        b"cityops-subscription\0",
        salt.as_bytes(),
    ]))
}

fn hash(token: &str) -> String {
    sha_hex(&[token.trim().as_bytes()])
}

fn confirm_url(env: &Env, token: &str) -> String {
    format!(
        "{}/baustellen/abo/bestaetigen/{token}",
        env.config.public_url()
    )
}

fn unsubscribe_url(env: &Env, token: &str) -> String {
    format!(
        "{}/baustellen/abo/abmelden/{token}",
        env.config.public_url()
    )
}

/// Stores a subscription (unconfirmed) and queues the confirmation mail.
pub async fn subscribe(env: &Env, actor: &Actor, r: Request) -> Result<i64> {
    let mut inv = Invalid::new();
    let email = r.email.trim();
    if !platform::accounts::valid_email(email) {
        inv.push("email", "Bitte geben Sie eine gültige E-Mail-Adresse an.");
    }
    let (kind, district, circle) = match r.area.as_str() {
        "district" => {
            let known = platform::city::districts(env).await?;
            match r.district {
                Some(d) if known.iter().any(|k| k.number == d) => ("district", Some(d), None),
                _ => {
                    inv.push("district", "Bitte wählen Sie einen Stadtbezirk.");
                    ("district", None, None)
                }
            }
        }
        "circle" => {
            let proj = projection(env);
            let ok_point = match (r.longitude, r.latitude) {
                (Some(lon), Some(lat)) if lon.is_finite() && lat.is_finite() => proj
                    .in_city_box(geo::Coord { x: lon, y: lat })
                    .then_some((lat, lon)),
                _ => None,
            };
            if ok_point.is_none() {
                inv.push(
                    "latitude",
                    "Bitte geben Sie einen Mittelpunkt im Stadtgebiet an (Breite und Länge).",
                );
            }
            let radius = r
                .radius_m
                .filter(|m| m.is_finite() && (50.0..=5000.0).contains(m));
            if radius.is_none() {
                inv.push(
                    "radius_m",
                    "Der Radius muss zwischen 50 und 5000 Metern liegen.",
                );
            }
            match (ok_point, radius) {
                (Some((lat, lon)), Some(m)) => ("circle", None, Some((lat, lon, m))),
                _ => ("circle", None, None),
            }
        }
        _ => {
            inv.push(
                "area",
                "Bitte wählen Sie einen Stadtbezirk oder einen Umkreis.",
            );
            ("district", None, None)
        }
    };
    inv.into_result()?;
    let salt = hex::encode(env.rng.bytes(16));
    let token = token_for(env, &salt).await?;
    let mut tx = env.db.begin().await?;
    let id = store::cityops::insert_subscription(
        &mut tx,
        email,
        kind,
        district,
        circle,
        &salt,
        &hash(&token),
        env.now(),
    )
    .await?;
    let mail = Mail {
        to: email.to_string(),
        subject: format!(
            "{}: Baustellen-Benachrichtigung bestätigen",
            env.config.city.name
        ),
        text: format!(
            "Guten Tag,\n\nSie möchten über neue Baustellen in Ihrem Gebiet informiert werden. \
             Bitte bestätigen Sie das mit diesem Link:\n\n{}\n\nWenn Sie das nicht angefordert \
             haben, ignorieren Sie diese Nachricht; ohne Bestätigung erhalten Sie keine weiteren \
             E-Mails.\n\n---\nYou asked to be told about new roadworks in your area. Please \
             confirm with the link above; without it you will get no further mail.\n",
            confirm_url(env, &token)
        ),
    };
    queue_tx(env, &mut tx, &mail).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "cityops.subscription.create",
        &format!("cityops_subscription:{id}"),
        json!({ "area": kind }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

fn unknown() -> Error {
    Error::not_found("Dieser Link ist ungültig oder das Abonnement wurde schon beendet.")
}

/// Confirms the subscription the token belongs to.
pub async fn confirm(env: &Env, actor: &Actor, token: &str) -> Result<Subscription> {
    let mut tx = env.db.begin().await?;
    let mut s = store::cityops::subscription_by_token_hash(&mut tx, &hash(token))
        .await?
        .ok_or_else(unknown)?;
    if s.confirmed_at.is_none() {
        store::cityops::confirm_subscription(&mut tx, s.id, env.now()).await?;
        s.confirmed_at = Some(env.now());
        audit::record_tx(
            env,
            &mut tx,
            actor,
            "cityops.subscription.confirm",
            &format!("cityops_subscription:{}", s.id),
            json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(s)
}

/// Ends the subscription the token belongs to.
pub async fn unsubscribe(env: &Env, actor: &Actor, token: &str) -> Result<()> {
    let mut tx = env.db.begin().await?;
    let s = store::cityops::subscription_by_token_hash(&mut tx, &hash(token))
        .await?
        .ok_or_else(unknown)?;
    store::cityops::delete_subscription(&mut tx, s.id).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "cityops.subscription.delete",
        &format!("cityops_subscription:{}", s.id),
        json!({}),
    )
    .await?;
    tx.commit().await
}

/// Whether the works lie in the subscribed area.
pub fn matches(env: &Env, s: &Subscription, w: &Roadworks) -> bool {
    match s.area_kind.as_str() {
        "district" => s.district_number.is_some() && s.district_number == w.district_number,
        "circle" => {
            let (Some(lat), Some(lon), Some(r)) = (s.latitude, s.longitude, s.radius_m) else {
                return false;
            };
            let proj = projection(env);
            geometry::parse(&w.geometry, Kinds::Site, &proj)
                .is_ok_and(|g| geometry::within_radius(&proj, &g, lon, lat, r))
        }
        _ => false,
    }
}

/// Queues one mail per confirmed subscription whose area the approved works lie in (once per
/// subscription and works).
pub(crate) async fn notify_tx(env: &Env, tx: &mut store::Tx, w: &Roadworks) -> Result<usize> {
    let mut n = 0;
    for s in store::cityops::confirmed_subscriptions(tx).await? {
        if !matches(env, &s, w) || !store::cityops::record_notice(tx, s.id, w.id, env.now()).await?
        {
            continue;
        }
        let token = token_for(env, &s.salt).await?;
        let closure = match w.closure.as_str() {
            "full" => "Vollsperrung",
            "lane" => "Sperrung eines Fahrstreifens",
            _ => "keine Sperrung",
        };
        let mail = Mail {
            to: s.email.clone(),
            subject: format!("Neue Baustelle: {} ({})", w.title, w.street_name),
            text: format!(
                "Guten Tag,\n\nin Ihrem Gebiet wurde eine Baustelle genehmigt:\n\n{}\n{}\n\
                 Zeitraum: {} bis {}\nArbeitszeiten: {}\nVerkehr: {}\n\nAlle Baustellen: {}/baustellen\n\n\
                 Benachrichtigungen abbestellen: {}\n",
                w.title,
                w.street_name,
                w.period_start.format("%d.%m.%Y"),
                w.period_end.format("%d.%m.%Y"),
                if w.working_hours.is_empty() {
                    "–"
                } else {
                    &w.working_hours
                },
                closure,
                env.config.public_url(),
                unsubscribe_url(env, &token)
            ),
        };
        queue_tx(env, tx, &mail).await?;
        n += 1;
    }
    Ok(n)
}

/// Every subscription (staff), without tokens.
pub async fn list(env: &Env, who: &kern::Principal) -> Result<Vec<Subscription>> {
    crate::roadworks::require_staff(who)?;
    store::cityops::subscriptions(&env.db).await
}

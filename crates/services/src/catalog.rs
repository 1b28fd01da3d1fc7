//! The service catalog (Leistungskatalog): services with their LeiKa key, description,
//! required documents, fees, legal basis, processing time, how they can be used (online, in
//! person) and the responsible org unit; import from XZuFi 2.x and from our JSON, export as
//! JSON, and search.
//!
//! Reading is public. Writing needs an admin, the scope `services:write`, or a staff member of
//! the service's org unit; imports (which may create org units) need an admin or the scope.

use crate::search::{self, Terms};
use crate::xzufi;
use kern::error::Invalid;
use kern::{Error, Principal, Result, Role};
use platform::{Actor, Env, audit};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::Json;
use store::city::OrgUnit;

/// Format name written into every JSON export.
pub const EXPORT_FORMAT: &str = "stadtkern-services/1";

/// Largest accepted import file (bytes).
pub const MAX_IMPORT: usize = 20 * 1024 * 1024;

/// A service as it is entered or imported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceInput {
    pub leika: String,
    pub name: String,
    pub description: String,
    pub documents: Vec<String>,
    pub fee_text: String,
    /// A fixed fee in cents, if the service has one.
    pub fee_cents: Option<i64>,
    pub legal_basis: Vec<String>,
    pub processing_time: String,
    pub online: bool,
    pub in_person: bool,
    /// Key of the responsible org unit.
    pub org_unit: Option<String>,
    pub keywords: String,
    /// Length of an appointment in minutes (default 15).
    pub duration_min: Option<i64>,
}

/// An org unit as carried by an export or import.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrgUnitData {
    pub key: String,
    pub name: String,
    pub address: String,
    pub email: String,
    pub phone: String,
    pub opening_hours: String,
    pub accessibility: String,
}

impl From<&OrgUnit> for OrgUnitData {
    fn from(o: &OrgUnit) -> Self {
        OrgUnitData {
            key: o.key.clone(),
            name: o.name.clone(),
            address: o.address.clone(),
            email: o.email.clone(),
            phone: o.phone.clone(),
            opening_hours: o.opening_hours.clone(),
            accessibility: o.accessibility.clone(),
        }
    }
}

/// A service as the pages, the API and the export show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub id: i64,
    pub leika: String,
    pub name: String,
    pub description: String,
    pub documents: Vec<String>,
    pub fee_text: String,
    pub fee_cents: Option<i64>,
    pub legal_basis: Vec<String>,
    pub processing_time: String,
    pub online: bool,
    pub in_person: bool,
    pub keywords: String,
    pub duration_min: i64,
    pub org_unit: Option<OrgUnitData>,
    #[serde(skip)]
    pub org_unit_id: Option<i64>,
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub service: Service,
    pub score: f64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub org_units_created: usize,
}

fn view(row: store::services::Service, units: &[OrgUnit]) -> Service {
    let unit = row
        .org_unit_id
        .and_then(|id| units.iter().find(|u| u.id == id));
    Service {
        id: row.id,
        leika: row.leika,
        name: row.name,
        description: row.description,
        documents: row.documents.0,
        fee_text: row.fee_text,
        fee_cents: row.fee_cents,
        legal_basis: row.legal_basis.0,
        processing_time: row.processing_time,
        online: row.online,
        in_person: row.in_person,
        keywords: row.keywords,
        duration_min: row.duration_min,
        org_unit: unit.map(OrgUnitData::from),
        org_unit_id: row.org_unit_id,
    }
}

/// Whether the principal may change a service of this org unit.
pub fn may_edit(p: &Principal, org_unit_id: Option<i64>) -> bool {
    p.is_admin()
        || p.has_scope("services:write")
        || (p.has_role(Role::Staff) && org_unit_id.is_some_and(|o| p.in_org_unit(o)))
}

fn require_edit(actor: &Actor, org_unit_id: Option<i64>) -> Result<()> {
    if actor.is_system() || may_edit(&actor.principal, org_unit_id) {
        Ok(())
    } else if actor.principal.is_anonymous() {
        Err(Error::Unauthorized("Bitte melden Sie sich an.".into()))
    } else {
        Err(Error::forbidden(
            "Leistungen dieser Organisationseinheit dürfen Sie nicht bearbeiten.",
        ))
    }
}

fn require_import(actor: &Actor) -> Result<()> {
    let p = &actor.principal;
    if actor.is_system() || p.is_admin() || p.has_scope("services:write") {
        Ok(())
    } else if p.is_anonymous() {
        Err(Error::Unauthorized("Bitte melden Sie sich an.".into()))
    } else {
        Err(Error::forbidden(
            "Importe in den Leistungskatalog dürfen nur Administratorinnen und Administratoren.",
        ))
    }
}

fn validate(inv: &mut Invalid, prefix: &str, s: &ServiceInput) {
    let f = |name: &str| format!("{prefix}{name}");
    if !xzufi::validate_leika(s.leika.trim()) {
        inv.push(
            f("leika"),
            "Der LeiKa-Schlüssel besteht aus genau 14 Ziffern.",
        );
    }
    let n = s.name.trim().chars().count();
    if !(3..=200).contains(&n) {
        inv.push(f("name"), "Der Name muss 3 bis 200 Zeichen lang sein.");
    }
    if s.description.chars().count() > 20_000 {
        inv.push(
            f("description"),
            "Die Beschreibung ist zu lang (höchstens 20.000 Zeichen).",
        );
    }
    if s.documents.len() > 100 || s.documents.iter().any(|d| d.chars().count() > 500) {
        inv.push(
            f("documents"),
            "Höchstens 100 Unterlagen mit je höchstens 500 Zeichen.",
        );
    }
    if s.legal_basis.len() > 100 || s.legal_basis.iter().any(|d| d.chars().count() > 500) {
        inv.push(
            f("legal_basis"),
            "Höchstens 100 Rechtsgrundlagen mit je höchstens 500 Zeichen.",
        );
    }
    if s.fee_text.chars().count() > 2_000 {
        inv.push(
            f("fee_text"),
            "Der Gebührentext ist zu lang (höchstens 2.000 Zeichen).",
        );
    }
    if let Some(c) = s.fee_cents
        && !(0..=100_000_000).contains(&c)
    {
        inv.push(
            f("fee_cents"),
            "Die Gebühr muss zwischen 0 und 1.000.000 Euro liegen.",
        );
    }
    if s.processing_time.chars().count() > 500 {
        inv.push(
            f("processing_time"),
            "Die Bearbeitungsdauer ist zu lang (höchstens 500 Zeichen).",
        );
    }
    if s.keywords.chars().count() > 1_000 {
        inv.push(
            f("keywords"),
            "Die Suchbegriffe sind zu lang (höchstens 1.000 Zeichen).",
        );
    }
    if let Some(d) = s.duration_min
        && !(5..=240).contains(&d)
    {
        inv.push(
            f("duration_min"),
            "Die Termindauer muss zwischen 5 und 240 Minuten liegen.",
        );
    }
    if !s.online && !s.in_person {
        inv.push(
            f("in_person"),
            "Eine Leistung muss online oder vor Ort erreichbar sein.",
        );
    }
}

fn clean_list(v: &[String]) -> Vec<String> {
    v.iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn terms_of(s: &ServiceInput) -> String {
    let docs = s.documents.join(" ");
    let legal = s.legal_basis.join(" ");
    let t: Terms = search::index(
        &s.name,
        &format!("{} {}", s.keywords, s.leika),
        &[&s.description, &docs, &s.fee_text, &legal],
    );
    serde_json::to_string(&t).unwrap_or_default()
}

fn row_of(env: &Env, s: &ServiceInput, org_unit_id: Option<i64>) -> store::services::Service {
    let now = env.now();
    store::services::Service {
        id: 0,
        leika: s.leika.trim().into(),
        name: s.name.trim().into(),
        description: s.description.trim().into(),
        documents: Json(clean_list(&s.documents)),
        fee_text: s.fee_text.trim().into(),
        fee_cents: s.fee_cents,
        legal_basis: Json(clean_list(&s.legal_basis)),
        processing_time: s.processing_time.trim().into(),
        online: s.online,
        in_person: s.in_person,
        org_unit_id,
        keywords: s.keywords.trim().into(),
        duration_min: s.duration_min.unwrap_or(15),
        search_terms: terms_of(s),
        created_at: now,
        updated_at: now,
    }
}

async fn resolve_unit(env: &Env, key: &Option<String>) -> Result<Option<i64>> {
    match key.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(k) => match store::city::org_unit_by_key(&env.db, k).await? {
            Some(o) => Ok(Some(o.id)),
            None => Err(Error::invalid(
                "org_unit",
                format!("Die Organisationseinheit „{k}“ gibt es nicht."),
            )),
        },
    }
}

/// Creates a service.
pub async fn create(env: &Env, actor: &Actor, s: ServiceInput) -> Result<i64> {
    let mut inv = Invalid::new();
    validate(&mut inv, "", &s);
    let unit = match resolve_unit(env, &s.org_unit).await {
        Ok(u) => u,
        Err(Error::Invalid(i)) => {
            inv.problems.extend(i.problems);
            None
        }
        Err(e) => return Err(e),
    };
    require_edit(actor, unit)?;
    inv.into_result()?;
    let row = row_of(env, &s, unit);
    let mut tx = env.db.begin().await?;
    if store::services::service_by_leika(&mut tx, &row.leika)
        .await?
        .is_some()
    {
        return Err(Error::invalid(
            "leika",
            format!(
                "Eine Leistung mit dem LeiKa-Schlüssel {} gibt es schon.",
                row.leika
            ),
        ));
    }
    let id = store::services::insert_service(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.service.create",
        &format!("service:{id}"),
        json!({ "leika": row.leika, "name": row.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Changes a service (all fields).
pub async fn update(env: &Env, actor: &Actor, service_id: i64, s: ServiceInput) -> Result<()> {
    let old = store::services::service(&env.db, service_id)
        .await?
        .ok_or_else(|| Error::not_found("Diese Leistung gibt es nicht."))?;
    require_edit(actor, old.org_unit_id)?;
    let mut inv = Invalid::new();
    validate(&mut inv, "", &s);
    let unit = match resolve_unit(env, &s.org_unit).await {
        Ok(u) => u,
        Err(Error::Invalid(i)) => {
            inv.problems.extend(i.problems);
            None
        }
        Err(e) => return Err(e),
    };
    inv.into_result()?;
    // Moving a service to another org unit needs rights there too.
    require_edit(actor, unit)?;
    let mut row = row_of(env, &s, unit);
    row.id = service_id;
    row.created_at = old.created_at;
    let mut tx = env.db.begin().await?;
    if let Some(other) = store::services::service_by_leika(&mut tx, &row.leika).await?
        && other.id != service_id
    {
        return Err(Error::invalid(
            "leika",
            format!(
                "Eine Leistung mit dem LeiKa-Schlüssel {} gibt es schon.",
                row.leika
            ),
        ));
    }
    store::services::update_service(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.service.update",
        &format!("service:{service_id}"),
        json!({ "leika": row.leika, "name": row.name }),
    )
    .await?;
    tx.commit().await
}

/// Deletes a service.
pub async fn delete(env: &Env, actor: &Actor, service_id: i64) -> Result<()> {
    let old = store::services::service(&env.db, service_id)
        .await?
        .ok_or_else(|| Error::not_found("Diese Leistung gibt es nicht."))?;
    require_edit(actor, old.org_unit_id)?;
    let mut tx = env.db.begin().await?;
    store::services::delete_service(&mut tx, service_id).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.service.delete",
        &format!("service:{service_id}"),
        json!({ "leika": old.leika, "name": old.name }),
    )
    .await?;
    tx.commit().await
}

/// Every service, by name (public).
pub async fn list(env: &Env) -> Result<Vec<Service>> {
    let units = store::city::org_units(&env.db).await?;
    Ok(store::services::services(&env.db)
        .await?
        .into_iter()
        .map(|r| view(r, &units))
        .collect())
}

/// One service (public).
pub async fn get(env: &Env, service_id: i64) -> Result<Service> {
    let row = store::services::service(&env.db, service_id)
        .await?
        .ok_or_else(|| Error::not_found("Diese Leistung gibt es nicht."))?;
    let units = store::city::org_units(&env.db).await?;
    Ok(view(row, &units))
}

/// Searches the catalog; at most `limit` results, best first. A query longer than 200
/// characters is refused.
pub async fn search(env: &Env, query: &str, limit: usize) -> Result<Vec<Hit>> {
    if query.chars().count() > 200 {
        return Err(Error::invalid(
            "q",
            "Der Suchbegriff ist zu lang (höchstens 200 Zeichen).",
        ));
    }
    let rows = store::services::services(&env.db).await?;
    let terms: Vec<Terms> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.search_terms).unwrap_or_default())
        .collect();
    let refs: Vec<&Terms> = terms.iter().collect();
    let ranked = search::rank(query, &refs);
    let units = store::city::org_units(&env.db).await?;
    let mut rows: Vec<Option<store::services::Service>> = rows.into_iter().map(Some).collect();
    Ok(ranked
        .into_iter()
        .take(limit)
        .filter_map(|(i, score)| {
            rows[i].take().map(|r| Hit {
                service: view(r, &units),
                score,
            })
        })
        .collect())
}

/// The whole catalog as JSON (the format [`import_json`] reads).
pub async fn export(env: &Env) -> Result<serde_json::Value> {
    let services = list(env).await?;
    let units: Vec<OrgUnitData> = {
        let mut seen = std::collections::BTreeMap::new();
        for s in &services {
            if let Some(u) = &s.org_unit {
                seen.entry(u.key.clone()).or_insert_with(|| u.clone());
            }
        }
        seen.into_values().collect()
    };
    let items: Vec<ServiceInput> = services
        .into_iter()
        .map(|s| ServiceInput {
            leika: s.leika,
            name: s.name,
            description: s.description,
            documents: s.documents,
            fee_text: s.fee_text,
            fee_cents: s.fee_cents,
            legal_basis: s.legal_basis,
            processing_time: s.processing_time,
            online: s.online,
            in_person: s.in_person,
            org_unit: s.org_unit.map(|u| u.key),
            keywords: s.keywords,
            duration_min: Some(s.duration_min),
        })
        .collect();
    Ok(json!({ "format": EXPORT_FORMAT, "org_units": units, "services": items }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportDoc {
    format: String,
    #[serde(default)]
    org_units: Vec<OrgUnitData>,
    services: Vec<ServiceInput>,
}

fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.to_lowercase().chars() {
        match c {
            'ä' => s.push_str("ae"),
            'ö' => s.push_str("oe"),
            'ü' => s.push_str("ue"),
            'ß' => s.push_str("ss"),
            c if c.is_ascii_alphanumeric() => s.push(c),
            _ if !s.ends_with('-') && !s.is_empty() => s.push('-'),
            _ => {}
        }
    }
    s.trim_end_matches('-').chars().take(60).collect()
}

/// Stores the services of an import in one transaction: new LeiKa keys are created, known ones
/// overwritten; unknown org units are created from the import's data.
async fn apply(
    env: &Env,
    actor: &Actor,
    source: &str,
    units: Vec<OrgUnitData>,
    items: Vec<ServiceInput>,
) -> Result<ImportReport> {
    require_import(actor)?;
    let mut inv = Invalid::new();
    if items.is_empty() {
        inv.push("file", "Die Datei enthält keine Leistung.");
    }
    if items.len() > 10_000 {
        inv.push("file", "Höchstens 10.000 Leistungen je Import.");
    }
    let mut keys = std::collections::BTreeSet::new();
    for (i, s) in items.iter().enumerate() {
        let mut one = Invalid::new();
        validate(&mut one, "", s);
        for p in one.problems {
            inv.push(
                "file",
                format!(
                    "Leistung {} ({}): {}",
                    i + 1,
                    if s.name.trim().is_empty() {
                        s.leika.trim()
                    } else {
                        s.name.trim()
                    },
                    p.message
                ),
            );
        }
        if !keys.insert(s.leika.trim().to_string()) {
            inv.push(
                "file",
                format!(
                    "Leistung {}: der LeiKa-Schlüssel {} kommt mehrfach vor.",
                    i + 1,
                    s.leika.trim()
                ),
            );
        }
    }
    for u in &units {
        if u.key.trim().is_empty() || u.name.trim().is_empty() {
            inv.push(
                "file",
                "Jede Organisationseinheit braucht einen Schlüssel und einen Namen.",
            );
        }
    }
    inv.into_result()?;
    let mut report = ImportReport::default();
    let mut tx = env.db.begin().await?;
    let existing = store::city::org_units(&env.db).await?;
    let mut unit_ids: std::collections::BTreeMap<String, i64> =
        existing.iter().map(|o| (o.key.clone(), o.id)).collect();
    for u in &units {
        let key = u.key.trim().to_string();
        if unit_ids.contains_key(&key) {
            continue;
        }
        let id = store::city::upsert_org_unit(
            &mut tx,
            &OrgUnit {
                id: 0,
                key: key.clone(),
                name: u.name.trim().into(),
                parent_id: None,
                address: u.address.trim().into(),
                email: u.email.trim().into(),
                phone: u.phone.trim().into(),
                opening_hours: u.opening_hours.trim().into(),
                accessibility: u.accessibility.trim().into(),
            },
        )
        .await?;
        unit_ids.insert(key, id);
        report.org_units_created += 1;
    }
    let mut problems = Invalid::new();
    for (i, s) in items.iter().enumerate() {
        let unit = match s.org_unit.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(k) => match unit_ids.get(k) {
                Some(id) => Some(*id),
                None => {
                    problems.push(
                        "file",
                        format!(
                            "Leistung {}: die Organisationseinheit „{k}“ gibt es nicht.",
                            i + 1
                        ),
                    );
                    continue;
                }
            },
        };
        let mut row = row_of(env, s, unit);
        match store::services::service_by_leika(&mut tx, &row.leika).await? {
            Some(old) => {
                row.id = old.id;
                row.created_at = old.created_at;
                store::services::update_service(&mut tx, &row).await?;
                report.updated += 1;
            }
            None => {
                store::services::insert_service(&mut tx, &row).await?;
                report.created += 1;
            }
        }
    }
    // Nothing of a faulty import is kept: the transaction is dropped uncommitted.
    problems.into_result()?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.catalog.import",
        "services",
        json!({ "source": source, "created": report.created, "updated": report.updated,
                "org_units_created": report.org_units_created }),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// Imports our JSON export format.
pub async fn import_json(env: &Env, actor: &Actor, bytes: &[u8]) -> Result<ImportReport> {
    require_import(actor)?;
    if bytes.len() > MAX_IMPORT {
        return Err(Error::TooLarge(
            "Die Datei ist zu groß (höchstens 20 MiB).".into(),
        ));
    }
    let doc: ExportDoc = serde_json::from_slice(bytes).map_err(|e| {
        Error::invalid(
            "file",
            format!(
                "Die Datei ist kein gültiger Leistungskatalog im JSON-Format (Zeile {}, Spalte {}): {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    if doc.format != EXPORT_FORMAT {
        return Err(Error::invalid(
            "file",
            format!(
                "Unbekanntes Format „{}“; erwartet wird „{EXPORT_FORMAT}“.",
                doc.format
            ),
        ));
    }
    apply(env, actor, "json", doc.org_units, doc.services).await
}

/// Imports service descriptions from an XZuFi 2.x message.
pub async fn import_xzufi(env: &Env, actor: &Actor, bytes: &[u8]) -> Result<ImportReport> {
    require_import(actor)?;
    if bytes.len() > MAX_IMPORT {
        return Err(Error::TooLarge(
            "Die Datei ist zu groß (höchstens 20 MiB).".into(),
        ));
    }
    let imported = xzufi::parse(bytes).map_err(|e| Error::invalid("file", e.to_string()))?;
    let existing = store::city::org_units(&env.db).await?;
    let mut units: Vec<OrgUnitData> = Vec::new();
    let mut items = Vec::new();
    for s in imported {
        let unit_key = s.org_unit.as_ref().map(|o| {
            // A known unit by name keeps its key; otherwise the import's key or a slug.
            if let Some(e) = existing.iter().find(|e| e.name == o.name.trim()) {
                e.key.clone()
            } else if !o.key.trim().is_empty() {
                o.key.trim().to_string()
            } else {
                slug(&o.name)
            }
        });
        if let (Some(o), Some(k)) = (&s.org_unit, &unit_key)
            && !existing.iter().any(|e| &e.key == k)
            && !units.iter().any(|u| &u.key == k)
        {
            units.push(OrgUnitData {
                key: k.clone(),
                name: o.name.trim().into(),
                address: o.address.clone(),
                email: o.email.clone(),
                phone: o.phone.clone(),
                opening_hours: o.opening_hours.clone(),
                accessibility: String::new(),
            });
        }
        items.push(ServiceInput {
            leika: s.leika,
            name: s.name,
            description: s.description,
            documents: s.documents,
            fee_text: s.fee_text,
            fee_cents: s.fee_cents,
            legal_basis: s.legal_basis,
            processing_time: s.processing_time,
            online: s.online,
            in_person: s.in_person || !s.online,
            org_unit: unit_key,
            keywords: String::new(),
            duration_min: None,
        });
    }
    apply(env, actor, "xzufi", units, items).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(
            super::slug("Bürgerbüro Süd – Hörde"),
            "buergerbuero-sued-hoerde"
        );
    }
}

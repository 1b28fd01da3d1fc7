//! Online applications and the case file (eAkte).
//!
//! A service can carry an online form ([`crate::forms`]). A resident fills it in (signed in, with
//! a saved draft, or without account), attaches documents and submits: a case opens with a
//! reference (`A-…`) and, for following it without account, a secret that is shown once and
//! mailed, and stored only as a hash. The receipt (PDF with the submitted data) goes into the
//! case file; when the service has a fee, an invoice is issued ([`crate::payments`]).
//!
//! Staff of the responsible org unit work the case: assign it, move it through the workflow
//! `received → in_review ⇄ missing_documents → decided → closed`, keep notes (internal), write
//! messages (the resident sees them and gets an e-mail), add documents (every upload to the same
//! slot is a new version; old versions stay), set deadlines (reminders by e-mail) and decide (a
//! decision PDF). Every action is in the hash-chained audit log. A closed case is deleted when
//! the retention period of its service ends; before that it can be exported as an XDOMEA
//! archive message ([`crate::xdomea`]).
//!
//! Who sees what: the applicant (their account, or reference plus secret), staff of the case's
//! org unit, admins. Anyone else gets "not found", so references cannot be probed.

use crate::appointments::random_text;
use crate::forms::{FieldError, FormDef, Text};
use crate::payments::euro;
use crate::pdf;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use kern::error::Invalid;
use kern::{Error, Principal, Result, Role};
use platform::{Actor, Env, audit, mail};
use serde::Serialize;
use serde_json::{Value, json};
use store::Json;
use store::cases::{Case, CaseEvent, DocumentMeta, Form, NewDocument};

/// Workflow states in their order.
pub const STATES: [&str; 5] = crate::forms::CASE_STATES;

/// Longest a retention period may be (30 years), in days.
pub const MAX_RETENTION_DAYS: i64 = 30 * 366;

/// A file a resident or staff member uploads.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The attachment name of the form (or a staff slot).
    pub name: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// What is submitted.
#[derive(Debug, Clone, Default)]
pub struct Application {
    pub service_id: i64,
    pub applicant_name: String,
    pub applicant_email: String,
    /// The form data (typed JSON, see [`FormDef::read_submission`]).
    pub data: Value,
    pub attachments: Vec<Upload>,
}

/// A submitted application: the case, the secret for following it (shown once) and the
/// invoice when the service has a fee.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub case: Case,
    pub secret: String,
    pub invoice: Option<store::cases::Invoice>,
}

/// A case with everything a viewer may see of it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    pub id: i64,
    pub reference: String,
    pub service_id: i64,
    pub service_name: String,
    pub status: String,
    /// The service's own name of the state (its workflow's label), if it gives one.
    pub status_text: Option<Text>,
    /// The states staff may set next with [`set_status`] (decision and closing aside).
    pub next_states: Vec<StateChoice>,
    pub applicant_name: String,
    pub applicant_email: String,
    pub assisted: bool,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub deadline: Option<String>,
    pub fee_cents: Option<i64>,
    pub decision: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub delete_after: Option<DateTime<Utc>>,
    /// Label and value of every answer, in form order.
    pub answers: Vec<(String, String)>,
    pub documents: Vec<DocumentView>,
    pub events: Vec<EventView>,
    pub invoices: Vec<crate::payments::InvoiceView>,
    /// Whether the viewer works the case (staff view).
    pub staff: bool,
}

/// A state staff can move a case to, with the service's own name of it.
#[derive(Debug, Clone, Serialize)]
pub struct StateChoice {
    pub state: String,
    pub text: Option<Text>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentView {
    pub id: i64,
    pub slot: String,
    pub title: String,
    pub version: i64,
    pub file_name: String,
    pub media_type: String,
    pub size: i64,
    pub public: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub body: String,
    pub public: bool,
}

fn not_found() -> Error {
    Error::not_found("Diesen Vorgang gibt es nicht oder Sie dürfen ihn nicht sehen.")
}

/// German text of a form error (for API answers and logs; pages translate the key).
pub fn german(e: &FieldError) -> String {
    let arg = e.arg.clone().unwrap_or_default();
    match e.key {
        "form-error-required" => "Bitte füllen Sie dieses Feld aus.".into(),
        "form-error-type-integer" => "Bitte geben Sie eine ganze Zahl ein.".into(),
        "form-error-type-number" => "Bitte geben Sie eine Zahl ein.".into(),
        "form-error-type-boolean" => "Bitte wählen Sie Ja oder Nein.".into(),
        "form-error-min-length" => format!("Bitte geben Sie mindestens {arg} Zeichen ein."),
        "form-error-max-length" => format!("Bitte geben Sie höchstens {arg} Zeichen ein."),
        "form-error-pattern" => "Die Eingabe hat nicht das erwartete Format.".into(),
        "form-error-minimum" => format!("Der Wert muss mindestens {arg} sein."),
        "form-error-maximum" => format!("Der Wert darf höchstens {arg} sein."),
        "form-error-enum" => "Bitte wählen Sie einen der angebotenen Werte.".into(),
        "form-error-format-date" => "Bitte geben Sie ein Datum ein (TT.MM.JJJJ).".into(),
        "form-error-format-email" => "Bitte geben Sie eine gültige E-Mail-Adresse ein.".into(),
        "form-error-format-iban" => "Diese IBAN ist nicht gültig.".into(),
        "form-error-attachment-missing" => "Bitte laden Sie dieses Dokument hoch.".into(),
        "form-error-attachment-type" => format!("Erlaubt sind nur diese Dateitypen: {arg}."),
        "form-error-attachment-size" => format!("Die Datei ist zu groß (höchstens {arg} MB)."),
        "form-error-attachment-empty" => "Die Datei ist leer.".into(),
        "form-error-unknown-field" => "Dieses Feld gibt es im Formular nicht.".into(),
        other => other.to_string(),
    }
}

fn invalid_of(errors: &[FieldError]) -> Error {
    let mut inv = Invalid::new();
    for e in errors {
        inv.push(e.field.clone(), german(e));
    }
    Error::Invalid(inv)
}

/// The German label of a form's attachment slot (its name when the form has no such slot).
fn attachment_title(def: &FormDef, name: &str) -> String {
    def.attachments
        .iter()
        .find(|a| a.name == name)
        .map_or_else(|| name.to_string(), |a| a.label.de.clone())
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// Whether the principal works cases of this org unit.
pub fn may_work(p: &Principal, org_unit_id: Option<i64>) -> bool {
    p.is_admin() || (p.has_role(Role::Staff) && org_unit_id.is_some_and(|o| p.in_org_unit(o)))
}

fn require_work(actor: &Actor, c: &Case) -> Result<()> {
    if actor.is_system() || may_work(&actor.principal, c.org_unit_id) {
        Ok(())
    } else {
        Err(not_found())
    }
}

// ---- forms ----

/// The online form of a service with its parsed definition.
pub async fn form_of(env: &Env, service_id: i64) -> Result<Option<(Form, FormDef)>> {
    let Some(f) = store::cases::form(&env.db, service_id).await? else {
        return Ok(None);
    };
    let def = FormDef::parse(&f.definition.0).map_err(|p| {
        Error::Internal(format!(
            "stored form of service {service_id} no longer parses: {}",
            p.join("; ")
        ))
    })?;
    Ok(Some((f, def)))
}

/// Sets (or replaces) the online form of a service; staff of its org unit, admins or the scope
/// `services:write`.
pub async fn set_form(
    env: &Env,
    actor: &Actor,
    service_id: i64,
    definition: &Value,
    retention_days: i64,
) -> Result<Form> {
    let s = crate::catalog::get(env, service_id).await?;
    if !(actor.is_system() || crate::catalog::may_edit(&actor.principal, s.org_unit_id)) {
        return Err(Error::forbidden(
            "Diese Leistung gehört nicht zu Ihrer Organisationseinheit.",
        ));
    }
    let mut inv = Invalid::new();
    if let Err(problems) = FormDef::parse(definition) {
        for p in problems {
            inv.push("definition", p);
        }
    }
    if !(1..=MAX_RETENTION_DAYS).contains(&retention_days) {
        inv.push(
            "retention_days",
            format!(
                "Die Aufbewahrungsfrist muss zwischen 1 und {MAX_RETENTION_DAYS} Tagen liegen."
            ),
        );
    }
    inv.into_result()?;
    let mut tx = env.db.begin().await?;
    let f =
        store::cases::put_form(&mut tx, service_id, definition, retention_days, env.now()).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.form.set",
        &format!("service:{service_id}"),
        json!({ "version": f.version, "retention_days": retention_days }),
    )
    .await?;
    tx.commit().await?;
    Ok(f)
}

// ---- drafts ----

/// Saves what a signed-in resident typed so far (unvalidated; one draft per service).
pub async fn save_draft(env: &Env, actor: &Actor, service_id: i64, data: &Value) -> Result<()> {
    let Some(user_id) = actor.user_id() else {
        return Err(Error::Unauthorized(
            "Entwürfe können Sie speichern, wenn Sie angemeldet sind.".into(),
        ));
    };
    if form_of(env, service_id).await?.is_none() {
        return Err(Error::not_found(
            "Für diese Leistung gibt es kein Online-Formular.",
        ));
    }
    if serde_json::to_vec(data).map_or(0, |v| v.len()) > 256 * 1024 {
        return Err(Error::invalid("data", "Der Entwurf ist zu groß."));
    }
    let mut tx = env.db.begin().await?;
    store::cases::put_draft(&mut tx, service_id, user_id, data, env.now()).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn draft(env: &Env, actor: &Actor, service_id: i64) -> Result<Option<Value>> {
    match actor.user_id() {
        Some(u) => Ok(store::cases::draft(&env.db, service_id, u)
            .await?
            .map(|d| d.data.0)),
        None => Ok(None),
    }
}

pub async fn discard_draft(env: &Env, actor: &Actor, service_id: i64) -> Result<()> {
    if let Some(u) = actor.user_id() {
        let mut tx = env.db.begin().await?;
        store::cases::delete_draft(&mut tx, service_id, u).await?;
        tx.commit().await?;
    }
    Ok(())
}

// ---- submission ----

/// Checks an application against its form: the data, the attachments and the contact.
pub fn check(def: &FormDef, app: &Application, assisted: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if app.applicant_name.trim().is_empty() {
        errors.push(FieldError {
            field: "applicant_name".into(),
            key: "form-error-required",
            arg: None,
        });
    }
    let email = app.applicant_email.trim();
    if email.is_empty() && !assisted {
        errors.push(FieldError {
            field: "applicant_email".into(),
            key: "form-error-required",
            arg: None,
        });
    } else if !email.is_empty() && !platform::accounts::valid_email(email) {
        errors.push(FieldError {
            field: "applicant_email".into(),
            key: "form-error-format-email",
            arg: None,
        });
    }
    errors.extend(def.validate(&app.data));
    let mut present = Vec::new();
    for u in &app.attachments {
        match def.check_attachment(&u.name, &u.file_name, &u.bytes) {
            Ok(_) => present.push(u.name.clone()),
            Err(e) => errors.push(e),
        }
    }
    errors.extend(def.missing_attachments(&present));
    errors
}

fn confirmation_mail(c: &Case, service: &str, secret: &str, url: &str) -> mail::Mail {
    mail::Mail {
        to: c.applicant_email.clone(),
        subject: format!("Ihr Antrag {} ist eingegangen", c.reference),
        text: format!(
            "Guten Tag {},\n\nIhr Antrag „{service}“ ist bei uns eingegangen.\n\nVorgangsnummer: {}\nZugangscode: {secret}\n\nDen Stand Ihres Antrags sehen Sie in Ihrem Konto oder auf {url}/antraege mit Vorgangsnummer und Zugangscode. Geben Sie den Code nicht weiter.\n",
            c.applicant_name, c.reference,
        ),
    }
}

/// Files an application and opens its case. Signed-in residents file for themselves; staff of
/// the service's org unit file on a resident's behalf (assisted service, recorded as such; the
/// e-mail address is then optional). Invalid data, a wrong file or a missing attachment writes
/// nothing.
pub async fn submit(env: &Env, actor: &Actor, app: Application) -> Result<Submitted> {
    let service = crate::catalog::get(env, app.service_id).await?;
    let (form, def) = form_of(env, app.service_id)
        .await?
        .ok_or_else(|| Error::not_found("Für diese Leistung gibt es kein Online-Formular."))?;
    let assisted = !actor.principal.is_anonymous()
        && actor.principal.has_role(Role::Staff)
        && may_work(&actor.principal, service.org_unit_id);
    let errors = check(&def, &app, assisted);
    if !errors.is_empty() {
        return Err(invalid_of(&errors));
    }
    let now = env.now();
    let secret = random_text(env, 10);
    let fee = def.fee_cents(&app.data).filter(|c| *c > 0);
    let retention = form.retention_days;
    let deadline = def.processing_days().map(|days| {
        (now.with_timezone(&chrono_tz::Europe::Berlin).date_naive()
            + chrono::Duration::days(i64::from(days)))
        .format("%Y-%m-%d")
        .to_string()
    });
    let mut c = Case {
        id: 0,
        reference: format!("A-{}", random_text(env, 8)),
        secret_hash: kern::secret::digest(&secret),
        service_id: service.id,
        org_unit_id: service.org_unit_id,
        user_id: actor.user_id().filter(|_| !assisted),
        assisted_by: actor.user_id().filter(|_| assisted),
        applicant_name: app.applicant_name.trim().into(),
        applicant_email: app.applicant_email.trim().into(),
        data: Json(app.data.clone()),
        status: "received".into(),
        assignee_id: None,
        deadline,
        deadline_reminded: false,
        fee_cents: fee,
        decision: None,
        decided_at: None,
        closed_at: None,
        delete_after: None,
        created_at: now,
        updated_at: now,
    };
    let by = actor.label();
    let mut tx = env.db.begin().await?;
    c.id = store::cases::insert_case(&mut tx, &c).await?;
    for u in &app.attachments {
        let media = def
            .check_attachment(&u.name, &u.file_name, &u.bytes)
            .map_err(|e| invalid_of(&[e]))?;
        let title = attachment_title(&def, &u.name);
        store::cases::insert_document(
            &mut tx,
            &NewDocument {
                case_id: c.id,
                slot: &u.name,
                title: &title,
                file_name: &safe_file_name(&u.file_name),
                media_type: &media,
                content: &u.bytes,
                sha256: &sha256_hex(&u.bytes),
                public: true,
                created_by: &by,
            },
            now,
        )
        .await?;
    }
    let receipt = receipt_pdf(env, &c, &service.name, &def, &app, now);
    store::cases::insert_document(
        &mut tx,
        &NewDocument {
            case_id: c.id,
            slot: "receipt",
            title: "Eingangsbestätigung",
            file_name: &format!("Eingangsbestaetigung-{}.pdf", c.reference),
            media_type: "application/pdf",
            content: &receipt,
            sha256: &sha256_hex(&receipt),
            public: true,
            created_by: "Stadtkern",
        },
        now,
    )
    .await?;
    let body = if assisted {
        format!("Antrag im Bürgerbüro für die antragstellende Person erfasst von {by}.")
    } else {
        "Antrag online eingereicht.".to_string()
    };
    store::cases::insert_event(&mut tx, c.id, now, &by, "submitted", &body, true).await?;
    let invoice = match fee {
        Some(cents) => Some(crate::payments::issue_invoice(env, &mut tx, &c, cents).await?),
        None => None,
    };
    if !c.applicant_email.is_empty() {
        mail::queue_tx(
            env,
            &mut tx,
            &confirmation_mail(&c, &service.name, &secret, &env.config.public_url()),
        )
        .await?;
    }
    if let Some(u) = actor.user_id().filter(|_| !assisted) {
        store::cases::delete_draft(&mut tx, service.id, u).await?;
    }
    audit::record_tx(
        env,
        &mut tx,
        actor,
        if assisted {
            "services.case.submit_assisted"
        } else {
            "services.case.submit"
        },
        &format!("case:{}", c.id),
        json!({ "service_id": service.id, "form_version": form.version, "attachments": app.attachments.len(), "fee_cents": fee, "retention_days": retention }),
    )
    .await?;
    tx.commit().await?;
    Ok(Submitted {
        case: c,
        secret,
        invoice,
    })
}

fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '|' | ':' | '*' | '?'))
        .take(120)
        .collect();
    if clean.trim().is_empty() {
        "datei".into()
    } else {
        clean
    }
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::Berlin)
        .format("%d.%m.%Y %H:%M")
        .to_string()
}

fn receipt_pdf(
    env: &Env,
    c: &Case,
    service: &str,
    def: &FormDef,
    app: &Application,
    now: DateTime<Utc>,
) -> Vec<u8> {
    let mut head = vec![
        ("Vorgangsnummer".to_string(), c.reference.clone()),
        ("Leistung".into(), service.to_string()),
        ("Eingegangen am".into(), local(now)),
        ("Antragstellende Person".into(), c.applicant_name.clone()),
    ];
    if !c.applicant_email.is_empty() {
        head.push(("E-Mail".into(), c.applicant_email.clone()));
    }
    if c.assisted_by.is_some() {
        head.push((
            "Erfasst".into(),
            "im Bürgerbüro (assistierte Antragstellung)".into(),
        ));
    }
    if let Some(f) = c.fee_cents {
        head.push(("Gebühr".into(), euro(f)));
    }
    let mut blocks = vec![
        pdf::Block::Heading(format!("Eingangsbestätigung – {service}")),
        pdf::Block::Paragraph(format!(
            "{} bestätigt den Eingang Ihres Antrags. Bitte geben Sie bei Rückfragen die Vorgangsnummer an.",
            env.config.city.name
        )),
        pdf::Block::Fields(head),
        pdf::Block::Rule,
        pdf::Block::Heading("Ihre Angaben".into()),
        pdf::Block::Fields(def.summary(&app.data, "de")),
    ];
    if !app.attachments.is_empty() {
        blocks.push(pdf::Block::Heading("Beigefügte Dokumente".into()));
        blocks.push(pdf::Block::Fields(
            app.attachments
                .iter()
                .map(|u| {
                    (
                        attachment_title(def, &u.name),
                        format!(
                            "{} ({} KB)",
                            safe_file_name(&u.file_name),
                            u.bytes.len().div_ceil(1024)
                        ),
                    )
                })
                .collect(),
        ));
    }
    pdf::render(
        &pdf::Document {
            title: format!("Eingangsbestätigung {}", c.reference),
            author: env.config.city.name.clone(),
            lang: "de".into(),
            blocks,
        },
        now,
    )
}

// ---- reading ----

async fn load(env: &Env, case_id: i64) -> Result<Case> {
    store::cases::case(&env.db, case_id)
        .await?
        .ok_or_else(not_found)
}

/// A case as seen by a signed-in person: the applicant (public parts) or staff of its org unit
/// (everything).
pub async fn view(env: &Env, actor: &Actor, case_id: i64) -> Result<CaseView> {
    if actor.principal.is_anonymous() && !actor.is_system() {
        return Err(Error::Unauthorized("Bitte melden Sie sich an.".into()));
    }
    let c = load(env, case_id).await?;
    if actor.is_system() || may_work(&actor.principal, c.org_unit_id) {
        build_view(env, c, true).await
    } else if actor.user_id().is_some() && c.user_id == actor.user_id() {
        build_view(env, c, false).await
    } else if actor.principal.is_anonymous() {
        Err(Error::Unauthorized("Bitte melden Sie sich an.".into()))
    } else {
        Err(not_found())
    }
}

/// The case of a reference and secret (anonymous status check), public parts only. Wrong
/// codes are throttled per reference and per address (see `platform::sessions`).
pub async fn view_with_secret(
    env: &Env,
    actor: &Actor,
    reference: &str,
    secret: &str,
) -> Result<CaseView> {
    let c = by_secret(env, actor, reference, secret).await?;
    build_view(env, c, false).await
}

async fn by_secret(env: &Env, actor: &Actor, reference: &str, secret: &str) -> Result<Case> {
    let wrong = || {
        Error::not_found("Zu dieser Vorgangsnummer und diesem Zugangscode gibt es keinen Antrag.")
    };
    let reference = reference.trim().to_uppercase();
    let check =
        platform::sessions::begin_code_check(env, actor, &format!("case:{reference}")).await?;
    let mut tx = env.db.begin().await?;
    let c = store::cases::case_by_reference(&mut tx, &reference).await?;
    tx.commit().await?;
    let c = c.ok_or_else(wrong)?;
    if !kern::secret::eq(
        &c.secret_hash,
        &kern::secret::digest(&secret.trim().to_uppercase()),
    ) {
        return Err(wrong());
    }
    platform::sessions::code_check_passed(env, check).await?;
    Ok(c)
}

async fn build_view(env: &Env, c: Case, staff: bool) -> Result<CaseView> {
    let service = crate::catalog::get(env, c.service_id).await?;
    let def = form_of(env, c.service_id).await?.map(|(_, d)| d);
    let answers = match &def {
        Some(def) => def.summary(&c.data.0, "de"),
        None => Vec::new(),
    };
    let status_text = def.as_ref().and_then(|d| d.state_text(&c.status)).cloned();
    let next_states = STATES
        .iter()
        .filter(|to| may_move(&c.status, to) && def.as_ref().is_none_or(|d| d.uses_state(to)))
        .map(|to| StateChoice {
            state: to.to_string(),
            text: def.as_ref().and_then(|d| d.state_text(to)).cloned(),
        })
        .collect();
    let documents = store::cases::documents(&env.db, c.id)
        .await?
        .into_iter()
        .filter(|d| staff || d.public)
        .map(doc_view)
        .collect();
    let events = store::cases::events(&env.db, c.id)
        .await?
        .into_iter()
        .filter(|e| staff || e.public)
        .map(|e: CaseEvent| EventView {
            at: e.at,
            actor: if staff || e.kind == "reply" || e.kind == "submitted" {
                e.actor
            } else {
                env.config.city.name.clone()
            },
            kind: e.kind,
            body: e.body,
            public: e.public,
        })
        .collect();
    let assignee_name = match c.assignee_id {
        Some(a) if staff => store::accounts::user_by_id(&env.db, a)
            .await?
            .map(|u| u.display_name),
        _ => None,
    };
    let invoices = crate::payments::invoices_view(env, c.id).await?;
    Ok(CaseView {
        id: c.id,
        reference: c.reference,
        service_id: c.service_id,
        service_name: service.name,
        status: c.status,
        status_text,
        next_states,
        applicant_name: c.applicant_name,
        applicant_email: c.applicant_email,
        assisted: c.assisted_by.is_some(),
        assignee_id: c.assignee_id.filter(|_| staff),
        assignee_name,
        deadline: c.deadline.filter(|_| staff),
        fee_cents: c.fee_cents,
        decision: c.decision,
        created_at: c.created_at,
        updated_at: c.updated_at,
        closed_at: c.closed_at,
        delete_after: c.delete_after,
        answers,
        documents,
        events,
        invoices,
        staff,
    })
}

fn doc_view(d: DocumentMeta) -> DocumentView {
    DocumentView {
        id: d.id,
        slot: d.slot,
        title: d.title,
        version: d.version,
        file_name: d.file_name,
        media_type: d.media_type,
        size: d.size,
        public: d.public,
        created_by: d.created_by,
        created_at: d.created_at,
    }
}

/// A short line of a case for lists.
#[derive(Debug, Clone, Serialize)]
pub struct CaseLine {
    pub id: i64,
    pub reference: String,
    pub service_name: String,
    pub status: String,
    pub applicant_name: String,
    pub assignee_id: Option<i64>,
    pub deadline: Option<String>,
    pub assisted: bool,
    pub created_at: DateTime<Utc>,
}

async fn lines(env: &Env, cases: Vec<Case>) -> Result<Vec<CaseLine>> {
    let names: std::collections::HashMap<i64, String> = store::services::services(&env.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    Ok(cases
        .into_iter()
        .map(|c| CaseLine {
            id: c.id,
            service_name: names.get(&c.service_id).cloned().unwrap_or_default(),
            reference: c.reference,
            status: c.status,
            applicant_name: c.applicant_name,
            assignee_id: c.assignee_id,
            deadline: c.deadline,
            assisted: c.assisted_by.is_some(),
            created_at: c.created_at,
        })
        .collect())
}

/// The signed-in resident's own applications.
pub async fn mine(env: &Env, actor: &Actor) -> Result<Vec<CaseLine>> {
    let Some(u) = actor.user_id() else {
        return Err(Error::Unauthorized("Bitte melden Sie sich an.".into()));
    };
    lines(env, store::cases::cases_of_user(&env.db, u).await?).await
}

/// The cases of the org units a staff member works for (admins: all), optionally one state.
pub async fn inbox(env: &Env, actor: &Actor, status: Option<&str>) -> Result<Vec<CaseLine>> {
    let p = &actor.principal;
    let cases = if p.is_admin() || actor.is_system() {
        store::cases::cases_of_org_units(&env.db, None).await?
    } else if p.has_role(Role::Staff) {
        let ous = p.user().map(|u| u.org_units.clone()).unwrap_or_default();
        store::cases::cases_of_org_units(&env.db, Some(&ous)).await?
    } else if p.is_anonymous() {
        return Err(Error::Unauthorized("Bitte melden Sie sich an.".into()));
    } else {
        return Err(Error::forbidden("Vorgänge bearbeiten nur Mitarbeitende."));
    };
    let cases = cases
        .into_iter()
        .filter(|c| status.is_none_or(|s| c.status == s))
        .collect();
    lines(env, cases).await
}

/// A document version for download, if the viewer may see it.
pub async fn document(
    env: &Env,
    actor: &Actor,
    case_id: i64,
    document_id: i64,
) -> Result<store::cases::Document> {
    let c = load(env, case_id).await?;
    let staff = actor.is_system() || may_work(&actor.principal, c.org_unit_id);
    let own = actor.user_id().is_some() && c.user_id == actor.user_id();
    if !(staff || own) {
        return Err(not_found());
    }
    let d = store::cases::document(&env.db, document_id)
        .await?
        .filter(|d| d.meta.case_id == c.id && (staff || d.meta.public))
        .ok_or_else(|| Error::not_found("Dieses Dokument gibt es nicht."))?;
    Ok(d)
}

/// A document of a case reached with reference and secret.
pub async fn document_with_secret(
    env: &Env,
    actor: &Actor,
    reference: &str,
    secret: &str,
    document_id: i64,
) -> Result<store::cases::Document> {
    let c = by_secret(env, actor, reference, secret).await?;
    store::cases::document(&env.db, document_id)
        .await?
        .filter(|d| d.meta.case_id == c.id && d.meta.public)
        .ok_or_else(|| Error::not_found("Dieses Dokument gibt es nicht."))
}

// ---- working a case ----

async fn change<F>(env: &Env, actor: &Actor, case_id: i64, action: &str, f: F) -> Result<Case>
where
    F: FnOnce(&mut Case, &mut Vec<(String, String, bool)>) -> Result<()>,
{
    let mut tx = env.db.begin().await?;
    let mut c = store::cases::case_tx(&mut tx, case_id)
        .await?
        .ok_or_else(not_found)?;
    require_work(actor, &c)?;
    let mut events = Vec::new();
    f(&mut c, &mut events)?;
    c.updated_at = env.now();
    store::cases::update_case(&mut tx, &c).await?;
    for (kind, body, public) in &events {
        store::cases::insert_event(
            &mut tx,
            c.id,
            env.now(),
            &actor.label(),
            kind,
            body,
            *public,
        )
        .await?;
    }
    audit::record_tx(
        env,
        &mut tx,
        actor,
        action,
        &format!("case:{}", c.id),
        json!({ "status": c.status, "events": events.iter().map(|e| &e.0).collect::<Vec<_>>() }),
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

/// Whether [`set_status`] may move a case from `from` to `to` (before the service's workflow
/// is asked whether it uses `to`).
fn may_move(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("received", "in_review")
            | ("received", "missing_documents")
            | ("in_review", "missing_documents")
            | ("missing_documents", "in_review")
    )
}

/// The German name of a state: the service's own label, or the standard one.
fn label_in(def: Option<&FormDef>, s: &str) -> String {
    def.and_then(|d| d.state_text(s))
        .map(|t| t.de.clone())
        .unwrap_or_else(|| state_label(s).to_string())
}

fn state_label(s: &str) -> &'static str {
    match s {
        "received" => "eingegangen",
        "in_review" => "in Bearbeitung",
        "missing_documents" => "Unterlagen fehlen",
        "decided" => "entschieden",
        "closed" => "abgeschlossen",
        _ => "unbekannt",
    }
}

/// Moves a case to another state. `decided` is reached only through [`decide`], `closed` only
/// from `decided` through [`close`].
pub async fn set_status(
    env: &Env,
    actor: &Actor,
    case_id: i64,
    status: &str,
    comment: &str,
) -> Result<Case> {
    let to = status.to_string();
    let comment = comment.trim().to_string();
    let def = form_of(env, load(env, case_id).await?.service_id)
        .await?
        .map(|(_, d)| d);
    let c = change(env, actor, case_id, "services.case.status", |c, ev| {
        if !STATES.contains(&to.as_str()) {
            return Err(Error::invalid(
                "status",
                "Diesen Bearbeitungsstand gibt es nicht.",
            ));
        }
        if def.as_ref().is_some_and(|d| !d.uses_state(&to)) {
            return Err(Error::Conflict(format!(
                "Den Bearbeitungsstand „{}“ gibt es bei dieser Leistung nicht.",
                label_in(def.as_ref(), &to)
            )));
        }
        if !may_move(&c.status, &to) {
            return Err(Error::Conflict(format!(
                "Ein Vorgang im Stand „{}“ kann nicht auf „{}“ gesetzt werden.",
                label_in(def.as_ref(), &c.status),
                label_in(def.as_ref(), &to)
            )));
        }
        if to == "missing_documents" && comment.is_empty() {
            return Err(Error::invalid(
                "comment",
                "Bitte schreiben Sie, welche Unterlagen fehlen.",
            ));
        }
        c.status = to.clone();
        let mut body = format!("Stand: {}", label_in(def.as_ref(), &to));
        if !comment.is_empty() {
            body.push_str(&format!("\n{comment}"));
        }
        ev.push(("status".into(), body, true));
        Ok(())
    })
    .await?;
    if c.status == "missing_documents" {
        notify(env, &c, "Unterlagen fehlen", &comment).await?;
    }
    Ok(c)
}

async fn notify(env: &Env, c: &Case, subject: &str, text: &str) -> Result<()> {
    if c.applicant_email.is_empty() {
        return Ok(());
    }
    mail::queue(
        env,
        &mail::Mail {
            to: c.applicant_email.clone(),
            subject: format!("{subject} – Ihr Antrag {}", c.reference),
            text: format!(
                "Guten Tag {},\n\nzu Ihrem Antrag {} gibt es Neues:\n\n{text}\n\nDen ganzen Vorgang sehen Sie in Ihrem Konto oder auf {}/antraege mit Vorgangsnummer und Zugangscode.\n",
                c.applicant_name, c.reference, env.config.public_url()
            ),
        },
    )
    .await?;
    Ok(())
}

/// Assigns a case to a staff member of its org unit (or removes the assignment with `None`).
pub async fn assign(env: &Env, actor: &Actor, case_id: i64, to: Option<i64>) -> Result<Case> {
    let target = match to {
        Some(uid) => {
            let u = store::accounts::user_by_id(&env.db, uid)
                .await?
                .filter(|u| u.active)
                .ok_or_else(|| Error::invalid("assignee", "Diese Person gibt es nicht."))?;
            let roles = store::accounts::roles_of(&env.db, uid).await?;
            let ous = store::accounts::org_units_of(&env.db, uid).await?;
            Some((u, roles, ous))
        }
        None => None,
    };
    change(env, actor, case_id, "services.case.assign", |c, ev| {
        match &target {
            Some((u, roles, ous)) => {
                let fits = roles.contains(&Role::Admin)
                    || (roles.contains(&Role::Staff)
                        && c.org_unit_id.is_some_and(|o| ous.contains(&o)));
                if !fits {
                    return Err(Error::invalid(
                        "assignee",
                        "Diese Person arbeitet nicht in der zuständigen Organisationseinheit.",
                    ));
                }
                c.assignee_id = Some(u.id);
                ev.push((
                    "assigned".into(),
                    format!("Zugewiesen an {}", u.display_name),
                    false,
                ));
            }
            None => {
                c.assignee_id = None;
                ev.push(("assigned".into(), "Zuweisung aufgehoben".into(), false));
            }
        }
        Ok(())
    })
    .await
}

/// Sets or clears the deadline (`YYYY-MM-DD`) of a case.
pub async fn set_deadline(
    env: &Env,
    actor: &Actor,
    case_id: i64,
    deadline: Option<&str>,
) -> Result<Case> {
    let day = match deadline.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => Some(
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| Error::invalid("deadline", "Bitte geben Sie ein Datum an."))?,
        ),
        None => None,
    };
    change(env, actor, case_id, "services.case.deadline", |c, ev| {
        c.deadline = day.map(|d| d.format("%Y-%m-%d").to_string());
        c.deadline_reminded = false;
        ev.push((
            "deadline".into(),
            match day {
                Some(d) => format!("Frist: {}", d.format("%d.%m.%Y")),
                None => "Frist entfernt".into(),
            },
            false,
        ));
        Ok(())
    })
    .await
}

/// An internal note (the resident never sees it).
pub async fn note(env: &Env, actor: &Actor, case_id: i64, text: &str) -> Result<Case> {
    let text = checked_text(text)?;
    change(env, actor, case_id, "services.case.note", |_, ev| {
        ev.push(("note".into(), text.clone(), false));
        Ok(())
    })
    .await
}

fn checked_text(text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::invalid("text", "Bitte schreiben Sie einen Text."));
    }
    if t.chars().count() > 10_000 {
        return Err(Error::invalid(
            "text",
            "Der Text ist zu lang (höchstens 10.000 Zeichen).",
        ));
    }
    Ok(t.to_string())
}

/// A message to the resident (shown in the case and sent by e-mail).
pub async fn message(env: &Env, actor: &Actor, case_id: i64, text: &str) -> Result<Case> {
    let text = checked_text(text)?;
    let c = change(env, actor, case_id, "services.case.message", |_, ev| {
        ev.push(("message".into(), text.clone(), true));
        Ok(())
    })
    .await?;
    notify(env, &c, "Nachricht", &text).await?;
    Ok(c)
}

/// Who acts for the resident side of a case: their account or reference plus secret.
pub enum ResidentKey<'a> {
    Account,
    Secret { reference: &'a str, secret: &'a str },
}

async fn resident_case(
    env: &Env,
    actor: &Actor,
    case_id: i64,
    key: &ResidentKey<'_>,
) -> Result<Case> {
    match key {
        ResidentKey::Account => {
            let c = load(env, case_id).await?;
            if actor.user_id().is_some() && c.user_id == actor.user_id() {
                Ok(c)
            } else {
                Err(not_found())
            }
        }
        ResidentKey::Secret { reference, secret } => {
            let c = by_secret(env, actor, reference, secret).await?;
            if c.id == case_id {
                Ok(c)
            } else {
                Err(not_found())
            }
        }
    }
}

/// The resident answers (a reply message) and may hand in documents; a case waiting for
/// documents goes back to review.
pub async fn resident_reply(
    env: &Env,
    actor: &Actor,
    case_id: i64,
    key: ResidentKey<'_>,
    text: &str,
    uploads: Vec<Upload>,
) -> Result<Case> {
    let c = resident_case(env, actor, case_id, &key).await?;
    if c.closed_at.is_some() {
        return Err(Error::Conflict("Dieser Vorgang ist abgeschlossen.".into()));
    }
    let text = text.trim().to_string();
    if text.is_empty() && uploads.is_empty() {
        return Err(Error::invalid(
            "text",
            "Bitte schreiben Sie eine Nachricht oder laden Sie ein Dokument hoch.",
        ));
    }
    if text.chars().count() > 10_000 {
        return Err(Error::invalid(
            "text",
            "Der Text ist zu lang (höchstens 10.000 Zeichen).",
        ));
    }
    let def = form_of(env, c.service_id).await?.map(|(_, d)| d);
    let mut checked = Vec::new();
    for u in &uploads {
        let def = def.as_ref().ok_or_else(|| {
            Error::invalid(
                "file",
                "Zu dieser Leistung können keine Dokumente nachgereicht werden.",
            )
        })?;
        let media = def
            .check_attachment(&u.name, &u.file_name, &u.bytes)
            .map_err(|e| invalid_of(&[e]))?;
        let title = attachment_title(def, &u.name);
        checked.push((u, media, title));
    }
    let now = env.now();
    let who = c.applicant_name.clone();
    let mut tx = env.db.begin().await?;
    let mut c = store::cases::case_tx(&mut tx, c.id)
        .await?
        .ok_or_else(not_found)?;
    for (u, media, title) in &checked {
        let d = store::cases::insert_document(
            &mut tx,
            &NewDocument {
                case_id: c.id,
                slot: &u.name,
                title,
                file_name: &safe_file_name(&u.file_name),
                media_type: media,
                content: &u.bytes,
                sha256: &sha256_hex(&u.bytes),
                public: true,
                created_by: &who,
            },
            now,
        )
        .await?;
        store::cases::insert_event(
            &mut tx,
            c.id,
            now,
            &who,
            "document",
            &format!("Dokument nachgereicht: {} (Version {})", d.title, d.version),
            true,
        )
        .await?;
    }
    if !text.is_empty() {
        store::cases::insert_event(&mut tx, c.id, now, &who, "reply", &text, true).await?;
    }
    if c.status == "missing_documents" && !checked.is_empty() {
        c.status = "in_review".into();
        store::cases::insert_event(
            &mut tx,
            c.id,
            now,
            "Stadtkern",
            "status",
            "Stand: in Bearbeitung (Unterlagen nachgereicht)",
            true,
        )
        .await?;
    }
    c.updated_at = now;
    store::cases::update_case(&mut tx, &c).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.case.resident_reply",
        &format!("case:{}", c.id),
        json!({ "documents": checked.len(), "message": !text.is_empty() }),
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

/// Staff add a document to the case file (a new version when the slot exists).
pub async fn add_document(
    env: &Env,
    actor: &Actor,
    case_id: i64,
    title: &str,
    upload: Upload,
    public: bool,
) -> Result<DocumentMeta> {
    let c = load(env, case_id).await?;
    require_work(actor, &c)?;
    let title = title.trim();
    if title.is_empty() {
        return Err(Error::invalid(
            "title",
            "Bitte geben Sie dem Dokument einen Titel.",
        ));
    }
    if upload.bytes.is_empty() {
        return Err(Error::invalid("file", "Die Datei ist leer."));
    }
    if upload.bytes.len() > 20 * 1024 * 1024 {
        return Err(Error::invalid(
            "file",
            "Die Datei ist zu groß (höchstens 20 MB).",
        ));
    }
    let media = sniff(&upload.bytes)
        .ok_or_else(|| Error::invalid("file", "Erlaubt sind PDF, JPEG, PNG und Text (UTF-8)."))?;
    let slot = format!(
        "staff-{}",
        title
            .to_lowercase()
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '-' })
            .take(60)
            .collect::<String>()
    );
    let now = env.now();
    let mut tx = env.db.begin().await?;
    let d = store::cases::insert_document(
        &mut tx,
        &NewDocument {
            case_id: c.id,
            slot: &slot,
            title,
            file_name: &safe_file_name(&upload.file_name),
            media_type: media,
            content: &upload.bytes,
            sha256: &sha256_hex(&upload.bytes),
            public,
            created_by: &actor.label(),
        },
        now,
    )
    .await?;
    store::cases::insert_event(
        &mut tx,
        c.id,
        now,
        &actor.label(),
        "document",
        &format!("Dokument: {} (Version {})", d.title, d.version),
        public,
    )
    .await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.case.document",
        &format!("case:{}", c.id),
        json!({ "document_id": d.id, "slot": d.slot, "version": d.version, "sha256": d.sha256, "public": public }),
    )
    .await?;
    tx.commit().await?;
    Ok(d)
}

/// The media type of a document staff add: what a form accepts (by content), or UTF-8 text
/// (file notes, e-mails saved as text).
fn sniff(b: &[u8]) -> Option<&'static str> {
    crate::forms::sniff_media_type(b).or_else(|| {
        std::str::from_utf8(b)
            .is_ok_and(|s| !s.contains('\0'))
            .then_some("text/plain")
    })
}

/// Decides a case: `approved` or `rejected`, with the reasons. An approval needs the fee paid.
/// The decision PDF goes into the case file and the resident is told.
pub async fn decide(
    env: &Env,
    actor: &Actor,
    case_id: i64,
    outcome: &str,
    reasons: &str,
) -> Result<Case> {
    let c0 = load(env, case_id).await?;
    require_work(actor, &c0)?;
    let reasons = checked_text(reasons)
        .map_err(|_| Error::invalid("reasons", "Bitte begründen Sie die Entscheidung."))?;
    if !matches!(outcome, "approved" | "rejected") {
        return Err(Error::invalid(
            "outcome",
            "Bitte wählen Sie: bewilligt oder abgelehnt.",
        ));
    }
    if !matches!(
        c0.status.as_str(),
        "received" | "in_review" | "missing_documents"
    ) {
        return Err(Error::Conflict(
            "Dieser Vorgang ist bereits entschieden.".into(),
        ));
    }
    let open = store::cases::invoices_of_case(&env.db, c0.id)
        .await?
        .iter()
        .any(|i| i.status != "paid");
    if outcome == "approved" && open {
        return Err(Error::Conflict(
            "Die Gebühr ist noch nicht bezahlt; erst danach kann der Antrag bewilligt werden."
                .into(),
        ));
    }
    let service = crate::catalog::get(env, c0.service_id).await?;
    let now = env.now();
    let label = if outcome == "approved" {
        "bewilligt"
    } else {
        "abgelehnt"
    };
    let bytes = pdf::render(
        &pdf::Document {
            title: format!("Bescheid {}", c0.reference),
            author: env.config.city.name.clone(),
            lang: "de".into(),
            blocks: vec![
                pdf::Block::Paragraph(format!(
                    "{}\n{}",
                    env.config.city.operator, env.config.city.address
                )),
                pdf::Block::Rule,
                pdf::Block::Heading(format!("Bescheid – {}", service.name)),
                pdf::Block::Fields(vec![
                    ("Vorgangsnummer".into(), c0.reference.clone()),
                    ("Antragstellende Person".into(), c0.applicant_name.clone()),
                    ("Antrag vom".into(), local(c0.created_at)),
                    ("Entscheidung".into(), format!("Der Antrag wird {label}.")),
                    ("Datum".into(), local(now)),
                ]),
                pdf::Block::Heading("Begründung".into()),
                pdf::Block::Paragraph(reasons.clone()),
                pdf::Block::Heading("Rechtsbehelfsbelehrung".into()),
                pdf::Block::Paragraph(format!(
                    "Gegen diesen Bescheid kann innerhalb eines Monats nach Bekanntgabe Widerspruch erhoben werden, schriftlich oder zur Niederschrift bei {}, {}.",
                    env.config.city.operator, env.config.city.address
                )),
            ],
        },
        now,
    );
    let mut tx = env.db.begin().await?;
    let mut c = store::cases::case_tx(&mut tx, case_id)
        .await?
        .ok_or_else(not_found)?;
    if !matches!(
        c.status.as_str(),
        "received" | "in_review" | "missing_documents"
    ) {
        return Err(Error::Conflict(
            "Dieser Vorgang ist bereits entschieden.".into(),
        ));
    }
    c.status = "decided".into();
    c.decision = Some(outcome.into());
    c.decided_at = Some(now);
    c.updated_at = now;
    store::cases::update_case(&mut tx, &c).await?;
    let d = store::cases::insert_document(
        &mut tx,
        &NewDocument {
            case_id: c.id,
            slot: "decision",
            title: "Bescheid",
            file_name: &format!("Bescheid-{}.pdf", c.reference),
            media_type: "application/pdf",
            content: &bytes,
            sha256: &sha256_hex(&bytes),
            public: true,
            created_by: &actor.label(),
        },
        now,
    )
    .await?;
    store::cases::insert_event(
        &mut tx,
        c.id,
        now,
        &actor.label(),
        "status",
        &format!("Stand: entschieden – der Antrag wird {label}.\n{reasons}"),
        true,
    )
    .await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.case.decide",
        &format!("case:{}", c.id),
        json!({ "outcome": outcome, "document_id": d.id, "sha256": d.sha256 }),
    )
    .await?;
    tx.commit().await?;
    notify(
        env,
        &c,
        "Entscheidung",
        &format!("Ihr Antrag wird {label}. Den Bescheid finden Sie als PDF im Vorgang."),
    )
    .await?;
    Ok(c)
}

/// Closes a decided case; its retention period starts.
pub async fn close(env: &Env, actor: &Actor, case_id: i64) -> Result<Case> {
    let c0 = load(env, case_id).await?;
    let days = store::cases::form(&env.db, c0.service_id)
        .await?
        .map_or(3650, |f| f.retention_days);
    let now = env.now();
    change(env, actor, case_id, "services.case.close", |c, ev| {
        if c.status != "decided" {
            return Err(Error::Conflict(
                "Nur ein entschiedener Vorgang kann abgeschlossen werden.".into(),
            ));
        }
        c.status = "closed".into();
        c.closed_at = Some(now);
        c.delete_after = Some(now + Duration::days(days));
        ev.push(("status".into(), "Stand: abgeschlossen".into(), true));
        Ok(())
    })
    .await
}

/// Deletes closed cases whose retention period has ended (hourly housekeeping). The audit log
/// keeps that it happened, without the personal data.
pub async fn delete_expired(env: &Env) -> Result<usize> {
    let due = store::cases::cases_to_delete(&env.db, env.now()).await?;
    for c in &due {
        let mut tx = env.db.begin().await?;
        store::cases::delete_case(&mut tx, c.id).await?;
        audit::record_tx(
            env,
            &mut tx,
            &Actor::system(),
            "services.case.retention_delete",
            &format!("case:{}", c.id),
            json!({ "service_id": c.service_id, "closed_at": c.closed_at, "delete_after": c.delete_after }),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(due.len())
}

/// Mails the assignee (or, without one, nobody but the case history) about deadlines reached
/// (hourly housekeeping; each deadline once).
pub async fn remind_deadlines(env: &Env) -> Result<usize> {
    let today = crate::appointments::local_day(env.now());
    let due = store::cases::cases_with_deadline(&env.db, &today).await?;
    for c in &due {
        let mut tx = env.db.begin().await?;
        let Some(mut c) = store::cases::case_tx(&mut tx, c.id).await? else {
            continue;
        };
        if c.deadline_reminded {
            continue;
        }
        c.deadline_reminded = true;
        store::cases::update_case(&mut tx, &c).await?;
        store::cases::insert_event(
            &mut tx,
            c.id,
            env.now(),
            "Stadtkern",
            "deadline",
            "Frist erreicht: Erinnerung versandt",
            false,
        )
        .await?;
        if let Some(a) = c.assignee_id
            && let Some(u) = store::accounts::user_by_id(&env.db, a).await?
            && !u.email.is_empty()
        {
            mail::queue_tx(
                env,
                &mut tx,
                &mail::Mail {
                    to: u.email.clone(),
                    subject: format!("Frist erreicht: Vorgang {}", c.reference),
                    text: format!(
                        "Guten Tag {},\n\ndie Frist des Vorgangs {} ({}) ist erreicht.\n\n{}/staff/vorgaenge/{}\n",
                        u.display_name,
                        c.reference,
                        c.deadline.clone().unwrap_or_default(),
                        env.config.public_url(),
                        c.id
                    ),
                },
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(due.len())
}

/// The XDOMEA 3.x archive message (ZIP with the XML and every document version) of a closed
/// case, for handing it to the archive.
pub async fn export_xdomea(env: &Env, actor: &Actor, case_id: i64) -> Result<(String, Vec<u8>)> {
    let c = load(env, case_id).await?;
    require_work(actor, &c)?;
    if c.status != "closed" {
        return Err(Error::Conflict(
            "Nur abgeschlossene Vorgänge werden an das Archiv abgegeben.".into(),
        ));
    }
    let service = crate::catalog::get(env, c.service_id).await?;
    let days = store::cases::form(&env.db, c.service_id)
        .await?
        .map_or(3650, |f| f.retention_days);
    let docs = store::cases::documents_with_content(&env.db, c.id).await?;
    let mut by_slot: Vec<crate::xdomea::ExportDocument> = Vec::new();
    for d in docs {
        let version = crate::xdomea::ExportVersion {
            number: d.meta.version,
            file_name: d.meta.file_name.clone(),
            media_type: d.meta.media_type.clone(),
            created_at: d.meta.created_at,
            bytes: d.content,
        };
        match by_slot.iter_mut().find(|x| x.title == d.meta.title) {
            Some(x) => x.versions.push(version),
            None => by_slot.push(crate::xdomea::ExportDocument {
                id: uuid_of(env, &format!("doc-{}-{}", c.id, d.meta.slot)),
                title: d.meta.title.clone(),
                versions: vec![version],
            }),
        }
    }
    let export = crate::xdomea::CaseExport {
        process_id: uuid_of(env, &format!("process-{}-{}", c.id, env.now().timestamp())),
        created_at: env.now(),
        sender: env.config.city.operator.clone(),
        receiver: format!("Archiv – {}", env.config.city.name),
        file_id: uuid_of(env, &format!("case-{}", c.id)),
        file_reference: c.reference.clone(),
        subject: format!("{} – {}", service.name, c.applicant_name),
        opened: crate::appointments::local_day(c.created_at)
            .parse()
            .unwrap_or_default(),
        closed: crate::appointments::local_day(c.closed_at.unwrap_or(c.updated_at))
            .parse()
            .unwrap_or_default(),
        retention_years: (days + 364) / 365,
        documents: by_slot,
    };
    let name = format!(
        "{}.zip",
        crate::xdomea::message_file_name(&export).trim_end_matches(".xml")
    );
    let zip = crate::xdomea::zip(&export).map_err(Error::Internal)?;
    audit::record(
        env,
        actor,
        "services.case.export_xdomea",
        &format!("case:{}", c.id),
        json!({ "process_id": export.process_id, "documents": export.documents.len() }),
    )
    .await?;
    Ok((name, zip))
}

/// A stable UUID (version 8, from SHA-256) of a name within this instance.
fn uuid_of(env: &Env, name: &str) -> String {
    let h = sha256_hex(format!("{}:{name}", env.config.public_url()).as_bytes());
    let mut b: Vec<char> = h[..32].chars().collect();
    b[12] = '8';
    b[16] = ['8', '9', 'a', 'b'][(b[16].to_digit(16).unwrap_or(0) % 4) as usize];
    let s: String = b.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

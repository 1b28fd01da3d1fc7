//! Online applications and the case file, as pages.
//!
//! Residents: `/leistungen/{id}/antrag` (the form, rendered from its definition; drafts for
//! signed-in residents; attachments), `/antraege` (own applications, or the status check with
//! reference and secret — always in a POST body), the case page with documents, messages,
//! replies and the fee (GiroCode or online payment), `/antraege/zahlung` (return from the
//! payment provider). Staff: `/staff/vorgaenge` (inbox of their org units) and one case with
//! every action, `/staff/leistungen/{id}/formular` (the form definition), `/staff/zahlungen`
//! (CAMT.053 import and open items). `/paysim` is the payment-provider simulator when it is
//! switched on. Staff who file through `/leistungen/{id}/antrag` file on a resident's behalf.

use super::admin::{FormFields, problems_of};
use super::cityops::Staff;
use super::parse_id;
use super::redirect_with_flash;
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::{WebError, WebResult};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kern::error::Problem;
use kern::i18n::Lang;
use kern::{Error, Role};
use minijinja::{Value, context};
use serde::Deserialize;
use services::cases::{self, Application, CaseView, ResidentKey, Upload};
use services::forms::{FieldError, FormDef};
use services::payments;
use services::payments::euro;

pub fn router(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/leistungen/{id}/antrag", get(apply_page).post(apply))
        .route("/antraege", get(my_cases))
        .route("/antraege/status", post(status_lookup))
        .route("/antraege/zahlung", get(payment_return))
        .route("/antraege/{id}", get(my_case))
        .route(
            "/antraege/{id}/dokumente/{doc}",
            get(my_document).post(secret_document),
        )
        .route(
            "/antraege/{id}/rechnungen/{inv}",
            get(my_invoice).post(secret_invoice),
        )
        .route("/antraege/{id}/bezahlen", post(pay_online))
        .route("/antraege/{id}/antwort", post(reply))
        .route("/api/v1/payments/notify", post(notify))
        .route("/staff/vorgaenge", get(inbox))
        .route("/staff/vorgaenge/{id}", get(staff_case).post(staff_action))
        .route("/staff/vorgaenge/{id}/dokument", post(staff_upload))
        .route("/staff/vorgaenge/{id}/dokumente/{doc}", get(staff_document))
        .route("/staff/vorgaenge/{id}/rechnungen/{inv}", get(staff_invoice))
        .route("/staff/vorgaenge/{id}/xdomea", get(staff_xdomea))
        .route(
            "/staff/leistungen/{id}/formular",
            get(form_editor).post(form_save),
        )
        .route("/staff/zahlungen", get(payments_page).post(payments_import))
        .route("/static/bedingungen.js", get(conditions_script))
        .layer(DefaultBodyLimit::max(upload_limit))
}

const KEYS: &[(&str, &str)] = &[
    ("reference", "cases-error-reference"),
    ("secret", "cases-error-reference"),
    ("text", "cases-error-text"),
    ("comment", "cases-error-comment"),
    ("reasons", "cases-error-reasons"),
    ("outcome", "cases-error-outcome"),
    ("assignee", "cases-error-assignee"),
    ("deadline", "cases-error-deadline"),
    ("title", "cases-error-title"),
    ("file", "cases-error-file"),
    ("definition", "cases-error-definition"),
    ("retention_days", "cases-error-retention"),
    ("status", "cases-error-status"),
];

const SCRIPT: &str = include_str!("../../static/bedingungen.js");

/// Progressive enhancement: hides fields whose condition does not hold. Without JavaScript every
/// field is shown with its help text, and the server ignores hidden fields' values.
async fn conditions_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// Text fields and files of a multipart form.
struct Posted {
    fields: Vec<(String, String)>,
    files: Vec<Upload>,
}

impl Posted {
    fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

async fn read_multipart(mut m: Multipart) -> WebResult<Posted> {
    let mut p = Posted {
        fields: Vec::new(),
        files: Vec::new(),
    };
    loop {
        let field = match m.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                return Err(WebError(Error::TooLarge(
                    "Das Formular konnte nicht gelesen werden (Dateien zu groß?).".into(),
                )));
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.map_err(|_| {
            WebError(Error::TooLarge(
                "Das Formular konnte nicht gelesen werden (Dateien zu groß?).".into(),
            ))
        })?;
        match file_name {
            // An empty file input posts a part with an empty name and no bytes.
            Some(f) if !(f.is_empty() && bytes.is_empty()) => p.files.push(Upload {
                name,
                file_name: f,
                bytes: bytes.to_vec(),
            }),
            Some(_) => {}
            None => p
                .fields
                .push((name, String::from_utf8_lossy(&bytes).into_owned())),
        }
    }
    Ok(p)
}

fn lang_code(ctx: &Ctx) -> &'static str {
    if ctx.lang == Lang::De { "de" } else { "en" }
}

fn translate(state: &AppState, ctx: &Ctx, e: &FieldError) -> String {
    state.i18n.t_args(
        ctx.lang,
        e.key,
        &[("arg", e.arg.clone().unwrap_or_default())],
    )
}

// ---- applying ----

async fn user_contact(state: &AppState, ctx: &Ctx) -> (String, String) {
    match ctx.principal.user() {
        Some(u) => {
            let email = store::accounts::user_by_id(&state.env.db, u.id)
                .await
                .ok()
                .flatten()
                .map(|x| x.email)
                .unwrap_or_default();
            (u.display_name.clone(), email)
        }
        None => (String::new(), String::new()),
    }
}

fn is_assisted(ctx: &Ctx, org_unit_id: Option<i64>) -> bool {
    ctx.principal.has_role(Role::Staff) && cases::may_work(&ctx.principal, org_unit_id)
}

struct ApplyState<'a> {
    service: &'a services::catalog::Service,
    def: &'a FormDef,
    data: serde_json::Value,
    errors: Vec<FieldError>,
    name: String,
    email: String,
    draft_saved: bool,
}

fn apply_view(state: &AppState, ctx: &Ctx, a: ApplyState<'_>) -> WebResult<Html<String>> {
    let view = a.def.view(&a.data, &a.errors, lang_code(ctx));
    // Contact errors first, then the form's own (linked to their fields).
    let mut summary: Vec<Value> = Vec::new();
    let contact_error = |field: &str| {
        a.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| translate(state, ctx, e))
    };
    let name_error = contact_error("applicant_name");
    let email_error = contact_error("applicant_email");
    if let Some(m) = &name_error {
        summary.push(context! { href => "#field-applicant_name", message => m });
    }
    if let Some(m) = &email_error {
        summary.push(context! { href => "#field-applicant_email", message => m });
    }
    for e in &view.errors {
        summary.push(context! { href => format!("#{}", e.id), message => format!("{}: {}", e.label, translate(state, ctx, &e.error)) });
    }
    let had_files = a
        .errors
        .iter()
        .any(|e| e.key.starts_with("form-error-attachment"))
        || !a.errors.is_empty() && !a.def.attachments.is_empty();
    let groups: Vec<Value> = view
        .groups
        .iter()
        .map(|g| {
            context! {
                id => g.id, title => g.title, help => g.help,
                fields => g.fields.iter().map(|f| context! {
                    f => f,
                    error => f.error.as_ref().map(|e| translate(state, ctx, e)),
                }).collect::<Vec<_>>(),
            }
        })
        .collect();
    let attachments: Vec<Value> = view
        .attachments
        .iter()
        .map(|x| context! { a => x, error => x.error.as_ref().map(|e| translate(state, ctx, e)) })
        .collect();
    state.page(
        ctx,
        "cases/apply.html",
        context! {
            service => context! { id => a.service.id, name => a.service.name, fee_text => a.service.fee_text },
            groups => groups, attachments => attachments, summary => summary,
            name => a.name, email => a.email, name_error => name_error, email_error => email_error,
            fee => a.def.fee_cents(&a.data).filter(|c| *c > 0).map(euro),
            signed_in => !ctx.principal.is_anonymous(),
            assisted => is_assisted(ctx, a.service.org_unit_id),
            draft_saved => a.draft_saved, reupload => had_files,
        },
    )
}

async fn form_or_404(state: &AppState, id: i64) -> WebResult<FormDef> {
    Ok(cases::form_of(&state.env, id)
        .await?
        .ok_or_else(|| Error::not_found("Für diese Leistung gibt es kein Online-Formular."))?
        .1)
}

async fn apply_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<Html<String>> {
    let id = parse_id(&id)?;
    let service = services::catalog::get(&state.env, id).await?;
    let def = form_or_404(&state, id).await?;
    let draft = cases::draft(&state.env, &ctx.actor(), id).await?;
    let (name, email) = if is_assisted(&ctx, service.org_unit_id) {
        (String::new(), String::new())
    } else {
        user_contact(&state, &ctx).await
    };
    let data = draft.clone().unwrap_or_else(|| def.defaults());
    apply_view(
        &state,
        &ctx,
        ApplyState {
            service: &service,
            def: &def,
            data,
            errors: Vec::new(),
            name,
            email,
            draft_saved: draft.is_some(),
        },
    )
}

async fn apply(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    multipart: Multipart,
) -> WebResult<Response> {
    let id = parse_id(&id)?;
    let service = services::catalog::get(&state.env, id).await?;
    let def = form_or_404(&state, id).await?;
    let posted = read_multipart(multipart).await?;
    let (data, _) = def.read_submission(&posted.fields);
    let name = posted.get("applicant_name").trim().to_string();
    let email = posted.get("applicant_email").trim().to_string();
    if posted.get("action") == "draft" {
        cases::save_draft(&state.env, &ctx.actor(), id, &def.without_hidden(&data)).await?;
        return Ok(redirect_with_flash(
            &ctx,
            &format!("/leistungen/{id}/antrag"),
            "cases-flash-draft",
        ));
    }
    let app = Application {
        service_id: id,
        applicant_name: name.clone(),
        applicant_email: email.clone(),
        data: def.without_hidden(&data),
        attachments: posted.files,
    };
    let errors = cases::check(&def, &app, is_assisted(&ctx, service.org_unit_id));
    if !errors.is_empty() {
        let html = apply_view(
            &state,
            &ctx,
            ApplyState {
                service: &service,
                def: &def,
                data,
                errors,
                name,
                email,
                draft_saved: false,
            },
        )?;
        return Ok((StatusCode::BAD_REQUEST, html).into_response());
    }
    let done = cases::submit(&state.env, &ctx.actor(), app).await?;
    let view =
        cases::view_with_secret(&state.env, &ctx.actor(), &done.case.reference, &done.secret)
            .await?;
    Ok(state
        .page(
            &ctx,
            "cases/submitted.html",
            context! {
                c => case_value(&view), secret => done.secret,
                online => payments::provider(&state.env).is_some(),
                own => done.case.user_id.is_some(),
                assisted => done.case.assisted_by.is_some(),
            },
        )?
        .into_response())
}

fn case_value(v: &CaseView) -> Value {
    Value::from_serialize(v)
}

// ---- resident case pages ----

async fn my_cases(State(state): State<AppState>, ctx: Ctx) -> WebResult<Html<String>> {
    let mine = if ctx.principal.is_anonymous() {
        Vec::new()
    } else {
        cases::mine(&state.env, &ctx.actor()).await?
    };
    lookup_view(&state, &ctx, mine, Vec::new(), "")
}

fn lookup_view(
    state: &AppState,
    ctx: &Ctx,
    mine: Vec<cases::CaseLine>,
    errors: Vec<Problem>,
    reference: &str,
) -> WebResult<Html<String>> {
    state.page(
        ctx,
        "cases/mine.html",
        context! {
            mine => mine, errors => errors, reference => reference,
            signed_in => !ctx.principal.is_anonymous(),
        },
    )
}

async fn resident_page(
    state: &AppState,
    ctx: &Ctx,
    v: &CaseView,
    secret: Option<(&str, &str)>,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let def = cases::form_of(&state.env, v.service_id).await?.map(|x| x.1);
    let slots: Vec<Value> = def
        .map(|d| {
            d.attachments
                .iter()
                .map(|a| context! { name => a.name, label => a.label.get(lang_code(ctx)) })
                .collect()
        })
        .unwrap_or_default();
    state.page(
        ctx,
        "cases/case.html",
        context! {
            c => case_value(v), errors => errors, slots => slots,
            reference => secret.map(|s| s.0), secret => secret.map(|s| s.1),
            online => payments::provider(&state.env).is_some(),
        },
    )
}

async fn status_lookup(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let (reference, secret) = (f.get("reference"), f.get("secret"));
    match cases::view_with_secret(&state.env, &ctx.actor(), reference, secret).await {
        Ok(v) => Ok(
            resident_page(&state, &ctx, &v, Some((&v.reference, secret)), Vec::new())
                .await?
                .into_response(),
        ),
        Err(Error::NotFound(m)) => {
            let errors = vec![Problem {
                field: Some("reference".into()),
                message: if ctx.lang == Lang::De {
                    m
                } else {
                    state.i18n.t(ctx.lang, "cases-error-reference")
                },
            }];
            let mine = if ctx.principal.is_anonymous() {
                Vec::new()
            } else {
                cases::mine(&state.env, &ctx.actor()).await?
            };
            let html = lookup_view(&state, &ctx, mine, errors, reference)?;
            Ok((StatusCode::NOT_FOUND, html).into_response())
        }
        Err(e) => Err(WebError(e)),
    }
}

fn require_signed_in(ctx: &Ctx) -> WebResult<()> {
    if ctx.principal.is_anonymous() {
        Err(WebError(Error::Unauthorized(
            "Bitte melden Sie sich an.".into(),
        )))
    } else {
        Ok(())
    }
}

/// The resident's own case (never a staff view: staff use /staff/vorgaenge).
async fn own_view(state: &AppState, ctx: &Ctx, id: i64) -> WebResult<CaseView> {
    require_signed_in(ctx)?;
    let c = store::cases::case(&state.env.db, id)
        .await?
        .filter(|c| c.user_id.is_some() && c.user_id == ctx.principal.user().map(|u| u.id))
        .ok_or_else(|| {
            Error::not_found("Diesen Vorgang gibt es nicht oder Sie dürfen ihn nicht sehen.")
        })?;
    let mut v = cases::view(&state.env, &platform::Actor::system(), c.id).await?;
    strip_internal(&mut v);
    Ok(v)
}

fn strip_internal(v: &mut CaseView) {
    v.staff = false;
    v.documents.retain(|d| d.public);
    v.events.retain(|e| e.public);
    v.assignee_id = None;
    v.assignee_name = None;
    v.deadline = None;
}

async fn my_case(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<Html<String>> {
    let v = own_view(&state, &ctx, parse_id(&id)?).await?;
    resident_page(&state, &ctx, &v, None, Vec::new()).await
}

fn download(d: store::cases::Document) -> Response {
    let name: String = d
        .meta
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    file_response(&d.meta.media_type, &name, d.content)
}

fn file_response(media: &str, name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, media.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        bytes,
    )
        .into_response()
}

async fn my_document(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(String, String)>,
) -> WebResult<Response> {
    let v = own_view(&state, &ctx, parse_id(&id)?).await?;
    let d = cases::document(
        &state.env,
        &platform::Actor::system(),
        v.id,
        parse_id(&doc)?,
    )
    .await?;
    if !d.meta.public {
        return Err(WebError(Error::not_found("Dieses Dokument gibt es nicht.")));
    }
    Ok(download(d))
}

async fn secret_document(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(String, String)>,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let d = cases::document_with_secret(
        &state.env,
        &ctx.actor(),
        f.get("reference"),
        f.get("secret"),
        parse_id(&doc)?,
    )
    .await?;
    if d.meta.case_id != parse_id(&id)? {
        return Err(WebError(Error::not_found("Dieses Dokument gibt es nicht.")));
    }
    Ok(download(d))
}

async fn invoice_response(state: &AppState, case_id: i64, inv: i64) -> WebResult<Response> {
    let c = store::cases::case(&state.env.db, case_id)
        .await?
        .ok_or_else(|| Error::not_found("Diesen Vorgang gibt es nicht."))?;
    let pdf = payments::invoice_pdf(&state.env, &c, inv).await?;
    Ok(file_response(
        "application/pdf",
        &format!("Gebuehrenbescheid-{}.pdf", c.reference),
        pdf,
    ))
}

async fn my_invoice(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, inv)): Path<(String, String)>,
) -> WebResult<Response> {
    let v = own_view(&state, &ctx, parse_id(&id)?).await?;
    invoice_response(&state, v.id, parse_id(&inv)?).await
}

async fn secret_invoice(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, inv)): Path<(String, String)>,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let v = cases::view_with_secret(
        &state.env,
        &ctx.actor(),
        f.get("reference"),
        f.get("secret"),
    )
    .await?;
    if v.id != parse_id(&id)? {
        return Err(WebError(Error::not_found("Diesen Vorgang gibt es nicht.")));
    }
    invoice_response(&state, v.id, parse_id(&inv)?).await
}

/// The case a resident acts on: with reference and secret from the body, or their account.
async fn resident_key_case(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    reference: &str,
    secret: &str,
) -> WebResult<CaseView> {
    if !reference.is_empty() {
        let v = cases::view_with_secret(&state.env, &ctx.actor(), reference, secret).await?;
        if v.id != id {
            return Err(WebError(Error::not_found("Diesen Vorgang gibt es nicht.")));
        }
        Ok(v)
    } else {
        own_view(state, ctx, id).await
    }
}

async fn pay_online(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let v = resident_key_case(
        &state,
        &ctx,
        parse_id(&id)?,
        f.get("reference"),
        f.get("secret"),
    )
    .await?;
    let c = store::cases::case(&state.env.db, v.id)
        .await?
        .ok_or_else(|| Error::not_found("Diesen Vorgang gibt es nicht."))?;
    let invoice_id = parse_id(f.get("invoice_id"))?;
    let inv = v
        .invoices
        .iter()
        .find(|i| i.id == invoice_id)
        .ok_or_else(|| Error::not_found("Diese Rechnung gibt es nicht."))?;
    let back = format!(
        "{}/antraege/zahlung?rechnung={}",
        state.env.config.public_url(),
        url::form_urlencoded::byte_serialize(inv.reference.as_bytes()).collect::<String>()
    );
    let to = payments::start_online(&state.env, &ctx.actor(), &c, invoice_id, &back).await?;
    Ok(Redirect::to(&to).into_response())
}

#[derive(Deserialize)]
struct ReturnQuery {
    rechnung: Option<String>,
}

async fn payment_return(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ReturnQuery>,
) -> WebResult<Html<String>> {
    let reference = q.rechnung.unwrap_or_default();
    let mut tx = state.env.db.begin().await?;
    let inv = store::cases::invoice_by_reference(&mut tx, reference.trim()).await?;
    tx.commit().await?;
    let inv = inv.ok_or_else(|| Error::not_found("Diese Zahlung gibt es nicht."))?;
    // Read every open transaction of the invoice at the provider (the return carries no proof).
    let mut status = "INITIAL".to_string();
    for t in store::cases::provider_txs_of_invoice(&state.env.db, inv.id).await? {
        if t.transaction_id.is_empty() {
            continue;
        }
        let (s, _) = payments::confirm_online(&state.env, &t.transaction_id).await?;
        if s == "PAYED" || status == "INITIAL" {
            status = s;
        }
    }
    let owner = store::cases::case(&state.env.db, inv.case_id)
        .await?
        .and_then(|c| c.user_id);
    let own = owner.is_some() && owner == ctx.principal.user().map(|u| u.id);
    state.page(
        &ctx,
        "cases/paid.html",
        context! {
            status => status, reference => inv.reference, amount => euro(inv.amount_cents),
            case_link => own.then(|| format!("/antraege/{}", inv.case_id)),
        },
    )
}

async fn notify(State(state): State<AppState>, body: Bytes) -> WebResult<Response> {
    let n = services::payprovider::parse_notification(&body)
        .map_err(|e| Error::invalid("body", e.to_string()))?;
    let (status, _) = payments::confirm_online(&state.env, &n.transaction_id).await?;
    Ok(axum::Json(serde_json::json!({ "status": status })).into_response())
}

async fn reply(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    multipart: Multipart,
) -> WebResult<Response> {
    let id = parse_id(&id)?;
    let p = read_multipart(multipart).await?;
    let (reference, secret) = (p.get("reference").to_string(), p.get("secret").to_string());
    let key = if reference.is_empty() {
        require_signed_in(&ctx)?;
        ResidentKey::Account
    } else {
        ResidentKey::Secret {
            reference: &reference,
            secret: &secret,
        }
    };
    let uploads = p.files.clone();
    match cases::resident_reply(&state.env, &ctx.actor(), id, key, p.get("text"), uploads).await {
        Ok(_) if reference.is_empty() => Ok(redirect_with_flash(
            &ctx,
            &format!("/antraege/{id}"),
            "cases-flash-replied",
        )),
        Ok(_) => {
            let v = cases::view_with_secret(&state.env, &ctx.actor(), &reference, &secret).await?;
            Ok(
                resident_page(&state, &ctx, &v, Some((&reference, &secret)), Vec::new())
                    .await?
                    .into_response(),
            )
        }
        Err(e @ Error::Invalid(_)) | Err(e @ Error::Conflict(_)) => {
            let errors = problems_for(&state, &ctx, e)?;
            let v = if reference.is_empty() {
                own_view(&state, &ctx, id).await?
            } else {
                cases::view_with_secret(&state.env, &ctx.actor(), &reference, &secret).await?
            };
            let secret_pair =
                (!reference.is_empty()).then_some((reference.as_str(), secret.as_str()));
            let html = resident_page(&state, &ctx, &v, secret_pair, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
        Err(e) => Err(WebError(e)),
    }
}

/// Invalid input and conflicts as a list for the error summary.
fn problems_for(state: &AppState, ctx: &Ctx, e: Error) -> WebResult<Vec<Problem>> {
    match e {
        Error::Conflict(m) => Ok(vec![Problem {
            field: None,
            message: if ctx.lang == Lang::De {
                m
            } else {
                state.i18n.t(ctx.lang, "cases-error-conflict")
            },
        }]),
        other => problems_of(state, ctx.lang, other, KEYS, None),
    }
}

// ---- staff ----

#[derive(Deserialize, Default)]
struct InboxQuery {
    stand: Option<String>,
}

async fn inbox(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Query(q): Query<InboxQuery>,
) -> WebResult<Html<String>> {
    let stand = q.stand.filter(|s| cases::STATES.contains(&s.as_str()));
    let lines = cases::inbox(&state.env, &ctx.actor(), stand.as_deref()).await?;
    state.page(
        &ctx,
        "cases/inbox.html",
        context! { cases => lines, stand => stand, states => cases::STATES },
    )
}

async fn staff_members(state: &AppState, org_unit_id: Option<i64>) -> WebResult<Vec<Value>> {
    let mut out = Vec::new();
    for u in store::accounts::list_users(&state.env.db).await? {
        if !u.active {
            continue;
        }
        let roles = store::accounts::roles_of(&state.env.db, u.id).await?;
        let ous = store::accounts::org_units_of(&state.env.db, u.id).await?;
        if roles.contains(&Role::Staff) && org_unit_id.is_some_and(|o| ous.contains(&o)) {
            out.push(context! { id => u.id, name => u.display_name });
        }
    }
    Ok(out)
}

async fn staff_view(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let v = cases::view(&state.env, &ctx.actor(), id).await?;
    let c = store::cases::case(&state.env.db, id).await?;
    let members = staff_members(state, c.and_then(|c| c.org_unit_id)).await?;
    state.page(
        ctx,
        "cases/staff_case.html",
        context! { c => case_value(&v), errors => errors, members => members },
    )
}

async fn staff_case(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
) -> WebResult<Html<String>> {
    staff_view(&state, &ctx, parse_id(&id)?, Vec::new()).await
}

async fn staff_action(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let id = parse_id(&id)?;
    let f = FormFields::parse(&body);
    let (env, actor) = (&state.env, ctx.actor());
    let r = match f.get("action") {
        "status" => cases::set_status(env, &actor, id, f.get("status"), f.get("comment")).await,
        "assign" => {
            let to = f.get("assignee").parse::<i64>().ok();
            cases::assign(env, &actor, id, to).await
        }
        "deadline" => cases::set_deadline(env, &actor, id, Some(f.get("deadline"))).await,
        "note" => cases::note(env, &actor, id, f.get("text")).await,
        "message" => cases::message(env, &actor, id, f.get("text")).await,
        "decide" => cases::decide(env, &actor, id, f.get("outcome"), f.get("reasons")).await,
        "close" => cases::close(env, &actor, id).await,
        _ => Err(Error::invalid("action", "Unbekannte Aktion.")),
    };
    match r {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            &format!("/staff/vorgaenge/{id}"),
            "cases-flash-saved",
        )),
        Err(e @ Error::Invalid(_)) | Err(e @ Error::Conflict(_)) => {
            let errors = problems_for(&state, &ctx, e)?;
            let html = staff_view(&state, &ctx, id, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
        Err(e) => Err(WebError(e)),
    }
}

async fn staff_upload(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
    multipart: Multipart,
) -> WebResult<Response> {
    let id = parse_id(&id)?;
    let p = read_multipart(multipart).await?;
    let file = p.files.into_iter().find(|f| f.name == "file");
    let r = match file {
        None => Err(Error::invalid("file", "Bitte wählen Sie eine Datei aus.")),
        Some(u) => {
            let title = p
                .fields
                .iter()
                .find(|(k, _)| k == "title")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let public = p.fields.iter().any(|(k, _)| k == "public");
            cases::add_document(&state.env, &ctx.actor(), id, &title, u, public).await
        }
    };
    match r {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            &format!("/staff/vorgaenge/{id}"),
            "cases-flash-saved",
        )),
        Err(e @ Error::Invalid(_)) => {
            let errors = problems_for(&state, &ctx, e)?;
            let html = staff_view(&state, &ctx, id, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
        Err(e) => Err(WebError(e)),
    }
}

async fn staff_document(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path((id, doc)): Path<(String, String)>,
) -> WebResult<Response> {
    let d = cases::document(&state.env, &ctx.actor(), parse_id(&id)?, parse_id(&doc)?).await?;
    Ok(download(d))
}

async fn staff_invoice(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path((id, inv)): Path<(String, String)>,
) -> WebResult<Response> {
    let v = cases::view(&state.env, &ctx.actor(), parse_id(&id)?).await?;
    invoice_response(&state, v.id, parse_id(&inv)?).await
}

async fn staff_xdomea(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let (name, zip) = cases::export_xdomea(&state.env, &ctx.actor(), parse_id(&id)?).await?;
    Ok(file_response("application/zip", &name, zip))
}

// ---- form definitions ----

async fn form_editor_view(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    definition: Option<String>,
    retention: Option<String>,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let s = services::catalog::get(&state.env, id).await?;
    if !services::catalog::may_edit(&ctx.principal, s.org_unit_id) {
        return Err(WebError(Error::forbidden(
            "Diese Leistung gehört nicht zu Ihrer Organisationseinheit.",
        )));
    }
    let current = store::cases::form(&state.env.db, id).await?;
    let definition = definition.unwrap_or_else(|| {
        current
            .as_ref()
            .map(|f| serde_json::to_string_pretty(&f.definition.0).unwrap_or_default())
            .unwrap_or_default()
    });
    let retention = retention.unwrap_or_else(|| {
        current
            .as_ref()
            .map_or(3650, |f| f.retention_days)
            .to_string()
    });
    state.page(
        ctx,
        "cases/form_editor.html",
        context! {
            s => context! { id => s.id, name => s.name }, definition => definition,
            retention => retention, errors => errors,
            version => current.as_ref().map(|f| f.version),
        },
    )
}

async fn form_editor(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
) -> WebResult<Html<String>> {
    form_editor_view(&state, &ctx, parse_id(&id)?, None, None, Vec::new()).await
}

async fn form_save(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let id = parse_id(&id)?;
    let f = FormFields::parse(&body);
    let (raw, days_raw) = (
        f.get("definition").to_string(),
        f.get("retention_days").to_string(),
    );
    let r = match serde_json::from_str::<serde_json::Value>(&raw) {
        Err(e) => Err(Error::invalid(
            "definition",
            format!("Die Definition ist kein gültiges JSON: {e}"),
        )),
        Ok(v) => match days_raw.trim().parse::<i64>() {
            Ok(days) => cases::set_form(&state.env, &ctx.actor(), id, &v, days).await,
            Err(_) => Err(Error::invalid(
                "retention_days",
                "Bitte geben Sie die Aufbewahrungsfrist in Tagen an.",
            )),
        },
    };
    match r {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            &format!("/staff/leistungen/{id}/formular"),
            "cases-flash-saved",
        )),
        Err(e @ Error::Invalid(_)) => {
            // The definition's problems are for the admin who wrote it; shown as they are.
            let errors = match e {
                Error::Invalid(inv) => inv.problems,
                _ => Vec::new(),
            };
            let html =
                form_editor_view(&state, &ctx, id, Some(raw), Some(days_raw), errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
        Err(e) => Err(WebError(e)),
    }
}

// ---- payments ----

async fn payments_view(
    state: &AppState,
    ctx: &Ctx,
    report: Option<payments::ImportReport>,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let items = payments::open_items(&state.env, &ctx.actor()).await?;
    let items: Vec<Value> = items
        .into_iter()
        .map(|p| {
            context! {
                source => p.source, external_id => p.external_id, amount => euro(p.amount_cents),
                reference => p.reference, payer => p.payer, booked_on => p.booked_on,
                outcome => p.outcome, note => p.note,
            }
        })
        .collect();
    state.page(
        ctx,
        "cases/payments.html",
        context! { items => items, report => report, errors => errors },
    )
}

fn require_treasury(ctx: &Ctx) -> WebResult<()> {
    if payments::may_reconcile(&ctx.principal) {
        Ok(())
    } else {
        Err(WebError(Error::forbidden(
            "Kontoauszüge liest nur die Stadtkasse ein.",
        )))
    }
}

async fn payments_page(
    State(state): State<AppState>,
    Staff(ctx): Staff,
) -> WebResult<Html<String>> {
    require_treasury(&ctx)?;
    payments_view(&state, &ctx, None, Vec::new()).await
}

async fn payments_import(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    multipart: Multipart,
) -> WebResult<Response> {
    require_treasury(&ctx)?;
    let p = read_multipart(multipart).await?;
    let r = match p.files.into_iter().find(|f| f.name == "file") {
        None => Err(Error::invalid("file", "Bitte wählen Sie eine Datei aus.")),
        Some(f) => payments::import_camt(&state.env, &ctx.actor(), &f.bytes).await,
    };
    match r {
        Ok(report) => Ok(payments_view(&state, &ctx, Some(report), Vec::new())
            .await?
            .into_response()),
        Err(e @ Error::Invalid(_)) => {
            let errors = problems_for(&state, &ctx, e)?;
            let html = payments_view(&state, &ctx, None, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
        Err(e) => Err(WebError(e)),
    }
}

//! Storage of online applications and their case files (eAkte): form definitions, drafts,
//! cases, versioned documents, case events, invoices, incoming payments and online-payment
//! transactions. The rules live in `services::cases` and `services::payments`; these are plain
//! queries, written through the small row helpers at the top.

use crate::q::{Expr, ExprTrait, Order, Query, id};
use crate::rows::{Id, Num, insert as insert_cols};
use crate::{Db, Record, Tx};
use chrono::{DateTime, Utc};
use kern::{Error, Result};
use sea_query::{SelectStatement, SimpleExpr};
use sqlx::types::Json;

/// Inserts a row from column/value pairs; returns its id.
async fn insert(
    tx: &mut Tx,
    table: &'static str,
    row: Vec<(&'static str, SimpleExpr)>,
) -> Result<i64> {
    let (cols, values): (Vec<_>, Vec<_>) = row.into_iter().unzip();
    insert_cols(tx, table, &cols, values).await
}

/// Updates columns of the row with this id; `missing` is the error when there is none.
async fn update(
    tx: &mut Tx,
    table: &'static str,
    row_id: i64,
    row: Vec<(&'static str, SimpleExpr)>,
    missing: &str,
) -> Result<()> {
    let n = tx
        .execute(
            &Query::update()
                .table(id(table))
                .values(row.into_iter().map(|(c, v)| (id(c), v)))
                .and_where(Expr::col(id("id")).eq(row_id))
                .take(),
        )
        .await?;
    if n == 0 {
        Err(Error::not_found(missing))
    } else {
        Ok(())
    }
}

fn select(table: &'static str) -> SelectStatement {
    Query::select()
        .column(sea_query::Asterisk)
        .from(id(table))
        .take()
}

fn by(table: &'static str, col: &'static str, value: impl Into<SimpleExpr>) -> SelectStatement {
    select(table)
        .and_where(Expr::col(id(col)).eq(value.into()))
        .order_by(id("id"), Order::Asc)
        .take()
}

async fn one<T: Record>(tx: &mut Tx, stmt: SelectStatement) -> Result<Option<T>> {
    tx.fetch_optional(&stmt).await
}

// ---- forms and drafts ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Form {
    pub id: i64,
    pub service_id: i64,
    /// The form definition (see `services::forms`).
    pub definition: Json<serde_json::Value>,
    /// Days a closed case file of this service is kept before it is deleted.
    pub retention_days: i64,
    /// Counts every change of the definition (cases record the version they were filed with).
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// Creates or replaces the form of a service (the version counts up).
pub async fn put_form(
    tx: &mut Tx,
    service_id: i64,
    definition: &serde_json::Value,
    retention_days: i64,
    now: DateTime<Utc>,
) -> Result<Form> {
    let old: Option<Form> = one(tx, by("svc_forms", "service_id", service_id)).await?;
    let row = vec![
        ("definition", definition.clone().into()),
        ("retention_days", retention_days.into()),
        (
            "version",
            (old.as_ref().map_or(0, |f| f.version) + 1).into(),
        ),
        ("updated_at", now.into()),
    ];
    let form_id = match &old {
        Some(f) => {
            update(tx, "svc_forms", f.id, row, "Dieses Formular gibt es nicht.").await?;
            f.id
        }
        None => {
            let mut row = row;
            row.push(("service_id", service_id.into()));
            insert(tx, "svc_forms", row).await?
        }
    };
    one(tx, by("svc_forms", "id", form_id))
        .await?
        .ok_or_else(|| Error::not_found("Dieses Formular gibt es nicht."))
}

pub async fn delete_form(tx: &mut Tx, service_id: i64) -> Result<u64> {
    tx.execute(
        &Query::delete()
            .from_table(id("svc_forms"))
            .and_where(Expr::col(id("service_id")).eq(service_id))
            .take(),
    )
    .await
}

pub async fn form(db: &Db, service_id: i64) -> Result<Option<Form>> {
    db.fetch_optional(&by("svc_forms", "service_id", service_id))
        .await
}

pub async fn forms(db: &Db) -> Result<Vec<Form>> {
    db.fetch_all(&select("svc_forms")).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Draft {
    pub id: i64,
    pub service_id: i64,
    pub user_id: i64,
    pub data: Json<serde_json::Value>,
    pub updated_at: DateTime<Utc>,
}

/// Saves the draft of a user for a service (one per user and service).
pub async fn put_draft(
    tx: &mut Tx,
    service_id: i64,
    user_id: i64,
    data: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    delete_draft(tx, service_id, user_id).await?;
    insert(
        tx,
        "svc_drafts",
        vec![
            ("service_id", service_id.into()),
            ("user_id", user_id.into()),
            ("data", data.clone().into()),
            ("updated_at", now.into()),
        ],
    )
    .await?;
    Ok(())
}

pub async fn delete_draft(tx: &mut Tx, service_id: i64, user_id: i64) -> Result<u64> {
    tx.execute(
        &Query::delete()
            .from_table(id("svc_drafts"))
            .and_where(Expr::col(id("service_id")).eq(service_id))
            .and_where(Expr::col(id("user_id")).eq(user_id))
            .take(),
    )
    .await
}

pub async fn draft(db: &Db, service_id: i64, user_id: i64) -> Result<Option<Draft>> {
    db.fetch_optional(
        &by("svc_drafts", "service_id", service_id)
            .and_where(Expr::col(id("user_id")).eq(user_id))
            .take(),
    )
    .await
}

pub async fn drafts_of_user(db: &Db, user_id: i64) -> Result<Vec<Draft>> {
    db.fetch_all(&by("svc_drafts", "user_id", user_id)).await
}

// ---- cases ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Case {
    pub id: i64,
    /// `A-…`, what the resident quotes.
    pub reference: String,
    /// Hash of the secret a resident without account uses to follow the case.
    pub secret_hash: String,
    pub service_id: i64,
    pub org_unit_id: Option<i64>,
    /// The resident's account, if they applied signed in.
    pub user_id: Option<i64>,
    /// The staff member who filed the application on the resident's behalf.
    pub assisted_by: Option<i64>,
    pub applicant_name: String,
    pub applicant_email: String,
    /// The submitted form data.
    pub data: Json<serde_json::Value>,
    /// received, in_review, missing_documents, decided, closed.
    pub status: String,
    pub assignee_id: Option<i64>,
    /// `YYYY-MM-DD`.
    pub deadline: Option<String>,
    pub deadline_reminded: bool,
    pub fee_cents: Option<i64>,
    /// approved or rejected, once decided.
    pub decision: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// When the retention period of the closed case ends.
    pub delete_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn case_row(c: &Case) -> Vec<(&'static str, SimpleExpr)> {
    vec![
        ("reference", c.reference.clone().into()),
        ("secret_hash", c.secret_hash.clone().into()),
        ("service_id", c.service_id.into()),
        ("org_unit_id", c.org_unit_id.into()),
        ("user_id", c.user_id.into()),
        ("assisted_by", c.assisted_by.into()),
        ("applicant_name", c.applicant_name.clone().into()),
        ("applicant_email", c.applicant_email.clone().into()),
        ("data", c.data.0.clone().into()),
        ("status", c.status.clone().into()),
        ("assignee_id", c.assignee_id.into()),
        ("deadline", c.deadline.clone().into()),
        ("deadline_reminded", c.deadline_reminded.into()),
        ("fee_cents", c.fee_cents.into()),
        ("decision", c.decision.clone().into()),
        ("decided_at", c.decided_at.into()),
        ("closed_at", c.closed_at.into()),
        ("delete_after", c.delete_after.into()),
        ("created_at", c.created_at.into()),
        ("updated_at", c.updated_at.into()),
    ]
}

pub async fn insert_case(tx: &mut Tx, c: &Case) -> Result<i64> {
    insert(tx, "svc_cases", case_row(c)).await
}

/// Overwrites every field but `id`, `reference` and `created_at`.
pub async fn update_case(tx: &mut Tx, c: &Case) -> Result<()> {
    let row = case_row(c)
        .into_iter()
        .filter(|(col, _)| !matches!(*col, "reference" | "created_at"))
        .collect();
    update(tx, "svc_cases", c.id, row, "Diesen Vorgang gibt es nicht.").await
}

pub async fn case_tx(tx: &mut Tx, case_id: i64) -> Result<Option<Case>> {
    one(tx, by("svc_cases", "id", case_id)).await
}

pub async fn case(db: &Db, case_id: i64) -> Result<Option<Case>> {
    db.fetch_optional(&by("svc_cases", "id", case_id)).await
}

pub async fn case_by_reference(tx: &mut Tx, reference: &str) -> Result<Option<Case>> {
    one(tx, by("svc_cases", "reference", reference)).await
}

pub async fn cases_of_user(db: &Db, user_id: i64) -> Result<Vec<Case>> {
    db.fetch_all(
        &by("svc_cases", "user_id", user_id)
            .order_by(id("created_at"), Order::Desc)
            .take(),
    )
    .await
}

/// Cases of some org units (all when `org_units` is `None`), newest first.
pub async fn cases_of_org_units(db: &Db, org_units: Option<&[i64]>) -> Result<Vec<Case>> {
    let mut q = select("svc_cases");
    if let Some(ous) = org_units {
        q.and_where(Expr::col(id("org_unit_id")).is_in(ous.iter().copied()));
    }
    db.fetch_all(&q.order_by(id("created_at"), Order::Desc).take())
        .await
}

/// Closed cases whose retention period has ended.
pub async fn cases_to_delete(db: &Db, now: DateTime<Utc>) -> Result<Vec<Case>> {
    db.fetch_all(
        &select("svc_cases")
            .and_where(Expr::col(id("delete_after")).lte(now))
            .take(),
    )
    .await
}

/// Open cases with a deadline up to `day` (`YYYY-MM-DD`) not yet reminded of.
pub async fn cases_with_deadline(db: &Db, day: &str) -> Result<Vec<Case>> {
    db.fetch_all(
        &select("svc_cases")
            .and_where(Expr::col(id("deadline")).lte(day))
            .and_where(Expr::col(id("deadline_reminded")).eq(false))
            .and_where(Expr::col(id("closed_at")).is_null())
            .take(),
    )
    .await
}

/// Deletes a case with its documents, events, invoices and payments.
pub async fn delete_case(tx: &mut Tx, case_id: i64) -> Result<u64> {
    // Children first: SQLite enforces the cascades too, but explicit deletes keep the order
    // independent of the backend's foreign-key settings.
    let invoices: Vec<Id> = tx
        .fetch_all(
            &Query::select()
                .column(id("id"))
                .from(id("svc_invoices"))
                .and_where(Expr::col(id("case_id")).eq(case_id))
                .take(),
        )
        .await?;
    let ids: Vec<i64> = invoices.iter().map(|i| i.id).collect();
    for table in ["svc_payments", "svc_provider_tx"] {
        tx.execute(
            &Query::delete()
                .from_table(id(table))
                .and_where(Expr::col(id("invoice_id")).is_in(ids.iter().copied()))
                .take(),
        )
        .await?;
    }
    for table in ["svc_invoices", "svc_documents", "svc_case_events"] {
        tx.execute(
            &Query::delete()
                .from_table(id(table))
                .and_where(Expr::col(id("case_id")).eq(case_id))
                .take(),
        )
        .await?;
    }
    tx.execute(
        &Query::delete()
            .from_table(id("svc_cases"))
            .and_where(Expr::col(id("id")).eq(case_id))
            .take(),
    )
    .await
}

// ---- documents ----

/// A document version without its bytes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentMeta {
    pub id: i64,
    pub case_id: i64,
    /// The attachment name of the form, or `receipt`, `decision`, `staff-…`.
    pub slot: String,
    pub title: String,
    pub version: i64,
    pub file_name: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
    /// Whether the resident sees it.
    pub public: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Document {
    #[sqlx(flatten)]
    pub meta: DocumentMeta,
    pub content: Vec<u8>,
}

const DOC_META_COLS: [&str; 12] = [
    "id",
    "case_id",
    "slot",
    "title",
    "version",
    "file_name",
    "media_type",
    "size",
    "sha256",
    "public",
    "created_by",
    "created_at",
];

/// A new document, stored as the next version of its slot.
pub struct NewDocument<'a> {
    pub case_id: i64,
    pub slot: &'a str,
    pub title: &'a str,
    pub file_name: &'a str,
    pub media_type: &'a str,
    pub content: &'a [u8],
    pub sha256: &'a str,
    pub public: bool,
    pub created_by: &'a str,
}

pub async fn insert_document(
    tx: &mut Tx,
    d: &NewDocument<'_>,
    now: DateTime<Utc>,
) -> Result<DocumentMeta> {
    let last: Num = tx
        .fetch_one(
            &Query::select()
                .expr_as(sea_query::Func::max(Expr::col(id("version"))), id("n"))
                .from(id("svc_documents"))
                .and_where(Expr::col(id("case_id")).eq(d.case_id))
                .and_where(Expr::col(id("slot")).eq(d.slot))
                .take(),
        )
        .await?;
    let doc_id = insert(
        tx,
        "svc_documents",
        vec![
            ("case_id", d.case_id.into()),
            ("slot", d.slot.into()),
            ("title", d.title.into()),
            ("version", (last.n.unwrap_or(0) + 1).into()),
            ("file_name", d.file_name.into()),
            ("media_type", d.media_type.into()),
            ("size", (d.content.len() as i64).into()),
            ("sha256", d.sha256.into()),
            ("content", d.content.to_vec().into()),
            ("public", d.public.into()),
            ("created_by", d.created_by.into()),
            ("created_at", now.into()),
        ],
    )
    .await?;
    tx.fetch_one(
        &meta_query()
            .and_where(Expr::col(id("id")).eq(doc_id))
            .take(),
    )
    .await
}

fn meta_query() -> SelectStatement {
    Query::select()
        .columns(DOC_META_COLS.iter().map(|c| id(c)))
        .from(id("svc_documents"))
        .take()
}

/// Every version of every document of a case, oldest first.
pub async fn documents(db: &Db, case_id: i64) -> Result<Vec<DocumentMeta>> {
    db.fetch_all(
        &meta_query()
            .and_where(Expr::col(id("case_id")).eq(case_id))
            .order_by(id("id"), Order::Asc)
            .take(),
    )
    .await
}

pub async fn document(db: &Db, document_id: i64) -> Result<Option<Document>> {
    db.fetch_optional(&by("svc_documents", "id", document_id))
        .await
}

/// Every document of a case with its bytes (for the archive export).
pub async fn documents_with_content(db: &Db, case_id: i64) -> Result<Vec<Document>> {
    db.fetch_all(&by("svc_documents", "case_id", case_id)).await
}

// ---- events ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseEvent {
    pub id: i64,
    pub case_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// status, note, message, assigned, deadline, document, payment, submitted.
    pub kind: String,
    pub body: String,
    /// Whether the resident sees it.
    pub public: bool,
}

pub async fn insert_event(
    tx: &mut Tx,
    case_id: i64,
    at: DateTime<Utc>,
    actor: &str,
    kind: &str,
    body: &str,
    public: bool,
) -> Result<i64> {
    insert(
        tx,
        "svc_case_events",
        vec![
            ("case_id", case_id.into()),
            ("at", at.into()),
            ("actor", actor.into()),
            ("kind", kind.into()),
            ("body", body.into()),
            ("public", public.into()),
        ],
    )
    .await
}

pub async fn events(db: &Db, case_id: i64) -> Result<Vec<CaseEvent>> {
    db.fetch_all(&by("svc_case_events", "case_id", case_id))
        .await
}

// ---- invoices and payments ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invoice {
    pub id: i64,
    pub case_id: i64,
    /// ISO 11649 creditor reference (`RF…`), the remittance information of the transfer.
    pub reference: String,
    pub amount_cents: i64,
    pub paid_cents: i64,
    /// open, paid.
    pub status: String,
    /// bank or provider, once paid.
    pub method: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_invoice(tx: &mut Tx, i: &Invoice) -> Result<i64> {
    insert(
        tx,
        "svc_invoices",
        vec![
            ("case_id", i.case_id.into()),
            ("reference", i.reference.clone().into()),
            ("amount_cents", i.amount_cents.into()),
            ("paid_cents", i.paid_cents.into()),
            ("status", i.status.clone().into()),
            ("method", i.method.clone().into()),
            ("paid_at", i.paid_at.into()),
            ("created_at", i.created_at.into()),
        ],
    )
    .await
}

pub async fn update_invoice(tx: &mut Tx, i: &Invoice) -> Result<()> {
    update(
        tx,
        "svc_invoices",
        i.id,
        vec![
            ("paid_cents", i.paid_cents.into()),
            ("status", i.status.clone().into()),
            ("method", i.method.clone().into()),
            ("paid_at", i.paid_at.into()),
        ],
        "Diese Rechnung gibt es nicht.",
    )
    .await
}

pub async fn invoice_tx(tx: &mut Tx, invoice_id: i64) -> Result<Option<Invoice>> {
    one(tx, by("svc_invoices", "id", invoice_id)).await
}

pub async fn invoice_by_reference(tx: &mut Tx, reference: &str) -> Result<Option<Invoice>> {
    one(tx, by("svc_invoices", "reference", reference)).await
}

pub async fn invoices_of_case(db: &Db, case_id: i64) -> Result<Vec<Invoice>> {
    db.fetch_all(&by("svc_invoices", "case_id", case_id)).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Payment {
    pub id: i64,
    pub invoice_id: Option<i64>,
    /// bank or provider.
    pub source: String,
    /// The bank's entry reference or the provider's transaction id.
    pub external_id: String,
    pub amount_cents: i64,
    /// The remittance reference as found.
    pub reference: String,
    pub payer: String,
    pub booked_on: String,
    /// matched, partial, overpaid, unknown_reference, already_paid.
    pub outcome: String,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// Records an incoming payment once; `false` when this (source, external id) is known already.
pub async fn insert_payment(tx: &mut Tx, p: &Payment) -> Result<bool> {
    let known: Option<Payment> = one(
        tx,
        by("svc_payments", "external_id", p.external_id.clone())
            .and_where(Expr::col(id("source")).eq(p.source.clone()))
            .take(),
    )
    .await?;
    if known.is_some() {
        return Ok(false);
    }
    insert(
        tx,
        "svc_payments",
        vec![
            ("invoice_id", p.invoice_id.into()),
            ("source", p.source.clone().into()),
            ("external_id", p.external_id.clone().into()),
            ("amount_cents", p.amount_cents.into()),
            ("reference", p.reference.clone().into()),
            ("payer", p.payer.clone().into()),
            ("booked_on", p.booked_on.clone().into()),
            ("outcome", p.outcome.clone().into()),
            ("note", p.note.clone().into()),
            ("created_at", p.created_at.into()),
        ],
    )
    .await?;
    Ok(true)
}

pub async fn payments_of_invoice(db: &Db, invoice_id: i64) -> Result<Vec<Payment>> {
    db.fetch_all(&by("svc_payments", "invoice_id", invoice_id))
        .await
}

/// Payments that matched no invoice or not its amount (the reconciliation's to-do list).
pub async fn unmatched_payments(db: &Db) -> Result<Vec<Payment>> {
    db.fetch_all(
        &select("svc_payments")
            .and_where(Expr::col(id("outcome")).ne("matched"))
            .order_by(id("id"), Order::Desc)
            .take(),
    )
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderTx {
    pub id: i64,
    pub invoice_id: i64,
    pub request_id: String,
    pub transaction_id: String,
    pub status: String,
    pub payment_url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert_provider_tx(tx: &mut Tx, p: &ProviderTx) -> Result<i64> {
    insert(
        tx,
        "svc_provider_tx",
        vec![
            ("invoice_id", p.invoice_id.into()),
            ("request_id", p.request_id.clone().into()),
            ("transaction_id", p.transaction_id.clone().into()),
            ("status", p.status.clone().into()),
            ("payment_url", p.payment_url.clone().into()),
            ("created_at", p.created_at.into()),
            ("updated_at", p.updated_at.into()),
        ],
    )
    .await
}

pub async fn update_provider_tx(tx: &mut Tx, p: &ProviderTx) -> Result<()> {
    update(
        tx,
        "svc_provider_tx",
        p.id,
        vec![
            ("transaction_id", p.transaction_id.clone().into()),
            ("status", p.status.clone().into()),
            ("payment_url", p.payment_url.clone().into()),
            ("updated_at", p.updated_at.into()),
        ],
        "Diese Zahlung gibt es nicht.",
    )
    .await
}

pub async fn provider_tx_by_request(tx: &mut Tx, request_id: &str) -> Result<Option<ProviderTx>> {
    one(tx, by("svc_provider_tx", "request_id", request_id)).await
}

pub async fn provider_tx_by_transaction(
    tx: &mut Tx,
    transaction_id: &str,
) -> Result<Option<ProviderTx>> {
    one(tx, by("svc_provider_tx", "transaction_id", transaction_id)).await
}

pub async fn provider_txs_of_invoice(db: &Db, invoice_id: i64) -> Result<Vec<ProviderTx>> {
    db.fetch_all(&by("svc_provider_tx", "invoice_id", invoice_id))
        .await
}

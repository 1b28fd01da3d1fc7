//! Fees of online applications: invoices and the two ways to pay them.
//!
//! 1. **Bank transfer.** The invoice carries an ISO 11649 creditor reference (`RF…`) and an
//!    EPC/GiroCode QR code ([`crate::epc`]) with the city's account, amount and reference.
//!    The city treasury imports CAMT.053 bank statements ([`crate::camt`]): every credit entry
//!    is recorded once (source `bank`, the bank's entry reference), matched to its invoice by the
//!    reference, and reported when the reference is unknown, the amount differs or the invoice
//!    is paid already. Re-importing a statement changes nothing.
//! 2. **Online payment provider** ([`crate::payprovider`], in the shape of XBezahldienste): the
//!    resident is redirected to the provider; the return and the notification both make us read
//!    the transaction status from the provider (never the notification's word alone) and book
//!    the payment once (source `provider`, the transaction id).
//!
//! Idempotence: one provider transaction per invoice and attempt (its request id), booking under
//! the invoice lock with a unique (source, external id); a paid invoice never takes a second
//! payment — a second one is recorded as `already_paid` for a refund. Every change is audited.

use crate::payprovider::{self, ProviderConfig, TxStatus};
use crate::{camt, epc, pdf};
use chrono::{DateTime, Utc};
use kern::{Error, Principal, Result};
use platform::{Actor, Env, audit};
use serde::Serialize;
use serde_json::json;
use store::Tx;
use store::cases::{Case, Invoice, Payment, ProviderTx};

/// An invoice as shown to the payer and staff.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceView {
    pub id: i64,
    pub reference: String,
    /// The reference in groups of four, as printed.
    pub reference_print: String,
    pub amount_cents: i64,
    pub paid_cents: i64,
    pub status: String,
    pub method: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub creditor_name: String,
    pub iban: String,
    pub bic: String,
    /// The GiroCode payload and its QR code as SVG (empty when paid).
    pub epc_payload: String,
    pub qr_svg: String,
}

fn invoice_lock(invoice_id: i64) -> i64 {
    0x5e_8000_0000 + invoice_id
}

fn group4(s: &str) -> String {
    s.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn epc_of(env: &Env, i: &Invoice, purpose: &str) -> Result<String> {
    let p = &env.config.payment;
    epc::payload(&epc::EpcPayment {
        bic: (!p.bic.trim().is_empty()).then(|| p.bic.trim().to_string()),
        name: p.creditor_name.clone(),
        iban: epc::normalize_iban(&p.iban),
        amount_cents: i.amount_cents - i.paid_cents.min(i.amount_cents),
        purpose: None,
        remittance_reference: Some(i.reference.clone()),
        remittance_text: None,
        note: Some(purpose.chars().take(70).collect()),
    })
    .map_err(|e| Error::Internal(format!("GiroCode of invoice {}: {e}", i.id)))
}

fn view_of(env: &Env, i: Invoice, purpose: &str) -> Result<InvoiceView> {
    let (payload, svg) = if i.status == "paid" {
        (String::new(), String::new())
    } else {
        let p = epc_of(env, &i, purpose)?;
        let svg = epc::qr_svg(&p);
        (p, svg)
    };
    let p = &env.config.payment;
    Ok(InvoiceView {
        id: i.id,
        reference_print: group4(&i.reference),
        reference: i.reference,
        amount_cents: i.amount_cents,
        paid_cents: i.paid_cents,
        status: i.status,
        method: i.method,
        paid_at: i.paid_at,
        creditor_name: p.creditor_name.clone(),
        iban: group4(&epc::normalize_iban(&p.iban)),
        bic: p.bic.clone(),
        epc_payload: payload,
        qr_svg: svg,
    })
}

/// Issues the invoice of a new case (inside the submission's transaction).
pub async fn issue_invoice(env: &Env, tx: &mut Tx, c: &Case, cents: i64) -> Result<Invoice> {
    // Base: the case id and four random digits, so references are unique and not guessable
    // from the case number alone.
    let digits: String = env
        .rng
        .bytes(4)
        .iter()
        .map(|b| char::from(b'0' + b % 10))
        .collect();
    let reference = epc::try_creditor_reference(&format!("{}{digits}", c.id))
        .map_err(|e| Error::Internal(e.to_string()))?;
    let mut i = Invoice {
        id: 0,
        case_id: c.id,
        reference,
        amount_cents: cents,
        paid_cents: 0,
        status: "open".into(),
        method: None,
        paid_at: None,
        created_at: env.now(),
    };
    i.id = store::cases::insert_invoice(tx, &i).await?;
    store::cases::insert_event(
        tx,
        c.id,
        env.now(),
        "Stadtkern",
        "payment",
        &format!(
            "Gebührenbescheid über {} (Referenz {})",
            euro(cents),
            group4(&i.reference)
        ),
        true,
    )
    .await?;
    Ok(i)
}

/// An amount in cents as German text, `12,50 €`.
pub fn euro(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{},{:02} €", c / 100, c % 100)
}

/// The invoices of a case with their GiroCodes.
pub async fn invoices_view(env: &Env, case_id: i64) -> Result<Vec<InvoiceView>> {
    let c = store::cases::case(&env.db, case_id).await?;
    let purpose = c.map(|c| c.reference).unwrap_or_default();
    store::cases::invoices_of_case(&env.db, case_id)
        .await?
        .into_iter()
        .map(|i| view_of(env, i, &format!("Antrag {purpose}")))
        .collect()
}

/// The invoice as a PDF (with the GiroCode), for the payer or staff of the case.
pub async fn invoice_pdf(env: &Env, c: &Case, invoice_id: i64) -> Result<Vec<u8>> {
    let i = store::cases::invoices_of_case(&env.db, c.id)
        .await?
        .into_iter()
        .find(|i| i.id == invoice_id)
        .ok_or_else(|| Error::not_found("Diese Rechnung gibt es nicht."))?;
    let service = crate::catalog::get(env, c.service_id).await?;
    let v = view_of(env, i.clone(), &format!("Antrag {}", c.reference))?;
    let mut blocks = vec![
        pdf::Block::Paragraph(format!(
            "{}\n{}",
            env.config.city.operator, env.config.city.address
        )),
        pdf::Block::Rule,
        pdf::Block::Heading(format!("Gebührenbescheid – {}", service.name)),
        pdf::Block::Fields(vec![
            ("Vorgangsnummer".into(), c.reference.clone()),
            ("Antragstellende Person".into(), c.applicant_name.clone()),
            ("Betrag".into(), euro(i.amount_cents)),
            ("Bezahlt".into(), euro(i.paid_cents)),
            ("Empfänger".into(), v.creditor_name.clone()),
            ("IBAN".into(), v.iban.clone()),
            ("BIC".into(), v.bic.clone()),
            (
                "Verwendungszweck (Referenz)".into(),
                v.reference_print.clone(),
            ),
        ]),
    ];
    if i.status == "paid" {
        blocks.push(pdf::Block::Paragraph(
            "Diese Gebühr ist bezahlt. Vielen Dank.".into(),
        ));
    } else {
        blocks.push(pdf::Block::Paragraph(
            "Bitte überweisen Sie den Betrag mit der Referenz als Verwendungszweck, damit wir Ihre Zahlung zuordnen können. Mit dem GiroCode übernimmt Ihre Banking-App alle Angaben."
                .into(),
        ));
        blocks.push(pdf::Block::Qr {
            payload: v.epc_payload.clone(),
            caption: "GiroCode: mit der Banking-App scannen".into(),
        });
    }
    Ok(pdf::render(
        &pdf::Document {
            title: format!("Gebührenbescheid {}", c.reference),
            author: env.config.city.name.clone(),
            lang: "de".into(),
            blocks,
        },
        env.now(),
    ))
}

/// Books a payment under the invoice lock. Returns the outcome recorded.
async fn book(
    env: &Env,
    tx: &mut Tx,
    actor: &Actor,
    invoice: Option<Invoice>,
    mut p: Payment,
) -> Result<Option<String>> {
    if let Some(i0) = &invoice {
        tx.lock(invoice_lock(i0.id)).await?;
    }
    // Re-read under the lock: a concurrent booking may have paid it meanwhile.
    let invoice = match invoice {
        Some(i) => store::cases::invoice_tx(tx, i.id).await?,
        None => None,
    };
    p.outcome = match &invoice {
        None => "unknown_reference".into(),
        Some(i) if i.status == "paid" => "already_paid".into(),
        Some(i) => {
            let total = i.paid_cents + p.amount_cents;
            match total.cmp(&i.amount_cents) {
                std::cmp::Ordering::Equal => "matched".into(),
                std::cmp::Ordering::Less => "partial".into(),
                std::cmp::Ordering::Greater => "overpaid".into(),
            }
        }
    };
    p.invoice_id = invoice.as_ref().map(|i| i.id);
    if !store::cases::insert_payment(tx, &p).await? {
        return Ok(None);
    }
    if let Some(mut i) = invoice
        && p.outcome != "already_paid"
    {
        i.paid_cents += p.amount_cents;
        if i.paid_cents >= i.amount_cents {
            i.status = "paid".into();
            i.method = Some(p.source.clone());
            i.paid_at = Some(env.now());
        }
        store::cases::update_invoice(tx, &i).await?;
        let body = match p.outcome.as_str() {
            "matched" => format!(
                "Gebühr bezahlt: {} ({})",
                euro(p.amount_cents),
                method_label(&p.source)
            ),
            "partial" => format!(
                "Teilzahlung erhalten: {}; offen sind noch {}",
                euro(p.amount_cents),
                euro(i.amount_cents - i.paid_cents)
            ),
            _ => format!(
                "Zahlung erhalten: {}; {} zu viel gezahlt, wird erstattet",
                euro(p.amount_cents),
                euro(i.paid_cents - i.amount_cents)
            ),
        };
        store::cases::insert_event(
            tx,
            i.case_id,
            env.now(),
            "Stadtkasse",
            "payment",
            &body,
            true,
        )
        .await?;
    }
    audit::record_tx(
        env,
        tx,
        actor,
        "services.payment.book",
        &format!("payment:{}:{}", p.source, p.external_id),
        json!({ "invoice_id": p.invoice_id, "amount_cents": p.amount_cents, "outcome": p.outcome }),
    )
    .await?;
    Ok(Some(p.outcome))
}

fn method_label(source: &str) -> &'static str {
    if source == "bank" {
        "Überweisung"
    } else {
        "online"
    }
}

/// What a statement import did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    pub statements: usize,
    pub entries: usize,
    /// Credit entries booked against their invoice in full.
    pub matched: usize,
    pub partial: usize,
    pub overpaid: usize,
    /// Entries whose reference matches no invoice (or that carry none).
    pub unknown: Vec<UnknownEntry>,
    /// Entries paying an invoice that was paid already.
    pub already_paid: usize,
    /// Entries seen in an earlier import (nothing changed).
    pub duplicates: usize,
    /// Debits and entries not yet booked, skipped.
    pub skipped: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnknownEntry {
    pub bank_ref: String,
    pub amount_cents: i64,
    pub payer: String,
    pub remittance: String,
}

/// May import statements: admins and the scope `payments:write` (the treasury's token or role).
pub fn may_reconcile(p: &Principal) -> bool {
    p.is_admin() || p.has_scope("payments:write")
}

/// Imports CAMT.053 statements (one file). Malformed XML or a foreign currency rejects the
/// whole file and writes nothing.
pub async fn import_camt(env: &Env, actor: &Actor, xml: &[u8]) -> Result<ImportReport> {
    if !(actor.is_system() || may_reconcile(&actor.principal)) {
        return Err(if actor.principal.is_anonymous() {
            Error::Unauthorized("Bitte melden Sie sich an.".into())
        } else {
            Error::forbidden("Kontoauszüge liest nur die Stadtkasse ein.")
        });
    }
    let statements = camt::parse(xml).map_err(|e| Error::invalid("file", e.to_string()))?;
    let mut report = ImportReport {
        statements: statements.len(),
        ..Default::default()
    };
    let own = epc::normalize_iban(&env.config.payment.iban);
    if let Some(s) = statements
        .iter()
        .find(|s| !s.iban.is_empty() && epc::normalize_iban(&s.iban) != own)
    {
        return Err(Error::invalid(
            "file",
            format!(
                "Der Kontoauszug {} gehört zum Konto {}, nicht zum Konto der Stadtkasse.",
                s.id, s.iban
            ),
        ));
    }
    let mut tx = env.db.begin().await?;
    for s in &statements {
        for (n, e) in s.entries.iter().enumerate() {
            report.entries += 1;
            if !e.credit || !e.booked {
                report.skipped += 1;
                continue;
            }
            if e.currency != "EUR" {
                return Err(Error::invalid(
                    "file",
                    format!("Umsatz {} ist nicht in Euro ({}).", n + 1, e.currency),
                ));
            }
            let external = if e.bank_ref.is_empty() {
                // Without the bank's reference, the statement and position identify the entry.
                format!("{}#{}", s.id, n + 1)
            } else {
                e.bank_ref.clone()
            };
            let reference = camt::find_reference(e, epc::valid_creditor_reference);
            let invoice = match &reference {
                Some(r) => store::cases::invoice_by_reference(&mut tx, r).await?,
                None => None,
            };
            let p = Payment {
                id: 0,
                invoice_id: None,
                source: "bank".into(),
                external_id: external,
                amount_cents: e.amount_cents,
                reference: reference.clone().unwrap_or_default(),
                payer: e.debtor_name.clone(),
                booked_on: e
                    .booking_date
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                outcome: String::new(),
                note: e.remittance.chars().take(140).collect(),
                created_at: env.now(),
            };
            match book(env, &mut tx, actor, invoice, p).await?.as_deref() {
                None => report.duplicates += 1,
                Some("matched") => report.matched += 1,
                Some("partial") => report.partial += 1,
                Some("overpaid") => report.overpaid += 1,
                Some("already_paid") => report.already_paid += 1,
                Some(_) => report.unknown.push(UnknownEntry {
                    bank_ref: e.bank_ref.clone(),
                    amount_cents: e.amount_cents,
                    payer: e.debtor_name.clone(),
                    remittance: e.remittance.clone(),
                }),
            }
        }
    }
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.payment.import_camt",
        "payments",
        serde_json::to_value(&report).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// Payments that need a person: unknown references, partial, over- and double payments.
pub async fn open_items(env: &Env, actor: &Actor) -> Result<Vec<Payment>> {
    if !(actor.is_system() || may_reconcile(&actor.principal)) {
        return Err(Error::forbidden(
            "Kontoauszüge liest nur die Stadtkasse ein.",
        ));
    }
    store::cases::unmatched_payments(&env.db).await
}

/// The provider configuration in effect (the simulator when switched on and none is set).
pub fn provider(env: &Env) -> Option<ProviderConfig> {
    let p = &env.config.payment;
    let base = match &p.provider_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None if p.simulator => format!("{}/paysim", env.config.public_url()),
        None => return None,
    };
    Some(ProviderConfig {
        base_url: base,
        originator_id: p.originator_id.clone(),
        endpoint_id: p.endpoint_id.clone(),
        api_key: p.provider_key.clone(),
    })
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

fn provider_error(e: payprovider::ProviderError) -> Error {
    tracing::warn!(error = %e, "payment provider");
    Error::Unavailable(
        "Der Bezahldienst ist gerade nicht erreichbar. Bitte versuchen Sie es später noch einmal oder überweisen Sie den Betrag."
            .into(),
    )
}

/// Starts (or resumes) the online payment of an invoice; returns the provider's payment page.
/// The caller has checked that the payer may see the case. Concurrent or repeated starts get
/// the same transaction.
pub async fn start_online(
    env: &Env,
    actor: &Actor,
    c: &Case,
    invoice_id: i64,
    return_url: &str,
) -> Result<String> {
    let cfg = provider(env)
        .ok_or_else(|| Error::Conflict("Online-Bezahlung ist nicht eingerichtet.".into()))?;
    let mut tx = env.db.begin().await?;
    tx.lock(invoice_lock(invoice_id)).await?;
    let i = store::cases::invoice_tx(&mut tx, invoice_id)
        .await?
        .filter(|i| i.case_id == c.id)
        .ok_or_else(|| Error::not_found("Diese Rechnung gibt es nicht."))?;
    if i.status == "paid" {
        return Err(Error::Conflict("Diese Gebühr ist bereits bezahlt.".into()));
    }
    let existing = store::cases::provider_txs_of_invoice(&env.db, i.id).await?;
    if let Some(t) = existing
        .iter()
        .find(|t| t.status == "INITIAL" && !t.payment_url.is_empty())
    {
        tx.commit().await?;
        return Ok(t.payment_url.clone());
    }
    // A new attempt: its request id is our idempotency key at the provider.
    let request_id = format!("{}-{}", i.reference, existing.len() + 1);
    let row = match store::cases::provider_tx_by_request(&mut tx, &request_id).await? {
        Some(r) => r,
        None => {
            let mut r = ProviderTx {
                id: 0,
                invoice_id: i.id,
                request_id: request_id.clone(),
                transaction_id: String::new(),
                status: "CREATING".into(),
                payment_url: String::new(),
                created_at: env.now(),
                updated_at: env.now(),
            };
            r.id = store::cases::insert_provider_tx(&mut tx, &r).await?;
            r
        }
    };
    tx.commit().await?;
    let public = env.config.public_url();
    let t = payprovider::create(
        &client(),
        &cfg,
        &payprovider::CreateTransaction {
            request_id: request_id.clone(),
            amount_cents: i.amount_cents - i.paid_cents,
            currency: "EUR".into(),
            purpose: format!("Antrag {} – {}", c.reference, env.config.city.name),
            reference: i.reference.clone(),
            redirect_url: return_url.to_string(),
            notify_url: format!("{public}/api/v1/payments/notify"),
        },
    )
    .await
    .map_err(provider_error)?;
    let mut tx = env.db.begin().await?;
    let mut row = store::cases::provider_tx_by_request(&mut tx, &row.request_id)
        .await?
        .unwrap_or(row);
    row.transaction_id = t.transaction_id.clone();
    row.status = status_text(t.status).into();
    row.payment_url = t.payment_url.clone();
    row.updated_at = env.now();
    store::cases::update_provider_tx(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "services.payment.start_online",
        &format!("invoice:{}", i.id),
        json!({ "request_id": request_id, "transaction_id": t.transaction_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(t.payment_url)
}

fn status_text(s: TxStatus) -> &'static str {
    match s {
        TxStatus::Initial => "INITIAL",
        TxStatus::Payed => "PAYED",
        TxStatus::Failed => "FAILED",
        TxStatus::Canceled => "CANCELED",
        TxStatus::Expired => "EXPIRED",
    }
}

/// Reads a transaction's status at the provider and books it when paid (from the return page
/// and from the notification; whichever comes first books, the other changes nothing).
/// Returns the transaction's status and the case id.
pub async fn confirm_online(env: &Env, transaction_id: &str) -> Result<(String, i64)> {
    let cfg = provider(env)
        .ok_or_else(|| Error::Conflict("Online-Bezahlung ist nicht eingerichtet.".into()))?;
    let mut tx = env.db.begin().await?;
    let row = store::cases::provider_tx_by_transaction(&mut tx, transaction_id)
        .await?
        .ok_or_else(|| Error::not_found("Diese Zahlung gibt es nicht."))?;
    tx.commit().await?;
    let t = payprovider::status(&client(), &cfg, transaction_id)
        .await
        .map_err(provider_error)?;
    let mut tx = env.db.begin().await?;
    let invoice = store::cases::invoice_tx(&mut tx, row.invoice_id)
        .await?
        .ok_or_else(|| Error::not_found("Diese Rechnung gibt es nicht."))?;
    if t.reference != invoice.reference {
        return Err(Error::Conflict(
            "Die Zahlung des Bezahldienstes gehört zu einer anderen Rechnung.".into(),
        ));
    }
    let mut row = row;
    let status = status_text(t.status);
    if row.status != status {
        row.status = status.into();
        row.updated_at = env.now();
        store::cases::update_provider_tx(&mut tx, &row).await?;
    }
    if t.status == TxStatus::Payed {
        let p = Payment {
            id: 0,
            invoice_id: None,
            source: "provider".into(),
            external_id: transaction_id.into(),
            amount_cents: t.amount_cents,
            reference: invoice.reference.clone(),
            payer: String::new(),
            booked_on: crate::appointments::local_day(env.now()),
            outcome: String::new(),
            note: String::new(),
            created_at: env.now(),
        };
        let case_id = invoice.case_id;
        book(env, &mut tx, &Actor::system(), Some(invoice), p).await?;
        tx.commit().await?;
        return Ok((status.into(), case_id));
    }
    let case_id = invoice.case_id;
    tx.commit().await?;
    Ok((status.into(), case_id))
}

/// Whether a person may see a case's payments (the applicant or its staff); used by the web
/// layer together with [`crate::cases::view`].
pub fn may_see(p: &Principal, c: &Case) -> bool {
    crate::cases::may_work(p, c.org_unit_id) || p.user().is_some_and(|u| Some(u.id) == c.user_id)
}

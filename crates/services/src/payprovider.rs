//! Client for an ePayment provider (the city's "Zahlungsverkehrsprovider") in the shape of
//! XBezahldienste REST.
//!
//! The flow: the city creates a payment transaction at the provider ([`create`]), redirects
//! the resident's browser to the returned `payment_url`, the provider redirects the browser
//! back to the `redirect_url` and notifies the city server-to-server at the `notify_url`.
//! A notification ([`parse_notification`]) is only a hint: the city always re-reads the
//! transaction with [`status`] before it trusts a status (the notify URL is public, anyone can
//! post to it).
//!
//! Wire format (JSON, camelCase), relative to [`ProviderConfig::base_url`]:
//!
//! - `POST {base}/paymenttransaction/{originatorId}/{endPointId}` with
//!   `{"requestId","requestTimestamp" (RFC 3339),"currency","grossAmount","purpose",
//!   "reference","redirectUrl","notifyUrl"}` answers 201 (new) or 200 (the `requestId` was seen
//!   before; the provider returns the same transaction) with
//!   `{"paymentInformation":{"transactionId","status","transactionUrl","grossAmount",
//!   "reference","requestId"}}`.
//! - `GET {base}/paymenttransaction/{originatorId}/{endPointId}/{transactionId}` answers 200
//!   with the same body.
//! - The notification is a `POST` to the notify URL with `{"transactionId","status"}`.
//!
//! `grossAmount` is a JSON number in euros with two decimals (`37.00`). Amounts are kept in
//! cents and converted through the number's decimal text, never through float arithmetic.
//! `status` is one of `INITIAL`, `PAYED`, `FAILED`, `CANCELED`, `EXPIRED`.
//!
//! Every request has a timeout of [`REQUEST_TIMEOUT`]; an API key is sent as
//! `Authorization: Bearer`. Error messages are written for staff (German).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// The HTTP client crate this module speaks through, for callers without their own dependency.
pub use reqwest;

/// Timeout of every request to the provider.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest amount accepted in either direction: 1 000 000 000,00 €.
pub const MAX_AMOUNT_CENTS: i64 = 100_000_000_000;

/// Largest response or notification body read (bytes).
const MAX_BODY: usize = 1 << 20;

/// Where and as whom the city talks to its provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// Base URL of the REST interface, e.g. `http://127.0.0.1:8080/paysim`.
    pub base_url: String,
    /// The city's originator (Bewirtschafter) id at the provider.
    pub originator_id: String,
    /// The endpoint (Verfahren) id at the provider.
    pub endpoint_id: String,
    /// Sent as `Authorization: Bearer` when set.
    pub api_key: Option<String>,
}

/// A payment the city asks the provider to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTransaction {
    /// Our idempotency key: the provider returns the same transaction for the same id.
    pub request_id: String,
    pub amount_cents: i64,
    /// ISO 4217 code, `EUR`.
    pub currency: String,
    /// Verwendungszweck, shown to the payer.
    pub purpose: String,
    /// Our invoice reference.
    pub reference: String,
    /// Where the provider sends the browser back.
    pub redirect_url: String,
    /// Where the provider posts its notification.
    pub notify_url: String,
}

/// Status of a transaction at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TxStatus {
    Initial,
    Payed,
    Failed,
    Canceled,
    Expired,
}

impl TxStatus {
    /// The wire name (`INITIAL`, `PAYED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TxStatus::Initial => "INITIAL",
            TxStatus::Payed => "PAYED",
            TxStatus::Failed => "FAILED",
            TxStatus::Canceled => "CANCELED",
            TxStatus::Expired => "EXPIRED",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<TxStatus> {
        [
            TxStatus::Initial,
            TxStatus::Payed,
            TxStatus::Failed,
            TxStatus::Canceled,
            TxStatus::Expired,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// True for every status but `INITIAL`: the transaction no longer changes.
    pub fn is_final(self) -> bool {
        self != TxStatus::Initial
    }
}

impl std::fmt::Display for TxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transaction as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub transaction_id: String,
    pub status: TxStatus,
    /// Where to redirect the browser (the provider's payment page).
    pub payment_url: String,
    pub amount_cents: i64,
    pub reference: String,
    pub request_id: String,
}

/// The provider's server-to-server notice; re-read the status with [`status`] before use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub transaction_id: String,
    pub status: TxStatus,
}

/// What can go wrong talking to the provider.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached or the connection broke (incl. timeouts).
    #[error("Zahlungsanbieter nicht erreichbar: {0}")]
    Http(String),
    /// The provider answered with an unexpected HTTP status.
    #[error("Zahlungsanbieter antwortet mit HTTP {0}: {1}")]
    Status(u16, String),
    /// Our input, the configuration or the provider's answer is invalid.
    #[error("Ungültige Zahlungsdaten: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ProviderError {
    ProviderError::Invalid(msg.into())
}

// ---------------------------------------------------------------------------------------------
// Amounts

/// Formats cents as the wire decimal with two decimals: `3700` -> `"37.00"`.
pub fn format_amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Parses a wire decimal in euros into cents: `"37.1"` -> `3710`, `"37"` -> `3700`.
///
/// Rejects signs, exponents, more than two (non-zero) decimals and amounts above
/// [`MAX_AMOUNT_CENTS`]; trailing zeros (`"37.100"`) are fine.
pub fn parse_amount(text: &str) -> Result<i64, ProviderError> {
    let bad = || invalid(format!("Betrag „{text}“ ist kein gültiger Euro-Betrag"));
    if text.starts_with('-') {
        return Err(invalid(format!("Betrag „{text}“ ist negativ")));
    }
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let frac = match frac {
        None => "",
        Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => return Err(bad()),
        Some(f) => f,
    };
    if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
        return Err(invalid(format!(
            "Betrag „{text}“ hat mehr als zwei Nachkommastellen"
        )));
    }
    let too_large = || invalid(format!("Betrag „{text}“ ist zu groß"));
    let mut cents: i64 = 0;
    for b in int.bytes() {
        cents = cents
            .checked_mul(10)
            .and_then(|c| c.checked_add(i64::from(b - b'0')))
            .filter(|c| *c <= MAX_AMOUNT_CENTS)
            .ok_or_else(too_large)?;
    }
    let mut digits = frac.bytes().chain(std::iter::repeat(b'0')).take(2);
    let tens = i64::from(digits.next().unwrap_or(b'0') - b'0');
    let ones = i64::from(digits.next().unwrap_or(b'0') - b'0');
    cents = cents
        .checked_mul(100)
        .and_then(|c| c.checked_add(tens * 10 + ones))
        .filter(|c| *c <= MAX_AMOUNT_CENTS)
        .ok_or_else(too_large)?;
    Ok(cents)
}

/// Reads a `grossAmount` JSON value (a number) into cents via its decimal text.
pub fn amount_from_json(value: &Value) -> Result<i64, ProviderError> {
    match value {
        Value::Number(n) => parse_amount(&n.to_string()),
        _ => Err(invalid("grossAmount fehlt oder ist keine Zahl")),
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Writes a JSON object from (key, JSON text) pairs; lets amounts keep their two decimals.
fn json_object(fields: &[(&str, String)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_str(key));
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

fn json_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The create request body (with `grossAmount` as `37.00`).
fn create_body(req: &CreateTransaction, timestamp: &str) -> String {
    json_object(&[
        ("requestId", json_str(&req.request_id)),
        ("requestTimestamp", json_str(timestamp)),
        ("currency", json_str(&req.currency)),
        ("grossAmount", format_amount(req.amount_cents)),
        ("purpose", json_str(&req.purpose)),
        ("reference", json_str(&req.reference)),
        ("redirectUrl", json_str(&req.redirect_url)),
        ("notifyUrl", json_str(&req.notify_url)),
    ])
}

/// The `{"paymentInformation":{...}}` body a provider answers with (used by the simulator).
pub fn payment_information_json(tx: &Transaction) -> String {
    let info = json_object(&[
        ("transactionId", json_str(&tx.transaction_id)),
        ("status", json_str(tx.status.as_str())),
        ("transactionUrl", json_str(&tx.payment_url)),
        ("grossAmount", format_amount(tx.amount_cents)),
        ("reference", json_str(&tx.reference)),
        ("requestId", json_str(&tx.request_id)),
    ]);
    json_object(&[("paymentInformation", info)])
}

/// The notification body a provider posts (used by the simulator).
pub fn notification_json(n: &Notification) -> String {
    json_object(&[
        ("transactionId", json_str(&n.transaction_id)),
        ("status", json_str(n.status.as_str())),
    ])
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Parses a `{"paymentInformation":{...}}` body.
pub fn parse_payment_information(body: &[u8]) -> Result<Transaction, ProviderError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("Antwort des Zahlungsanbieters ist kein JSON: {e}")))?;
    let info = v
        .get("paymentInformation")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("Antwort des Zahlungsanbieters ohne paymentInformation"))?;
    let text = |key: &str| -> Result<String, ProviderError> {
        match info.get(key).and_then(Value::as_str) {
            Some(s) if !s.trim().is_empty() => Ok(s.to_owned()),
            _ => Err(invalid(format!("Antwort des Zahlungsanbieters ohne {key}"))),
        }
    };
    let status_text = text("status")?;
    let status = TxStatus::parse(&status_text)
        .ok_or_else(|| invalid(format!("Unbekannter Zahlungsstatus „{status_text}“")))?;
    let payment_url = text("transactionUrl")?;
    web_url(&payment_url, "transactionUrl")?;
    let amount_cents = amount_from_json(info.get("grossAmount").unwrap_or(&Value::Null))?;
    Ok(Transaction {
        transaction_id: text("transactionId")?,
        status,
        payment_url,
        amount_cents,
        reference: text("reference")?,
        request_id: text("requestId")?,
    })
}

/// Parses the provider's notification body `{"transactionId","status"}`.
///
/// Only a hint: re-read the transaction with [`status`] before acting on it.
pub fn parse_notification(body: &[u8]) -> Result<Notification, ProviderError> {
    if body.len() > MAX_BODY {
        return Err(invalid("Benachrichtigung ist zu groß"));
    }
    let n: Notification = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("Benachrichtigung nicht lesbar: {e}")))?;
    if n.transaction_id.trim().is_empty() || n.transaction_id.len() > 200 {
        return Err(invalid("Benachrichtigung ohne gültige transactionId"));
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// Checks an absolute http(s) URL.
fn web_url(s: &str, what: &str) -> Result<url::Url, ProviderError> {
    let u = url::Url::parse(s).map_err(|e| invalid(format!("{what} „{s}“ ist ungültig: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(invalid(format!("{what} „{s}“ ist keine http(s)-Adresse")));
    }
    Ok(u)
}

/// `{base}/paymenttransaction/{originator}/{endpoint}[/{tx}]`, segments percent-encoded.
fn endpoint_url(cfg: &ProviderConfig, tx: Option<&str>) -> Result<url::Url, ProviderError> {
    let mut u = web_url(&cfg.base_url, "Basis-URL des Zahlungsanbieters")?;
    if cfg.originator_id.trim().is_empty() || cfg.endpoint_id.trim().is_empty() {
        return Err(invalid("originatorId und endPointId müssen gesetzt sein"));
    }
    u.set_query(None);
    u.set_fragment(None);
    {
        let mut segs = u
            .path_segments_mut()
            .map_err(|()| invalid("Basis-URL des Zahlungsanbieters ist ungültig"))?;
        segs.pop_if_empty();
        segs.push("paymenttransaction");
        segs.push(&cfg.originator_id);
        segs.push(&cfg.endpoint_id);
        if let Some(tx) = tx {
            segs.push(tx);
        }
    }
    Ok(u)
}

fn authorize(rb: reqwest::RequestBuilder, cfg: &ProviderConfig) -> reqwest::RequestBuilder {
    let rb = rb
        .timeout(REQUEST_TIMEOUT)
        .header(reqwest::header::ACCEPT, "application/json");
    match cfg.api_key.as_deref() {
        Some(key) if !key.is_empty() => rb.bearer_auth(key),
        _ => rb,
    }
}

fn http_error(e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Http(format!(
            "keine Antwort innerhalb von {} s",
            REQUEST_TIMEOUT.as_secs()
        ))
    } else {
        ProviderError::Http(e.without_url().to_string())
    }
}

/// Sends the request and returns (status, body) with a size limit.
async fn send(rb: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), ProviderError> {
    let resp = rb.send().await.map_err(http_error)?;
    let code = resp.status().as_u16();
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(invalid("Antwort des Zahlungsanbieters ist zu groß"));
    }
    let body = resp.bytes().await.map_err(http_error)?;
    if body.len() > MAX_BODY {
        return Err(invalid("Antwort des Zahlungsanbieters ist zu groß"));
    }
    Ok((code, body.to_vec()))
}

/// A staff-readable message from an error body: its `error`/`message` field or its text.
fn error_message(code: u16, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        for key in ["error", "message", "detail"] {
            if let Some(s) = v.get(key).and_then(Value::as_str) {
                return s.to_owned();
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        reqwest::StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("ohne Begründung")
            .to_owned()
    } else {
        text.chars().take(200).collect()
    }
}

/// Creates a transaction (or gets the existing one for the same `request_id`).
///
/// Checks our input first, then that the answer matches the request (id, amount, reference).
/// `requestTimestamp` is the system clock's time; [`create_at`] takes it as a parameter.
pub async fn create(
    client: &reqwest::Client,
    cfg: &ProviderConfig,
    req: &CreateTransaction,
) -> Result<Transaction, ProviderError> {
    use kern::Clock;
    create_at(client, cfg, req, kern::SystemClock.now()).await
}

/// [`create`] with `requestTimestamp` given by the caller (e.g. `env.now()`).
pub async fn create_at(
    client: &reqwest::Client,
    cfg: &ProviderConfig,
    req: &CreateTransaction,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Transaction, ProviderError> {
    if req.request_id.trim().is_empty() {
        return Err(invalid("requestId fehlt"));
    }
    if req.amount_cents <= 0 || req.amount_cents > MAX_AMOUNT_CENTS {
        return Err(invalid(format!(
            "Betrag {} € ist nicht zulässig",
            format_amount(req.amount_cents)
        )));
    }
    if req.currency.len() != 3 || !req.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(format!("Währung „{}“ ist ungültig", req.currency)));
    }
    if req.purpose.trim().is_empty() {
        return Err(invalid("Verwendungszweck fehlt"));
    }
    if req.reference.trim().is_empty() {
        return Err(invalid("Referenz fehlt"));
    }
    web_url(&req.redirect_url, "redirectUrl")?;
    web_url(&req.notify_url, "notifyUrl")?;
    let url = endpoint_url(cfg, None)?;
    let timestamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let rb = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(create_body(req, &timestamp));
    let (code, body) = send(authorize(rb, cfg)).await?;
    if code != 200 && code != 201 {
        return Err(ProviderError::Status(code, error_message(code, &body)));
    }
    let tx = parse_payment_information(&body)?;
    if tx.request_id != req.request_id {
        return Err(invalid(format!(
            "Zahlungsanbieter antwortet zu requestId „{}“ statt „{}“",
            tx.request_id, req.request_id
        )));
    }
    if tx.amount_cents != req.amount_cents || tx.reference != req.reference {
        return Err(invalid(format!(
            "Zahlungsanbieter meldet {} € / „{}“ statt {} € / „{}“",
            format_amount(tx.amount_cents),
            tx.reference,
            format_amount(req.amount_cents),
            req.reference
        )));
    }
    Ok(tx)
}

/// Reads a transaction's current status; the only source the city trusts.
pub async fn status(
    client: &reqwest::Client,
    cfg: &ProviderConfig,
    transaction_id: &str,
) -> Result<Transaction, ProviderError> {
    if transaction_id.trim().is_empty() {
        return Err(invalid("transactionId fehlt"));
    }
    let url = endpoint_url(cfg, Some(transaction_id))?;
    let (code, body) = send(authorize(client.get(url), cfg)).await?;
    if code != 200 {
        return Err(ProviderError::Status(code, error_message(code, &body)));
    }
    let tx = parse_payment_information(&body)?;
    if tx.transaction_id != transaction_id {
        return Err(invalid(format!(
            "Zahlungsanbieter antwortet zu Transaktion „{}“ statt „{transaction_id}“",
            tx.transaction_id
        )));
    }
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_cents_as_two_decimals() {
        assert_eq!(format_amount(3700), "37.00");
        assert_eq!(format_amount(3710), "37.10");
        assert_eq!(format_amount(5), "0.05");
        assert_eq!(format_amount(0), "0.00");
        assert_eq!(format_amount(-150), "-1.50");
        assert_eq!(format_amount(123_456_789), "1234567.89");
    }

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(parse_amount("37.1").unwrap(), 3710);
        assert_eq!(parse_amount("37.10").unwrap(), 3710);
        assert_eq!(parse_amount("37.00").unwrap(), 3700);
        assert_eq!(parse_amount("37").unwrap(), 3700);
        assert_eq!(parse_amount("0.01").unwrap(), 1);
        assert_eq!(parse_amount("0.29").unwrap(), 29);
        assert_eq!(parse_amount("19.99").unwrap(), 1999);
        assert_eq!(parse_amount("37.100").unwrap(), 3710);
        for bad in [
            "", "-1.00", "+1", "1.", ".5", "1.005", "37.123", "1e3", "1,50", " 1", "abc", "1.2.3",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_amount("1000000000.00").is_ok());
        assert!(parse_amount("1000000000.01").is_err());
        assert!(parse_amount("99999999999999999999999").is_err());
    }

    #[test]
    fn round_trips_through_json_numbers() {
        for cents in [1, 29, 1999, 3700, 3710, 100_001, 123_456_789] {
            let text = format!("{{\"a\":{}}}", format_amount(cents));
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(amount_from_json(&v["a"]).unwrap(), cents, "{text}");
        }
        let v: Value = serde_json::from_str(r#"{"a":37.001,"b":"37.00","c":-1.0}"#).unwrap();
        assert!(amount_from_json(&v["a"]).is_err());
        assert!(amount_from_json(&v["b"]).is_err());
        assert!(amount_from_json(&v["c"]).is_err());
        assert!(amount_from_json(&Value::Null).is_err());
    }

    #[test]
    fn create_body_has_wire_names_and_amount() {
        let req = CreateTransaction {
            request_id: "r-1".into(),
            amount_cents: 3700,
            currency: "EUR".into(),
            purpose: "Gebühr \"Ausweis\"".into(),
            reference: "RF18".into(),
            redirect_url: "https://stadt.example/zurueck".into(),
            notify_url: "https://stadt.example/notify".into(),
        };
        let body = create_body(&req, "2025-01-02T03:04:05Z");
        assert!(body.contains(r#""grossAmount":37.00"#), "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["requestId"], "r-1");
        assert_eq!(v["requestTimestamp"], "2025-01-02T03:04:05Z");
        assert_eq!(v["purpose"], "Gebühr \"Ausweis\"");
        assert_eq!(v["notifyUrl"], "https://stadt.example/notify");
    }

    #[test]
    fn payment_information_round_trips() {
        let tx = Transaction {
            transaction_id: "T1".into(),
            status: TxStatus::Payed,
            payment_url: "http://127.0.0.1:1/paysim/pay/T1".into(),
            amount_cents: 3710,
            reference: "RF18".into(),
            request_id: "r-1".into(),
        };
        let body = payment_information_json(&tx);
        assert!(body.contains(r#""grossAmount":37.10"#), "{body}");
        assert!(body.contains(r#""status":"PAYED""#), "{body}");
        assert_eq!(parse_payment_information(body.as_bytes()).unwrap(), tx);
        assert!(parse_payment_information(b"{}").is_err());
        let bad = body.replace("PAYED", "DONE");
        assert!(parse_payment_information(bad.as_bytes()).is_err());
        let relative = body.replace("http://127.0.0.1:1/paysim", "");
        assert!(parse_payment_information(relative.as_bytes()).is_err());
    }

    #[test]
    fn parses_notifications() {
        let n =
            parse_notification(br#"{"transactionId":"T1","status":"PAYED","extra":1}"#).unwrap();
        assert_eq!(n.transaction_id, "T1");
        assert_eq!(n.status, TxStatus::Payed);
        let n = parse_notification(br#"{"transactionId":"T2","status":"CANCELED"}"#).unwrap();
        assert_eq!(n.status, TxStatus::Canceled);
        assert_eq!(
            parse_notification(notification_json(&n).as_bytes()).unwrap(),
            n
        );
        for bad in [
            &br#"{"transactionId":"T1","status":"payed"}"#[..],
            br#"{"transactionId":"","status":"PAYED"}"#,
            br#"{"status":"PAYED"}"#,
            br#"{"transactionId":"T1"}"#,
            b"not json",
        ] {
            assert!(parse_notification(bad).is_err());
        }
    }

    #[test]
    fn builds_encoded_endpoint_urls() {
        let cfg = ProviderConfig {
            base_url: "http://127.0.0.1:8080/paysim/".into(),
            originator_id: "Stadt A".into(),
            endpoint_id: "gebühr/1".into(),
            api_key: None,
        };
        assert_eq!(
            endpoint_url(&cfg, Some("T?1")).unwrap().as_str(),
            "http://127.0.0.1:8080/paysim/paymenttransaction/Stadt%20A/geb%C3%BChr%2F1/T%3F1"
        );
        let cfg = ProviderConfig {
            base_url: "ftp://x".into(),
            ..cfg
        };
        assert!(endpoint_url(&cfg, None).is_err());
    }

    #[test]
    fn status_names() {
        for s in ["INITIAL", "PAYED", "FAILED", "CANCELED", "EXPIRED"] {
            let t = TxStatus::parse(s).unwrap();
            assert_eq!(t.as_str(), s);
            assert_eq!(serde_json::to_value(t).unwrap(), s);
        }
        assert!(!TxStatus::Initial.is_final());
        assert!(TxStatus::Expired.is_final());
    }
}

//! A simulated ePayment provider in the shape of XBezahldienste REST — **only for tests and
//! the demo**, never for real payments: it keeps transactions in memory, checks no API key
//! and moves no money.
//!
//! It speaks the wire format of [`services::payprovider`] (see there) and adds the provider's
//! payment page: `GET /pay/{tx}` shows the amount and purpose with "Jetzt bezahlen" and
//! "Abbrechen"; `POST /pay/{tx}` (`action=pay|cancel|fail`) settles an `INITIAL` transaction
//! once, notifies the city's notify URL and redirects (303) to its redirect URL. Routes are
//! relative: nest the [`router`] e.g. at `/paysim`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use services::payprovider::{self, Notification, Transaction, TxStatus, reqwest};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long the simulator waits for the city's notify endpoint.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// The simulator's in-memory provider. Cheap to clone.
#[derive(Clone, Default)]
pub struct SimState {
    /// Absolute URL the router is reachable at (e.g. `http://127.0.0.1:8080/paysim`); when
    /// empty, derived from the request's `Host` header and the nesting path.
    public_base: String,
    store: Arc<Mutex<Store>>,
    http: reqwest::Client,
}

#[derive(Default)]
struct Store {
    txs: HashMap<String, SimTx>,
    /// (originator, endpoint, requestId) -> transaction id.
    by_request: HashMap<(String, String, String), String>,
}

struct SimTx {
    originator: String,
    endpoint: String,
    request_id: String,
    amount_cents: i64,
    currency: String,
    purpose: String,
    reference: String,
    redirect_url: String,
    notify_url: String,
    payment_url: String,
    status: TxStatus,
}

impl SimTx {
    fn wire(&self, id: &str) -> Transaction {
        Transaction {
            transaction_id: id.to_owned(),
            status: self.status,
            payment_url: self.payment_url.clone(),
            amount_cents: self.amount_cents,
            reference: self.reference.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

impl SimState {
    /// A simulator reachable at `public_base` (absolute, without trailing slash).
    pub fn new(public_base: String) -> SimState {
        SimState {
            public_base: public_base.trim_end_matches('/').to_owned(),
            ..SimState::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The simulator's routes, relative to where the caller nests them.
pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/paymenttransaction/{originator}/{endpoint}", post(create))
        .route(
            "/paymenttransaction/{originator}/{endpoint}/{tx}",
            get(read),
        )
        .route("/pay/{tx}", get(page).post(settle))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// REST

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn json_error(status: StatusCode, msg: &str) -> Response {
    json(status, serde_json::json!({ "error": msg }).to_string())
}

/// A validated create request.
struct NewTx {
    request_id: String,
    amount_cents: i64,
    currency: String,
    purpose: String,
    reference: String,
    redirect_url: String,
    notify_url: String,
}

fn parse_create(body: &[u8]) -> Result<NewTx, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    if !v.is_object() {
        return Err("body must be a JSON object".into());
    }
    let text = |key: &str, max: usize| -> Result<String, String> {
        match v.get(key).and_then(|x| x.as_str()) {
            Some(s) if !s.trim().is_empty() && s.chars().count() <= max => Ok(s.to_owned()),
            Some(s) if !s.trim().is_empty() => Err(format!("{key} is longer than {max}")),
            _ => Err(format!("{key} is missing or empty")),
        }
    };
    let web_url = |key: &str| -> Result<String, String> {
        let s = text(key, 2000)?;
        match url::Url::parse(&s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(s),
            _ => Err(format!("{key} is not an absolute http(s) URL")),
        }
    };
    let request_id = text("requestId", 200)?;
    let timestamp = text("requestTimestamp", 64)?;
    chrono::DateTime::parse_from_rfc3339(&timestamp)
        .map_err(|_| "requestTimestamp is not RFC 3339".to_owned())?;
    let currency = text("currency", 3)?;
    if currency != "EUR" {
        return Err("currency must be EUR".into());
    }
    let amount_cents =
        payprovider::amount_from_json(v.get("grossAmount").unwrap_or(&serde_json::Value::Null))
            .map_err(|e| format!("grossAmount: {e}"))?;
    if amount_cents <= 0 {
        return Err("grossAmount must be greater than 0".into());
    }
    Ok(NewTx {
        request_id,
        amount_cents,
        currency,
        purpose: text("purpose", 255)?,
        reference: text("reference", 200)?,
        redirect_url: web_url("redirectUrl")?,
        notify_url: web_url("notifyUrl")?,
    })
}

/// `public_base`, or `http://{Host}{nesting prefix}` when it is not set.
fn base_url(state: &SimState, headers: &HeaderMap, original: &Uri, local: &Uri) -> String {
    if !state.public_base.is_empty() {
        return state.public_base.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| url::Url::parse(&format!("http://{h}")).is_ok())
        .unwrap_or("localhost");
    let prefix = original
        .path()
        .strip_suffix(local.path())
        .unwrap_or_default();
    format!("http://{host}{prefix}")
}

/// An unguessable id (the payment page has no other protection).
fn new_transaction_id() -> String {
    use kern::Random;
    format!("SIM{}", hex::encode(kern::OsRandom.bytes(12)))
}

async fn create(
    State(state): State<SimState>,
    Path((originator, endpoint)): Path<(String, String)>,
    headers: HeaderMap,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    body: Bytes,
) -> Response {
    let new = match parse_create(&body) {
        Ok(n) => n,
        Err(msg) => return json_error(StatusCode::BAD_REQUEST, &msg),
    };
    let base = base_url(&state, &headers, &original, &uri);
    let mut store = state.lock();
    let key = (originator.clone(), endpoint.clone(), new.request_id.clone());
    if let Some(id) = store.by_request.get(&key) {
        let Some(tx) = store.txs.get(id) else {
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, "index out of sync");
        };
        if tx.amount_cents != new.amount_cents
            || tx.currency != new.currency
            || tx.reference != new.reference
        {
            return json_error(
                StatusCode::CONFLICT,
                "requestId already used with a different amount or reference",
            );
        }
        return json(
            StatusCode::OK,
            payprovider::payment_information_json(&tx.wire(id)),
        );
    }
    let id = new_transaction_id();
    let tx = SimTx {
        originator,
        endpoint,
        request_id: new.request_id,
        amount_cents: new.amount_cents,
        currency: new.currency,
        purpose: new.purpose,
        reference: new.reference,
        redirect_url: new.redirect_url,
        notify_url: new.notify_url,
        payment_url: format!("{base}/pay/{id}"),
        status: TxStatus::Initial,
    };
    let body = payprovider::payment_information_json(&tx.wire(&id));
    store.txs.insert(id.clone(), tx);
    store.by_request.insert(key, id);
    json(StatusCode::CREATED, body)
}

async fn read(
    State(state): State<SimState>,
    Path((originator, endpoint, id)): Path<(String, String, String)>,
) -> Response {
    let store = state.lock();
    match store.txs.get(&id) {
        Some(tx) if tx.originator == originator && tx.endpoint == endpoint => json(
            StatusCode::OK,
            payprovider::payment_information_json(&tx.wire(&id)),
        ),
        _ => json_error(StatusCode::NOT_FOUND, "unknown transaction"),
    }
}

// ---------------------------------------------------------------------------------------------
// Payment page

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// German amount: `123456` -> `1.234,56 €`.
fn euro_de(cents: i64) -> String {
    let abs = cents.unsigned_abs();
    let digits = (abs / 100).to_string();
    let mut int = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            int.push('.');
        }
        int.push(c);
    }
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{int},{:02} €", abs % 100)
}

fn status_de(s: TxStatus) -> &'static str {
    match s {
        TxStatus::Initial => "Offen",
        TxStatus::Payed => "Bezahlt",
        TxStatus::Failed => "Fehlgeschlagen",
        TxStatus::Canceled => "Abgebrochen",
        TxStatus::Expired => "Abgelaufen",
    }
}

fn html_page(status: StatusCode, title: &str, main: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} – Zahlungssimulator</title>\n</head>\n<body>\n<main>\n{main}</main>\n\
         </body>\n</html>\n",
        esc(title)
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

fn not_found_page() -> Response {
    html_page(
        StatusCode::NOT_FOUND,
        "Zahlung nicht gefunden",
        "<h1>Zahlung nicht gefunden</h1>\n<p>Diese Zahlung ist dem Zahlungsanbieter nicht \
         bekannt.</p>\n",
    )
}

fn render(tx: &SimTx) -> Response {
    let mut main = format!(
        "<h1>Zahlung</h1>\n<p>Testumgebung (Zahlungssimulator): Es wird kein Geld \
         bewegt.</p>\n<dl>\n<dt>Betrag</dt><dd>{}</dd>\n<dt>Verwendungszweck</dt><dd>{}</dd>\n\
         <dt>Referenz</dt><dd>{}</dd>\n<dt>Status</dt><dd>{}</dd>\n</dl>\n",
        esc(&euro_de(tx.amount_cents)),
        esc(&tx.purpose),
        esc(&tx.reference),
        status_de(tx.status),
    );
    if tx.status == TxStatus::Initial {
        main.push_str(
            "<form method=\"post\">\n<input type=\"hidden\" name=\"action\" value=\"pay\">\n\
             <button type=\"submit\">Jetzt bezahlen</button>\n</form>\n\
             <form method=\"post\">\n<input type=\"hidden\" name=\"action\" value=\"cancel\">\n\
             <button type=\"submit\">Abbrechen</button>\n</form>\n",
        );
    } else {
        main.push_str(&format!(
            "<p role=\"status\">Diese Zahlung ist abgeschlossen: {}.</p>\n\
             <p><a href=\"{}\">Zurück zur Stadt</a></p>\n",
            status_de(tx.status),
            esc(&tx.redirect_url),
        ));
    }
    html_page(StatusCode::OK, "Zahlung", &main)
}

async fn page(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    let store = state.lock();
    match store.txs.get(&id) {
        Some(tx) => render(tx),
        None => not_found_page(),
    }
}

async fn settle(State(state): State<SimState>, Path(id): Path<String>, body: Bytes) -> Response {
    let action = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.into_owned());
    let next = match action.as_deref() {
        Some("pay") => TxStatus::Payed,
        Some("cancel") => TxStatus::Canceled,
        Some("fail") => TxStatus::Failed,
        _ => {
            return html_page(
                StatusCode::BAD_REQUEST,
                "Ungültige Aktion",
                "<h1>Ungültige Aktion</h1>\n<p>Bitte wählen Sie „Jetzt bezahlen“ oder \
                 „Abbrechen“.</p>\n",
            );
        }
    };
    // Settle under the lock, so only the first of two concurrent clicks changes anything.
    let (notify_url, redirect_url) = {
        let mut store = state.lock();
        let Some(tx) = store.txs.get_mut(&id) else {
            return not_found_page();
        };
        if tx.status != TxStatus::Initial {
            return render(tx);
        }
        tx.status = next;
        (tx.notify_url.clone(), tx.redirect_url.clone())
    };
    notify(&state.http, &notify_url, &id, next).await;
    Redirect::to(&redirect_url).into_response()
}

/// Posts the notification; failures are logged, never retried (the city re-reads anyway).
async fn notify(http: &reqwest::Client, notify_url: &str, id: &str, status: TxStatus) {
    let body = payprovider::notification_json(&Notification {
        transaction_id: id.to_owned(),
        status,
    });
    let sent = http
        .post(notify_url)
        .timeout(NOTIFY_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => {
            tracing::debug!(transaction = id, %status, "paysim notification delivered");
        }
        Ok(resp) => {
            tracing::warn!(
                transaction = id,
                http_status = resp.status().as_u16(),
                "paysim notification rejected"
            );
        }
        Err(e) => {
            tracing::warn!(transaction = id, error = %e, "paysim notification failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use services::payprovider::{CreateTransaction, ProviderConfig, ProviderError, create, status};
    use std::net::SocketAddr;

    async fn spawn(listener: tokio::net::TcpListener, app: Router) {
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
    }

    async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        (l, addr)
    }

    struct Env {
        sim: SocketAddr,
        cfg: ProviderConfig,
        client: reqwest::Client,
        notes: Arc<Mutex<Vec<Notification>>>,
        receiver: SocketAddr,
    }

    impl Env {
        fn notes(&self) -> Vec<Notification> {
            self.notes.lock().unwrap().clone()
        }

        fn request(&self, request_id: &str, amount_cents: i64) -> CreateTransaction {
            CreateTransaction {
                request_id: request_id.into(),
                amount_cents,
                currency: "EUR".into(),
                purpose: "Gebühr Anwohnerparkausweis".into(),
                reference: format!("RE-{request_id}"),
                redirect_url: format!("http://{}/zurueck?rechnung={request_id}", self.receiver),
                notify_url: format!("http://{}/notify", self.receiver),
            }
        }

        async fn pay(&self, tx: &Transaction, action: &str) -> reqwest::Response {
            self.client
                .post(&tx.payment_url)
                .form(&[("action", action)])
                .send()
                .await
                .unwrap()
        }
    }

    async fn env_with(state: impl FnOnce(SocketAddr) -> SimState) -> Env {
        let (sim_listener, sim) = listener().await;
        let app = Router::new().nest("/paysim", router(state(sim)));
        spawn(sim_listener, app).await;

        let notes = Arc::new(Mutex::new(Vec::new()));
        let sink = notes.clone();
        let receiver_app = Router::new().route(
            "/notify",
            post(move |body: Bytes| async move {
                let n = payprovider::parse_notification(&body).unwrap();
                sink.lock().unwrap().push(n);
                StatusCode::NO_CONTENT
            }),
        );
        let (recv_listener, receiver) = listener().await;
        spawn(recv_listener, receiver_app).await;

        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let cfg = ProviderConfig {
            base_url: format!("http://{sim}/paysim"),
            originator_id: "stadt-musterhausen".into(),
            endpoint_id: "gebuehren".into(),
            api_key: Some("demo-key".into()),
        };
        Env {
            sim,
            cfg,
            client,
            notes,
            receiver,
        }
    }

    async fn env() -> Env {
        env_with(|addr| SimState::new(format!("http://{addr}/paysim"))).await
    }

    #[tokio::test]
    async fn create_is_idempotent_per_request_id() {
        let env = env().await;
        let req = env.request("r1", 3700);
        let tx = create(&env.client, &env.cfg, &req).await.unwrap();
        assert_eq!(tx.status, TxStatus::Initial);
        assert_eq!(tx.amount_cents, 3700);
        assert_eq!(tx.reference, "RE-r1");
        assert_eq!(tx.request_id, "r1");
        assert_eq!(
            tx.payment_url,
            format!("http://{}/paysim/pay/{}", env.sim, tx.transaction_id)
        );

        let again = create(&env.client, &env.cfg, &req).await.unwrap();
        assert_eq!(again, tx);

        let other = create(&env.client, &env.cfg, &env.request("r2", 3700))
            .await
            .unwrap();
        assert_ne!(other.transaction_id, tx.transaction_id);

        let mut changed = req.clone();
        changed.amount_cents = 3800;
        let err = create(&env.client, &env.cfg, &changed).await.unwrap_err();
        assert!(matches!(err, ProviderError::Status(409, _)), "{err}");
        let mut changed = req.clone();
        changed.reference = "RE-other".into();
        let err = create(&env.client, &env.cfg, &changed).await.unwrap_err();
        assert!(matches!(err, ProviderError::Status(409, _)), "{err}");

        // The same request id at another endpoint is another transaction.
        let cfg = ProviderConfig {
            endpoint_id: "andere".into(),
            ..env.cfg.clone()
        };
        let elsewhere = create(&env.client, &cfg, &req).await.unwrap();
        assert_ne!(elsewhere.transaction_id, tx.transaction_id);
    }

    #[tokio::test]
    async fn pay_once_notifies_once_and_redirects() {
        let env = env().await;
        let req = env.request("r1", 3700);
        let tx = create(&env.client, &env.cfg, &req).await.unwrap();

        let page = env.client.get(&tx.payment_url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("lang=\"de\""), "{html}");
        assert!(html.contains("<h1>"), "{html}");
        assert!(html.contains("37,00 €"), "{html}");
        assert!(html.contains("Gebühr Anwohnerparkausweis"), "{html}");
        assert!(html.contains("Jetzt bezahlen"), "{html}");
        assert!(html.contains("Abbrechen"), "{html}");
        assert!(!html.contains("<script"), "{html}");

        let resp = env.pay(&tx, "pay").await;
        assert_eq!(resp.status(), 303);
        assert_eq!(
            resp.headers()[reqwest::header::LOCATION],
            req.redirect_url.as_str()
        );
        assert_eq!(
            env.notes(),
            vec![Notification {
                transaction_id: tx.transaction_id.clone(),
                status: TxStatus::Payed,
            }]
        );
        let now = status(&env.client, &env.cfg, &tx.transaction_id)
            .await
            .unwrap();
        assert_eq!(now.status, TxStatus::Payed);

        // A double click (or a later cancel) changes nothing and notifies no one.
        for action in ["pay", "cancel"] {
            let resp = env.pay(&tx, action).await;
            assert_eq!(resp.status(), 200);
            let html = resp.text().await.unwrap();
            assert!(html.contains("Bezahlt"), "{html}");
            assert!(!html.contains("Jetzt bezahlen"), "{html}");
        }
        assert_eq!(env.notes().len(), 1);
        let now = status(&env.client, &env.cfg, &tx.transaction_id)
            .await
            .unwrap();
        assert_eq!(now.status, TxStatus::Payed);

        // Creating again with the same request id reports the paid transaction.
        let again = create(&env.client, &env.cfg, &req).await.unwrap();
        assert_eq!(again.status, TxStatus::Payed);
    }

    #[tokio::test]
    async fn cancel_and_fail_paths() {
        let env = env().await;
        let tx = create(&env.client, &env.cfg, &env.request("c1", 1250))
            .await
            .unwrap();
        let resp = env.pay(&tx, "cancel").await;
        assert_eq!(resp.status(), 303);
        let now = status(&env.client, &env.cfg, &tx.transaction_id)
            .await
            .unwrap();
        assert_eq!(now.status, TxStatus::Canceled);

        let failed = create(&env.client, &env.cfg, &env.request("f1", 1250))
            .await
            .unwrap();
        assert_eq!(env.pay(&failed, "fail").await.status(), 303);
        let now = status(&env.client, &env.cfg, &failed.transaction_id)
            .await
            .unwrap();
        assert_eq!(now.status, TxStatus::Failed);

        let statuses: Vec<TxStatus> = env.notes().iter().map(|n| n.status).collect();
        assert_eq!(statuses, vec![TxStatus::Canceled, TxStatus::Failed]);

        let other = create(&env.client, &env.cfg, &env.request("x1", 100))
            .await
            .unwrap();
        assert_eq!(env.pay(&other, "steal").await.status(), 400);
        assert_eq!(
            status(&env.client, &env.cfg, &other.transaction_id)
                .await
                .unwrap()
                .status,
            TxStatus::Initial
        );
    }

    #[tokio::test]
    async fn bad_create_bodies_are_400() {
        let env = env().await;
        let url = format!(
            "http://{}/paysim/paymenttransaction/stadt-musterhausen/gebuehren",
            env.sim
        );
        let good = serde_json::json!({
            "requestId": "b1",
            "requestTimestamp": "2025-03-01T10:00:00Z",
            "currency": "EUR",
            "grossAmount": 37.00,
            "purpose": "Gebühr",
            "reference": "RE-1",
            "redirectUrl": "http://127.0.0.1:1/zurueck",
            "notifyUrl": "http://127.0.0.1:1/notify",
        });
        let resp = env.client.post(&url).json(&good).send().await.unwrap();
        assert_eq!(resp.status(), 201);

        let broken: Vec<(&str, serde_json::Value)> = vec![
            ("grossAmount", serde_json::json!(0)),
            ("grossAmount", serde_json::json!(-5.0)),
            ("grossAmount", serde_json::json!(1.005)),
            ("grossAmount", serde_json::json!("37.00")),
            ("requestId", serde_json::json!("")),
            ("currency", serde_json::json!("USD")),
            ("requestTimestamp", serde_json::json!("gestern")),
            ("redirectUrl", serde_json::json!("javascript:alert(1)")),
            ("notifyUrl", serde_json::json!("/relative")),
            ("purpose", serde_json::Value::Null),
        ];
        for (key, value) in broken {
            let mut body = good.clone();
            body[key] = value;
            let resp = env.client.post(&url).json(&body).send().await.unwrap();
            assert_eq!(resp.status(), 400, "{key}");
            let err: serde_json::Value = resp.json().await.unwrap();
            assert!(
                err["error"].as_str().is_some_and(|s| !s.is_empty()),
                "{err}"
            );
        }
        let resp = env.client.post(&url).body("{nope").send().await.unwrap();
        assert_eq!(resp.status(), 400);
    }

    #[tokio::test]
    async fn unknown_transactions_are_404() {
        let env = env().await;
        let err = status(&env.client, &env.cfg, "SIMunknown")
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Status(404, _)), "{err}");

        let tx = create(&env.client, &env.cfg, &env.request("u1", 500))
            .await
            .unwrap();
        let cfg = ProviderConfig {
            originator_id: "fremde-stadt".into(),
            ..env.cfg.clone()
        };
        let err = status(&env.client, &cfg, &tx.transaction_id)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Status(404, _)), "{err}");

        let page = format!("http://{}/paysim/pay/SIMunknown", env.sim);
        assert_eq!(env.client.get(&page).send().await.unwrap().status(), 404);
        let resp = env
            .client
            .post(&page)
            .form(&[("action", "pay")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        assert!(env.notes().is_empty());
    }

    #[tokio::test]
    async fn page_escapes_text_and_default_state_uses_host() {
        let env = env_with(|_| SimState::default()).await;
        let mut req = env.request("e1", 123_456);
        req.purpose = "<script>alert(\"x\")</script> & Co".into();
        let tx = create(&env.client, &env.cfg, &req).await.unwrap();
        assert_eq!(
            tx.payment_url,
            format!("http://{}/paysim/pay/{}", env.sim, tx.transaction_id)
        );
        let html = env
            .client
            .get(&tx.payment_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("1.234,56 €"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co"),
            "{html}"
        );
    }

    #[tokio::test]
    async fn unreachable_notify_url_still_redirects() {
        let env = env().await;
        let mut req = env.request("n1", 100);
        let (dead, dead_addr) = listener().await;
        drop(dead);
        req.notify_url = format!("http://{dead_addr}/notify");
        let tx = create(&env.client, &env.cfg, &req).await.unwrap();
        let resp = env.pay(&tx, "pay").await;
        assert_eq!(resp.status(), 303);
        let now = status(&env.client, &env.cfg, &tx.transaction_id)
            .await
            .unwrap();
        assert_eq!(now.status, TxStatus::Payed);
    }

    #[test]
    fn german_amounts() {
        assert_eq!(euro_de(3700), "37,00 €");
        assert_eq!(euro_de(5), "0,05 €");
        assert_eq!(euro_de(100_000), "1.000,00 €");
        assert_eq!(euro_de(123_456_789), "1.234.567,89 €");
    }
}

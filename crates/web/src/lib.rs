//! Stadtkern's HTTP layer: the axum router, HTML pages, static assets, the JSON API and the
//! mapping of domain errors to responses.
//!
//! Handlers are thin: typed extractor -> domain call (`platform`, module crates) -> render.

pub mod api;
pub mod csrf;
pub mod ctx;
pub mod error;
pub mod map;
pub mod metrics;
pub mod middleware;
pub mod pages;
pub mod paysim;
pub mod sta;
pub mod templates;
#[cfg(feature = "testing")]
pub mod testing;

use axum::Router;
use kern::i18n::I18n;
use platform::Env;
use std::net::SocketAddr;
use std::sync::Arc;

pub use ctx::Ctx;
pub use error::{WebError, WebResult};

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub env: Env,
    pub i18n: Arc<I18n>,
    pub templates: Arc<templates::Templates>,
    pub metrics: Arc<metrics::Metrics>,
    /// Keys CSRF tokens; the instance secret shared by all replicas.
    pub secret: Arc<Vec<u8>>,
    pub limiter: Arc<middleware::RateLimiter>,
    /// The SensorThings API's after-commit hooks and MQTT endpoints (the MQTT side listens).
    pub sta: sensorthings::mqtt::Hooks,
    /// Serves MQTT over WebSocket at `/mqtt` once the MQTT side runs (set once at start).
    pub mqtt_ws: Arc<std::sync::OnceLock<MqttWs>>,
}

/// Takes one MQTT-over-WebSocket connection as a byte stream (the broker, or a pipe to it).
pub type MqttWs = Arc<dyn Fn(tokio::io::DuplexStream) + Send + Sync>;

impl AppState {
    /// Builds the state for an environment whose database is migrated.
    pub async fn new(env: Env) -> kern::Result<AppState> {
        let secret = env.instance_secret().await?;
        let templates = templates::Templates::new(env.config.templates_dir.clone())?;
        let limiter = middleware::RateLimiter::new(env.config.http.public_writes_per_minute);
        Ok(AppState {
            env,
            i18n: Arc::new(I18n::new()),
            templates: Arc::new(templates),
            metrics: Arc::new(metrics::Metrics::new()),
            secret: Arc::new(secret),
            limiter: Arc::new(limiter),
            sta: sensorthings::mqtt::Hooks::default(),
            mqtt_ws: Arc::new(std::sync::OnceLock::new()),
        })
    }
}

/// The whole application: every route and every layer.
pub fn app(state: AppState) -> Router {
    let upload_limit = state.env.config.http.upload_limit();
    let mut routes = Router::new()
        .merge(pages::router())
        .merge(pages::cases::router(upload_limit))
        .merge(api::router())
        .merge(sta::router())
        .merge(metrics::router());
    if state.env.config.payment.simulator {
        let base = format!("{}/paysim", state.env.config.public_url());
        routes = routes.nest_service("/paysim", paysim::router(paysim::SimState::new(base)));
    }
    middleware::wrap(routes, state)
}

/// Serves until `shutdown` resolves, then finishes open requests (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

//! Stadtkern's HTTP layer: the axum router, HTML pages, static assets, the JSON API and the
//! mapping of domain errors to responses.
//!
//! Handlers are thin: typed extractor -> domain call (`platform`, module crates) -> render.

pub mod csrf;
pub mod ctx;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod pages;
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
}

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
        })
    }
}

/// The whole application: every route and every layer.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(pages::router())
        .merge(metrics::router());
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

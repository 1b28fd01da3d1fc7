//! The MQTT side of the SensorThings API (OGC 18-088, section 14), as a network service.
//!
//! Two ways to run, chosen by configuration (`[mqtt]`, `--mqtt-listen`, `--mqtt-url`):
//!
//! * **Embedded broker** ([`broker`], the default): a small MQTT 3.1.1 server inside the
//!   Stadtkern process, on its own TCP port (default `127.0.0.1:1884`, so it never collides with
//!   a system Mosquitto on 1883) and as MQTT over WebSocket at `/mqtt` on the HTTP port. It
//!   knows every subscriber, so each one receives exactly what its credentials let it read
//!   (user name anything, password an API token; anonymous clients see public data), and it
//!   acknowledges a published Observation (PUBACK) only after the row is committed.
//! * **External broker** ([`bridge`], `mqtt://HOST:PORT`): Stadtkern is a client of a broker
//!   such as Mosquitto. It takes Observations from the create topics through a shared
//!   subscription (`$share/stadtkern/...`), so N replicas store each message exactly once, and
//!   publishes every change it committed itself, once. The broker knows nothing of Stadtkern's
//!   visibility rules, so only public data is published there.
//!
//! Topic and payload logic (what a change is published to, what a reader may see) is in
//! `sensorthings::mqtt`; this crate moves bytes.

pub mod bridge;
pub mod broker;

use platform::Env;
use sensorthings::mqtt::Hooks;
use std::sync::Arc;

/// The address the embedded broker listens on when none is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:1884";

/// Takes one MQTT-over-WebSocket connection, already turned into a byte stream.
pub type WsAcceptor = Arc<dyn Fn(tokio::io::DuplexStream) + Send + Sync>;

/// A running MQTT side.
pub enum Mqtt {
    Embedded {
        broker: broker::Broker,
        /// Where the TCP listener runs (`None` when the default port was taken).
        addr: Option<std::net::SocketAddr>,
    },
    External(bridge::Bridge),
}

/// How to run (the binary fills it from the configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The embedded broker's TCP address; `None`: the default, skipped with a warning when
    /// taken.
    pub listen: Option<String>,
    /// An external broker `mqtt://[USER[:PASSWORD]@]HOST[:PORT]`.
    pub url: Option<String>,
    /// The client id at the external broker (stable per replica, unique among replicas).
    pub client_id: String,
    /// The shared-subscription group of all replicas.
    pub share_group: String,
    /// Whether Observations published to the external broker's create topics are stored.
    pub external_create: bool,
    /// Put before every topic at the external broker (`stadt-a/`), for a broker several
    /// instances share; empty: the topics are `v1.1/...` as the standard has them.
    pub topic_prefix: String,
}

impl Mqtt {
    /// Starts the embedded broker or connects to the external one, and reports the endpoints to
    /// `hooks` (so the service root advertises them).
    pub async fn start(env: Env, hooks: Hooks, s: &Settings) -> Result<Mqtt, String> {
        let ws = ws_endpoint(&env.config.public_url());
        let mqtt = match &s.url {
            Some(url) => {
                let b = bridge::Bridge::connect(env, hooks.clone(), url, s).await?;
                hooks.set_endpoints(vec![b.endpoint(), ws]);
                Mqtt::External(b)
            }
            None => {
                let broker = broker::Broker::new(env.clone(), hooks.clone());
                let wanted = s.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into());
                let addr = match tokio::net::TcpListener::bind(&wanted).await {
                    Ok(l) => {
                        let addr = l.local_addr().map_err(|e| e.to_string())?;
                        tokio::spawn(broker.clone().serve(l));
                        Some(addr)
                    }
                    Err(e) if s.listen.is_none() => {
                        tracing::warn!(
                            address = %wanted, error = %e,
                            "the embedded MQTT broker cannot listen on its default address; MQTT runs over WebSocket at /mqtt only (set --mqtt-listen)"
                        );
                        None
                    }
                    Err(e) => {
                        return Err(format!(
                            "the embedded MQTT broker cannot listen on {wanted}: {e} (choose another address with --mqtt-listen)"
                        ));
                    }
                };
                let mut endpoints = Vec::new();
                if let Some(a) = addr {
                    endpoints.push(tcp_endpoint(a, &env.config.public_url()));
                }
                endpoints.push(ws);
                hooks.set_endpoints(endpoints);
                Mqtt::Embedded { broker, addr }
            }
        };
        Ok(mqtt)
    }

    /// What serves MQTT over WebSocket at `/mqtt`: the embedded broker itself, or a byte pipe
    /// to the external broker.
    pub fn ws_acceptor(&self) -> WsAcceptor {
        match self {
            Mqtt::Embedded { broker, .. } => {
                let b = broker.clone();
                Arc::new(move |io| b.accept(io, "websocket".into()))
            }
            Mqtt::External(bridge) => {
                let target = bridge.address();
                Arc::new(move |mut io| {
                    let target = target.clone();
                    tokio::spawn(async move {
                        match tokio::net::TcpStream::connect(&target).await {
                            Ok(mut tcp) => {
                                let _ = tokio::io::copy_bidirectional(&mut io, &mut tcp).await;
                            }
                            Err(e) => {
                                tracing::warn!(broker = %target, error = %e, "MQTT over WebSocket: the broker does not answer");
                            }
                        }
                    });
                })
            }
        }
    }

    /// The embedded broker's TCP address, if it listens.
    pub fn tcp_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Mqtt::Embedded { addr, .. } => *addr,
            Mqtt::External(_) => None,
        }
    }
}

/// `ws://HOST/mqtt` (or `wss://`) for a public URL `http(s)://HOST`.
pub fn ws_endpoint(public_url: &str) -> String {
    let base = public_url.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_string()
    };
    format!("{ws}/mqtt")
}

/// `mqtt://HOST:PORT` for the broker's address; an unspecified address (0.0.0.0) is replaced by
/// the public URL's host.
pub fn tcp_endpoint(addr: std::net::SocketAddr, public_url: &str) -> String {
    if addr.ip().is_unspecified() {
        let host = public_url
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split(['/', ':'])
            .next()
            .unwrap_or("localhost");
        format!("mqtt://{host}:{}", addr.port())
    } else {
        format!("mqtt://{addr}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_public_url() {
        assert_eq!(
            ws_endpoint("https://stadt.example/"),
            "wss://stadt.example/mqtt"
        );
        assert_eq!(
            ws_endpoint("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080/mqtt"
        );
        let any: std::net::SocketAddr = "0.0.0.0:1884".parse().unwrap();
        assert_eq!(
            tcp_endpoint(any, "https://daten.stadt.example"),
            "mqtt://daten.stadt.example:1884"
        );
        let lo: std::net::SocketAddr = "127.0.0.1:1884".parse().unwrap();
        assert_eq!(tcp_endpoint(lo, "http://x"), "mqtt://127.0.0.1:1884");
    }
}

//! The bridge to an external broker (Mosquitto): Stadtkern as an MQTT client.
//!
//! * Creating: the create topics are subscribed as a shared subscription
//!   (`$share/GROUP/v1.1/Observations`, `$share/GROUP/v1.1/+/Observations`) with QoS 1, a
//!   persistent session and manual acknowledgements. The broker hands each message to one
//!   replica of the group; that replica acknowledges it only after the Observation is committed,
//!   so a replica that dies mid-way leaves the message to be delivered again. The broker's own
//!   access control decides who may publish to the create topics; what arrives is stored with
//!   the rights of `sta:write`.
//! * Publishing: every change this replica committed is published once (QoS 1) to its topics,
//!   rendered for an anonymous reader, because the broker cannot tell subscribers apart.
//!   `$select` topics are not served this way: the bridge cannot know which ones are subscribed.
//!
//! The server hears its own notifications on the create topics (`v1.1/Datastreams(1)/
//! Observations` is both); they carry `@iot.selfLink` and are skipped.

use crate::Settings;
use kern::auth::TokenPrincipal;
use kern::{Error, Principal};
use platform::{Actor, Env};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS};
use sensorthings::mqtt::{self as sta, Hooks};
use std::time::Duration;
use tokio::sync::mpsc;

/// A connected bridge. Cheap to clone.
#[derive(Clone)]
pub struct Bridge {
    client: AsyncClient,
    host: String,
    port: u16,
    /// Put before every topic (`stadt-a/` -> `stadt-a/v1.1/Things`); empty by default.
    prefix: String,
    /// Becomes true once the create topics are subscribed.
    ready: tokio::sync::watch::Receiver<bool>,
}

/// The parts of `mqtt://[USER[:PASSWORD]@]HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<(String, String)>,
}

/// Parses a broker URL; the port defaults to 1883.
pub fn parse_url(url: &str) -> Result<BrokerUrl, String> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| format!("'{url}' is not an mqtt://HOST:PORT URL"))?;
    let rest = rest.trim_end_matches('/');
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => {
            let (name, pw) = u.split_once(':').unwrap_or((u, ""));
            (Some((name.to_string(), pw.to_string())), h)
        }
        None => (None, rest),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("'{p}' is not a port number in the MQTT URL"))?,
        ),
        None => (hostport, 1883),
    };
    if host.is_empty() {
        return Err("the MQTT URL names no host".into());
    }
    Ok(BrokerUrl {
        host: host.to_string(),
        port,
        user,
    })
}

/// The create topics as shared subscriptions of `group`, below `prefix`.
pub fn create_filters(group: &str, prefix: &str) -> [String; 2] {
    [
        format!("$share/{group}/{prefix}{}/Observations", sta::VERSION),
        format!("$share/{group}/{prefix}{}/+/Observations", sta::VERSION),
    ]
}

impl Bridge {
    /// Connects (and keeps reconnecting) to the broker at `url`.
    pub async fn connect(
        env: Env,
        hooks: Hooks,
        url: &str,
        s: &Settings,
    ) -> Result<Bridge, String> {
        let u = parse_url(url)?;
        let mut opts = MqttOptions::new(s.client_id.clone(), u.host.clone(), u.port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(false);
        opts.set_manual_acks(true);
        opts.set_inflight(100);
        let max = env.config.http.body_limit_bytes.max(64 * 1024);
        opts.set_max_packet_size(max, max);
        if let Some((name, pw)) = &u.user {
            opts.set_credentials(name.clone(), pw.clone());
        }
        let (client, eventloop) = AsyncClient::new(opts, 1024);
        let (ready_tx, ready) = tokio::sync::watch::channel(!s.external_create);
        let bridge = Bridge {
            client: client.clone(),
            host: u.host,
            port: u.port,
            prefix: s.topic_prefix.clone(),
            ready,
        };
        let (ingest_tx, ingest_rx) = mpsc::channel::<Publish>(1024);
        let filters = if s.external_create {
            create_filters(&s.share_group, &s.topic_prefix).to_vec()
        } else {
            Vec::new()
        };
        tokio::spawn(poll(
            eventloop,
            client.clone(),
            filters,
            ingest_tx,
            ready_tx,
        ));
        tokio::spawn(ingest(
            env.clone(),
            hooks.clone(),
            client.clone(),
            ingest_rx,
            s.topic_prefix.clone(),
        ));
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<sta::Event>>();
        hooks.on_commit(move |changes| {
            let _ = tx.send(changes.to_vec());
        });
        let publisher = bridge.clone();
        tokio::spawn(async move {
            while let Some(changes) = rx.recv().await {
                publisher.publish(&env, &changes).await;
            }
        });
        Ok(bridge)
    }

    /// `mqtt://HOST:PORT` (without credentials), for the service root.
    pub fn endpoint(&self) -> String {
        format!("mqtt://{}:{}", self.host, self.port)
    }

    /// `HOST:PORT` of the broker.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Waits until the create topics are subscribed (or `limit` passed); true if they are.
    pub async fn ready(&self, limit: Duration) -> bool {
        let mut r = self.ready.clone();
        tokio::time::timeout(limit, r.wait_for(|ok| *ok))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    async fn publish(&self, env: &Env, changes: &[sta::Event]) {
        let anonymous = Actor::new(Principal::Anonymous, "mqtt");
        for change in changes {
            let notices = match sta::notices(env, change).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "MQTT: topics of a change could not be determined");
                    continue;
                }
            };
            let mut rendered: Vec<(sta::Shows, Option<String>)> = Vec::new();
            for n in notices {
                let body = match rendered.iter().find(|(s, _)| *s == n.shows) {
                    Some((_, b)) => b.clone(),
                    None => {
                        let b = sta::render(env, &anonymous, &n.shows, "")
                            .await
                            .unwrap_or_else(|e| {
                                tracing::warn!(error = %e, "MQTT: message could not be rendered");
                                None
                            });
                        rendered.push((n.shows.clone(), b.clone()));
                        b
                    }
                };
                if let Some(body) = body
                    && let Err(e) = self
                        .client
                        .publish(
                            format!("{}{}", self.prefix, n.topic),
                            QoS::AtLeastOnce,
                            false,
                            body,
                        )
                        .await
                {
                    tracing::warn!(error = %e, topic = %n.topic, "MQTT: publishing to the broker failed");
                }
            }
        }
    }
}

/// Drives the connection: hands incoming messages to `ingest` and subscribes after every
/// (re)connect.
async fn poll(
    mut eventloop: EventLoop,
    client: AsyncClient,
    filters: Vec<String>,
    ingest: mpsc::Sender<Publish>,
    ready: tokio::sync::watch::Sender<bool>,
) {
    let mut failures = 0u32;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                failures = 0;
                tracing::info!("MQTT: connected to the external broker");
                for f in &filters {
                    if let Err(e) = client.try_subscribe(f.clone(), QoS::AtLeastOnce) {
                        tracing::warn!(error = %e, filter = %f, "MQTT: subscribing failed");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                ready.send_replace(true);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if ingest.send(p).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(30) {
                    tracing::warn!(error = %e, "MQTT: the external broker is not reachable; retrying");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Stores published Observations one after the other, acknowledging each after its commit.
async fn ingest(
    env: Env,
    hooks: Hooks,
    client: AsyncClient,
    mut rx: mpsc::Receiver<Publish>,
    prefix: String,
) {
    let actor = Actor::new(
        Principal::Token(TokenPrincipal {
            id: 0,
            name: "mqtt-bridge".into(),
            scopes: vec!["sta:write".parse().expect("a valid scope")],
        }),
        "mqtt",
    );
    while let Some(p) = rx.recv().await {
        let topic = p.topic.strip_prefix(prefix.as_str()).unwrap_or("");
        if sta::create_path(topic).is_some() && !sta::is_notification(&p.payload) {
            let mut delay = Duration::from_millis(200);
            loop {
                match sta::create(&env, &actor, topic, &p.payload).await {
                    Ok(w) => {
                        hooks.committed(&w.changes);
                        break;
                    }
                    Err(Error::Internal(msg)) => {
                        tracing::error!(topic = %p.topic, error = %msg, "MQTT create failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(10));
                    }
                    Err(e) => {
                        tracing::info!(topic = %p.topic, error = %e, "MQTT publish ignored");
                        break;
                    }
                }
            }
        }
        if p.qos != QoS::AtMostOnce
            && let Err(e) = client.ack(&p).await
        {
            tracing::warn!(error = %e, "MQTT: acknowledgement not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883").unwrap(),
            BrokerUrl {
                host: "127.0.0.1".into(),
                port: 1883,
                user: None
            }
        );
        let u = parse_url("mqtt://stadtkern:geheim@broker.intern").unwrap();
        assert_eq!(u.port, 1883);
        assert_eq!(u.user, Some(("stadtkern".into(), "geheim".into())));
        assert!(parse_url("http://x:1").is_err());
        assert!(parse_url("mqtt://x:port").is_err());
        assert_eq!(
            create_filters("stadtkern", "")[1],
            "$share/stadtkern/v1.1/+/Observations"
        );
    }
}

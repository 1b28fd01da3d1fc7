//! The embedded broker: an MQTT 3.1.1 server (QoS 0 and 1; QoS 2 accepted as QoS 1) over TCP
//! or any byte stream (MQTT over WebSocket), built on the packet codec of `rumqttc`.
//!
//! It is a SensorThings broker, not a general one:
//!
//! * clients log in with any user name and an API token as password (or anonymously);
//! * messages published by clients are Observations for the create topics; each is stored
//!   before its PUBACK is sent (an acknowledged Observation is committed). A publish that can
//!   never succeed (no write right, bad JSON, wrong topic) is acknowledged and dropped with a log
//!   line; one that failed inside the server (database down) is not acknowledged and the
//!   connection is closed, so the client sends it again;
//! * a client may have many messages in flight: the next packet is read while earlier messages
//!   are stored, and committer tasks store the waiting messages of all clients together in one
//!   transaction each (group commit; on PostgreSQL several groups at once, on SQLite one while
//!   the next is prepared); acknowledgements still go out in the order the messages came, each
//!   after its commit;
//! * only the server publishes to subscribers: every committed change goes to the subscribers
//!   of its topics, each message rendered for the subscriber's rights.
//!
//! Sessions are clean (no state survives a disconnect), retained messages are not kept, wills
//! are ignored.

use bytes::BytesMut;
use kern::{Error, Principal};
use platform::{Actor, Env};
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, Publish, SubAck,
    SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use sensorthings::mqtt::{self as sta, Filter, Hooks};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, oneshot};

/// Packets waiting for a slow subscriber before further messages to it are dropped.
const QUEUE: usize = 4096;
/// Time a new connection has to send CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most messages stored in one transaction (group commit).
const GROUP: usize = 512;
/// Messages of all clients waiting to be stored.
const CREATE_QUEUE: usize = 8192;
/// Messages of one client stored or waiting, whose acknowledgement is not sent yet.
const IN_FLIGHT: usize = 1024;
/// Committer tasks on PostgreSQL: groups stored in concurrent transactions (each commit waits
/// for its WAL flush; several in flight share the flushes).
const PG_COMMITTERS: usize = 4;
/// Committer tasks on SQLite: one writes, the other has its next group parsed and waits for
/// the single write connection.
const SQLITE_COMMITTERS: usize = 2;

/// The embedded broker. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    env: Env,
    clients: Mutex<HashMap<u64, Client>>,
    next: AtomicU64,
    max_packet: usize,
    /// The queues of the committer tasks (see [`commit_loop`]); a connection's messages all go
    /// to the same one.
    creates: Vec<mpsc::Sender<Job>>,
}

/// A published message for the committer, and where its outcome goes.
struct Job {
    publication: sta::Publication,
    done: oneshot::Sender<Result<(), Error>>,
}

/// An acknowledgement to send once its message is stored (in the order the messages came).
struct Pending {
    ack: Option<Packet>,
    stored: Option<oneshot::Receiver<Result<(), Error>>>,
    topic: String,
}

struct Client {
    actor: Arc<Actor>,
    /// Clients with equal rights share rendered messages.
    rights: String,
    subs: Vec<(Filter, QoS)>,
    tx: mpsc::Sender<Packet>,
    pkid: u16,
}

/// A subscriber as the publisher sees it (a snapshot).
struct Subscriber {
    id: u64,
    actor: Arc<Actor>,
    rights: String,
    subs: Vec<(Filter, QoS)>,
}

impl Broker {
    /// A broker for `env` that publishes every change reported to `hooks`.
    pub fn new(env: Env, hooks: Hooks) -> Broker {
        let max_packet = env.config.http.body_limit_bytes.max(64 * 1024);
        let committers = match env.db.backend() {
            platform::store::Backend::Postgres => PG_COMMITTERS,
            platform::store::Backend::Sqlite => SQLITE_COMMITTERS,
        };
        let creates = (0..committers)
            .map(|_| {
                let (creates, jobs) = mpsc::channel(CREATE_QUEUE);
                tokio::spawn(commit_loop(env.clone(), hooks.clone(), jobs));
                creates
            })
            .collect();
        let broker = Broker {
            inner: Arc::new(Inner {
                env,
                clients: Mutex::new(HashMap::new()),
                next: AtomicU64::new(1),
                max_packet,
                creates,
            }),
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<sta::Event>>();
        hooks.on_commit(move |changes| {
            let _ = tx.send(changes.to_vec());
        });
        let publisher = broker.clone();
        tokio::spawn(async move {
            while let Some(changes) = rx.recv().await {
                publisher.publish(&changes).await;
            }
        });
        broker
    }

    /// Accepts TCP connections until the listener fails.
    pub async fn serve(self, listener: tokio::net::TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    self.accept(stream, peer.ip().to_string());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "MQTT: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Serves one connection (TCP, or a WebSocket's byte stream) in a task of its own.
    pub fn accept<S>(&self, io: S, peer: String)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let b = self.clone();
        tokio::spawn(async move {
            if let Err(e) = b.connection(io, &peer).await {
                tracing::debug!(peer = %peer, reason = %e, "MQTT connection closed");
            }
        });
    }

    /// Number of connected clients.
    pub fn clients(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Client>> {
        self.inner.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn connection<S>(&self, io: S, peer: &str) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(io);
        let mut buf = BytesMut::with_capacity(4096);
        let max = self.inner.max_packet;
        let first = tokio::time::timeout(CONNECT_TIMEOUT, read_packet(&mut rd, &mut buf, max))
            .await
            .map_err(|_| "no CONNECT in time".to_string())??;
        let Packet::Connect(connect) = first else {
            return Err("the first packet was not CONNECT".into());
        };
        if connect.protocol != rumqttc::mqttbytes::Protocol::V4 {
            write_now(
                &mut wr,
                Packet::ConnAck(ConnAck::new(
                    ConnectReturnCode::RefusedProtocolVersion,
                    false,
                )),
            )
            .await?;
            return Err("only MQTT 3.1.1 is spoken".into());
        }
        let principal = match connect.login.as_ref().filter(|l| !l.password.is_empty()) {
            None => Principal::Anonymous,
            Some(login) => {
                match platform::tokens::authenticate(&self.inner.env, &login.password).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::info!(peer = %peer, client = %connect.client_id, error = %e, "MQTT login refused");
                        write_now(
                            &mut wr,
                            Packet::ConnAck(ConnAck::new(
                                ConnectReturnCode::BadUserNamePassword,
                                false,
                            )),
                        )
                        .await?;
                        return Err("bad credentials".into());
                    }
                }
            }
        };
        let rights = format!("{:?}", sensorthings::Access::of(&principal));
        let actor = Arc::new(Actor::new(principal, format!("mqtt:{peer}")));
        let (tx, rx) = mpsc::channel::<Packet>(QUEUE);
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(
            id,
            Client {
                actor: actor.clone(),
                rights,
                subs: Vec::new(),
                tx: tx.clone(),
                pkid: 0,
            },
        );
        let writer = tokio::spawn(write_loop(wr, rx, max));
        let _ = tx
            .send(Packet::ConnAck(ConnAck::new(
                ConnectReturnCode::Success,
                false,
            )))
            .await;
        let keep_alive = match connect.keep_alive {
            0 => None,
            s => Some(Duration::from_millis(u64::from(s) * 1500)),
        };
        let (acks, pending) = mpsc::channel::<Pending>(IN_FLIGHT);
        let failed = Arc::new(Notify::new());
        let acker = tokio::spawn(ack_loop(
            pending,
            tx.clone(),
            failed.clone(),
            connect.client_id.clone(),
        ));
        let result = self
            .session(
                id,
                &actor,
                &connect.client_id,
                &mut rd,
                &mut buf,
                (&tx, &acks, &failed),
                keep_alive,
            )
            .await;
        // The acknowledgements of messages still being stored go out first.
        drop(acks);
        let _ = tokio::time::timeout(Duration::from_secs(5), acker).await;
        self.lock().remove(&id);
        drop(tx);
        // Lets the writer send what is queued (the last acknowledgements), then close.
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn session<R: AsyncRead + Unpin>(
        &self,
        id: u64,
        actor: &Arc<Actor>,
        client_id: &str,
        rd: &mut R,
        buf: &mut BytesMut,
        (tx, acks, failed): (&mpsc::Sender<Packet>, &mpsc::Sender<Pending>, &Notify),
        keep_alive: Option<Duration>,
    ) -> Result<(), String> {
        let max = self.inner.max_packet;
        loop {
            let read = async {
                let next = read_packet(rd, buf, max);
                match keep_alive {
                    Some(d) => tokio::time::timeout(d, next)
                        .await
                        .map_err(|_| "keep-alive expired".to_string())?,
                    None => next.await,
                }
            };
            // `read_packet` keeps what it has read in `buf`, so giving up a read is safe.
            let packet = tokio::select! {
                p = read => p?,
                _ = failed.notified() => {
                    return Err("internal error while storing: connection closed unacknowledged".into());
                }
            };
            let reply = match packet {
                Packet::Publish(p) => {
                    self.published(id, actor, client_id, p, acks).await?;
                    None
                }
                Packet::Subscribe(s) => {
                    let mut codes = Vec::new();
                    let mut added = Vec::new();
                    for f in s.filters {
                        match Filter::parse(&f.path) {
                            Ok(filter) => {
                                let qos = if f.qos == QoS::AtMostOnce {
                                    QoS::AtMostOnce
                                } else {
                                    QoS::AtLeastOnce
                                };
                                codes.push(SubscribeReasonCode::Success(qos));
                                added.push((filter, qos));
                            }
                            Err(sta::Refused(why)) => {
                                tracing::info!(client = %client_id, filter = %f.path, reason = %why, "MQTT subscription refused");
                                codes.push(SubscribeReasonCode::Failure);
                            }
                        }
                    }
                    if let Some(c) = self.lock().get_mut(&id) {
                        for (f, q) in added {
                            c.subs.retain(|(old, _)| old.raw != f.raw);
                            c.subs.push((f, q));
                        }
                    }
                    Some(Packet::SubAck(SubAck::new(s.pkid, codes)))
                }
                Packet::Unsubscribe(u) => {
                    if let Some(c) = self.lock().get_mut(&id) {
                        c.subs.retain(|(f, _)| !u.topics.contains(&f.raw));
                    }
                    Some(Packet::UnsubAck(UnsubAck::new(u.pkid)))
                }
                Packet::PingReq => Some(Packet::PingResp),
                Packet::PubRel(r) => Some(Packet::PubComp(PubComp::new(r.pkid))),
                // Acknowledgements of our QoS 1 messages: nothing is kept to resend.
                Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubComp(_) => None,
                Packet::Disconnect => return Ok(()),
                other => return Err(format!("unexpected packet {other:?}")),
            };
            if let Some(r) = reply {
                tx.send(r)
                    .await
                    .map_err(|_| "connection closed".to_string())?;
            }
        }
    }

    /// A client published: hand the message to the committer and queue its acknowledgement,
    /// which [`ack_loop`] sends once the message is stored. The next packet is read meanwhile,
    /// so one client can have many messages in flight.
    async fn published(
        &self,
        id: u64,
        actor: &Arc<Actor>,
        client_id: &str,
        p: Publish,
        acks: &mpsc::Sender<Pending>,
    ) -> Result<(), String> {
        let ack = match p.qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => Some(Packet::PubAck(PubAck::new(p.pkid))),
            QoS::ExactlyOnce => Some(Packet::PubRec(PubRec::new(p.pkid))),
        };
        let stored = if sta::create_path(&p.topic).is_none() {
            tracing::info!(client = %client_id, topic = %p.topic, "MQTT publish ignored: not a create topic (v1.1/Observations, v1.1/Datastreams(ID)/Observations)");
            None
        } else {
            let (done, stored) = oneshot::channel();
            let publication = sta::Publication {
                actor: actor.clone(),
                topic: p.topic.clone(),
                payload: p.payload.to_vec(),
            };
            // One committer per connection keeps its messages in the order they came.
            let creates = &self.inner.creates;
            creates[(id % creates.len() as u64) as usize]
                .send(Job { publication, done })
                .await
                .map_err(|_| "the broker is stopping".to_string())?;
            Some(stored)
        };
        acks.send(Pending {
            ack,
            stored,
            topic: p.topic,
        })
        .await
        .map_err(|_| "connection closed".to_string())
    }

    /// Publishes committed changes to the subscribers of their topics.
    async fn publish(&self, changes: &[sta::Event]) {
        let subscribers: Vec<Subscriber> = self
            .lock()
            .iter()
            .filter(|(_, c)| !c.subs.is_empty())
            .map(|(id, c)| Subscriber {
                id: *id,
                actor: c.actor.clone(),
                rights: c.rights.clone(),
                subs: c.subs.clone(),
            })
            .collect();
        if subscribers.is_empty() {
            return;
        }
        let env = &self.inner.env;
        for change in changes {
            let notices = match sta::notices(env, change).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "MQTT: topics of a change could not be determined");
                    continue;
                }
            };
            let mut rendered: HashMap<(String, sta::Shows, String), Option<String>> =
                HashMap::new();
            for s in &subscribers {
                let mut sent = HashSet::new();
                for n in &notices {
                    for (f, qos) in &s.subs {
                        if !f.matches(&n.topic) {
                            continue;
                        }
                        let topic = f.delivery_topic(&n.topic);
                        if !sent.insert(topic.clone()) {
                            continue;
                        }
                        let key = (s.rights.clone(), n.shows.clone(), f.query.clone());
                        if !rendered.contains_key(&key) {
                            let body = match sta::render(env, &s.actor, &n.shows, &f.query).await {
                                Ok(b) => b,
                                Err(e) => {
                                    tracing::warn!(error = %e, topic = %topic, "MQTT: message could not be rendered");
                                    None
                                }
                            };
                            rendered.insert(key.clone(), body);
                        }
                        if let Some(Some(body)) = rendered.get(&key) {
                            self.send(s.id, topic, *qos, body.clone());
                        }
                    }
                }
            }
        }
    }

    fn send(&self, id: u64, topic: String, qos: QoS, body: String) {
        let mut clients = self.lock();
        let Some(c) = clients.get_mut(&id) else {
            return;
        };
        let mut p = Publish::new(topic, qos, body.into_bytes());
        if qos != QoS::AtMostOnce {
            c.pkid = if c.pkid == u16::MAX { 1 } else { c.pkid + 1 };
            p.pkid = c.pkid;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = c.tx.try_send(Packet::Publish(p)) {
            tracing::warn!(client = id, "MQTT subscriber too slow: message dropped");
        }
    }
}

/// One committer task: takes whatever is queued (up to [`GROUP`]) when it is free and stores it
/// in one transaction ([`sta::create_many`]), in arrival order. The committed changes of the
/// group go to the hooks in one report (in message order, after the commit), then each outcome
/// back to its connection, whose [`ack_loop`] sends the acknowledgements in order. Each
/// connection has its committer (of [`PG_COMMITTERS`] or [`SQLITE_COMMITTERS`]), so its
/// messages are stored in the order they came, also while several groups are stored at once.
async fn commit_loop(env: Env, hooks: Hooks, mut jobs: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(GROUP);
    while jobs.recv_many(&mut group, GROUP).await > 0 {
        let (items, done): (Vec<_>, Vec<_>) =
            group.drain(..).map(|j| (j.publication, j.done)).unzip();
        let mut results = sta::create_many(&env, &items).await;
        let changes: Vec<sensorthings::Change> = results
            .iter_mut()
            .filter_map(|r| r.as_mut().ok())
            .flat_map(std::mem::take)
            .collect();
        hooks.committed(&changes);
        for (result, done) in results.into_iter().zip(done) {
            let _ = done.send(result.map(|_| ()));
        }
    }
}

/// Sends one connection's acknowledgements in the order its messages came (MQTT 3.1.1, 4.6),
/// each only after its message is stored. A message that can never be stored (no write right,
/// bad JSON) is acknowledged and dropped with a log line; one that failed inside the server
/// is not acknowledged, nor is anything after it, and the connection is closed (`failed`), so
/// the client sends them again.
async fn ack_loop(
    mut pending: mpsc::Receiver<Pending>,
    tx: mpsc::Sender<Packet>,
    failed: Arc<Notify>,
    client_id: String,
) {
    while let Some(p) = pending.recv().await {
        if let Some(stored) = p.stored {
            match stored.await {
                Ok(Ok(())) => {}
                Ok(Err(Error::Internal(msg))) => {
                    tracing::error!(client = %client_id, topic = %p.topic, error = %msg, "MQTT create failed; not acknowledged");
                    failed.notify_one();
                    return;
                }
                Ok(Err(e)) => {
                    tracing::info!(client = %client_id, topic = %p.topic, error = %e, "MQTT publish ignored");
                }
                Err(_) => {
                    failed.notify_one();
                    return;
                }
            }
        }
        if let Some(ack) = p.ack
            && tx.send(ack).await.is_err()
        {
            return;
        }
    }
}

/// Reads one packet, reading more bytes as needed.
async fn read_packet<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Packet, String> {
    loop {
        match Packet::read(buf, max) {
            Ok(p) => return Ok(p),
            Err(CodecError::InsufficientBytes(n)) => {
                buf.reserve(n.max(1024));
                let got = rd.read_buf(buf).await.map_err(|e| e.to_string())?;
                if got == 0 {
                    return Err("connection closed by the client".into());
                }
            }
            Err(e) => return Err(format!("malformed packet: {e}")),
        }
    }
}

async fn write_now<W: AsyncWrite + Unpin>(wr: &mut W, p: Packet) -> Result<(), String> {
    let mut out = BytesMut::new();
    p.write(&mut out, usize::MAX).map_err(|e| e.to_string())?;
    wr.write_all(&out).await.map_err(|e| e.to_string())?;
    wr.flush().await.map_err(|e| e.to_string())
}

/// Writes queued packets, several at a time, until the queue closes.
async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Packet>, max: usize) {
    let mut out = BytesMut::with_capacity(8192);
    while let Some(p) = rx.recv().await {
        let mut next = Some(p);
        while let Some(p) = next {
            if let Err(e) = p.write(&mut out, max) {
                tracing::warn!(error = %e, "MQTT: packet not sent");
            }
            next = if out.len() < 64 * 1024 {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if wr.write_all(&out).await.is_err() || wr.flush().await.is_err() {
            return;
        }
        out.clear();
    }
    let _ = wr.shutdown().await;
}

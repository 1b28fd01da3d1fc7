//! Outgoing e-mail through an outbox.
//!
//! A domain function queues a mail with [`queue_tx`] inside its own transaction, so a mail
//! exists exactly when the change that caused it was committed. The delivery worker
//! ([`deliver_pending`], run periodically by every server replica) claims due mails row by row
//! (a conditional update, so two replicas never send the same mail), sends them over SMTP
//! (`mail.smtp_url`) and retries failures with a growing pause until `mail.max_attempts`.

use crate::Env;
use crate::accounts::valid_email;
use chrono::Duration;
use kern::{Error, Invalid, Result};
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
pub use store::mail::OutboxMail;

/// A plain-text mail to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

fn check(mail: &Mail) -> Result<()> {
    let mut inv = Invalid::new();
    if !valid_email(mail.to.trim()) {
        inv.push("to", "Die E-Mail-Adresse des Empfängers ist ungültig.");
    }
    if mail.subject.trim().is_empty() || mail.subject.chars().count() > 200 {
        inv.push("subject", "Der Betreff muss 1 bis 200 Zeichen lang sein.");
    }
    if mail.text.len() > 100_000 {
        inv.push(
            "text",
            "Der Text einer E-Mail darf höchstens 100.000 Bytes lang sein.",
        );
    }
    inv.into_result()
}

/// Queues `mail` in the caller's transaction; it is sent after the commit.
pub async fn queue_tx(env: &Env, tx: &mut store::Tx, mail: &Mail) -> Result<i64> {
    check(mail)?;
    // A subject is one header line: line breaks would be header injection.
    let subject: String = mail
        .subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    store::mail::insert(tx, mail.to.trim(), subject.trim(), &mail.text, env.now()).await
}

/// Queues `mail` in a transaction of its own.
pub async fn queue(env: &Env, mail: &Mail) -> Result<i64> {
    let mut tx = env.db.begin().await?;
    let id = queue_tx(env, &mut tx, mail).await?;
    tx.commit().await?;
    Ok(id)
}

/// Every mail in the outbox, sent or not, oldest first: for operators and tests.
pub async fn outbox(env: &Env) -> Result<Vec<OutboxMail>> {
    store::mail::list(&env.db, None).await
}

/// What one delivery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub failed: usize,
}

/// Sends due mails (at most `limit`) over the configured SMTP server. Without `mail.smtp_url`
/// nothing is sent and the mails stay queued.
pub async fn deliver_pending(env: &Env, limit: u64) -> Result<Delivery> {
    let Some(url) = env.config.mail.smtp_url.as_deref() else {
        return Ok(Delivery::default());
    };
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| Error::invalid("mail.smtp_url", format!("unusable SMTP URL: {e}")))?
        .timeout(Some(std::time::Duration::from_secs(30)))
        .build();
    let from = env
        .config
        .mail
        .from
        .parse()
        .map_err(|e| Error::invalid("mail.from", format!("unusable sender address: {e}")))?;
    let now = env.now();
    let claimed = store::mail::claim(&env.db, now, Duration::minutes(5), limit).await?;
    let mut done = Delivery::default();
    for mail in claimed {
        let result = match build(&from, &mail, now) {
            Ok(message) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                store::mail::mark_sent(&env.db, mail.id, env.now()).await?;
                done.sent += 1;
            }
            Err(e) => {
                let give_up = mail.attempts >= env.config.mail.max_attempts;
                let pause = Duration::minutes(1 << mail.attempts.clamp(0, 9));
                tracing::warn!(mail = mail.id, attempt = mail.attempts, give_up, error = %e, "mail delivery failed");
                store::mail::mark_failed(&env.db, mail.id, &e, now + pause, give_up).await?;
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

fn build(
    from: &lettre::message::Mailbox,
    mail: &OutboxMail,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<Message, String> {
    let to = mail
        .to_addr
        .parse()
        .map_err(|e| format!("recipient address: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .date(std::time::SystemTime::from(now))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| e.to_string())
}

/// A local SMTP sink for tests: accepts every mail and keeps the raw messages.
#[cfg(feature = "testing")]
pub mod testing {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// One received message: envelope and the DATA part (headers and body).
    #[derive(Debug, Clone)]
    pub struct Received {
        pub from: String,
        pub to: Vec<String>,
        pub data: String,
    }

    #[derive(Clone)]
    pub struct SmtpSink {
        pub url: String,
        received: Arc<Mutex<Vec<Received>>>,
    }

    impl SmtpSink {
        /// Listens on a free loopback port.
        pub async fn start() -> SmtpSink {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
            let addr = listener.local_addr().expect("sink address");
            let received: Arc<Mutex<Vec<Received>>> = Arc::default();
            let store = received.clone();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let _ = session(socket, store).await;
                    });
                }
            });
            SmtpSink {
                url: format!("smtp://{addr}"),
                received,
            }
        }

        pub fn received(&self) -> Vec<Received> {
            self.received.lock().expect("sink lock").clone()
        }
    }

    async fn session(
        socket: tokio::net::TcpStream,
        store: Arc<Mutex<Vec<Received>>>,
    ) -> std::io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 sink ESMTP\r\n").await?;
        let (mut from, mut to) = (String::new(), Vec::new());
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-sink\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("HELO") || upper.starts_with("RSET") {
                b"250 ok\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                from = line[10..].trim().to_string();
                b"250 ok\r\n"
            } else if upper.starts_with("RCPT TO:") {
                to.push(line[8..].trim().to_string());
                b"250 ok\r\n"
            } else if upper.starts_with("DATA") {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                store.lock().expect("sink lock").push(Received {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 queued\r\n"
            } else if upper.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                b"250 ok\r\n"
            };
            write.write_all(reply).await?;
        }
    }
}

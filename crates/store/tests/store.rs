//! The storage crate's integration tests. They run on SQLite by default and on PostgreSQL when
//! `STADTKERN_TEST_DATABASE=postgres://...` is set (each test in its own schema).

use chrono::{DateTime, Duration, TimeZone, Utc};
use kern::{Error, Role, Scope};
use serde_json::json;
use store::accounts::{self, NewUser, OidcLogin, Session};
use store::audit::{self, NewEntry, Verdict};
use store::backup;
use store::city::{self, OrgUnit};
use store::migrations::{self, TABLES};
use store::testing::TestDb;
use store::{Backend, Db, OpenOptions, feedback, settings};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn entry(actor: &str, action: &str, object: &str) -> NewEntry {
    NewEntry {
        at: None,
        actor: actor.into(),
        action: action.into(),
        object: object.into(),
        address: "192.0.2.1".into(),
        details: json!({ "note": "täglich", "n": 1 }),
    }
}

async fn new_user(db: &Db, name: &str, now: DateTime<Utc>) -> i64 {
    let mut tx = db.begin().await.unwrap();
    let id = accounts::create_user(
        &mut tx,
        &NewUser {
            username: name.into(),
            display_name: format!("Display {name}"),
            email: format!("{name}@example.org"),
            password_hash: Some("$argon2id$v=19$fake".into()),
            oidc_subject: None,
        },
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

fn org_unit(key: &str, name: &str, parent: Option<i64>) -> OrgUnit {
    OrgUnit {
        id: 0,
        key: key.into(),
        name: name.into(),
        parent_id: parent,
        address: "Friedensplatz 1, 44135 Dortmund".into(),
        email: format!("{key}@example.org"),
        phone: "+49 231 50-0".into(),
        opening_hours: "Mo–Fr 8–16 Uhr".into(),
        accessibility: "stufenlos".into(),
    }
}

async fn add_org_unit(db: &Db, key: &str, name: &str, parent: Option<i64>) -> i64 {
    let mut tx = db.begin().await.unwrap();
    let id = city::upsert_org_unit(&mut tx, &org_unit(key, name, parent))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

/// The foundation's own tables (migration 1); modules add theirs to `TABLES`.
const FOUNDATION_TABLES: &[&str] = &[
    "settings",
    "org_units",
    "districts",
    "users",
    "user_roles",
    "user_org_units",
    "sessions",
    "api_tokens",
    "login_attempts",
    "oidc_logins",
    "audit_log",
    "barrier_feedback",
];

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// ---------------------------------------------------------------- migrations and schema

#[tokio::test]
async fn migrate_is_idempotent() {
    let t = TestDb::unmigrated().await;
    let latest = migrations::all().last().unwrap().version;
    assert_eq!(migrations::current_version(&t).await.unwrap(), 0);
    let first = migrations::migrate(&t).await.unwrap();
    assert_eq!(
        first,
        migrations::all()
            .iter()
            .map(|m| m.version)
            .collect::<Vec<_>>()
    );
    let tables_after_first = migrations::existing_tables(&t).await.unwrap();
    let second = migrations::migrate(&t).await.unwrap();
    assert!(second.is_empty(), "second run applied {second:?}");
    assert_eq!(migrations::current_version(&t).await.unwrap(), latest);
    assert_eq!(
        migrations::existing_tables(&t).await.unwrap(),
        tables_after_first
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_migrating_at_once_apply_each_migration_once() {
    let t = TestDb::unmigrated().await;
    let other = t.another_handle().await;
    let third = t.another_handle().await;
    let (a, b, c) = tokio::join!(
        migrations::migrate(&t.db),
        migrations::migrate(&other),
        migrations::migrate(&third)
    );
    let (a, b, c) = (
        a.expect("first replica migrates"),
        b.expect("second replica migrates"),
        c.expect("third replica migrates"),
    );
    let mut all: Vec<i64> = a.into_iter().chain(b).chain(c).collect();
    all.sort();
    assert_eq!(
        all,
        migrations::all()
            .iter()
            .map(|m| m.version)
            .collect::<Vec<_>>(),
        "every migration applied exactly once"
    );
    assert!(migrations::migrate(&other).await.unwrap().is_empty());
}

#[tokio::test]
async fn tables_lists_exactly_the_tables_that_exist() {
    let t = TestDb::new().await;
    let existing: Vec<String> = migrations::existing_tables(&t)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n != "schema_migrations")
        .collect();
    let listed: Vec<String> = TABLES.iter().map(|s| s.to_string()).collect();
    let mut dedup = listed.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), listed.len(), "TABLES has duplicates");
    assert_eq!(sorted(existing), sorted(listed));
}

#[tokio::test]
async fn bad_database_urls_are_refused_with_a_clear_message() {
    for (url, words) in [
        ("mysql://root@localhost/db", "unsupported database URL"),
        ("sqlite://", "SQLite needs a file path"),
        ("sqlite://:memory:", "SQLite needs a file path"),
        (
            "postgres://u:geheim@127.0.0.1:1/x",
            "cannot connect to PostgreSQL",
        ),
    ] {
        let e = Db::connect(url, &OpenOptions::default()).await.unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{url}: {e:?}");
        let msg = e.to_string();
        assert!(msg.contains(words), "{url}: {msg}");
        assert!(!msg.contains("geheim"), "password leaked: {msg}");
    }
}

// ---------------------------------------------------------------- accounts

#[tokio::test]
async fn users_roles_and_org_units_round_trip() {
    let t = TestDb::new().await;
    let now = t0();
    let parent = add_org_unit(&t, "ordnungsamt", "Ordnungsamt", None).await;
    let child = add_org_unit(&t, "buergerdienste", "Bürgerdienste", Some(parent)).await;
    // An upsert by key updates instead of duplicating.
    let again = add_org_unit(&t, "ordnungsamt", "Ordnungsamt (neu)", None).await;
    assert_eq!(again, parent);
    let units = city::org_units(&t).await.unwrap();
    assert_eq!(units.len(), 2);
    let c = city::org_unit(&t, child).await.unwrap().unwrap();
    assert_eq!(c.parent_id, Some(parent));
    assert_eq!(c.opening_hours, "Mo–Fr 8–16 Uhr");
    assert_eq!(
        city::org_unit_by_key(&t, "ordnungsamt")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Ordnungsamt (neu)"
    );

    let id = new_user(&t, "erika", now).await;
    let u = accounts::user_by_id(&t, id).await.unwrap().unwrap();
    assert_eq!(u.username, "erika");
    assert!(u.active);
    assert_eq!(u.created_at, now);
    assert_eq!(u.oidc_subject, None);
    assert_eq!(
        accounts::user_by_username(&t, "erika")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    assert!(
        accounts::user_by_username(&t, "nobody")
            .await
            .unwrap()
            .is_none()
    );

    let mut tx = t.begin().await.unwrap();
    accounts::set_roles(&mut tx, id, &[Role::Staff, Role::Moderator])
        .await
        .unwrap();
    accounts::set_org_units(&mut tx, id, &[child, parent])
        .await
        .unwrap();
    accounts::set_password_hash(&mut tx, id, "$argon2id$new", now + Duration::hours(1))
        .await
        .unwrap();
    accounts::update_profile(
        &mut tx,
        id,
        "Erika M.",
        "erika@example.com",
        false,
        now + Duration::hours(1),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        accounts::roles_of(&t, id).await.unwrap(),
        vec![Role::Staff, Role::Moderator]
    );
    let mut expected = vec![parent, child];
    expected.sort();
    assert_eq!(accounts::org_units_of(&t, id).await.unwrap(), expected);
    let u = accounts::user_by_id(&t, id).await.unwrap().unwrap();
    assert_eq!(u.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(u.display_name, "Erika M.");
    assert!(!u.active);
    assert_eq!(u.updated_at, now + Duration::hours(1));

    // Replacing roles replaces, it does not add.
    let mut tx = t.begin().await.unwrap();
    accounts::set_roles(&mut tx, id, &[Role::Resident])
        .await
        .unwrap();
    accounts::set_org_units(&mut tx, id, &[]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        accounts::roles_of(&t, id).await.unwrap(),
        vec![Role::Resident]
    );
    assert!(accounts::org_units_of(&t, id).await.unwrap().is_empty());

    // Unknown ids are reported, not silently ignored.
    let mut tx = t.begin().await.unwrap();
    let e = accounts::set_password_hash(&mut tx, 9999, "x", now)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    drop(tx);

    let all = accounts::list_users(&t).await.unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn unique_violations_become_readable_conflicts() {
    let t = TestDb::new().await;
    new_user(&t, "erika", t0()).await;
    let mut tx = t.begin().await.unwrap();
    let e = accounts::create_user(
        &mut tx,
        &NewUser {
            username: "erika".into(),
            display_name: "Zweite Erika".into(),
            email: String::new(),
            password_hash: None,
            oidc_subject: None,
        },
        t0(),
    )
    .await
    .unwrap_err();
    drop(tx);
    match &e {
        Error::Conflict(m) => assert!(m.contains("'erika'") && m.contains("vergeben"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // A generic unique violation (two tokens with the same digest) is a conflict too, with a
    // message that does not leak SQL.
    let mut tx = t.begin().await.unwrap();
    accounts::create_token(&mut tx, "a", "samehash", &[Scope::admin()], None, t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = t.begin().await.unwrap();
    let e = accounts::create_token(&mut tx, "b", "samehash", &[Scope::admin()], None, t0())
        .await
        .unwrap_err();
    drop(tx);
    match &e {
        Error::Conflict(m) => {
            assert!(m.contains("existiert bereits"), "{m}");
            assert!(
                !m.to_lowercase().contains("unique") && !m.contains("api_tokens"),
                "{m}"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Nothing of the failed transactions was written.
    assert_eq!(accounts::list_users(&t).await.unwrap().len(), 1);
    assert_eq!(accounts::list_tokens(&t).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sessions_are_created_found_slid_and_deleted() {
    let t = TestDb::new().await;
    let now = t0();
    let uid = new_user(&t, "erika", now).await;
    let s = Session {
        id_hash: "h1".into(),
        user_id: uid,
        created_at: now,
        last_seen_at: now,
        expires_at: now + Duration::hours(8),
        address: "192.0.2.7".into(),
        user_agent: "Test/1.0".into(),
    };
    let mut tx = t.begin().await.unwrap();
    accounts::create_session(&mut tx, &s).await.unwrap();
    accounts::create_session(
        &mut tx,
        &Session {
            id_hash: "h2".into(),
            expires_at: now + Duration::hours(1),
            ..s.clone()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let found = accounts::session(&t, "h1", now).await.unwrap().unwrap();
    assert_eq!(found.user_id, uid);
    assert_eq!(found.expires_at, now + Duration::hours(8));
    assert_eq!(found.user_agent, "Test/1.0");
    // Expired at exactly its expiry.
    assert!(
        accounts::session(&t, "h1", now + Duration::hours(8))
            .await
            .unwrap()
            .is_none()
    );
    // Sliding moves the expiry.
    let later = now + Duration::hours(7) + Duration::milliseconds(250);
    accounts::touch_session(&t, "h1", later, later + Duration::hours(8))
        .await
        .unwrap();
    let slid = accounts::session(&t, "h1", now + Duration::hours(9))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(slid.last_seen_at, later);

    // Purging drops only expired sessions.
    assert_eq!(
        accounts::purge_expired_sessions(&t, now + Duration::hours(2))
            .await
            .unwrap(),
        1
    );
    assert!(accounts::session(&t, "h2", now).await.unwrap().is_none());

    accounts::delete_session(&t, "h1").await.unwrap();
    assert!(accounts::session(&t, "h1", now).await.unwrap().is_none());

    // Ending every session of a user; and a user's deletion cascades to the sessions.
    let mut tx = t.begin().await.unwrap();
    accounts::create_session(
        &mut tx,
        &Session {
            id_hash: "h3".into(),
            ..s.clone()
        },
    )
    .await
    .unwrap();
    accounts::create_session(
        &mut tx,
        &Session {
            id_hash: "h4".into(),
            ..s.clone()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = t.begin().await.unwrap();
    assert_eq!(accounts::delete_sessions_of(&mut tx, uid).await.unwrap(), 2);
    tx.commit().await.unwrap();
    assert!(accounts::session(&t, "h3", now).await.unwrap().is_none());

    // A session for a user that does not exist violates the foreign key.
    let mut tx = t.begin().await.unwrap();
    let e = accounts::create_session(
        &mut tx,
        &Session {
            id_hash: "h5".into(),
            user_id: 4242,
            ..s
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
}

#[tokio::test]
async fn tokens_are_created_listed_touched_and_revoked() {
    let t = TestDb::new().await;
    let now = t0();
    let uid = new_user(&t, "admin", now).await;
    let scopes: Vec<Scope> = vec!["sta:write".parse().unwrap(), Scope::admin()];
    let mut tx = t.begin().await.unwrap();
    let id = accounts::create_token(&mut tx, "sensor", "digest-1", &scopes, Some(uid), now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tok = accounts::token_by_hash(&t, "digest-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tok.id, id);
    assert_eq!(tok.scope_list(), scopes);
    assert_eq!(tok.created_by, Some(uid));
    assert_eq!(tok.last_used_at, None);
    assert_eq!(tok.revoked_at, None);
    assert!(accounts::token_by_hash(&t, "nope").await.unwrap().is_none());

    accounts::touch_token(&t, id, now + Duration::seconds(5))
        .await
        .unwrap();
    // A second use within the minute does not write again.
    accounts::touch_token(&t, id, now + Duration::seconds(30))
        .await
        .unwrap();
    let tok = accounts::token_by_id(&t, id).await.unwrap().unwrap();
    assert_eq!(tok.last_used_at, Some(now + Duration::seconds(5)));
    accounts::touch_token(&t, id, now + Duration::seconds(120))
        .await
        .unwrap();
    let tok = accounts::token_by_id(&t, id).await.unwrap().unwrap();
    assert_eq!(tok.last_used_at, Some(now + Duration::seconds(120)));

    let mut tx = t.begin().await.unwrap();
    assert!(
        accounts::revoke_token(&mut tx, id, now + Duration::hours(1))
            .await
            .unwrap()
    );
    assert!(
        !accounts::revoke_token(&mut tx, id, now + Duration::hours(2))
            .await
            .unwrap(),
        "revoking twice changes nothing"
    );
    tx.commit().await.unwrap();
    let tok = accounts::token_by_id(&t, id).await.unwrap().unwrap();
    assert_eq!(tok.revoked_at, Some(now + Duration::hours(1)));
    assert_eq!(accounts::list_tokens(&t).await.unwrap().len(), 1);
}

#[tokio::test]
async fn login_attempts_count_failures_per_account_and_address() {
    let t = TestDb::new().await;
    let now = t0();
    for i in 0..3 {
        accounts::record_login_attempt(&t, "erika", "192.0.2.1", false, now + Duration::seconds(i))
            .await
            .unwrap();
    }
    accounts::record_login_attempt(&t, "max", "192.0.2.1", false, now)
        .await
        .unwrap();
    accounts::record_login_attempt(&t, "erika", "192.0.2.9", true, now)
        .await
        .unwrap();
    let since = now - Duration::minutes(15);
    assert_eq!(
        accounts::recent_failures(&t, "erika", "192.0.2.1", since)
            .await
            .unwrap(),
        (3, 4)
    );
    assert_eq!(
        accounts::recent_failures(&t, "erika", "192.0.2.1", now + Duration::seconds(1))
            .await
            .unwrap(),
        (1, 1)
    );
    assert_eq!(
        accounts::purge_login_attempts(&t, now + Duration::seconds(1))
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn pending_oidc_logins_can_be_taken_once() {
    let t = TestDb::new().await;
    let l = OidcLogin {
        state: "st".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        return_to: "/staff".into(),
        created_at: t0(),
    };
    accounts::save_oidc_login(&t, &l).await.unwrap();
    let got = accounts::take_oidc_login(&t, "st").await.unwrap().unwrap();
    assert_eq!(got.return_to, "/staff");
    assert!(accounts::take_oidc_login(&t, "st").await.unwrap().is_none());
}

// ---------------------------------------------------------------- audit chain

async fn seqs(db: &Db) -> Vec<i64> {
    let mut v: Vec<i64> = audit::list(
        db,
        &audit::Filter {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.seq)
    .collect();
    v.reverse();
    v
}

async fn chain(db: &Db, n: usize) {
    for i in 0..n {
        audit::record(
            db,
            entry("user:erika", "user.update", &format!("user:{i}")),
            t0() + Duration::microseconds(i as i64 * 1_234_567),
        )
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_two_replicas_keep_the_chain_intact() {
    let t = TestDb::new().await;
    let other = t.another_handle().await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let db = if i % 2 == 0 {
            t.db.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            // Half the appends are an audit entry on their own (the transaction reads first),
            // half run inside a transaction that also changes other data (it writes first).
            if i % 4 < 2 {
                return audit::record(
                    &db,
                    entry("system", "test.record", &format!("n:{i}")),
                    t0() + Duration::milliseconds(i),
                )
                .await;
            }
            let mut tx = db.begin().await?;
            settings::set_tx(&mut tx, &format!("k{i}"), "v").await?;
            let seq = audit::append(
                &mut tx,
                entry("system", "test.append", &format!("n:{i}")),
                t0() + Duration::milliseconds(i),
            )
            .await?;
            tx.commit().await?;
            Ok::<i64, Error>(seq)
        }));
    }
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.unwrap().expect("append succeeds"));
    }
    got.sort();
    assert_eq!(got, (1..=40).collect::<Vec<_>>());
    assert_eq!(seqs(&t).await, (1..=40).collect::<Vec<_>>());
    assert_eq!(
        audit::verify(&t).await.unwrap(),
        Verdict::Intact { entries: 40 }
    );
    assert_eq!(
        audit::verify(&other).await.unwrap(),
        Verdict::Intact { entries: 40 }
    );
}

#[tokio::test]
async fn an_empty_chain_is_intact() {
    let t = TestDb::new().await;
    assert_eq!(
        audit::verify(&t).await.unwrap(),
        Verdict::Intact { entries: 0 }
    );
}

#[tokio::test]
async fn editing_any_field_of_an_entry_names_that_entry() {
    for (column, value) in [
        ("actor", "'user:mallory'"),
        ("action", "'user.delete'"),
        ("object", "'user:99'"),
        ("address", "'10.0.0.1'"),
        ("details", "'{}'"),
        ("hash", "'00'"),
    ] {
        let t = TestDb::new().await;
        chain(&t, 6).await;
        assert_eq!(
            audit::verify(&t).await.unwrap(),
            Verdict::Intact { entries: 6 }
        );
        let n = t
            .raw_execute(&format!(
                "UPDATE audit_log SET {column} = {value} WHERE seq = 4"
            ))
            .await
            .unwrap();
        assert_eq!(n, 1);
        match audit::verify(&t).await.unwrap() {
            Verdict::Broken { seq, reason } => {
                assert_eq!(seq, 4, "{column}: {reason}");
                assert!(!reason.is_empty());
            }
            v => panic!("editing {column} went unnoticed: {v:?}"),
        }
    }
}

#[tokio::test]
async fn editing_the_time_of_an_entry_is_detected() {
    let t = TestDb::new().await;
    chain(&t, 3).await;
    let mut tx = t.begin().await.unwrap();
    let q = sea_query::Query::update()
        .table(store::q::id("audit_log"))
        .value(store::q::id("at"), t0() - Duration::days(1))
        .and_where(sea_query::ExprTrait::eq(
            sea_query::Expr::col(store::q::id("seq")),
            2,
        ))
        .take();
    assert_eq!(tx.execute(&q).await.unwrap(), 1);
    tx.commit().await.unwrap();
    assert!(matches!(
        audit::verify(&t).await.unwrap(),
        Verdict::Broken { seq: 2, .. }
    ));
}

#[tokio::test]
async fn deleting_a_middle_entry_names_the_gap() {
    let t = TestDb::new().await;
    chain(&t, 7).await;
    t.raw_execute("DELETE FROM audit_log WHERE seq = 3")
        .await
        .unwrap();
    match audit::verify(&t).await.unwrap() {
        Verdict::Broken { seq, reason } => {
            assert_eq!(seq, 3, "{reason}");
            assert!(reason.contains("missing"), "{reason}");
        }
        v => panic!("deletion went unnoticed: {v:?}"),
    }
}

#[tokio::test]
async fn deleting_the_newest_entries_is_detected_through_the_head() {
    let t = TestDb::new().await;
    chain(&t, 5).await;
    t.raw_execute("DELETE FROM audit_log WHERE seq = 5")
        .await
        .unwrap();
    match audit::verify(&t).await.unwrap() {
        Verdict::Broken { seq, reason } => {
            assert_eq!(seq, 5, "{reason}");
            assert!(reason.contains("deleted"), "{reason}");
        }
        v => panic!("deleting the newest entry went unnoticed: {v:?}"),
    }
    // Deleting all of them too.
    t.raw_execute("DELETE FROM audit_log").await.unwrap();
    assert!(matches!(
        audit::verify(&t).await.unwrap(),
        Verdict::Broken { seq: 1, .. }
    ));
}

#[tokio::test]
async fn the_audit_log_filters_and_pages() {
    let t = TestDb::new().await;
    chain(&t, 5).await;
    audit::record(&t, entry("user:max", "session.login", "user:2"), t0())
        .await
        .unwrap();
    let by_actor = audit::list(
        &t,
        &audit::Filter {
            actor: Some("user:max".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_actor.len(), 1);
    assert_eq!(by_actor[0].seq, 6);
    let by_action = audit::list(
        &t,
        &audit::Filter {
            action_prefix: Some("user.".into()),
            before_seq: Some(4),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        by_action.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    let e = &by_action[0];
    assert_eq!(e.address, "192.0.2.1");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&e.details).unwrap(),
        json!({ "note": "täglich", "n": 1 })
    );
}

// ---------------------------------------------------------------- backup and restore

/// Puts rows into every table, with NULLs, JSON, booleans both ways and fractional times.
async fn fill_every_table(db: &Db) {
    // Sub-microsecond digits on purpose: PostgreSQL keeps microseconds, so both backends must
    // store the same precision for an instance to move between them unchanged.
    let now = t0() + Duration::nanoseconds(123_456_789);
    let parent = add_org_unit(db, "ordnungsamt", "Ordnungsamt", None).await;
    let child = add_org_unit(db, "buergerdienste", "Bürgerdienste", Some(parent)).await;
    let mut tx = db.begin().await.unwrap();
    city::upsert_district(
        &mut tx,
        1,
        "Innenstadt-West",
        53_000,
        &json!({
            "type": "Polygon",
            "coordinates": [[[7.43, 51.5], [7.46, 51.5], [7.46, 51.52], [7.43, 51.5]]],
            "properties": { "name": "Innenstadt-West \"Mitte\"", "nested": { "b": true, "a": null } }
        }),
    )
    .await
    .unwrap();
    city::upsert_district(
        &mut tx,
        2,
        "Eving",
        39_000,
        &json!({ "type": "Point", "coordinates": [7.475, 51.556] }),
    )
    .await
    .unwrap();
    let erika = accounts::create_user(
        &mut tx,
        &NewUser {
            username: "erika".into(),
            display_name: "Erika Mustermann".into(),
            email: "erika@example.org".into(),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$abc$def".into()),
            oidc_subject: None,
        },
        now,
    )
    .await
    .unwrap();
    let oidc = accounts::create_user(
        &mut tx,
        &NewUser {
            username: "kc-user".into(),
            display_name: "Über OIDC".into(),
            email: String::new(),
            password_hash: None,
            oidc_subject: Some("sub-123".into()),
        },
        now,
    )
    .await
    .unwrap();
    accounts::update_profile(
        &mut tx,
        oidc,
        "Über OIDC",
        "",
        false,
        now + Duration::seconds(1),
    )
    .await
    .unwrap();
    accounts::set_roles(&mut tx, erika, &[Role::Admin, Role::Staff])
        .await
        .unwrap();
    accounts::set_org_units(&mut tx, erika, &[parent, child])
        .await
        .unwrap();
    accounts::create_session(
        &mut tx,
        &Session {
            id_hash: "sessionhash".into(),
            user_id: erika,
            created_at: now,
            last_seen_at: now + Duration::microseconds(1),
            expires_at: now + Duration::hours(8),
            address: "2001:db8::1".into(),
            user_agent: "Mozilla/5.0 (X11; Linux) ‚quoted‘".into(),
        },
    )
    .await
    .unwrap();
    let t1 = accounts::create_token(&mut tx, "sensor", "d1", &[Scope::admin()], Some(erika), now)
        .await
        .unwrap();
    accounts::create_token(
        &mut tx,
        "probe",
        "d2",
        &["sta:write".parse().unwrap()],
        None,
        now,
    )
    .await
    .unwrap();
    accounts::revoke_token(&mut tx, t1, now + Duration::minutes(3))
        .await
        .unwrap();
    let fb = feedback::create(&mut tx, "/impressum", "Kontrast zu gering", "", now)
        .await
        .unwrap();
    feedback::create(&mut tx, "/", "Alt-Text fehlt", "a@example.org", now)
        .await
        .unwrap();
    feedback::mark_done(&mut tx, fb, erika, now + Duration::days(1))
        .await
        .unwrap();
    settings::set_tx(&mut tx, "instance.secret", "c2VjcmV0")
        .await
        .unwrap();
    // SensorThings (migration 2): one row per table, geometry included.
    let geom = if tx.backend() == store::Backend::Postgres {
        "ST_GeomFromText('POINT(7.46 51.51)', 4326)"
    } else {
        "NULL"
    };
    for sql in [
        "INSERT INTO sta_things (name, description, properties, visibility, groups) VALUES ('T', 'd', '{\"a\":1}', 'restricted', ',energie,')".to_string(),
        format!("INSERT INTO sta_locations (name, description, encoding_type, location, properties, min_x, min_y, max_x, max_y{}) VALUES ('L', 'd', 'application/geo+json', '{{\"type\":\"Point\",\"coordinates\":[7.46,51.51]}}', NULL, 7.46, 51.51, 7.46, 51.51{})",
            if geom == "NULL" { "" } else { ", geom" }, if geom == "NULL" { String::new() } else { format!(", {geom}") }),
        "INSERT INTO sta_thing_locations (thing_id, location_id) VALUES (1, 1)".into(),
        "INSERT INTO sta_historical_locations (thing_id, time) VALUES (1, 1700000000000000)".into(),
        "INSERT INTO sta_hist_locations (hist_id, location_id) VALUES (1, 1)".into(),
        "INSERT INTO sta_sensors (name, description, encoding_type, metadata) VALUES ('S', 'd', 'text/html', 'm')".into(),
        "INSERT INTO sta_observed_properties (name, definition, description) VALUES ('P', 'def', 'd')".into(),
        "INSERT INTO sta_datastreams (name, description, observation_type, unit_of_measurement, pt_start, pt_end, thing_id, sensor_id, obs_prop_id) VALUES ('D', 'd', 'OM_Measurement', '{\"symbol\":\"°C\"}', 1, 2, 1, 1, 1)".into(),
        "INSERT INTO sta_multi_datastreams (name, description, observation_type, multi_observation_data_types, units_of_measurement, thing_id, sensor_id) VALUES ('M', 'd', 'OM_ComplexObservation', '[\"a\"]', '[{}]', 1, 1)".into(),
        "INSERT INTO sta_multi_datastream_props (md_id, op_id, rank) VALUES (1, 1, 0)".into(),
        "INSERT INTO sta_features (name, description, encoding_type, feature, generated_from) VALUES ('F', 'd', 'application/geo+json', '{\"type\":\"Point\",\"coordinates\":[7.46,51.51]}', 1)".into(),
        "INSERT INTO sta_observations (datastream_id, feature_id, pt_start, result_kind, result_number, parameters) VALUES (1, 1, 1700000000000001, 1, 21.5, '{\"q\":\"ok\"}')".into(),
    ] {
        tx.raw_execute(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    audit::append(&mut tx, entry("system", "user.create", "user:1"), now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    accounts::touch_token(db, t1, now + Duration::seconds(2))
        .await
        .unwrap();
    accounts::record_login_attempt(db, "erika", "192.0.2.1", false, now)
        .await
        .unwrap();
    accounts::record_login_attempt(db, "erika", "192.0.2.1", true, now)
        .await
        .unwrap();
    accounts::save_oidc_login(
        db,
        &OidcLogin {
            state: "state".into(),
            nonce: "nonce".into(),
            pkce_verifier: "verifier".into(),
            return_to: "/".into(),
            created_at: now,
        },
    )
    .await
    .unwrap();
    audit::record(db, entry("user:erika", "session.login", "user:1"), now)
        .await
        .unwrap();
}

async fn dump(db: &Db) -> Vec<u8> {
    let mut buf = Vec::new();
    backup::backup(db, &mut buf, t0()).await.unwrap();
    buf
}

fn assert_same(a: &[(String, Vec<serde_json::Value>)], b: &[(String, Vec<serde_json::Value>)]) {
    assert_eq!(
        a.iter().map(|t| &t.0).collect::<Vec<_>>(),
        b.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    for ((table, x), (_, y)) in a.iter().zip(b) {
        assert_eq!(x, y, "table {table} differs");
    }
}

#[tokio::test]
async fn backup_and_restore_give_an_identical_instance() {
    let source = TestDb::new().await;
    fill_every_table(&source).await;
    let before = backup::snapshot(&source).await.unwrap();
    // Every foundation table takes part, so the test covers every column type there is (module
    // crates test their own tables' round trip).
    for table in FOUNDATION_TABLES {
        let rows = before
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, r)| r.len())
            .unwrap_or(0);
        assert!(rows > 0, "table {table} is empty in the test data");
    }
    let bytes = dump(&source).await;

    // Into a fresh, unmigrated database.
    let target = TestDb::unmigrated().await;
    let summary = backup::restore(&target.db, &bytes[..]).await.unwrap();
    assert!(summary.rows > 0);
    assert_same(&before, &backup::snapshot(&target).await.unwrap());
    assert_eq!(
        audit::verify(&target).await.unwrap(),
        Verdict::Intact { entries: 2 }
    );

    // Into a database that already holds other data: that data is replaced.
    let other = TestDb::new().await;
    new_user(&other, "someone-else", t0()).await;
    chain(&other, 4).await;
    backup::restore(&other.db, &bytes[..]).await.unwrap();
    assert_same(&before, &backup::snapshot(&other).await.unwrap());
    assert_eq!(
        audit::verify(&other).await.unwrap(),
        Verdict::Intact { entries: 2 }
    );

    // Numbering continues after the restored rows.
    let next = new_user(&other, "nach-restore", t0()).await;
    assert!(next > 2, "id {next} collides with restored rows");
    let seq = audit::record(&other, entry("system", "x.y", "z"), t0())
        .await
        .unwrap();
    assert_eq!(seq, 3);
    assert_eq!(
        audit::verify(&other).await.unwrap(),
        Verdict::Intact { entries: 3 }
    );
}

#[tokio::test]
async fn a_restored_instance_survives_a_second_round_trip() {
    let source = TestDb::new().await;
    fill_every_table(&source).await;
    let target = TestDb::unmigrated().await;
    backup::restore(&target.db, &dump(&source).await[..])
        .await
        .unwrap();
    let third = TestDb::unmigrated().await;
    backup::restore(&third.db, &dump(&target).await[..])
        .await
        .unwrap();
    assert_same(
        &backup::snapshot(&source).await.unwrap(),
        &backup::snapshot(&third).await.unwrap(),
    );
}

/// A SQLite database in its own directory, whatever the test backend is.
async fn sqlite_db(dir: &tempfile::TempDir) -> Db {
    let db = Db::connect(
        &format!("sqlite://{}", dir.path().join("src.db").display()),
        &OpenOptions::default(),
    )
    .await
    .unwrap();
    migrations::migrate(&db).await.unwrap();
    db
}

#[tokio::test]
async fn an_instance_moves_from_sqlite_to_postgresql() {
    let pg = TestDb::new().await;
    if pg.backend() != Backend::Postgres {
        eprintln!("skipped: set STADTKERN_TEST_DATABASE=postgres://... to run this test");
        return;
    }
    // SQLite -> PostgreSQL.
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite_db(&dir).await;
    fill_every_table(&lite).await;
    let before = backup::snapshot(&lite).await.unwrap();
    backup::restore(&pg.db, &dump(&lite).await[..])
        .await
        .unwrap();
    assert_same(&before, &backup::snapshot(&pg).await.unwrap());
    assert_eq!(
        audit::verify(&pg).await.unwrap(),
        Verdict::Intact { entries: 2 }
    );
    // The other direction (PostgreSQL -> SQLite) is not offered: module tables may carry
    // PostgreSQL-only columns (PostGIS geometry).
}

fn gzip(text: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text).unwrap();
    gz.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut s)
        .unwrap();
    s
}

#[tokio::test]
async fn damaged_backups_are_refused_and_leave_the_target_unchanged() {
    let source = TestDb::new().await;
    fill_every_table(&source).await;
    let good = dump(&source).await;
    let text = gunzip(&good);
    let lines: Vec<&str> = text.lines().collect();

    let target = TestDb::new().await;
    new_user(&target, "bleibt", t0()).await;
    chain(&target, 3).await;
    let before = backup::snapshot(&target).await.unwrap();

    let without_end = lines[..lines.len() - 1].join("\n") + "\n";
    let without_a_row = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| !(l.starts_with('[') && *i == lines.len() - 2))
        .map(|(_, l)| *l)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let bad_value = text.replacen("\"erika\"", "{\"nope\":1}", 1);
    let unknown_table = text.replacen("\"table\":\"users\"", "\"table\":\"no_such_table\"", 1);
    let newer = text.replacen(
        "\"schema_version\":",
        "\"schema_version\":99999,\"was\":",
        1,
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated file", good[..good.len() / 2].to_vec(), ""),
        ("empty file", Vec::new(), "not a Stadtkern backup"),
        (
            "garbage",
            b"this is not a backup at all\x00\x01\x02".to_vec(),
            "not a Stadtkern backup",
        ),
        (
            "gzip of other text",
            gzip(b"hello world\n"),
            "not a Stadtkern backup",
        ),
        (
            "gzip of other JSON",
            gzip(b"{\"format\":\"pg_dump\"}\n"),
            "not a Stadtkern backup",
        ),
        ("no end marker", gzip(without_end.as_bytes()), "incomplete"),
        (
            "a row missing",
            gzip(without_a_row.as_bytes()),
            "incomplete",
        ),
        (
            "a value of the wrong kind",
            gzip(bad_value.as_bytes()),
            "does not fit",
        ),
        (
            "an unknown table",
            gzip(unknown_table.as_bytes()),
            "no_such_table",
        ),
        ("a newer schema", gzip(newer.as_bytes()), "upgrade first"),
    ];
    for (what, bytes, words) in cases {
        let e = backup::restore(&target.db, &bytes[..])
            .await
            .expect_err(what);
        assert!(matches!(e, Error::Invalid(_)), "{what}: {e:?}");
        let msg = e.to_string();
        assert!(msg.contains(words), "{what}: {msg}");
        assert!(msg.starts_with("backup:"), "{what}: {msg}");
        assert_same(&before, &backup::snapshot(&target).await.unwrap());
    }
    assert_eq!(
        audit::verify(&target).await.unwrap(),
        Verdict::Intact { entries: 3 }
    );
    // And the same target still takes a good backup afterwards.
    backup::restore(&target.db, &good[..]).await.unwrap();
    assert_same(
        &backup::snapshot(&source).await.unwrap(),
        &backup::snapshot(&target).await.unwrap(),
    );
}

#[tokio::test]
async fn data_survives_a_restart() {
    let mut t = TestDb::new().await;
    fill_every_table(&t).await;
    let before = backup::snapshot(&t).await.unwrap();
    t.reopen().await;
    assert!(migrations::migrate(&t).await.unwrap().is_empty());
    assert_same(&before, &backup::snapshot(&t).await.unwrap());
    assert_eq!(
        accounts::user_by_username(&t, "erika")
            .await
            .unwrap()
            .unwrap()
            .display_name,
        "Erika Mustermann"
    );
    assert_eq!(
        audit::verify(&t).await.unwrap(),
        Verdict::Intact { entries: 2 }
    );
}

#[tokio::test]
async fn settings_are_created_once_even_when_replicas_race() {
    let t = TestDb::new().await;
    let other = t.another_handle().await;
    let (a, b) = tokio::join!(
        settings::get_or_create(&t, "instance.secret", || "from-a".into()),
        settings::get_or_create(&other, "instance.secret", || "from-b".into())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(settings::get(&t, "instance.secret").await.unwrap(), Some(a));
    settings::set(&t, "x", "1").await.unwrap();
    settings::set(&t, "x", "2").await.unwrap();
    assert_eq!(settings::get(&t, "x").await.unwrap().as_deref(), Some("2"));
    assert_eq!(settings::get(&t, "missing").await.unwrap(), None);
}

#[tokio::test]
async fn rows_that_reference_later_rows_of_their_own_table_restore() {
    // An org unit placed under a unit created after it: its row comes first in the backup.
    let source = TestDb::new().await;
    let first = add_org_unit(&source, "stadtbahn", "Stadtbahnbau", None).await;
    let later = add_org_unit(&source, "tiefbauamt", "Tiefbauamt", None).await;
    assert_eq!(
        add_org_unit(&source, "stadtbahn", "Stadtbahnbau", Some(later)).await,
        first
    );
    let target = TestDb::unmigrated().await;
    backup::restore(&target.db, &dump(&source).await[..])
        .await
        .expect("restore orders or defers self-references");
    assert_same(
        &backup::snapshot(&source).await.unwrap(),
        &backup::snapshot(&target).await.unwrap(),
    );
}

#[tokio::test]
async fn every_table_with_a_user_id_is_handled_by_account_deletion() {
    let t = TestDb::new().await;
    let listed: Vec<&str> = store::privacy::USER_TABLES
        .iter()
        .map(|(n, _)| *n)
        .collect();
    for table in TABLES {
        let has_user_id =
            t.db.raw_execute(&format!("SELECT user_id FROM {table} WHERE 1 = 0"))
                .await
                .is_ok();
        assert_eq!(
            has_user_id,
            listed.contains(table),
            "table {table}: a user_id column must be listed in store::privacy::USER_TABLES, and only then"
        );
    }
}

#[tokio::test]
async fn reads_of_many_rows_decode_like_the_ordinary_path() {
    use store::sea_query::{Value, Values};
    let db = TestDb::new().await;
    let (blob, real, json) = match db.backend() {
        Backend::Sqlite => ("BLOB", "REAL", "TEXT"),
        Backend::Postgres => ("BYTEA", "DOUBLE PRECISION", "JSONB"),
    };
    db.raw_execute(&format!(
        "CREATE TABLE cells_probe (id BIGINT PRIMARY KEY, n BIGINT, f {real}, t TEXT, b {blob}, \
         flag BOOLEAN, small INTEGER, j {json})"
    ))
    .await
    .unwrap();
    db.raw_execute(
        "INSERT INTO cells_probe (id, n, f, t, flag, small, j) VALUES \
         (1, 42, 2.5, 'Zählstelle \"Nord\"', TRUE, 7, '{\"b\": [1, 2.5], \"a\": \"ü\\\"\"}'), \
         (2, NULL, NULL, NULL, FALSE, NULL, NULL), \
         (3, -7, -0.125, '', NULL, -3, '12345678901234567890'), \
         (4, 9007199254740993, 1e300, 'x', TRUE, 0, '\"x\"')",
    )
    .await
    .unwrap();
    // Placeholders out of order and one used twice: each `$N` names its value.
    let sql = "SELECT id, n, f, t, b, flag, small, j, $2 AS echo FROM cells_probe \
               WHERE id >= $1 AND (t IS NULL OR t <> $2) ORDER BY id";
    let values = || {
        Values(vec![
            Value::BigInt(Some(1)),
            Value::String(Some("x".into())),
        ])
    };
    let ordinary = db.fetch_cells_sql(sql, values()).await.unwrap();
    let many = db.fetch_cells_many(sql, values()).await.unwrap();
    assert_eq!(ordinary.len(), 3);
    // JSON may come as the database's own JSON text: the same value, maybe other spacing.
    let plain = |rows: &[store::Cells]| -> Vec<Vec<store::Cell>> {
        rows.iter()
            .map(|r| {
                let mut v = r.values.clone();
                let j = r.columns.iter().position(|c| c == "j").unwrap();
                v[j] = store::Cell::Null;
                v
            })
            .collect()
    };
    assert_eq!(plain(&many), plain(&ordinary));
    assert_eq!(many[0].columns, ordinary[0].columns);
    for (m, o) in many.iter().zip(&ordinary) {
        assert_eq!(m.get("j").as_json(), o.get("j").as_json());
    }
    assert_eq!(
        many[0].get("j").as_json(),
        Some(serde_json::json!({"a": "ü\"", "b": [1, 2.5]}))
    );
    assert!(many[1].get("j").is_null());
    assert_eq!(many[0].get("small").as_i64(), Some(7));
    assert_eq!(many[0].get("t").as_str(), Some("Zählstelle \"Nord\""));
    assert_eq!(many[0].get("echo").as_str(), Some("x"));
    assert!(many[1].get("n").is_null());
    // No rows, and a statement the database refuses.
    let none = db
        .fetch_cells_many(
            "SELECT id FROM cells_probe WHERE id > $1",
            Values(vec![Value::BigInt(Some(99))]),
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    let bad = db
        .fetch_cells_many("SELECT nope FROM cells_probe", Values(vec![]))
        .await;
    assert!(matches!(bad, Err(Error::Internal(_))));
}

//! The foundation services' integration tests: accounts, login throttling, sessions, tokens and
//! the audit trail. They run on SQLite by default and on PostgreSQL when
//! `STADTKERN_TEST_DATABASE=postgres://...` is set.

use chrono::{DateTime, Duration, TimeZone, Utc};
use kern::{Config, Error, ManualClock, Principal, Role, SeededRandom};
use platform::accounts::{self, NewAccount};
use platform::audit::{Filter, Verdict};
use platform::{Actor, Env, sessions, tokens};
use std::sync::Arc;
use store::testing::TestDb;

const PW: &str = "Grüne Laterne am Phoenixsee 7";
const OTHER_PW: &str = "Blaues Fahrrad vor der Zeche 9";
const ADDR: &str = "192.0.2.10";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

struct T {
    _tdb: TestDb,
    env: Env,
    clock: Arc<ManualClock>,
}

async fn setup(adjust: impl FnOnce(&mut Config)) -> T {
    let tdb = TestDb::new().await;
    let mut cfg = Config::default();
    adjust(&mut cfg);
    let clock = Arc::new(ManualClock::new(t0()));
    let env = Env::new(
        cfg,
        tdb.db.clone(),
        clock.clone(),
        Arc::new(SeededRandom::new(11)),
    );
    T {
        _tdb: tdb,
        env,
        clock,
    }
}

fn account(username: &str, roles: &[Role], password: Option<&str>) -> NewAccount {
    NewAccount {
        username: username.into(),
        display_name: format!("Person {}", username.len()),
        email: format!("{username}@example.org"),
        password: password.map(str::to_string),
        roles: roles.to_vec(),
        org_units: vec![],
    }
}

async fn add(t: &T, username: &str, roles: &[Role]) -> i64 {
    accounts::create(&t.env, &Actor::system(), account(username, roles, Some(PW)))
        .await
        .unwrap()
        .user
        .id
}

async fn actions(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = store::audit::list(
        &env.db,
        &Filter {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.action)
    .collect();
    v.reverse();
    v
}

async fn audit_count(env: &Env) -> usize {
    actions(env).await.len()
}

fn admin_principal(id: i64) -> Principal {
    Principal::User(kern::auth::UserPrincipal {
        id,
        username: "chef".into(),
        display_name: "Chef".into(),
        roles: vec![Role::Admin],
        org_units: vec![],
    })
}

// ---------------------------------------------------------------- login

#[tokio::test]
async fn login_succeeds_and_opens_a_session() {
    let t = setup(|_| {}).await;
    let id = add(&t, "erika", &[Role::Staff]).await;
    let ok = sessions::login(&t.env, " erika ", PW, ADDR, "Test/1.0")
        .await
        .unwrap();
    let u = ok.principal.user().unwrap();
    assert_eq!(u.id, id);
    assert_eq!(u.roles, vec![Role::Staff]);
    assert!(ok.session_token.len() >= 40);
    let p = sessions::resolve(&t.env, &ok.session_token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p, ok.principal);
    // Only a digest of the cookie value is stored.
    assert!(
        store::accounts::session(&t.env.db, &ok.session_token, t0())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store::accounts::session(&t.env.db, &kern::secret::digest(&ok.session_token), t0())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        sessions::resolve(&t.env, "made-up")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn wrong_password_unknown_user_and_inactive_account_get_the_same_answer() {
    let t = setup(|_| {}).await;
    add(&t, "erika", &[Role::Resident]).await;
    let inactive = add(&t, "max", &[Role::Resident]).await;
    accounts::update(
        &t.env,
        &Actor::system(),
        inactive,
        "Max",
        "max@example.org",
        false,
    )
    .await
    .unwrap();
    let mut messages = Vec::new();
    for (user, pw) in [
        ("erika", OTHER_PW),
        ("niemand", PW),
        ("max", PW),
        ("erika", ""),
    ] {
        match sessions::login(&t.env, user, pw, ADDR, "").await {
            Err(Error::Unauthorized(m)) => messages.push(m),
            other => panic!("{user}: expected a refusal, got {other:?}"),
        }
    }
    messages.dedup();
    assert_eq!(
        messages,
        vec!["Benutzername oder Passwort ist falsch.".to_string()]
    );
    // Every refusal counts as a failure, for the account and for the address.
    let (by_user, by_addr) =
        store::accounts::recent_failures(&t.env.db, "erika", ADDR, t0() - Duration::hours(1))
            .await
            .unwrap();
    assert_eq!((by_user, by_addr), (2, 4));
}

#[tokio::test]
async fn throttling_per_account_refuses_even_the_right_password_until_the_window_passes() {
    let t = setup(|c| {
        c.security.max_failures_per_account = 3;
        c.security.max_failures_per_address = 100;
        c.security.throttle_window_minutes = 10;
    })
    .await;
    add(&t, "erika", &[Role::Resident]).await;
    for _ in 0..3 {
        assert!(matches!(
            sessions::login(&t.env, "erika", OTHER_PW, ADDR, "").await,
            Err(Error::Unauthorized(_))
        ));
    }
    match sessions::login(&t.env, "erika", PW, ADDR, "").await {
        Err(Error::TooManyRequests {
            retry_after_secs,
            message,
        }) => {
            assert_eq!(retry_after_secs, 600);
            assert!(message.contains("10 Minuten"), "{message}");
        }
        other => panic!("expected throttling, got {other:?}"),
    }
    // From another address too: the account is what is protected.
    assert!(matches!(
        sessions::login(&t.env, "erika", PW, "198.51.100.1", "").await,
        Err(Error::TooManyRequests { .. })
    ));
    // Still inside the window.
    t.clock.advance(Duration::minutes(9));
    assert!(matches!(
        sessions::login(&t.env, "erika", PW, ADDR, "").await,
        Err(Error::TooManyRequests { .. })
    ));
    t.clock.advance(Duration::minutes(1) + Duration::seconds(1));
    sessions::login(&t.env, "erika", PW, ADDR, "")
        .await
        .expect("login works again after the window");
}

#[tokio::test]
async fn throttling_per_address_spans_accounts() {
    let t = setup(|c| {
        c.security.max_failures_per_account = 100;
        c.security.max_failures_per_address = 4;
        c.security.throttle_window_minutes = 15;
    })
    .await;
    add(&t, "erika", &[Role::Resident]).await;
    for name in ["anna", "bert", "carla", "dora"] {
        assert!(matches!(
            sessions::login(&t.env, name, OTHER_PW, ADDR, "").await,
            Err(Error::Unauthorized(_))
        ));
    }
    assert!(matches!(
        sessions::login(&t.env, "erika", PW, ADDR, "").await,
        Err(Error::TooManyRequests { .. })
    ));
    // Another address is not affected.
    sessions::login(&t.env, "erika", PW, "198.51.100.1", "")
        .await
        .unwrap();
    t.clock
        .advance(Duration::minutes(15) + Duration::seconds(1));
    sessions::login(&t.env, "erika", PW, ADDR, "")
        .await
        .unwrap();
}

// ---------------------------------------------------------------- sessions

#[tokio::test]
async fn sessions_expire_when_idle_and_slide_while_used() {
    let t = setup(|c| c.security.session_idle_hours = 2).await;
    add(&t, "erika", &[Role::Resident]).await;
    let s = sessions::login(&t.env, "erika", PW, ADDR, "")
        .await
        .unwrap()
        .session_token;
    // Used every 1h50: alive long past the first expiry.
    for _ in 0..3 {
        t.clock.advance(Duration::minutes(110));
        assert!(
            sessions::resolve(&t.env, &s).await.unwrap().is_some(),
            "session ended although it was used"
        );
    }
    // Idle for longer than the limit: gone.
    t.clock.advance(Duration::hours(2) + Duration::seconds(1));
    assert!(sessions::resolve(&t.env, &s).await.unwrap().is_none());

    // A session that is never used ends after exactly the idle time.
    let s2 = sessions::login(&t.env, "erika", PW, ADDR, "")
        .await
        .unwrap()
        .session_token;
    t.clock.advance(Duration::hours(2));
    assert!(sessions::resolve(&t.env, &s2).await.unwrap().is_none());
    let (purged, _) = sessions::purge(&t.env).await.unwrap();
    assert_eq!(purged, 2);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let t = setup(|_| {}).await;
    add(&t, "erika", &[Role::Resident]).await;
    let ok = sessions::login(&t.env, "erika", PW, ADDR, "")
        .await
        .unwrap();
    sessions::logout(
        &t.env,
        &ok.session_token,
        &Actor::new(ok.principal.clone(), ADDR),
    )
    .await
    .unwrap();
    assert!(
        sessions::resolve(&t.env, &ok.session_token)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(actions(&t.env).await.last().unwrap(), "session.logout");
}

#[tokio::test]
async fn changing_roles_password_or_activity_ends_sessions() {
    let t = setup(|_| {}).await;
    let admin = add(&t, "chef", &[Role::Admin]).await;
    let id = add(&t, "erika", &[Role::Resident]).await;
    let as_admin = Actor::new(admin_principal(admin), ADDR);

    let s = sessions::login(&t.env, "erika", PW, ADDR, "")
        .await
        .unwrap()
        .session_token;
    accounts::set_roles(&t.env, &as_admin, id, &[Role::Staff], &[])
        .await
        .unwrap();
    assert!(
        sessions::resolve(&t.env, &s).await.unwrap().is_none(),
        "a session must not keep the old roles"
    );
    let ok = sessions::login(&t.env, "erika", PW, ADDR, "")
        .await
        .unwrap();
    assert_eq!(ok.principal.user().unwrap().roles, vec![Role::Staff]);

    accounts::set_password(&t.env, &as_admin, id, OTHER_PW)
        .await
        .unwrap();
    assert!(
        sessions::resolve(&t.env, &ok.session_token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        sessions::login(&t.env, "erika", PW, ADDR, "")
            .await
            .is_err()
    );
    let s = sessions::login(&t.env, "erika", OTHER_PW, ADDR, "")
        .await
        .unwrap()
        .session_token;

    accounts::update(&t.env, &as_admin, id, "Erika", "", false)
        .await
        .unwrap();
    assert!(sessions::resolve(&t.env, &s).await.unwrap().is_none());
}

// ---------------------------------------------------------------- accounts and policy

#[tokio::test]
async fn the_password_policy_is_enforced_and_nothing_is_written() {
    let t = setup(|_| {}).await;
    let before = audit_count(&t.env).await;
    for (pw, words) in [
        ("kurz", "mindestens 12 Zeichen"),
        ("password1234", "zu leicht"),
        ("123456789012", "zu leicht"),
        ("erika-mustermann-2026", "Benutzernamen"),
    ] {
        let e = accounts::create(
            &t.env,
            &Actor::system(),
            NewAccount {
                username: "erika-mustermann".into(),
                ..account("erika-mustermann", &[Role::Resident], Some(pw))
            },
        )
        .await
        .unwrap_err();
        match &e {
            Error::Invalid(inv) => {
                assert!(
                    inv.problems.iter().any(
                        |p| p.field.as_deref() == Some("password") && p.message.contains(words)
                    ),
                    "{pw}: {e}"
                );
            }
            other => panic!("{pw}: expected a validation error, got {other:?}"),
        }
    }
    // Several problems at once are all reported.
    let e = accounts::create(
        &t.env,
        &Actor::system(),
        NewAccount {
            username: "x".into(),
            email: "not-an-address".into(),
            display_name: " ".into(),
            ..account("x", &[], Some("kurz"))
        },
    )
    .await
    .unwrap_err();
    let Error::Invalid(inv) = e else {
        panic!("{e:?}")
    };
    let fields: Vec<_> = inv
        .problems
        .iter()
        .filter_map(|p| p.field.as_deref())
        .collect();
    for f in ["username", "email", "display_name", "password"] {
        assert!(fields.contains(&f), "{f} missing in {fields:?}");
    }
    assert!(
        store::accounts::list_users(&t.env.db)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(audit_count(&t.env).await, before);

    // A weak new password is refused and the old one still works.
    let id = add(&t, "erika", &[Role::Resident]).await;
    let e = accounts::set_password(&t.env, &Actor::system(), id, "qwertzuiop12")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    sessions::login(&t.env, "erika", PW, ADDR, "")
        .await
        .unwrap();
}

#[tokio::test]
async fn duplicate_user_names_and_unknown_org_units_are_refused() {
    let t = setup(|_| {}).await;
    add(&t, "erika", &[Role::Resident]).await;
    let count = audit_count(&t.env).await;
    let e = accounts::create(
        &t.env,
        &Actor::system(),
        account("erika", &[Role::Resident], Some(OTHER_PW)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, Error::Conflict(m) if m.contains("'erika'")),
        "{e:?}"
    );
    let e = accounts::create(
        &t.env,
        &Actor::system(),
        NewAccount {
            org_units: vec![4711],
            ..account("neu", &[Role::Staff], Some(OTHER_PW))
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, Error::Invalid(_)) && e.to_string().contains("4711"),
        "{e:?}"
    );
    assert_eq!(
        audit_count(&t.env).await,
        count,
        "a refused change left an entry"
    );
    assert_eq!(
        store::accounts::list_users(&t.env.db).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn only_admins_manage_accounts() {
    let t = setup(|_| {}).await;
    let admin = add(&t, "chef", &[Role::Admin]).await;
    let staff_id = add(&t, "erika", &[Role::Staff]).await;
    let other = add(&t, "max", &[Role::Resident]).await;
    let staff = sessions::login(&t.env, "erika", PW, ADDR, "")
        .await
        .unwrap()
        .principal;
    let as_staff = Actor::new(staff.clone(), ADDR);
    let anon = Actor::new(Principal::Anonymous, ADDR);

    for actor in [&as_staff, &anon] {
        let e = accounts::create(
            &t.env,
            actor,
            account("neu", &[Role::Admin], Some(OTHER_PW)),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, Error::Forbidden(_) | Error::Unauthorized(_)),
            "{e:?}"
        );
        let e = accounts::set_roles(&t.env, actor, staff_id, &[Role::Admin], &[])
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Forbidden(_) | Error::Unauthorized(_)),
            "{e:?}"
        );
        let e = accounts::set_password(&t.env, actor, other, OTHER_PW)
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Forbidden(_) | Error::Unauthorized(_)),
            "{e:?}"
        );
    }
    // A person reads their own account, not somebody else's.
    assert!(accounts::get(&t.env, &staff, staff_id, false).await.is_ok());
    assert!(matches!(
        accounts::get(&t.env, &staff, other, false).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        accounts::list(&t.env, &staff).await,
        Err(Error::Forbidden(_))
    ));
    // Users change their own password.
    accounts::set_password(&t.env, &as_staff, staff_id, OTHER_PW)
        .await
        .unwrap();
    // Admins may not lock themselves out.
    let as_admin = Actor::new(admin_principal(admin), ADDR);
    assert!(matches!(
        accounts::set_roles(&t.env, &as_admin, admin, &[Role::Staff], &[]).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        accounts::update(&t.env, &as_admin, admin, "Chef", "", false).await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(
        accounts::list(&t.env, &admin_principal(admin))
            .await
            .unwrap()
            .len(),
        3
    );
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn tokens_authenticate_until_revoked() {
    let t = setup(|_| {}).await;
    let scopes = tokens::parse_scopes(&["sta:write", "opendata:publish,sta:write"]).unwrap();
    assert_eq!(scopes.len(), 2);
    let created = tokens::create(&t.env, &Actor::system(), "Pegelsensor", &scopes)
        .await
        .unwrap();
    assert!(created.token.starts_with("stk_"));
    let before = tokens::list_system(&t.env).await.unwrap();
    assert_eq!(before[0].last_used_at, None);
    // The plaintext is not stored anywhere.
    assert_ne!(before[0].token_hash, created.token);

    t.clock.advance(Duration::minutes(5));
    let p = tokens::authenticate(&t.env, &created.token).await.unwrap();
    match &p {
        Principal::Token(tp) => {
            assert_eq!(tp.name, "Pegelsensor");
            assert_eq!(tp.id, created.id);
        }
        other => panic!("{other:?}"),
    }
    assert!(p.has_scope("sta:write"));
    assert!(!p.has_scope("sta:internal"));
    assert!(!p.is_admin());
    let after = tokens::list_system(&t.env).await.unwrap();
    assert_eq!(after[0].last_used_at, Some(t0() + Duration::minutes(5)));

    for bad in [
        "",
        "stk_",
        "stk_thisisnotarealtokenatallbutlongenough12345",
        "Bearer x",
        &created.token[..created.token.len() - 1],
        &"stk_a".repeat(100),
    ] {
        assert!(
            matches!(
                tokens::authenticate(&t.env, bad).await,
                Err(Error::Unauthorized(_))
            ),
            "{bad}"
        );
    }

    tokens::revoke(&t.env, &Actor::system(), created.id)
        .await
        .unwrap();
    assert!(matches!(
        tokens::authenticate(&t.env, &created.token).await,
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        tokens::revoke(&t.env, &Actor::system(), created.id).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        tokens::revoke(&t.env, &Actor::system(), 999).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn bad_scopes_and_names_are_refused() {
    let t = setup(|_| {}).await;
    for bad in [
        vec!["STA write"],
        vec!["sta:"],
        vec![":write"],
        vec![""],
        vec![],
    ] {
        let e = tokens::parse_scopes(&bad).unwrap_err();
        assert!(matches!(&e, Error::Invalid(_)), "{bad:?}: {e:?}");
        assert!(e.to_string().contains("scopes"), "{e}");
    }
    let e = tokens::parse_scopes(&["admin", "nope"]).unwrap_err();
    assert!(e.to_string().contains("'nope'"), "{e}");
    let scopes = tokens::parse_scopes(&["admin"]).unwrap();
    let e = tokens::create(&t.env, &Actor::system(), "  ", &scopes)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)));
    let e = tokens::create(&t.env, &Actor::system(), "x", &[])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)));
    // Only admins create tokens.
    let e = tokens::create(
        &t.env,
        &Actor::new(Principal::Anonymous, ADDR),
        "x",
        &scopes,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Unauthorized(_)));
    assert!(tokens::list_system(&t.env).await.unwrap().is_empty());
    assert_eq!(audit_count(&t.env).await, 0);
}

// ---------------------------------------------------------------- audit trail

#[tokio::test]
async fn every_action_leaves_an_audit_entry() {
    let t = setup(|c| {
        c.security.max_failures_per_account = 2;
    })
    .await;
    let admin = add(&t, "chef", &[Role::Admin]).await;
    let as_admin = Actor::new(admin_principal(admin), ADDR);
    let id = accounts::create(
        &t.env,
        &as_admin,
        account("erika", &[Role::Resident], Some(PW)),
    )
    .await
    .unwrap()
    .user
    .id;
    let ok = sessions::login(&t.env, "erika", PW, ADDR, "")
        .await
        .unwrap();
    sessions::logout(
        &t.env,
        &ok.session_token,
        &Actor::new(ok.principal.clone(), ADDR),
    )
    .await
    .unwrap();
    let _ = sessions::login(&t.env, "erika", OTHER_PW, ADDR, "").await;
    let _ = sessions::login(&t.env, "erika", OTHER_PW, ADDR, "").await;
    let _ = sessions::login(&t.env, "erika", PW, ADDR, "").await;
    accounts::set_password(&t.env, &as_admin, id, OTHER_PW)
        .await
        .unwrap();
    accounts::set_roles(&t.env, &as_admin, id, &[Role::Moderator], &[])
        .await
        .unwrap();
    accounts::update(&t.env, &as_admin, id, "Erika", "", false)
        .await
        .unwrap();
    let tok = tokens::create(
        &t.env,
        &as_admin,
        "probe",
        &tokens::parse_scopes(&["admin"]).unwrap(),
    )
    .await
    .unwrap();
    tokens::revoke(&t.env, &as_admin, tok.id).await.unwrap();
    platform::feedback::submit(
        &t.env,
        &Actor::new(Principal::Anonymous, ADDR),
        platform::feedback::NewFeedback {
            page: "/".into(),
            message: "Der Kontrast ist zu gering.".into(),
            contact: String::new(),
        },
    )
    .await
    .unwrap();

    assert_eq!(
        actions(&t.env).await,
        vec![
            "user.create",
            "user.create",
            "session.login",
            "session.logout",
            "session.login_failed",
            "session.login_failed",
            "session.throttled",
            "user.password",
            "user.roles",
            "user.update",
            "token.create",
            "token.revoke",
            "feedback.create",
        ]
    );
    let entries = store::audit::list(&t.env.db, &Filter::default())
        .await
        .unwrap();
    let by_action = |a: &str| entries.iter().find(|e| e.action == a).unwrap().clone();
    let roles = by_action("user.roles");
    assert_eq!(roles.actor, "user:chef");
    assert_eq!(roles.object, format!("user:{id}"));
    assert_eq!(roles.address, ADDR);
    assert!(roles.details.contains("moderator"), "{}", roles.details);
    assert_eq!(by_action("session.login_failed").actor, "anonymous");
    assert_eq!(by_action("session.login_failed").object, "username:erika");
    let creators: Vec<&str> = entries
        .iter()
        .rev()
        .filter(|e| e.action == "user.create")
        .map(|e| e.actor.as_str())
        .collect();
    assert_eq!(creators, vec!["system", "user:chef"]);
    // No secrets in the trail.
    for e in &entries {
        assert!(!e.details.contains(&tok.token) && !e.details.contains(PW));
        assert!(!e.details.contains(&ok.session_token));
    }
    assert!(matches!(
        platform::audit::verify(&t.env).await.unwrap(),
        Verdict::Intact { entries: 13 }
    ));
    // Only admins read the trail.
    assert!(
        platform::audit::list(&t.env, &ok.principal, &Filter::default())
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------- demo city and instance

#[tokio::test]
async fn the_demo_city_is_seeded_once_and_its_logins_work() {
    let t = setup(|_| {}).await;
    let ran = platform::demo::seed(&t.env, &[]).await.unwrap();
    assert_eq!(ran, vec!["foundation"]);
    assert!(platform::demo::seed(&t.env, &[]).await.unwrap().is_empty());
    let districts = platform::city::districts(&t.env).await.unwrap();
    assert_eq!(districts.len(), 12);
    assert!(districts.iter().any(|d| d.name == "Hörde"));
    let units = platform::city::org_units(&t.env).await.unwrap();
    assert!(units.iter().any(|o| o.key == "buergerdienste"));
    let logins = platform::demo::logins(&t.env).await.unwrap();
    assert_eq!(logins.len(), 2);
    for l in &logins {
        let ok = sessions::login(&t.env, &l.username, &l.password, ADDR, "")
            .await
            .unwrap_or_else(|e| panic!("demo login {}: {e}", l.username));
        if l.username == "sachbearbeitung" {
            let u = ok.principal.user().unwrap();
            assert_eq!(u.roles, vec![Role::Staff]);
            assert_eq!(u.org_units.len(), 2);
        }
    }
}

#[tokio::test]
async fn the_instance_secret_is_created_once_and_shared() {
    let t = setup(|_| {}).await;
    let a = t.env.instance_secret().await.unwrap();
    let b = t.env.instance_secret().await.unwrap();
    assert_eq!(a.len(), 32);
    assert_eq!(a, b);
    let other = Env::new(
        Config::default(),
        t.env.db.clone(),
        t.clock.clone(),
        Arc::new(SeededRandom::new(99)),
    );
    assert_eq!(other.instance_secret().await.unwrap(), a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_do_not_get_past_the_throttle() {
    let t = setup(|c| {
        c.security.max_failures_per_account = 3;
        c.security.max_failures_per_address = 100;
    })
    .await;
    add(&t, "erika", &[Role::Resident]).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let env = t.env.clone();
        tasks.push(tokio::spawn(async move {
            sessions::login(&env, "erika", &format!("Falsches Passwort {i}"), ADDR, "").await
        }));
    }
    let mut checked = 0;
    for task in tasks {
        match task.await.unwrap() {
            Err(Error::Unauthorized(_)) => checked += 1,
            Err(Error::TooManyRequests { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(
        checked <= 3,
        "{checked} passwords were checked although only 3 failures are allowed"
    );
    // Guessing on, one at a time, gets exactly up to the limit and no further.
    for _ in 0..5 {
        match sessions::login(&t.env, "erika", OTHER_PW, ADDR, "").await {
            Err(Error::Unauthorized(_)) => checked += 1,
            Err(Error::TooManyRequests { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(checked, 3);
    assert!(matches!(
        sessions::login(&t.env, "erika", PW, ADDR, "").await,
        Err(Error::TooManyRequests { .. })
    ));
}

mod mail {
    use super::*;
    use platform::mail::{self, Mail, testing::SmtpSink};

    fn mail_to(to: &str) -> Mail {
        Mail {
            to: to.into(),
            subject: "Ihr Termin am 3.\r\nBcc: evil@example.org".into(),
            text: "Guten Tag,\n.\nbis bald, Ihr Bürgerbüro".into(),
        }
    }

    #[tokio::test]
    async fn a_queued_mail_exists_only_after_commit_and_is_delivered_once() {
        let sink = SmtpSink::start().await;
        let t = setup(|c| c.mail.smtp_url = Some(sink.url.clone())).await;
        // Rolled back: no mail.
        let mut tx = t.env.db.begin().await.unwrap();
        mail::queue_tx(&t.env, &mut tx, &mail_to("erika@example.org"))
            .await
            .unwrap();
        drop(tx);
        assert!(mail::outbox(&t.env).await.unwrap().is_empty());

        mail::queue(&t.env, &mail_to("erika@example.org"))
            .await
            .unwrap();
        // Two replicas deliver at the same time: the mail goes out once.
        let (a, b) = tokio::join!(
            mail::deliver_pending(&t.env, 10),
            mail::deliver_pending(&t.env, 10)
        );
        assert_eq!(a.unwrap().sent + b.unwrap().sent, 1);
        let got = sink.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, vec!["<erika@example.org>".to_string()]);
        assert!(got[0].data.contains("Subject: "), "{}", got[0].data);
        // The line break in the subject did not become a header of its own.
        assert!(!got[0].data.contains("\r\nBcc:"), "{}", got[0].data);
        assert!(got[0].data.contains("bis bald"), "{}", got[0].data);
        let outbox = mail::outbox(&t.env).await.unwrap();
        assert_eq!(outbox.len(), 1);
        assert!(outbox[0].sent_at.is_some());
        // Nothing due any more.
        assert_eq!(
            mail::deliver_pending(&t.env, 10).await.unwrap(),
            mail::Delivery::default()
        );
    }

    #[tokio::test]
    async fn failed_delivery_is_retried_later_and_given_up_after_max_attempts() {
        // A port nobody listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let t = setup(|c| {
            c.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
            c.mail.max_attempts = 2;
        })
        .await;
        mail::queue(&t.env, &mail_to("max@example.org"))
            .await
            .unwrap();
        let first = mail::deliver_pending(&t.env, 10).await.unwrap();
        assert_eq!(first.failed, 1);
        // Not due again at once.
        assert_eq!(mail::deliver_pending(&t.env, 10).await.unwrap().failed, 0);
        t.clock.advance(Duration::minutes(3));
        assert_eq!(mail::deliver_pending(&t.env, 10).await.unwrap().failed, 1);
        let row = &mail::outbox(&t.env).await.unwrap()[0];
        assert!(row.failed && row.sent_at.is_none() && row.last_error.is_some());
        t.clock.advance(Duration::hours(24));
        assert_eq!(
            mail::deliver_pending(&t.env, 10).await.unwrap(),
            mail::Delivery::default()
        );
    }

    #[tokio::test]
    async fn bad_mails_are_refused_and_nothing_is_queued() {
        let t = setup(|_| {}).await;
        let err = mail::queue(&t.env, &mail_to("not an address"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        let mut empty = mail_to("a@example.org");
        empty.subject = " ".into();
        assert!(mail::queue(&t.env, &empty).await.is_err());
        assert!(mail::outbox(&t.env).await.unwrap().is_empty());
        // Without an SMTP server mails wait in the outbox.
        mail::queue(&t.env, &mail_to("a@example.org"))
            .await
            .unwrap();
        assert_eq!(
            mail::deliver_pending(&t.env, 10).await.unwrap(),
            mail::Delivery::default()
        );
        assert!(mail::outbox(&t.env).await.unwrap()[0].sent_at.is_none());
    }
}

//! The admin area and the legal pages with the barrier-feedback form.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use kern::Role;
use platform::Actor;
use platform::feedback::NewFeedback;
use web::testing::{Browser, TestApp};

/// The fields of a posted form.
type Fields<'a> = &'a [(&'a str, &'a str)];

const STRONG: &str = "Blaue Brücke über der Emscher 19";

/// Everything the authorisation tests need: people in each role, tokens with and without the
/// admin scope, and one object of each kind to act on.
struct Fixture<'a> {
    admin: Browser<'a>,
    resident: Browser<'a>,
    staff: Browser<'a>,
    anonymous: Browser<'a>,
    sensor_token: String,
    admin_token: String,
    target: i64,
    token_id: i64,
    feedback_id: i64,
}

/// The password of every person these tests create (it contains none of their names).
pub const PASSWORD: &str = "Grüne Laterne am Phoenixsee 7";

/// Creates an account directly (as the system would, on the command line).
pub async fn person(app: &TestApp, name: &str, roles: &[Role], org_units: &[i64]) -> i64 {
    platform::accounts::create(
        &app.env,
        &Actor::system(),
        platform::accounts::NewAccount {
            username: name.into(),
            display_name: format!("Person {name}"),
            email: format!("{name}@example.org"),
            password: Some(PASSWORD.into()),
            roles: roles.to_vec(),
            org_units: org_units.to_vec(),
        },
    )
    .await
    .expect("create account")
    .user
    .id
}

/// A browser signed in as a new account with the given roles.
pub async fn signed_in<'a>(
    app: &'a TestApp,
    name: &str,
    roles: &[Role],
    org_units: &[i64],
) -> Browser<'a> {
    person(app, name, roles, org_units).await;
    let b = app.browser();
    let r = b.login(name, PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "login of {name}: {}",
        r.body
    );
    b
}

async fn user_id(app: &TestApp, name: &str) -> i64 {
    platform::accounts::find_by_username(&app.env, name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("user {name} exists"))
        .id
}

async fn org_unit(app: &TestApp, key: &str, name: &str) -> i64 {
    let mut tx = app.env.db.begin().await.unwrap();
    let id = store::city::upsert_org_unit(
        &mut tx,
        &store::city::OrgUnit {
            id: 0,
            key: key.into(),
            name: name.into(),
            parent_id: None,
            address: "Friedensplatz 1".into(),
            email: format!("{key}@example.org"),
            phone: String::new(),
            opening_hours: String::new(),
            accessibility: String::new(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn setup(app: &TestApp) -> Fixture<'_> {
    let admin = signed_in(app, "admin", &[Role::Admin], &[]).await;
    let resident = signed_in(app, "resi", &[Role::Resident], &[]).await;
    let unit = org_unit(app, "tiefbau", "Tiefbauamt").await;
    let staff = signed_in(app, "sachb", &[Role::Staff], &[unit]).await;
    let anonymous = app.browser();
    anonymous.get("/login").await;
    let target = person(app, "target", &[Role::Staff], &[]).await;
    let scopes = platform::tokens::parse_scopes(&["sta:write"]).unwrap();
    let token_id = platform::tokens::create(&app.env, &Actor::system(), "sensor", &scopes)
        .await
        .unwrap()
        .id;
    let feedback_id = platform::feedback::submit(
        &app.env,
        &Actor::system(),
        NewFeedback {
            page: "/".into(),
            message: "Der Kontrast der Fußzeile ist zu gering.".into(),
            contact: String::new(),
        },
    )
    .await
    .unwrap();
    Fixture {
        admin,
        resident,
        staff,
        anonymous,
        sensor_token: app.token(&["sta:write", "opendata:publish"]).await,
        admin_token: app.token(&["admin"]).await,
        target,
        token_id,
        feedback_id,
    }
}

/// A fingerprint of everything the admin forms can change, and of the audit entries that such
/// changes would leave (logins are left out: signing in is not what these tests are about).
async fn snapshot(app: &TestApp) -> String {
    let db = &app.env.db;
    let mut out = String::new();
    for u in store::accounts::list_users(db).await.unwrap() {
        let roles = store::accounts::roles_of(db, u.id).await.unwrap();
        let units = store::accounts::org_units_of(db, u.id).await.unwrap();
        out += &format!(
            "{}|{}|{}|{}|{:?}|{:?}|{:?}\n",
            u.username, u.display_name, u.email, u.active, u.password_hash, roles, units
        );
    }
    for t in store::accounts::list_tokens(db).await.unwrap() {
        out += &format!("token {} {} {:?}\n", t.id, t.name, t.revoked_at);
    }
    for f in store::feedback::list(db).await.unwrap() {
        out += &format!("feedback {} {}\n", f.id, f.status);
    }
    let entries = store::audit::list(
        db,
        &store::audit::Filter {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for e in entries.iter().filter(|e| !e.action.starts_with("session.")) {
        out += &format!("audit {} {} {}\n", e.seq, e.action, e.object);
    }
    out
}

fn html_get_paths(f: &Fixture<'_>) -> Vec<String> {
    vec![
        "/admin".into(),
        "/admin/users".into(),
        "/admin/users/new".into(),
        format!("/admin/users/{}", f.target),
        "/admin/tokens".into(),
        "/admin/audit".into(),
        "/admin/audit?action=user.&before=100".into(),
        "/admin/audit/verify".into(),
        "/admin/feedback".into(),
    ]
}

fn form_posts(f: &Fixture<'_>) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "/admin/users".into(),
            vec![
                ("username", "eindringling"),
                ("display_name", "Eindringling"),
                ("password", STRONG),
                ("roles", "admin"),
            ],
        ),
        (
            format!("/admin/users/{}/profile", f.target),
            vec![("display_name", "Geändert"), ("email", "x@example.org")],
        ),
        (
            format!("/admin/users/{}/roles", f.target),
            vec![("roles", "admin")],
        ),
        (
            format!("/admin/users/{}/password", f.target),
            vec![("password", STRONG)],
        ),
        (
            "/admin/tokens".into(),
            vec![("name", "hintertür"), ("scopes", "admin")],
        ),
        (format!("/admin/tokens/{}/revoke", f.token_id), vec![]),
        (format!("/admin/feedback/{}/done", f.feedback_id), vec![]),
    ]
}

fn encoded(path: &str) -> String {
    url::form_urlencoded::byte_serialize(path.as_bytes()).collect()
}

#[tokio::test]
async fn admin_pages_refuse_everyone_but_admins() {
    let app = TestApp::new().await;
    let f = setup(&app).await;
    for path in html_get_paths(&f) {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "anonymous GET {path}");
        assert_eq!(
            r.location().as_deref(),
            Some(format!("/login?next={}", encoded(&path)).as_str()),
            "anonymous GET {path} is sent to the login and back"
        );
        for (who, b) in [("resident", &f.resident), ("staff", &f.staff)] {
            let r = b.get(&path).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{who} GET {path}");
            assert!(
                r.body.contains("Administration vorbehalten"),
                "{who} GET {path}: {}",
                r.body
            );
        }
        let r = app
            .with_token(Method::GET, &path, &f.sensor_token, None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "token without admin GET {path}"
        );
        let r = f.admin.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "admin GET {path}: {}", r.body);
        assert!(r.body.contains("<main id=\"main\""), "admin GET {path}");
        let r = app
            .with_token(Method::GET, &path, &f.admin_token, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "admin token GET {path}");
    }
    // An id that names nothing, or is no number at all, is a 404 for admins.
    for path in ["/admin/users/999999", "/admin/users/abc"] {
        assert_eq!(
            f.admin.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn admin_forms_refuse_non_admins_and_write_nothing() {
    let app = TestApp::new().await;
    let f = setup(&app).await;
    let before = snapshot(&app).await;
    for (path, fields) in form_posts(&f) {
        let r = f.anonymous.post_form(&path, &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "anonymous POST {path}");
        assert_eq!(r.location().as_deref(), Some("/login?next=%2Fadmin"));
        for (who, b) in [("resident", &f.resident), ("staff", &f.staff)] {
            let r = b.post_form(&path, &fields).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{who} POST {path}: {}",
                r.body
            );
        }
        let r = app
            .with_token(Method::POST, &path, &f.sensor_token, None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "token without admin POST {path}"
        );
    }
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused form changed something"
    );

    // The same forms work for an admin (so the refusals above were about the person).
    for (path, fields) in form_posts(&f) {
        let r = f.admin.post_form(&path, &fields).await;
        assert!(
            r.status == StatusCode::SEE_OTHER || r.status == StatusCode::OK,
            "admin POST {path}: {} {}",
            r.status,
            r.body
        );
    }
    assert_ne!(snapshot(&app).await, before);
}

#[tokio::test]
async fn admin_forms_without_a_valid_csrf_token_are_refused() {
    let app = TestApp::new().await;
    let f = setup(&app).await;
    f.admin.get("/admin").await;
    let before = snapshot(&app).await;
    for (path, fields) in form_posts(&f) {
        let r = f.admin.post_form_raw(&path, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "POST {path} without token");
        assert!(r.body.contains("Formular ist abgelaufen"), "{}", r.body);
        let mut forged = vec![("csrf", "0123456789abcdef0123456789abcdef")];
        forged.extend_from_slice(&fields);
        let r = f.admin.post_form_raw(&path, &forged).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "POST {path} with a forged token"
        );
    }
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused form changed something"
    );
}

#[tokio::test]
async fn admin_creates_a_user_with_roles_and_org_units() {
    let app = TestApp::new().await;
    let admin = signed_in(&app, "admin", &[Role::Admin], &[]).await;
    let unit = org_unit(&app, "ordnung", "Ordnungsamt").await;
    let form = admin.get("/admin/users/new").await;
    assert_eq!(form.status, StatusCode::OK);
    for needle in [
        "name=\"csrf\"",
        "for=\"field-username\"",
        "Mindestens 12 Zeichen",
        "value=\"staff\"",
        "Ordnungsamt",
        "<legend>Rollen</legend>",
    ] {
        assert!(form.body.contains(needle), "form lacks {needle}");
    }
    let unit_s = unit.to_string();
    let r = admin
        .post_form(
            "/admin/users",
            &[
                ("username", "m.muster"),
                ("display_name", "Maria Muster"),
                ("email", "maria@example.org"),
                ("password", STRONG),
                ("roles", "staff"),
                ("roles", "moderator"),
                ("org_units", &unit_s),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = user_id(&app, "m.muster").await;
    assert_eq!(r.location(), Some(format!("/admin/users/{id}")));
    let page = admin.get(&format!("/admin/users/{id}")).await;
    assert!(page.body.contains("Das Konto wurde angelegt."));
    assert!(page.body.contains("Maria Muster"));
    let account = platform::accounts::get(&app.env, &kern::Principal::Anonymous, id, true)
        .await
        .unwrap();
    assert_eq!(account.roles, vec![Role::Staff, Role::Moderator]);
    assert_eq!(account.org_units, vec![unit]);
    let list = admin.get("/admin/users").await;
    assert!(
        list.body
            .contains(&format!("href=\"/admin/users/{id}\">m.muster</a>"))
    );
    assert!(list.body.contains("<caption>"));
    // The new person can sign in with the password the admin set.
    let b = app.browser();
    assert_eq!(
        b.login("m.muster", STRONG).await.status,
        StatusCode::SEE_OTHER
    );
    let audit = admin.get("/admin/audit?action=user.create").await;
    assert!(audit.body.contains(&format!("user:{id}")));
}

#[tokio::test]
async fn user_creation_names_each_bad_field_and_writes_nothing() {
    let app = TestApp::new().await;
    let admin = signed_in(&app, "admin", &[Role::Admin], &[]).await;
    person(&app, "vergeben", &[Role::Resident], &[]).await;
    let before = snapshot(&app).await;
    // (form fields, the field that is wrong, what the message says)
    let cases: &[(Fields<'_>, &str, &str)] = &[
        (
            &[
                ("username", "neu"),
                ("display_name", "Neu"),
                ("password", "password1234"),
            ],
            "password",
            "zu leicht zu erraten",
        ),
        (
            &[
                ("username", "neu"),
                ("display_name", "Neu"),
                ("password", "kurz"),
            ],
            "password",
            "mindestens 12 Zeichen",
        ),
        (
            &[
                ("username", "vergeben"),
                ("display_name", "Doppelt"),
                ("password", STRONG),
            ],
            "username",
            "bereits vergeben",
        ),
        (
            &[
                ("username", "a b"),
                ("display_name", "Leer zeichen"),
                ("password", STRONG),
            ],
            "username",
            "3 bis 64 Zeichen",
        ),
        (
            &[
                ("username", "neu"),
                ("display_name", "Neu"),
                ("email", "kein-at"),
                ("password", STRONG),
            ],
            "email",
            "E-Mail-Adresse ist ungültig",
        ),
        (
            &[
                ("username", "neu"),
                ("display_name", " "),
                ("password", STRONG),
            ],
            "display_name",
            "Anzeigenamen",
        ),
        (
            &[
                ("username", "neu"),
                ("display_name", "Neu"),
                ("password", STRONG),
                ("roles", "kaiser"),
            ],
            "roles",
            "nur Rollen aus der Liste",
        ),
    ];
    for (fields, field, message) in cases {
        let r = admin.post_form("/admin/users", fields).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{fields:?}: {}", r.body);
        assert!(r.body.contains("class=\"error-summary\""), "{fields:?}");
        assert!(
            r.body.contains(&format!("href=\"#field-{field}\"")),
            "{fields:?} links {field}"
        );
        assert!(
            r.body.contains(&format!("id=\"error-{field}\"")),
            "{fields:?} inline error"
        );
        assert!(
            r.body.contains(message),
            "{fields:?} says {message}: {}",
            r.body
        );
        // What was typed is kept, except the password.
        assert!(r.body.contains(&format!("value=\"{}\"", fields[0].1)));
        assert!(!r.body.contains(STRONG));
    }
    assert_eq!(snapshot(&app).await, before);

    // In English the messages are English.
    admin.get("/lang/en").await;
    let r = admin
        .post_form(
            "/admin/users",
            &[
                ("username", "vergeben"),
                ("display_name", "X"),
                ("password", "kurz"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("There is a problem"), "{}", r.body);
    assert!(
        r.body.contains("The password does not meet the policy"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("Das Passwort"));
}

#[tokio::test]
async fn user_detail_changes_roles_status_and_password() {
    let app = TestApp::new().await;
    let admin = signed_in(&app, "admin", &[Role::Admin], &[]).await;
    let unit = org_unit(&app, "buergerdienste", "Bürgerdienste").await;
    let kim = person(&app, "kim", &[Role::Resident], &[]).await;
    let old = PASSWORD;
    let kim_browser = app.browser();
    assert_eq!(
        kim_browser.login("kim", old).await.status,
        StatusCode::SEE_OTHER
    );
    let path = format!("/admin/users/{kim}");
    let page = admin.get(&path).await;
    assert!(page.body.contains("Konto kim"));
    assert!(
        page.body
            .contains(&format!("action=\"/admin/users/{kim}/roles\""))
    );

    let unit_s = unit.to_string();
    let r = admin
        .post_form(
            &format!("{path}/roles"),
            &[("roles", "staff"), ("org_units", &unit_s)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let acc = platform::accounts::get(&app.env, &kern::Principal::Anonymous, kim, true)
        .await
        .unwrap();
    assert_eq!((acc.roles, acc.org_units), (vec![Role::Staff], vec![unit]));
    // New rights end the old sessions.
    assert_eq!(
        kim_browser.get("/staff").await.status,
        StatusCode::SEE_OTHER
    );

    // A weak password is refused with the policy message, a strong one is set.
    let r = admin
        .post_form(&format!("{path}/password"), &[("password", "kim123")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("href=\"#field-password\""));
    let r = admin
        .post_form(&format!("{path}/password"), &[("password", STRONG)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        admin
            .get(&path)
            .await
            .body
            .contains("Das neue Passwort wurde gesetzt")
    );
    assert_eq!(
        app.browser().login("kim", old).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Deactivating (no `active` box ticked) locks the account out.
    let r = admin
        .post_form(
            &format!("{path}/profile"),
            &[
                ("display_name", "Kim Gesperrt"),
                ("email", "kim@example.org"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        admin
            .get("/admin/users")
            .await
            .body
            .contains("Kim Gesperrt")
    );
    assert_eq!(
        app.browser().login("kim", STRONG).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = admin
        .post_form(
            &format!("{path}/profile"),
            &[
                ("display_name", "Kim"),
                ("email", "kim@example.org"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.browser().login("kim", STRONG).await.status,
        StatusCode::SEE_OTHER
    );

    // Bad profile input is named per field; an admin cannot lock or demote themself.
    let r = admin
        .post_form(
            &format!("{path}/profile"),
            &[("display_name", ""), ("email", "x@")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("href=\"#field-display_name\""));
    assert!(r.body.contains("href=\"#field-email\""));
    let me = user_id(&app, "admin").await;
    let r = admin
        .post_form(
            &format!("/admin/users/{me}/profile"),
            &[("display_name", "Admin")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("eigenes Konto nicht deaktivieren"),
        "{}",
        r.body
    );
    let r = admin
        .post_form(&format!("/admin/users/{me}/roles"), &[("roles", "staff")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("href=\"#field-roles\""));
    let acc = platform::accounts::get(&app.env, &kern::Principal::Anonymous, me, true)
        .await
        .unwrap();
    assert_eq!(acc.roles, vec![Role::Admin]);
    assert!(acc.user.active);
}

#[tokio::test]
async fn a_new_token_is_shown_once_and_revoking_it_stops_it() {
    let app = TestApp::new().await;
    let admin = signed_in(&app, "admin", &[Role::Admin], &[]).await;
    admin.get("/admin/tokens").await;
    let r = admin
        .post_form(
            "/admin/tokens",
            &[("name", "Parkhaus Nord"), ("scopes", "sta:write sta:read")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let start = r.body.find("id=\"new-token\">").expect("token shown") + 15;
    let token = r.body[start..].split('<').next().unwrap().to_string();
    assert!(token.len() > 20, "{token}");
    assert!(r.body.contains("sta:write"));

    // It works, it is never listed, and it is not in the audit log.
    let me = app
        .with_token(Method::GET, "/api/v1/me", &token, None)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["name"], "Parkhaus Nord");
    let list = admin.get("/admin/tokens").await;
    assert!(list.body.contains("Parkhaus Nord"));
    assert!(!list.body.contains(&token));
    assert!(!admin.get("/admin/audit").await.body.contains(&token));
    let stored = store::accounts::list_tokens(&app.env.db).await.unwrap();
    assert!(stored.iter().all(|t| !t.token_hash.contains(&token)));

    // Revoking through the list's button.
    let id = me.json()["id"].as_i64().unwrap();
    assert!(
        list.body
            .contains(&format!("action=\"/admin/tokens/{id}/revoke\""))
    );
    let r = admin
        .post_form(&format!("/admin/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let list = admin.get("/admin/tokens").await;
    assert!(list.body.contains("Das Token wurde widerrufen"));
    assert!(list.body.contains("widerrufen am"));
    assert!(
        !list
            .body
            .contains(&format!("action=\"/admin/tokens/{id}/revoke\""))
    );
    let me = app
        .with_token(Method::GET, "/api/v1/me", &token, None)
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    // Revoking twice is a conflict, not a silent success.
    let r = admin
        .post_form(&format!("/admin/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn token_form_names_every_bad_field() {
    let app = TestApp::new().await;
    let admin = signed_in(&app, "admin", &[Role::Admin], &[]).await;
    let before = snapshot(&app).await;
    let r = admin
        .post_form("/admin/tokens", &[("name", " "), ("scopes", "Sta Write")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("href=\"#field-name\""), "{}", r.body);
    assert!(r.body.contains("href=\"#field-scopes\""), "{}", r.body);
    assert!(r.body.contains("value=\"Sta Write\""));
    let r = admin
        .post_form("/admin/tokens", &[("name", "leer"), ("scopes", "")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Mindestens eine Berechtigung"));
    assert_eq!(snapshot(&app).await, before);
}

#[tokio::test]
async fn audit_page_filters_pages_and_verifies_the_chain() {
    let app = TestApp::new().await;
    let admin = signed_in(&app, "admin", &[Role::Admin], &[]).await;
    for i in 0..60 {
        platform::audit::record(
            &app.env,
            &Actor::system(),
            "test.event",
            &format!("thing:{i}"),
            serde_json::json!({ "n": i }),
        )
        .await
        .unwrap();
    }
    let page = admin.get("/admin/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<caption>"));
    assert!(page.body.contains("thing:59"), "newest first");
    assert!(!page.body.contains("thing:5<"), "only one page");
    let older = page
        .body
        .split("href=\"/admin/audit?before=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a link to older entries")
        .to_string();
    let page2 = admin.get(&format!("/admin/audit?before={older}")).await;
    assert!(page2.body.contains("thing:5<"), "{}", page2.body);
    assert!(!page2.body.contains("thing:59"));

    let filtered = admin.get("/admin/audit?action=user.").await;
    assert!(filtered.body.contains("user.create"));
    assert!(!filtered.body.contains("test.event"));
    let by_actor = admin.get("/admin/audit?actor=user%3Aadmin").await;
    assert!(!by_actor.body.contains("thing:"));
    let bad = admin.get("/admin/audit?before=x").await;
    assert_eq!(
        bad.status,
        StatusCode::OK,
        "a bad page reference is reported, not a crash"
    );
    assert!(bad.body.contains("Die Seitenangabe ist ungültig."));

    let ok = admin.get("/admin/audit/verify").await;
    assert!(
        ok.body.contains("Die Protokollkette ist unversehrt"),
        "{}",
        ok.body
    );

    // Tamper with one entry: the check names it and shows it.
    app.env
        .db
        .raw_execute("UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 7")
        .await
        .unwrap();
    let broken = admin.get("/admin/audit/verify").await;
    assert!(
        broken.body.contains("beschädigt bei Eintrag 7"),
        "{}",
        broken.body
    );
    assert!(broken.body.contains("user:mallory"));
    assert!(broken.body.contains("status-bad"));
}

#[tokio::test]
async fn accessibility_reports_are_listed_and_closed() {
    let app = TestApp::new().await;
    let admin = signed_in(&app, "admin", &[Role::Admin], &[]).await;
    assert!(
        admin
            .get("/admin/feedback")
            .await
            .body
            .contains("keine Meldungen")
    );
    let visitor = app.browser();
    visitor.get("/barrierefreiheit").await;
    visitor
        .post_form(
            "/barrierefreiheit/meldung",
            &[
                ("page", "/karte"),
                ("message", "Die Karte ist ohne Maus nicht bedienbar."),
                ("contact", "leser@example.org"),
            ],
        )
        .await;
    let list = admin.get("/admin/feedback").await;
    assert!(
        list.body
            .contains("Die Karte ist ohne Maus nicht bedienbar.")
    );
    assert!(list.body.contains("mailto:leser@example.org"));
    let id = store::feedback::list(&app.env.db).await.unwrap()[0].id;
    // A person closes a report, so it names who handled it: an admin token may not.
    let token = app.token(&["admin"]).await;
    let r = app
        .with_token(
            Method::POST,
            &format!("/admin/feedback/{id}/done"),
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        store::feedback::list(&app.env.db).await.unwrap()[0].status,
        "open"
    );
    let r = admin
        .post_form(&format!("/admin/feedback/{id}/done"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let list = admin.get("/admin/feedback").await;
    assert!(list.body.contains("als erledigt markiert"));
    assert!(!list.body.contains(&format!("/admin/feedback/{id}/done")));
    assert_eq!(
        store::feedback::list(&app.env.db).await.unwrap()[0].status,
        "done"
    );
    assert!(
        admin
            .get("/admin/audit?action=feedback.done")
            .await
            .body
            .contains(&format!("feedback:{id}"))
    );
    let r = admin.post_form("/admin/feedback/424242/done", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

// ---- legal pages and the barrier-feedback form ----

async fn get_in(app: &TestApp, path: &str, accept_language: &str) -> web::testing::TestResponse {
    app.send(
        Request::get(path)
            .header("accept-language", accept_language)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn legal_pages_render_in_german_and_english() {
    let app = TestApp::new().await;
    let city = &app.env.config.city;
    let de: &[(&str, &[&str])] = &[
        (
            "/impressum",
            &[
                "<h1>Impressum</h1>",
                "EUPL-1.2",
                "Verantwortlich für den Inhalt",
            ],
        ),
        (
            "/datenschutz",
            &[
                "<h1>Datenschutzerklärung</h1>",
                "stk_session",
                "Ihre Rechte",
                "<th scope=\"col\">",
            ],
        ),
        (
            "/barrierefreiheit",
            &[
                "<h1>Erklärung zur Barrierefreiheit</h1>",
                "BITV NRW",
                "Durchsetzungsverfahren",
                "ombudsstelle-barrierefreie-it@mags.nrw.de",
                "action=\"/barrierefreiheit/meldung\"",
                "name=\"csrf\"",
                "for=\"field-message\"",
                "22.11.2026",
            ],
        ),
    ];
    for (path, needles) in de {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.body.contains("<html lang=\"de\">"));
        assert!(r.body.contains(&city.operator), "{path} names the operator");
        for n in *needles {
            assert!(r.body.contains(n), "{path} lacks {n}");
        }
    }
    assert!(app.get("/impressum").await.body.contains(&city.email));
    let en: &[(&str, &str)] = &[
        ("/impressum", "<h1>Legal notice</h1>"),
        ("/datenschutz", "<h1>Privacy statement</h1>"),
        ("/barrierefreiheit", "<h1>Accessibility statement</h1>"),
    ];
    for (path, heading) in en {
        let r = get_in(&app, path, "en-GB,en;q=0.9").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("<html lang=\"en\">"), "{path}");
        assert!(r.body.contains(heading), "{path}: {}", r.body);
    }
    let r = get_in(&app, "/barrierefreiheit", "en").await;
    assert!(r.body.contains("22 November 2026"));
    assert!(r.body.contains("Send report"));
}

#[tokio::test]
async fn barrier_feedback_is_stored_audited_and_thanked() {
    let app = TestApp::new().await;
    let b = app.browser();
    b.get("/barrierefreiheit").await;
    let r = b
        .post_form(
            "/barrierefreiheit/meldung",
            &[
                ("page", "/impressum"),
                ("message", "Die Überschriften sind nicht hierarchisch."),
                ("contact", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location().as_deref(), Some("/barrierefreiheit"));
    let page = b.get("/barrierefreiheit").await;
    assert!(
        page.body
            .contains("Vielen Dank. Ihre Meldung wurde gespeichert")
    );
    let stored = store::feedback::list(&app.env.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].page, "/impressum");
    assert_eq!(
        stored[0].message,
        "Die Überschriften sind nicht hierarchisch."
    );
    assert_eq!(stored[0].status, "open");
    let audit = store::audit::list(
        &app.env.db,
        &store::audit::Filter {
            action_prefix: Some("feedback.create".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].object, format!("feedback:{}", stored[0].id));
}

#[tokio::test]
async fn bad_barrier_feedback_shows_the_error_summary_and_stores_nothing() {
    let app = TestApp::new().await;
    let b = app.browser();
    b.get("/barrierefreiheit").await;
    let r = b
        .post_form(
            "/barrierefreiheit/meldung",
            &[
                ("page", "Startseite"),
                ("message", "zu kurz"),
                ("contact", "kein-at-zeichen"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for needle in [
        "class=\"error-summary\"",
        "href=\"#field-message\"",
        "href=\"#field-contact\"",
        "id=\"error-message\"",
        "id=\"error-contact\"",
        "aria-invalid=\"true\"",
        "mindestens 10 Zeichen",
        "gültige E-Mail-Adresse",
        "value=\"kein-at-zeichen\"",
        ">zu kurz</textarea>",
        "value=\"Startseite\"",
    ] {
        assert!(r.body.contains(needle), "lacks {needle}: {}", r.body);
    }
    let long = "x".repeat(5001);
    let r = b
        .post_form("/barrierefreiheit/meldung", &[("message", &long)])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("höchstens 5000 Zeichen"));

    // English visitors read English messages.
    b.get("/lang/en").await;
    let r = b
        .post_form(
            "/barrierefreiheit/meldung",
            &[("message", ""), ("contact", "@")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("Please describe the barrier in 10 to 5,000 characters.")
    );
    assert!(r.body.contains("Please enter a valid e-mail address"));

    // Without the form's CSRF token nothing is accepted either.
    let r = b
        .post_form_raw(
            "/barrierefreiheit/meldung",
            &[("message", "Eine ausreichend lange Beschreibung.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(store::feedback::list(&app.env.db).await.unwrap().is_empty());
}

#[tokio::test]
async fn admin_pages_render_in_english() {
    let app = TestApp::new().await;
    let token = app.token(&["admin"]).await;
    for (path, needle) in [
        ("/admin", "Overview"),
        ("/admin/users", "All accounts"),
        ("/admin/tokens", "Create a new API token"),
        ("/admin/audit", "Audit entries, newest first"),
        ("/admin/feedback", "There are no reports."),
    ] {
        let r = app
            .send(
                Request::get(path)
                    .header("authorization", format!("Bearer {token}"))
                    .header("accept-language", "en")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.body.contains("<html lang=\"en\">"));
        assert!(r.body.contains(needle), "{path} lacks {needle}");
    }
    // A non-admin is refused in their language.
    let resident = signed_in(&app, "resi", &[Role::Resident], &[]).await;
    resident.get("/lang/en").await;
    let r = resident.get("/admin").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body
            .contains("reserved for people with the administrator role")
    );
}

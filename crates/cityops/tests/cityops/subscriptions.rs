//! Area subscriptions: double opt-in, a mail on approval in the area, unsubscribe.

use crate::*;
use cityops::roadworks::{self, Step};
use cityops::subscriptions::{self, Request};
use kern::Error;

/// The token of the last link in the newest mail to `to` that contains `marker`.
async fn link_token(t: &T, to: &str, marker: &str) -> String {
    let out = platform::mail::outbox(&t.env).await.unwrap();
    let mail = out.iter().rev().find(|m| m.to_addr == to).expect("a mail");
    let line = mail
        .body
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker} link in {}", mail.body));
    line.rsplit('/').next().unwrap().trim().to_string()
}

async fn mails_to(t: &T, to: &str) -> usize {
    platform::mail::outbox(&t.env)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.to_addr == to)
        .count()
}

async fn approve(t: &T, site: String) -> i64 {
    let (id, _) = roadworks::apply(&t.env, &staff(), application(t, site, 1, 5))
        .await
        .unwrap();
    roadworks::step(
        &t.env,
        &staff(),
        id,
        Step::Approve {
            note: String::new(),
        },
    )
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn district_subscription_with_double_opt_in() {
    let t = setup().await;
    let who = "anwohnerin@example.org";
    subscriptions::subscribe(
        &t.env,
        &anonymous(),
        Request {
            email: who.into(),
            area: "district".into(),
            district: Some(1),
            ..Request::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(mails_to(&t, who).await, 1, "the confirmation mail");
    // Not confirmed yet: an approval sends nothing.
    approve(&t, hohe()).await;
    assert_eq!(mails_to(&t, who).await, 1);
    let token = link_token(&t, who, "/bestaetigen/").await;
    // Only the hash is stored.
    let stored = store::cityops::subscriptions(&t.env.db).await.unwrap();
    assert!(
        stored
            .iter()
            .all(|s| s.token_hash != token && s.salt != token)
    );
    subscriptions::confirm(&t.env, &anonymous(), &token)
        .await
        .unwrap();
    let id = approve(&t, line(&[(7.4550, 51.5070), (7.4552, 51.5052)])).await;
    assert_eq!(mails_to(&t, who).await, 2);
    let out = platform::mail::outbox(&t.env).await.unwrap();
    let notice = out.last().unwrap();
    assert!(notice.subject.contains("Hohe Straße"), "{}", notice.subject);
    assert!(
        !notice.body.contains("Kortmann"),
        "no contact data in mails"
    );
    // Works in another district: no mail.
    let (other, _) = roadworks::apply(
        &t.env,
        &staff(),
        Application {
            street: "Kaiserstraße".into(),
            ..application(&t, line(&[(7.4880, 51.5130), (7.4920, 51.5128)]), 1, 5)
        },
    )
    .await
    .unwrap();
    roadworks::step(
        &t.env,
        &staff(),
        other,
        Step::Approve {
            note: String::new(),
        },
    )
    .await
    .unwrap();
    assert_eq!(mails_to(&t, who).await, 2);
    let _ = id;
    // Unsubscribe with the link of the notice; afterwards nothing more arrives.
    let unsub = link_token(&t, who, "/abmelden/").await;
    subscriptions::unsubscribe(&t.env, &anonymous(), &unsub)
        .await
        .unwrap();
    approve(&t, line(&[(7.4560, 51.5070), (7.4562, 51.5052)])).await;
    assert_eq!(mails_to(&t, who).await, 2);
    assert!(matches!(
        subscriptions::unsubscribe(&t.env, &anonymous(), &unsub).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn circle_subscription_and_bad_requests() {
    let t = setup().await;
    let who = "nachbar@example.org";
    subscriptions::subscribe(
        &t.env,
        &anonymous(),
        Request {
            email: who.into(),
            area: "circle".into(),
            latitude: Some(51.5060),
            longitude: Some(7.4591),
            radius_m: Some(200.0),
            ..Request::default()
        },
    )
    .await
    .unwrap();
    let token = link_token(&t, who, "/bestaetigen/").await;
    subscriptions::confirm(&t.env, &anonymous(), &token)
        .await
        .unwrap();
    approve(&t, hohe()).await;
    assert_eq!(mails_to(&t, who).await, 2);
    // 1 km away: outside the circle.
    approve(&t, line(&[(7.4740, 51.5070), (7.4742, 51.5052)])).await;
    assert_eq!(mails_to(&t, who).await, 2);

    let before = store::cityops::subscriptions(&t.env.db)
        .await
        .unwrap()
        .len();
    let mails = platform::mail::outbox(&t.env).await.unwrap().len();
    for (field, r) in [
        (
            "email",
            Request {
                email: "x".into(),
                area: "district".into(),
                district: Some(1),
                ..Request::default()
            },
        ),
        (
            "district",
            Request {
                email: who.into(),
                area: "district".into(),
                district: Some(42),
                ..Request::default()
            },
        ),
        (
            "radius_m",
            Request {
                email: who.into(),
                area: "circle".into(),
                latitude: Some(51.5),
                longitude: Some(7.46),
                radius_m: Some(1.0),
                ..Request::default()
            },
        ),
        (
            "latitude",
            Request {
                email: who.into(),
                area: "circle".into(),
                latitude: Some(48.1),
                longitude: Some(11.5),
                radius_m: Some(500.0),
                ..Request::default()
            },
        ),
        (
            "area",
            Request {
                email: who.into(),
                area: "welt".into(),
                ..Request::default()
            },
        ),
    ] {
        match subscriptions::subscribe(&t.env, &anonymous(), r).await {
            Err(Error::Invalid(inv)) => assert!(
                inv.problems
                    .iter()
                    .any(|p| p.field.as_deref() == Some(field)),
                "{field}: {inv:?}"
            ),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert_eq!(
        store::cityops::subscriptions(&t.env.db)
            .await
            .unwrap()
            .len(),
        before
    );
    assert_eq!(platform::mail::outbox(&t.env).await.unwrap().len(), mails);
    assert!(matches!(
        subscriptions::confirm(&t.env, &anonymous(), "0000").await,
        Err(Error::NotFound(_))
    ));
}

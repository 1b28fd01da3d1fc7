use crate::*;
use chrono::Duration;
use kern::Error;
use services::appointments::{self, Booking, NewOffice, Opening};

/// An office of the Bürgerdienste with `counters` counters, a 10-minute grid, open Monday to
/// Friday 8–12 and Thursday 14–18, offering the identity card (20 min) and the registration
/// certificate (10 min). Returns (office, identity card, certificate).
async fn office(t: &T, counters: i64) -> (i64, i64, i64) {
    let mut opening: Vec<Opening> = (1..=5)
        .map(|d| Opening {
            weekday: d,
            open: "08:00".into(),
            close: "12:00".into(),
        })
        .collect();
    opening.push(Opening {
        weekday: 4,
        open: "14:00".into(),
        close: "18:00".into(),
    });
    let o = appointments::create_office(
        &t.env,
        &writer(),
        NewOffice {
            org_unit: "buergerdienste".into(),
            name: "Bürgerbüro Mitte".into(),
            address: String::new(),
            counters,
            slot_min: 10,
            opening,
        },
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for s in services::demo::services().into_iter().take(4) {
        ids.push(
            services::catalog::create(&t.env, &writer(), s)
                .await
                .unwrap(),
        );
    }
    // Personalausweis (index 0) and Meldebescheinigung (index 3).
    appointments::offer(&t.env, &writer(), o, ids[0], 20)
        .await
        .unwrap();
    appointments::offer(&t.env, &writer(), o, ids[3], 10)
        .await
        .unwrap();
    (o, ids[0], ids[3])
}

fn at(day: &str, hm: &str) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let naive =
        chrono::NaiveDateTime::parse_from_str(&format!("{day} {hm}"), "%Y-%m-%d %H:%M").unwrap();
    chrono_tz::Europe::Berlin
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn booking(o: i64, s: i64, start: chrono::DateTime<chrono::Utc>, name: &str) -> Booking {
    Booking {
        office_id: o,
        service_id: s,
        start: Some(start),
        name: name.into(),
        email: format!("{}@example.org", name.to_lowercase()),
        phone: String::new(),
    }
}

#[tokio::test]
async fn slots_follow_opening_hours_closed_days_and_bookings() {
    let t = setup().await;
    let (o, id_card, cert) = office(&t, 1).await;
    // Tuesday 24 November 2026: 8–12 local, 20-minute service on a 10-minute grid.
    let slots = appointments::slots(&t.env, o, id_card, "2026-11-24")
        .await
        .unwrap();
    assert_eq!(slots.len(), 23);
    assert_eq!(slots[0].start, at("2026-11-24", "08:00"));
    assert_eq!(slots.last().unwrap().end, at("2026-11-24", "12:00"));
    // Thursday has the afternoon too; Saturday nothing.
    assert_eq!(
        appointments::slots(&t.env, o, cert, "2026-11-26")
            .await
            .unwrap()
            .len(),
        48
    );
    assert!(
        appointments::slots(&t.env, o, cert, "2026-11-28")
            .await
            .unwrap()
            .is_empty()
    );
    // Today (Monday, 09:00 local now): only the future.
    let today = appointments::slots(&t.env, o, cert, "2026-11-23")
        .await
        .unwrap();
    assert!(today.iter().all(|s| s.start > t.env.now()));
    assert_eq!(today.len(), 17);
    appointments::close_day(&t.env, &writer(), o, "2026-11-24", "Betriebsausflug")
        .await
        .unwrap();
    assert!(
        appointments::slots(&t.env, o, id_card, "2026-11-24")
            .await
            .unwrap()
            .is_empty()
    );
    // A booking of 9:00–9:20 takes the slots that overlap it.
    let b = appointments::book(
        &t.env,
        &anonymous(),
        booking(o, id_card, at("2026-11-25", "09:00"), "Ada"),
    )
    .await
    .unwrap();
    let left = appointments::slots(&t.env, o, cert, "2026-11-25")
        .await
        .unwrap();
    assert!(!left.iter().any(|s| s.start == at("2026-11-25", "09:00")));
    assert!(!left.iter().any(|s| s.start == at("2026-11-25", "09:10")));
    assert!(left.iter().any(|s| s.start == at("2026-11-25", "09:20")));
    assert!(left.iter().any(|s| s.start == at("2026-11-25", "08:50")));
    assert!(b.appointment.reference.starts_with("T-"));
    assert_eq!(b.code.len(), 8);
    assert!(matches!(
        appointments::slots(&t.env, o, 999, "2026-11-25").await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        appointments::slots(&t.env, o, cert, "25.11.2026").await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test]
async fn book_move_and_cancel_with_the_code() {
    let t = setup().await;
    let (o, id_card, _) = office(&t, 1).await;
    let start = at("2026-11-25", "10:00");
    let b = appointments::book(&t.env, &anonymous(), booking(o, id_card, start, "Berta"))
        .await
        .unwrap();
    let mails = platform::mail::outbox(&t.env).await.unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to_addr, "berta@example.org");
    assert!(mails[0].body.contains(&b.appointment.reference));
    assert!(mails[0].body.contains(&b.code));
    assert!(mails[0].body.contains("10:00"));
    // The same time again: taken.
    assert!(matches!(
        appointments::book(&t.env, &anonymous(), booking(o, id_card, start, "Carl")).await,
        Err(Error::Conflict(_))
    ));
    // Overlapping (10:10 of a 20-minute appointment): taken too.
    assert!(matches!(
        appointments::book(
            &t.env,
            &anonymous(),
            booking(o, id_card, at("2026-11-25", "10:10"), "Carl")
        )
        .await,
        Err(Error::Conflict(_))
    ));
    // Wrong code: as if there were no such appointment.
    let r = &b.appointment.reference;
    assert!(matches!(
        appointments::find(&t.env, &anonymous(), r, "AAAAAAAA").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        appointments::cancel(&t.env, &anonymous(), r, "AAAAAAAA").await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        appointments::find(
            &t.env,
            &anonymous(),
            &r.to_lowercase(),
            &b.code.to_lowercase()
        )
        .await
        .unwrap()
        .id,
        b.appointment.id
    );
    let moved =
        appointments::reschedule(&t.env, &anonymous(), r, &b.code, at("2026-11-25", "11:00"))
            .await
            .unwrap();
    assert_eq!(moved.starts_at, at("2026-11-25", "11:00"));
    // The old time is free again, the new one taken.
    appointments::book(&t.env, &anonymous(), booking(o, id_card, start, "Carl"))
        .await
        .unwrap();
    assert!(matches!(
        appointments::reschedule(&t.env, &anonymous(), r, &b.code, start).await,
        Err(Error::Conflict(_))
    ));
    // The failed move left the appointment where it was.
    assert_eq!(
        appointments::find(&t.env, &anonymous(), r, &b.code)
            .await
            .unwrap()
            .starts_at,
        at("2026-11-25", "11:00")
    );
    appointments::cancel(&t.env, &anonymous(), r, &b.code)
        .await
        .unwrap();
    assert!(matches!(
        appointments::cancel(&t.env, &anonymous(), r, &b.code).await,
        Err(Error::Conflict(_))
    ));
    appointments::book(
        &t.env,
        &anonymous(),
        booking(o, id_card, at("2026-11-25", "11:00"), "Dora"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn bad_bookings_write_nothing() {
    let t = setup().await;
    let (o, id_card, _) = office(&t, 1).await;
    let before = platform::mail::outbox(&t.env).await.unwrap().len();
    for (b, field) in [
        (
            Booking {
                name: "A".into(),
                ..booking(o, id_card, at("2026-11-25", "09:00"), "x")
            },
            "name",
        ),
        (
            Booking {
                email: "kein-at".into(),
                ..booking(o, id_card, at("2026-11-25", "09:00"), "Emil")
            },
            "email",
        ),
        (
            Booking {
                start: None,
                ..booking(o, id_card, at("2026-11-25", "09:00"), "Emil")
            },
            "start",
        ),
        (
            booking(o, id_card, at("2026-11-25", "09:05"), "Emil"),
            "start",
        ),
        (
            booking(o, id_card, at("2026-11-25", "11:50"), "Emil"),
            "start",
        ),
        (
            booking(o, id_card, at("2026-11-28", "09:00"), "Emil"),
            "start",
        ),
        (
            booking(o, id_card, at("2026-11-23", "08:00"), "Emil"),
            "start",
        ),
        (
            booking(o, id_card, at("2027-06-01", "09:00"), "Emil"),
            "start",
        ),
        (
            booking(o, 4242, at("2026-11-25", "09:00"), "Emil"),
            "service_id",
        ),
    ] {
        match appointments::book(&t.env, &anonymous(), b).await {
            Err(Error::Invalid(i)) => assert!(
                i.problems.iter().any(|p| p.field.as_deref() == Some(field)),
                "{field}: {i:?}"
            ),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert_eq!(platform::mail::outbox(&t.env).await.unwrap().len(), before);
    let day = appointments::day(&t.env, &writer(), o, "2026-11-25")
        .await
        .unwrap();
    assert!(day.appointments.is_empty());
    assert!(matches!(
        appointments::create_office(&t.env, &writer(), NewOffice {
            org_unit: "fehlt".into(), name: "X".into(), counters: 0, slot_min: 7,
            opening: vec![Opening { weekday: 9, open: "12:00".into(), close: "08:00".into() }],
            ..Default::default()
        }).await,
        Err(Error::Invalid(i)) if i.problems.len() == 5
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_attempts_on_one_slot_book_exactly_once() {
    let t = setup().await;
    let (o, _, cert) = office(&t, 1).await;
    let start = at("2026-11-25", "09:00");
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let env = t.env.clone();
        tasks.push(tokio::spawn(async move {
            appointments::book(
                &env,
                &anonymous(),
                booking(o, cert, start, &format!("Person{i}")),
            )
            .await
        }));
    }
    let (mut ok, mut taken) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::Conflict(_)) => taken += 1,
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    assert_eq!((ok, taken), (1, 999));
    let day = appointments::day(&t.env, &writer(), o, "2026-11-25")
        .await
        .unwrap();
    assert_eq!(day.appointments.len(), 1);
    assert_eq!(platform::mail::outbox(&t.env).await.unwrap().len(), 1);
}

#[tokio::test]
async fn two_counters_take_two_bookings_of_one_time() {
    let t = setup().await;
    let (o, id_card, _) = office(&t, 2).await;
    let start = at("2026-11-25", "09:00");
    let a = appointments::book(&t.env, &anonymous(), booking(o, id_card, start, "Eins"))
        .await
        .unwrap();
    let b = appointments::book(&t.env, &anonymous(), booking(o, id_card, start, "Zwei"))
        .await
        .unwrap();
    assert_ne!(a.appointment.counter, b.appointment.counter);
    assert!(matches!(
        appointments::book(&t.env, &anonymous(), booking(o, id_card, start, "Drei")).await,
        Err(Error::Conflict(_))
    ));
}

#[tokio::test]
async fn staff_assist_call_walk_ins_and_count() {
    let t = setup().await;
    let (o, id_card, cert) = office(&t, 2).await;
    let mine = staff(3, vec![unit_id(&t, "buergerdienste").await]);
    let other = staff(4, vec![unit_id(&t, "ordnungsamt").await]);
    // Assisted booking (phone call): no e-mail needed, recorded as booked by staff.
    let b = appointments::book(
        &t.env,
        &mine,
        Booking {
            email: String::new(),
            ..booking(o, id_card, at("2026-11-23", "10:00"), "Frieda")
        },
    )
    .await
    .unwrap();
    assert_eq!(b.appointment.booked_by, Some(3));
    assert!(platform::mail::outbox(&t.env).await.unwrap().is_empty());
    // Other org units, residents and anonymous visitors may not run the office.
    for who in [other.clone(), resident(9), anonymous()] {
        assert!(
            appointments::day(&t.env, &who, o, "2026-11-23")
                .await
                .is_err()
        );
        assert!(
            appointments::step(&t.env, &who, b.appointment.id, "arrived")
                .await
                .is_err()
        );
        assert!(
            appointments::issue_ticket(&t.env, &who, o, None)
                .await
                .is_err()
        );
        assert!(appointments::call_next(&t.env, &who, o, 1).await.is_err());
        assert!(
            appointments::stats(&t.env, &who, o, "2026-11-23", "2026-11-23")
                .await
                .is_err()
        );
    }
    // Walk-ins: numbered per day, called in order, shown on the display without names.
    let t1 = appointments::issue_ticket(&t.env, &mine, o, Some(cert))
        .await
        .unwrap();
    let t2 = appointments::issue_ticket(&t.env, &mine, o, None)
        .await
        .unwrap();
    assert_eq!((t1.number, t2.number), (1, 2));
    t.clock.advance(Duration::minutes(12));
    let called = appointments::call_next(&t.env, &mine, o, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(called.id, t1.id);
    assert!(matches!(
        appointments::call_next(&t.env, &mine, o, 3).await,
        Err(Error::Invalid(_))
    ));
    appointments::step(&t.env, &mine, b.appointment.id, "arrived")
        .await
        .unwrap();
    t.clock.advance(Duration::minutes(50));
    appointments::step(&t.env, &mine, b.appointment.id, "called")
        .await
        .unwrap();
    let display = appointments::display(&t.env, o, 10).await.unwrap();
    assert_eq!(display.len(), 2);
    assert_eq!(display[0].label, b.appointment.reference);
    assert_eq!(display[1].label, "A001");
    assert_eq!(display[1].counter, 2);
    assert!(matches!(
        appointments::step(&t.env, &mine, b.appointment.id, "arrived").await,
        Err(Error::Conflict(_))
    ));
    appointments::step(&t.env, &mine, b.appointment.id, "served")
        .await
        .unwrap();
    appointments::finish_ticket(&t.env, &mine, t1.id, "served")
        .await
        .unwrap();
    let s = appointments::stats(&t.env, &mine, o, "2026-11-23", "2026-11-23")
        .await
        .unwrap();
    assert_eq!(
        (s.appointments, s.served, s.tickets, s.assisted),
        (1, 1, 2, 1)
    );
    assert_eq!(s.ticket_wait_min, Some(12.0));
    // Arrived 09:12 local, appointment at 10:00, called 10:02: two minutes' wait.
    assert_eq!(s.appointment_wait_min, Some(2.0));
}

#[tokio::test]
async fn reminders_go_out_once_a_day_before() {
    let t = setup().await;
    let (o, _, cert) = office(&t, 1).await;
    let b = appointments::book(
        &t.env,
        &anonymous(),
        booking(o, cert, at("2026-11-25", "09:00"), "Gert"),
    )
    .await
    .unwrap();
    assert_eq!(appointments::send_reminders(&t.env).await.unwrap(), 0);
    t.clock.set(at("2026-11-24", "10:00"));
    assert_eq!(appointments::send_reminders(&t.env).await.unwrap(), 1);
    assert_eq!(appointments::send_reminders(&t.env).await.unwrap(), 0);
    let mails = platform::mail::outbox(&t.env).await.unwrap();
    assert!(
        mails
            .iter()
            .any(|m| m.subject.starts_with("Erinnerung") && m.body.contains("09:00"))
    );
    // No reminder for a cancelled appointment.
    let c = appointments::book(
        &t.env,
        &anonymous(),
        booking(o, cert, at("2026-11-25", "10:00"), "Hans"),
    )
    .await
    .unwrap();
    appointments::cancel(&t.env, &anonymous(), &c.appointment.reference, &c.code)
        .await
        .unwrap();
    assert_eq!(appointments::send_reminders(&t.env).await.unwrap(), 0);
    let _ = b;
}

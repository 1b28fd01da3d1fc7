//! Conflict detection, states and bad inputs.

use crate::*;
use cityops::roadworks::{self, Rules, Step};
use kern::Error;

async fn approved(t: &T, a: Application) -> i64 {
    let (id, _) = roadworks::apply(&t.env, &staff(), a).await.unwrap();
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
async fn overlap_in_space_and_time_is_a_conflict() {
    let t = setup().await;
    let a = approved(&t, application(&t, hohe(), 0, 30)).await;
    // 5 m east of the first site, overlapping in time.
    let near = line(&[(7.45907, 51.5065), (7.45927, 51.5055)]);
    let (b, found) = roadworks::apply(&t.env, &staff(), application(&t, near, 20, 40))
        .await
        .unwrap();
    assert_eq!(kinds(&found), vec![("overlap".into(), b, a)]);
    // The stored conflict is seen from the other side too.
    let of_a = roadworks::conflicts_of(&t.env, &staff().principal, a)
        .await
        .unwrap();
    assert_eq!(kinds(&of_a), vec![("overlap".into(), b, a)]);
    // The works get the district from their geometry.
    let w = roadworks::get(&t.env, &staff().principal, b).await.unwrap();
    assert_eq!(w.district_number, Some(1));
}

#[tokio::test]
async fn no_conflict_apart_in_time_or_space() {
    let t = setup().await;
    approved(&t, application(&t, hohe(), 0, 30)).await;
    // Same place, later period (starts the day after the end).
    let (_, later) = roadworks::apply(&t.env, &staff(), application(&t, hohe(), 31, 60))
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:?}");
    // Same time, about 70 m away (buffer 10 m).
    let away = line(&[(7.4600, 51.5070), (7.4602, 51.5052)]);
    let (far_id, far) = roadworks::apply(&t.env, &staff(), application(&t, away.clone(), 0, 30))
        .await
        .unwrap();
    assert!(far.is_empty(), "{far:?}");
    // A larger buffer makes it a conflict on the next change.
    roadworks::set_rules(
        &t.env,
        &staff(),
        Rules {
            buffer_m: 100.0,
            ..Rules::default()
        },
    )
    .await
    .unwrap();
    let found = roadworks::update(&t.env, &staff(), far_id, application(&t, away, 0, 30))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, "overlap");
}

#[tokio::test]
async fn rejected_works_conflict_with_nothing() {
    let t = setup().await;
    let (a, _) = roadworks::apply(&t.env, &staff(), application(&t, hohe(), 0, 30))
        .await
        .unwrap();
    roadworks::step(
        &t.env,
        &staff(),
        a,
        Step::Reject {
            note: "Zu nah an der Kirmes.".into(),
        },
    )
    .await
    .unwrap();
    let (_, found) = roadworks::apply(&t.env, &staff(), application(&t, hohe(), 0, 30))
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:?}");
}

#[tokio::test]
async fn protection_period_after_closed_works() {
    let t = setup().await;
    let old = approved(&t, application(&t, hohe(), -60, -1)).await;
    roadworks::step(&t.env, &staff(), old, Step::Close)
        .await
        .unwrap();
    // Dug again on an overlapping section a year later: within 3 years.
    let part = line(&[(7.4591, 51.5065), (7.4591, 51.5058)]);
    let (again, found) =
        roadworks::apply(&t.env, &staff(), application(&t, part.clone(), 365, 370))
            .await
            .unwrap();
    assert_eq!(kinds(&found), vec![("protection".into(), again, old)]);
    // Four years later: free again.
    let (_, later) = roadworks::apply(
        &t.env,
        &staff(),
        application(&t, part, 4 * 365, 4 * 365 + 5),
    )
    .await
    .unwrap();
    assert!(later.is_empty(), "{later:?}");
    // Another street section within the period: no conflict.
    let other = line(&[(7.4650, 51.5070), (7.4652, 51.5052)]);
    let (_, elsewhere) = roadworks::apply(&t.env, &staff(), application(&t, other, 100, 110))
        .await
        .unwrap();
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    // A shorter configured period frees the first one on its next change.
    roadworks::set_rules(
        &t.env,
        &staff(),
        Rules {
            protection_days: 200,
            ..Rules::default()
        },
    )
    .await
    .unwrap();
    let now = roadworks::update(
        &t.env,
        &staff(),
        again,
        application(&t, line(&[(7.4591, 51.5065), (7.4591, 51.5058)]), 365, 370),
    )
    .await
    .unwrap();
    assert!(now.is_empty(), "{now:?}");
}

fn full(t: &T, site: String, detour: Option<String>) -> Application {
    Application {
        closure: "full".into(),
        detour: detour.unwrap_or_default(),
        ..application(t, site, 0, 20)
    }
}

#[tokio::test]
async fn detour_through_another_full_closure() {
    let t = setup().await;
    let a = approved(&t, full(&t, hohe(), None)).await;
    // B is closed 300 m west; its detour runs along A's site.
    let b_site = line(&[(7.4548, 51.5070), (7.4550, 51.5052)]);
    let b_detour = line(&[
        (7.4548, 51.5070),
        (7.4590, 51.5071),
        (7.4592, 51.5052),
        (7.4550, 51.5052),
    ]);
    let (b, found) = roadworks::apply(
        &t.env,
        &staff(),
        full(&t, b_site.clone(), Some(b_detour.clone())),
    )
    .await
    .unwrap();
    assert_eq!(kinds(&found), vec![("detour_closure".into(), b, a)]);
    // The same detour with only a lane closure at B: nothing to re-route, no conflict.
    let lane = Application {
        closure: "lane".into(),
        ..full(&t, b_site, Some(b_detour))
    };
    let found = roadworks::update(&t.env, &staff(), b, lane).await.unwrap();
    assert!(found.is_empty(), "{found:?}");
}

#[tokio::test]
async fn two_closures_on_one_detour() {
    let t = setup().await;
    // Two sites far apart (Kampstraße-ish and further east), detours sharing 400 m of road.
    let shared = [(7.4700, 51.5100), (7.4760, 51.5100)];
    let a_site = line(&[(7.4690, 51.5120), (7.4690, 51.5110)]);
    let b_site = line(&[(7.4780, 51.5120), (7.4780, 51.5110)]);
    let a_detour = line(&[(7.4690, 51.5110), shared[0], shared[1]]);
    let b_detour = line(&[(7.4780, 51.5110), (7.4760, 51.51001), (7.4700, 51.51001)]);
    let a = approved(&t, full(&t, a_site, Some(a_detour))).await;
    let (b, found) = roadworks::apply(&t.env, &staff(), full(&t, b_site.clone(), Some(b_detour)))
        .await
        .unwrap();
    assert_eq!(kinds(&found), vec![("shared_detour".into(), b, a)]);
    // Detours that only cross each other are not the same detour.
    let crossing = line(&[(7.4730, 51.5080), (7.4730, 51.5130)]);
    let found = roadworks::update(&t.env, &staff(), b, full(&t, b_site, Some(crossing)))
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:?}");
}

async fn counts(t: &T) -> (usize, usize) {
    let works = roadworks::list(&t.env, &staff().principal, &[])
        .await
        .unwrap();
    let store::audit::Verdict::Intact { entries } = store::audit::verify(&t.env.db).await.unwrap()
    else {
        panic!("audit chain broken")
    };
    (works.len(), entries as usize)
}

#[tokio::test]
async fn bad_inputs_write_nothing() {
    let t = setup().await;
    let before = counts(&t).await;
    let good = application(&t, hohe(), 0, 10);
    let cases: Vec<(&str, Application)> = vec![
        (
            "street",
            Application {
                street: "Nirgendwostraße".into(),
                ..good.clone()
            },
        ),
        (
            "geometry",
            Application {
                geometry: r#"{"type":"LineString","coordinates":[[7.459,51.507]]}"#.into(),
                ..good.clone()
            },
        ),
        (
            "geometry",
            Application {
                geometry: line(&[(13.40, 52.52), (13.41, 52.52)]),
                ..good.clone()
            },
        ),
        (
            "geometry",
            Application {
                geometry: r#"{"type":"Polygon","coordinates":[[[7.46,51.51],[7.47,51.52],[7.47,51.51],[7.46,51.52],[7.46,51.51]]]}"#.into(),
                ..good.clone()
            },
        ),
        (
            "period_end",
            Application {
                period_start: day(&t, 10),
                period_end: day(&t, 9),
                ..good.clone()
            },
        ),
        (
            "period_start",
            Application {
                period_start: "morgen".into(),
                ..good.clone()
            },
        ),
        (
            "closure",
            Application {
                closure: "halb".into(),
                ..good.clone()
            },
        ),
        (
            "contact_email",
            Application {
                contact_email: "keine-adresse".into(),
                ..good.clone()
            },
        ),
        (
            "detour",
            Application {
                detour: r#"{"type":"Polygon","coordinates":[]}"#.into(),
                ..good.clone()
            },
        ),
    ];
    for (field, a) in cases {
        match roadworks::apply(&t.env, &staff(), a).await {
            Err(Error::Invalid(inv)) => assert!(
                inv.problems
                    .iter()
                    .any(|p| p.field.as_deref() == Some(field)),
                "{field}: {inv:?}"
            ),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert_eq!(counts(&t).await, before);
    // Nobody but staff applies.
    let e = roadworks::apply(&t.env, &anonymous(), good)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthorized(_)), "{e:?}");
    assert_eq!(counts(&t).await, before);
}

#[tokio::test]
async fn states_follow_the_rules_and_are_audited() {
    let t = setup().await;
    let before = counts(&t).await.1;
    let (id, _) = roadworks::apply(&t.env, &staff(), application(&t, hohe(), 0, 10))
        .await
        .unwrap();
    // Closing or extending an application that was never approved is refused.
    for s in [
        Step::Close,
        Step::Extend {
            period_end: day(&t, 20),
        },
    ] {
        assert!(matches!(
            roadworks::step(&t.env, &staff(), id, s).await,
            Err(Error::Conflict(_))
        ));
    }
    // A rejection needs a reason.
    assert!(matches!(
        roadworks::step(&t.env, &staff(), id, Step::Reject { note: " ".into() }).await,
        Err(Error::Invalid(_))
    ));
    let w = roadworks::step(
        &t.env,
        &staff(),
        id,
        Step::Approve {
            note: String::new(),
        },
    )
    .await
    .unwrap();
    assert_eq!(w.status, "approved");
    // The new end must be later.
    assert!(matches!(
        roadworks::step(
            &t.env,
            &staff(),
            id,
            Step::Extend {
                period_end: day(&t, 5)
            }
        )
        .await,
        Err(Error::Invalid(_))
    ));
    let w = roadworks::step(
        &t.env,
        &staff(),
        id,
        Step::Extend {
            period_end: day(&t, 25),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            w.status.as_str(),
            w.period_end.format("%Y-%m-%d").to_string()
        ),
        ("extended", day(&t, 25))
    );
    t.clock.advance(Duration::days(3));
    let w = roadworks::step(&t.env, &staff(), id, Step::Close)
        .await
        .unwrap();
    assert_eq!(w.status, "closed");
    assert_eq!(w.closed_at, Some(t.env.now()));
    // Closed works take no more steps or changes.
    assert!(matches!(
        roadworks::step(
            &t.env,
            &staff(),
            id,
            Step::Approve {
                note: String::new()
            }
        )
        .await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        roadworks::update(&t.env, &staff(), id, application(&t, hohe(), 0, 10)).await,
        Err(Error::Conflict(_))
    ));
    // apply, approve, extend, close: four audited changes.
    assert_eq!(counts(&t).await.1, before + 4);
    let log = store::audit::list(
        &t.env.db,
        &store::audit::Filter {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ours: Vec<_> = log
        .iter()
        .filter(|e| e.object == format!("roadworks:{id}"))
        .map(|e| e.action.clone())
        .collect();
    assert_eq!(ours.len(), 4, "{ours:?}");
}

#[tokio::test]
async fn streets_are_managed_by_staff() {
    let t = setup().await;
    let id = roadworks::add_street(&t.env, &staff(), "Ostenhellweg", Some(1))
        .await
        .unwrap();
    assert!(matches!(
        roadworks::add_street(&t.env, &staff(), "Ostenhellweg", None).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        roadworks::add_street(&t.env, &staff(), "Ostenweg", Some(99)).await,
        Err(Error::Invalid(_))
    ));
    assert!(
        roadworks::add_street(&t.env, &anonymous(), "Westenhellweg", None)
            .await
            .is_err()
    );
    // A street in use cannot go.
    let a = Application {
        street: "Ostenhellweg".into(),
        ..application(&t, hohe(), 0, 3)
    };
    roadworks::apply(&t.env, &staff(), a).await.unwrap();
    assert!(matches!(
        roadworks::delete_street(&t.env, &staff(), id).await,
        Err(Error::Conflict(_))
    ));
    let names: Vec<String> = roadworks::streets(&t.env)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.contains(&"Ostenhellweg".to_string()));
}

#[tokio::test]
async fn board_filters_by_district_and_period() {
    let t = setup().await;
    let a = approved(&t, application(&t, hohe(), 0, 30)).await;
    roadworks::apply(&t.env, &staff(), application(&t, hohe(), 10, 20))
        .await
        .unwrap();
    let p = staff().principal;
    let all = roadworks::board(&t.env, &p, None, None, None)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].other.id == a || all[0].works.id == a);
    assert_eq!(
        roadworks::board(&t.env, &p, Some(1), None, None)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        roadworks::board(&t.env, &p, Some(5), None, None)
            .await
            .unwrap()
            .is_empty()
    );
    let later = t.env.now() + Duration::days(100);
    assert!(
        roadworks::board(&t.env, &p, None, Some(later), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        roadworks::board(&t.env, &anonymous().principal, None, None, None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn demo_seeds_conflicts_of_every_kind() {
    let t = setup().await;
    // The demo brings its own streets: start from an empty directory.
    let env = {
        let tdb = TestDb::new().await;
        let e = Env::new(
            Config::default(),
            tdb.db.clone(),
            t.clock.clone(),
            Arc::new(SeededRandom::new(3)),
        );
        platform::demo::seed(&e, &[cityops::demo::SEEDER])
            .await
            .unwrap();
        (tdb, e)
    };
    let p = staff().principal;
    let board = roadworks::board(&env.1, &p, None, None, None)
        .await
        .unwrap();
    let mut kinds: Vec<&str> = board.iter().map(|b| b.conflict.kind.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        vec!["detour_closure", "overlap", "protection"],
        "{board:?}"
    );
    let public = roadworks::public_list(&env.1).await.unwrap();
    assert!(public.iter().any(|w| w.phase == "current"));
    assert!(public.iter().any(|w| w.phase == "planned"));
    // Without the sensor demo only the two on-street zones exist.
    let parking = cityops::parking::list(&env.1).await.unwrap();
    assert_eq!(parking.iter().filter(|p| p.kind == "on_street").count(), 2);
}

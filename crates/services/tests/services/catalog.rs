use crate::*;
use kern::Error;
use services::catalog::{self, ServiceInput};

fn problems(e: Error) -> Vec<(String, String)> {
    match e {
        Error::Invalid(i) => i
            .problems
            .into_iter()
            .map(|p| (p.field.unwrap_or_default(), p.message))
            .collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

async fn seeded() -> T {
    let t = setup().await;
    for s in services::demo::services() {
        catalog::create(&t.env, &writer(), s).await.unwrap();
    }
    t
}

fn names(hits: &[catalog::Hit]) -> Vec<String> {
    hits.iter().map(|h| h.service.name.clone()).collect()
}

#[tokio::test]
async fn search_finds_the_services_residents_ask_for() {
    let t = seeded().await;
    for (q, want) in [
        ("Personalausweis", "Personalausweis beantragen"),
        ("Anwohnerparken", "Bewohnerparkausweis beantragen"),
        ("Hundesteuer", "Hundesteuer an- und abmelden"),
        ("Sperrmüll", "Sperrmüllabholung anmelden"),
        ("personalausweiss", "Personalausweis beantragen"),
        ("Hundesteur", "Hundesteuer an- und abmelden"),
        ("sperrmuell abholen", "Sperrmüllabholung anmelden"),
        ("Umzug melden", "Wohnsitz anmelden"),
        ("99108001001000", "Hundesteuer an- und abmelden"),
    ] {
        let hits = catalog::search(&t.env, q, 10).await.unwrap();
        assert_eq!(
            hits.first().map(|h| h.service.name.as_str()),
            Some(want),
            "{q}: {:?}",
            names(&hits)
        );
    }
    assert!(
        catalog::search(&t.env, "Quantenphysik", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let long = "a".repeat(201);
    assert!(matches!(
        catalog::search(&t.env, &long, 10).await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test]
async fn a_service_shows_its_org_unit() {
    let t = seeded().await;
    let hit = &catalog::search(&t.env, "Hundesteuer", 1).await.unwrap()[0];
    let s = catalog::get(&t.env, hit.service.id).await.unwrap();
    let unit = s.org_unit.unwrap();
    assert_eq!(unit.key, "stadtkaemmerei");
    assert!(unit.address.contains("Friedensplatz"));
    assert!(!unit.opening_hours.is_empty());
    assert!(!unit.accessibility.is_empty());
    assert!(s.legal_basis.iter().any(|l| l.contains("KAG")));
    assert!(matches!(
        catalog::get(&t.env, 999_999).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn bad_input_is_refused_and_writes_nothing() {
    let t = setup().await;
    let bad = ServiceInput {
        leika: "1234".into(),
        name: "x".into(),
        fee_cents: Some(-5),
        duration_min: Some(1),
        org_unit: Some("gibt-es-nicht".into()),
        online: false,
        in_person: false,
        ..Default::default()
    };
    let p = problems(catalog::create(&t.env, &writer(), bad).await.unwrap_err());
    let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
    for f in [
        "leika",
        "name",
        "fee_cents",
        "duration_min",
        "org_unit",
        "in_person",
    ] {
        assert!(fields.contains(&f), "{f} missing in {p:?}");
    }
    assert!(catalog::list(&t.env).await.unwrap().is_empty());
    // The same LeiKa key twice.
    let s = services::demo::services().remove(0);
    catalog::create(&t.env, &writer(), s.clone()).await.unwrap();
    let p = problems(catalog::create(&t.env, &writer(), s).await.unwrap_err());
    assert_eq!(p[0].0, "leika");
    assert_eq!(catalog::list(&t.env).await.unwrap().len(), 1);
}

#[tokio::test]
async fn only_staff_of_the_org_unit_may_edit() {
    let t = seeded().await;
    let kasse = unit_id(&t, "stadtkaemmerei").await;
    let ordnung = unit_id(&t, "ordnungsamt").await;
    let dog = catalog::search(&t.env, "Hundesteuer", 1).await.unwrap()[0]
        .service
        .clone();
    let mut input = services::demo::services()
        .into_iter()
        .find(|s| s.leika == dog.leika)
        .unwrap();
    input.fee_text = "Steuer je Jahr: 160,00 Euro".into();
    for (actor, ok) in [
        (anonymous(), false),
        (resident(7), false),
        (staff(8, vec![ordnung]), false),
        (staff(9, vec![kasse]), true),
    ] {
        let r = catalog::update(&t.env, &actor, dog.id, input.clone()).await;
        assert_eq!(r.is_ok(), ok, "{:?}: {r:?}", actor.principal);
        let r = catalog::delete(&t.env, &actor, 999_999).await;
        assert!(r.is_err());
    }
    assert_eq!(
        catalog::get(&t.env, dog.id).await.unwrap().fee_text,
        "Steuer je Jahr: 160,00 Euro"
    );
    // Staff may not move a service into an org unit they do not work for.
    input.org_unit = Some("ordnungsamt".into());
    assert!(matches!(
        catalog::update(&t.env, &staff(9, vec![kasse]), dog.id, input).await,
        Err(Error::Forbidden(_))
    ));
    // Imports are for admins and the scope only.
    let export = serde_json::to_vec(&catalog::export(&t.env).await.unwrap()).unwrap();
    assert!(matches!(
        catalog::import_json(&t.env, &staff(9, vec![kasse]), &export).await,
        Err(Error::Forbidden(_))
    ));
    assert!(
        catalog::delete(&t.env, &staff(9, vec![kasse]), dog.id)
            .await
            .is_ok()
    );
    assert!(matches!(
        catalog::get(&t.env, dog.id).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn json_export_imports_into_another_city() {
    let a = seeded().await;
    let export = catalog::export(&a.env).await.unwrap();
    assert_eq!(export["format"], catalog::EXPORT_FORMAT);
    let bytes = serde_json::to_vec(&export).unwrap();
    // A city without these org units: they are created from the export.
    let b = {
        let tdb = TestDb::new().await;
        let env = Env::new(
            Config::default(),
            tdb.db.clone(),
            Arc::new(ManualClock::new(t0())),
            Arc::new(SeededRandom::new(6)),
        );
        (tdb, env)
    };
    let r = catalog::import_json(&b.1, &writer(), &bytes).await.unwrap();
    assert_eq!(r.created, services::demo::services().len());
    assert!(r.org_units_created >= 5);
    let again = catalog::export(&b.1).await.unwrap();
    assert_eq!(again["services"], export["services"]);
    // Importing again overwrites by LeiKa key.
    let r = catalog::import_json(&b.1, &writer(), &bytes).await.unwrap();
    assert_eq!(
        (r.created, r.updated),
        (0, services::demo::services().len())
    );
}

#[tokio::test]
async fn bad_json_imports_write_nothing() {
    let t = setup().await;
    for bad in [
        &b"{not json"[..],
        br#"{"format":"other/1","services":[]}"#,
        br#"{"format":"stadtkern-services/1","services":[]}"#,
        br#"{"format":"stadtkern-services/1","services":[{"leika":"99102013001000","name":"Gut"},{"leika":"12","name":"Schlecht"}]}"#,
        br#"{"format":"stadtkern-services/1","services":[{"leika":"99102013001000","name":"Gut","online":true,"unbekannt":1}]}"#,
        br#"{"format":"stadtkern-services/1","services":[{"leika":"99102013001000","name":"Gut","in_person":true,"org_unit":"fehlt"}]}"#,
    ] {
        let e = catalog::import_json(&t.env, &writer(), bad).await.unwrap_err();
        let p = problems(e);
        assert_eq!(p[0].0, "file", "{p:?}");
        assert!(!p[0].1.is_empty());
    }
    assert!(catalog::list(&t.env).await.unwrap().is_empty());
}

#[tokio::test]
async fn xzufi_import_creates_services_and_org_units() {
    let t = setup().await;
    let xml = include_bytes!("../fixtures/xzufi-sample.xml");
    let r = catalog::import_xzufi(&t.env, &writer(), xml).await.unwrap();
    assert!(r.created >= 2, "{r:?}");
    let all = catalog::list(&t.env).await.unwrap();
    assert_eq!(all.len(), r.created);
    assert!(all.iter().all(|s| s.leika.len() == 14));
    assert!(all.iter().any(|s| s.org_unit.is_some()));
    let hits = catalog::search(&t.env, "Personalausweis", 5).await.unwrap();
    assert!(!hits.is_empty());
    // Imported again: updated, not duplicated.
    let r2 = catalog::import_xzufi(&t.env, &writer(), xml).await.unwrap();
    assert_eq!((r2.created, r2.updated), (0, r.created));
    assert_eq!(catalog::list(&t.env).await.unwrap().len(), r.created);
}

#[tokio::test]
async fn malformed_xzufi_writes_nothing() {
    let t = setup().await;
    let xml = String::from_utf8(include_bytes!("../fixtures/xzufi-sample.xml").to_vec()).unwrap();
    let truncated = &xml[..xml.len() / 2];
    let wrong_root = "<?xml version=\"1.0\"?><a xmlns=\"urn:x\"/>";
    for bad in [truncated, wrong_root, "kein xml"] {
        let e = catalog::import_xzufi(&t.env, &writer(), bad.as_bytes())
            .await
            .unwrap_err();
        let p = problems(e);
        assert_eq!(p[0].0, "file");
    }
    assert!(catalog::list(&t.env).await.unwrap().is_empty());
    assert!(matches!(
        catalog::import_xzufi(&t.env, &anonymous(), xml.as_bytes()).await,
        Err(Error::Unauthorized(_))
    ));
}

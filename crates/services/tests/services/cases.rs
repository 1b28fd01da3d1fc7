//! Online application end to end on the domain: form, submission with attachment, invoice,
//! bank-statement reconciliation, decision, what the resident and others see.

use crate::*;
use kern::Error;
use serde_json::json;
use services::cases::{self, Application, Upload};
use services::payments;

fn definition() -> serde_json::Value {
    json!({
        "schema": {
            "type": "object",
            "properties": {
                "anzahl": { "type": "integer", "minimum": 1, "maximum": 5 },
                "rasse": { "type": "string", "enum": ["mischling", "dackel"] },
                "listenhund": { "type": "boolean" },
                "sachkunde": { "type": "boolean" }
            },
            "required": ["anzahl", "rasse"]
        },
        "layout": { "groups": [{
            "id": "hund", "title": { "de": "Ihr Hund" },
            "fields": [
                { "name": "anzahl", "label": { "de": "Anzahl der Hunde" } },
                { "name": "rasse", "label": { "de": "Rasse" }, "widget": "select" },
                { "name": "listenhund", "label": { "de": "Listenhund" }, "widget": "checkbox" },
                { "name": "sachkunde", "label": { "de": "Sachkundenachweis vorhanden" }, "widget": "checkbox",
                  "when": { "field": "listenhund", "equals": true } }
            ]
        }]},
        "attachments": [{ "name": "nachweis", "label": { "de": "Nachweis" }, "required": true,
                          "types": ["application/pdf"], "max_bytes": 1048576 }],
        "fee": { "kind": "computed", "base_cents": 0, "per": [{ "field": "anzahl", "cents": 9600 }] }
    })
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

fn camt(reference: &str, amount: &str, bank_ref: &str) -> Vec<u8> {
    format!(r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId></GrpHdr>
<Stmt><Id>S-{bank_ref}</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id></Acct>
<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-24</Dt></BookgDt>
<AcctSvcrRef>{bank_ref}</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Erika Mustermann</Nm></Dbtr></RltdPties>
<RmtInf><Strd><CdtrRefInf><Ref>{reference}</Ref></CdtrRefInf></Strd></RmtInf></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>"#).into_bytes()
}

fn treasury() -> Actor {
    Actor::new(
        Principal::Token(TokenPrincipal {
            id: 2,
            name: "kasse".into(),
            scopes: vec!["payments:write".parse().unwrap()],
        }),
        "127.0.0.1",
    )
}

#[tokio::test]
async fn apply_attach_pay_by_transfer_decide_and_see() {
    let t = setup().await;
    let dog = dog_service(&t).await;
    // A bad definition is refused with the problem named.
    let mut bad = definition();
    bad["schema"]["properties"]["anzahl"]["oneOf"] = json!([]);
    let e = cases::set_form(&t.env, &writer(), dog, &bad, 3650)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("oneOf"), "{e}");
    cases::set_form(&t.env, &writer(), dog, &definition(), 30)
        .await
        .unwrap();

    let resident_a = resident(101);
    let app = |attachments: Vec<Upload>, anzahl: i64| Application {
        service_id: dog,
        applicant_name: "Erika Mustermann".into(),
        applicant_email: "erika@example.org".into(),
        data: json!({ "anzahl": anzahl, "rasse": "dackel", "listenhund": false }),
        attachments,
    };
    // Missing attachment, wrong type, schema violation: clear errors, nothing written.
    let e = cases::submit(&t.env, &resident_a, app(vec![], 2))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    let png = Upload {
        name: "nachweis".into(),
        file_name: "n.pdf".into(),
        bytes: vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0],
    };
    let e = cases::submit(&t.env, &resident_a, app(vec![png], 2))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nachweis"), "{e}");
    let pdf = || Upload {
        name: "nachweis".into(),
        file_name: "nachweis.pdf".into(),
        bytes: PDF.to_vec(),
    };
    let e = cases::submit(&t.env, &resident_a, app(vec![pdf()], 9))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("anzahl"), "{e}");
    assert!(
        cases::inbox(&t.env, &writer_admin(), None)
            .await
            .unwrap()
            .is_empty()
    );

    let done = cases::submit(&t.env, &resident_a, app(vec![pdf()], 2))
        .await
        .unwrap();
    assert!(done.case.reference.starts_with("A-"));
    let invoice = done.invoice.clone().expect("fee");
    assert_eq!(invoice.amount_cents, 19_200);
    assert!(services::epc::valid_creditor_reference(&invoice.reference));

    // The resident sees the case with receipt and GiroCode; the QR payload decodes exactly.
    let v = cases::view(&t.env, &resident_a, done.case.id)
        .await
        .unwrap();
    assert_eq!(v.status, "received");
    assert!(
        v.documents
            .iter()
            .any(|d| d.slot == "receipt" && d.media_type == "application/pdf")
    );
    let giro = services::epc::parse(&v.invoices[0].epc_payload).unwrap();
    assert_eq!(giro.amount_cents, 19_200);
    assert_eq!(
        giro.remittance_reference.as_deref(),
        Some(invoice.reference.as_str())
    );
    // Anonymous follow-up with reference and secret; a wrong secret finds nothing.
    assert!(
        cases::view_with_secret(&t.env, &anonymous(), &done.case.reference, &done.secret)
            .await
            .is_ok()
    );
    assert!(
        cases::view_with_secret(&t.env, &anonymous(), &done.case.reference, "FALSCH")
            .await
            .is_err()
    );

    // Resident B and staff of another org unit never see it.
    let e = cases::view(&t.env, &resident(102), done.case.id)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    let ou = done.case.org_unit_id.unwrap();
    let other = staff(201, vec![ou + 1000]);
    assert!(matches!(
        cases::view(&t.env, &other, done.case.id).await.unwrap_err(),
        Error::NotFound(_)
    ));
    assert!(cases::inbox(&t.env, &other, None).await.unwrap().is_empty());
    let clerk = staff(200, vec![ou]);
    assert_eq!(cases::inbox(&t.env, &clerk, None).await.unwrap().len(), 1);
    // A resident may not import statements.
    assert!(
        payments::import_camt(
            &t.env,
            &resident_a,
            &camt(&invoice.reference, "192.00", "B1")
        )
        .await
        .is_err()
    );

    // Approval waits for the fee.
    let e = cases::decide(
        &t.env,
        &clerk,
        done.case.id,
        "approved",
        "Alles vollständig.",
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");

    // Malformed CAMT: rejected, nothing booked.
    assert!(
        payments::import_camt(&t.env, &treasury(), b"<Document><oops")
            .await
            .is_err()
    );
    let r = payments::import_camt(
        &t.env,
        &treasury(),
        &camt(&invoice.reference, "192.00", "B1"),
    )
    .await
    .unwrap();
    assert_eq!(r.matched, 1);
    let again = payments::import_camt(
        &t.env,
        &treasury(),
        &camt(&invoice.reference, "192.00", "B1"),
    )
    .await
    .unwrap();
    assert_eq!((again.matched, again.duplicates), (0, 1));
    let unknown = payments::import_camt(
        &t.env,
        &treasury(),
        &camt("RF18539007547034", "10.00", "B2"),
    )
    .await
    .unwrap();
    assert_eq!(unknown.unknown.len(), 1);
    let twice = payments::import_camt(
        &t.env,
        &treasury(),
        &camt(&invoice.reference, "192.00", "B3"),
    )
    .await
    .unwrap();
    assert_eq!(twice.already_paid, 1);
    assert_eq!(
        payments::open_items(&t.env, &treasury())
            .await
            .unwrap()
            .len(),
        2
    );

    cases::set_status(&t.env, &clerk, done.case.id, "in_review", "")
        .await
        .unwrap();
    cases::note(&t.env, &clerk, done.case.id, "Intern: Rasse geprüft")
        .await
        .unwrap();
    cases::message(&t.env, &clerk, done.case.id, "Wir prüfen Ihren Antrag.")
        .await
        .unwrap();
    cases::decide(
        &t.env,
        &clerk,
        done.case.id,
        "approved",
        "Alles vollständig.",
    )
    .await
    .unwrap();

    let v = cases::view(&t.env, &resident_a, done.case.id)
        .await
        .unwrap();
    assert_eq!(
        (v.status.as_str(), v.decision.as_deref()),
        ("decided", Some("approved"))
    );
    assert!(v.documents.iter().any(|d| d.slot == "decision"));
    assert!(v.invoices[0].status == "paid");
    assert!(v.events.iter().any(|e| e.body.contains("Wir prüfen")));
    assert!(
        !v.events.iter().any(|e| e.body.contains("Intern")),
        "notes stay internal"
    );

    // Close, export to the archive, and delete after the retention period.
    cases::close(&t.env, &clerk, done.case.id).await.unwrap();
    let (name, zip) = cases::export_xdomea(&t.env, &clerk, done.case.id)
        .await
        .unwrap();
    assert!(name.ends_with(".zip") && zip.starts_with(b"PK"));
    assert_eq!(cases::delete_expired(&t.env).await.unwrap(), 0);
    t.clock.advance(chrono::Duration::days(31));
    assert_eq!(cases::delete_expired(&t.env).await.unwrap(), 1);
    assert!(
        store::cases::case(&t.env.db, done.case.id)
            .await
            .unwrap()
            .is_none()
    );
}

fn writer_admin() -> Actor {
    Actor::new(
        Principal::Token(TokenPrincipal {
            id: 3,
            name: "admin".into(),
            scopes: vec!["admin".parse().unwrap()],
        }),
        "127.0.0.1",
    )
}

#[test]
fn the_demo_forms_are_valid_definitions() {
    for d in [
        services::demo::dog_tax_form(),
        services::demo::parking_form(),
    ] {
        services::forms::FormDef::parse(&d).unwrap_or_else(|p| panic!("{p:?}"));
    }
}

/// The demo services, with the dog-tax service's id.
async fn dog_service(t: &T) -> i64 {
    let mut dog = None;
    for s in services::demo::services() {
        let leika = s.leika.clone();
        let id = services::catalog::create(&t.env, &writer(), s)
            .await
            .unwrap();
        if leika == "99108001001000" {
            dog = Some(id);
        }
    }
    dog.unwrap()
}

async fn apply_once(t: &T, service_id: i64) -> cases::Submitted {
    cases::submit(
        &t.env,
        &anonymous(),
        Application {
            service_id,
            applicant_name: "Erika Mustermann".into(),
            applicant_email: "erika@example.org".into(),
            data: json!({ "anzahl": 1, "rasse": "dackel", "listenhund": false }),
            attachments: vec![Upload {
                name: "nachweis".into(),
                file_name: "nachweis.pdf".into(),
                bytes: PDF.to_vec(),
            }],
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn wrong_access_codes_are_throttled_per_reference_and_address() {
    let t = setup().await;
    let dog = dog_service(&t).await;
    cases::set_form(&t.env, &writer(), dog, &definition(), 30)
        .await
        .unwrap();
    let done = apply_once(&t, dog).await;
    let reference = done.case.reference.as_str();
    let from = |address: &str| Actor::new(kern::Principal::Anonymous, address);
    // A correct code never counts; five wrong ones are answered as "not found".
    for _ in 0..3 {
        cases::view_with_secret(&t.env, &from("10.0.0.1"), reference, &done.secret)
            .await
            .unwrap();
    }
    for _ in 0..5 {
        let e = cases::view_with_secret(&t.env, &from("10.0.0.1"), reference, "FALSCH1234")
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
    }
    // The sixth check of this reference is refused, even with the right code and from another
    // address, until the window has passed.
    for address in ["10.0.0.1", "10.0.0.2"] {
        let e = cases::view_with_secret(&t.env, &from(address), reference, &done.secret)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::TooManyRequests { .. }), "{e}");
    }
    // Other references from an untouched address are still answered.
    assert!(matches!(
        cases::view_with_secret(&t.env, &from("10.0.0.3"), "A-00000000", "X")
            .await
            .unwrap_err(),
        Error::NotFound(_)
    ));
    t.clock.advance(chrono::Duration::minutes(16));
    let v = cases::view_with_secret(&t.env, &from("10.0.0.2"), reference, &done.secret)
        .await
        .unwrap();
    assert_eq!(v.reference, reference);
}

#[tokio::test]
async fn a_service_works_its_cases_through_its_own_workflow() {
    let t = setup().await;
    let dog = dog_service(&t).await;
    // Bad workflows are refused with the problem named.
    for (workflow, problem) in [
        (
            json!({ "states": ["received", "closed"] }),
            "`decided` is required",
        ),
        (
            json!({ "states": ["received", "archived", "decided", "closed"] }),
            "`archived` does not exist",
        ),
        (
            json!({ "states": ["received", "decided", "closed"], "labels": { "in_review": { "de": "Prüfung" } } }),
            "not a state of this workflow",
        ),
        (json!({ "processing_days": 0 }), "processing_days"),
        (json!({ "steps": [] }), "steps"),
    ] {
        let mut def = definition();
        def["workflow"] = workflow;
        let e = cases::set_form(&t.env, &writer(), dog, &def, 30)
            .await
            .unwrap_err();
        assert!(e.to_string().contains(problem), "{problem}: {e}");
    }
    // No review step, its own name for "missing documents", ten days to process.
    let mut def = definition();
    def["workflow"] = json!({
        "states": ["received", "missing_documents", "decided", "closed"],
        "labels": { "missing_documents": { "de": "Nachweis fehlt", "en": "Proof missing" } },
        "processing_days": 10
    });
    cases::set_form(&t.env, &writer(), dog, &def, 30)
        .await
        .unwrap();
    let done = apply_once(&t, dog).await;
    assert_eq!(done.case.deadline.as_deref(), Some("2026-12-03"));
    let staff = writer_admin();
    let v = cases::view(&t.env, &staff, done.case.id).await.unwrap();
    let next: Vec<&str> = v.next_states.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(next, ["missing_documents"]);
    assert_eq!(
        v.next_states[0].text.as_ref().map(|t| t.de.as_str()),
        Some("Nachweis fehlt")
    );
    let e = cases::set_status(&t.env, &staff, done.case.id, "in_review", "")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Conflict(m) if m.contains("gibt es bei dieser Leistung nicht")),
        "{e}"
    );
    cases::set_status(
        &t.env,
        &staff,
        done.case.id,
        "missing_documents",
        "Bitte den Nachweis.",
    )
    .await
    .unwrap();
    let v = cases::view_with_secret(&t.env, &anonymous(), &done.case.reference, &done.secret)
        .await
        .unwrap();
    assert_eq!(v.status, "missing_documents");
    assert_eq!(
        v.status_text.as_ref().map(|t| t.de.as_str()),
        Some("Nachweis fehlt")
    );
    assert!(
        v.events
            .iter()
            .any(|e| e.body.contains("Stand: Nachweis fehlt"))
    );
    // From there the case can only be decided: there is no review step to go back to.
    let v = cases::view(&t.env, &staff, done.case.id).await.unwrap();
    assert!(v.next_states.is_empty(), "no review step to go back to");
}

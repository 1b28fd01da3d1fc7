//! The demo city's service catalog: common services of a German city hall on the demo org
//! units. LeiKa keys follow the catalog's 14-digit form; the texts are our own.

use crate::appointments::{self, NewOffice, Opening};
use crate::catalog::{self, ServiceInput};
use kern::Result;
use platform::{Actor, Env};

pub const SEEDER: platform::demo::Seeder = platform::demo::Seeder {
    name: "services",
    run: |env| Box::pin(seed(env)),
};

#[allow(clippy::too_many_arguments)]
fn s(
    leika: &str,
    name: &str,
    description: &str,
    documents: &[&str],
    fee: (&str, Option<i64>),
    legal: &[&str],
    time: &str,
    online: bool,
    unit: &str,
    keywords: &str,
    minutes: i64,
) -> ServiceInput {
    ServiceInput {
        leika: leika.into(),
        name: name.into(),
        description: description.into(),
        documents: documents.iter().map(|d| d.to_string()).collect(),
        fee_text: fee.0.into(),
        fee_cents: fee.1,
        legal_basis: legal.iter().map(|d| d.to_string()).collect(),
        processing_time: time.into(),
        online,
        in_person: true,
        org_unit: Some(unit.into()),
        keywords: keywords.into(),
        duration_min: Some(minutes),
    }
}

/// The demo services.
pub fn services() -> Vec<ServiceInput> {
    vec![
        s(
            "99102013001000",
            "Personalausweis beantragen",
            "Deutsche ab 16 Jahren müssen einen gültigen Personalausweis oder Reisepass besitzen. Den Antrag stellen Sie persönlich im Bürgerdienst; Fingerabdrücke werden vor Ort erfasst.",
            &[
                "Bisheriger Personalausweis oder Reisepass",
                "Ein aktuelles biometrisches Lichtbild",
                "Bei Namensänderung: Urkunde",
            ],
            ("37,00 Euro; unter 24 Jahren 22,80 Euro", Some(3700)),
            &[
                "Personalausweisgesetz (PAuswG)",
                "Personalausweisgebührenverordnung (PAuswGebV)",
            ],
            "etwa 3 bis 4 Wochen",
            false,
            "buergerdienste",
            "Ausweis Perso Identitätskarte eID",
            20,
        ),
        s(
            "99102013002000",
            "Reisepass beantragen",
            "Für Reisen in viele Länder außerhalb der EU brauchen Sie einen Reisepass. Beantragen Sie ihn persönlich; für Kinder gibt es den Kinderreisepass.",
            &[
                "Bisheriger Pass oder Personalausweis",
                "Ein aktuelles biometrisches Lichtbild",
            ],
            ("70,00 Euro; unter 24 Jahren 37,50 Euro", Some(7000)),
            &["Passgesetz (PassG)", "Passverordnung (PassV)"],
            "etwa 4 bis 6 Wochen",
            false,
            "buergerdienste",
            "Pass Ausreise Kinderreisepass",
            20,
        ),
        s(
            "99115001001000",
            "Wohnsitz anmelden",
            "Wer in eine Wohnung einzieht, meldet sich innerhalb von zwei Wochen an. Die Anmeldung ist online mit der Online-Ausweisfunktion oder persönlich möglich.",
            &[
                "Personalausweis oder Reisepass",
                "Wohnungsgeberbestätigung des Vermieters",
            ],
            ("gebührenfrei", Some(0)),
            &["Bundesmeldegesetz (BMG) § 17"],
            "sofort",
            true,
            "buergerdienste",
            "Anmeldung Ummeldung Umzug Meldebescheinigung",
            15,
        ),
        s(
            "99115005001000",
            "Meldebescheinigung ausstellen",
            "Die Meldebescheinigung bestätigt Ihre Wohnanschrift, etwa für Behörden oder den Arbeitgeber.",
            &["Personalausweis oder Reisepass"],
            ("10,00 Euro", Some(1000)),
            &["Bundesmeldegesetz (BMG) § 18"],
            "sofort",
            true,
            "buergerdienste",
            "Wohnsitzbescheinigung Meldebestätigung",
            10,
        ),
        s(
            "99034002001000",
            "Führungszeugnis beantragen",
            "Ein Führungszeugnis brauchen Sie etwa für Arbeitgeber oder ehrenamtliche Tätigkeiten mit Kindern. Es wird vom Bundesamt für Justiz ausgestellt.",
            &["Personalausweis oder Reisepass"],
            ("13,00 Euro", Some(1300)),
            &["Bundeszentralregistergesetz (BZRG) § 30"],
            "etwa 2 Wochen",
            true,
            "buergerdienste",
            "polizeiliches Führungszeugnis erweitertes",
            10,
        ),
        s(
            "99058001001000",
            "Bewohnerparkausweis beantragen",
            "Anwohnerinnen und Anwohner in Bewohnerparkzonen können einen Parkausweis für ihr Fahrzeug erhalten. Er gilt ein Jahr in der eigenen Zone.",
            &[
                "Fahrzeugschein (Zulassungsbescheinigung Teil I)",
                "Bei Firmen- oder Leihwagen: Nutzungsbestätigung",
            ],
            ("120,00 Euro je Jahr", Some(12000)),
            &[
                "Straßenverkehrsgesetz (StVG) § 6a",
                "Bewohnerparkgebührenordnung der Stadt",
            ],
            "etwa 1 Woche",
            true,
            "ordnungsamt",
            "Anwohnerparken Anwohnerparkausweis Parkausweis Parkplakette",
            15,
        ),
        s(
            "99108001001000",
            "Hundesteuer an- und abmelden",
            "Wer in der Stadt einen Hund hält, meldet ihn innerhalb von zwei Wochen zur Hundesteuer an und erhält eine Hundesteuermarke. Bei Abgabe oder Tod des Hundes melden Sie ihn ab.",
            &[
                "Bei Abmeldung: Nachweis über Abgabe oder Tod",
                "Für gefährliche Hunde: Erlaubnis nach Landeshundegesetz",
            ],
            ("Steuer je Jahr: 156,00 Euro für den ersten Hund", None),
            &[
                "Kommunalabgabengesetz NRW (KAG NRW)",
                "Hundesteuersatzung der Stadt",
            ],
            "etwa 2 Wochen",
            true,
            "stadtkaemmerei",
            "Hund Hundemarke Steuermarke Hundeanmeldung",
            10,
        ),
        s(
            "99012016001000",
            "Sperrmüllabholung anmelden",
            "Sperrige Abfälle wie Möbel und Matratzen holt die Stadtreinigung nach Anmeldung vor Ihrer Haustür ab; zweimal im Jahr kostenlos.",
            &[],
            ("zweimal im Jahr gebührenfrei, danach 50,00 Euro", Some(0)),
            &[
                "Kreislaufwirtschaftsgesetz (KrWG)",
                "Abfallsatzung der Stadt",
            ],
            "Abholtermin innerhalb von 3 Wochen",
            true,
            "umweltamt",
            "Sperrmüll Möbel Entsorgung Abholung Sperrgut",
            10,
        ),
        s(
            "99050012104000",
            "Baugenehmigung beantragen",
            "Für die Errichtung, Änderung oder Nutzungsänderung baulicher Anlagen brauchen Sie in der Regel eine Baugenehmigung. Den Bauantrag reicht eine bauvorlageberechtigte Person ein.",
            &[
                "Bauantragsformular",
                "Lageplan",
                "Bauzeichnungen",
                "Baubeschreibung",
                "Standsicherheitsnachweis",
            ],
            ("nach Baukosten, mindestens 100,00 Euro", None),
            &["Landesbauordnung NRW (BauO NRW 2018) § 64"],
            "3 Monate nach Vollständigkeit",
            true,
            "stadtplanung",
            "Bauantrag bauen Anbau Garage",
            30,
        ),
        s(
            "99058005001000",
            "Sondernutzung öffentlicher Straßen beantragen",
            "Wer eine Straße über den Gemeingebrauch hinaus nutzt, etwa für einen Umzugswagen, ein Gerüst oder Außengastronomie, braucht eine Sondernutzungserlaubnis.",
            &["Lageplan mit der genutzten Fläche", "Zeitraum der Nutzung"],
            ("nach Fläche und Dauer, ab 25,00 Euro", None),
            &[
                "Straßen- und Wegegesetz NRW (StrWG NRW) § 18",
                "Sondernutzungssatzung der Stadt",
            ],
            "etwa 2 Wochen",
            true,
            "tiefbauamt",
            "Halteverbot Umzug Gerüst Container Außengastronomie",
            15,
        ),
        s(
            "99072001001000",
            "Gewerbe anmelden",
            "Wer ein Gewerbe beginnt, zeigt es beim Gewerbeamt an. Die Anmeldung geht online oder persönlich.",
            &[
                "Personalausweis oder Reisepass",
                "Bei Handwerk: Eintragung in die Handwerksrolle",
                "Bei erlaubnispflichtigem Gewerbe: Erlaubnis",
            ],
            ("26,00 Euro", Some(2600)),
            &["Gewerbeordnung (GewO) § 14"],
            "sofort",
            true,
            "ordnungsamt",
            "Gewerbeanmeldung Selbstständigkeit Firma gründen",
            20,
        ),
        s(
            "99108015001000",
            "Kita-Platz anfragen",
            "Eltern melden den Betreuungsbedarf für Kinder ab einem Jahr über die Kita-Platzvergabe der Stadt an.",
            &["Geburtsurkunde oder Meldebescheinigung des Kindes"],
            ("gebührenfrei (Elternbeiträge nach Einkommen)", Some(0)),
            &[
                "Sozialgesetzbuch VIII § 24",
                "Kinderbildungsgesetz NRW (KiBiz)",
            ],
            "Zusage in der Regel bis zum Frühjahr",
            true,
            "buergerdienste",
            "Kindergarten Kindertagesstätte Betreuung",
            15,
        ),
    ]
}

fn week(from: &str, to: &str, thursday_to: &str) -> Vec<Opening> {
    (1..=5)
        .map(|d| Opening {
            weekday: d,
            open: from.into(),
            close: if d == 4 { thursday_to } else { to }.into(),
        })
        .collect()
}

async fn seed(env: &Env) -> Result<()> {
    let actor = Actor::system();
    let mut ids = std::collections::BTreeMap::new();
    for s in services() {
        let leika = s.leika.clone();
        ids.insert(leika, catalog::create(env, &actor, s).await?);
    }
    // Two offices with appointments: the citizens' office and the public-order service centre.
    let offices = [
        (
            "buergerdienste",
            "Bürgerbüro Mitte",
            3,
            10,
            week("08:00", "16:00", "18:00"),
            vec![
                ("99102013001000", 20),
                ("99102013002000", 20),
                ("99115001001000", 10),
                ("99115005001000", 10),
                ("99034002001000", 10),
            ],
        ),
        (
            "ordnungsamt",
            "Servicecenter Ordnungsamt",
            2,
            15,
            week("08:00", "14:00", "14:00"),
            vec![("99058001001000", 15), ("99072001001000", 30)],
        ),
    ];
    for (unit, name, counters, slot, opening, offered) in offices {
        let o = appointments::create_office(
            env,
            &actor,
            NewOffice {
                org_unit: unit.into(),
                name: name.into(),
                address: String::new(),
                counters,
                slot_min: slot,
                opening,
            },
        )
        .await?;
        for (leika, minutes) in offered {
            if let Some(id) = ids.get(leika) {
                appointments::offer(env, &actor, o, *id, minutes).await?;
            }
        }
    }
    // Online forms: dog tax registration (fee per dog) and the resident parking permit.
    for (leika, definition, retention_days) in [
        ("99108001001000", dog_tax_form(), 3650),
        ("99058001001000", parking_form(), 1095),
    ] {
        if let Some(id) = ids.get(leika) {
            crate::cases::set_form(env, &actor, *id, &definition, retention_days).await?;
        }
    }
    // One application waiting in the Ordnungsamt's inbox, so the case file has something to
    // show; its proof of insurance is a generated PDF.
    if let Some(id) = ids.get("99108001001000") {
        let proof = crate::pdf::render(
            &crate::pdf::Document {
                title: "Versicherungsbestätigung".into(),
                author: "Beispiel-Versicherung".into(),
                lang: "de".into(),
                blocks: vec![
                    crate::pdf::Block::Heading("Bestätigung der Hundehalter-Haftpflicht".into()),
                    crate::pdf::Block::Paragraph(
                        "Für den Hund der Versicherungsnehmerin besteht eine Haftpflichtversicherung.".into(),
                    ),
                ],
            },
            env.now(),
        );
        crate::cases::submit(
            env,
            &Actor::new(kern::Principal::Anonymous, "demo"),
            crate::cases::Application {
                service_id: *id,
                applicant_name: "Erika Mustermann".into(),
                applicant_email: "erika.mustermann@example.org".into(),
                data: serde_json::json!({
                    "geburtsdatum": "1984-03-12",
                    "anschrift": "Hansaplatz 1, 44137 Musterstadt",
                    "anzahl": 1,
                    "rasse": "labrador",
                    "listenhund": false
                }),
                attachments: vec![crate::cases::Upload {
                    name: "nachweis".into(),
                    file_name: "versicherung.pdf".into(),
                    bytes: proof,
                }],
            },
        )
        .await?;
    }
    Ok(())
}

/// The demo's dog-tax registration form.
pub fn dog_tax_form() -> serde_json::Value {
    serde_json::json!({
        "schema": {
            "type": "object",
            "properties": {
                "geburtsdatum": { "type": "string", "format": "date" },
                "anschrift": { "type": "string", "minLength": 5, "maxLength": 200 },
                "anzahl": { "type": "integer", "minimum": 1, "maximum": 5 },
                "rasse": { "type": "string", "enum": ["mischling", "dackel", "labrador", "andere"] },
                "listenhund": { "type": "boolean" },
                "sachkunde": { "type": "boolean" },
                "iban": { "type": "string", "format": "iban" }
            },
            "required": ["geburtsdatum", "anschrift", "anzahl", "rasse"]
        },
        "layout": { "groups": [
            { "id": "halter", "title": { "de": "Halterin oder Halter", "en": "Keeper" }, "fields": [
                { "name": "geburtsdatum", "label": { "de": "Geburtsdatum", "en": "Date of birth" }, "widget": "date", "autocomplete": "bday" },
                { "name": "anschrift", "label": { "de": "Anschrift", "en": "Address" }, "widget": "textarea",
                  "help": { "de": "Straße, Hausnummer, Postleitzahl und Ort", "en": "Street, number, postcode and town" } }
            ]},
            { "id": "hunde", "title": { "de": "Ihre Hunde", "en": "Your dogs" }, "fields": [
                { "name": "anzahl", "label": { "de": "Anzahl der Hunde", "en": "Number of dogs" }, "widget": "number" },
                { "name": "rasse", "label": { "de": "Rasse", "en": "Breed" }, "widget": "select", "options": {
                    "mischling": { "de": "Mischling", "en": "Mixed breed" }, "dackel": { "de": "Dackel", "en": "Dachshund" },
                    "labrador": { "de": "Labrador", "en": "Labrador" }, "andere": { "de": "andere Rasse", "en": "other breed" } } },
                { "name": "listenhund", "label": { "de": "Es ist ein gefährlicher Hund nach Landeshundegesetz", "en": "It is a dangerous dog under the state dog act" }, "widget": "checkbox" },
                { "name": "sachkunde", "label": { "de": "Sachkundenachweis liegt vor", "en": "Proof of competence available" }, "widget": "checkbox",
                  "when": { "field": "listenhund", "equals": true },
                  "help": { "de": "Nur bei gefährlichen Hunden.", "en": "Only for dangerous dogs." } }
            ]},
            { "id": "zahlung", "title": { "de": "SEPA-Lastschrift (freiwillig)", "en": "SEPA direct debit (optional)" }, "fields": [
                { "name": "iban", "label": { "de": "IBAN", "en": "IBAN" }, "autocomplete": "off" }
            ]}
        ]},
        "attachments": [
            { "name": "nachweis", "label": { "de": "Nachweis der Haftpflichtversicherung", "en": "Proof of liability insurance" },
              "required": true, "types": ["application/pdf", "image/jpeg", "image/png"], "max_bytes": 5242880 }
        ],
        "fee": { "kind": "computed", "base_cents": 0, "per": [{ "field": "anzahl", "cents": 1500 }] },
        "workflow": {
            "labels": { "in_review": { "de": "Prüfung durch die Steuerabteilung", "en": "Checked by the tax office" } },
            "processing_days": 14
        }
    })
}

/// The demo's resident parking permit form.
pub fn parking_form() -> serde_json::Value {
    serde_json::json!({
        "schema": {
            "type": "object",
            "properties": {
                "kennzeichen": { "type": "string", "pattern": "^[A-ZÄÖÜ]{1,3}-[A-Z]{1,2} ?[0-9]{1,4}[EH]?$", "maxLength": 12 },
                "zone": { "type": "string", "enum": ["A", "B", "C"] },
                "halter": { "type": "boolean" }
            },
            "required": ["kennzeichen", "zone"]
        },
        "layout": { "groups": [
            { "id": "fahrzeug", "title": { "de": "Fahrzeug", "en": "Vehicle" }, "fields": [
                { "name": "kennzeichen", "label": { "de": "Kennzeichen", "en": "Number plate" },
                  "help": { "de": "zum Beispiel DO-AB 123", "en": "for example DO-AB 123" } },
                { "name": "zone", "label": { "de": "Bewohnerparkzone", "en": "Resident parking zone" }, "widget": "radio" },
                { "name": "halter", "label": { "de": "Ich bin Halterin oder Halter des Fahrzeugs", "en": "I am the vehicle's keeper" }, "widget": "checkbox" }
            ]}
        ]},
        "attachments": [
            { "name": "fahrzeugschein", "label": { "de": "Zulassungsbescheinigung Teil I", "en": "Vehicle registration certificate part I" },
              "required": true, "types": ["application/pdf", "image/jpeg", "image/png"], "max_bytes": 5242880 }
        ],
        "fee": { "kind": "fixed", "cents": 3000 },
        "workflow": {
            "states": ["received", "missing_documents", "decided", "closed"],
            "processing_days": 5
        }
    })
}

//! The public feeds: no personal data, iCalendar format, DATEX II structure parsed back.

use crate::*;
use cityops::feeds::{self, Publisher};
use cityops::roadworks::{self, Step};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// One element of a parsed document: namespace, local name, attributes, text, children.
#[derive(Debug, Default, Clone)]
pub struct Node {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn all(&self, name: &str) -> Vec<&Node> {
        self.children.iter().filter(|c| c.name == name).collect()
    }
    /// Every descendant (depth first) with this local name.
    pub fn find(&self, name: &str) -> Vec<&Node> {
        let mut out = Vec::new();
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            out.extend(c.find(name));
        }
        out
    }
}

/// Parses a whole document with namespace resolution; panics on anything malformed (unclosed
/// or mismatched tags, unbound prefixes, bad escapes, a second root).
pub fn parse_xml(xml: &str) -> Node {
    let mut r = NsReader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let (ns, ev) = r.read_resolved_event().expect("well-formed XML");
        let ns = match ns {
            ResolveResult::Bound(n) => n.0.to_string(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(p) => panic!("unbound prefix {p:?}"),
        };
        match ev {
            Event::Start(e) => open(&mut stack, &root, ns, &e),
            Event::Empty(e) => {
                open(&mut stack, &root, ns, &e);
                close(&mut stack, &mut root);
            }
            Event::End(_) => close(&mut stack, &mut root),
            Event::Text(t) => {
                let s = t.xml10_content().into_owned();
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None => assert!(s.trim().is_empty(), "text outside the root: {s}"),
                }
            }
            Event::GeneralRef(g) => {
                let name = g.into_inner().into_owned();
                let c = match name.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unknown entity {other}"),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed elements");
    root.expect("a root element")
}

fn open(stack: &mut Vec<Node>, root: &Option<Node>, ns: String, e: &BytesStart) {
    assert!(
        !(stack.is_empty() && root.is_some()),
        "a second root element"
    );
    let mut n = Node {
        ns,
        name: e.local_name().as_ref().to_string(),
        ..Node::default()
    };
    for a in e.attributes() {
        let a = a.expect("attribute");
        n.attrs.push((
            a.key.as_ref().to_string(),
            a.normalized_value(XmlVersion::Implicit1_0)
                .expect("escaped value")
                .into_owned(),
        ));
    }
    stack.push(n);
}

fn close(stack: &mut Vec<Node>, root: &mut Option<Node>) {
    let n = stack.pop().expect("balanced tags");
    match stack.last_mut() {
        Some(p) => p.children.push(n),
        None => *root = Some(n),
    }
}

async fn published(t: &T) -> Vec<roadworks::PublicWorks> {
    let sys = platform::Actor::system();
    let a = Application {
        title: "Fernwärme & Gas; \"Ost\", Teil 1".into(),
        closure: "full".into(),
        ..application(t, hohe(), -2, 30)
    };
    let (id, _) = roadworks::apply(&t.env, &staff(), a).await.unwrap();
    roadworks::step(
        &t.env,
        &sys,
        id,
        Step::Approve {
            note: String::new(),
        },
    )
    .await
    .unwrap();
    let poly = r#"{"type":"Polygon","coordinates":[[[7.4500,51.5000],[7.4510,51.5000],[7.4510,51.5005],[7.4500,51.5000]]]}"#;
    let (id2, _) = roadworks::apply(&t.env, &staff(), application(t, poly.into(), 10, 12))
        .await
        .unwrap();
    roadworks::step(
        &t.env,
        &sys,
        id2,
        Step::Approve {
            note: String::new(),
        },
    )
    .await
    .unwrap();
    // An application not yet decided stays out of every public view.
    roadworks::apply(&t.env, &staff(), application(t, hohe(), 50, 60))
        .await
        .unwrap();
    roadworks::public_list(&t.env).await.unwrap()
}

#[tokio::test]
async fn public_views_carry_no_personal_data() {
    let t = setup().await;
    let works = published(&t).await;
    assert_eq!(works.len(), 2);
    assert_eq!(works[0].phase, "current");
    assert_eq!(works[1].phase, "planned");
    let publisher = Publisher {
        country: "de".into(),
        national_identifier: "DE-MUSTERSTADT".into(),
    };
    let outputs = [
        serde_json::to_string(&works).unwrap(),
        feeds::geojson(&works).to_string(),
        feeds::ical(&works, t.env.now(), "example.org", "Musterstadt"),
        feeds::datex_situations(
            &works,
            t.env.now(),
            &publisher,
            &roadworks::projection(&t.env),
        ),
    ];
    for out in outputs {
        for secret in ["Kortmann", "dew21.example", "5440"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
    }
    let gj = feeds::geojson(&works);
    assert_eq!(gj["type"], "FeatureCollection");
    assert_eq!(gj["features"].as_array().unwrap().len(), 2);
    assert_eq!(gj["features"][0]["geometry"]["type"], "LineString");
}

#[tokio::test]
async fn icalendar_follows_rfc_5545() {
    let t = setup().await;
    let works = published(&t).await;
    let ics = feeds::ical(&works, t.env.now(), "example.org", "Musterstadt");
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"));
    assert!(ics.ends_with("END:VCALENDAR\r\n"));
    // Every line ends with CRLF, none is longer than 75 octets, no bare LF.
    assert!(!ics.replace("\r\n", "").contains('\n'));
    for l in ics.split("\r\n") {
        assert!(l.len() <= 75, "{} octets: {l}", l.len());
    }
    let unfolded = ics.replace("\r\n ", "");
    let lines: Vec<&str> = unfolded.split("\r\n").collect();
    assert_eq!(lines.iter().filter(|l| **l == "BEGIN:VEVENT").count(), 2);
    let id = works[0].id;
    assert!(lines.contains(&format!("UID:roadworks-{id}@example.org").as_str()));
    assert!(lines.contains(&"DTSTAMP:20261122T100000Z"));
    assert!(lines.contains(&"DTSTART;VALUE=DATE:20261120"));
    // The end is exclusive: the day after the last day (22 Nov + 30 days = 22 Dec).
    assert!(lines.contains(&"DTEND;VALUE=DATE:20261223"), "{unfolded}");
    let summary = lines.iter().find(|l| l.starts_with("SUMMARY:")).unwrap();
    assert_eq!(
        *summary,
        "SUMMARY:Baustelle: Fernwärme & Gas\\; \"Ost\"\\, Teil 1 (Hohe Straße)"
    );
    assert!(lines.iter().any(|l| l.starts_with("GEO:51.50")));
}

#[tokio::test]
async fn datex_situation_publication_parses_back() {
    let t = setup().await;
    let works = published(&t).await;
    let publisher = Publisher {
        country: "de".into(),
        national_identifier: "DE-MUSTERSTADT".into(),
    };
    let xml = feeds::datex_situations(
        &works,
        t.env.now(),
        &publisher,
        &roadworks::projection(&t.env),
    );
    let root = parse_xml(&xml);
    assert_eq!(
        (root.ns.as_str(), root.name.as_str()),
        (feeds::NS_D2, "payload")
    );
    assert_eq!(root.attr("xsi:type"), Some("sit:SituationPublication"));
    assert_eq!(root.attr("xmlns:sit"), Some(feeds::NS_SIT));
    assert_eq!(root.attr("xmlns:com"), Some(feeds::NS_COM));
    assert_eq!(root.attr("xmlns:loc"), Some(feeds::NS_LOC));
    assert_eq!(root.attr("modelBaseVersion"), Some("3"));
    let first: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(&first[..2], &["publicationTime", "publicationCreator"]);
    assert_eq!(root.child("publicationTime").unwrap().ns, feeds::NS_COM);
    assert_eq!(
        root.child("publicationTime").unwrap().text,
        "2026-11-22T10:00:00Z"
    );
    let creator = root.child("publicationCreator").unwrap();
    assert_eq!(creator.child("country").unwrap().text, "de");
    assert_eq!(
        creator.child("nationalIdentifier").unwrap().text,
        "DE-MUSTERSTADT"
    );
    let situations = root.all("situation");
    assert_eq!(situations.len(), 2);
    assert!(situations.iter().all(|s| s.ns == feeds::NS_SIT));
    // The full closure: works plus road closed; the lane closure: works plus lane closures.
    let types = |s: &Node| -> Vec<String> {
        s.all("situationRecord")
            .iter()
            .map(|r| r.attr("xsi:type").unwrap().to_string())
            .collect()
    };
    assert_eq!(
        types(situations[0]),
        vec![
            "sit:MaintenanceWorks",
            "sit:RoadOrCarriagewayOrLaneManagement"
        ]
    );
    let rec = situations[0].all("situationRecord")[0];
    let spec = rec.find("validityTimeSpecification")[0];
    assert_eq!(spec.ns, feeds::NS_COM);
    assert_eq!(
        spec.child("overallStartTime").unwrap().text,
        "2026-11-20T00:00:00Z"
    );
    assert_eq!(
        spec.child("overallEndTime").unwrap().text,
        "2026-12-23T00:00:00Z"
    );
    let loc = rec.child("locationReference").unwrap();
    assert_eq!(loc.attr("xsi:type"), Some("loc:SingleRoadLinearLocation"));
    let pos = &loc.find("posList")[0];
    assert_eq!(pos.ns, feeds::NS_LOC);
    let numbers: Vec<f64> = pos.text.split(' ').map(|n| n.parse().unwrap()).collect();
    assert_eq!(numbers, vec![51.507, 7.459, 51.5052, 7.4592]);
    let comment = rec.find("value")[0];
    assert!(
        comment.text.starts_with("Fernwärme & Gas; \"Ost\""),
        "{}",
        comment.text
    );
    // The polygon becomes a point at its centre.
    let rec2 = situations[1].all("situationRecord")[0];
    let loc2 = rec2.child("locationReference").unwrap();
    assert_eq!(loc2.attr("xsi:type"), Some("loc:PointLocation"));
    assert!(!loc2.find("latitude")[0].text.is_empty());
}

//! Resource paths: `Things`, `Things(1)`, `Things(1)/Datastreams(2)/Observations`,
//! `Things(1)/name`, `Things(1)/name/$value`, `Things(1)/Locations/$ref`.

use crate::conn::Conn;
use crate::model::{Kind, Link, parent_cond};
use crate::visibility::Access;
use kern::{Error, Result};

/// What a path addresses, after every step was checked against the database.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// An entity set, possibly below a parent entity.
    Collection {
        kind: Kind,
        parent: Option<(Kind, i64, Link)>,
    },
    /// One entity; `via` is the parent it was reached from, if any.
    Entity {
        kind: Kind,
        id: i64,
        via: Option<(Kind, i64, Link)>,
    },
    /// One property of an entity; `raw` for `$value`.
    Property {
        kind: Kind,
        id: i64,
        name: String,
        raw: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub target: Target,
    /// The path ended in `$ref`.
    pub is_ref: bool,
}

fn not_found(what: impl std::fmt::Display) -> Error {
    Error::not_found(format!("{what} gibt es nicht."))
}

/// Splits one segment into its name and key: `Things(12)` -> (`Things`, Some(12)).
fn split(seg: &str) -> Result<(&str, Option<i64>)> {
    match seg.find('(') {
        None => Ok((seg, None)),
        Some(i) => {
            let name = &seg[..i];
            let key = seg[i + 1..]
                .strip_suffix(')')
                .ok_or_else(|| Error::invalid("path", format!("'{seg}' misses ')'")))?;
            let key = key.trim_matches('\'');
            let id = key
                .parse::<i64>()
                .map_err(|_| Error::not_found(format!("{name}({key}) gibt es nicht.")))?;
            Ok((name, Some(id)))
        }
    }
}

/// Whether an entity with `id` of `kind` exists, is visible and (if given) linked to `parent`.
pub async fn exists(
    db: Conn<'_>,
    access: &Access,
    kind: Kind,
    id: i64,
    parent: Option<(Kind, i64, Link)>,
) -> Result<bool> {
    let mut conds = vec![format!("c.id = {id}")];
    if let Some((pk, pid, link)) = parent {
        conds.push(parent_cond(pk, link, pid, "c"));
    }
    if let Some(v) = access.visible(kind, "c") {
        conds.push(v);
    }
    let sql = format!(
        "SELECT c.id FROM {} c WHERE {}",
        kind.table(),
        conds.join(" AND ")
    );
    Ok(!db
        .fetch_cells_sql(&sql, store::sea_query::Values(vec![]))
        .await?
        .is_empty())
}

/// The id a to-one navigation leads to (`Datastreams(1)/Thing`).
async fn follow_ref(db: Conn<'_>, kind: Kind, id: i64, col: &str) -> Result<Option<i64>> {
    let sql = format!(
        "SELECT c.{col} AS r FROM {} c WHERE c.id = {id}",
        kind.table()
    );
    let rows = db
        .fetch_cells_sql(&sql, store::sea_query::Values(vec![]))
        .await?;
    Ok(rows.first().and_then(|r| r.get("r").as_i64()))
}

/// Parses and checks a resource path (without the `/sta/v1.1` prefix).
pub async fn resolve(db: Conn<'_>, access: &Access, path: &str) -> Result<Resolved> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(first) = segs.first() else {
        return Err(Error::invalid("path", "an entity set is missing"));
    };
    let (name, key) = split(first)?;
    let kind =
        Kind::from_set(name).ok_or_else(|| not_found(format!("Die Entitätsmenge '{name}'")))?;
    let mut target = match key {
        None => Target::Collection { kind, parent: None },
        Some(id) => {
            if !exists(db, access, kind, id, None).await? {
                return Err(not_found(format!("{}({id})", kind.name())));
            }
            Target::Entity {
                kind,
                id,
                via: None,
            }
        }
    };
    let mut is_ref = false;
    let mut i = 1;
    while i < segs.len() {
        let seg = segs[i];
        if seg == "$ref" {
            if i + 1 != segs.len() {
                return Err(Error::invalid("path", "$ref must be the last segment"));
            }
            if matches!(target, Target::Property { .. }) {
                return Err(Error::invalid("path", "$ref needs an entity or entity set"));
            }
            is_ref = true;
            break;
        }
        match &target {
            Target::Collection { .. } => {
                return Err(Error::invalid(
                    "path",
                    format!("'{seg}' cannot follow an entity set; address one entity first"),
                ));
            }
            Target::Property {
                kind,
                id,
                name,
                raw,
            } => {
                if seg == "$value" && !raw && i + 1 == segs.len() {
                    target = Target::Property {
                        kind: *kind,
                        id: *id,
                        name: name.clone(),
                        raw: true,
                    };
                } else {
                    return Err(Error::invalid("path", format!("unexpected '{seg}'")));
                }
            }
            Target::Entity { kind, id, .. } => {
                let (kind, id) = (*kind, *id);
                let (name, key) = split(seg)?;
                if let Some(nav) = kind.nav(name) {
                    let (ck, link) = kind.link(nav).expect("navs have links");
                    target = match (link, key) {
                        (Link::Ref(col), key) => {
                            let cid = follow_ref(db, kind, id, col).await?.ok_or_else(|| {
                                not_found(format!("{}({id})/{name}", kind.name()))
                            })?;
                            if key.is_some_and(|k| k != cid)
                                || !exists(db, access, ck, cid, None).await?
                            {
                                return Err(not_found(format!("{}({id})/{seg}", kind.name())));
                            }
                            Target::Entity {
                                kind: ck,
                                id: cid,
                                via: Some((kind, id, link)),
                            }
                        }
                        (_, Some(cid)) => {
                            if !exists(db, access, ck, cid, Some((kind, id, link))).await? {
                                return Err(not_found(format!("{}({id})/{seg}", kind.name())));
                            }
                            Target::Entity {
                                kind: ck,
                                id: cid,
                                via: Some((kind, id, link)),
                            }
                        }
                        (_, None) => Target::Collection {
                            kind: ck,
                            parent: Some((kind, id, link)),
                        },
                    };
                } else if key.is_none()
                    && (kind.prop(name).is_some()
                        || name == "id"
                        || name == "@iot.id"
                        || (kind.has_visibility() && (name == "visibility" || name == "groups")))
                {
                    target = Target::Property {
                        kind,
                        id,
                        name: name.to_string(),
                        raw: false,
                    };
                } else {
                    return Err(Error::not_found(format!(
                        "{} hat keine Eigenschaft oder Navigation '{name}'.",
                        kind.name()
                    )));
                }
            }
        }
        i += 1;
    }
    Ok(Resolved { target, is_ref })
}

//! Migrations 3 and 5: what keeps the SensorThings API fast on tens of millions of Observations.
//!
//! `sta_latest` (per Datastream) and `sta_latest_multi` (per MultiDatastream) hold the number of
//! Observations and the latest one (greatest phenomenonTime start; on a tie the smallest id, the
//! order of `$orderby=phenomenonTime desc`): its id, and since migration 5 a copy of all its
//! values, so "the latest Observation of every Datastream" reads one small table instead of
//! looking up 10,000 rows in a table of many millions. Triggers keep them exact on every insert,
//! delete (also the cascades of deleting a Datastream or a FeatureOfInterest) and update of an
//! Observation, whichever path wrote it (HTTP, CreateObservations, `$batch`, MQTT, a restore):
//!
//! * SQLite: row triggers (an upsert of one small row per Observation);
//! * PostgreSQL: statement triggers with transition tables for insert and delete, so a
//!   multi-row INSERT updates each stream's row once; a row trigger for the rare updates.
//!
//! The latest Observation is recomputed from the `(stream, pt_start, id)` index only when the
//! current latest one is deleted or moved; an update that leaves stream and time alone copies
//! the new values if it is the latest one.

use crate::Backend;
use crate::migrations::{big_null, col, double_null, fk, sql, table, text_null};
use crate::migrations_sta::json_null;

/// (table, column of sta_observations, referenced stream table)
const STREAMS: [(&str, &str, &str); 2] = [
    ("sta_latest", "datastream_id", "sta_datastreams"),
    (
        "sta_latest_multi",
        "multi_datastream_id",
        "sta_multi_datastreams",
    ),
];

/// The columns of the latest Observation the stream tables copy, as named in
/// `sta_observations` (its `id` is `obs_id`; `pt_start` is there since migration 3).
pub const COPIED: [&str; 11] = [
    "feature_id",
    "pt_end",
    "result_time",
    "result_kind",
    "result_number",
    "result_string",
    "result_json",
    "result_quality",
    "valid_start",
    "valid_end",
    "parameters",
];

/// `obs_id, pt_start, feature_id, …` with each name behind `prefix` (`obs_id` as `{id}`).
fn latest_list(prefix: &str, id: &str) -> String {
    let mut out = vec![format!("{prefix}{id}"), format!("{prefix}pt_start")];
    out.extend(COPIED.iter().map(|c| format!("{prefix}{c}")));
    out.join(", ")
}

/// The latest observation of the stream in row `{t}`, copied in (index range scans, then one
/// row by id); all NULL when the stream has none.
fn recompute(t: &str, c: &str) -> String {
    format!(
        "({}) = (SELECT {} FROM sta_observations o WHERE o.{c} = {t}.{c} AND o.pt_start = \
         (SELECT MAX(o2.pt_start) FROM sta_observations o2 WHERE o2.{c} = {t}.{c}) ORDER BY o.id LIMIT 1)",
        latest_list("", "obs_id"),
        latest_list("o.", "id")
    )
}

/// `SET` assignments of an upsert that take the row `excluded` when it is newer than the stored
/// latest one (or as new with a smaller id), the columns prefixed with `cur` on the stored side.
fn take_if_newer(cur: &str) -> String {
    let take = format!(
        "{cur}obs_id IS NULL OR excluded.pt_start > {cur}pt_start OR \
         (excluded.pt_start = {cur}pt_start AND excluded.obs_id < {cur}obs_id)"
    );
    let mut cols = vec!["obs_id", "pt_start"];
    cols.extend(COPIED);
    cols.iter()
        .map(|k| format!("{k} = CASE WHEN {take} THEN excluded.{k} ELSE {cur}{k} END"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Recomputes both tables from the Observations (after a restore, and when migrating a
/// database that already holds Observations).
pub fn rebuild_stats() -> Vec<String> {
    let mut out = Vec::new();
    for (t, c, _) in STREAMS {
        out.push(format!("DELETE FROM {t}"));
        out.push(format!(
            "INSERT INTO {t} ({c}, obs_count) SELECT {c}, COUNT(*) FROM sta_observations \
             WHERE {c} IS NOT NULL GROUP BY {c}"
        ));
        out.push(format!("UPDATE {t} SET {}", recompute(t, c)));
    }
    out
}

/// Migration 3: the stream tables with counter and latest id, and the index for pages by id.
/// Their triggers and contents come with migration 5.
pub(crate) fn m0003_sensorthings_extras(b: Backend) -> Vec<String> {
    let mut out = Vec::new();
    for (t, c, to) in STREAMS {
        out.push(sql(
            b,
            &table(t)
                .col(col(c).big_integer().not_null().primary_key())
                .col(col("obs_count").big_integer().not_null().default(0))
                .col(big_null("obs_id"))
                .col(big_null("pt_start"))
                .foreign_key(&mut fk(t, c, to, true))
                .take(),
        ));
    }
    // Pages of one Datastream in the default order (by id) straight from an index, without
    // sorting the Datastream's Observations (`Datastreams(1)/Observations?$top=1000`).
    out.push(sql(
        b,
        &crate::migrations::index(
            "sta_observations_ds_id",
            "sta_observations",
            &["datastream_id", "id"],
            false,
        ),
    ));
    out
}

/// Migration 5: the copy of the latest Observation's values in the stream tables, the triggers
/// that keep tables exact, and their contents.
pub(crate) fn m0005_sensorthings_latest_values(b: Backend) -> Vec<String> {
    let mut out = Vec::new();
    for (t, _, _) in STREAMS {
        for c in COPIED {
            // The column types of sta_observations (migration 2), all nullable here.
            let def = match c {
                "result_number" => double_null(c),
                "result_string" => text_null(c),
                "result_json" | "result_quality" | "parameters" => json_null(c),
                _ => big_null(c),
            };
            out.push(sql(
                b,
                &sea_query::Table::alter()
                    .table(crate::q::id(t))
                    .add_column(def)
                    .take(),
            ));
        }
    }
    let copied = COPIED.join(", ");
    let copied_new = COPIED
        .iter()
        .map(|c| format!("NEW.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    match b {
        Backend::Sqlite => {
            for (t, c, _) in STREAMS {
                for suffix in ["ai", "ad", "au"] {
                    out.push(format!("DROP TRIGGER IF EXISTS {t}_{suffix}"));
                }
                out.push(format!(
                    "CREATE TRIGGER {t}_ai AFTER INSERT ON sta_observations \
                     WHEN NEW.{c} IS NOT NULL BEGIN \
                     INSERT INTO {t} ({c}, obs_count, {}) VALUES (NEW.{c}, 1, {}) \
                     ON CONFLICT ({c}) DO UPDATE SET obs_count = obs_count + 1, {}; END",
                    latest_list("", "obs_id"),
                    latest_list("NEW.", "id"),
                    take_if_newer("")
                ));
                out.push(format!(
                    "CREATE TRIGGER {t}_ad AFTER DELETE ON sta_observations \
                     WHEN OLD.{c} IS NOT NULL BEGIN \
                     UPDATE {t} SET obs_count = obs_count - 1 WHERE {c} = OLD.{c}; \
                     UPDATE {t} SET {} WHERE {c} = OLD.{c} AND obs_id = OLD.id; END",
                    recompute(t, c)
                ));
                out.push(format!(
                    "CREATE TRIGGER {t}_au AFTER UPDATE ON sta_observations BEGIN \
                     UPDATE {t} SET obs_count = obs_count - 1 WHERE {c} = OLD.{c} AND NEW.{c} IS NOT OLD.{c}; \
                     INSERT INTO {t} ({c}, obs_count) SELECT NEW.{c}, 0 WHERE NEW.{c} IS NOT NULL \
                     ON CONFLICT ({c}) DO NOTHING; \
                     UPDATE {t} SET obs_count = obs_count + 1 WHERE {c} = NEW.{c} AND NEW.{c} IS NOT OLD.{c}; \
                     UPDATE {t} SET {} WHERE {c} IN (OLD.{c}, NEW.{c}) \
                     AND (NEW.{c} IS NOT OLD.{c} OR NEW.pt_start IS NOT OLD.pt_start); \
                     UPDATE {t} SET ({copied}) = ({copied_new}) WHERE {c} = NEW.{c} AND obs_id = NEW.id \
                     AND NEW.{c} IS OLD.{c} AND NEW.pt_start IS OLD.pt_start; END",
                    recompute(t, c)
                ));
            }
        }
        Backend::Postgres => {
            let mut ins = String::new();
            let mut del = String::new();
            let mut upd = String::new();
            for (t, c, _) in STREAMS {
                ins.push_str(&format!(
                    "INSERT INTO {t} AS l ({c}, obs_count, {}) \
                     SELECT DISTINCT ON (n.{c}) n.{c}, COUNT(*) OVER (PARTITION BY n.{c}), {} \
                     FROM sta_new n WHERE n.{c} IS NOT NULL ORDER BY n.{c}, n.pt_start DESC, n.id ASC \
                     ON CONFLICT ({c}) DO UPDATE SET obs_count = l.obs_count + excluded.obs_count, {};\n",
                    latest_list("", "obs_id"),
                    latest_list("n.", "id"),
                    take_if_newer("l.")
                ));
                del.push_str(&format!(
                    "UPDATE {t} SET obs_count = {t}.obs_count - d.n FROM \
                     (SELECT {c} AS sid, COUNT(*) AS n FROM sta_old WHERE {c} IS NOT NULL GROUP BY {c}) d \
                     WHERE {t}.{c} = d.sid;\n\
                     UPDATE {t} SET {} WHERE {t}.obs_id IN (SELECT id FROM sta_old);\n",
                    recompute(t, c)
                ));
                upd.push_str(&format!(
                    "IF OLD.{c} IS DISTINCT FROM NEW.{c} OR OLD.pt_start IS DISTINCT FROM NEW.pt_start THEN \
                     IF OLD.{c} IS DISTINCT FROM NEW.{c} THEN \
                     UPDATE {t} SET obs_count = obs_count - 1 WHERE {c} = OLD.{c}; \
                     IF NEW.{c} IS NOT NULL THEN INSERT INTO {t} ({c}, obs_count) VALUES (NEW.{c}, 1) \
                     ON CONFLICT ({c}) DO UPDATE SET obs_count = {t}.obs_count + 1; END IF; \
                     END IF; \
                     UPDATE {t} SET {} WHERE {t}.{c} IN (OLD.{c}, NEW.{c}); \
                     ELSE \
                     UPDATE {t} SET ({copied}) = ({copied_new}) WHERE {t}.{c} = NEW.{c} AND {t}.obs_id = NEW.id; \
                     END IF;\n",
                    recompute(t, c)
                ));
            }
            for (name, body) in [
                ("sta_latest_ins", ins),
                ("sta_latest_del", del),
                ("sta_latest_upd", upd),
            ] {
                out.push(format!(
                    "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN\n{body}RETURN NULL; END $fn$"
                ));
            }
            for t in ["sta_obs_ai", "sta_obs_ad", "sta_obs_au"] {
                out.push(format!("DROP TRIGGER IF EXISTS {t} ON sta_observations"));
            }
            out.push(
                "CREATE TRIGGER sta_obs_ai AFTER INSERT ON sta_observations REFERENCING NEW TABLE AS sta_new \
                 FOR EACH STATEMENT EXECUTE FUNCTION sta_latest_ins()"
                    .into(),
            );
            out.push(
                "CREATE TRIGGER sta_obs_ad AFTER DELETE ON sta_observations REFERENCING OLD TABLE AS sta_old \
                 FOR EACH STATEMENT EXECUTE FUNCTION sta_latest_del()"
                    .into(),
            );
            out.push(
                "CREATE TRIGGER sta_obs_au AFTER UPDATE ON sta_observations \
                 FOR EACH ROW EXECUTE FUNCTION sta_latest_upd()"
                    .into(),
            );
        }
    }
    // A database that already holds Observations gets its counters and copies now.
    out.extend(rebuild_stats());
    out
}

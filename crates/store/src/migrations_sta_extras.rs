//! Migration 3: what keeps the SensorThings API fast on tens of millions of Observations.
//!
//! `sta_latest` (per Datastream) and `sta_latest_multi` (per MultiDatastream) hold the number of
//! Observations and the latest one (greatest phenomenonTime start; on a tie the smallest id, the
//! order of `$orderby=phenomenonTime desc`). Triggers keep them exact on every insert, delete
//! (also the cascades of deleting a Datastream or a FeatureOfInterest) and update of an
//! Observation, whichever path wrote it (HTTP, CreateObservations, `$batch`, MQTT, a restore):
//!
//! * SQLite: row triggers (an upsert of one small row per Observation);
//! * PostgreSQL: statement triggers with transition tables for insert and delete, so a
//!   multi-row INSERT updates each stream's row once; a row trigger for the rare updates.
//!
//! The latest Observation is recomputed from the `(stream, pt_start, id)` index only when the
//! current latest one is deleted or moved.

use crate::Backend;
use crate::migrations::{big_null, col, fk, sql, table};

/// (table, column of sta_observations, referenced stream table)
const STREAMS: [(&str, &str, &str); 2] = [
    ("sta_latest", "datastream_id", "sta_datastreams"),
    (
        "sta_latest_multi",
        "multi_datastream_id",
        "sta_multi_datastreams",
    ),
];

/// The latest observation of the stream in row `{t}` (scalar subqueries, index-only).
fn recompute(t: &str, c: &str) -> String {
    format!(
        "obs_id = (SELECT o.id FROM sta_observations o WHERE o.{c} = {t}.{c} AND o.pt_start = \
         (SELECT MAX(o2.pt_start) FROM sta_observations o2 WHERE o2.{c} = {t}.{c}) ORDER BY o.id LIMIT 1), \
         pt_start = (SELECT MAX(o3.pt_start) FROM sta_observations o3 WHERE o3.{c} = {t}.{c})"
    )
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
    match b {
        Backend::Sqlite => {
            for (t, c, _) in STREAMS {
                let newer = "obs_id IS NULL OR excluded.pt_start > pt_start";
                out.push(format!(
                    "CREATE TRIGGER IF NOT EXISTS {t}_ai AFTER INSERT ON sta_observations \
                     WHEN NEW.{c} IS NOT NULL BEGIN \
                     INSERT INTO {t} ({c}, obs_count, obs_id, pt_start) VALUES (NEW.{c}, 1, NEW.id, NEW.pt_start) \
                     ON CONFLICT ({c}) DO UPDATE SET obs_count = obs_count + 1, \
                     obs_id = CASE WHEN {newer} OR (excluded.pt_start = pt_start AND excluded.obs_id < obs_id) \
                     THEN excluded.obs_id ELSE obs_id END, \
                     pt_start = CASE WHEN {newer} THEN excluded.pt_start ELSE pt_start END; END"
                ));
                out.push(format!(
                    "CREATE TRIGGER IF NOT EXISTS {t}_ad AFTER DELETE ON sta_observations \
                     WHEN OLD.{c} IS NOT NULL BEGIN \
                     UPDATE {t} SET obs_count = obs_count - 1 WHERE {c} = OLD.{c}; \
                     UPDATE {t} SET {} WHERE {c} = OLD.{c} AND obs_id = OLD.id; END",
                    recompute(t, c)
                ));
                out.push(format!(
                    "CREATE TRIGGER IF NOT EXISTS {t}_au AFTER UPDATE OF {c}, pt_start ON sta_observations BEGIN \
                     UPDATE {t} SET obs_count = obs_count - 1 WHERE {c} = OLD.{c} AND NEW.{c} IS NOT OLD.{c}; \
                     INSERT INTO {t} ({c}, obs_count) SELECT NEW.{c}, 0 WHERE NEW.{c} IS NOT NULL \
                     ON CONFLICT ({c}) DO NOTHING; \
                     UPDATE {t} SET obs_count = obs_count + 1 WHERE {c} = NEW.{c} AND NEW.{c} IS NOT OLD.{c}; \
                     UPDATE {t} SET {} WHERE {c} IN (OLD.{c}, NEW.{c}); END",
                    recompute(t, c)
                ));
            }
        }
        Backend::Postgres => {
            let mut ins = String::new();
            let mut del = String::new();
            let mut upd = String::new();
            for (t, c, _) in STREAMS {
                let newer = "l.obs_id IS NULL OR excluded.pt_start > l.pt_start";
                ins.push_str(&format!(
                    "INSERT INTO {t} AS l ({c}, obs_count, obs_id, pt_start) \
                     SELECT DISTINCT ON (n.{c}) n.{c}, COUNT(*) OVER (PARTITION BY n.{c}), n.id, n.pt_start \
                     FROM sta_new n WHERE n.{c} IS NOT NULL ORDER BY n.{c}, n.pt_start DESC, n.id ASC \
                     ON CONFLICT ({c}) DO UPDATE SET obs_count = l.obs_count + excluded.obs_count, \
                     obs_id = CASE WHEN {newer} OR (excluded.pt_start = l.pt_start AND excluded.obs_id < l.obs_id) \
                     THEN excluded.obs_id ELSE l.obs_id END, \
                     pt_start = CASE WHEN {newer} THEN excluded.pt_start ELSE l.pt_start END;\n"
                ));
                del.push_str(&format!(
                    "UPDATE {t} SET obs_count = {t}.obs_count - d.n FROM \
                     (SELECT {c} AS sid, COUNT(*) AS n FROM sta_old WHERE {c} IS NOT NULL GROUP BY {c}) d \
                     WHERE {t}.{c} = d.sid;\n\
                     UPDATE {t} SET {} WHERE {t}.obs_id IN (SELECT id FROM sta_old);\n",
                    recompute(t, c)
                ));
                upd.push_str(&format!(
                    "IF OLD.{c} IS DISTINCT FROM NEW.{c} THEN \
                     UPDATE {t} SET obs_count = obs_count - 1 WHERE {c} = OLD.{c}; \
                     IF NEW.{c} IS NOT NULL THEN INSERT INTO {t} ({c}, obs_count) VALUES (NEW.{c}, 1) \
                     ON CONFLICT ({c}) DO UPDATE SET obs_count = {t}.obs_count + 1; END IF; \
                     END IF;\n\
                     UPDATE {t} SET {} WHERE {t}.{c} IN (OLD.{c}, NEW.{c});\n",
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
                "CREATE TRIGGER sta_obs_au AFTER UPDATE OF datastream_id, multi_datastream_id, pt_start \
                 ON sta_observations FOR EACH ROW EXECUTE FUNCTION sta_latest_upd()"
                    .into(),
            );
        }
    }
    // A database that already holds Observations gets its counters now.
    out.extend(rebuild_stats());
    out
}

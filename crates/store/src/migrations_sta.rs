//! Migration 2: the OGC SensorThings API data model (tables `sta_*`).
//!
//! Times are BIGINT microseconds since the Unix epoch (UTC): integer comparisons are the
//! fastest on both backends, and the API converts to ISO 8601. An interval has a start and an
//! end column; an instant has only the start (end NULL). An Observation's result is typed: a
//! number goes to `result_number` (so filters and aggregates on numbers stay index- and
//! CPU-friendly), a string to `result_string`, anything else to `result_json`; `result_kind`
//! says which (0 null, 1 number, 2 string, 3 boolean in `result_number`, 4 JSON).
//! Geometries are GeoJSON plus a bounding box on both backends; on PostgreSQL a PostGIS
//! `geometry(Geometry,4326)` column is kept in step on every write.

use crate::Backend;
use crate::migrations::{
    big, big_null, col, double_null, fk, index, json, link_table, pk, sql, table, text,
};
use sea_query::Index;

pub(crate) fn json_null(name: &'static str) -> sea_query::ColumnDef {
    col(name).json_binary().null().take()
}

fn bbox(t: &mut sea_query::TableCreateStatement) {
    t.col(double_null("min_x"))
        .col(double_null("min_y"))
        .col(double_null("max_x"))
        .col(double_null("max_y"));
}

fn visibility(t: &mut sea_query::TableCreateStatement) {
    t.col(col("visibility").text().not_null().default("public"))
        .col(col("groups").text().not_null().default(""));
}

pub(crate) fn m0002_sensorthings(b: Backend) -> Vec<String> {
    let mut out = Vec::new();
    let mut t = table("sta_things")
        .col(pk("id"))
        .col(text("name"))
        .col(text("description"))
        .col(json_null("properties"))
        .take();
    visibility(&mut t);
    out.push(sql(b, &t));

    let mut t = table("sta_locations")
        .col(pk("id"))
        .col(text("name"))
        .col(text("description"))
        .col(text("encoding_type"))
        .col(json("location"))
        .col(json_null("properties"))
        .take();
    bbox(&mut t);
    out.push(sql(b, &t));

    out.push(sql(
        b,
        &link_table(
            "sta_thing_locations",
            ("thing_id", "sta_things"),
            ("location_id", "sta_locations"),
        ),
    ));
    out.push(sql(
        b,
        &index(
            "sta_thing_locations_loc",
            "sta_thing_locations",
            &["location_id"],
            false,
        ),
    ));

    out.push(sql(
        b,
        &table("sta_historical_locations")
            .col(pk("id"))
            .col(big("thing_id"))
            .col(big("time"))
            .foreign_key(&mut fk(
                "sta_historical_locations",
                "thing_id",
                "sta_things",
                true,
            ))
            .take(),
    ));
    out.push(sql(
        b,
        &index(
            "sta_historical_locations_thing",
            "sta_historical_locations",
            &["thing_id", "time"],
            false,
        ),
    ));
    out.push(sql(
        b,
        &link_table(
            "sta_hist_locations",
            ("hist_id", "sta_historical_locations"),
            ("location_id", "sta_locations"),
        ),
    ));
    out.push(sql(
        b,
        &index(
            "sta_hist_locations_loc",
            "sta_hist_locations",
            &["location_id"],
            false,
        ),
    ));

    out.push(sql(
        b,
        &table("sta_sensors")
            .col(pk("id"))
            .col(text("name"))
            .col(text("description"))
            .col(text("encoding_type"))
            .col(text("metadata"))
            .col(json_null("properties"))
            .take(),
    ));
    out.push(sql(
        b,
        &table("sta_observed_properties")
            .col(pk("id"))
            .col(text("name"))
            .col(text("definition"))
            .col(text("description"))
            .col(json_null("properties"))
            .take(),
    ));

    let mut t = table("sta_datastreams")
        .col(pk("id"))
        .col(text("name"))
        .col(text("description"))
        .col(text("observation_type"))
        .col(json("unit_of_measurement"))
        .col(json_null("observed_area"))
        .col(big_null("pt_start"))
        .col(big_null("pt_end"))
        .col(big_null("rt_start"))
        .col(big_null("rt_end"))
        .col(json_null("properties"))
        .col(big("thing_id"))
        .col(big("sensor_id"))
        .col(big("obs_prop_id"))
        .foreign_key(&mut fk("sta_datastreams", "thing_id", "sta_things", true))
        .foreign_key(&mut fk("sta_datastreams", "sensor_id", "sta_sensors", true))
        .foreign_key(&mut fk(
            "sta_datastreams",
            "obs_prop_id",
            "sta_observed_properties",
            true,
        ))
        .take();
    visibility(&mut t);
    out.push(sql(b, &t));
    for (name, c) in [
        ("sta_datastreams_thing", "thing_id"),
        ("sta_datastreams_sensor", "sensor_id"),
        ("sta_datastreams_op", "obs_prop_id"),
    ] {
        out.push(sql(b, &index(name, "sta_datastreams", &[c], false)));
    }

    let mut t = table("sta_multi_datastreams")
        .col(pk("id"))
        .col(text("name"))
        .col(text("description"))
        .col(text("observation_type"))
        .col(json("multi_observation_data_types"))
        .col(json("units_of_measurement"))
        .col(json_null("observed_area"))
        .col(big_null("pt_start"))
        .col(big_null("pt_end"))
        .col(big_null("rt_start"))
        .col(big_null("rt_end"))
        .col(json_null("properties"))
        .col(big("thing_id"))
        .col(big("sensor_id"))
        .foreign_key(&mut fk(
            "sta_multi_datastreams",
            "thing_id",
            "sta_things",
            true,
        ))
        .foreign_key(&mut fk(
            "sta_multi_datastreams",
            "sensor_id",
            "sta_sensors",
            true,
        ))
        .take();
    visibility(&mut t);
    out.push(sql(b, &t));
    out.push(sql(
        b,
        &index(
            "sta_multi_datastreams_thing",
            "sta_multi_datastreams",
            &["thing_id"],
            false,
        ),
    ));
    out.push(sql(
        b,
        &index(
            "sta_multi_datastreams_sensor",
            "sta_multi_datastreams",
            &["sensor_id"],
            false,
        ),
    ));
    out.push(sql(
        b,
        &table("sta_multi_datastream_props")
            .col(big("md_id"))
            .col(big("op_id"))
            .col(big("rank"))
            .primary_key(
                Index::create()
                    .col(crate::q::id("md_id"))
                    .col(crate::q::id("rank")),
            )
            .foreign_key(&mut fk(
                "sta_multi_datastream_props",
                "md_id",
                "sta_multi_datastreams",
                true,
            ))
            .foreign_key(&mut fk(
                "sta_multi_datastream_props",
                "op_id",
                "sta_observed_properties",
                true,
            ))
            .take(),
    ));
    out.push(sql(
        b,
        &index(
            "sta_multi_datastream_props_op",
            "sta_multi_datastream_props",
            &["op_id"],
            false,
        ),
    ));

    let mut t = table("sta_features")
        .col(pk("id"))
        .col(text("name"))
        .col(text("description"))
        .col(text("encoding_type"))
        .col(json("feature"))
        .col(json_null("properties"))
        .col(big_null("generated_from"))
        .take();
    bbox(&mut t);
    out.push(sql(b, &t));
    out.push(sql(
        b,
        &index(
            "sta_features_generated",
            "sta_features",
            &["generated_from"],
            false,
        ),
    ));

    out.push(sql(
        b,
        &table("sta_observations")
            .col(pk("id"))
            .col(big_null("datastream_id"))
            .col(big_null("multi_datastream_id"))
            .col(big("feature_id"))
            .col(big("pt_start"))
            .col(big_null("pt_end"))
            .col(big_null("result_time"))
            .col(col("result_kind").big_integer().not_null().default(0))
            .col(double_null("result_number"))
            .col(col("result_string").text().null())
            .col(json_null("result_json"))
            .col(json_null("result_quality"))
            .col(big_null("valid_start"))
            .col(big_null("valid_end"))
            .col(json_null("parameters"))
            .foreign_key(&mut fk(
                "sta_observations",
                "datastream_id",
                "sta_datastreams",
                true,
            ))
            .foreign_key(&mut fk(
                "sta_observations",
                "multi_datastream_id",
                "sta_multi_datastreams",
                true,
            ))
            .foreign_key(&mut fk(
                "sta_observations",
                "feature_id",
                "sta_features",
                true,
            ))
            .take(),
    ));
    // Pages of one datastream in time order, the latest value, counts per datastream.
    out.push(sql(
        b,
        &index(
            "sta_observations_ds_time",
            "sta_observations",
            &["datastream_id", "pt_start", "id"],
            false,
        ),
    ));
    out.push(sql(
        b,
        &index(
            "sta_observations_mds_time",
            "sta_observations",
            &["multi_datastream_id", "pt_start", "id"],
            false,
        ),
    ));
    out.push(sql(
        b,
        &index(
            "sta_observations_feature",
            "sta_observations",
            &["feature_id"],
            false,
        ),
    ));

    if b == Backend::Postgres {
        for t in ["sta_locations", "sta_features"] {
            out.push(format!(
                "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS geom geometry(Geometry,4326)"
            ));
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {t}_geom ON {t} USING GIST (geom)"
            ));
        }
    }
    out
}

/// Rebuilds the PostGIS columns from the GeoJSON (after a restore). A Feature's geometry is used.
pub(crate) const REBUILD_GEOMETRY: &[&str] = &[
    "UPDATE sta_locations SET geom = ST_SetSRID(ST_GeomFromGeoJSON(CASE WHEN location->>'type' = 'Feature' THEN (location->'geometry')::text ELSE location::text END), 4326)",
    "UPDATE sta_features SET geom = ST_SetSRID(ST_GeomFromGeoJSON(CASE WHEN feature->>'type' = 'Feature' THEN (feature->'geometry')::text ELSE feature::text END), 4326)",
];

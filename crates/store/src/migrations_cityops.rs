//! Migrations 300–399: city operations (roadworks coordination, parking, traffic flow).
//!
//! Geometries are stored as GeoJSON text (WGS 84) and evaluated in Rust with `geo`, so both
//! backends give the same answers; no PostGIS column is needed.

use crate::Backend;
use crate::migrations::{
    big, big_null, double_null, fk, index, pk, sql, table, text, text_null, ts, ts_null,
};

pub(crate) fn m0300_cityops_roadworks(b: Backend) -> Vec<String> {
    vec![
        sql(
            b,
            &table("cityops_streets")
                .col(pk("id"))
                .col(text("name"))
                .col(big_null("district_number"))
                .col(ts("created_at"))
                .take(),
        ),
        sql(
            b,
            &index("cityops_streets_name", "cityops_streets", &["name"], true),
        ),
        sql(
            b,
            &table("cityops_roadworks")
                .col(pk("id"))
                .col(text("title"))
                .col(text("description"))
                .col(big("street_id"))
                .col(text("street_name"))
                .col(big_null("district_number"))
                .col(text("geometry"))
                .col(text_null("detour"))
                .col(ts("period_start"))
                .col(ts("period_end"))
                .col(text("working_hours"))
                .col(text("closure"))
                .col(text("applicant_org"))
                .col(text("contact_name"))
                .col(text("contact_email"))
                .col(text("contact_phone"))
                .col(text("status"))
                .col(text("decision_note"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(ts_null("closed_at"))
                .foreign_key(&mut fk(
                    "cityops_roadworks",
                    "street_id",
                    "cityops_streets",
                    false,
                ))
                .take(),
        ),
        sql(
            b,
            &index(
                "cityops_roadworks_period",
                "cityops_roadworks",
                &["period_start", "period_end"],
                false,
            ),
        ),
        sql(
            b,
            &table("cityops_conflicts")
                .col(pk("id"))
                .col(big("works_id"))
                .col(big("other_id"))
                .col(text("kind"))
                .col(text("detail"))
                .col(ts("detected_at"))
                .foreign_key(&mut fk(
                    "cityops_conflicts",
                    "works_id",
                    "cityops_roadworks",
                    true,
                ))
                .foreign_key(&mut fk(
                    "cityops_conflicts",
                    "other_id",
                    "cityops_roadworks",
                    true,
                ))
                .take(),
        ),
        sql(
            b,
            &table("cityops_subscriptions")
                .col(pk("id"))
                .col(text("email"))
                .col(text("area_kind"))
                .col(big_null("district_number"))
                .col(double_null("latitude"))
                .col(double_null("longitude"))
                .col(double_null("radius_m"))
                .col(text("salt"))
                .col(text("token_hash"))
                .col(ts("created_at"))
                .col(ts_null("confirmed_at"))
                .take(),
        ),
        sql(
            b,
            &index(
                "cityops_subscriptions_token",
                "cityops_subscriptions",
                &["token_hash"],
                true,
            ),
        ),
        sql(
            b,
            &table("cityops_notices")
                .col(pk("id"))
                .col(big("subscription_id"))
                .col(big("works_id"))
                .col(ts("sent_at"))
                .foreign_key(&mut fk(
                    "cityops_notices",
                    "subscription_id",
                    "cityops_subscriptions",
                    true,
                ))
                .foreign_key(&mut fk(
                    "cityops_notices",
                    "works_id",
                    "cityops_roadworks",
                    true,
                ))
                .take(),
        ),
        sql(
            b,
            &index(
                "cityops_notices_once",
                "cityops_notices",
                &["subscription_id", "works_id"],
                true,
            ),
        ),
    ]
}

pub(crate) fn m0301_cityops_parking(b: Backend) -> Vec<String> {
    vec![
        sql(
            b,
            &table("cityops_parking")
                .col(pk("id"))
                .col(text("name"))
                .col(text("kind"))
                .col(big_null("district_number"))
                .col(crate::migrations::double("latitude"))
                .col(crate::migrations::double("longitude"))
                .col(big("capacity"))
                .col(text("tariffs"))
                .col(text("opening_hours"))
                .col(big_null("datastream_id"))
                .col(ts("created_at"))
                .take(),
        ),
        sql(
            b,
            &index("cityops_parking_name", "cityops_parking", &["name"], true),
        ),
    ]
}

pub(crate) fn m0302_cityops_traffic(b: Backend) -> Vec<String> {
    vec![
        sql(
            b,
            &table("cityops_counting_stations")
                .col(pk("id"))
                .col(text("name"))
                .col(big_null("district_number"))
                .col(text("segment"))
                .col(crate::migrations::double("free_flow_kmh"))
                .col(crate::migrations::double("capacity_veh_h"))
                .col(big_null("speed_datastream_id"))
                .col(ts("created_at"))
                .take(),
        ),
        sql(
            b,
            &index(
                "cityops_counting_stations_name",
                "cityops_counting_stations",
                &["name"],
                true,
            ),
        ),
        sql(
            b,
            &table("cityops_station_streams")
                .col(pk("id"))
                .col(big("station_id"))
                .col(text("mode"))
                .col(text("direction"))
                .col(big("datastream_id"))
                .foreign_key(&mut fk(
                    "cityops_station_streams",
                    "station_id",
                    "cityops_counting_stations",
                    true,
                ))
                .take(),
        ),
    ]
}

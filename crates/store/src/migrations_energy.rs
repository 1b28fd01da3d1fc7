//! Migration 320: building energy (municipal buildings and their meters). Within the
//! city-operations range 300–399.

use crate::Backend;
use crate::migrations::{big, big_null, double, double_null, fk, index, pk, sql, table, text, ts};

pub(crate) fn m0320_energy(b: Backend) -> Vec<String> {
    vec![
        sql(
            b,
            &table("energy_buildings")
                .col(pk("id"))
                .col(text("name"))
                .col(big_null("district_number"))
                .col(text("address"))
                .col(double("latitude"))
                .col(double("longitude"))
                .col(double("floor_area_m2"))
                .col(text("use_type"))
                .col(ts("created_at"))
                .take(),
        ),
        sql(
            b,
            &index("energy_buildings_name", "energy_buildings", &["name"], true),
        ),
        sql(
            b,
            &table("energy_meters")
                .col(pk("id"))
                .col(big("building_id"))
                .col(text("name"))
                .col(text("medium"))
                .col(big_null("datastream_id"))
                .col(double_null("flexible_kw"))
                .col(ts("created_at"))
                .foreign_key(&mut fk(
                    "energy_meters",
                    "building_id",
                    "energy_buildings",
                    true,
                ))
                .take(),
        ),
        sql(
            b,
            &index(
                "energy_meters_building",
                "energy_meters",
                &["building_id"],
                false,
            ),
        ),
    ]
}

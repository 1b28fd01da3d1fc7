//! Migrations 400–499: citizen services. 400 is the service catalog, 410 appointments and
//! walk-in tickets.

use crate::Backend;
use crate::migrations::{
    big, big_null, boolean, fk, index, json, pk, sql, table, text, ts, ts_null,
};

pub(crate) fn m0400_catalog(b: Backend) -> Vec<String> {
    vec![
        sql(
            b,
            &table("svc_services")
                .col(pk("id"))
                .col(text("leika"))
                .col(text("name"))
                .col(text("description"))
                .col(json("documents"))
                .col(text("fee_text"))
                .col(big_null("fee_cents"))
                .col(json("legal_basis"))
                .col(text("processing_time"))
                .col(boolean("online", false))
                .col(boolean("in_person", true))
                .col(big_null("org_unit_id"))
                .col(text("keywords"))
                .col(big("duration_min"))
                .col(text("search_terms"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("svc_services", "org_unit_id", "org_units", false))
                .take(),
        ),
        sql(
            b,
            &index("svc_services_leika", "svc_services", &["leika"], true),
        ),
        sql(
            b,
            &index("svc_services_org", "svc_services", &["org_unit_id"], false),
        ),
    ]
}

pub(crate) fn m0410_appointments(b: Backend) -> Vec<String> {
    vec![
        sql(
            b,
            &table("svc_offices")
                .col(pk("id"))
                .col(big("org_unit_id"))
                .col(text("name"))
                .col(text("address"))
                .col(big("counters"))
                .col(big("slot_min"))
                .col(json("opening"))
                .col(ts("created_at"))
                .foreign_key(&mut fk("svc_offices", "org_unit_id", "org_units", false))
                .take(),
        ),
        sql(
            b,
            &index("svc_offices_name", "svc_offices", &["name"], true),
        ),
        sql(
            b,
            &table("svc_office_services")
                .col(pk("id"))
                .col(big("office_id"))
                .col(big("service_id"))
                .col(big("duration_min"))
                .foreign_key(&mut fk(
                    "svc_office_services",
                    "office_id",
                    "svc_offices",
                    true,
                ))
                .foreign_key(&mut fk(
                    "svc_office_services",
                    "service_id",
                    "svc_services",
                    true,
                ))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_office_services_pair",
                "svc_office_services",
                &["office_id", "service_id"],
                true,
            ),
        ),
        sql(
            b,
            &table("svc_closed_days")
                .col(pk("id"))
                .col(big("office_id"))
                .col(text("day"))
                .col(text("reason"))
                .foreign_key(&mut fk("svc_closed_days", "office_id", "svc_offices", true))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_closed_days_day",
                "svc_closed_days",
                &["office_id", "day"],
                true,
            ),
        ),
        sql(
            b,
            &table("svc_appointments")
                .col(pk("id"))
                .col(text("reference"))
                .col(big("office_id"))
                .col(big("service_id"))
                .col(big("counter"))
                .col(ts("starts_at"))
                .col(ts("ends_at"))
                .col(text("day"))
                .col(text("name"))
                .col(text("email"))
                .col(text("phone"))
                .col(text("code_hash"))
                .col(text("state"))
                .col(big_null("user_id"))
                .col(big_null("booked_by"))
                .col(boolean("reminded", false))
                .col(ts_null("arrived_at"))
                .col(ts_null("called_at"))
                .col(ts_null("served_at"))
                .col(ts("created_at"))
                .foreign_key(&mut fk(
                    "svc_appointments",
                    "office_id",
                    "svc_offices",
                    false,
                ))
                .foreign_key(&mut fk(
                    "svc_appointments",
                    "service_id",
                    "svc_services",
                    false,
                ))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_appointments_reference",
                "svc_appointments",
                &["reference"],
                true,
            ),
        ),
        sql(
            b,
            &index(
                "svc_appointments_day",
                "svc_appointments",
                &["office_id", "day"],
                false,
            ),
        ),
        // One row per booked time unit and counter: the unique index is what makes a double
        // booking impossible, whatever the replicas and requests do at the same moment.
        sql(
            b,
            &table("svc_slot_claims")
                .col(pk("id"))
                .col(big("appointment_id"))
                .col(big("office_id"))
                .col(big("counter"))
                .col(ts("unit_start"))
                .foreign_key(&mut fk(
                    "svc_slot_claims",
                    "appointment_id",
                    "svc_appointments",
                    true,
                ))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_slot_claims_unit",
                "svc_slot_claims",
                &["office_id", "counter", "unit_start"],
                true,
            ),
        ),
        sql(
            b,
            &table("svc_tickets")
                .col(pk("id"))
                .col(big("office_id"))
                .col(big_null("service_id"))
                .col(text("day"))
                .col(big("number"))
                .col(text("state"))
                .col(big_null("counter"))
                .col(big_null("issued_by"))
                .col(ts("created_at"))
                .col(ts_null("called_at"))
                .col(ts_null("served_at"))
                .foreign_key(&mut fk("svc_tickets", "office_id", "svc_offices", false))
                .foreign_key(&mut fk("svc_tickets", "service_id", "svc_services", false))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_tickets_number",
                "svc_tickets",
                &["office_id", "day", "number"],
                true,
            ),
        ),
    ]
}

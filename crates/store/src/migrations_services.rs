//! Migrations 400–499: citizen services. 400 is the service catalog, 410 appointments and
//! walk-in tickets, 420 online
//! applications with their case files, invoices and payments.

use crate::Backend;
use crate::migrations::{
    big, big_null, blob, boolean, fk, index, json, pk, sql, table, text, text_null, ts, ts_null,
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

pub(crate) fn m0420_cases(b: Backend) -> Vec<String> {
    vec![
        // The online form of a service: definition (schema, layout, attachments, fee) and the
        // retention period of its case files.
        sql(
            b,
            &table("svc_forms")
                .col(pk("id"))
                .col(big("service_id"))
                .col(json("definition"))
                .col(big("retention_days"))
                .col(big("version"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("svc_forms", "service_id", "svc_services", true))
                .take(),
        ),
        sql(
            b,
            &index("svc_forms_service", "svc_forms", &["service_id"], true),
        ),
        sql(
            b,
            &table("svc_drafts")
                .col(pk("id"))
                .col(big("service_id"))
                .col(big("user_id"))
                .col(json("data"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("svc_drafts", "service_id", "svc_services", true))
                .foreign_key(&mut fk("svc_drafts", "user_id", "users", true))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_drafts_owner",
                "svc_drafts",
                &["service_id", "user_id"],
                true,
            ),
        ),
        sql(
            b,
            &table("svc_cases")
                .col(pk("id"))
                .col(text("reference"))
                .col(text("secret_hash"))
                .col(big("service_id"))
                .col(big_null("org_unit_id"))
                .col(big_null("user_id"))
                .col(big_null("assisted_by"))
                .col(text("applicant_name"))
                .col(text("applicant_email"))
                .col(json("data"))
                .col(text("status"))
                .col(big_null("assignee_id"))
                .col(text_null("deadline"))
                .col(boolean("deadline_reminded", false))
                .col(big_null("fee_cents"))
                .col(text_null("decision"))
                .col(ts_null("decided_at"))
                .col(ts_null("closed_at"))
                .col(ts_null("delete_after"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("svc_cases", "service_id", "svc_services", false))
                .foreign_key(&mut fk("svc_cases", "org_unit_id", "org_units", false))
                .take(),
        ),
        sql(
            b,
            &index("svc_cases_reference", "svc_cases", &["reference"], true),
        ),
        sql(
            b,
            &index("svc_cases_user", "svc_cases", &["user_id"], false),
        ),
        sql(
            b,
            &index(
                "svc_cases_org",
                "svc_cases",
                &["org_unit_id", "status"],
                false,
            ),
        ),
        // Documents of a case file; a new upload under the same slot is a new version, the old
        // ones stay.
        sql(
            b,
            &table("svc_documents")
                .col(pk("id"))
                .col(big("case_id"))
                .col(text("slot"))
                .col(text("title"))
                .col(big("version"))
                .col(text("file_name"))
                .col(text("media_type"))
                .col(big("size"))
                .col(text("sha256"))
                .col(blob("content"))
                .col(boolean("public", true))
                .col(text("created_by"))
                .col(ts("created_at"))
                .foreign_key(&mut fk("svc_documents", "case_id", "svc_cases", true))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_documents_version",
                "svc_documents",
                &["case_id", "slot", "version"],
                true,
            ),
        ),
        // The history of a case: status changes, notes (internal), messages (to the resident),
        // assignments, deadlines, documents and payments.
        sql(
            b,
            &table("svc_case_events")
                .col(pk("id"))
                .col(big("case_id"))
                .col(ts("at"))
                .col(text("actor"))
                .col(text("kind"))
                .col(text("body"))
                .col(boolean("public", false))
                .foreign_key(&mut fk("svc_case_events", "case_id", "svc_cases", true))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_case_events_case",
                "svc_case_events",
                &["case_id"],
                false,
            ),
        ),
        sql(
            b,
            &table("svc_invoices")
                .col(pk("id"))
                .col(big("case_id"))
                .col(text("reference"))
                .col(big("amount_cents"))
                .col(big("paid_cents"))
                .col(text("status"))
                .col(text_null("method"))
                .col(ts_null("paid_at"))
                .col(ts("created_at"))
                .foreign_key(&mut fk("svc_invoices", "case_id", "svc_cases", true))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_invoices_reference",
                "svc_invoices",
                &["reference"],
                true,
            ),
        ),
        sql(
            b,
            &index("svc_invoices_case", "svc_invoices", &["case_id"], false),
        ),
        // Every incoming payment once: a bank statement entry (source `bank`, its entry
        // reference) or a provider transaction (source `provider`); the unique index makes a
        // re-imported statement or a repeated notification a no-op.
        sql(
            b,
            &table("svc_payments")
                .col(pk("id"))
                .col(big_null("invoice_id"))
                .col(text("source"))
                .col(text("external_id"))
                .col(big("amount_cents"))
                .col(text("reference"))
                .col(text("payer"))
                .col(text("booked_on"))
                .col(text("outcome"))
                .col(text("note"))
                .col(ts("created_at"))
                .foreign_key(&mut fk("svc_payments", "invoice_id", "svc_invoices", true))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_payments_external",
                "svc_payments",
                &["source", "external_id"],
                true,
            ),
        ),
        sql(
            b,
            &table("svc_provider_tx")
                .col(pk("id"))
                .col(big("invoice_id"))
                .col(text("request_id"))
                .col(text("transaction_id"))
                .col(text("status"))
                .col(text("payment_url"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk(
                    "svc_provider_tx",
                    "invoice_id",
                    "svc_invoices",
                    true,
                ))
                .take(),
        ),
        sql(
            b,
            &index(
                "svc_provider_tx_request",
                "svc_provider_tx",
                &["request_id"],
                true,
            ),
        ),
        sql(
            b,
            &index(
                "svc_provider_tx_transaction",
                "svc_provider_tx",
                &["transaction_id"],
                false,
            ),
        ),
    ]
}

//! What the platform holds about one account, in one place: the tables whose rows belong to a
//! user (by a `user_id` column) and what deleting an account does to each of them.
//!
//! Case files and appointments are records of the administration: they stay when an account is
//! deleted (cases until their retention period ends), only their link to the account goes; the
//! resident keeps reaching them with reference and access code. Drafts, sessions, roles, org-unit
//! memberships and counted login attempts go with the account.

use crate::Tx;
use crate::q::{Expr, ExprTrait, Query, id};
use kern::Result;

/// Tables with a `user_id` column and whether their rows are deleted (`true`) or kept without
/// the link (`false`) when the account is deleted. A test checks that every such table of the
/// schema is listed here.
pub const USER_TABLES: &[(&str, bool)] = &[
    ("user_roles", true),
    ("user_org_units", true),
    ("sessions", true),
    ("svc_drafts", true),
    ("svc_cases", false),
    ("svc_appointments", false),
];

/// Deletes an account and everything listed in [`USER_TABLES`]; answers whether it existed.
pub async fn delete_account(tx: &mut Tx, user_id: i64, username: &str) -> Result<bool> {
    for (table, delete) in USER_TABLES {
        if *delete {
            tx.execute(
                &Query::delete()
                    .from_table(id(table))
                    .and_where(Expr::col(id("user_id")).eq(user_id))
                    .take(),
            )
            .await?;
        } else {
            tx.execute(
                &Query::update()
                    .table(id(table))
                    .value(id("user_id"), Option::<i64>::None)
                    .and_where(Expr::col(id("user_id")).eq(user_id))
                    .take(),
            )
            .await?;
        }
    }
    tx.execute(
        &Query::delete()
            .from_table(id("login_attempts"))
            .and_where(Expr::col(id("username")).eq(username))
            .take(),
    )
    .await?;
    let n = tx
        .execute(
            &Query::delete()
                .from_table(id("users"))
                .and_where(Expr::col(id("id")).eq(user_id))
                .take(),
        )
        .await?;
    Ok(n > 0)
}

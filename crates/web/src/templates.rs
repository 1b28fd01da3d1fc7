//! Server-rendered HTML through minijinja templates.
//!
//! The built-in templates are compiled into the binary; a city can restyle by pointing
//! `templates_dir` at a directory whose files override built-in ones of the same name (read at
//! start, no recompilation). Every text goes through `t("key", arg=value)`.

use crate::AppState;
use crate::ctx::Ctx;
use crate::error::WebResult;
use axum::http::StatusCode;
use axum::response::Html;
use kern::i18n::{I18n, Lang};
use kern::{Error, Principal, Role};
use minijinja::value::Kwargs;
use minijinja::{Environment, State, Value, context};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

/// Every built-in template. A new page adds its file here.
pub const BUILTIN: &[(&str, &str)] = builtin!(
    "base.html",
    "macros.html",
    "error.html",
    "home.html",
    "login.html",
    "staff.html",
    "admin/layout.html",
    "admin/macros.html",
    "admin/index.html",
    "admin/users.html",
    "admin/user_new.html",
    "admin/user.html",
    "admin/tokens.html",
    "admin/token_created.html",
    "admin/audit.html",
    "admin/feedback.html",
    "legal/impressum.html",
    "legal/datenschutz.html",
    "legal/barrierefreiheit.html",
    "cityops/roadworks.html",
    "cityops/subscription.html",
    "cityops/staff_nav.html",
    "cityops/staff_list.html",
    "cityops/staff_new.html",
    "cityops/staff_detail.html",
    "cityops/staff_board.html",
    "cityops/staff_streets.html",
    "cityops/parking.html",
    "cityops/staff_parking.html",
    "cityops/traffic.html",
    "lighting/staff_nav.html",
    "lighting/public.html",
    "lighting/energy.html",
    "services/list.html",
    "services/one.html",
    "services/staff_list.html",
    "services/staff_form.html",
    "appointments/book.html",
    "appointments/booked.html",
    "appointments/manage.html",
    "appointments/display.html",
    "appointments/staff_day.html",
    "cases/parts.html",
    "cases/apply.html",
    "cases/submitted.html",
    "cases/mine.html",
    "account.html",
    "cases/case.html",
    "cases/paid.html",
    "cases/inbox.html",
    "cases/staff_case.html",
    "cases/form_editor.html",
    "cases/payments.html",
    "lighting/staff.html",
    "lighting/staff_inventory.html",
    "lighting/staff_schedules.html",
    "energy/public.html",
    "energy/staff.html",
);

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new(override_dir: Option<PathBuf>) -> kern::Result<Templates> {
        let mut sources: BTreeMap<String, String> = BUILTIN
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        if let Some(dir) = override_dir {
            for (name, _) in BUILTIN {
                let p = dir.join(name);
                if p.exists() {
                    let text = std::fs::read_to_string(&p).map_err(|e| {
                        Error::invalid("templates_dir", format!("cannot read {}: {e}", p.display()))
                    })?;
                    sources.insert(name.to_string(), text);
                }
            }
        }
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        for (name, src) in sources {
            env.add_template_owned(name.clone(), src).map_err(|e| {
                Error::invalid(
                    "templates",
                    format!("template {name} does not compile: {e}"),
                )
            })?;
        }
        let i18n = Arc::new(I18n::new());
        env.add_function(
            "t",
            move |state: &State, key: &str, kwargs: Kwargs| -> Result<String, minijinja::Error> {
                let lang = state
                    .lookup("lang")
                    .and_then(|v| v.as_str().and_then(Lang::from_code))
                    .unwrap_or(Lang::De);
                let mut args = Vec::new();
                for k in kwargs.args() {
                    let v: Value = kwargs.get(k)?;
                    args.push((k, v.to_string()));
                }
                Ok(i18n.t_args(lang, key, &args))
            },
        );
        env.add_filter("datetime", |v: Value| -> String {
            let s = v.to_string();
            match chrono::DateTime::parse_from_rfc3339(&s) {
                Ok(t) => t
                    .with_timezone(&chrono::Utc)
                    .format("%d.%m.%Y %H:%M UTC")
                    .to_string(),
                Err(_) => s,
            }
        });
        Ok(Templates { env })
    }

    pub fn render(&self, name: &str, ctx: Value) -> kern::Result<String> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| Error::internal(format!("template {name}: {e}")))?;
        tmpl.render(ctx)
            .map_err(|e| Error::internal(format!("rendering {name}: {e:#}")))
    }
}

/// What every page knows about the signed-in person.
fn user_value(p: &Principal) -> Value {
    match p {
        Principal::User(u) => context! {
            id => u.id,
            username => u.username,
            display_name => u.display_name,
            roles => u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            is_admin => p.is_admin(),
            is_staff => u.roles.iter().any(|r| r.is_staff_side()),
        },
        _ => Value::from(()),
    }
}

impl AppState {
    /// Renders a page with the common context (language, city, user, CSRF token) plus `extra`.
    pub fn page(&self, ctx: &Ctx, template: &str, extra: Value) -> WebResult<Html<String>> {
        let c = &self.env.config;
        let base = context! {
            lang => ctx.lang.code(),
            other_lang => if ctx.lang == Lang::De { "en" } else { "de" },
            city => c.city,
            user => user_value(&ctx.principal),
            csrf => ctx.csrf_token,
            path => ctx.path,
            request_id => ctx.request_id,
            oidc_label => c.oidc.as_ref().map(|o| o.label.clone()),
            flash => ctx.flash,
        };
        let merged = context! { ..extra, ..base };
        Ok(Html(self.templates.render(template, merged)?))
    }

    /// Roles for display.
    pub fn role_labels(&self, lang: Lang, roles: &[Role]) -> String {
        roles
            .iter()
            .map(|r| self.i18n.t(lang, r.label_key()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An error page, rendered without a signed-in user (the error may be about the session).
pub fn error_page(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    message: &str,
    request_id: &str,
) -> Html<String> {
    let ctx = context! {
        lang => lang.code(),
        other_lang => if lang == Lang::De { "en" } else { "de" },
        city => state.env.config.city,
        status => status.as_u16(),
        message => message,
        request_id => request_id,
    };
    match state.templates.render("error.html", ctx) {
        Ok(html) => Html(html),
        Err(_) => Html(format!(
            "<!doctype html><html lang=\"{}\"><title>{}</title><main><h1>{}</h1><p>{}</p></main></html>",
            lang.code(),
            status.as_u16(),
            status.as_u16(),
            minijinja_escape(message)
        )),
    }
}

fn minijinja_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

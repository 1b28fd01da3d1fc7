//! Online application forms: the pure engine behind the citizen-facing forms.
//!
//! A form is data ([`FormDef`]): a JSON Schema subset describing the values, a layout
//! describing how they are presented, attachment rules and an optional fee rule. This module
//! checks definitions ([`FormDef::parse`], [`FormDef::check`]), reads HTML form posts
//! ([`FormDef::read_submission`]), validates JSON data ([`FormDef::validate`]), builds the
//! template view model ([`FormDef::view`]), computes fees ([`FormDef::fee_cents`]), checks
//! uploads ([`FormDef::check_attachment`], [`FormDef::missing_attachments`]) and lists the
//! values for the receipt ([`FormDef::summary`]). It does no I/O.
//!
//! # Definition format (reference for administrators)
//!
//! ```json
//! {
//!   "schema": { "type": "object", "properties": { … }, "required": [ … ] },
//!   "layout": { "groups": [ { "id": "…", "title": { "de": "…" }, "fields": [ … ] } ] },
//!   "attachments": [ … ],
//!   "fee": { "kind": "fixed", "cents": 2500 }
//! }
//! ```
//!
//! `attachments` and `fee` are optional. Unknown keys are rejected everywhere, with the key
//! named in the problem report; nothing is silently ignored.
//!
//! ## `schema`
//!
//! | keyword | meaning |
//! |---------|---------|
//! | `type` | required, must be `"object"` |
//! | `properties` | required: property name → property (at most 200 properties) |
//! | `required` | optional: array of distinct property names |
//! | `title`, `description`, `$schema` | optional strings, documentation only |
//! | `additionalProperties` | optional, only `false` (unknown fields are always rejected) |
//!
//! Property names (and group ids and attachment names) start with an ASCII letter, continue
//! with ASCII letters, digits, `_` or `-`, and have at most 64 characters. `csrf` and `action`
//! are reserved for the web layer. Each property is an object with these keywords:
//!
//! | keyword | applies to | meaning |
//! |---------|------------|---------|
//! | `type` | all, required | `string`, `integer`, `number` or `boolean` |
//! | `title`, `description` | all | strings, documentation only (labels come from the layout) |
//! | `enum` | all | non-empty array of distinct values of the property's type |
//! | `const` | all | the only allowed value; `true` on a boolean is a confirmation box that must be ticked |
//! | `minLength`, `maxLength` | string | non-negative integers, counted in Unicode characters |
//! | `pattern` | string | Rust `regex` syntax (no look-around, no back-references); unanchored as in JSON Schema, so write `^…$` to match the whole value |
//! | `format` | string | `date` (`YYYY-MM-DD`, a real calendar day), `email` (one `@`, non-empty local part, dotted domain, no spaces), `iban` (ISO 13616 check digits and country length) |
//! | `minimum`, `maximum` | integer, number | inclusive bounds |
//! | `default` | all | a valid value, pre-filled by [`FormDef::defaults`] for a fresh form |
//!
//! Any other keyword (`oneOf`, `items`, `exclusiveMinimum`, …) is rejected, as is a keyword on a
//! type it does not apply to (e.g. `minLength` on an integer).
//!
//! ## `layout`
//!
//! `groups` is an array of `{ "id", "title", "help"?, "fields" }`; each group becomes a
//! fieldset. Texts are `{ "de": "…", "en": "…"? }`; English falls back to German. Every
//! property is placed in exactly one group; each field is:
//!
//! | key | meaning |
//! |-----|---------|
//! | `name` | the schema property |
//! | `label`, `help` | texts (`help` optional) |
//! | `widget` | optional: `text`, `textarea`, `select`, `radio`, `checkbox`, `date`, `email`, `number`, `tel` |
//! | `when` | optional `{ "field", "equals" }`: the field is shown, required and validated only while the earlier field `field` has the value `equals` |
//! | `autocomplete` | optional HTML autocomplete tokens (`name`, `email`, `bday`, …) |
//! | `options` | optional labels of `enum` values: `{ "value": { "de": "…" } }`; the value itself is the fallback label |
//!
//! Widgets must fit the property: `checkbox` is the only widget of a boolean (and the default);
//! `select` and `radio` need an `enum`; `date` needs `format: date`; `number` needs an integer or
//! number; `textarea`, `email` and `tel` need a string; `text` takes strings and numbers.
//! Defaults: `select` for an `enum`, `date`/`email` for those formats, `number` for numbers,
//! `text` otherwise. A `when` condition refers to a field placed earlier in the layout and its
//! value must be of that field's type (and one of its `enum` values).
//!
//! ## `attachments`
//!
//! An array of `{ "name", "label", "help"?, "required"?, "types", "max_bytes" }`. Names are
//! unique and differ from the property names; `types` lists media types among
//! `application/pdf`, `image/jpeg` and `image/png`; `max_bytes` is between 1 and 20 MiB
//! (20971520). Uploads are identified by their content (magic bytes), never by file name or
//! the browser's type. "MB" in messages means MiB.
//!
//! ## `workflow`
//!
//! Optional; how the case file of this service is worked.
//! `{ "states": [ … ], "labels": { "state": { "de": "…" } }, "processing_days": 14 }`:
//!
//! - `states`: the states the service uses, among `received`, `in_review`,
//!   `missing_documents`, `decided` and `closed`. `received`, `decided` and `closed` are always
//!   part of the workflow; leaving out `in_review` or `missing_documents` removes that step
//!   (staff then decide straight from `received`). Default: all five.
//! - `labels`: the name of a used state as residents and staff see it (for example "Prüfung
//!   der Sachkunde" for `in_review`); the standard name otherwise.
//! - `processing_days`: the processing deadline, 1 to 3650 days after submission; a new case
//!   gets it as its deadline (reminders by e-mail as for deadlines set by hand).
//!
//! ## `fee`
//!
//! Internally tagged by `kind`:
//!
//! - `{ "kind": "fixed", "cents": 2500 }`: a fixed amount (not negative).
//! - `{ "kind": "computed", "base_cents": 0, "per": [ { "field": "anzahl", "cents": 9600 } ],
//!   "table": { "field": "rasse", "cents": { "pitbull": 60000 } } }`: the base amount (not
//!   negative, default 0), plus `cents` times the value of each integer field in `per`, plus the
//!   table amount for the value of the `table` field (a property with an `enum`, a boolean with
//!   keys `true`/`false`, or an integer with decimal keys; values without an entry add 0). `per`
//!   entries and table amounts may be negative (reductions); the total is computed with
//!   saturating arithmetic and never below 0. Hidden and absent fields add nothing.
//!
//! # Semantics of values
//!
//! - An empty (or whitespace-only) string and `null` count as absent. A checkbox is always
//!   present in an HTML post (`true` when posted with any value, else `false`), so `required`
//!   on a boolean only matters for JSON data; use `const: true` for a box that must be ticked.
//! - A hidden field (its `when` does not hold) is neither required nor validated; for a
//!   condition on a boolean, an absent value counts as `false`. [`FormDef::without_hidden`]
//!   drops hidden values before storing.
//! - Each field reports at most one error, the first of: required, type, `const`, `enum`,
//!   `minLength`, `maxLength`, `pattern`, `format`, `minimum`, `maximum`. Errors come in layout
//!   order, unknown fields last.
//! - HTML posts: strings are trimmed and line breaks normalised to `\n`; IBANs are stored
//!   without spaces in upper case; a date may also be typed as `TT.MM.JJJJ`; numbers accept a
//!   German decimal comma (`12,5`); input that does not parse is kept as the typed string (so
//!   it is shown again) and reported as a type error.

use chrono::NaiveDate;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// At most this many properties per form.
pub const MAX_FIELDS: usize = 200;
/// The largest allowed `max_bytes` of an attachment (20 MiB).
pub const MAX_ATTACHMENT_BYTES: u64 = 20 * MIB;
/// Media type of PDF documents.
pub const MEDIA_PDF: &str = "application/pdf";
/// Media type of JPEG images.
pub const MEDIA_JPEG: &str = "image/jpeg";
/// Media type of PNG images.
pub const MEDIA_PNG: &str = "image/png";
/// Field names the web layer uses itself.
pub const RESERVED_NAMES: &[&str] = &["csrf", "action"];

const MIB: u64 = 1024 * 1024;
const MEDIA_TYPES: &[&str] = &[MEDIA_PDF, MEDIA_JPEG, MEDIA_PNG];

/// Translation keys of [`FieldError::key`].
pub mod keys {
    pub const REQUIRED: &str = "form-error-required";
    pub const TYPE_OBJECT: &str = "form-error-type-object";
    pub const TYPE_STRING: &str = "form-error-type-string";
    pub const TYPE_INTEGER: &str = "form-error-type-integer";
    pub const TYPE_NUMBER: &str = "form-error-type-number";
    pub const TYPE_BOOLEAN: &str = "form-error-type-boolean";
    pub const MIN_LENGTH: &str = "form-error-min-length";
    pub const MAX_LENGTH: &str = "form-error-max-length";
    pub const PATTERN: &str = "form-error-pattern";
    pub const MINIMUM: &str = "form-error-minimum";
    pub const MAXIMUM: &str = "form-error-maximum";
    pub const ENUM: &str = "form-error-enum";
    pub const FORMAT_DATE: &str = "form-error-format-date";
    pub const FORMAT_EMAIL: &str = "form-error-format-email";
    pub const FORMAT_IBAN: &str = "form-error-format-iban";
    pub const ATTACHMENT_MISSING: &str = "form-error-attachment-missing";
    pub const ATTACHMENT_TYPE: &str = "form-error-attachment-type";
    pub const ATTACHMENT_SIZE: &str = "form-error-attachment-size";
    pub const ATTACHMENT_EMPTY: &str = "form-error-attachment-empty";
    pub const UNKNOWN_FIELD: &str = "form-error-unknown-field";
}

// ---------------------------------------------------------------------------
// Definition types
// ---------------------------------------------------------------------------

/// A form definition: schema, layout, attachment rules and fee rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FormDef {
    /// The JSON Schema subset described in the module documentation.
    pub schema: Value,
    pub layout: Layout,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<FeeRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<Workflow>,
}

/// Every state of a case, in workflow order.
pub const CASE_STATES: [&str; 5] = [
    "received",
    "in_review",
    "missing_documents",
    "decided",
    "closed",
];
/// The states every workflow has.
pub const REQUIRED_STATES: [&str; 3] = ["received", "decided", "closed"];

/// How the case file of a service is worked (see the module documentation).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    #[serde(default = "all_states")]
    pub states: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_days: Option<u32>,
}

fn all_states() -> Vec<String> {
    CASE_STATES.iter().map(|s| s.to_string()).collect()
}

fn analyse_workflow(w: &Workflow, problems: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    for s in &w.states {
        if !CASE_STATES.contains(&s.as_str()) {
            problems.push(format!(
                "workflow: state `{s}` does not exist (received, in_review, missing_documents, decided, closed)"
            ));
        }
        if !seen.insert(s.as_str()) {
            problems.push(format!("workflow: state `{s}` is listed twice"));
        }
    }
    for r in REQUIRED_STATES {
        if !seen.contains(r) {
            problems.push(format!("workflow: state `{r}` is required"));
        }
    }
    for (state, text) in &w.labels {
        if !seen.contains(state.as_str()) {
            problems.push(format!(
                "workflow: label of `{state}`, which is not a state of this workflow"
            ));
        }
        if text.de.trim().is_empty() || text.de.chars().count() > 80 {
            problems.push(format!(
                "workflow: label of `{state}`: `de` must have 1 to 80 characters"
            ));
        }
    }
    if let Some(d) = w.processing_days
        && !(1..=3650).contains(&d)
    {
        problems.push("workflow: `processing_days` must be between 1 and 3650".into());
    }
}

/// The presentation of a form: groups of fields, in order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    pub groups: Vec<Group>,
}

/// A group of fields, rendered as a fieldset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Text>,
    pub fields: Vec<FieldLayout>,
}

/// How one schema property is presented.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldLayout {
    pub name: String,
    pub label: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widget: Option<Widget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autocomplete: Option<String>,
    /// Labels of `enum` values, keyed by the value (numbers and booleans as written in JSON).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, Text>,
}

/// A text in German with an optional English translation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub de: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

impl Text {
    /// German text only.
    pub fn de(de: impl Into<String>) -> Self {
        Text {
            de: de.into(),
            en: None,
        }
    }

    /// The text in `lang` (`en`, `en-GB`, … use English when present); German otherwise.
    pub fn get(&self, lang: &str) -> &str {
        match &self.en {
            Some(en) if is_en(lang) && !en.trim().is_empty() => en,
            _ => &self.de,
        }
    }
}

/// The input control of a field.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Widget {
    Text,
    Textarea,
    Select,
    Radio,
    Checkbox,
    Date,
    Email,
    Number,
    Tel,
}

impl Widget {
    /// The snake_case name, as in definitions and templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Widget::Text => "text",
            Widget::Textarea => "textarea",
            Widget::Select => "select",
            Widget::Radio => "radio",
            Widget::Checkbox => "checkbox",
            Widget::Date => "date",
            Widget::Email => "email",
            Widget::Number => "number",
            Widget::Tel => "tel",
        }
    }

    /// The `type` of an `<input>` (`text` for textarea and select, which are not inputs).
    pub fn input_type(self) -> &'static str {
        match self {
            Widget::Text | Widget::Textarea | Widget::Select => "text",
            Widget::Radio => "radio",
            Widget::Checkbox => "checkbox",
            Widget::Date => "date",
            Widget::Email => "email",
            Widget::Number => "number",
            Widget::Tel => "tel",
        }
    }
}

/// Shows a field only while an earlier field has a given value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    pub equals: Value,
}

/// An upload slot of a form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSpec {
    pub name: String,
    pub label: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Text>,
    #[serde(default)]
    pub required: bool,
    /// Allowed media types: `application/pdf`, `image/jpeg`, `image/png`.
    pub types: Vec<String>,
    pub max_bytes: u64,
}

/// The fee of a form, tagged by `kind` (`fixed` or `computed`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FeeRule {
    /// A fixed amount.
    Fixed { cents: i64 },
    /// Base amount plus amounts per unit of integer fields plus a table amount.
    Computed {
        #[serde(default)]
        base_cents: i64,
        #[serde(default)]
        per: Vec<PerUnit>,
        #[serde(default)]
        table: Option<Table>,
    },
}

/// `cents` times the value of the integer field `field`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PerUnit {
    pub field: String,
    pub cents: i64,
}

/// The amount for the value of `field` (keys: enum values, `true`/`false`, or integers).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub field: String,
    pub cents: BTreeMap<String, i64>,
}

/// A problem with one field or attachment; `key` is a translation key (see [`keys`]).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub key: &'static str,
    pub arg: Option<String>,
}

impl FieldError {
    fn new(field: &str, key: &'static str) -> Self {
        FieldError {
            field: field.to_string(),
            key,
            arg: None,
        }
    }

    fn with_arg(field: &str, key: &'static str, arg: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            key,
            arg: Some(arg.into()),
        }
    }
}

// ---------------------------------------------------------------------------
// View model
// ---------------------------------------------------------------------------

/// Everything a template needs to render a form.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FormView {
    pub groups: Vec<GroupView>,
    pub attachments: Vec<AttachmentView>,
    /// The errors that belong to a field or attachment, in form order (for an error summary
    /// at the top of the page linking to `#id`).
    pub errors: Vec<ErrorView>,
}

/// One group (fieldset).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupView {
    pub id: String,
    pub title: String,
    pub help: Option<String>,
    pub fields: Vec<FieldView>,
}

/// One field.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldView {
    pub name: String,
    /// `f-` + name, for `id` and `<label for>`; help and error texts use `{id}-help` and
    /// `{id}-error`.
    pub id: String,
    pub label: String,
    pub help: Option<String>,
    /// `text`, `textarea`, `select`, `radio`, `checkbox`, `date`, `email`, `number`, `tel`.
    pub widget: &'static str,
    /// The `type` of an `<input>` (see [`Widget::input_type`]).
    pub input_type: &'static str,
    /// The current value as typed; `true` for a checkbox (the posted value).
    pub value: String,
    /// Whether a checkbox is ticked.
    pub checked: bool,
    /// The choices of a select or radio group.
    pub options: Vec<OptionView>,
    /// Required (for the marker; with a `when`, only while shown). For a checkbox: must be
    /// ticked (`const: true`).
    pub required: bool,
    /// Whether to write the HTML `required` attribute: never on conditional fields, which may
    /// be hidden by CSS and would then block the submission.
    pub required_attr: bool,
    pub error: Option<FieldError>,
    /// The condition: shown while the field `when_field` (element id `when_id`) has the value
    /// `when_value` (`true`/`false` for checkboxes).
    pub when_field: Option<String>,
    pub when_id: Option<String>,
    pub when_value: Option<String>,
    /// Whether the condition holds for the current data.
    pub shown: bool,
    pub autocomplete: Option<String>,
    /// HTML `minlength`/`maxlength` (text-like inputs and textarea).
    pub min_length: Option<String>,
    pub max_length: Option<String>,
    /// HTML `min`/`max` (number inputs).
    pub minimum: Option<String>,
    pub maximum: Option<String>,
    /// HTML `pattern`, a hint for the browser with the same unanchored meaning as on the server
    /// (the server check is authoritative).
    pub pattern: Option<String>,
    /// HTML `step` of number inputs (`1` or `any`).
    pub step: Option<&'static str>,
    /// HTML `inputmode` for numbers in text inputs.
    pub inputmode: Option<&'static str>,
    /// HTML `aria-describedby`: the ids of the help and error texts present.
    pub described_by: Option<String>,
}

/// One choice of a select or radio group.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One upload slot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttachmentView {
    pub name: String,
    /// `f-` + name.
    pub id: String,
    pub label: String,
    pub help: Option<String>,
    pub required: bool,
    /// HTML `accept`: extensions and media types, e.g. `.pdf,.jpg,.jpeg,application/pdf,image/jpeg`.
    pub accept: String,
    /// The allowed types for people, e.g. `PDF, JPEG`.
    pub types: String,
    /// The size limit in MB (MiB), e.g. `5` or `0,5`.
    pub max_mb: String,
    pub error: Option<FieldError>,
    pub described_by: Option<String>,
}

/// An entry of the error summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorView {
    pub id: String,
    pub label: String,
    pub error: FieldError,
}

// ---------------------------------------------------------------------------
// Analysed definition
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    String,
    Integer,
    Number,
    Boolean,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Integer => "integer",
            Ty::Number => "number",
            Ty::Boolean => "boolean",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Date,
    Email,
    Iban,
}

/// One schema property with its valid keywords.
struct Prop<'a> {
    ty: Ty,
    enum_values: Option<&'a [Value]>,
    const_value: Option<&'a Value>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<(&'a str, Regex)>,
    format: Option<Format>,
    minimum: Option<&'a Number>,
    maximum: Option<&'a Number>,
    default: Option<&'a Value>,
    required: bool,
}

impl Prop<'_> {
    fn new(ty: Ty) -> Self {
        Prop {
            ty,
            enum_values: None,
            const_value: None,
            min_length: None,
            max_length: None,
            pattern: None,
            format: None,
            minimum: None,
            maximum: None,
            default: None,
            required: false,
        }
    }
}

/// A definition read leniently: the valid parts, used by all operations. [`FormDef::check`]
/// reports what was left out.
struct Compiled<'a> {
    props: BTreeMap<&'a str, Prop<'a>>,
    /// Placed fields with a usable property, in layout order, without duplicates.
    fields: Vec<&'a FieldLayout>,
    /// Usable properties missing from the layout (only in unchecked definitions).
    unplaced: Vec<&'a str>,
}

impl Compiled<'_> {
    /// Whether each placed field is shown for `obj`.
    fn visibility(&self, obj: &Map<String, Value>) -> HashMap<&str, bool> {
        let mut shown: HashMap<&str, bool> = HashMap::new();
        for f in &self.fields {
            let visible = match &f.when {
                None => true,
                Some(c) => {
                    shown.get(c.field.as_str()).copied().unwrap_or(true)
                        && self
                            .condition_value(obj, &c.field)
                            .is_some_and(|v| loose_eq(&v, &c.equals))
                }
            };
            shown.insert(f.name.as_str(), visible);
        }
        shown
    }

    /// The value a condition compares: absent booleans count as `false`.
    fn condition_value(&self, obj: &Map<String, Value>, field: &str) -> Option<Value> {
        match present(obj, field) {
            Some(v) => Some(v.clone()),
            None => match self.props.get(field) {
                Some(p) if p.ty == Ty::Boolean => Some(Value::Bool(false)),
                _ => None,
            },
        }
    }
}

impl FormDef {
    /// Reads and checks a definition; returns all problems found, for administrators.
    pub fn parse(v: &Value) -> Result<FormDef, Vec<String>> {
        let def = FormDef::deserialize(v).map_err(|e| vec![format!("definition: {e}")])?;
        let problems = def.check();
        if problems.is_empty() {
            Ok(def)
        } else {
            Err(problems)
        }
    }

    /// The problems of a definition (empty when it is valid); see the module documentation.
    pub fn check(&self) -> Vec<String> {
        self.analyse().1
    }

    fn compiled(&self) -> Compiled<'_> {
        self.analyse().0
    }

    fn analyse(&self) -> (Compiled<'_>, Vec<String>) {
        let mut problems = Vec::new();
        let (props, names) = analyse_schema(&self.schema, &mut problems);
        let (fields, unplaced) = analyse_layout(&self.layout, &props, &names, &mut problems);
        analyse_attachments(&self.attachments, &names, &mut problems);
        if let Some(fee) = &self.fee {
            analyse_fee(fee, &props, &mut problems);
        }
        if let Some(w) = &self.workflow {
            analyse_workflow(w, &mut problems);
        }
        (
            Compiled {
                props,
                fields,
                unplaced,
            },
            problems,
        )
    }

    /// Whether cases of this form pass through `state` (every state without a `workflow`).
    pub fn uses_state(&self, state: &str) -> bool {
        match &self.workflow {
            Some(w) => w.states.iter().any(|s| s == state),
            None => CASE_STATES.contains(&state),
        }
    }

    /// The service's own name of a state, if it gives one.
    pub fn state_text(&self, state: &str) -> Option<&Text> {
        self.workflow.as_ref()?.labels.get(state)
    }

    /// Days from submission to the processing deadline, if the workflow sets one.
    pub fn processing_days(&self) -> Option<u32> {
        self.workflow.as_ref()?.processing_days
    }

    /// The `default` values of the schema, as data for a fresh form.
    pub fn defaults(&self) -> Value {
        let c = self.compiled();
        let obj: Map<String, Value> = c
            .props
            .iter()
            .filter_map(|(name, p)| p.default.map(|d| (name.to_string(), d.clone())))
            .collect();
        Value::Object(obj)
    }

    /// Reads an HTML form post into typed data and validates it.
    ///
    /// Names that are not properties (`csrf`, `action`, …) are ignored; of repeated names the
    /// first counts. Fields whose condition does not hold are dropped. The data is returned
    /// even when invalid, with unparseable input kept as the typed string.
    pub fn read_submission(&self, fields: &[(String, String)]) -> (Value, Vec<FieldError>) {
        let c = self.compiled();
        let posted = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let mut data = Map::new();
        for f in &c.fields {
            if let Some(cond) = &f.when {
                let holds = c
                    .condition_value(&data, &cond.field)
                    .is_some_and(|v| loose_eq(&v, &cond.equals));
                if !holds {
                    continue;
                }
            }
            let prop = &c.props[f.name.as_str()];
            if let Some(v) = convert(prop, posted(&f.name)) {
                data.insert(f.name.clone(), v);
            }
        }
        for name in &c.unplaced {
            if let Some(v) = convert(&c.props[name], posted(name)) {
                data.insert(name.to_string(), v);
            }
        }
        let data = Value::Object(data);
        let errors = validate_compiled(&c, &data);
        (data, errors)
    }

    /// Validates JSON data: unknown fields, required (shown) fields, types and keywords.
    pub fn validate(&self, data: &Value) -> Vec<FieldError> {
        validate_compiled(&self.compiled(), data)
    }

    /// The data without values of hidden fields and without `null`s, as it should be stored.
    pub fn without_hidden(&self, data: &Value) -> Value {
        let Some(obj) = data.as_object() else {
            return data.clone();
        };
        let c = self.compiled();
        let shown = c.visibility(obj);
        let kept = obj
            .iter()
            .filter(|(k, v)| !v.is_null() && shown.get(k.as_str()).copied().unwrap_or(true))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Value::Object(kept)
    }

    /// The fee in cents for `data`; `None` when the form has no fee.
    pub fn fee_cents(&self, data: &Value) -> Option<i64> {
        match self.fee.as_ref()? {
            FeeRule::Fixed { cents } => Some((*cents).max(0)),
            FeeRule::Computed {
                base_cents,
                per,
                table,
            } => {
                let data = self.without_hidden(data);
                let empty = Map::new();
                let obj = data.as_object().unwrap_or(&empty);
                let mut total = *base_cents;
                for unit in per {
                    if let Some(n) = obj.get(&unit.field).and_then(as_int) {
                        total = total.saturating_add(unit.cents.saturating_mul(n));
                    }
                }
                if let Some(t) = table {
                    let amount = obj
                        .get(&t.field)
                        .and_then(value_key)
                        .and_then(|k| t.cents.get(&k));
                    if let Some(amount) = amount {
                        total = total.saturating_add(*amount);
                    }
                }
                Some(total.max(0))
            }
        }
    }

    /// Checks an upload for the attachment `name` and returns its media type, detected from
    /// the content. `file_name` is deliberately not used to decide the type.
    pub fn check_attachment(
        &self,
        name: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<String, FieldError> {
        let _ = file_name;
        let Some(spec) = self.attachments.iter().find(|a| a.name == name) else {
            return Err(FieldError::new(name, keys::UNKNOWN_FIELD));
        };
        if bytes.is_empty() {
            return Err(FieldError::new(name, keys::ATTACHMENT_EMPTY));
        }
        if bytes.len() as u64 > spec.max_bytes {
            return Err(FieldError::with_arg(
                name,
                keys::ATTACHMENT_SIZE,
                mb_string(spec.max_bytes, '.'),
            ));
        }
        match sniff_media_type(bytes) {
            Some(t) if spec.types.iter().any(|allowed| allowed == t) => Ok(t.to_string()),
            _ => Err(FieldError::with_arg(
                name,
                keys::ATTACHMENT_TYPE,
                types_label(&spec.types),
            )),
        }
    }

    /// Errors for the required attachments whose names are not in `present`.
    pub fn missing_attachments(&self, present: &[String]) -> Vec<FieldError> {
        self.attachments
            .iter()
            .filter(|a| a.required && !present.contains(&a.name))
            .map(|a| FieldError::new(&a.name, keys::ATTACHMENT_MISSING))
            .collect()
    }

    /// The view model for rendering the form with `data` (as typed) and `errors`.
    pub fn view(&self, data: &Value, errors: &[FieldError], lang: &str) -> FormView {
        let c = self.compiled();
        let empty = Map::new();
        let obj = data.as_object().unwrap_or(&empty);
        let shown = c.visibility(obj);
        let error_for = |name: &str| errors.iter().find(|e| e.field == name).cloned();
        let mut summary = Vec::new();
        let mut groups = Vec::new();
        for g in &self.layout.groups {
            let mut fields = Vec::new();
            for f in &g.fields {
                if !c.fields.iter().any(|placed| std::ptr::eq(*placed, f)) {
                    continue;
                }
                let prop = &c.props[f.name.as_str()];
                let visible = shown.get(f.name.as_str()).copied().unwrap_or(true);
                let fv = field_view(f, prop, obj, error_for(&f.name), visible, lang);
                if let Some(e) = &fv.error {
                    summary.push(ErrorView {
                        id: fv.id.clone(),
                        label: fv.label.clone(),
                        error: e.clone(),
                    });
                }
                fields.push(fv);
            }
            groups.push(GroupView {
                id: g.id.clone(),
                title: g.title.get(lang).to_string(),
                help: g.help.as_ref().map(|h| h.get(lang).to_string()),
                fields,
            });
        }
        let attachments: Vec<AttachmentView> = self
            .attachments
            .iter()
            .map(|a| {
                let id = html_id(&a.name);
                let error = error_for(&a.name);
                if let Some(e) = &error {
                    summary.push(ErrorView {
                        id: id.clone(),
                        label: a.label.get(lang).to_string(),
                        error: e.clone(),
                    });
                }
                AttachmentView {
                    name: a.name.clone(),
                    described_by: described_by(&id, a.help.is_some(), error.is_some()),
                    id,
                    label: a.label.get(lang).to_string(),
                    help: a.help.as_ref().map(|h| h.get(lang).to_string()),
                    required: a.required,
                    accept: accept(&a.types),
                    types: types_label(&a.types),
                    max_mb: mb_string(a.max_bytes, if is_en(lang) { '.' } else { ',' }),
                    error,
                }
            })
            .collect();
        FormView {
            groups,
            attachments,
            errors: summary,
        }
    }

    /// Label and display value of each shown, present field in layout order (for the receipt):
    /// booleans as Ja/Nein (Yes/No), enum values by their option labels, dates as `TT.MM.JJJJ`
    /// in German (ISO in English), IBANs in groups of four, German decimal commas.
    pub fn summary(&self, data: &Value, lang: &str) -> Vec<(String, String)> {
        let c = self.compiled();
        let empty = Map::new();
        let obj = data.as_object().unwrap_or(&empty);
        let shown = c.visibility(obj);
        let mut out = Vec::new();
        for f in &c.fields {
            if !shown.get(f.name.as_str()).copied().unwrap_or(true) {
                continue;
            }
            let Some(v) = present(obj, &f.name) else {
                continue;
            };
            let prop = &c.props[f.name.as_str()];
            out.push((
                f.label.get(lang).to_string(),
                display_value(v, prop, f, lang),
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Checking definitions
// ---------------------------------------------------------------------------

/// Names of properties, groups and attachments.
fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

const NAME_RULE: &str = "must start with an ASCII letter and contain only ASCII letters, digits, `_` and `-` (at most 64 characters)";

fn analyse_schema<'a>(
    schema: &'a Value,
    problems: &mut Vec<String>,
) -> (BTreeMap<&'a str, Prop<'a>>, BTreeSet<&'a str>) {
    let mut props = BTreeMap::new();
    let mut names = BTreeSet::new();
    let Some(obj) = schema.as_object() else {
        problems.push("schema: must be a JSON object".into());
        return (props, names);
    };
    let mut required: Vec<&str> = Vec::new();
    let mut properties = None;
    for (key, v) in obj {
        match key.as_str() {
            "type" => {
                if v != "object" {
                    problems.push("schema: `type` must be \"object\"".into());
                }
            }
            "properties" => match v.as_object() {
                Some(p) => properties = Some(p),
                None => problems.push("schema: `properties` must be an object".into()),
            },
            "required" => match v.as_array() {
                Some(items) => {
                    for item in items {
                        match item.as_str() {
                            Some(s) if required.contains(&s) => {
                                problems.push(format!("schema: `required` names `{s}` twice"));
                            }
                            Some(s) => required.push(s),
                            None => problems.push(format!(
                                "schema: `required` must contain property names, found {item}"
                            )),
                        }
                    }
                }
                None => problems.push("schema: `required` must be an array of names".into()),
            },
            "title" | "description" | "$schema" => {
                if !v.is_string() {
                    problems.push(format!("schema: `{key}` must be a string"));
                }
            }
            "additionalProperties" => {
                if v != &Value::Bool(false) {
                    problems.push(
                        "schema: `additionalProperties` may only be false (unknown fields are always rejected)"
                            .into(),
                    );
                }
            }
            other => problems.push(format!("schema: unsupported keyword `{other}`")),
        }
    }
    if !obj.contains_key("type") {
        problems.push("schema: `type` is missing (must be \"object\")".into());
    }
    let Some(properties) = properties else {
        if !obj.contains_key("properties") {
            problems.push("schema: `properties` is missing".into());
        }
        return (props, names);
    };
    if properties.len() > MAX_FIELDS {
        problems.push(format!(
            "schema: {} properties, at most {MAX_FIELDS} are allowed",
            properties.len()
        ));
    }
    for (name, def) in properties {
        names.insert(name.as_str());
        if let Some(p) = analyse_property(name, def, problems) {
            props.insert(name.as_str(), p);
        }
    }
    for r in required {
        if let Some(p) = props.get_mut(r) {
            p.required = true;
        } else if !names.contains(r) {
            problems.push(format!(
                "schema: `required` names `{r}`, which is not a property"
            ));
        }
    }
    (props, names)
}

fn analyse_property<'a>(
    name: &str,
    def: &'a Value,
    problems: &mut Vec<String>,
) -> Option<Prop<'a>> {
    let ctx = format!("property `{name}`");
    if !valid_name(name) {
        problems.push(format!("{ctx}: the name {NAME_RULE}"));
    }
    if RESERVED_NAMES.contains(&name) {
        problems.push(format!("{ctx}: the name is reserved for the web layer"));
    }
    let Some(obj) = def.as_object() else {
        problems.push(format!("{ctx}: must be an object"));
        return None;
    };
    let ty = match obj.get("type").map(|t| t.as_str()) {
        None => {
            problems.push(format!("{ctx}: `type` is missing"));
            return None;
        }
        Some(Some("string")) => Ty::String,
        Some(Some("integer")) => Ty::Integer,
        Some(Some("number")) => Ty::Number,
        Some(Some("boolean")) => Ty::Boolean,
        Some(_) => {
            problems.push(format!(
                "{ctx}: `type` must be one of \"string\", \"integer\", \"number\", \"boolean\""
            ));
            return None;
        }
    };
    let mut p = Prop::new(ty);
    let only = |kw: &str, types: &str, problems: &mut Vec<String>| {
        problems.push(format!(
            "{ctx}: `{kw}` applies only to {types} properties, this one is {}",
            ty.name()
        ));
    };
    for (key, v) in obj {
        match key.as_str() {
            "type" => {}
            "title" | "description" => {
                if !v.is_string() {
                    problems.push(format!("{ctx}: `{key}` must be a string"));
                }
            }
            "enum" => match v.as_array() {
                Some(values) if !values.is_empty() => {
                    let mut ok = true;
                    for (i, x) in values.iter().enumerate() {
                        if !matches_type(ty, x) {
                            problems.push(format!(
                                "{ctx}: `enum` value {x} is not of type {}",
                                ty.name()
                            ));
                            ok = false;
                        } else if values[..i].iter().any(|y| loose_eq(x, y)) {
                            problems.push(format!("{ctx}: `enum` lists {x} twice"));
                            ok = false;
                        }
                    }
                    if ok {
                        p.enum_values = Some(values);
                    }
                }
                _ => problems.push(format!("{ctx}: `enum` must be a non-empty array")),
            },
            "const" => {
                if matches_type(ty, v) {
                    p.const_value = Some(v);
                } else {
                    problems.push(format!("{ctx}: `const` must be of type {}", ty.name()));
                }
            }
            "minLength" | "maxLength" => {
                if ty != Ty::String {
                    only(key, "string", problems);
                } else if let Some(n) = v.as_u64() {
                    if key == "minLength" {
                        p.min_length = Some(n);
                    } else {
                        p.max_length = Some(n);
                    }
                } else {
                    problems.push(format!("{ctx}: `{key}` must be a non-negative integer"));
                }
            }
            "pattern" => {
                if ty != Ty::String {
                    only(key, "string", problems);
                } else if let Some(src) = v.as_str() {
                    match Regex::new(src) {
                        Ok(re) => p.pattern = Some((src, re)),
                        Err(e) => {
                            let text = e.to_string();
                            let msg: Vec<&str> = text
                                .lines()
                                .map(str::trim)
                                .filter(|l| !l.is_empty())
                                .map(|l| l.strip_prefix("error: ").unwrap_or(l))
                                .collect();
                            problems.push(format!(
                                "{ctx}: `pattern` does not compile: {}",
                                msg.join(" ")
                            ));
                        }
                    }
                } else {
                    problems.push(format!("{ctx}: `pattern` must be a string"));
                }
            }
            "format" => {
                if ty != Ty::String {
                    only(key, "string", problems);
                } else {
                    match v.as_str() {
                        Some("date") => p.format = Some(Format::Date),
                        Some("email") => p.format = Some(Format::Email),
                        Some("iban") => p.format = Some(Format::Iban),
                        _ => problems.push(format!(
                            "{ctx}: `format` {v} is not supported (\"date\", \"email\", \"iban\")"
                        )),
                    }
                }
            }
            "minimum" | "maximum" => {
                if !matches!(ty, Ty::Integer | Ty::Number) {
                    only(key, "integer and number", problems);
                } else if let Some(n) = v.as_number() {
                    if key == "minimum" {
                        p.minimum = Some(n);
                    } else {
                        p.maximum = Some(n);
                    }
                } else {
                    problems.push(format!("{ctx}: `{key}` must be a number"));
                }
            }
            "default" => p.default = Some(v),
            other => problems.push(format!("{ctx}: unsupported keyword `{other}`")),
        }
    }
    if let (Some(min), Some(max)) = (p.min_length, p.max_length)
        && min > max
    {
        problems.push(format!(
            "{ctx}: `minLength` {min} is greater than `maxLength` {max}"
        ));
    }
    if let (Some(min), Some(max)) = (p.minimum, p.maximum)
        && num(min) > num(max)
    {
        problems.push(format!(
            "{ctx}: `minimum` {min} is greater than `maximum` {max}"
        ));
    }
    if let Some(d) = p.default {
        let in_enum = p
            .enum_values
            .is_none_or(|vals| vals.iter().any(|x| loose_eq(x, d)));
        if !matches_type(ty, d) || !in_enum {
            problems.push(format!(
                "{ctx}: `default` {d} is not a valid value of the property"
            ));
            p.default = None;
        }
    }
    Some(p)
}

fn default_widget(p: &Prop) -> Widget {
    match p.ty {
        Ty::Boolean => Widget::Checkbox,
        _ if p.enum_values.is_some() => Widget::Select,
        Ty::String => match p.format {
            Some(Format::Date) => Widget::Date,
            Some(Format::Email) => Widget::Email,
            _ => Widget::Text,
        },
        Ty::Integer | Ty::Number => Widget::Number,
    }
}

fn widget_problem(w: Widget, p: &Prop) -> Option<String> {
    let name = w.as_str();
    match (w, p.ty) {
        (Widget::Checkbox, Ty::Boolean) => None,
        (Widget::Checkbox, _) => Some("widget `checkbox` needs a boolean property".into()),
        (_, Ty::Boolean) => Some(format!(
            "a boolean property can only use widget `checkbox`, not `{name}`"
        )),
        (Widget::Select | Widget::Radio, _) if p.enum_values.is_none() => {
            Some(format!("widget `{name}` needs an `enum` in the schema"))
        }
        (Widget::Select | Widget::Radio | Widget::Text, _) => None,
        (Widget::Date, Ty::String) if p.format == Some(Format::Date) => None,
        (Widget::Date, _) => {
            Some("widget `date` needs a string property with `format: date`".into())
        }
        (Widget::Number, Ty::Integer | Ty::Number) => None,
        (Widget::Number, _) => Some("widget `number` needs an integer or number property".into()),
        (Widget::Textarea | Widget::Email | Widget::Tel, Ty::String) => None,
        (Widget::Textarea | Widget::Email | Widget::Tel, _) => {
            Some(format!("widget `{name}` needs a string property"))
        }
    }
}

fn analyse_layout<'a>(
    layout: &'a Layout,
    props: &BTreeMap<&'a str, Prop<'a>>,
    names: &BTreeSet<&'a str>,
    problems: &mut Vec<String>,
) -> (Vec<&'a FieldLayout>, Vec<&'a str>) {
    let mut group_ids = BTreeSet::new();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut fields = Vec::new();
    if layout.groups.is_empty() && !names.is_empty() {
        problems.push("layout: `groups` is empty".into());
    }
    for g in &layout.groups {
        if !valid_name(&g.id) {
            problems.push(format!("layout group `{}`: the id {NAME_RULE}", g.id));
        }
        if !group_ids.insert(g.id.as_str()) {
            problems.push(format!("layout: group id `{}` is used twice", g.id));
        }
        if g.title.de.trim().is_empty() {
            problems.push(format!("layout group `{}`: `title.de` is empty", g.id));
        }
        for f in &g.fields {
            let ctx = format!("layout field `{}` (group `{}`)", f.name, g.id);
            if f.label.de.trim().is_empty() {
                problems.push(format!("{ctx}: `label.de` is empty"));
            }
            if !names.contains(f.name.as_str()) {
                problems.push(format!("{ctx}: there is no schema property `{}`", f.name));
                continue;
            }
            if !placed.insert(f.name.as_str()) {
                problems.push(format!(
                    "{ctx}: property `{}` is placed more than once",
                    f.name
                ));
                continue;
            }
            // A property with an unusable definition was reported by the schema check.
            let Some(prop) = props.get(f.name.as_str()) else {
                continue;
            };
            if let Some(w) = f.widget
                && let Some(problem) = widget_problem(w, prop)
            {
                problems.push(format!("{ctx}: {problem}"));
            }
            if let Some(c) = &f.when {
                check_condition(&ctx, c, &f.name, props, names, &placed, problems);
            }
            if !f.options.is_empty() {
                match prop.enum_values {
                    None => problems.push(format!(
                        "{ctx}: `options` given, but the property has no `enum`"
                    )),
                    Some(values) => {
                        for (k, label) in &f.options {
                            if !values.iter().any(|v| value_key(v).as_deref() == Some(k)) {
                                problems.push(format!(
                                    "{ctx}: `options` labels `{k}`, which is not an `enum` value"
                                ));
                            }
                            if label.de.trim().is_empty() {
                                problems.push(format!("{ctx}: option `{k}` has an empty `de`"));
                            }
                        }
                    }
                }
            }
            if let Some(a) = &f.autocomplete {
                let ok = !a.trim().is_empty()
                    && a.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == ' '
                    });
                if !ok {
                    problems.push(format!(
                        "{ctx}: `autocomplete` must be HTML autocomplete tokens (a-z, 0-9, `-`)"
                    ));
                }
            }
            fields.push(f);
        }
    }
    let mut unplaced = Vec::new();
    for n in names {
        if !placed.contains(n) {
            problems.push(format!("property `{n}` is not placed in any layout group"));
            if props.contains_key(n) {
                unplaced.push(*n);
            }
        }
    }
    (fields, unplaced)
}

fn check_condition(
    ctx: &str,
    c: &Condition,
    own_name: &str,
    props: &BTreeMap<&str, Prop>,
    names: &BTreeSet<&str>,
    placed: &BTreeSet<&str>,
    problems: &mut Vec<String>,
) {
    let target = c.field.as_str();
    if !names.contains(target) {
        problems.push(format!(
            "{ctx}: `when` refers to `{target}`, which is not a schema property"
        ));
        return;
    }
    if target == own_name || !placed.contains(target) {
        problems.push(format!(
            "{ctx}: `when` refers to `{target}`, which is not placed before this field"
        ));
        return;
    }
    let Some(p) = props.get(target) else {
        return;
    };
    if !matches_type(p.ty, &c.equals) {
        problems.push(format!(
            "{ctx}: `when.equals` for `{target}` must be of type {}",
            p.ty.name()
        ));
    } else if let Some(values) = p.enum_values
        && !values.iter().any(|v| loose_eq(v, &c.equals))
    {
        problems.push(format!(
            "{ctx}: `when.equals` {} is not an `enum` value of `{target}`",
            c.equals
        ));
    }
}

fn analyse_attachments(
    attachments: &[AttachmentSpec],
    names: &BTreeSet<&str>,
    problems: &mut Vec<String>,
) {
    let mut seen = BTreeSet::new();
    for a in attachments {
        let ctx = format!("attachment `{}`", a.name);
        if !valid_name(&a.name) {
            problems.push(format!("{ctx}: the name {NAME_RULE}"));
        }
        if RESERVED_NAMES.contains(&a.name.as_str()) {
            problems.push(format!("{ctx}: the name is reserved for the web layer"));
        }
        if !seen.insert(a.name.as_str()) {
            problems.push(format!("{ctx}: the name is used twice"));
        }
        if names.contains(a.name.as_str()) {
            problems.push(format!("{ctx}: the name is also a schema property"));
        }
        if a.label.de.trim().is_empty() {
            problems.push(format!("{ctx}: `label.de` is empty"));
        }
        if a.types.is_empty() {
            problems.push(format!("{ctx}: `types` is empty"));
        }
        for (i, t) in a.types.iter().enumerate() {
            if !MEDIA_TYPES.contains(&t.as_str()) {
                problems.push(format!(
                    "{ctx}: type `{t}` is not supported (application/pdf, image/jpeg, image/png)"
                ));
            } else if a.types[..i].contains(t) {
                problems.push(format!("{ctx}: type `{t}` is listed twice"));
            }
        }
        if !(1..=MAX_ATTACHMENT_BYTES).contains(&a.max_bytes) {
            problems.push(format!(
                "{ctx}: `max_bytes` {} must be between 1 and {MAX_ATTACHMENT_BYTES} (20 MiB)",
                a.max_bytes
            ));
        }
    }
}

fn analyse_fee(fee: &FeeRule, props: &BTreeMap<&str, Prop>, problems: &mut Vec<String>) {
    match fee {
        FeeRule::Fixed { cents } => {
            if *cents < 0 {
                problems.push("fee: `cents` must not be negative".into());
            }
        }
        FeeRule::Computed {
            base_cents,
            per,
            table,
        } => {
            if *base_cents < 0 {
                problems.push("fee: `base_cents` must not be negative".into());
            }
            for u in per {
                match props.get(u.field.as_str()) {
                    Some(p) if p.ty == Ty::Integer => {}
                    Some(_) => problems.push(format!(
                        "fee: `per` field `{}` must be an integer property",
                        u.field
                    )),
                    None => problems.push(format!(
                        "fee: `per` names `{}`, which is not a schema property",
                        u.field
                    )),
                }
            }
            let Some(t) = table else {
                return;
            };
            let Some(p) = props.get(t.field.as_str()) else {
                problems.push(format!(
                    "fee: `table` names `{}`, which is not a schema property",
                    t.field
                ));
                return;
            };
            let valid_key = |k: &str| -> Option<bool> {
                match (p.ty, p.enum_values) {
                    (Ty::Boolean, _) => Some(k == "true" || k == "false"),
                    (_, Some(values)) => {
                        Some(values.iter().any(|v| value_key(v).as_deref() == Some(k)))
                    }
                    (Ty::Integer, None) => Some(k.parse::<i64>().is_ok_and(|i| i.to_string() == k)),
                    _ => None,
                }
            };
            for k in t.cents.keys() {
                match valid_key(k) {
                    Some(true) => {}
                    Some(false) => problems.push(format!(
                        "fee: `table` key `{k}` is not a value of `{}`",
                        t.field
                    )),
                    None => {
                        problems.push(format!(
                            "fee: `table` field `{}` must have an `enum`, or be boolean or integer",
                            t.field
                        ));
                        return;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

fn is_en(lang: &str) -> bool {
    let primary = lang.split(['-', '_']).next().unwrap_or("");
    primary.eq_ignore_ascii_case("en")
}

/// A present value: not absent, not `null`, not an empty string.
fn present<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    match obj.get(name)? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        v => Some(v),
    }
}

fn num(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// An integer value (JSON Schema counts `2.0` as an integer).
fn as_int(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // Saturating conversion of integral values beyond the i64 range.
    (f.is_finite() && f.fract() == 0.0).then_some(f as i64)
}

fn matches_type(ty: Ty, v: &Value) -> bool {
    match ty {
        Ty::String => v.is_string(),
        Ty::Integer => as_int(v).is_some(),
        Ty::Number => v.is_number(),
        Ty::Boolean => v.is_boolean(),
    }
}

/// Equality with numbers compared by value (`1` equals `1.0`).
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a.as_number(), b.as_number()) {
        (Some(x), Some(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => num(x) == num(y),
        },
        _ => a == b,
    }
}

/// A number as written in JSON, integral values without fraction.
fn number_string(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = num(n);
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// The key of a value in option labels and fee tables.
fn value_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(number_string(n)),
        _ => None,
    }
}

fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    if !b
        .iter()
        .enumerate()
        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return None;
    }
    let year: i32 = s[0..4].parse().ok()?;
    if year == 0 {
        return None;
    }
    NaiveDate::from_ymd_opt(year, s[5..7].parse().ok()?, s[8..10].parse().ok()?)
}

/// `T.M.JJJJ` or `TT.MM.JJJJ` → `JJJJ-MM-TT` for a real calendar day.
fn german_date(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('.').collect();
    let [d, m, y] = parts[..] else {
        return None;
    };
    let digits = |p: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit())
    };
    if !(digits(d, 1..=2) && digits(m, 1..=2) && digits(y, 4..=4)) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    let iso = date.format("%Y-%m-%d").to_string();
    parse_iso_date(&iso).map(|_| iso)
}

fn valid_email(s: &str) -> bool {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && domain.split('.').all(|l| !l.is_empty())
}

/// ISO 13616: check digits (mod 97), exact length for known countries (DE: 22), else 15–34.
fn valid_iban(s: &str) -> bool {
    crate::epc::valid_iban(s)
}

/// Optional sign, digits, optional fraction; a single German decimal comma is accepted.
fn parse_number(s: &str) -> Option<Value> {
    let t = if s.contains(',') && !s.contains('.') {
        s.replacen(',', ".", 1)
    } else {
        s.to_string()
    };
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(&t);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let ok = !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|c| c.is_ascii_digit())
        && frac.bytes().all(|c| c.is_ascii_digit());
    if !ok {
        return None;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::from(i));
    }
    let f: f64 = t.parse().ok()?;
    if f.fract() == 0.0 && f.abs() < 9e15 {
        return Some(Value::from(f as i64));
    }
    Number::from_f64(f).map(Value::Number)
}

/// Converts one posted value; `None` means absent.
fn convert(prop: &Prop, raw: Option<&str>) -> Option<Value> {
    if prop.ty == Ty::Boolean {
        return Some(Value::Bool(raw.is_some()));
    }
    let s = raw?.trim();
    if s.is_empty() {
        return None;
    }
    Some(match prop.ty {
        Ty::String => {
            let s = s.replace("\r\n", "\n").replace('\r', "\n");
            Value::String(match prop.format {
                Some(Format::Iban) => crate::epc::normalize_iban(&s),
                Some(Format::Date) => german_date(&s).unwrap_or(s),
                _ => s,
            })
        }
        Ty::Integer => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(s.to_string())),
        Ty::Number => parse_number(s).unwrap_or_else(|| Value::String(s.to_string())),
        Ty::Boolean => Value::Bool(true),
    })
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

fn validate_compiled(c: &Compiled, data: &Value) -> Vec<FieldError> {
    let Some(obj) = data.as_object() else {
        return vec![FieldError::new("", keys::TYPE_OBJECT)];
    };
    let shown = c.visibility(obj);
    let mut errors = Vec::new();
    for f in &c.fields {
        if !shown.get(f.name.as_str()).copied().unwrap_or(true) {
            continue;
        }
        if let Some(e) = check_value(&f.name, &c.props[f.name.as_str()], obj) {
            errors.push(e);
        }
    }
    for name in &c.unplaced {
        if let Some(e) = check_value(name, &c.props[name], obj) {
            errors.push(e);
        }
    }
    for key in obj.keys() {
        if !c.props.contains_key(key.as_str()) {
            errors.push(FieldError::new(key, keys::UNKNOWN_FIELD));
        }
    }
    errors
}

/// The first problem of one value.
fn check_value(name: &str, p: &Prop, obj: &Map<String, Value>) -> Option<FieldError> {
    let err = |key| Some(FieldError::new(name, key));
    let err_arg = |key, arg: String| Some(FieldError::with_arg(name, key, arg));
    let Some(v) = present(obj, name) else {
        return if p.required {
            err(keys::REQUIRED)
        } else {
            None
        };
    };
    let type_ok = matches_type(p.ty, v);
    if !type_ok {
        return err(match p.ty {
            Ty::String => keys::TYPE_STRING,
            Ty::Integer => keys::TYPE_INTEGER,
            Ty::Number => keys::TYPE_NUMBER,
            Ty::Boolean => keys::TYPE_BOOLEAN,
        });
    }
    if let Some(c) = p.const_value
        && !loose_eq(v, c)
    {
        // An unticked confirmation box reads best as "required".
        return err(if p.ty == Ty::Boolean {
            keys::REQUIRED
        } else {
            keys::ENUM
        });
    }
    if let Some(values) = p.enum_values
        && !values.iter().any(|x| loose_eq(x, v))
    {
        return err(keys::ENUM);
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = p.min_length
            && len < min
        {
            return err_arg(keys::MIN_LENGTH, min.to_string());
        }
        if let Some(max) = p.max_length
            && len > max
        {
            return err_arg(keys::MAX_LENGTH, max.to_string());
        }
        if let Some((_, re)) = &p.pattern
            && !re.is_match(s)
        {
            return err(keys::PATTERN);
        }
        match p.format {
            Some(Format::Date) if parse_iso_date(s).is_none() => return err(keys::FORMAT_DATE),
            Some(Format::Email) if !valid_email(s) => return err(keys::FORMAT_EMAIL),
            Some(Format::Iban) if !valid_iban(s) => return err(keys::FORMAT_IBAN),
            _ => {}
        }
    }
    if let Some(n) = v.as_number() {
        if let Some(min) = p.minimum
            && num(n) < num(min)
        {
            return err_arg(keys::MINIMUM, number_string(min));
        }
        if let Some(max) = p.maximum
            && num(n) > num(max)
        {
            return err_arg(keys::MAXIMUM, number_string(max));
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Attachments
// ---------------------------------------------------------------------------

/// The media type of a file by its magic bytes: PDF, PNG or JPEG; `None` otherwise.
pub fn sniff_media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some(MEDIA_PDF)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(MEDIA_PNG)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(MEDIA_JPEG)
    } else {
        None
    }
}

fn type_name(t: &str) -> &str {
    match t {
        MEDIA_PDF => "PDF",
        MEDIA_JPEG => "JPEG",
        MEDIA_PNG => "PNG",
        other => other,
    }
}

/// `PDF, JPEG`.
fn types_label(types: &[String]) -> String {
    types
        .iter()
        .map(|t| type_name(t))
        .collect::<Vec<_>>()
        .join(", ")
}

/// HTML `accept`: extensions first, then media types.
fn accept(types: &[String]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for t in types {
        match t.as_str() {
            MEDIA_PDF => parts.push(".pdf"),
            MEDIA_JPEG => parts.extend([".jpg", ".jpeg"]),
            MEDIA_PNG => parts.push(".png"),
            _ => {}
        }
    }
    parts.extend(types.iter().map(String::as_str));
    parts.join(",")
}

/// A byte count in MiB: whole numbers plain, else one decimal (at least 0.1).
fn mb_string(bytes: u64, decimal_sep: char) -> String {
    let tenths = (bytes.saturating_mul(10).saturating_add(MIB / 2) / MIB).max(1);
    if tenths.is_multiple_of(10) {
        (tenths / 10).to_string()
    } else {
        format!("{}{decimal_sep}{}", tenths / 10, tenths % 10)
    }
}

// ---------------------------------------------------------------------------
// View helpers
// ---------------------------------------------------------------------------

/// `f-` + the name, with anything but ASCII alphanumerics, `_` and `-` replaced by `_`.
fn html_id(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("f-{safe}")
}

fn described_by(id: &str, help: bool, error: bool) -> Option<String> {
    let mut ids = Vec::new();
    if help {
        ids.push(format!("{id}-help"));
    }
    if error {
        ids.push(format!("{id}-error"));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

fn localised_number(n: &Number, lang: &str) -> String {
    let s = number_string(n);
    if is_en(lang) { s } else { s.replace('.', ",") }
}

fn field_view(
    f: &FieldLayout,
    p: &Prop,
    obj: &Map<String, Value>,
    error: Option<FieldError>,
    shown: bool,
    lang: &str,
) -> FieldView {
    let widget = f.widget.unwrap_or_else(|| default_widget(p));
    let id = html_id(&f.name);
    let current = obj.get(&f.name).filter(|v| !v.is_null());
    let value = match (widget, current) {
        (Widget::Checkbox, _) => "true".to_string(),
        (_, None) => String::new(),
        (_, Some(Value::String(s))) => s.clone(),
        (Widget::Number, Some(Value::Number(n))) => number_string(n),
        (_, Some(Value::Number(n))) => localised_number(n, lang),
        (_, Some(v)) => value_key(v).unwrap_or_else(|| v.to_string()),
    };
    let options = p
        .enum_values
        .map(|values| {
            values
                .iter()
                .map(|ev| {
                    let key = value_key(ev).unwrap_or_default();
                    let selected = current
                        .is_some_and(|v| loose_eq(v, ev) || v.as_str() == Some(key.as_str()));
                    OptionView {
                        label: f
                            .options
                            .get(&key)
                            .map_or_else(|| key.clone(), |t| t.get(lang).to_string()),
                        value: key,
                        selected,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let required = if p.ty == Ty::Boolean {
        p.const_value == Some(&Value::Bool(true))
    } else {
        p.required
    };
    let text_like = matches!(
        widget,
        Widget::Text | Widget::Textarea | Widget::Email | Widget::Tel
    ) && p.ty == Ty::String;
    let numeric_input = widget == Widget::Number;
    FieldView {
        name: f.name.clone(),
        label: f.label.get(lang).to_string(),
        help: f.help.as_ref().map(|h| h.get(lang).to_string()),
        widget: widget.as_str(),
        input_type: widget.input_type(),
        value,
        checked: matches!(current, Some(Value::Bool(true))),
        options,
        required,
        required_attr: required && f.when.is_none(),
        described_by: described_by(&id, f.help.is_some(), error.is_some()),
        id,
        error,
        when_field: f.when.as_ref().map(|c| c.field.clone()),
        when_id: f.when.as_ref().map(|c| html_id(&c.field)),
        when_value: f
            .when
            .as_ref()
            .map(|c| value_key(&c.equals).unwrap_or_else(|| c.equals.to_string())),
        shown,
        autocomplete: f.autocomplete.clone(),
        min_length: p.min_length.filter(|_| text_like).map(|n| n.to_string()),
        max_length: p.max_length.filter(|_| text_like).map(|n| n.to_string()),
        minimum: p.minimum.filter(|_| numeric_input).map(number_string),
        maximum: p.maximum.filter(|_| numeric_input).map(number_string),
        pattern: p
            .pattern
            .as_ref()
            .filter(|_| text_like && widget != Widget::Textarea)
            .map(|(src, _)| format!(".*(?:{src}).*")),
        step: match (numeric_input, p.ty) {
            (true, Ty::Integer) => Some("1"),
            (true, _) => Some("any"),
            _ => None,
        },
        inputmode: match (widget, p.ty) {
            (Widget::Text, Ty::Integer) => Some("numeric"),
            (Widget::Text, Ty::Number) => Some("decimal"),
            _ => None,
        },
    }
}

fn display_value(v: &Value, p: &Prop, f: &FieldLayout, lang: &str) -> String {
    if let Value::Bool(b) = v {
        return match (b, is_en(lang)) {
            (true, true) => "Yes",
            (false, true) => "No",
            (true, false) => "Ja",
            (false, false) => "Nein",
        }
        .to_string();
    }
    if let Some(values) = p.enum_values
        && let Some(ev) = values.iter().find(|x| loose_eq(x, v))
    {
        let key = value_key(ev).unwrap_or_default();
        return f.options.get(&key).map_or(key, |t| t.get(lang).to_string());
    }
    match v {
        Value::String(s) => match p.format {
            Some(Format::Date) => match parse_iso_date(s) {
                Some(d) if !is_en(lang) => d.format("%d.%m.%Y").to_string(),
                _ => s.clone(),
            },
            Some(Format::Iban) if valid_iban(s) => {
                let compact = crate::epc::normalize_iban(s);
                let chars: Vec<char> = compact.chars().collect();
                chars
                    .chunks(4)
                    .map(|c| c.iter().collect::<String>())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            _ => s.clone(),
        },
        Value::Number(n) => localised_number(n, lang),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hundesteuer_json() -> Value {
        json!({
            "schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": "Hundesteuer-Anmeldung",
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "email", "geburtsdatum", "anzahl", "rasse", "sachkunde"],
                "properties": {
                    "name": {"type": "string", "minLength": 2, "maxLength": 80},
                    "email": {"type": "string", "format": "email", "maxLength": 254},
                    "geburtsdatum": {"type": "string", "format": "date"},
                    "telefon": {"type": "string", "pattern": "^[0-9 +()/-]+$", "maxLength": 30},
                    "anzahl": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1},
                    "rasse": {
                        "type": "string",
                        "enum": ["mischling", "labrador", "schaeferhund", "staffordshire", "pitbull"]
                    },
                    "listenhund": {"type": "boolean", "default": false},
                    "sachkunde": {"type": "string", "enum": ["ja", "nein"]},
                    "iban": {"type": "string", "format": "iban", "description": "SEPA-Mandat"},
                    "bemerkung": {"type": "string", "maxLength": 500}
                }
            },
            "layout": {"groups": [
                {"id": "halter", "title": {"de": "Halterin oder Halter", "en": "Owner"}, "fields": [
                    {"name": "name", "label": {"de": "Vor- und Nachname", "en": "Full name"},
                     "autocomplete": "name"},
                    {"name": "email", "label": {"de": "E-Mail-Adresse", "en": "E-mail address"},
                     "autocomplete": "email"},
                    {"name": "geburtsdatum", "label": {"de": "Geburtsdatum", "en": "Date of birth"},
                     "autocomplete": "bday"},
                    {"name": "telefon", "label": {"de": "Telefon"}, "widget": "tel",
                     "autocomplete": "tel"}
                ]},
                {"id": "hunde", "title": {"de": "Hunde", "en": "Dogs"},
                 "help": {"de": "Angaben zu allen Hunden im Haushalt."}, "fields": [
                    {"name": "anzahl", "label": {"de": "Anzahl der Hunde", "en": "Number of dogs"}},
                    {"name": "rasse", "label": {"de": "Rasse", "en": "Breed"}, "widget": "select",
                     "options": {
                        "mischling": {"de": "Mischling", "en": "Mixed breed"},
                        "labrador": {"de": "Labrador Retriever"},
                        "schaeferhund": {"de": "Deutscher Schäferhund", "en": "German Shepherd"},
                        "staffordshire": {"de": "Staffordshire Bullterrier"},
                        "pitbull": {"de": "Pitbull-Terrier"}
                     }},
                    {"name": "listenhund",
                     "label": {"de": "Listenhund nach Landeshundegesetz", "en": "Listed dog"},
                     "widget": "checkbox"},
                    {"name": "sachkunde",
                     "label": {"de": "Sachkundenachweis vorhanden", "en": "Certificate of competence"},
                     "widget": "radio",
                     "when": {"field": "listenhund", "equals": true},
                     "options": {"ja": {"de": "Ja", "en": "Yes"}, "nein": {"de": "Nein", "en": "No"}}}
                ]},
                {"id": "sepa", "title": {"de": "SEPA-Lastschriftmandat", "en": "SEPA direct debit"},
                 "fields": [
                    {"name": "iban", "label": {"de": "IBAN"},
                     "help": {"de": "Optional, für den Einzug der Hundesteuer."}},
                    {"name": "bemerkung", "label": {"de": "Bemerkungen", "en": "Remarks"},
                     "widget": "textarea"}
                ]}
            ]},
            "attachments": [{
                "name": "nachweis",
                "label": {"de": "Nachweis (Impfpass oder Sachkundenachweis)", "en": "Certificate"},
                "help": {"de": "PDF oder Foto"},
                "required": true,
                "types": ["application/pdf", "image/jpeg"],
                "max_bytes": 5 * 1024 * 1024
            }],
            "fee": {
                "kind": "computed",
                "base_cents": 0,
                "per": [{"field": "anzahl", "cents": 9600}],
                "table": {"field": "listenhund", "cents": {"true": 50400}}
            }
        })
    }

    fn hundesteuer() -> FormDef {
        FormDef::parse(&hundesteuer_json()).unwrap_or_else(|p| panic!("{p:#?}"))
    }

    fn post(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn valid_post() -> Vec<(String, String)> {
        post(&[
            ("csrf", "token"),
            ("name", "  Erika Mustermann "),
            ("email", "erika@example.de"),
            ("geburtsdatum", "1980-12-24"),
            ("anzahl", "2"),
            ("rasse", "labrador"),
            ("iban", "de89 3704 0044 0532 0130 00"),
            ("action", "submit"),
        ])
    }

    /// The problems of the definition after `edit`, which must not be empty.
    fn problems(edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut v = hundesteuer_json();
        edit(&mut v);
        match FormDef::parse(&v) {
            Ok(_) => panic!("definition accepted"),
            Err(p) => p,
        }
    }

    fn assert_problem(problems: &[String], needles: &[&str]) {
        assert!(
            problems
                .iter()
                .any(|p| needles.iter().all(|n| p.contains(n))),
            "no problem mentions {needles:?}: {problems:#?}"
        );
    }

    fn keys_of(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors.iter().map(|e| (e.field.as_str(), e.key)).collect()
    }

    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F'];

    #[test]
    fn realistic_definition_parses_and_round_trips() {
        let def = hundesteuer();
        assert!(def.check().is_empty());
        assert_eq!(def.layout.groups.len(), 3);
        assert_eq!(
            def.layout.groups[1].fields[2].widget,
            Some(Widget::Checkbox)
        );
        let again: FormDef = serde_json::from_value(serde_json::to_value(&def).unwrap()).unwrap();
        assert_eq!(again, def);
        assert_eq!(def.defaults(), json!({"anzahl": 1, "listenhund": false}));
    }

    #[test]
    fn fee_rule_is_tagged_by_kind() {
        let fixed: FeeRule =
            serde_json::from_value(json!({"kind": "fixed", "cents": 2500})).unwrap();
        assert_eq!(fixed, FeeRule::Fixed { cents: 2500 });
        assert_eq!(
            serde_json::to_value(&fixed).unwrap(),
            json!({"kind": "fixed", "cents": 2500})
        );
        let computed: FeeRule = serde_json::from_value(
            json!({"kind": "computed", "per": [{"field": "a", "cents": 1}]}),
        )
        .unwrap();
        assert_eq!(
            computed,
            FeeRule::Computed {
                base_cents: 0,
                per: vec![PerUnit {
                    field: "a".into(),
                    cents: 1
                }],
                table: None
            }
        );
        assert!(
            serde_json::from_value::<FeeRule>(json!({"kind": "fixed", "cents": 1, "x": 2}))
                .is_err()
        );
        assert!(serde_json::from_value::<FeeRule>(json!({"cents": 1})).is_err());
    }

    #[test]
    fn unsupported_keywords_are_named() {
        let p = problems(|v| {
            v["schema"]["properties"]["name"]["oneOf"] = json!([{"minLength": 1}]);
        });
        assert_problem(&p, &["`name`", "unsupported keyword `oneOf`"]);
        let p = problems(|v| v["schema"]["allOf"] = json!([]));
        assert_problem(&p, &["schema", "`allOf`"]);
        let p = problems(|v| v["schema"]["properties"]["anzahl"]["minLength"] = json!(1));
        assert_problem(&p, &["`anzahl`", "`minLength`", "string"]);
        let p = problems(|v| v["schema"]["properties"]["name"]["format"] = json!("uri"));
        assert_problem(&p, &["`name`", "`format`", "uri"]);
        let p = problems(|v| v["schema"]["properties"]["name"]["type"] = json!(["string", "null"]));
        assert_problem(&p, &["`name`", "`type`"]);
        let p = problems(|v| v["schema"]["additionalProperties"] = json!(true));
        assert_problem(&p, &["`additionalProperties`"]);
        let p = problems(|v| v["schema"]["type"] = json!("array"));
        assert_problem(&p, &["schema", "`type`", "object"]);
        let p = problems(|v| v["schema"]["properties"]["anzahl"]["default"] = json!("eins"));
        assert_problem(&p, &["`anzahl`", "`default`"]);
        let p = problems(|v| v["schema"]["properties"]["anzahl"]["minimum"] = json!(9));
        assert_problem(&p, &["`anzahl`", "`minimum` 9", "`maximum` 5"]);
        let p = problems(|v| v["schema"]["properties"]["rasse"]["enum"] = json!(["a", 1]));
        assert_problem(&p, &["`rasse`", "`enum` value 1"]);
    }

    #[test]
    fn layout_must_match_the_schema() {
        let p = problems(|v| {
            v["layout"]["groups"][0]["fields"][0]["name"] = json!("vorname");
        });
        assert_problem(&p, &["`vorname`", "no schema property"]);
        // `name` is now placed nowhere.
        assert_problem(&p, &["property `name`", "not placed"]);

        let p = problems(|v| {
            v["schema"]["properties"]["hundename"] = json!({"type": "string"});
        });
        assert_eq!(
            p,
            vec!["property `hundename` is not placed in any layout group".to_string()]
        );

        let p = problems(|v| {
            let name = v["layout"]["groups"][0]["fields"][0].clone();
            v["layout"]["groups"][2]["fields"]
                .as_array_mut()
                .unwrap()
                .push(name);
        });
        assert_problem(&p, &["`name`", "more than once"]);

        let p = problems(|v| v["schema"]["required"] = json!(["name", "nachname"]));
        assert_problem(&p, &["`required`", "`nachname`"]);

        // Unknown keys in the layout are rejected by name, too.
        let p = problems(|v| v["layout"]["groups"][0]["fields"][0]["hepl"] = json!("x"));
        assert_problem(&p, &["`hepl`"]);
    }

    #[test]
    fn bad_patterns_widgets_and_conditions_are_rejected() {
        let p = problems(|v| v["schema"]["properties"]["telefon"]["pattern"] = json!("^[0-9"));
        assert_problem(&p, &["`telefon`", "`pattern` does not compile"]);

        let p = problems(|v| v["layout"]["groups"][0]["fields"][0]["widget"] = json!("select"));
        assert_problem(&p, &["`name`", "`select` needs an `enum`"]);
        let p = problems(|v| v["layout"]["groups"][0]["fields"][0]["widget"] = json!("radio"));
        assert_problem(&p, &["`name`", "`radio` needs an `enum`"]);
        let p = problems(|v| v["layout"]["groups"][0]["fields"][0]["widget"] = json!("checkbox"));
        assert_problem(&p, &["`name`", "`checkbox` needs a boolean"]);
        let p = problems(|v| v["layout"]["groups"][1]["fields"][2]["widget"] = json!("text"));
        assert_problem(&p, &["`listenhund`", "only use widget `checkbox`"]);
        let p = problems(|v| v["layout"]["groups"][0]["fields"][0]["widget"] = json!("date"));
        assert_problem(&p, &["`name`", "`format: date`"]);
        let p = problems(|v| v["layout"]["groups"][1]["fields"][0]["widget"] = json!("email"));
        assert_problem(&p, &["`anzahl`", "`email` needs a string"]);

        // A condition on a field placed later (or not at all).
        let p = problems(|v| {
            v["layout"]["groups"][0]["fields"][0]["when"] =
                json!({"field": "listenhund", "equals": true});
        });
        assert_problem(&p, &["`name`", "`listenhund`", "not placed before"]);
        let p = problems(|v| {
            v["layout"]["groups"][1]["fields"][3]["when"] = json!({"field": "hund", "equals": 1});
        });
        assert_problem(&p, &["`sachkunde`", "`hund`", "not a schema property"]);
        let p = problems(|v| {
            v["layout"]["groups"][1]["fields"][3]["when"] =
                json!({"field": "listenhund", "equals": "ja"});
        });
        assert_problem(&p, &["`sachkunde`", "`when.equals`", "boolean"]);
        let p = problems(|v| {
            v["layout"]["groups"][1]["fields"][3]["when"] =
                json!({"field": "rasse", "equals": "pudel"});
        });
        assert_problem(&p, &["`sachkunde`", "pudel", "not an `enum` value"]);

        let p = problems(|v| {
            v["layout"]["groups"][1]["fields"][1]["options"]["pudel"] = json!({"de": "Pudel"});
        });
        assert_problem(&p, &["`rasse`", "`pudel`", "not an `enum` value"]);
        let p = problems(|v| {
            v["layout"]["groups"][0]["fields"][0]["options"] = json!({"a": {"de": "A"}});
        });
        assert_problem(&p, &["`name`", "`options`", "no `enum`"]);
        let p = problems(|v| v["layout"]["groups"][0]["fields"][0]["autocomplete"] = json!("<x>"));
        assert_problem(&p, &["`name`", "`autocomplete`"]);
    }

    #[test]
    fn names_and_limits_are_checked() {
        let p = problems(|v| {
            v["schema"]["properties"]["csrf"] = json!({"type": "string"});
            v["layout"]["groups"][0]["fields"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "csrf", "label": {"de": "X"}}));
        });
        assert_problem(&p, &["`csrf`", "reserved"]);
        let p = problems(|v| {
            v["schema"]["properties"]["a b"] = json!({"type": "string"});
            v["layout"]["groups"][0]["fields"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "a b", "label": {"de": "X"}}));
        });
        assert_problem(&p, &["`a b`", "ASCII letter"]);
        let p = problems(|v| v["layout"]["groups"][2]["id"] = json!("halter"));
        assert_problem(&p, &["group id `halter`", "twice"]);

        let mut props = Map::new();
        let mut fields = Vec::new();
        for i in 0..=MAX_FIELDS {
            props.insert(format!("f{i}"), json!({"type": "string"}));
            fields.push(json!({"name": format!("f{i}"), "label": {"de": "Feld"}}));
        }
        let big = json!({
            "schema": {"type": "object", "properties": props},
            "layout": {"groups": [{"id": "g", "title": {"de": "G"}, "fields": fields}]}
        });
        let p = FormDef::parse(&big).unwrap_err();
        assert_problem(&p, &["201 properties", "at most 200"]);
    }

    #[test]
    fn attachment_rules_are_checked() {
        let p = problems(|v| v["attachments"][0]["max_bytes"] = json!(21 * 1024 * 1024));
        assert_problem(&p, &["`nachweis`", "`max_bytes`", "20 MiB"]);
        let p = problems(|v| v["attachments"][0]["max_bytes"] = json!(0));
        assert_problem(&p, &["`nachweis`", "`max_bytes`"]);
        let p = problems(|v| v["attachments"][0]["types"] = json!(["image/gif"]));
        assert_problem(&p, &["`nachweis`", "`image/gif`", "not supported"]);
        let p = problems(|v| v["attachments"][0]["name"] = json!("iban"));
        assert_problem(&p, &["`iban`", "also a schema property"]);
        let p = problems(|v| {
            let a = v["attachments"][0].clone();
            v["attachments"].as_array_mut().unwrap().push(a);
        });
        assert_problem(&p, &["`nachweis`", "used twice"]);
    }

    #[test]
    fn fee_rules_are_checked() {
        let p = problems(|v| v["fee"]["per"][0]["field"] = json!("name"));
        assert_problem(&p, &["fee", "`name`", "integer"]);
        let p = problems(|v| v["fee"]["per"][0]["field"] = json!("katzen"));
        assert_problem(&p, &["fee", "`katzen`", "not a schema property"]);
        let p = problems(|v| v["fee"]["table"]["cents"]["ja"] = json!(1));
        assert_problem(&p, &["fee", "`ja`", "not a value of `listenhund`"]);
        let p = problems(|v| v["fee"]["table"] = json!({"field": "name", "cents": {"a": 1}}));
        assert_problem(&p, &["fee", "`name`", "`enum`"]);
        let p = problems(|v| v["fee"] = json!({"kind": "fixed", "cents": -1}));
        assert_problem(&p, &["fee", "negative"]);
        let p = problems(|v| v["fee"] = json!({"kind": "percent", "cents": 1}));
        assert_problem(&p, &["definition", "percent"]);
    }

    #[test]
    fn read_submission_converts_types() {
        let def = hundesteuer();
        let (data, errors) = def.read_submission(&valid_post());
        assert_eq!(errors, vec![]);
        assert_eq!(
            data,
            json!({
                "name": "Erika Mustermann",
                "email": "erika@example.de",
                "geburtsdatum": "1980-12-24",
                "anzahl": 2,
                "rasse": "labrador",
                "listenhund": false,
                "iban": "DE89370400440532013000"
            })
        );
        assert!(def.validate(&data).is_empty());
        assert!(def.missing_attachments(&["nachweis".into()]).is_empty());

        // Checkbox with any value, conditional field shown, German date, textarea line breaks.
        let mut fields = valid_post();
        fields.extend(post(&[
            ("listenhund", "on"),
            ("sachkunde", "ja"),
            ("geburtsdatum", "ignored: the first value counts"),
            ("bemerkung", "Zeile 1\r\nZeile 2"),
            ("telefon", "   "),
        ]));
        fields[3].1 = "1.2.1980".into();
        let (data, errors) = def.read_submission(&fields);
        assert_eq!(errors, vec![]);
        assert_eq!(data["listenhund"], json!(true));
        assert_eq!(data["sachkunde"], json!("ja"));
        assert_eq!(data["geburtsdatum"], json!("1980-02-01"));
        assert_eq!(data["bemerkung"], json!("Zeile 1\nZeile 2"));
        assert!(data.get("telefon").is_none());
    }

    #[test]
    fn read_submission_parses_numbers_with_decimal_comma() {
        let def = FormDef::parse(&json!({
            "schema": {"type": "object", "properties": {
                "gewicht": {"type": "number", "minimum": 0.5, "maximum": 120}
            }},
            "layout": {"groups": [{"id": "g", "title": {"de": "G"}, "fields": [
                {"name": "gewicht", "label": {"de": "Gewicht in kg"}}
            ]}]}
        }))
        .unwrap();
        let read = |s: &str| def.read_submission(&post(&[("gewicht", s)]));
        assert_eq!(read("12,5").0, json!({"gewicht": 12.5}));
        assert_eq!(read("12.5").0, json!({"gewicht": 12.5}));
        assert_eq!(read(" 30 ").0, json!({"gewicht": 30}));
        assert_eq!(read("30,0").0, json!({"gewicht": 30}));
        assert!(read("12,5").1.is_empty());
        for bad in ["1.234,5", "1,2,3", "inf", "NaN", "1e3", "12 kg", "-", "."] {
            let (data, errors) = read(bad);
            assert_eq!(data, json!({"gewicht": bad}), "{bad}");
            assert_eq!(
                keys_of(&errors),
                vec![("gewicht", keys::TYPE_NUMBER)],
                "{bad}"
            );
        }
        let (_, errors) = read("0,25");
        assert_eq!(
            errors,
            vec![FieldError::with_arg("gewicht", keys::MINIMUM, "0.5")]
        );
        let (_, errors) = read("121");
        assert_eq!(
            errors,
            vec![FieldError::with_arg("gewicht", keys::MAXIMUM, "120")]
        );
    }

    #[test]
    fn read_submission_keeps_bad_input_and_reports_in_layout_order() {
        let def = hundesteuer();
        let fields = post(&[
            ("bemerkung", &"x".repeat(501)),
            ("iban", "DE89 3704 0044 0532 0130 01"),
            ("rasse", "pudel"),
            ("anzahl", "zwei"),
            ("telefon", "0123 abc"),
            ("geburtsdatum", "30.02.1980"),
            ("email", "erika@localhost"),
            ("name", "E"),
        ]);
        let (data, errors) = def.read_submission(&fields);
        assert_eq!(data["anzahl"], json!("zwei"));
        assert_eq!(data["geburtsdatum"], json!("30.02.1980"));
        assert_eq!(data["rasse"], json!("pudel"));
        assert_eq!(
            errors,
            vec![
                FieldError::with_arg("name", keys::MIN_LENGTH, "2"),
                FieldError::new("email", keys::FORMAT_EMAIL),
                FieldError::new("geburtsdatum", keys::FORMAT_DATE),
                FieldError::new("telefon", keys::PATTERN),
                FieldError::new("anzahl", keys::TYPE_INTEGER),
                FieldError::new("rasse", keys::ENUM),
                FieldError::new("iban", keys::FORMAT_IBAN),
                FieldError::with_arg("bemerkung", keys::MAX_LENGTH, "500"),
            ]
        );

        let (_, errors) = def.read_submission(&post(&[("anzahl", "9")]));
        assert_eq!(
            errors,
            vec![
                FieldError::new("name", keys::REQUIRED),
                FieldError::new("email", keys::REQUIRED),
                FieldError::new("geburtsdatum", keys::REQUIRED),
                FieldError::with_arg("anzahl", keys::MAXIMUM, "5"),
                FieldError::new("rasse", keys::REQUIRED),
            ]
        );
        let (_, errors) = def.read_submission(&post(&[("anzahl", "0")]));
        assert!(errors.contains(&FieldError::with_arg("anzahl", keys::MINIMUM, "1")));
    }

    #[test]
    fn hidden_conditional_fields_are_dropped_and_not_required() {
        let def = hundesteuer();
        let mut fields = valid_post();
        fields.push(("sachkunde".into(), "nein".into()));
        let (data, errors) = def.read_submission(&fields);
        assert!(errors.is_empty());
        assert!(data.get("sachkunde").is_none());

        // Shown (listed dog) and required.
        let mut fields = valid_post();
        fields.push(("listenhund".into(), "1".into()));
        let (data, errors) = def.read_submission(&fields);
        assert_eq!(keys_of(&errors), vec![("sachkunde", keys::REQUIRED)]);
        assert_eq!(data["listenhund"], json!(true));
    }

    #[test]
    fn validate_checks_json_data() {
        let def = hundesteuer();
        let good = json!({
            "name": "Erika Mustermann",
            "email": "erika@example.de",
            "geburtsdatum": "1980-12-24",
            "anzahl": 2.0,
            "rasse": "pitbull",
            "listenhund": true,
            "sachkunde": "ja",
            "telefon": null
        });
        assert_eq!(def.validate(&good), vec![]);

        let mut bad = good.clone();
        bad["passwort"] = json!("geheim");
        bad["anzahl"] = json!(2.5);
        bad["listenhund"] = json!("ja");
        bad["name"] = json!(42);
        bad["email"] = json!("   ");
        assert_eq!(
            def.validate(&bad),
            vec![
                FieldError::new("name", keys::TYPE_STRING),
                FieldError::new("email", keys::REQUIRED),
                FieldError::new("anzahl", keys::TYPE_INTEGER),
                FieldError::new("listenhund", keys::TYPE_BOOLEAN),
                FieldError::new("passwort", keys::UNKNOWN_FIELD),
            ]
        );
        assert_eq!(
            def.validate(&json!([1, 2])),
            vec![FieldError::new("", keys::TYPE_OBJECT)]
        );

        // An absent boolean counts as false for conditions; hidden values are not validated
        // and dropped by `without_hidden`.
        let mut hidden = good.clone();
        hidden.as_object_mut().unwrap().remove("listenhund");
        hidden["sachkunde"] = json!(17);
        assert_eq!(def.validate(&hidden), vec![]);
        let cleaned = def.without_hidden(&hidden);
        assert!(cleaned.get("sachkunde").is_none());
        assert!(cleaned.get("telefon").is_none());
        assert_eq!(cleaned["name"], json!("Erika Mustermann"));
    }

    #[test]
    fn const_and_number_types() {
        let def = FormDef::parse(&json!({
            "schema": {"type": "object", "required": ["zustimmung"], "properties": {
                "zustimmung": {"type": "boolean", "const": true},
                "stufe": {"type": "integer", "enum": [1, 2, 3]},
                "code": {"type": "string", "const": "X"}
            }},
            "layout": {"groups": [{"id": "g", "title": {"de": "G"}, "fields": [
                {"name": "zustimmung", "label": {"de": "Ich stimme zu"}},
                {"name": "stufe", "label": {"de": "Stufe"}, "widget": "radio",
                 "options": {"2": {"de": "Zwei"}}},
                {"name": "code", "label": {"de": "Code"}}
            ]}]}
        }))
        .unwrap_or_else(|p| panic!("{p:#?}"));
        let (data, errors) = def.read_submission(&post(&[("stufe", "2"), ("code", "Y")]));
        assert_eq!(data, json!({"zustimmung": false, "stufe": 2, "code": "Y"}));
        assert_eq!(
            keys_of(&errors),
            vec![("zustimmung", keys::REQUIRED), ("code", keys::ENUM)]
        );
        let (_, errors) = def.read_submission(&post(&[
            ("zustimmung", "on"),
            ("stufe", "4"),
            ("code", "X"),
        ]));
        assert_eq!(keys_of(&errors), vec![("stufe", keys::ENUM)]);
        let view = def.view(&json!({"stufe": 2}), &[], "de");
        let f = &view.groups[0].fields;
        assert!(f[0].required && f[0].required_attr);
        assert_eq!(f[1].options[1].label, "Zwei");
        assert!(f[1].options[1].selected);
        assert_eq!(f[1].options[0].label, "1");
        assert_eq!(
            def.summary(&json!({"stufe": 2, "zustimmung": true}), "en"),
            vec![
                ("Ich stimme zu".to_string(), "Yes".to_string()),
                ("Stufe".to_string(), "Zwei".to_string()),
            ]
        );
    }

    #[test]
    fn patterns_are_unanchored_like_json_schema() {
        let def = FormDef::parse(&json!({
            "schema": {"type": "object", "properties": {
                "plz": {"type": "string", "pattern": "[0-9]{5}"}
            }},
            "layout": {"groups": [{"id": "g", "title": {"de": "G"}, "fields": [
                {"name": "plz", "label": {"de": "PLZ"}}
            ]}]}
        }))
        .unwrap();
        assert!(def.validate(&json!({"plz": "12345"})).is_empty());
        assert!(
            def.validate(&json!({"plz": "D-12345 Musterstadt"}))
                .is_empty()
        );
        assert_eq!(
            keys_of(&def.validate(&json!({"plz": "1234"}))),
            vec![("plz", keys::PATTERN)]
        );
        let view = def.view(&json!({}), &[], "de");
        assert_eq!(
            view.groups[0].fields[0].pattern.as_deref(),
            Some(".*(?:[0-9]{5}).*")
        );
    }

    #[test]
    fn lengths_count_characters() {
        let def = FormDef::parse(&json!({
            "schema": {"type": "object", "properties": {
                "ort": {"type": "string", "minLength": 3, "maxLength": 4}
            }},
            "layout": {"groups": [{"id": "g", "title": {"de": "G"}, "fields": [
                {"name": "ort", "label": {"de": "Ort"}}
            ]}]}
        }))
        .unwrap();
        assert!(def.validate(&json!({"ort": "Öäüß"})).is_empty());
        assert_eq!(
            def.validate(&json!({"ort": "Öä"})),
            vec![FieldError::with_arg("ort", keys::MIN_LENGTH, "3")]
        );
        assert_eq!(
            def.validate(&json!({"ort": "Köln!"})),
            vec![FieldError::with_arg("ort", keys::MAX_LENGTH, "4")]
        );
    }

    #[test]
    fn formats() {
        for ok in ["2024-02-29", "1900-01-01", "9999-12-31"] {
            assert!(parse_iso_date(ok).is_some(), "{ok}");
        }
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01",
            "2024-01-01T00:00",
            "0000-01-01",
            "+2024-01-01",
        ] {
            assert!(parse_iso_date(bad).is_none(), "{bad}");
        }
        assert_eq!(german_date("24.12.1980").as_deref(), Some("1980-12-24"));
        assert_eq!(german_date("29.02.2023"), None);
        assert_eq!(german_date("24.12.80"), None);

        for ok in [
            "a@b.de",
            "erika.mustermann+hund@stadt.musterstadt.de",
            "ä@ö.de",
        ] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "a@b", "@b.de", "a@@b.de", "a@b@c.de", "a b@c.de", "a@b..de", "a@.de", "a@b.de.",
            "ab.de",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }

        for ok in [
            "DE89370400440532013000",
            "DE89 3704 0044 0532 0130 00",
            "GB82WEST12345698765432",
            "AT611904300234573201",
        ] {
            assert!(valid_iban(ok), "{ok}");
        }
        for bad in [
            "DE89370400440532013001",
            "DE8937040044053201300",
            "DE893704004405320130000",
            "XX12",
            "",
        ] {
            assert!(!valid_iban(bad), "{bad}");
        }
    }

    #[test]
    fn fees() {
        let def = hundesteuer();
        let (data, _) = def.read_submission(&valid_post());
        assert_eq!(def.fee_cents(&data), Some(2 * 9600));
        assert_eq!(
            def.fee_cents(&json!({"anzahl": 1, "listenhund": true})),
            Some(9600 + 50400)
        );
        assert_eq!(def.fee_cents(&json!({})), Some(0));

        let mut by_breed = def.clone();
        by_breed.fee = Some(FeeRule::Computed {
            base_cents: 1000,
            per: vec![PerUnit {
                field: "anzahl".into(),
                cents: 9600,
            }],
            table: Some(Table {
                field: "rasse".into(),
                cents: BTreeMap::from([
                    ("pitbull".to_string(), 60000),
                    ("mischling".to_string(), -500),
                ]),
            }),
        });
        assert!(by_breed.check().is_empty());
        assert_eq!(
            by_breed.fee_cents(&json!({"anzahl": 3, "rasse": "pitbull"})),
            Some(1000 + 3 * 9600 + 60000)
        );
        assert_eq!(
            by_breed.fee_cents(&json!({"anzahl": 1, "rasse": "labrador"})),
            Some(1000 + 9600)
        );
        assert_eq!(
            by_breed.fee_cents(&json!({"rasse": "mischling"})),
            Some(500)
        );
        // Saturating and never negative.
        assert_eq!(
            by_breed.fee_cents(&json!({"anzahl": i64::MAX, "rasse": "pitbull"})),
            Some(i64::MAX)
        );
        assert_eq!(by_breed.fee_cents(&json!({"anzahl": -1000})), Some(0));

        let mut fixed = def.clone();
        fixed.fee = Some(FeeRule::Fixed { cents: 2500 });
        assert_eq!(fixed.fee_cents(&json!({})), Some(2500));
        fixed.fee = None;
        assert_eq!(fixed.fee_cents(&json!({"anzahl": 2})), None);

        // A per-unit field hidden by its condition adds nothing.
        let cond = FormDef::parse(&json!({
            "schema": {"type": "object", "properties": {
                "zweitwohnung": {"type": "boolean"},
                "zimmer": {"type": "integer", "minimum": 1}
            }},
            "layout": {"groups": [{"id": "g", "title": {"de": "G"}, "fields": [
                {"name": "zweitwohnung", "label": {"de": "Zweitwohnung"}},
                {"name": "zimmer", "label": {"de": "Zimmer"},
                 "when": {"field": "zweitwohnung", "equals": true}}
            ]}]},
            "fee": {"kind": "computed", "base_cents": 500, "per": [{"field": "zimmer", "cents": 100}]}
        }))
        .unwrap();
        assert_eq!(cond.fee_cents(&json!({"zimmer": 3})), Some(500));
        assert_eq!(
            cond.fee_cents(&json!({"zweitwohnung": true, "zimmer": 3})),
            Some(800)
        );
    }

    #[test]
    fn attachments_are_checked_by_content() {
        let def = hundesteuer();
        assert_eq!(
            def.check_attachment("nachweis", "impfpass.pdf", PDF),
            Ok(MEDIA_PDF.to_string())
        );
        assert_eq!(
            def.check_attachment("nachweis", "foto.png", JPEG),
            Ok(MEDIA_JPEG.to_string())
        );
        assert_eq!(
            def.check_attachment("nachweis", "nachweis.pdf", PNG),
            Err(FieldError::with_arg(
                "nachweis",
                keys::ATTACHMENT_TYPE,
                "PDF, JPEG"
            ))
        );
        assert_eq!(
            def.check_attachment("nachweis", "x.pdf", b"<html>%PDF-"),
            Err(FieldError::with_arg(
                "nachweis",
                keys::ATTACHMENT_TYPE,
                "PDF, JPEG"
            ))
        );
        let mut big = PDF.to_vec();
        big.resize(5 * 1024 * 1024 + 1, b' ');
        assert_eq!(
            def.check_attachment("nachweis", "gross.pdf", &big),
            Err(FieldError::with_arg("nachweis", keys::ATTACHMENT_SIZE, "5"))
        );
        big.truncate(5 * 1024 * 1024);
        assert!(def.check_attachment("nachweis", "genau.pdf", &big).is_ok());
        assert_eq!(
            def.check_attachment("nachweis", "leer.pdf", b""),
            Err(FieldError::new("nachweis", keys::ATTACHMENT_EMPTY))
        );
        assert_eq!(
            def.check_attachment("foto", "foto.jpg", JPEG),
            Err(FieldError::new("foto", keys::UNKNOWN_FIELD))
        );
        assert_eq!(sniff_media_type(PNG), Some(MEDIA_PNG));
        assert_eq!(sniff_media_type(b"GIF89a"), None);

        assert_eq!(
            def.missing_attachments(&[]),
            vec![FieldError::new("nachweis", keys::ATTACHMENT_MISSING)]
        );
        assert_eq!(def.missing_attachments(&["nachweis".to_string()]), vec![]);
        assert_eq!(mb_string(512 * 1024, ','), "0,5");
        assert_eq!(mb_string(1, '.'), "0.1");
        assert_eq!(mb_string(MAX_ATTACHMENT_BYTES, '.'), "20");
    }

    #[test]
    fn view_marks_values_options_and_errors() {
        let def = hundesteuer();
        let mut fields = valid_post();
        fields.push(("listenhund".into(), "on".into()));
        fields[2].1 = "erika(at)example.de".into();
        let (data, mut errors) = def.read_submission(&fields);
        errors.extend(def.missing_attachments(&[]));
        let view = def.view(&data, &errors, "de");

        assert_eq!(view.groups.len(), 3);
        assert_eq!(view.groups[1].title, "Hunde");
        assert_eq!(
            view.groups[1].help.as_deref(),
            Some("Angaben zu allen Hunden im Haushalt.")
        );
        let halter = &view.groups[0].fields;
        let name = &halter[0];
        assert_eq!(
            (name.id.as_str(), name.widget, name.input_type),
            ("f-name", "text", "text")
        );
        assert_eq!(name.value, "Erika Mustermann");
        assert!(name.required && name.required_attr);
        assert_eq!(name.min_length.as_deref(), Some("2"));
        assert_eq!(name.max_length.as_deref(), Some("80"));
        assert_eq!(name.autocomplete.as_deref(), Some("name"));
        assert_eq!(name.error, None);
        let email = &halter[1];
        assert_eq!((email.widget, email.input_type), ("email", "email"));
        assert_eq!(email.value, "erika(at)example.de");
        assert_eq!(
            email.error,
            Some(FieldError::new("email", keys::FORMAT_EMAIL))
        );
        assert_eq!(email.described_by.as_deref(), Some("f-email-error"));
        assert_eq!(halter[2].widget, "date");
        assert_eq!(halter[3].input_type, "tel");
        assert!(!halter[3].required);
        assert_eq!(halter[3].pattern.as_deref(), Some(".*(?:^[0-9 +()/-]+$).*"));

        let hunde = &view.groups[1].fields;
        let anzahl = &hunde[0];
        assert_eq!((anzahl.widget, anzahl.input_type), ("number", "number"));
        assert_eq!(anzahl.value, "2");
        assert_eq!(anzahl.minimum.as_deref(), Some("1"));
        assert_eq!(anzahl.maximum.as_deref(), Some("5"));
        assert_eq!(anzahl.step, Some("1"));
        let rasse = &hunde[1];
        assert_eq!(rasse.widget, "select");
        assert_eq!(rasse.options.len(), 5);
        let selected: Vec<&str> = rasse
            .options
            .iter()
            .filter(|o| o.selected)
            .map(|o| o.label.as_str())
            .collect();
        assert_eq!(selected, vec!["Labrador Retriever"]);
        assert_eq!(rasse.options[2].value, "schaeferhund");
        assert_eq!(rasse.options[2].label, "Deutscher Schäferhund");
        let listenhund = &hunde[2];
        assert_eq!(
            (listenhund.widget, listenhund.input_type),
            ("checkbox", "checkbox")
        );
        assert!(listenhund.checked);
        assert_eq!(listenhund.value, "true");
        assert!(!listenhund.required);
        let sachkunde = &hunde[3];
        assert_eq!(sachkunde.widget, "radio");
        assert_eq!(sachkunde.when_field.as_deref(), Some("listenhund"));
        assert_eq!(sachkunde.when_id.as_deref(), Some("f-listenhund"));
        assert_eq!(sachkunde.when_value.as_deref(), Some("true"));
        assert!(sachkunde.shown);
        assert!(sachkunde.required && !sachkunde.required_attr);
        assert_eq!(
            sachkunde.error,
            Some(FieldError::new("sachkunde", keys::REQUIRED))
        );
        assert!(sachkunde.options.iter().all(|o| !o.selected));

        let sepa = &view.groups[2].fields;
        assert_eq!(sepa[0].value, "DE89370400440532013000");
        assert_eq!(sepa[0].described_by.as_deref(), Some("f-iban-help"));
        assert_eq!(sepa[1].widget, "textarea");
        assert_eq!(sepa[1].pattern, None);

        let a = &view.attachments[0];
        assert_eq!(a.id, "f-nachweis");
        assert_eq!(a.accept, ".pdf,.jpg,.jpeg,application/pdf,image/jpeg");
        assert_eq!(a.types, "PDF, JPEG");
        assert_eq!(a.max_mb, "5");
        assert!(a.required);
        assert_eq!(
            a.error,
            Some(FieldError::new("nachweis", keys::ATTACHMENT_MISSING))
        );
        assert_eq!(
            a.described_by.as_deref(),
            Some("f-nachweis-help f-nachweis-error")
        );

        let summary: Vec<(&str, &str)> = view
            .errors
            .iter()
            .map(|e| (e.id.as_str(), e.error.key))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("f-email", keys::FORMAT_EMAIL),
                ("f-sachkunde", keys::REQUIRED),
                ("f-nachweis", keys::ATTACHMENT_MISSING),
            ]
        );

        // English texts with German fallback; a fresh form from the defaults.
        let view = def.view(&def.defaults(), &[], "en-GB");
        assert_eq!(view.groups[0].title, "Owner");
        assert_eq!(view.groups[0].fields[3].label, "Telefon");
        assert_eq!(view.groups[1].fields[0].value, "1");
        assert!(!view.groups[1].fields[2].checked);
        assert!(!view.groups[1].fields[3].shown);
        assert_eq!(view.groups[1].fields[1].options[0].label, "Mixed breed");
        assert!(view.errors.is_empty());
        assert!(serde_json::to_value(&view).is_ok());
    }

    #[test]
    fn summary_formats_values() {
        let def = hundesteuer();
        let mut fields = valid_post();
        fields.push(("listenhund".into(), "on".into()));
        fields.push(("sachkunde".into(), "nein".into()));
        let (data, errors) = def.read_submission(&fields);
        assert!(errors.is_empty());
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            def.summary(&data, "de"),
            vec![
                s("Vor- und Nachname", "Erika Mustermann"),
                s("E-Mail-Adresse", "erika@example.de"),
                s("Geburtsdatum", "24.12.1980"),
                s("Anzahl der Hunde", "2"),
                s("Rasse", "Labrador Retriever"),
                s("Listenhund nach Landeshundegesetz", "Ja"),
                s("Sachkundenachweis vorhanden", "Nein"),
                s("IBAN", "DE89 3704 0044 0532 0130 00"),
            ]
        );
        let en = def.summary(
            &json!({"geburtsdatum": "1980-12-24", "listenhund": false,
            "sachkunde": "ja", "rasse": "schaeferhund"}),
            "en",
        );
        assert_eq!(
            en,
            vec![
                s("Date of birth", "1980-12-24"),
                s("Breed", "German Shepherd"),
                s("Listed dog", "No"),
            ]
        );
    }

    #[test]
    fn text_falls_back_to_german() {
        let t = Text {
            de: "Hund".into(),
            en: Some("Dog".into()),
        };
        assert_eq!(t.get("de"), "Hund");
        assert_eq!(t.get("en"), "Dog");
        assert_eq!(t.get("EN-us"), "Dog");
        assert_eq!(t.get("fr"), "Hund");
        assert_eq!(t.get("eng"), "Hund");
        assert_eq!(Text::de("Katze").get("en"), "Katze");
    }

    #[test]
    fn unchecked_definitions_do_not_panic() {
        let def = FormDef {
            schema: json!({"type": "object", "properties": {
                "a": {"type": "string", "pattern": "("},
                "b": {"type": "integer"},
                "c": {"type": "array"}
            }}),
            layout: Layout {
                groups: vec![Group {
                    id: "g".into(),
                    title: Text::de("G"),
                    help: None,
                    fields: vec![FieldLayout {
                        name: "a".into(),
                        label: Text::de("A"),
                        help: None,
                        widget: Some(Widget::Checkbox),
                        when: Some(Condition {
                            field: "zzz".into(),
                            equals: json!(1),
                        }),
                        autocomplete: None,
                        options: BTreeMap::new(),
                    }],
                }],
            },
            attachments: vec![],
            fee: Some(FeeRule::Fixed { cents: -5 }),
            workflow: None,
        };
        let p = def.check();
        assert!(p.len() >= 5, "{p:#?}");
        let (data, errors) = def.read_submission(&post(&[("a", "x"), ("b", "3"), ("c", "y")]));
        assert_eq!(data, json!({"b": 3}));
        assert!(errors.is_empty());
        assert_eq!(def.fee_cents(&data), Some(0));
        assert_eq!(
            keys_of(&def.validate(&json!({"c": []}))),
            vec![("c", keys::UNKNOWN_FIELD)]
        );
        let _ = def.view(&data, &[], "de");
        let _ = def.summary(&data, "de");
    }
}

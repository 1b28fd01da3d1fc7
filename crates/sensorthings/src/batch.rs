//! Batch requests (OGC 18-088 v1.1 section 11.2, OData 4.0 multipart batch and OData JSON
//! Format 4.01 JSON batch): `POST /sta/v1.1/$batch`.
//!
//! Every request inside a batch is executed by the same `service::*_in` functions as a single
//! request, so answers and rules are the same. A changeset (multipart) or atomicity group (JSON)
//! runs in one shared transaction: later requests see what earlier ones wrote, `$1` refers to
//! the entity created by the request with Content-ID (or id) `1`, and one failure rolls the whole
//! changeset back. Requests outside changesets run on their own.

use crate::conn::{Conn, Shared};
use crate::service::{self, PREFIX, Reply, UpdateMode};
use crate::write::Change;
use kern::{Error, Result};
use platform::{Actor, Env};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// What a batch answers: status, content type, body and every change committed (for the
/// after-commit hooks, such as MQTT).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchReply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub changes: Vec<Change>,
}

/// The most requests one batch may hold.
const MAX_REQUESTS: usize = 1000;

/// One request of a batch.
#[derive(Debug, Clone, PartialEq)]
struct Req {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Content-ID (multipart) or id (JSON).
    id: Option<String>,
}

/// One answer.
#[derive(Debug, Clone, PartialEq)]
struct Resp {
    status: u16,
    location: Option<String>,
    /// JSON or text (`$value`); `None` for no body.
    body: Option<Result<Value, String>>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid("$batch", msg)
}

/// The HTTP status of a domain error (as the web layer maps it).
pub fn status_of(e: &Error) -> u16 {
    match e {
        Error::NotFound(_) => 404,
        Error::Forbidden(_) => 403,
        Error::Unauthorized(_) => 401,
        Error::Invalid(_) => 400,
        Error::Conflict(_) => 409,
        Error::TooManyRequests { .. } => 429,
        Error::TooLarge(_) => 413,
        Error::Unavailable(_) => 503,
        Error::Internal(_) => 500,
    }
}

fn error_resp(e: &Error) -> Resp {
    let status = status_of(e);
    let message = match e {
        Error::Internal(_) => "Ein interner Fehler ist aufgetreten.".to_string(),
        other => other.to_string(),
    };
    Resp {
        status,
        location: None,
        body: Some(Ok(
            json!({ "code": status, "type": "error", "message": message }),
        )),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Payload Too Large",
        424 => "Failed Dependency",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    }
}

/// `POST $batch`: multipart/mixed or JSON, by the request's content type.
pub async fn handle(
    env: &Env,
    actor: &Actor,
    content_type: &str,
    body: &[u8],
) -> Result<BatchReply> {
    let ct = content_type.trim().to_ascii_lowercase();
    if ct.starts_with("multipart/mixed") {
        let boundary = boundary_of(content_type)
            .ok_or_else(|| bad("multipart/mixed needs a boundary parameter"))?;
        multipart(env, actor, &boundary, body).await
    } else if ct.starts_with("application/json") || ct.is_empty() {
        json_batch(env, actor, body).await
    } else {
        Err(bad(format!(
            "content type '{content_type}' is not a batch; use multipart/mixed;boundary=... or application/json"
        )))
    }
}

/// The `boundary` parameter of a content type.
fn boundary_of(ct: &str) -> Option<String> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

/// Resolves a request URL to a path below the prefix and its query; `$N` references are
/// replaced by the entity created by request N.
fn target(url: &str, refs: &HashMap<String, String>) -> Result<(String, String)> {
    let mut u = url.trim();
    if let Some(i) = u.find("://") {
        let after = &u[i + 3..];
        u = after.find('/').map(|j| &after[j..]).unwrap_or("/");
    }
    let (path, query) = u.split_once('?').unwrap_or((u, ""));
    let path = path.strip_prefix(PREFIX).unwrap_or(path);
    let path = path.trim_start_matches('/');
    let path = if let Some(r) = path.strip_prefix('$') {
        let (name, rest) = r.split_once('/').map_or((r, ""), |(a, b)| (a, b));
        let Some(entity) = refs.get(name) else {
            return Err(bad(format!(
                "the reference ${name} names no earlier request of this changeset that created an entity"
            )));
        };
        if rest.is_empty() {
            entity.clone()
        } else {
            format!("{entity}/{rest}")
        }
    } else {
        format!("/{path}")
    };
    let path = percent_encoding::percent_decode_str(&path)
        .decode_utf8_lossy()
        .into_owned();
    Ok((path, query.to_string()))
}

/// Runs one request (on the pools or in a changeset's transaction).
async fn exec(
    env: &Env,
    actor: &Actor,
    conn: Conn<'_>,
    req: &Req,
    refs: &HashMap<String, String>,
) -> Result<(Resp, Vec<Change>)> {
    let (path, query) = target(&req.url, refs)?;
    if path.trim_matches('/') == "$batch" {
        return Err(bad("a batch cannot contain another batch"));
    }
    let body = body_with_refs(&req.body, refs)?;
    let header = |n: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    let (reply, changes) = match req.method.to_ascii_uppercase().as_str() {
        "GET" => (
            service::get_in(env, actor, conn, &path, &query).await?,
            vec![],
        ),
        "POST" => {
            let w = service::post_in(env, actor, conn, &path, &body).await?;
            (w.reply, w.changes)
        }
        "PATCH" | "PUT" => {
            let mode = if req.method.eq_ignore_ascii_case("PUT") {
                UpdateMode::Replace
            } else if header("content-type")
                .is_some_and(|c| c.starts_with("application/json-patch+json"))
            {
                UpdateMode::JsonPatch
            } else {
                UpdateMode::Merge
            };
            let w = service::update_in(env, actor, conn, &path, &body, mode).await?;
            (w.reply, w.changes)
        }
        "DELETE" => {
            let w = service::delete_in(env, actor, conn, &path).await?;
            (w.reply, w.changes)
        }
        other => return Err(bad(format!("method '{other}' is not supported in a batch"))),
    };
    let resp = match reply {
        Reply::Json {
            status,
            body,
            location,
        } => Resp {
            status,
            location,
            body: Some(Ok(body)),
        },
        // `get_in` answers with trees; should text come, it is the same document.
        Reply::JsonText(t) => Resp {
            status: 200,
            location: None,
            body: Some(serde_json::from_str(&t).map_err(|_| t)),
        },
        Reply::Text(t) => Resp {
            status: 200,
            location: None,
            body: Some(Err(t)),
        },
        Reply::Empty(s) => Resp {
            status: s,
            location: None,
            body: None,
        },
    };
    Ok((resp, changes))
}

/// Replaces `"@iot.id": "$N"` in a request body by the id of the entity request N created, so
/// a changeset can create a Thing and link a Datastream to it in one go. Bodies without such a
/// reference are passed on untouched (byte for byte).
fn body_with_refs<'a>(
    body: &'a [u8],
    refs: &HashMap<String, String>,
) -> Result<std::borrow::Cow<'a, [u8]>> {
    fn has_ref(body: &[u8]) -> bool {
        body.windows(2).any(|w| w == b"\"$")
    }
    if !has_ref(body) {
        return Ok(std::borrow::Cow::Borrowed(body));
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        // Not JSON: the service answers with its own message.
        return Ok(std::borrow::Cow::Borrowed(body));
    };
    fn walk(v: &mut Value, refs: &HashMap<String, String>, changed: &mut bool) -> Result<()> {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(s)) = map.get("@iot.id")
                    && let Some(name) = s.strip_prefix('$')
                {
                    let Some(path) = refs.get(name) else {
                        return Err(bad(format!(
                            "the reference ${name} names no earlier request of this changeset that created an entity"
                        )));
                    };
                    let id = path
                        .rsplit_once('(')
                        .and_then(|(_, rest)| rest.strip_suffix(')'))
                        .and_then(|n| n.parse::<i64>().ok())
                        .ok_or_else(|| bad(format!("the reference ${name} is not an entity")))?;
                    map.insert("@iot.id".into(), Value::from(id));
                    *changed = true;
                }
                for child in map.values_mut() {
                    walk(child, refs, changed)?;
                }
            }
            Value::Array(items) => {
                for child in items {
                    walk(child, refs, changed)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut changed = false;
    walk(&mut value, refs, &mut changed)?;
    if !changed {
        return Ok(std::borrow::Cow::Borrowed(body));
    }
    Ok(std::borrow::Cow::Owned(
        serde_json::to_vec(&value).map_err(|e| Error::internal(e.to_string()))?,
    ))
}

/// The entity path (`/Things(5)`) of a created entity, for `$N` references.
fn created_path(env: &Env, resp: &Resp) -> Option<String> {
    let loc = resp.location.as_ref()?;
    let base = service::base(env);
    Some(loc.strip_prefix(&base).unwrap_or(loc).to_string())
}

/// Runs requests atomically: all succeed and commit, or the first failure rolls back all.
/// On failure: the index of the failing request and its error.
async fn atomic(
    env: &Env,
    actor: &Actor,
    reqs: &[Req],
) -> std::result::Result<(Vec<Resp>, Vec<Change>), (usize, Error)> {
    let tx = env.db.begin().await.map_err(|e| (0, e))?;
    let shared = Shared::new(tx);
    let mut refs: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    let mut changes = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        let (resp, ch) = exec(env, actor, Conn::Tx(&shared), r, &refs)
            .await
            .map_err(|e| (i, e))?;
        if let (Some(id), Some(p)) = (&r.id, created_path(env, &resp)) {
            refs.insert(id.clone(), p);
        }
        changes.extend(ch);
        out.push(resp);
    }
    let tx = shared
        .into_inner()
        .ok_or_else(|| (reqs.len(), Error::internal("changeset transaction lost")))?;
    tx.commit().await.map_err(|e| (reqs.len(), e))?;
    Ok((out, changes))
}

// ---------------------------------------------------------------------------------------------
// multipart/mixed

/// A part: its headers and content.
struct Part<'a> {
    headers: Vec<(String, String)>,
    content: &'a str,
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Splits a multipart body at its boundary (lines `--b`, closing `--b--`).
fn parts<'a>(body: &'a str, boundary: &str) -> Result<Vec<Part<'a>>> {
    let open = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    let mut closed = false;
    for line in body.split_inclusive('\n') {
        let text = line.trim_end_matches(['\r', '\n']).trim_end();
        if text == open || text == close {
            if let Some(s) = start {
                // The line break before the delimiter belongs to the delimiter.
                let mut end = pos;
                if body[..end].ends_with('\n') {
                    end -= 1;
                }
                if body[..end].ends_with('\r') {
                    end -= 1;
                }
                out.push(part(&body[s.min(end)..end])?);
            }
            if text == close {
                closed = true;
                break;
            }
            start = Some(pos + line.len());
        }
        pos += line.len();
    }
    if start.is_none() {
        return Err(bad(format!(
            "malformed multipart body: no delimiter line --{boundary}"
        )));
    }
    if !closed {
        return Err(bad(format!(
            "malformed multipart body: the closing delimiter --{boundary}-- is missing"
        )));
    }
    Ok(out)
}

/// Headers and content of one part (or of an `application/http` message).
fn part(text: &str) -> Result<Part<'_>> {
    let mut headers = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        pos += line.len();
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            return Ok(Part {
                headers,
                content: &text[pos..],
            });
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| bad(format!("malformed part header '{l}'")))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    // Headers only, no blank line: a part without content.
    Ok(Part {
        headers,
        content: "",
    })
}

/// An `application/http` part: request line, headers, body.
fn http_request(p: &Part<'_>) -> Result<Req> {
    let ct = header(&p.headers, "content-type").unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/http") {
        return Err(bad(format!(
            "a batch part must be application/http or a multipart/mixed changeset, not '{ct}'"
        )));
    }
    let text = p.content.trim_start_matches(['\r', '\n']);
    let (line, rest) = text.split_once('\n').unwrap_or((text, ""));
    let mut words = line.split_whitespace();
    let (Some(method), Some(url)) = (words.next(), words.next()) else {
        return Err(bad(format!(
            "malformed request line '{}'; expected e.g. 'POST Things HTTP/1.1'",
            line.trim()
        )));
    };
    let inner = part(rest)?;
    let body = inner.content.trim_end_matches(['\r', '\n']);
    // Content-ID stands in the part's headers (OData), some clients put it in the request's.
    let id = header(&p.headers, "content-id")
        .or_else(|| header(&inner.headers, "content-id"))
        .map(str::to_string);
    Ok(Req {
        method: method.to_string(),
        url: url.to_string(),
        body: body.as_bytes().to_vec(),
        headers: inner.headers,
        id,
    })
}

/// One element of the batch: a request, or a changeset of requests.
enum Item {
    One(Req),
    Changeset(Vec<Req>),
}

fn write_http(out: &mut String, r: &Resp, content_id: Option<&str>) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status)));
    if let Some(l) = &r.location {
        out.push_str(&format!("Location: {l}\r\n"));
    }
    match &r.body {
        Some(Ok(v)) => {
            let s = v.to_string();
            out.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{s}\r\n",
                s.len()
            ));
        }
        Some(Err(t)) => out.push_str(&format!(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{t}\r\n",
            t.len()
        )),
        None => out.push_str("\r\n"),
    }
}

/// A boundary that does not occur in the content.
fn fresh_boundary(prefix: &str, content: &str) -> String {
    let mut n = 0u32;
    loop {
        let b = format!("{prefix}_{n:04}");
        if !content.contains(&b) {
            return b;
        }
        n += 1;
    }
}

async fn multipart(env: &Env, actor: &Actor, boundary: &str, body: &[u8]) -> Result<BatchReply> {
    let text = std::str::from_utf8(body).map_err(|_| bad("the batch body is not UTF-8"))?;
    let mut items = Vec::new();
    for p in parts(text, boundary)? {
        let ct = header(&p.headers, "content-type").unwrap_or("").to_string();
        if ct.to_ascii_lowercase().starts_with("multipart/mixed") {
            let cb = boundary_of(&ct)
                .ok_or_else(|| bad("a changeset's multipart/mixed needs a boundary parameter"))?;
            let reqs = parts(p.content, &cb)?
                .iter()
                .map(http_request)
                .collect::<Result<Vec<_>>>()?;
            if reqs.iter().any(|r| r.method.eq_ignore_ascii_case("GET")) {
                return Err(bad(
                    "a changeset holds only POST, PATCH, PUT and DELETE requests",
                ));
            }
            items.push(Item::Changeset(reqs));
        } else {
            items.push(Item::One(http_request(&p)?));
        }
    }
    let n: usize = items
        .iter()
        .map(|i| match i {
            Item::One(_) => 1,
            Item::Changeset(r) => r.len(),
        })
        .sum();
    if n > MAX_REQUESTS {
        return Err(bad(format!("at most {MAX_REQUESTS} requests per batch")));
    }
    // Answers are written first into chunks, then framed with boundaries that do not occur.
    let mut chunks: Vec<String> = Vec::new();
    let mut changes = Vec::new();
    let no_refs = HashMap::new();
    for item in &items {
        match item {
            Item::One(r) => {
                let resp = match exec(env, actor, Conn::Pool(&env.db), r, &no_refs).await {
                    Ok((resp, ch)) => {
                        changes.extend(ch);
                        resp
                    }
                    Err(e) => error_resp(&e),
                };
                let mut s = String::new();
                write_http(&mut s, &resp, None);
                chunks.push(s);
            }
            Item::Changeset(reqs) => match atomic(env, actor, reqs).await {
                Ok((resps, ch)) => {
                    changes.extend(ch);
                    let mut inner = Vec::new();
                    for (r, resp) in reqs.iter().zip(&resps) {
                        let mut s = String::new();
                        write_http(&mut s, resp, r.id.as_deref());
                        inner.push(s);
                    }
                    let joined = inner.concat();
                    let cb = fresh_boundary("changesetresponse", &joined);
                    let mut s = format!("Content-Type: multipart/mixed; boundary={cb}\r\n\r\n");
                    for x in inner {
                        s.push_str(&format!("--{cb}\r\n{x}"));
                    }
                    s.push_str(&format!("--{cb}--\r\n"));
                    chunks.push(s);
                }
                Err((i, e)) => {
                    // A failed changeset answers with one response: the error.
                    let mut s = String::new();
                    let id = reqs.get(i).and_then(|r| r.id.as_deref());
                    write_http(&mut s, &error_resp(&e), id);
                    chunks.push(s);
                }
            },
        }
    }
    let joined = chunks.concat();
    let b = fresh_boundary("batchresponse", &joined);
    let mut out = String::new();
    for c in chunks {
        out.push_str(&format!("--{b}\r\n{c}"));
    }
    out.push_str(&format!("--{b}--\r\n"));
    Ok(BatchReply {
        status: 200,
        content_type: format!("multipart/mixed; boundary={b}"),
        body: out.into_bytes(),
        changes,
    })
}

// ---------------------------------------------------------------------------------------------
// JSON batch (OData JSON Format 4.01)

struct JsonReq {
    req: Req,
    group: Option<String>,
    depends: Vec<String>,
}

fn json_requests(v: &Value) -> Result<Vec<JsonReq>> {
    let list = v
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("a JSON batch is an object with a list 'requests'"))?;
    if list.len() > MAX_REQUESTS {
        return Err(bad(format!("at most {MAX_REQUESTS} requests per batch")));
    }
    let mut out: Vec<JsonReq> = Vec::new();
    let mut seen_ids: Vec<String> = Vec::new();
    let mut closed_groups: Vec<String> = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let f = |n: &str| Error::invalid(format!("requests[{i}].{n}"), "fehlt oder ist ungültig");
        let id = r
            .get("id")
            .and_then(|x| {
                x.as_str()
                    .map(str::to_string)
                    .or_else(|| x.as_i64().map(|n| n.to_string()))
            })
            .ok_or_else(|| f("id"))?;
        if seen_ids.contains(&id) {
            return Err(Error::invalid(
                format!("requests[{i}].id"),
                format!("'{id}' kommt doppelt vor"),
            ));
        }
        let method = r
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| f("method"))?
            .to_string();
        let url = r
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| f("url"))?
            .to_string();
        let headers: Vec<(String, String)> = r
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let body = match r.get("body") {
            None | Some(Value::Null) => Vec::new(),
            Some(b) => b.to_string().into_bytes(),
        };
        let group = r
            .get("atomicityGroup")
            .and_then(Value::as_str)
            .map(str::to_string);
        // Members of a group are adjacent.
        if let Some(g) = &group {
            let prev = out.last().and_then(|p| p.group.as_ref());
            if prev != Some(g) && closed_groups.contains(g) {
                return Err(Error::invalid(
                    format!("requests[{i}].atomicityGroup"),
                    format!("the requests of group '{g}' must be adjacent"),
                ));
            }
        }
        if let Some(prev) = out.last().and_then(|p| p.group.clone())
            && group.as_ref() != Some(&prev)
        {
            closed_groups.push(prev);
        }
        if seen_ids.iter().any(|s| Some(s) == group.as_ref()) {
            return Err(Error::invalid(
                format!("requests[{i}].atomicityGroup"),
                "a group name must differ from every request id",
            ));
        }
        let depends: Vec<String> = match r.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(|| f("dependsOn")))
                .collect::<Result<_>>()?,
            Some(_) => return Err(f("dependsOn")),
        };
        for d in &depends {
            let known = seen_ids.contains(d)
                || closed_groups.contains(d)
                || out.iter().any(|p| p.group.as_ref() == Some(d));
            if !known {
                return Err(Error::invalid(
                    format!("requests[{i}].dependsOn"),
                    format!("'{d}' is no earlier request or atomicity group"),
                ));
            }
        }
        seen_ids.push(id.clone());
        out.push(JsonReq {
            req: Req {
                method,
                url,
                headers,
                body,
                id: Some(id),
            },
            group,
            depends,
        });
    }
    Ok(out)
}

fn json_resp(id: &str, group: Option<&str>, r: &Resp) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    if let Some(g) = group {
        m.insert("atomicityGroup".into(), json!(g));
    }
    m.insert("status".into(), json!(r.status));
    if let Some(l) = &r.location {
        m.insert("headers".into(), json!({ "location": l }));
    }
    match &r.body {
        Some(Ok(v)) => {
            m.insert("body".into(), v.clone());
        }
        Some(Err(t)) => {
            m.insert("body".into(), json!(t));
        }
        None => {}
    }
    Value::Object(m)
}

fn failed_dependency(what: &str) -> Resp {
    Resp {
        status: 424,
        location: None,
        body: Some(Ok(json!({ "code": 424, "type": "error", "message": what }))),
    }
}

async fn json_batch(env: &Env, actor: &Actor, body: &[u8]) -> Result<BatchReply> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the JSON batch is not valid JSON: {e}")))?;
    let reqs = json_requests(&v)?;
    let mut responses: Vec<Value> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut refs: HashMap<String, String> = HashMap::new();
    let mut changes = Vec::new();
    let mut i = 0;
    while i < reqs.len() {
        // A unit: one request, or a whole atomicity group.
        let mut j = i + 1;
        if let Some(g) = &reqs[i].group {
            while j < reqs.len() && reqs[j].group.as_ref() == Some(g) {
                j += 1;
            }
        }
        let unit = &reqs[i..j];
        let group = unit[0].group.clone();
        let blocked = unit
            .iter()
            .flat_map(|r| r.depends.iter())
            .find(|d| failed.contains(d))
            .cloned();
        if let Some(d) = blocked {
            for r in unit {
                let id = r.req.id.clone().unwrap_or_default();
                responses.push(json_resp(
                    &id,
                    group.as_deref(),
                    &failed_dependency(&format!("not executed: '{d}' failed")),
                ));
                failed.push(id);
            }
            if let Some(g) = &group {
                failed.push(g.clone());
            }
            i = j;
            continue;
        }
        if group.is_none() {
            let r = &unit[0];
            let id = r.req.id.clone().unwrap_or_default();
            match exec(env, actor, Conn::Pool(&env.db), &r.req, &refs).await {
                Ok((resp, ch)) => {
                    changes.extend(ch);
                    if let Some(p) = created_path(env, &resp) {
                        refs.insert(id.clone(), p);
                    }
                    responses.push(json_resp(&id, None, &resp));
                }
                Err(e) => {
                    responses.push(json_resp(&id, None, &error_resp(&e)));
                    failed.push(id);
                }
            }
        } else {
            // Earlier results are visible to the group through `refs` (rewritten URLs).
            let rewritten: Vec<Req> = unit
                .iter()
                .map(|r| {
                    let mut q = r.req.clone();
                    if let Some(rest) = q.url.trim_start_matches('/').strip_prefix('$') {
                        let name = rest.split('/').next().unwrap_or("");
                        if let Some(p) = refs.get(name) {
                            q.url = format!("{p}{}", &rest[name.len()..]);
                        }
                    }
                    q
                })
                .collect();
            match atomic(env, actor, &rewritten).await {
                Ok((resps, ch)) => {
                    changes.extend(ch);
                    for (r, resp) in unit.iter().zip(&resps) {
                        let id = r.req.id.clone().unwrap_or_default();
                        if let Some(p) = created_path(env, resp) {
                            refs.insert(id.clone(), p);
                        }
                        responses.push(json_resp(&id, group.as_deref(), resp));
                    }
                }
                Err((k, e)) => {
                    let culprit = unit
                        .get(k)
                        .and_then(|r| r.req.id.clone())
                        .unwrap_or_default();
                    for (n, r) in unit.iter().enumerate() {
                        let id = r.req.id.clone().unwrap_or_default();
                        let resp = if n == k {
                            error_resp(&e)
                        } else {
                            failed_dependency(&format!(
                                "rolled back: request '{culprit}' of the atomicity group failed"
                            ))
                        };
                        responses.push(json_resp(&id, group.as_deref(), &resp));
                        failed.push(id);
                    }
                    if let Some(g) = &group {
                        failed.push(g.clone());
                    }
                }
            }
        }
        i = j;
    }
    Ok(BatchReply {
        status: 200,
        content_type: "application/json".into(),
        body: json!({ "responses": responses }).to_string().into_bytes(),
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_split_at_the_boundary_and_need_the_closing_line() {
        let body = "preamble\r\n--b\r\nContent-Type: application/http\r\n\r\nGET Things HTTP/1.1\r\n\r\n\r\n--b--\r\n";
        let p = parts(body, "b").unwrap();
        assert_eq!(p.len(), 1);
        let r = http_request(&p[0]).unwrap();
        assert_eq!((r.method.as_str(), r.url.as_str()), ("GET", "Things"));
        assert!(parts("--b\r\nx: y\r\n\r\n", "b").is_err());
        assert!(parts("nothing here", "b").is_err());
    }

    #[test]
    fn references_in_bodies_become_ids() {
        let mut refs = HashMap::new();
        refs.insert("thing".to_string(), "/Things(42)".to_string());
        let body = br#"{"name":"d","Thing":{"@iot.id":"$thing"},"Sensor":{"@iot.id":7}}"#;
        let out = body_with_refs(body, &refs).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["Thing"]["@iot.id"], json!(42));
        assert_eq!(v["Sensor"]["@iot.id"], json!(7));
        // Untouched when there is nothing to replace.
        let plain = br#"{"name":"$ not a ref"}"#;
        assert!(matches!(
            body_with_refs(plain, &refs).unwrap(),
            std::borrow::Cow::Borrowed(_)
        ));
        let unknown = br#"{"Thing":{"@iot.id":"$nope"}}"#;
        assert!(body_with_refs(unknown, &refs).is_err());
    }

    #[test]
    fn references_and_urls_become_paths() {
        let mut refs = HashMap::new();
        refs.insert("1".to_string(), "/Things(5)".to_string());
        assert_eq!(
            target("$1/Datastreams?$top=1", &refs).unwrap(),
            ("/Things(5)/Datastreams".to_string(), "$top=1".to_string())
        );
        assert_eq!(
            target("http://h:8080/sta/v1.1/Things(1)", &refs).unwrap().0,
            "/Things(1)"
        );
        assert_eq!(target("/sta/v1.1/Things", &refs).unwrap().0, "/Things");
        assert!(target("$2/Datastreams", &refs).is_err());
    }
}

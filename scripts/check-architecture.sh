#!/usr/bin/env bash
# Checks the architecture invariants of ARCHITECTURE.md that a machine can check.
#
#   1. Domain crates do not depend on axum (HTTP lives in `web`; the binary wires it).
#      Every workspace member except those in HTTP_CRATES is a domain crate, so a new module
#      crate is checked without anyone remembering to add it here.
#   2. Only `store` depends on a database driver or the query builder (sqlx, sea-query,
#      rusqlite, libsqlite3-sys, postgres, tokio-postgres), in any dependency section, and no
#      other crate's code names `sqlx::`.
#   3. Wall-clock time only through the Clock: no `Utc::now()` / `Local::now()` /
#      `SystemTime::now()` outside kern's SystemClock (crates/kern/src/clock.rs) and store's
#      migration bookkeeping (crates/store/src/migrations*.rs), except in a function that is
#      marked as a deliberate exception: `#[allow(clippy::disallowed_methods)]` with a `//`
#      comment giving the reason right above it (the same mark clippy.toml's disallowed-methods
#      asks for). This also covers code clippy does not compile (cfg'd out).
#
# Usage: scripts/check-architecture.sh   (from anywhere inside the repository; exit 1 on a breach)
set -euo pipefail
cd "$(dirname "$0")/.."

# Crates that may depend on axum: the HTTP layer and the binary that wires it.
HTTP_CRATES=(web stadtkern)
# The one crate that speaks SQL.
SQL_CRATE=store
SQL_DEPS_RE='^(sqlx(-.*)?|sea-query(-.*)?|rusqlite|libsqlite3-sys|postgres|tokio-postgres)$'
# Files allowed to read the wall clock.
CLOCK_ALLOWED_RE='^crates/kern/src/clock\.rs$|^crates/store/src/migrations[a-z_]*\.rs$'

failures=0
fail() {
  echo "  BREACH: $*"
  failures=$((failures + 1))
}

metadata=$(cargo metadata --no-deps --format-version 1 --locked)

# name<TAB>manifest<TAB>dep1,dep2,... (all dependency kinds, the package names as published)
members=$(python3 -c '
import json, sys
m = json.load(sys.stdin)
ws = set(m["workspace_members"])
for p in m["packages"]:
    if p["id"] not in ws:
        continue
    deps = sorted({d["name"] for d in p["dependencies"]})
    print(p["name"], p["manifest_path"], ",".join(deps), sep="\t")
' <<<"$metadata")

echo "invariant 1: domain crates do not depend on axum"
while IFS=$'\t' read -r name manifest _deps; do
  if printf '%s\n' "${HTTP_CRATES[@]}" | grep -qx "$name"; then
    echo "  $name: HTTP crate, may use axum"
    continue
  fi
  set +e
  out=$(cargo tree --locked -p "$name" -i axum -e normal 2>/tmp/check-arch-$$.err)
  rc=$?
  set -e
  err=$(cat /tmp/check-arch-$$.err)
  rm -f /tmp/check-arch-$$.err
  if [[ -n "$out" ]]; then
    fail "$name depends on axum:"
    printf '%s\n' "$out" | sed 's/^/      /'
  elif [[ $rc -ne 0 && "$err" != *"did not match any packages"* ]]; then
    fail "cargo tree failed for $name: $err"
  else
    echo "  $name: no axum"
  fi
done <<<"$members"

echo "invariant 2: only $SQL_CRATE speaks SQL"
before=$failures
while IFS=$'\t' read -r name manifest deps; do
  [[ "$name" == "$SQL_CRATE" ]] && continue
  bad=$(tr ',' '\n' <<<"$deps" | grep -E "$SQL_DEPS_RE" || true)
  if [[ -n "$bad" ]]; then
    fail "$name (${manifest#"$PWD"/}) depends directly on: $(tr '\n' ' ' <<<"$bad")"
  fi
  dir=$(dirname "$manifest")/src
  hits=$(grep -rn --include='*.rs' -E '\bsqlx::' "$dir" 2>/dev/null | grep -v '/target/' || true)
  if [[ -n "$hits" ]]; then
    fail "$name names sqlx:: in its code:"
    printf '%s\n' "$hits" | sed "s|$PWD/||; s/^/      /"
  fi
done <<<"$members"
[[ $failures -eq $before ]] && echo "  ok: no crate but $SQL_CRATE uses sqlx, sea-query or a database driver"

echo "invariant 3: wall-clock time only through the Clock"
set +e
clock_report=$(python3 - "$CLOCK_ALLOWED_RE" <<'PY'
import pathlib, re, sys
allowed_files = re.compile(sys.argv[1])
read = re.compile(r"\b(Utc|Local)::now\(|SystemTime::now\(")
fn_start = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s")
mark = "#[allow(clippy::disallowed_methods)]"
breaches = []
for path in sorted(pathlib.Path("crates").rglob("*.rs")):
    rel = path.as_posix()
    if "/target/" in rel or allowed_files.search(rel):
        continue
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for i, line in enumerate(lines):
        code = line.split("//", 1)[0]
        if not read.search(code):
            continue
        # The enclosing function, and the attributes and comments right above it.
        j = i
        while j >= 0 and not fn_start.match(lines[j]):
            j -= 1
        above = []
        k = j - 1
        while k >= 0 and lines[k].strip().startswith(("#[", "//", "///")):
            above.append(lines[k].strip())
            k -= 1
        marked = mark in above and any(a.startswith("//") and not a.startswith("///") for a in above)
        where = f"{rel}:{i + 1}: {line.strip()}"
        if marked:
            print(f"  allowed (marked exception): {where}")
        else:
            breaches.append(where)
for b in breaches:
    print(f"  BREACH: wall clock read outside the Clock (use env.now() / a &dyn Clock, or mark a deliberate exception): {b}")
sys.exit(1 if breaches else 0)
PY
)
clock_rc=$?
set -e
[[ -n "$clock_report" ]] && printf '%s\n' "$clock_report"
if [[ $clock_rc -ne 0 ]]; then
  failures=$((failures + $(grep -c 'BREACH' <<<"$clock_report")))
else
  echo "  ok: the wall clock is read only by kern's SystemClock, store's migrations and marked exceptions"
fi

if [[ $failures -gt 0 ]]; then
  echo "architecture check: $failures breach(es)"
  exit 1
fi
echo "architecture check: all invariants hold"

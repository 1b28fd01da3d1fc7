//! Tests of the OData query-option parser (`sensorthings::odata`).
//!
//! Most filter examples come from OGC 18-088 (SensorThings API 1.1) section
//! 9.3 and from requests that FROST-Server users send.

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};
use sensorthings::odata::{
    BinaryOp, DurationLiteral, ErrorKind, ExpandItem, Expr, Function, GeoKind, LambdaKind, Literal,
    NavigationProperty, ParseError, Path, QueryOptions, ResultFormat, Segment, SegmentKind,
    SortDirection, UnaryOp, classify_segment, parse_expand, parse_filter, parse_orderby,
    parse_query, parse_select,
};

// ----- helpers ---------------------------------------------------------------

/// Parses a filter, checks that its canonical text parses back to the same
/// tree, and returns it.
fn f(s: &str) -> Expr {
    let e = parse_filter(s).unwrap_or_else(|err| panic!("{s:?} failed: {err}"));
    let printed = e.to_string();
    let again = parse_filter(&printed)
        .unwrap_or_else(|err| panic!("re-parsing {printed:?} (from {s:?}) failed: {err}"));
    assert_eq!(again, e, "round trip of {s:?} via {printed:?}");
    // The fully parenthesised form reads back the same too (unless the
    // added parentheses exceed the nesting limit).
    let full = format!("{e:#}");
    match parse_filter(&full) {
        Ok(again) => assert_eq!(again, e, "round trip of {s:?} via {full:?}"),
        Err(err) => assert_eq!(err.kind, ErrorKind::TooDeep, "{full:?}: {err}"),
    }
    e
}

/// Parses a filter and returns its fully parenthesised text, which shows
/// the tree structure.
fn canon(s: &str) -> String {
    format!("{:#}", f(s))
}

fn filter_err(s: &str) -> ParseError {
    match parse_filter(s) {
        Ok(e) => panic!("{s:?} should fail but parsed as {e}"),
        Err(e) => e,
    }
}

fn query_err(s: &str) -> ParseError {
    match parse_query(s) {
        Ok(q) => panic!("{s:?} should fail but parsed as {q}"),
        Err(e) => e,
    }
}

fn p(names: &[&str]) -> Expr {
    Expr::path(names)
}

fn int(i: i64) -> Expr {
    Expr::Literal(Literal::Int(i))
}

fn string(s: &str) -> Expr {
    Expr::Literal(Literal::String(s.to_owned()))
}

fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    Expr::binary(op, l, r)
}

fn lit(e: &Expr) -> &Literal {
    match e {
        Expr::Literal(l) => l,
        other => panic!("expected a literal, got {other:?}"),
    }
}

fn call(e: &Expr) -> (Function, &[Expr]) {
    match e {
        Expr::Call { func, args } => (*func, args),
        other => panic!("expected a call, got {other:?}"),
    }
}

/// The right operand of a binary expression.
fn right(e: &Expr) -> &Expr {
    match e {
        Expr::Binary { right, .. } => right,
        other => panic!("expected a binary expression, got {other:?}"),
    }
}

fn left(e: &Expr) -> &Expr {
    match e {
        Expr::Binary { left, .. } => left,
        other => panic!("expected a binary expression, got {other:?}"),
    }
}

fn geometry(e: &Expr) -> &geo::Geometry<f64> {
    match lit(e) {
        Literal::Geometry(g) => &g.geometry,
        other => panic!("expected a geometry, got {other:?}"),
    }
}

// ----- comparison, logical and arithmetic operators --------------------------

#[test]
fn spec_example_string_equality() {
    assert_eq!(
        f("name eq 'thing1'"),
        bin(BinaryOp::Eq, p(&["name"]), string("thing1"))
    );
}

#[test]
fn every_comparison_operator() {
    for (kw, op) in [
        ("eq", BinaryOp::Eq),
        ("ne", BinaryOp::Ne),
        ("gt", BinaryOp::Gt),
        ("ge", BinaryOp::Ge),
        ("lt", BinaryOp::Lt),
        ("le", BinaryOp::Le),
    ] {
        assert_eq!(
            f(&format!("result {kw} 5")),
            bin(op, p(&["result"]), int(5)),
            "{kw}"
        );
    }
}

#[test]
fn every_arithmetic_operator() {
    for (kw, op) in [
        ("add", BinaryOp::Add),
        ("sub", BinaryOp::Sub),
        ("mul", BinaryOp::Mul),
        ("div", BinaryOp::Div),
        ("mod", BinaryOp::Mod),
    ] {
        let e = f(&format!("result {kw} 2 eq 4"));
        assert_eq!(
            e,
            bin(BinaryOp::Eq, bin(op, p(&["result"]), int(2)), int(4)),
            "{kw}"
        );
        assert!(op.is_arithmetic() && !op.is_comparison() && !op.is_logical());
    }
}

#[test]
fn spec_example_logical_operators() {
    let e = f("result gt 20 and result le 30 or not (result eq 25)");
    assert_eq!(
        e,
        bin(
            BinaryOp::Or,
            bin(
                BinaryOp::And,
                bin(BinaryOp::Gt, p(&["result"]), int(20)),
                bin(BinaryOp::Le, p(&["result"]), int(30)),
            ),
            Expr::unary(UnaryOp::Not, bin(BinaryOp::Eq, p(&["result"]), int(25))),
        )
    );
}

#[test]
fn precedence_mul_binds_tighter_than_add() {
    assert_eq!(canon("a add b mul c"), "(a add (b mul c))");
    assert_eq!(canon("a mul b add c"), "((a mul b) add c)");
    assert_eq!(canon("a div b mod c sub d"), "(((a div b) mod c) sub d)");
}

#[test]
fn precedence_not_binds_tighter_than_comparison() {
    // OData: unary `not` is above `eq`, which is above `and`.
    assert_eq!(canon("not a eq b and c"), "(((not a) eq b) and c)");
    assert_eq!(canon("not (a eq b) and c"), "((not (a eq b)) and c)");
}

#[test]
fn precedence_unary_minus() {
    assert_eq!(f("-x"), Expr::unary(UnaryOp::Neg, p(&["x"])));
    assert_eq!(canon("-x mul 2"), "((-x) mul 2)");
    assert_eq!(canon("- - x"), "(-(-x))");
    assert_eq!(f("-x mul 2").to_string(), "-x mul 2");
    assert_eq!(f("-(a add b) mul 2").to_string(), "-(a add b) mul 2");
    assert_eq!(f("- 5").to_string(), "- 5");
    // A minus directly before digits is part of the number literal.
    assert_eq!(f("-5"), int(-5));
    assert_eq!(f("- 5"), Expr::unary(UnaryOp::Neg, int(5)));
    assert_eq!(canon("a sub -1"), "(a sub -1)");
}

#[test]
fn precedence_and_over_or_and_comparison_levels() {
    assert_eq!(canon("a or b and c"), "(a or (b and c))");
    assert_eq!(canon("a and b or c and d"), "((a and b) or (c and d))");
    // Relational operators bind tighter than equality operators.
    assert_eq!(canon("a eq b gt c"), "(a eq (b gt c))");
    assert_eq!(canon("a lt b ne c"), "((a lt b) ne c)");
}

#[test]
fn binary_operators_are_left_associative() {
    assert_eq!(canon("a sub b sub c"), "((a sub b) sub c)");
    assert_eq!(canon("a eq b eq c"), "((a eq b) eq c)");
    assert_eq!(canon("a or b or c"), "((a or b) or c)");
}

#[test]
fn parentheses_override_precedence() {
    assert_eq!(canon("(a add b) mul c"), "((a add b) mul c)");
    assert_eq!(canon("((((a))))"), "a");
    assert_eq!(canon("(result sub 5) eq 45"), "((result sub 5) eq 45)");
}

#[test]
fn keywords_ignore_case_like_the_odata_401_abnf() {
    assert_eq!(f("name EQ 'x' AND Not b"), f("name eq 'x' and not b"));
    assert_eq!(f("StartsWith(name,'a')"), f("startswith(name,'a')"));
    assert_eq!(
        f("x eq TRUE"),
        bin(BinaryOp::Eq, p(&["x"]), Expr::Literal(Literal::Bool(true)))
    );
}

#[test]
fn white_space_is_flexible() {
    assert_eq!(f("  name   eq\t'x'  "), f("name eq 'x'"));
    assert_eq!(f("startswith( name , 'x' )"), f("startswith(name,'x')"));
}

// ----- literals ----------------------------------------------------------------

#[test]
fn string_literals_with_escaped_quotes() {
    assert_eq!(
        lit(right(&f("name eq 'O''Brien'"))),
        &Literal::String("O'Brien".into())
    );
    assert_eq!(
        lit(right(&f("name eq ''"))),
        &Literal::String(String::new())
    );
    assert_eq!(lit(right(&f("name eq ''''"))), &Literal::String("'".into()));
    // Operators and punctuation inside strings are text.
    assert_eq!(
        lit(right(&f("name eq 'a eq b, (c) & d/e'"))),
        &Literal::String("a eq b, (c) & d/e".into())
    );
}

#[test]
fn numeric_literals() {
    assert_eq!(lit(right(&f("result eq 42"))), &Literal::Int(42));
    assert_eq!(lit(right(&f("result eq -42"))), &Literal::Int(-42));
    assert_eq!(lit(right(&f("result eq 2.5"))), &Literal::Double(2.5));
    assert_eq!(lit(right(&f("result eq -0.125"))), &Literal::Double(-0.125));
    assert_eq!(lit(right(&f("result eq 1e3"))), &Literal::Double(1000.0));
    assert_eq!(lit(right(&f("result eq 1.5E-3"))), &Literal::Double(0.0015));
    assert_eq!(lit(right(&f("result eq 2e+2"))), &Literal::Double(200.0));
    assert_eq!(
        lit(right(&f("result lt INF"))),
        &Literal::Double(f64::INFINITY)
    );
    assert_eq!(
        lit(right(&f("result gt -INF"))),
        &Literal::Double(f64::NEG_INFINITY)
    );
    let nan = parse_filter("result ne NaN").unwrap();
    assert!(matches!(lit(right(&nan)), Literal::Double(d) if d.is_nan()));
    assert_eq!(nan.to_string(), "result ne NaN");
    assert_eq!(
        lit(right(&f("id eq 9223372036854775807"))),
        &Literal::Int(i64::MAX)
    );
    assert_eq!(
        lit(right(&f("id eq -9223372036854775808"))),
        &Literal::Int(i64::MIN)
    );
    // Large doubles print in exponent form and still read back as doubles.
    assert_eq!(lit(right(&f("result eq 1e300"))), &Literal::Double(1e300));
}

#[test]
fn huge_numbers_are_errors_not_overflows() {
    let e = filter_err("id eq 9223372036854775808");
    assert_eq!(e.kind, ErrorKind::InvalidLiteral);
    assert_eq!(e.column, 7);
    assert!(e.to_string().contains("expected an integer between"), "{e}");
    let e = filter_err("result eq 1e400");
    assert_eq!(e.kind, ErrorKind::InvalidLiteral);
    assert!(e.to_string().contains("64-bit floating-point"), "{e}");
    let e = filter_err("result eq 99999999999999999999999999999999999999999");
    assert_eq!(e.kind, ErrorKind::InvalidLiteral);
}

#[test]
fn boolean_and_null_literals() {
    assert_eq!(lit(right(&f("x eq true"))), &Literal::Bool(true));
    assert_eq!(lit(right(&f("x eq false"))), &Literal::Bool(false));
    assert_eq!(lit(right(&f("x eq null"))), &Literal::Null);
    assert_eq!(lit(right(&f("x ne null"))), &Literal::Null);
}

#[test]
fn date_time_literals_with_offsets_and_fractions() {
    let e = f("phenomenonTime ge 2016-06-01T00:00:00Z");
    let Literal::DateTime(dt) = lit(right(&e)) else {
        panic!("not a date-time")
    };
    assert_eq!(dt.offset().local_minus_utc(), 0);
    assert_eq!(
        (dt.year(), dt.month(), dt.day(), dt.hour()),
        (2016, 6, 1, 0)
    );

    let e = f("resultTime lt 2016-06-01T00:00:00.123+02:00");
    let Literal::DateTime(dt) = lit(right(&e)) else {
        panic!("not a date-time")
    };
    assert_eq!(dt.offset().local_minus_utc(), 7200);
    assert_eq!(dt.nanosecond(), 123_000_000);
    assert_eq!(e.to_string(), "resultTime lt 2016-06-01T00:00:00.123+02:00");

    let e = f("phenomenonTime gt 2015-12-31T23:59:59.999999-05:30");
    let Literal::DateTime(dt) = lit(right(&e)) else {
        panic!("not a date-time")
    };
    assert_eq!(dt.offset().local_minus_utc(), -(5 * 3600 + 30 * 60));
    assert_eq!(dt.nanosecond(), 999_999_000);

    // Seconds are optional in OData.
    let e = f("phenomenonTime gt 2016-06-01T12:30Z");
    assert!(matches!(lit(right(&e)), Literal::DateTime(dt) if dt.minute() == 30));
}

#[test]
fn spec_example_time_interval_filter() {
    let e = f("phenomenonTime ge 2016-06-01T00:00:00Z and phenomenonTime lt 2016-07-01T00:00:00Z");
    assert!(matches!(
        e,
        Expr::Binary {
            op: BinaryOp::And,
            ..
        }
    ));
    assert!(matches!(lit(right(right(&e))), Literal::DateTime(_)));
}

#[test]
fn date_time_of_day_and_duration_literals() {
    assert_eq!(
        lit(right(&f("date(phenomenonTime) eq 2016-06-01"))),
        &Literal::Date(NaiveDate::from_ymd_opt(2016, 6, 1).unwrap())
    );
    assert_eq!(
        lit(right(&f("time(phenomenonTime) lt 12:30:15.5"))),
        &Literal::TimeOfDay(NaiveTime::from_hms_milli_opt(12, 30, 15, 500).unwrap())
    );
    assert_eq!(
        lit(right(&f("time(phenomenonTime) ge 08:00"))),
        &Literal::TimeOfDay(NaiveTime::from_hms_opt(8, 0, 0).unwrap())
    );
    let e = f("phenomenonTime gt now() sub duration'P1DT2H30M'");
    let Literal::Duration(d) = lit(right(right(&e))) else {
        panic!("not a duration")
    };
    assert_eq!(
        *d,
        DurationLiteral {
            days: 1,
            hours: 2,
            minutes: 30,
            ..Default::default()
        }
    );
    assert_eq!(d.to_time_delta().unwrap().num_minutes(), 24 * 60 + 150);
    let e = f("x eq duration'-P1Y2M3W4DT5H6M7.25S'");
    let Literal::Duration(d) = lit(right(&e)) else {
        panic!("not a duration")
    };
    assert!(d.negative);
    assert_eq!(
        (d.years, d.months, d.days, d.seconds, d.nanos),
        (1, 2, 25, 7, 250_000_000)
    );
    assert_eq!(d.to_time_delta(), None);
}

#[test]
fn invalid_date_time_literals() {
    let e = filter_err("phenomenonTime gt 2016-13-01T00:00:00Z");
    assert_eq!(e.kind, ErrorKind::InvalidLiteral);
    assert_eq!(e.column, 19);
    assert!(
        e.to_string().contains("expected a valid calendar date"),
        "{e}"
    );

    let e = filter_err("phenomenonTime gt 2016-06-01T00:00:00");
    assert_eq!(e.column, 38);
    assert_eq!(
        e.to_string(),
        "$filter: at column 38: expected a time zone ('Z' or an offset such as '+02:00') but found end of input"
    );

    let e = filter_err("phenomenonTime gt 2016-06-01T25:00:00Z");
    assert!(
        e.to_string().contains("expected a valid time of day"),
        "{e}"
    );

    let e = filter_err("x eq duration'1D'");
    assert!(
        e.to_string().contains("expected an ISO 8601 duration"),
        "{e}"
    );
}

// ----- functions -------------------------------------------------------------

#[test]
fn string_functions() {
    let cases: &[(&str, Function, usize)] = &[
        ("substringof('room', name)", Function::Substringof, 2),
        ("endswith(description, 'milk')", Function::Endswith, 2),
        ("startswith(name, 'Temp')", Function::Startswith, 2),
        ("contains(name, 'temp')", Function::Contains, 2),
        ("length(name) eq 18", Function::Length, 1),
        ("indexof(name, 'sensor') eq 1", Function::Indexof, 2),
        ("substring(name, 1) eq 'oom'", Function::Substring, 2),
        ("substring(name, 1, 2) eq 'oo'", Function::Substring, 3),
        ("tolower(name) eq 'room'", Function::Tolower, 1),
        ("toupper(name) eq 'ROOM'", Function::Toupper, 1),
        ("trim(name) eq 'room'", Function::Trim, 1),
        (
            "concat(concat(name, ', '), description) eq 'a, b'",
            Function::Concat,
            2,
        ),
    ];
    for (s, func, n) in cases {
        let e = f(s);
        let c = if let Expr::Call { .. } = e {
            &e
        } else {
            left(&e)
        };
        let (got, args) = call(c);
        assert_eq!((got, args.len()), (*func, *n), "{s}");
    }
}

#[test]
fn date_and_math_functions() {
    for (name, func) in [
        ("year", Function::Year),
        ("month", Function::Month),
        ("day", Function::Day),
        ("hour", Function::Hour),
        ("minute", Function::Minute),
        ("second", Function::Second),
        ("fractionalseconds", Function::Fractionalseconds),
        ("totaloffsetminutes", Function::Totaloffsetminutes),
        ("round", Function::Round),
        ("floor", Function::Floor),
        ("ceiling", Function::Ceiling),
    ] {
        let e = f(&format!("{name}(resultTime) eq 1"));
        assert_eq!(call(left(&e)).0, func, "{name}");
        assert_eq!(func.name(), name);
    }
    assert_eq!(
        call(left(&f("date(resultTime) ne 2016-01-01"))).0,
        Function::Date
    );
    assert_eq!(
        call(left(&f("time(resultTime) ne 10:00:00"))).0,
        Function::Time
    );
    for (name, func) in [
        ("now", Function::Now),
        ("mindatetime", Function::Mindatetime),
        ("maxdatetime", Function::Maxdatetime),
    ] {
        let e = f(&format!("resultTime le {name}()"));
        let (got, args) = call(right(&e));
        assert_eq!((got, args.len()), (func, 0));
    }
    assert_eq!(
        canon("round(result div 3) add floor(-2.5)"),
        "(round((result div 3)) add floor(-2.5))"
    );
}

#[test]
fn geo_functions_with_geography_literals() {
    let e = f(
        "geo.intersects(location, geography'POLYGON((7.5 51.5, 7.5 53.5, 8.5 53.5, 8.5 51.5, 7.5 51.5))')",
    );
    let (func, args) = call(&e);
    assert_eq!(func, Function::GeoIntersects);
    assert_eq!(args[0], p(&["location"]));
    let geo::Geometry::Polygon(poly) = geometry(&args[1]) else {
        panic!("not a polygon")
    };
    assert_eq!(poly.exterior().0.len(), 5);

    let e = f("geo.distance(location, geography'POINT(-122 43)') lt 10");
    let (func, args) = call(left(&e));
    assert_eq!(func, Function::GeoDistance);
    assert_eq!(
        geometry(&args[1]),
        &geo::Geometry::Point(geo::Point::new(-122.0, 43.0))
    );

    let e = f("geo.length(geography'LINESTRING(7.5 51.5, 7.5 53.5)') gt 1");
    let (func, args) = call(left(&e));
    assert_eq!(func, Function::GeoLength);
    assert!(matches!(geometry(&args[0]), geo::Geometry::LineString(l) if l.0.len() == 2));
}

#[test]
fn every_st_function() {
    for (name, func) in [
        ("st_equals", Function::StEquals),
        ("st_disjoint", Function::StDisjoint),
        ("st_touches", Function::StTouches),
        ("st_within", Function::StWithin),
        ("st_overlaps", Function::StOverlaps),
        ("st_crosses", Function::StCrosses),
        ("st_intersects", Function::StIntersects),
        ("st_contains", Function::StContains),
    ] {
        let e = f(&format!(
            "{name}(Thing/Locations/location, geography'POLYGON((0 0, 0 1, 1 1, 0 0))')"
        ));
        let (got, args) = call(&e);
        assert_eq!(got, func);
        assert!(got.is_geospatial());
        assert_eq!(args[0], p(&["Thing", "Locations", "location"]));
        assert!(matches!(geometry(&args[1]), geo::Geometry::Polygon(_)));
    }
}

#[test]
fn st_relate_takes_a_de9im_pattern() {
    let e = f("st_relate(feature, geography'LINESTRING(7.5 51.5, 8 52)', 'T********')");
    let (func, args) = call(&e);
    assert_eq!(func, Function::StRelate);
    assert_eq!(args[2], string("T********"));
    let err = filter_err("st_relate(feature, geography'POINT(1 2)', 'nonsense')");
    assert_eq!(err.kind, ErrorKind::InvalidLiteral);
    assert_eq!(err.column, 43);
    assert!(
        err.to_string().contains("expected a DE-9IM pattern"),
        "{err}"
    );
}

#[test]
fn bare_wkt_strings_are_geometries_in_geo_functions() {
    // FROST-Server accepts the WKT without the geography prefix.
    let e = f("st_within(location, 'POLYGON((0 0, 0 1, 1 1, 0 0))')");
    let Literal::Geometry(g) = lit(&call(&e).1[1]) else {
        panic!("not converted")
    };
    assert_eq!(g.kind, GeoKind::Geography);
    assert_eq!(g.srid, None);
    assert_eq!(
        e.to_string(),
        "st_within(location, geography'POLYGON((0 0,0 1,1 1,0 0))')"
    );
    // Outside geo functions strings stay strings.
    assert_eq!(
        lit(right(&f("name eq 'POINT(1 2)'"))),
        &Literal::String("POINT(1 2)".into())
    );
}

#[test]
fn geometry_prefix_and_srid() {
    let e = f("st_equals(location, geometry'SRID=4326;POINT(7.46 51.51)')");
    let Literal::Geometry(g) = lit(&call(&e).1[1]) else {
        panic!("not a geometry")
    };
    assert_eq!(g.kind, GeoKind::Geometry);
    assert_eq!(g.srid, Some(4326));
    assert_eq!(
        g.geometry,
        geo::Geometry::Point(geo::Point::new(7.46, 51.51))
    );
    assert_eq!(
        e.to_string(),
        "st_equals(location, geometry'SRID=4326;POINT(7.46 51.51)')"
    );
    f("st_intersects(location, geography'MULTIPOINT((1 2),(3 4))')");
    f("st_intersects(location, geography'MULTIPOLYGON(((0 0,0 1,1 1,0 0)),((5 5,5 6,6 6,5 5)))')");
    f("st_intersects(location, geography'GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))')");
}

#[test]
fn bad_wkt_is_an_error_with_position() {
    let e = filter_err("st_within(location, geography'POLYGON((0 0, 1 1')");
    assert_eq!(e.kind, ErrorKind::InvalidGeometry);
    assert_eq!(e.column, 21);
    assert!(
        e.to_string()
            .starts_with("$filter: at column 21: expected a WKT geometry such as 'POINT(7.46 51.51)' but found 'POLYGON((0 0, 1 1'"),
        "{e}"
    );
    let e = filter_err("st_within(location, 'POINT(1)')");
    assert_eq!((e.kind, e.column), (ErrorKind::InvalidGeometry, 21));
    let e = filter_err("geo.distance(location, geography'CIRCLE(1 2)') lt 3");
    assert_eq!((e.kind, e.column), (ErrorKind::InvalidGeometry, 24));
    let e = filter_err("st_within(location, geography'POINT(1 2)");
    assert_eq!(e.kind, ErrorKind::UnterminatedString);
    // The WKT reader ignores trailing text; the parser does not.
    let e = filter_err("st_within(location, geography'POINT(1 2) garbage')");
    assert_eq!(e.kind, ErrorKind::InvalidGeometry);
    assert!(
        e.to_string()
            .ends_with("(unexpected text after the geometry: 'garbage')"),
        "{e}"
    );
    let e = filter_err("st_within(location, geography'POINT(1e999 2)')");
    assert!(
        e.to_string().contains("coordinates must be finite numbers"),
        "{e}"
    );
    let deep = format!(
        "geography'{}POINT(1 2){}'",
        "GEOMETRYCOLLECTION(".repeat(40),
        ")".repeat(40)
    );
    let e = filter_err(&format!("st_within(location, {deep})"));
    assert!(e.to_string().contains("nested too deeply"), "{e}");
}

// ----- paths and lambdas -----------------------------------------------------

#[test]
fn navigation_and_json_paths() {
    let e = f("Datastream/Thing/name eq 'x'");
    assert_eq!(left(&e), &p(&["Datastream", "Thing", "name"]));
    let e = f("Thing/Locations/location eq null");
    assert_eq!(left(&e), &p(&["Thing", "Locations", "location"]));
    let e = f("properties/owner/name eq 'Alice'");
    assert_eq!(left(&e), &p(&["properties", "owner", "name"]));
    let e = f("parameters/my-key/2 gt 1");
    assert_eq!(left(&e), &p(&["parameters", "my-key", "2"]));
    let e = f("result/values[2] gt 1");
    let Expr::Path(path) = left(&e) else {
        panic!("not a path")
    };
    assert_eq!(
        path.segments,
        vec![
            Segment::Name("result".into()),
            Segment::Name("values".into()),
            Segment::Index(2)
        ]
    );
    assert_eq!(path.to_string(), "result/values[2]");
}

#[test]
fn id_paths() {
    for s in ["id eq 5", "@iot.id eq 5", "Datastream/@iot.id eq 5"] {
        let e = f(s);
        let Expr::Path(path) = left(&e) else {
            panic!("not a path")
        };
        assert_eq!(path.segments.last().unwrap().kind(), SegmentKind::Id, "{s}");
    }
    let Expr::Path(path) = left(&f("@iot.id eq 5")).clone() else {
        panic!()
    };
    assert!(path.is_id());
}

#[test]
fn segment_classification_and_path_parts() {
    assert_eq!(
        classify_segment("Datastreams"),
        SegmentKind::Navigation(NavigationProperty::Datastreams)
    );
    assert_eq!(
        classify_segment("HistoricalLocations"),
        SegmentKind::Navigation(NavigationProperty::HistoricalLocations)
    );
    assert_eq!(classify_segment("name"), SegmentKind::Property);
    assert_eq!(classify_segment("datastreams"), SegmentKind::Property);
    assert_eq!(classify_segment("@iot.id"), SegmentKind::Id);
    for nav in NavigationProperty::ALL {
        assert_eq!(classify_segment(nav.name()), SegmentKind::Navigation(*nav));
    }
    assert!(NavigationProperty::Observations.is_collection());
    assert!(!NavigationProperty::FeatureOfInterest.is_collection());
    assert_eq!(
        NavigationProperty::ObservedProperties.target_type(),
        "ObservedProperty"
    );

    let path = Path::from_names(&["Datastream", "Thing", "properties", "owner", "Thing"]);
    let parts = path.parts();
    assert_eq!(
        parts.navigation,
        vec![NavigationProperty::Datastream, NavigationProperty::Thing]
    );
    assert_eq!(parts.property, Some("properties"));
    assert_eq!(parts.sub_path.len(), 2);
    let nav_only = Path::from_names(&["Datastreams"]);
    assert_eq!(nav_only.parts().property, None);
}

#[test]
fn lambda_any_and_all() {
    let e = f("Datastreams/any(d: d/name eq 'x')");
    let Expr::Lambda {
        path,
        kind,
        predicate: Some(pred),
    } = &e
    else {
        panic!("not a lambda: {e:?}")
    };
    assert_eq!(path, &Path::from_names(&["Datastreams"]));
    assert_eq!(*kind, LambdaKind::Any);
    assert_eq!(pred.var, "d");
    let Expr::Binary {
        left: body_left, ..
    } = pred.body.as_ref()
    else {
        panic!()
    };
    let Expr::Path(var_path) = body_left.as_ref() else {
        panic!()
    };
    assert_eq!(var_path.variable.as_deref(), Some("d"));
    assert_eq!(var_path.segments, vec![Segment::Name("name".into())]);

    let e = f("Things/Datastreams/all(ds:ds/unitOfMeasurement/symbol eq 'degC') and name ne 'y'");
    assert!(matches!(
        left(&e),
        Expr::Lambda {
            kind: LambdaKind::All,
            ..
        }
    ));

    // Nested lambdas see both variables; `any()` tests for non-emptiness.
    let e = f("Datastreams/any(d: d/Observations/any(o: o/result gt 3 and d/name eq 'x'))");
    assert_eq!(
        e.to_string(),
        "Datastreams/any(d: d/Observations/any(o: o/result gt 3 and d/name eq 'x'))"
    );
    assert!(matches!(
        f("Datastreams/any()"),
        Expr::Lambda {
            predicate: None,
            ..
        }
    ));
    // Outside the lambda `d` is an ordinary property again.
    let e = f("Datastreams/any(d: d/name eq 'x') and d eq 1");
    let Expr::Path(outer) = left(right(&e)) else {
        panic!()
    };
    assert_eq!(outer.variable, None);
}

#[test]
fn lambda_errors() {
    let e = filter_err("any(d: d/name eq 'x')");
    assert!(
        e.to_string()
            .contains("expected a collection path before the lambda operator"),
        "{e}"
    );
    let e = filter_err("Datastreams/all()");
    assert!(
        e.to_string().contains("expected a lambda variable name"),
        "{e}"
    );
    let e = filter_err("Datastreams/any(d d/name eq 'x')");
    assert_eq!(
        e.to_string(),
        "$filter: at column 19: expected ':' after the lambda variable but found 'd'"
    );
}

// ----- filter errors ---------------------------------------------------------

#[test]
fn error_unbalanced_parentheses() {
    let e = filter_err("(name eq 'x'");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(
        e.to_string(),
        "$filter: at column 13: expected ')' or an operator but found end of input"
    );
    let e = filter_err("name eq 'x')");
    assert_eq!(
        e.to_string(),
        "$filter: at column 12: expected an operator or end of input but found ')'"
    );
    let e = filter_err("startswith(name, 'x' eq");
    assert_eq!(e.column, 24);
    assert!(e.to_string().contains("but found end of input"), "{e}");
}

#[test]
fn error_missing_separator_in_call_lists_alternatives() {
    let e = filter_err("startswith(name 'x')");
    assert_eq!(
        e.to_string(),
        "$filter: at column 17: expected one of: ',', ')', an operator but found 'x'"
    );
    assert_eq!(e.position, 16);
    assert_eq!(e.expected, vec!["','", "')'", "an operator"]);
    assert_eq!(e.found, "'x'");
}

#[test]
fn error_unknown_function() {
    let e = filter_err("name eq 'a' and frobnicate(name) eq 1");
    assert_eq!(e.kind, ErrorKind::UnknownFunction);
    assert_eq!(
        e.to_string(),
        "$filter: at column 17: expected a built-in function such as 'startswith', 'year' or 'geo.distance' but found unknown function 'frobnicate'"
    );
}

#[test]
fn error_wrong_arity() {
    let e = filter_err("startswith(name)");
    assert_eq!(e.kind, ErrorKind::WrongArity);
    assert_eq!(
        e.to_string(),
        "$filter: at column 1: expected 2 arguments for 'startswith' but found 1 argument"
    );
    let e = filter_err("name eq substring(name, 1, 2, 3)");
    assert_eq!(
        e.to_string(),
        "$filter: at column 9: expected 2 to 3 arguments for 'substring' but found 4 arguments"
    );
    let e = filter_err("now(1) gt resultTime");
    assert!(
        e.to_string()
            .contains("expected 0 arguments for 'now' but found 1 argument"),
        "{e}"
    );
    let e = filter_err("st_relate(a, b)");
    assert!(
        e.to_string()
            .contains("expected 3 arguments for 'st_relate'"),
        "{e}"
    );
}

#[test]
fn error_unterminated_string() {
    let e = filter_err("name eq 'abc");
    assert_eq!(e.kind, ErrorKind::UnterminatedString);
    assert_eq!(
        e.to_string(),
        "$filter: at column 9: expected a closing quote (') for the string that starts here but found end of input"
    );
    let e = filter_err("name eq 'it''s");
    assert_eq!(e.kind, ErrorKind::UnterminatedString);
}

#[test]
fn error_missing_operand_and_misplaced_operator() {
    let e = filter_err("name eq");
    assert_eq!(
        e.to_string(),
        "$filter: at column 8: expected a value, property path or function call but found end of input"
    );
    let e = filter_err("eq 5");
    assert_eq!(e.column, 1);
    assert!(e.to_string().contains("but found 'eq'"), "{e}");
    let e = filter_err("");
    assert_eq!(e.column, 1);
    let e = filter_err("name eq 'x' foo");
    assert_eq!(
        e.to_string(),
        "$filter: at column 13: expected an operator or end of input but found 'foo'"
    );
    let e = filter_err("a eq 1 # b");
    assert!(e.to_string().contains("found '#'"), "{e}");
}

#[test]
fn columns_count_characters_and_positions_bytes() {
    let e = filter_err("name eq 'Größe' xx");
    assert_eq!(e.column, 17);
    assert_eq!(e.position, 18);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
    let e = filter_err(&deep);
    assert_eq!(e.kind, ErrorKind::TooDeep);
    assert!(
        e.to_string()
            .contains("expected at most 100 levels of nesting"),
        "{e}"
    );

    let nots = format!("{}a", "not ".repeat(1000));
    assert_eq!(filter_err(&nots).kind, ErrorKind::TooDeep);

    let calls = format!("{}a{}", "tolower(".repeat(1000), ")".repeat(1000));
    assert_eq!(filter_err(&calls).kind, ErrorKind::TooDeep);

    // 90 levels are fine.
    let ok = format!("{}a{}", "(".repeat(90), ")".repeat(90));
    assert_eq!(f(&ok), p(&["a"]));
}

#[test]
fn long_operator_chains_are_bounded() {
    let ok = vec!["id eq 1"; 200].join(" or ");
    let e = f(&ok);
    assert!(matches!(
        e,
        Expr::Binary {
            op: BinaryOp::Or,
            ..
        }
    ));
    let too_long = vec!["id eq 1"; 2000].join(" or ");
    let e = filter_err(&too_long);
    assert_eq!(e.kind, ErrorKind::TooDeep);
}

#[test]
fn garbage_never_panics() {
    let inputs = [
        "'",
        "''",
        "(",
        ")",
        "/",
        "a/",
        "a//b",
        "a/(",
        "[",
        "a[",
        "a[-1]",
        "a[x]",
        "-",
        "--",
        "- -",
        "not",
        "not not",
        "1.",
        "1e",
        "1e+",
        ".5",
        "2016-",
        "2016-06-01T",
        "2016-06-01T1",
        "12:",
        "12:3",
        "geography'",
        "geometry'POINT",
        "duration'P'",
        "duration'PT'",
        "$it",
        "@",
        "é eq 'é'",
        "a eq 'x'')",
        "substring(",
        "substring(a,",
        "any(",
        "a/any(",
        "a/any(d",
        "a/any(d:",
        "a/any(d:d",
        "a/all(:x)",
        "\u{0}",
        "a eq \u{7f}",
        "0000-00-00",
        "9999-12-31T23:59:59.9999999999999+23:59",
        "0000-01-01T00:00:00-23:59",
        "geography'SRID=;POINT(1 2)'",
        "geography'SRID=99999999999999;POINT(1 2)'",
        "st_relate(a,b,c)",
        "geo.length('')",
        "a eq -INFx",
        "INF eq NaN",
        "1--1",
        "a sub-1",
    ];
    for s in inputs {
        let _ = parse_filter(s);
        let _ = parse_expand(s);
        let _ = parse_select(s);
        let _ = parse_orderby(s);
        let _ = parse_query(s);
    }
    assert!(parse_filter("a sub-1").is_ok());
    assert!(parse_filter("1--1").is_err());
}

// ----- $expand ---------------------------------------------------------------

#[test]
fn expand_simple_list() {
    let items = parse_expand("Datastreams,Locations").unwrap();
    assert_eq!(
        items,
        vec![ExpandItem::new("Datastreams"), ExpandItem::new("Locations")]
    );
    assert_eq!(
        items[0].navigation_property(),
        Some(NavigationProperty::Datastreams)
    );
}

#[test]
fn expand_path_means_nested_expand() {
    let items = parse_expand("Datastreams/Observations/FeatureOfInterest").unwrap();
    assert_eq!(items.len(), 1);
    let ds = &items[0];
    assert_eq!(ds.navigation, "Datastreams");
    let obs = &ds.options.expand[0];
    assert_eq!(obs.navigation, "Observations");
    assert_eq!(
        obs.options.expand,
        vec![ExpandItem::new("FeatureOfInterest")]
    );
}

#[test]
fn expand_brief_example_with_nested_options() {
    let items = parse_expand(
        "Datastreams($select=name,id;$expand=Observations($top=5;$orderby=phenomenonTime desc;$filter=result gt 3)),Locations",
    )
    .unwrap();
    assert_eq!(items.len(), 2);
    let ds = &items[0];
    assert_eq!(
        ds.options.select,
        Some(vec![Path::from_names(&["name"]), Path::from_names(&["id"])])
    );
    let obs = &ds.options.expand[0];
    assert_eq!(obs.navigation, "Observations");
    assert_eq!(obs.options.top, Some(5));
    assert_eq!(obs.options.orderby.len(), 1);
    assert_eq!(obs.options.orderby[0].direction, SortDirection::Desc);
    assert_eq!(obs.options.orderby[0].expr, p(&["phenomenonTime"]));
    assert_eq!(
        obs.options.filter,
        Some(bin(BinaryOp::Gt, p(&["result"]), int(3)))
    );
    assert_eq!(items[1], ExpandItem::new("Locations"));
    assert_eq!(
        items[0].to_string(),
        "Datastreams($expand=Observations($filter=result gt 3;$orderby=phenomenonTime desc;$top=5);$select=name,id)"
    );
}

#[test]
fn expand_every_nested_option() {
    let items = parse_expand(
        "Observations($filter=result ge 1 and result le 2;$expand=FeatureOfInterest($select=name);$select=result,phenomenonTime;$orderby=result asc,id desc;$top=10;$skip=20;$count=true)",
    )
    .unwrap();
    let o = &items[0].options;
    assert!(matches!(
        o.filter,
        Some(Expr::Binary {
            op: BinaryOp::And,
            ..
        })
    ));
    assert_eq!(o.expand[0].navigation, "FeatureOfInterest");
    assert_eq!(
        o.expand[0].options.select,
        Some(vec![Path::from_names(&["name"])])
    );
    assert_eq!(o.select.as_ref().map(Vec::len), Some(2));
    assert_eq!(o.orderby.len(), 2);
    assert_eq!(o.orderby[0].direction, SortDirection::Asc);
    assert_eq!(o.orderby[1].direction, SortDirection::Desc);
    assert_eq!((o.top, o.skip, o.count), (Some(10), Some(20), Some(true)));
    assert_eq!(o.result_format, None);
}

#[test]
fn expand_nests_to_any_depth() {
    let items = parse_expand(
        "Things($expand=Datastreams($expand=Observations($expand=FeatureOfInterest($select=feature))))",
    )
    .unwrap();
    let foi = &items[0].options.expand[0].options.expand[0].options.expand[0];
    assert_eq!(foi.navigation, "FeatureOfInterest");
    assert_eq!(
        foi.options.select,
        Some(vec![Path::from_names(&["feature"])])
    );
}

#[test]
fn expand_items_for_one_navigation_are_merged() {
    let items = parse_expand("Datastreams($top=1),Datastreams/Sensor,Datastreams/ObservedProperty")
        .unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].options.top, Some(1));
    assert_eq!(
        items[0].options.expand,
        vec![
            ExpandItem::new("Sensor"),
            ExpandItem::new("ObservedProperty")
        ]
    );
    let e = parse_expand("Datastreams($top=1),Datastreams($top=2)").unwrap_err();
    assert_eq!(e.kind, ErrorKind::ConflictingExpand);
    assert_eq!(
        e.to_string(),
        "$expand: at column 21: expected at most one $top for the expanded 'Datastreams' but found a second one"
    );
}

#[test]
fn expand_errors() {
    let e = parse_expand("Datastreams($top=5;$resultFormat=dataArray)").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownOption);
    assert_eq!(e.column, 20);
    assert!(
        e.to_string().contains("expected a nested query option"),
        "{e}"
    );

    let e = parse_expand("Datastreams($top=5;$top=6)").unwrap_err();
    assert_eq!(e.kind, ErrorKind::DuplicateOption);
    assert_eq!(
        e.to_string(),
        "$expand: at column 20: expected $top at most once per expand item but found it a second time"
    );

    let e = parse_expand("Datastreams($filter=name eq 'x'").unwrap_err();
    assert_eq!(
        e.to_string(),
        "$expand: at column 32: expected one of: an operator, ';', ')' but found end of input"
    );

    let e = parse_expand("Datastreams($top=-1)").unwrap_err();
    assert_eq!(
        e.to_string(),
        "$expand: at column 18: expected a non-negative integer but found '-1'"
    );

    let e = parse_expand("Datastreams($filter=result gt 3)x").unwrap_err();
    assert!(e.to_string().contains("at column 33"), "{e}");

    let e = parse_expand("Datastreams,").unwrap_err();
    assert_eq!(
        e.to_string(),
        "$expand: at column 13: expected a navigation property name but found end of input"
    );

    let deep = format!("{}x{}", "A($expand=".repeat(200), ")".repeat(200));
    assert_eq!(parse_expand(&deep).unwrap_err().kind, ErrorKind::TooDeep);
    let long = vec!["A"; 500].join("/");
    assert_eq!(parse_expand(&long).unwrap_err().kind, ErrorKind::TooDeep);
}

// ----- $select and $orderby --------------------------------------------------

#[test]
fn select_properties_navigation_and_json_paths() {
    let paths = parse_select("id,name,@iot.id,properties/owner,Datastreams,result").unwrap();
    assert_eq!(
        paths,
        vec![
            Path::from_names(&["id"]),
            Path::from_names(&["name"]),
            Path::from_names(&["@iot.id"]),
            Path::from_names(&["properties", "owner"]),
            Path::from_names(&["Datastreams"]),
            Path::from_names(&["result"]),
        ]
    );
    let e = parse_select("name,").unwrap_err();
    assert_eq!(
        e.to_string(),
        "$select: at column 6: expected a property name but found end of input"
    );
    let e = parse_select("name eq").unwrap_err();
    assert!(
        e.to_string()
            .contains("expected one of: ',', '/', end of input but found 'eq'"),
        "{e}"
    );
}

#[test]
fn orderby_several_keys() {
    let keys =
        parse_orderby("phenomenonTime desc, result,  Datastream/name asc, length(name) desc")
            .unwrap();
    assert_eq!(keys.len(), 4);
    assert_eq!(
        (keys[0].expr.clone(), keys[0].direction),
        (p(&["phenomenonTime"]), SortDirection::Desc)
    );
    assert_eq!(keys[1].direction, SortDirection::Asc);
    assert_eq!(keys[2].expr, p(&["Datastream", "name"]));
    assert_eq!(call(&keys[3].expr).0, Function::Length);
    assert_eq!(keys[3].to_string(), "length(name) desc");

    let e = parse_orderby("name sideways").unwrap_err();
    assert_eq!(
        e.to_string(),
        "$orderby: at column 6: expected one of: an operator, 'asc', 'desc', ',', end of input but found 'sideways'"
    );
}

// ----- whole query strings ---------------------------------------------------

#[test]
fn full_query_string() {
    let q = parse_query(
        "?$filter=result%20gt%203&$expand=Datastream($select=name)&$select=result,phenomenonTime&$orderby=phenomenonTime%20desc&$top=10&$skip=5&$count=true&$resultFormat=dataArray",
    )
    .unwrap();
    assert_eq!(q.filter, Some(bin(BinaryOp::Gt, p(&["result"]), int(3))));
    assert_eq!(q.expand[0].navigation, "Datastream");
    assert_eq!(q.select.as_ref().map(Vec::len), Some(2));
    assert_eq!(q.orderby[0].direction, SortDirection::Desc);
    assert_eq!((q.top, q.skip, q.count), (Some(10), Some(5), Some(true)));
    assert_eq!(q.result_format, Some(ResultFormat::DataArray));

    // The canonical query string parses back to the same options.
    let again = parse_query(&q.to_query_string()).unwrap();
    assert_eq!(again, q);
}

#[test]
fn empty_query_and_custom_parameters() {
    assert!(parse_query("").unwrap().is_empty());
    assert!(parse_query("?").unwrap().is_empty());
    let q = parse_query("foo=bar&&debug&$top=3&").unwrap();
    assert_eq!(q.top, Some(3));
    assert_eq!(
        q,
        QueryOptions {
            top: Some(3),
            ..Default::default()
        }
    );
}

#[test]
fn percent_decoding_and_plus_signs() {
    let q = parse_query("%24filter=name%20eq%20%27a%26b%27").unwrap();
    assert_eq!(
        q.filter,
        Some(bin(BinaryOp::Eq, p(&["name"]), string("a&b")))
    );
    // '+' is a space (form encoding, as Python's requests sends it), also inside strings and
    // in place of an offset's plus; a literal plus is %2B.
    let q = parse_query("$filter=name+eq+'a+b'+and+phenomenonTime+gt+2016-06-01T00:00:00+02:00")
        .unwrap();
    let filter = q.filter.unwrap();
    assert_eq!(lit(right(left(&filter))), &Literal::String("a b".into()));
    let q = parse_query("$filter=name+eq+'a%2Bb'").unwrap();
    assert_eq!(
        lit(right(&q.filter.unwrap())),
        &Literal::String("a+b".into())
    );
    let Literal::DateTime(dt) = lit(right(right(&filter))) else {
        panic!()
    };
    assert_eq!(dt.offset().local_minus_utc(), 7200);
    let q = parse_query("$filter=phenomenonTime%20gt%202016-06-01T00:00:00%2B02:00").unwrap();
    assert!(q.filter.is_some());
    // Option names ignore case.
    assert_eq!(parse_query("$TOP=2").unwrap().top, Some(2));
}

#[test]
fn query_value_errors() {
    let e = query_err("$top=-1");
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert_eq!(
        e.to_string(),
        "$top: at column 1: expected a non-negative integer but found '-1'"
    );
    let e = query_err("$skip=abc");
    assert_eq!(
        e.to_string(),
        "$skip: at column 1: expected a non-negative integer but found 'abc'"
    );
    let e = query_err("$top=5x");
    assert_eq!(
        e.to_string(),
        "$top: at column 2: expected end of input but found 'x'"
    );
    let e = query_err("$top=1.5");
    assert_eq!(e.column, 2);
    let e = query_err("$top=99999999999999999999999");
    assert!(
        e.to_string()
            .contains("no larger than 18446744073709551615"),
        "{e}"
    );
    let e = query_err("$count=yes");
    assert_eq!(
        e.to_string(),
        "$count: at column 1: expected 'true' or 'false' but found 'yes'"
    );
    let e = query_err("$resultFormat=csv");
    assert_eq!(
        e.to_string(),
        "$resultFormat: at column 1: expected 'dataArray' but found 'csv'"
    );
    let e = query_err("$top");
    assert!(
        e.to_string()
            .contains("expected '=' and a value after $top"),
        "{e}"
    );
    let e = query_err("$filter=");
    assert_eq!(
        e.to_string(),
        "$filter: at column 1: expected a value, property path or function call but found end of input"
    );
}

#[test]
fn unknown_and_duplicate_options() {
    let e = query_err("$top=1&$foo=bar");
    assert_eq!(e.kind, ErrorKind::UnknownOption);
    assert_eq!(e.option, "$foo");
    assert!(
        e.to_string()
            .starts_with("$foo: at column 1: expected a SensorThings query option ($filter"),
        "{e}"
    );
    assert!(
        e.to_string().ends_with("but found unknown option '$foo'"),
        "{e}"
    );

    let e = query_err("$top=1&$skip=2&$top=3");
    assert_eq!(e.kind, ErrorKind::DuplicateOption);
    assert_eq!(
        e.to_string(),
        "$top: at column 1: expected $top at most once but found it a second time"
    );
    let e = query_err("$filter=a eq 1&$Filter=b eq 2");
    assert_eq!(e.kind, ErrorKind::DuplicateOption);
}

#[test]
fn invalid_percent_encoding() {
    let e = query_err("$filter=name%20eq%20%27%FF%27");
    assert_eq!(e.kind, ErrorKind::InvalidEncoding);
    assert!(
        e.to_string()
            .contains("expected percent-encoded UTF-8 text"),
        "{e}"
    );
}

#[test]
fn errors_inside_nested_options_point_into_the_expand_value() {
    let e = query_err("$expand=Datastreams($filter=startswith(name))");
    assert_eq!(e.option, "$expand");
    assert_eq!(e.kind, ErrorKind::WrongArity);
    assert_eq!(e.column, 21);
}

// ----- Display round trip over many expressions ------------------------------

#[test]
fn display_round_trip() {
    let cases = [
        "name eq 'thing1'",
        "not startswith(name, 'a') or endswith(name, 'z')",
        "substringof('b''s', description) eq true",
        "result add 2 mul 3 sub 4 div 5 mod 6 ge -7.5",
        "- (result) lt -INF or result gt INF",
        "round(result) eq 3.0 and floor(result) eq 2 and ceiling(result) eq 4",
        "year(phenomenonTime) eq 2016 and month(phenomenonTime) le 12",
        "day(resultTime) eq 1 and hour(resultTime) eq 23 and minute(resultTime) eq 59",
        "second(resultTime) eq 0 and fractionalseconds(resultTime) lt 0.5",
        "totaloffsetminutes(resultTime) eq 120",
        "resultTime ge mindatetime() and resultTime le maxdatetime() and resultTime lt now()",
        "date(phenomenonTime) eq 2016-06-01 and time(phenomenonTime) gt 12:00:00.25",
        "phenomenonTime ge 2016-06-01T00:00:00Z and phenomenonTime lt 2016-06-01T12:00:00.5-03:00",
        "phenomenonTime gt now() sub duration'PT12H' and x eq duration'-P3Y1DT0.000000001S'",
        "x eq duration'P0D'",
        "geo.distance(location, geography'POINT(-122.5 43.25)') lt 0.1",
        "geo.length(geometry'LINESTRING(0 0, 1 1, 2 0)') ge 2",
        "geo.intersects(location, 'POLYGON((0 0, 0 1, 1 1, 0 0))')",
        "st_relate(location, geography'SRID=4326;POINT(1 2)', 'T*F**F***')",
        "st_disjoint(location, geography'MULTILINESTRING((0 0,1 1),(2 2,3 3))')",
        "properties/owner/name eq 'Bob' and properties/tags[1] eq 'x'",
        "Datastream/Thing/Locations/location ne null",
        "@iot.id eq 42 or id eq 43",
        "Datastreams/any(d: d/Observations/all(o: o/result ge 0)) and Locations/any()",
        "concat(concat(tolower(name), '-'), toupper(trim(description))) eq 'x-Y'",
        "indexof(name, 'x') ne -1 and length(substring(name, 1, 3)) eq 3",
        "contains(Datastream/name, 'temp') and result mod 2 eq 0",
        "not not a",
        "((a eq 1) or (b eq 2)) and (c eq 3)",
        "result eq 1e-7 or result eq 1.7976931348623157e308 or result eq 5e-324",
        "name eq 'Grüße, ''Welt'' & Co.'",
        "properties/my-key/0 eq parameters/other_key",
    ];
    for s in cases {
        f(s);
    }
    assert!(cases.len() >= 30);
}

#[test]
fn display_of_query_options_round_trips() {
    let raw = "$filter=name eq 'a;b,c' and result gt 2&$expand=Datastreams($select=name,id;$expand=Observations($top=5;$orderby=phenomenonTime desc;$filter=result gt 3;$count=false;$skip=1)),Locations&$select=id,name&$orderby=name,id desc&$top=3&$skip=0&$count=false";
    let q = parse_query(raw).unwrap();
    let printed = q.to_string();
    let encoded = q.to_query_string();
    assert!(!encoded.contains(' '));
    assert_eq!(parse_query(&encoded).unwrap(), q);
    // The unencoded text is readable and also parses (it contains no '&'
    // inside literals here).
    assert_eq!(parse_query(&printed).unwrap(), q);
}

#[test]
fn inputs_at_the_limits_do_not_exhaust_the_stack() {
    // Run on a thread with a small stack to leave a wide safety margin.
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            // 99 levels of parentheses, calls and lambdas mixed.
            let mut s = String::from("a eq 1");
            for i in 0..33 {
                s = match i % 3 {
                    0 => format!("({s})"),
                    1 => format!("not ({s})"),
                    _ => format!("Datastreams/any(d{i}: {s})"),
                };
            }
            let e = f(&s);
            let _ = format!("{e:?} {e:#}");

            // The deepest expression tree allowed: a left-deep chain.
            let chain = vec!["a"; 251].join(" or ");
            let e = parse_filter(&chain).unwrap();
            let copy = e.clone();
            assert_eq!(copy, e);
            let _ = format!("{e:?} {e}");
            let too_deep = vec!["a"; 502].join(" or ");
            assert_eq!(
                parse_filter(&too_deep).unwrap_err().kind,
                ErrorKind::TooDeep
            );

            // Expands nested to the limit, with a filter at the bottom.
            let depth = 49;
            let deep = format!(
                "{}Observations($filter=result gt 1){}",
                "Datastreams($expand=".repeat(depth),
                ")".repeat(depth)
            );
            let items = parse_expand(&deep).unwrap();
            let _ = format!("{items:?}");
            let q = parse_query(&format!("$expand={deep}")).unwrap();
            assert_eq!(parse_query(&q.to_query_string()).unwrap(), q);
        })
        .unwrap();
    handle.join().unwrap();
}

#[test]
fn large_inputs_are_handled_in_linear_time() {
    // Many distinct expand items, and many items merged into one.
    let distinct: Vec<String> = (0..20_000).map(|i| format!("N{i}")).collect();
    let items = parse_expand(&distinct.join(",")).unwrap();
    assert_eq!(items.len(), 20_000);
    let merged: Vec<String> = (0..20_000).map(|i| format!("Datastreams/N{i}")).collect();
    let items = parse_expand(&merged.join(",")).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].options.expand.len(), 20_000);
    // A long string literal and a long path.
    let long = format!("name eq '{}'", "x''".repeat(100_000));
    assert!(
        matches!(lit(right(&parse_filter(&long).unwrap())), Literal::String(s) if s.len() == 200_000)
    );
    let path = vec!["properties"; 50_000].join("/");
    assert!(matches!(parse_filter(&path).unwrap(), Expr::Path(p) if p.segments.len() == 50_000));
}

#[test]
fn expand_path_and_nested_forms_share_one_depth_limit() {
    // Found by fuzzing: a long expand path printed in the nested form must
    // still be within the nesting limit.
    for depth in [1, 25, 50] {
        let path = vec!["Datastreams"; depth].join("/");
        let q = parse_query(&format!("$expand={path}($top=1)")).unwrap();
        let printed = q.to_query_string();
        assert_eq!(parse_query(&printed).unwrap(), q, "{printed}");
    }
    let path = vec!["Datastreams"; 51].join("/");
    assert_eq!(parse_expand(&path).unwrap_err().kind, ErrorKind::TooDeep);
    let nested = format!("{}x{}", "Datastreams($expand=".repeat(50), ")".repeat(50));
    assert_eq!(parse_expand(&nested).unwrap_err().kind, ErrorKind::TooDeep);
}

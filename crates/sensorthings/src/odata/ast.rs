//! The typed syntax tree produced by the OData query-option parser.
//!
//! Nothing here is resolved against the SensorThings data model: paths are
//! kept as lists of segments and the navigation properties in them are only
//! *classified* by name (see [`classify_segment`] and [`Path::parts`]). The
//! query planner decides what a path means for a given entity type.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};

/// All query options of one request, or the nested options of one
/// [`ExpandItem`].
///
/// For nested options (inside `$expand=X(...)`) `result_format` is always
/// `None`: `$resultFormat` is not allowed there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryOptions {
    /// `$filter`: a boolean expression.
    pub filter: Option<Expr>,
    /// `$expand`: related entities to include inline. The items are
    /// normalised: every item names exactly one navigation property, and a
    /// navigation property appears at most once per level (see
    /// [`ExpandItem`]).
    pub expand: Vec<ExpandItem>,
    /// `$select`: the properties to return; `None` means "all".
    pub select: Option<Vec<Path>>,
    /// `$orderby`: sort keys, most significant first. Empty means "not given".
    pub orderby: Vec<OrderBy>,
    /// `$top`: maximum number of entities to return.
    pub top: Option<u64>,
    /// `$skip`: number of entities to skip.
    pub skip: Option<u64>,
    /// `$count`: whether to return the total count (`@iot.count`).
    pub count: Option<bool>,
    /// `$resultFormat` (top level only).
    pub result_format: Option<ResultFormat>,
}

impl QueryOptions {
    /// `true` when no option at all is set.
    pub fn is_empty(&self) -> bool {
        *self == QueryOptions::default()
    }
}

/// The value of `$resultFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResultFormat {
    /// `$resultFormat=dataArray` (STA 1.1 "Data Array Extension").
    DataArray,
}

impl ResultFormat {
    /// The spelling used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultFormat::DataArray => "dataArray",
        }
    }
}

/// One item of `$expand`, normalised to a single navigation property.
///
/// The path form `Datastreams/Observations($top=5)` is stored as
/// `Datastreams` with a nested expand of `Observations` carrying `$top=5`.
/// Items naming the same navigation property on one level are merged
/// (`Datastreams($top=1),Datastreams/Sensor` becomes
/// `Datastreams($top=1;$expand=Sensor)`); giving the same option twice for one
/// navigation property is a parse error.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandItem {
    /// The navigation property as written, e.g. `Datastreams`.
    pub navigation: String,
    /// The nested options (`$select`, `$expand`, `$filter`, `$orderby`,
    /// `$top`, `$skip`, `$count`).
    pub options: QueryOptions,
}

impl ExpandItem {
    /// A plain expand item without nested options.
    pub fn new(navigation: impl Into<String>) -> Self {
        ExpandItem {
            navigation: navigation.into(),
            options: QueryOptions::default(),
        }
    }

    /// The navigation property, if the name is one SensorThings defines.
    pub fn navigation_property(&self) -> Option<NavigationProperty> {
        NavigationProperty::from_name(&self.navigation)
    }
}

/// Sort direction of an `$orderby` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortDirection {
    /// `asc` (the default when nothing is written).
    #[default]
    Asc,
    /// `desc`.
    Desc,
}

/// One key of `$orderby`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// The sort expression, usually a [`Expr::Path`].
    pub expr: Expr,
    /// Ascending unless `desc` was given.
    pub direction: SortDirection,
}

/// A `$filter` / `$orderby` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal value.
    Literal(Literal),
    /// A property path such as `Datastream/Thing/name`.
    Path(Path),
    /// `not e` or `-e`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `left op right`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// A call of a built-in function; the argument count has been checked
    /// against [`Function::arity`].
    Call {
        /// The function.
        func: Function,
        /// The arguments in order.
        args: Vec<Expr>,
    },
    /// A lambda operator over a collection: `Datastreams/any(d: d/name eq 'x')`.
    Lambda {
        /// The collection the operator ranges over (`Datastreams`).
        path: Path,
        /// `any` or `all`.
        kind: LambdaKind,
        /// The variable and predicate; `None` only for the argument-less
        /// `any()` ("the collection is not empty").
        predicate: Option<LambdaPredicate>,
    },
}

impl Expr {
    /// Shorthand for a literal expression.
    pub fn literal(l: Literal) -> Self {
        Expr::Literal(l)
    }

    /// Shorthand for a path expression from plain property names.
    pub fn path<S: AsRef<str>>(names: &[S]) -> Self {
        Expr::Path(Path::from_names(names))
    }

    /// Shorthand for a binary expression.
    pub fn binary(op: BinaryOp, left: Expr, right: Expr) -> Self {
        Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    /// Shorthand for a unary expression.
    pub fn unary(op: UnaryOp, expr: Expr) -> Self {
        Expr::Unary {
            op,
            expr: Box::new(expr),
        }
    }

    /// Shorthand for a function call.
    pub fn call(func: Function, args: Vec<Expr>) -> Self {
        Expr::Call { func, args }
    }
}

/// The variable and body of a lambda operator.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaPredicate {
    /// The range variable (`d` in `any(d: d/name eq 'x')`). Paths in `body`
    /// that start with it have [`Path::variable`] set.
    pub var: String,
    /// The boolean predicate.
    pub body: Box<Expr>,
}

/// `any` or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LambdaKind {
    /// True if the predicate holds for at least one member.
    Any,
    /// True if the predicate holds for every member.
    All,
}

impl LambdaKind {
    /// The OData keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            LambdaKind::Any => "any",
            LambdaKind::All => "all",
        }
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// Logical negation, `not`.
    Not,
    /// Arithmetic negation, `-`.
    Neg,
}

/// Binary operators, from the OData / SensorThings built-in operator table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
    /// `add`
    Add,
    /// `sub`
    Sub,
    /// `mul`
    Mul,
    /// `div`
    Div,
    /// `mod`
    Mod,
}

impl BinaryOp {
    /// All binary operators.
    pub const ALL: [BinaryOp; 13] = [
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Mod,
    ];

    /// The OData keyword (`eq`, `add`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Mod => "mod",
        }
    }

    /// Looks an operator keyword up, ignoring ASCII case (OData 4.01 ABNF
    /// keywords are case-insensitive).
    pub fn from_keyword(word: &str) -> Option<BinaryOp> {
        BinaryOp::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    /// Binding strength: higher binds tighter. `or` = 1 ... `mul div mod` = 6.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 6,
        }
    }

    /// `and`, `or`.
    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or)
    }

    /// `eq ne gt ge lt le`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le
        )
    }

    /// `add sub mul div mod`.
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod
        )
    }
}

/// What kind of value a built-in function returns (for the planner's type
/// checks; `Number` covers both integers and doubles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnType {
    /// Boolean.
    Boolean,
    /// String.
    String,
    /// Integer or double.
    Number,
    /// Date-time with offset.
    DateTime,
    /// Date.
    Date,
    /// Time of day.
    TimeOfDay,
}

macro_rules! functions {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $min:literal ..= $max:literal, $ret:ident; )+) => {
        /// The built-in functions of STA 1.1 ($filter, table "built-in query
        /// functions") plus `contains` from OData 4.0.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Function {
            $( $(#[$doc])* $variant, )+
        }

        impl Function {
            /// Every function.
            pub const ALL: &'static [Function] = &[ $( Function::$variant, )+ ];

            /// The name as written in URLs (`geo.distance`, `st_within`, ...).
            pub fn name(self) -> &'static str {
                match self { $( Function::$variant => $name, )+ }
            }

            /// Minimum and maximum number of arguments.
            pub fn arity(self) -> (usize, usize) {
                match self { $( Function::$variant => ($min, $max), )+ }
            }

            /// What the function returns.
            pub fn return_type(self) -> ReturnType {
                match self { $( Function::$variant => ReturnType::$ret, )+ }
            }
        }
    };
}

functions! {
    /// `substringof(needle, haystack)` (OData 3 style, kept by STA).
    Substringof = "substringof", 2..=2, Boolean;
    /// `endswith(s, suffix)`
    Endswith = "endswith", 2..=2, Boolean;
    /// `startswith(s, prefix)`
    Startswith = "startswith", 2..=2, Boolean;
    /// `contains(s, needle)` (OData 4.0; not in the STA table but widely sent).
    Contains = "contains", 2..=2, Boolean;
    /// `length(s)`
    Length = "length", 1..=1, Number;
    /// `indexof(s, needle)` (0-based, -1 if absent)
    Indexof = "indexof", 2..=2, Number;
    /// `substring(s, start)` or `substring(s, start, length)`
    Substring = "substring", 2..=3, String;
    /// `tolower(s)`
    Tolower = "tolower", 1..=1, String;
    /// `toupper(s)`
    Toupper = "toupper", 1..=1, String;
    /// `trim(s)`
    Trim = "trim", 1..=1, String;
    /// `concat(a, b)`
    Concat = "concat", 2..=2, String;
    /// `year(t)`
    Year = "year", 1..=1, Number;
    /// `month(t)`
    Month = "month", 1..=1, Number;
    /// `day(t)`
    Day = "day", 1..=1, Number;
    /// `hour(t)`
    Hour = "hour", 1..=1, Number;
    /// `minute(t)`
    Minute = "minute", 1..=1, Number;
    /// `second(t)`
    Second = "second", 1..=1, Number;
    /// `fractionalseconds(t)`
    Fractionalseconds = "fractionalseconds", 1..=1, Number;
    /// `date(t)`
    Date = "date", 1..=1, Date;
    /// `time(t)`
    Time = "time", 1..=1, TimeOfDay;
    /// `totaloffsetminutes(t)`
    Totaloffsetminutes = "totaloffsetminutes", 1..=1, Number;
    /// `now()`
    Now = "now", 0..=0, DateTime;
    /// `mindatetime()`
    Mindatetime = "mindatetime", 0..=0, DateTime;
    /// `maxdatetime()`
    Maxdatetime = "maxdatetime", 0..=0, DateTime;
    /// `round(x)`
    Round = "round", 1..=1, Number;
    /// `floor(x)`
    Floor = "floor", 1..=1, Number;
    /// `ceiling(x)`
    Ceiling = "ceiling", 1..=1, Number;
    /// `geo.distance(g1, g2)`
    GeoDistance = "geo.distance", 2..=2, Number;
    /// `geo.length(g)`
    GeoLength = "geo.length", 1..=1, Number;
    /// `geo.intersects(g1, g2)`
    GeoIntersects = "geo.intersects", 2..=2, Boolean;
    /// `st_equals(g1, g2)`
    StEquals = "st_equals", 2..=2, Boolean;
    /// `st_disjoint(g1, g2)`
    StDisjoint = "st_disjoint", 2..=2, Boolean;
    /// `st_touches(g1, g2)`
    StTouches = "st_touches", 2..=2, Boolean;
    /// `st_within(g1, g2)`
    StWithin = "st_within", 2..=2, Boolean;
    /// `st_overlaps(g1, g2)`
    StOverlaps = "st_overlaps", 2..=2, Boolean;
    /// `st_crosses(g1, g2)`
    StCrosses = "st_crosses", 2..=2, Boolean;
    /// `st_intersects(g1, g2)`
    StIntersects = "st_intersects", 2..=2, Boolean;
    /// `st_contains(g1, g2)`
    StContains = "st_contains", 2..=2, Boolean;
    /// `st_relate(g1, g2, 'T********')` — the third argument is a DE-9IM
    /// intersection pattern string, checked at parse time.
    StRelate = "st_relate", 3..=3, Boolean;
}

impl Function {
    /// Looks a function up by name, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL
            .iter()
            .copied()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// `true` for the geospatial functions (`geo.*`, `st_*`).
    pub fn is_geospatial(self) -> bool {
        matches!(
            self,
            Function::GeoDistance
                | Function::GeoLength
                | Function::GeoIntersects
                | Function::StEquals
                | Function::StDisjoint
                | Function::StTouches
                | Function::StWithin
                | Function::StOverlaps
                | Function::StCrosses
                | Function::StIntersects
                | Function::StContains
                | Function::StRelate
        )
    }

    /// How many leading arguments are geometries (a plain string literal in
    /// such a position is read as WKT).
    pub fn geometry_args(self) -> usize {
        match self {
            Function::GeoLength => 1,
            f if f.is_geospatial() => 2,
            _ => 0,
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer without fraction or exponent, in `i64` range.
    Int(i64),
    /// A number with fraction or exponent, or `INF`, `-INF`, `NaN`.
    Double(f64),
    /// A single-quoted string, with `''` already unescaped.
    String(String),
    /// `2016-06-01T00:00:00Z`, `2016-06-01T00:00:00.123+02:00`; the offset
    /// is kept.
    DateTime(DateTime<FixedOffset>),
    /// `2016-06-01`
    Date(NaiveDate),
    /// `12:30:00`, `12:30`, `12:30:00.5`
    TimeOfDay(NaiveTime),
    /// `duration'P1DT2H'`
    Duration(DurationLiteral),
    /// `geography'POINT(7.46 51.51)'`, `geometry'...'`, or a plain string
    /// given where a geo function expects a geometry.
    Geometry(GeometryLiteral),
}

/// An ISO 8601 duration, `[-]PnYnMnWnDTnHnMnS` (weeks are folded into days).
///
/// Years and months are kept separately because they have no fixed length;
/// [`DurationLiteral::to_time_delta`] converts durations without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DurationLiteral {
    /// A leading `-`.
    pub negative: bool,
    /// Years.
    pub years: u32,
    /// Months.
    pub months: u32,
    /// Days (including 7 per week written).
    pub days: u32,
    /// Hours.
    pub hours: u32,
    /// Minutes.
    pub minutes: u32,
    /// Whole seconds.
    pub seconds: u32,
    /// Fraction of a second in nanoseconds (digits past the ninth are cut).
    pub nanos: u32,
}

impl DurationLiteral {
    /// The duration as a fixed time span; `None` if years or months are
    /// given.
    pub fn to_time_delta(&self) -> Option<chrono::TimeDelta> {
        if self.years != 0 || self.months != 0 {
            return None;
        }
        let secs = i64::from(self.days) * 86_400
            + i64::from(self.hours) * 3_600
            + i64::from(self.minutes) * 60
            + i64::from(self.seconds);
        let delta = chrono::TimeDelta::new(secs, self.nanos)?;
        Some(if self.negative { -delta } else { delta })
    }
}

/// Whether a spatial literal was written as `geography'...'` or
/// `geometry'...'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeoKind {
    /// `geography'...'` (also used for bare WKT strings, as STA uses WGS 84).
    Geography,
    /// `geometry'...'`
    Geometry,
}

/// A spatial literal.
#[derive(Debug, Clone, PartialEq)]
pub struct GeometryLiteral {
    /// `geography` or `geometry`.
    pub kind: GeoKind,
    /// The `SRID=nnnn;` prefix of OData, if written.
    pub srid: Option<u32>,
    /// The parsed geometry (x = longitude, y = latitude for geography).
    pub geometry: geo::Geometry<f64>,
}

/// A property path: `name`, `Datastream/Thing/name`, `properties/owner/name`,
/// `properties/list[0]`, or inside a lambda `d/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Path {
    /// The lambda range variable the path starts from (`d` in `d/name`
    /// inside `any(d: ...)`); `None` for paths relative to the entity being
    /// filtered.
    pub variable: Option<String>,
    /// The segments after the variable, in order.
    pub segments: Vec<Segment>,
}

/// One segment of a [`Path`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A property or navigation property name, as written.
    Name(String),
    /// An array index written as `[n]` after a segment (FROST extension for
    /// JSON arrays).
    Index(u64),
}

impl Segment {
    /// The name, if this is a [`Segment::Name`].
    pub fn as_name(&self) -> Option<&str> {
        match self {
            Segment::Name(n) => Some(n),
            Segment::Index(_) => None,
        }
    }

    /// Classifies a name segment; an index is a plain property step.
    pub fn kind(&self) -> SegmentKind {
        match self {
            Segment::Name(n) => classify_segment(n),
            Segment::Index(_) => SegmentKind::Property,
        }
    }
}

impl Path {
    /// A path from plain names, without variable.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Path {
        Path {
            variable: None,
            segments: names
                .iter()
                .map(|n| Segment::Name(n.as_ref().to_owned()))
                .collect(),
        }
    }

    /// `true` if the path is the single name `name` (no variable).
    pub fn is_single(&self, name: &str) -> bool {
        self.variable.is_none()
            && self.segments.len() == 1
            && self.segments[0].as_name() == Some(name)
    }

    /// `true` if the path is `id` or `@iot.id`.
    pub fn is_id(&self) -> bool {
        self.variable.is_none()
            && self.segments.len() == 1
            && self.segments[0].kind() == SegmentKind::Id
    }

    /// Splits the path into leading navigation properties, the property
    /// reached, and the rest (a JSON path into `properties`, `parameters`,
    /// `result`, `location`, ...).
    ///
    /// `Datastream/Thing/properties/owner/name` gives navigation
    /// `[Datastream, Thing]`, property `properties`, sub-path `owner/name`.
    /// A path ending on a navigation property (`$select=Datastreams`) has
    /// `property == None`. Names that are not known navigation properties
    /// are treated as properties, so unknown names are left to the planner.
    pub fn parts(&self) -> PathParts<'_> {
        let mut navigation = Vec::new();
        let mut i = 0;
        while let Some(Segment::Name(n)) = self.segments.get(i) {
            match NavigationProperty::from_name(n) {
                Some(nav) => navigation.push(nav),
                None => break,
            }
            i += 1;
        }
        let (property, rest) = match self.segments.get(i) {
            Some(Segment::Name(n)) => (Some(n.as_str()), &self.segments[i + 1..]),
            Some(Segment::Index(_)) => (None, &self.segments[i..]),
            None => (None, &self.segments[i..]),
        };
        PathParts {
            navigation,
            property,
            sub_path: rest,
        }
    }
}

/// The result of [`Path::parts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathParts<'a> {
    /// Leading navigation properties.
    pub navigation: Vec<NavigationProperty>,
    /// The first segment that is not a navigation property.
    pub property: Option<&'a str>,
    /// Everything after `property`.
    pub sub_path: &'a [Segment],
}

/// What a path segment name denotes, by name only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// A SensorThings navigation property.
    Navigation(NavigationProperty),
    /// `id` or `@iot.id`.
    Id,
    /// Anything else: an entity property or a key inside a JSON object.
    Property,
}

/// Classifies a path segment by name (case-sensitive, as in the STA data
/// model): a known navigation property, the id, or a plain property.
pub fn classify_segment(name: &str) -> SegmentKind {
    if name == "id" || name == "@iot.id" {
        return SegmentKind::Id;
    }
    match NavigationProperty::from_name(name) {
        Some(nav) => SegmentKind::Navigation(nav),
        None => SegmentKind::Property,
    }
}

macro_rules! navigation {
    ($( $variant:ident, $collection:literal; )+) => {
        /// The navigation properties of the SensorThings 1.1 sensing data
        /// model (plus `MultiDatastream(s)` of the MultiDatastream extension).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum NavigationProperty {
            $(
                #[doc = concat!("`", stringify!($variant), "`")]
                $variant,
            )+
        }

        impl NavigationProperty {
            /// Every navigation property.
            pub const ALL: &'static [NavigationProperty] = &[ $( NavigationProperty::$variant, )+ ];

            /// The name as written in URLs.
            pub fn name(self) -> &'static str {
                match self { $( NavigationProperty::$variant => stringify!($variant), )+ }
            }

            /// `true` for the to-many properties (`Datastreams`, ...).
            pub fn is_collection(self) -> bool {
                match self { $( NavigationProperty::$variant => $collection, )+ }
            }

            /// Looks a navigation property up (case-sensitive).
            pub fn from_name(name: &str) -> Option<NavigationProperty> {
                match name {
                    $( stringify!($variant) => Some(NavigationProperty::$variant), )+
                    _ => None,
                }
            }
        }
    };
}

navigation! {
    Thing, false;
    Things, true;
    Datastream, false;
    Datastreams, true;
    MultiDatastream, false;
    MultiDatastreams, true;
    Sensor, false;
    ObservedProperty, false;
    ObservedProperties, true;
    Observations, true;
    FeatureOfInterest, false;
    Locations, true;
    HistoricalLocations, true;
}

impl NavigationProperty {
    /// The entity type the property leads to (`Datastreams` -> `Datastream`).
    pub fn target_type(self) -> &'static str {
        use NavigationProperty as N;
        match self {
            N::Thing | N::Things => "Thing",
            N::Datastream | N::Datastreams => "Datastream",
            N::MultiDatastream | N::MultiDatastreams => "MultiDatastream",
            N::Sensor => "Sensor",
            N::ObservedProperty | N::ObservedProperties => "ObservedProperty",
            N::Observations => "Observation",
            N::FeatureOfInterest => "FeatureOfInterest",
            N::Locations => "Location",
            N::HistoricalLocations => "HistoricalLocation",
        }
    }
}

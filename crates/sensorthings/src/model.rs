//! The SensorThings 1.1 data model (plus MultiDatastream): entity types, their properties, how
//! they are stored and how they relate.

use crate::odata::NavigationProperty as N;

/// An entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Thing,
    Location,
    HistoricalLocation,
    Datastream,
    MultiDatastream,
    Sensor,
    ObservedProperty,
    Observation,
    FeatureOfInterest,
}

/// How a navigation property connects a parent entity (`p`) to the entities it leads to (`c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The child row refers to the parent: `c.COL = p.id` (to-many).
    Fk(&'static str),
    /// The parent row refers to the child: `c.id = p.COL` (to-one).
    Ref(&'static str),
    /// A link table: `l.PARENT = p.id AND l.CHILD = c.id` (to-many).
    Table {
        table: &'static str,
        parent: &'static str,
        child: &'static str,
    },
}

/// How a property is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    /// Text column.
    Text(&'static str),
    /// JSON column (any JSON value, or an object for `properties`/`parameters`).
    Json(&'static str),
    /// GeoJSON column with bounding box (and PostGIS `geom` on PostgreSQL).
    Geo(&'static str),
    /// GeoJSON column without bounding box (Datastream `observedArea`).
    GeoPlain(&'static str),
    /// An instant: microseconds in one column.
    Instant(&'static str),
    /// An instant or an interval: start column and end column (NULL for an instant).
    Time(&'static str, &'static str),
    /// The Observation result (several columns).
    Result,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prop {
    pub name: &'static str,
    pub ty: PropType,
    /// Must be given on create (and PUT).
    pub required: bool,
}

const fn p(name: &'static str, ty: PropType, required: bool) -> Prop {
    Prop { name, ty, required }
}

use PropType::*;

const THING: &[Prop] = &[
    p("name", Text("name"), true),
    p("description", Text("description"), true),
    p("properties", Json("properties"), false),
];
const LOCATION: &[Prop] = &[
    p("name", Text("name"), true),
    p("description", Text("description"), true),
    p("encodingType", Text("encoding_type"), true),
    p("location", Geo("location"), true),
    p("properties", Json("properties"), false),
];
const HISTORICAL_LOCATION: &[Prop] = &[p("time", Instant("time"), true)];
const DATASTREAM: &[Prop] = &[
    p("name", Text("name"), true),
    p("description", Text("description"), true),
    p("unitOfMeasurement", Json("unit_of_measurement"), true),
    p("observationType", Text("observation_type"), true),
    p("observedArea", GeoPlain("observed_area"), false),
    p("phenomenonTime", Time("pt_start", "pt_end"), false),
    p("resultTime", Time("rt_start", "rt_end"), false),
    p("properties", Json("properties"), false),
];
const MULTI_DATASTREAM: &[Prop] = &[
    p("name", Text("name"), true),
    p("description", Text("description"), true),
    p("unitOfMeasurements", Json("units_of_measurement"), true),
    p("observationType", Text("observation_type"), true),
    p(
        "multiObservationDataTypes",
        Json("multi_observation_data_types"),
        true,
    ),
    p("observedArea", GeoPlain("observed_area"), false),
    p("phenomenonTime", Time("pt_start", "pt_end"), false),
    p("resultTime", Time("rt_start", "rt_end"), false),
    p("properties", Json("properties"), false),
];
const SENSOR: &[Prop] = &[
    p("name", Text("name"), true),
    p("description", Text("description"), true),
    p("encodingType", Text("encoding_type"), true),
    p("metadata", Text("metadata"), true),
    p("properties", Json("properties"), false),
];
const OBSERVED_PROPERTY: &[Prop] = &[
    p("name", Text("name"), true),
    p("definition", Text("definition"), true),
    p("description", Text("description"), true),
    p("properties", Json("properties"), false),
];
const OBSERVATION: &[Prop] = &[
    p("phenomenonTime", Time("pt_start", "pt_end"), false),
    p("resultTime", Instant("result_time"), false),
    p("result", Result, true),
    p("resultQuality", Json("result_quality"), false),
    p("validTime", Time("valid_start", "valid_end"), false),
    p("parameters", Json("parameters"), false),
];
const FEATURE: &[Prop] = &[
    p("name", Text("name"), true),
    p("description", Text("description"), true),
    p("encodingType", Text("encoding_type"), true),
    p("feature", Geo("feature"), true),
    p("properties", Json("properties"), false),
];

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Thing,
        Kind::Location,
        Kind::HistoricalLocation,
        Kind::Datastream,
        Kind::MultiDatastream,
        Kind::Sensor,
        Kind::ObservedProperty,
        Kind::Observation,
        Kind::FeatureOfInterest,
    ];

    /// The entity type name (`Thing`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Thing => "Thing",
            Kind::Location => "Location",
            Kind::HistoricalLocation => "HistoricalLocation",
            Kind::Datastream => "Datastream",
            Kind::MultiDatastream => "MultiDatastream",
            Kind::Sensor => "Sensor",
            Kind::ObservedProperty => "ObservedProperty",
            Kind::Observation => "Observation",
            Kind::FeatureOfInterest => "FeatureOfInterest",
        }
    }

    /// The entity set name (`Things`).
    pub fn set(self) -> &'static str {
        match self {
            Kind::Thing => "Things",
            Kind::Location => "Locations",
            Kind::HistoricalLocation => "HistoricalLocations",
            Kind::Datastream => "Datastreams",
            Kind::MultiDatastream => "MultiDatastreams",
            Kind::Sensor => "Sensors",
            Kind::ObservedProperty => "ObservedProperties",
            Kind::Observation => "Observations",
            Kind::FeatureOfInterest => "FeaturesOfInterest",
        }
    }

    pub fn from_set(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.set() == s)
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn table(self) -> &'static str {
        match self {
            Kind::Thing => "sta_things",
            Kind::Location => "sta_locations",
            Kind::HistoricalLocation => "sta_historical_locations",
            Kind::Datastream => "sta_datastreams",
            Kind::MultiDatastream => "sta_multi_datastreams",
            Kind::Sensor => "sta_sensors",
            Kind::ObservedProperty => "sta_observed_properties",
            Kind::Observation => "sta_observations",
            Kind::FeatureOfInterest => "sta_features",
        }
    }

    pub fn props(self) -> &'static [Prop] {
        match self {
            Kind::Thing => THING,
            Kind::Location => LOCATION,
            Kind::HistoricalLocation => HISTORICAL_LOCATION,
            Kind::Datastream => DATASTREAM,
            Kind::MultiDatastream => MULTI_DATASTREAM,
            Kind::Sensor => SENSOR,
            Kind::ObservedProperty => OBSERVED_PROPERTY,
            Kind::Observation => OBSERVATION,
            Kind::FeatureOfInterest => FEATURE,
        }
    }

    pub fn prop(self, name: &str) -> Option<&'static Prop> {
        self.props().iter().find(|p| p.name == name)
    }

    /// Whether the entity carries its own visibility (Things and (Multi)Datastreams).
    pub fn has_visibility(self) -> bool {
        matches!(self, Kind::Thing | Kind::Datastream | Kind::MultiDatastream)
    }

    /// Every column the API reads (the PostGIS `geom` column is maintained, never read).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Thing => &[
                "id",
                "name",
                "description",
                "properties",
                "visibility",
                "groups",
            ],
            Kind::Location => &[
                "id",
                "name",
                "description",
                "encoding_type",
                "location",
                "properties",
            ],
            Kind::HistoricalLocation => &["id", "thing_id", "time"],
            Kind::Datastream => &[
                "id",
                "name",
                "description",
                "observation_type",
                "unit_of_measurement",
                "observed_area",
                "pt_start",
                "pt_end",
                "rt_start",
                "rt_end",
                "properties",
                "thing_id",
                "sensor_id",
                "obs_prop_id",
                "visibility",
                "groups",
            ],
            Kind::MultiDatastream => &[
                "id",
                "name",
                "description",
                "observation_type",
                "multi_observation_data_types",
                "units_of_measurement",
                "observed_area",
                "pt_start",
                "pt_end",
                "rt_start",
                "rt_end",
                "properties",
                "thing_id",
                "sensor_id",
                "visibility",
                "groups",
            ],
            Kind::Sensor => &[
                "id",
                "name",
                "description",
                "encoding_type",
                "metadata",
                "properties",
            ],
            Kind::ObservedProperty => &["id", "name", "definition", "description", "properties"],
            Kind::Observation => &[
                "id",
                "datastream_id",
                "multi_datastream_id",
                "feature_id",
                "pt_start",
                "pt_end",
                "result_time",
                "result_kind",
                "result_number",
                "result_string",
                "result_json",
                "result_quality",
                "valid_start",
                "valid_end",
                "parameters",
            ],
            Kind::FeatureOfInterest => &[
                "id",
                "name",
                "description",
                "encoding_type",
                "feature",
                "properties",
            ],
        }
    }

    /// The navigation properties of the type, in output order.
    pub fn navs(self) -> &'static [N] {
        match self {
            Kind::Thing => &[
                N::Locations,
                N::HistoricalLocations,
                N::Datastreams,
                N::MultiDatastreams,
            ],
            Kind::Location => &[N::Things, N::HistoricalLocations],
            Kind::HistoricalLocation => &[N::Thing, N::Locations],
            Kind::Datastream => &[N::Thing, N::Sensor, N::ObservedProperty, N::Observations],
            Kind::MultiDatastream => &[N::Thing, N::Sensor, N::ObservedProperties, N::Observations],
            Kind::Sensor => &[N::Datastreams, N::MultiDatastreams],
            Kind::ObservedProperty => &[N::Datastreams, N::MultiDatastreams],
            Kind::Observation => &[N::Datastream, N::MultiDatastream, N::FeatureOfInterest],
            Kind::FeatureOfInterest => &[N::Observations],
        }
    }

    /// Where a navigation property of this type leads and how.
    pub fn link(self, nav: N) -> Option<(Kind, Link)> {
        const TL: Link = Link::Table {
            table: "sta_thing_locations",
            parent: "thing_id",
            child: "location_id",
        };
        const LT: Link = Link::Table {
            table: "sta_thing_locations",
            parent: "location_id",
            child: "thing_id",
        };
        const LH: Link = Link::Table {
            table: "sta_hist_locations",
            parent: "location_id",
            child: "hist_id",
        };
        const HL: Link = Link::Table {
            table: "sta_hist_locations",
            parent: "hist_id",
            child: "location_id",
        };
        const MO: Link = Link::Table {
            table: "sta_multi_datastream_props",
            parent: "md_id",
            child: "op_id",
        };
        const OM: Link = Link::Table {
            table: "sta_multi_datastream_props",
            parent: "op_id",
            child: "md_id",
        };
        Some(match (self, nav) {
            (Kind::Thing, N::Locations) => (Kind::Location, TL),
            (Kind::Thing, N::HistoricalLocations) => {
                (Kind::HistoricalLocation, Link::Fk("thing_id"))
            }
            (Kind::Thing, N::Datastreams) => (Kind::Datastream, Link::Fk("thing_id")),
            (Kind::Thing, N::MultiDatastreams) => (Kind::MultiDatastream, Link::Fk("thing_id")),
            (Kind::Location, N::Things) => (Kind::Thing, LT),
            (Kind::Location, N::HistoricalLocations) => (Kind::HistoricalLocation, LH),
            (Kind::HistoricalLocation, N::Thing) => (Kind::Thing, Link::Ref("thing_id")),
            (Kind::HistoricalLocation, N::Locations) => (Kind::Location, HL),
            (Kind::Datastream, N::Thing) => (Kind::Thing, Link::Ref("thing_id")),
            (Kind::Datastream, N::Sensor) => (Kind::Sensor, Link::Ref("sensor_id")),
            (Kind::Datastream, N::ObservedProperty) => {
                (Kind::ObservedProperty, Link::Ref("obs_prop_id"))
            }
            (Kind::Datastream, N::Observations) => (Kind::Observation, Link::Fk("datastream_id")),
            (Kind::MultiDatastream, N::Thing) => (Kind::Thing, Link::Ref("thing_id")),
            (Kind::MultiDatastream, N::Sensor) => (Kind::Sensor, Link::Ref("sensor_id")),
            (Kind::MultiDatastream, N::ObservedProperties) => (Kind::ObservedProperty, MO),
            (Kind::MultiDatastream, N::Observations) => {
                (Kind::Observation, Link::Fk("multi_datastream_id"))
            }
            (Kind::Sensor, N::Datastreams) => (Kind::Datastream, Link::Fk("sensor_id")),
            (Kind::Sensor, N::MultiDatastreams) => (Kind::MultiDatastream, Link::Fk("sensor_id")),
            (Kind::ObservedProperty, N::Datastreams) => (Kind::Datastream, Link::Fk("obs_prop_id")),
            (Kind::ObservedProperty, N::MultiDatastreams) => (Kind::MultiDatastream, OM),
            (Kind::Observation, N::Datastream) => (Kind::Datastream, Link::Ref("datastream_id")),
            (Kind::Observation, N::MultiDatastream) => {
                (Kind::MultiDatastream, Link::Ref("multi_datastream_id"))
            }
            (Kind::Observation, N::FeatureOfInterest) => {
                (Kind::FeatureOfInterest, Link::Ref("feature_id"))
            }
            (Kind::FeatureOfInterest, N::Observations) => {
                (Kind::Observation, Link::Fk("feature_id"))
            }
            _ => return None,
        })
    }

    /// The navigation property by name, if this type has it.
    pub fn nav(self, name: &str) -> Option<N> {
        self.navs().iter().copied().find(|n| n.name() == name)
    }
}

/// The SQL condition that `c` (of the target) is linked to `p` (of the source).
pub fn link_cond(link: Link, p: &str, c: &str) -> String {
    match link {
        Link::Fk(col) => format!("{c}.{col} = {p}.id"),
        Link::Ref(col) => format!("{c}.id = {p}.{col}"),
        Link::Table {
            table,
            parent,
            child,
        } => format!("{c}.id IN (SELECT l.{child} FROM {table} l WHERE l.{parent} = {p}.id)"),
    }
}

/// The SQL condition that `c` (of the target) belongs to the parent with id `pid` reached over
/// `link` from a parent of type `parent`.
pub fn parent_cond(parent: Kind, link: Link, pid: i64, c: &str) -> String {
    match link {
        Link::Fk(col) => format!("{c}.{col} = {pid}"),
        Link::Ref(col) => format!(
            "{c}.id = (SELECT pp.{col} FROM {} pp WHERE pp.id = {pid})",
            parent.table()
        ),
        Link::Table {
            table,
            parent,
            child,
        } => format!("{c}.id IN (SELECT l.{child} FROM {table} l WHERE l.{parent} = {pid})"),
    }
}

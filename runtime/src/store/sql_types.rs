//! Column types that mean the same thing on both backends.
//!
//! PostgreSQL gets its native `uuid`, `jsonb` and `timestamptz`; SQLite stores the same values as
//! text. One SQL type per concept, implemented for both backends, lets a single `schema.rs` and a
//! single set of queries serve PostgreSQL and SQLite alike.

use chrono::{DateTime, SecondsFormat, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{self, SqlType};
use diesel::sqlite::{Sqlite, SqliteValue};

/// A uuid: `uuid` on PostgreSQL, hyphenated text on SQLite.
#[derive(SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct UuidType;

/// A JSON document: `jsonb` on PostgreSQL, text on SQLite.
#[derive(SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct JsonType;

/// An instant: `timestamptz` on PostgreSQL; on SQLite fixed-width RFC 3339 UTC text
/// (microseconds, `Z`), so that comparing text compares time.
#[derive(SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct TimeType;

/// Both forms order as the instants do (`timestamptz`, and fixed-width UTC text), so `MIN`
/// and `MAX` of a time column are the earliest and latest instants.
impl diesel::sql_types::SqlOrd for TimeType {}

/// A uuid column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = UuidType)]
pub struct Id(pub uuid::Uuid);

/// A JSON column value.
#[derive(Debug, Clone, PartialEq, AsExpression, FromSqlRow)]
#[diesel(sql_type = JsonType)]
pub struct Json(pub serde_json::Value);

/// A JSON column value written from JSON text already serialised: a large document (the
/// metadata) is written without first being built as a [`serde_json::Value`] tree, cloned
/// and serialised again.
#[derive(Debug, Clone, PartialEq, AsExpression)]
#[diesel(sql_type = JsonType)]
pub struct JsonText(pub String);

/// A timestamp column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = TimeType)]
pub struct Time(pub DateTime<Utc>);

impl ToSql<UuidType, Pg> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <uuid::Uuid as ToSql<sql_types::Uuid, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<UuidType, Pg> for Id {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <uuid::Uuid as FromSql<sql_types::Uuid, Pg>>::from_sql(bytes).map(Id)
    }
}

impl ToSql<UuidType, Sqlite> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<UuidType, Sqlite> for Id {
    fn from_sql(bytes: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<sql_types::Text, Sqlite>>::from_sql(bytes)?;
        Ok(Id(text.parse()?))
    }
}

impl ToSql<JsonType, Pg> for Json {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <serde_json::Value as ToSql<sql_types::Jsonb, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<JsonType, Pg> for Json {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <serde_json::Value as FromSql<sql_types::Jsonb, Pg>>::from_sql(bytes).map(Json)
    }
}

impl ToSql<JsonType, Pg> for JsonText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        use std::io::Write as _;
        // jsonb's binary input: a format version byte (1), then the JSON text.
        out.write_all(&[1])?;
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl ToSql<JsonType, Sqlite> for JsonText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.as_str());
        Ok(IsNull::No)
    }
}

impl ToSql<JsonType, Sqlite> for Json {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}

impl FromSql<JsonType, Sqlite> for Json {
    fn from_sql(bytes: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<sql_types::Text, Sqlite>>::from_sql(bytes)?;
        Ok(Json(serde_json::from_str(&text)?))
    }
}

impl ToSql<TimeType, Pg> for Time {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DateTime<Utc> as ToSql<sql_types::Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<TimeType, Pg> for Time {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<sql_types::Timestamptz, Pg>>::from_sql(bytes).map(Time)
    }
}

impl ToSql<TimeType, Sqlite> for Time {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.to_rfc3339_opts(SecondsFormat::Micros, true));
        Ok(IsNull::No)
    }
}

impl FromSql<TimeType, Sqlite> for Time {
    fn from_sql(bytes: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<sql_types::Text, Sqlite>>::from_sql(bytes)?;
        Ok(Time(
            DateTime::parse_from_rfc3339(&text)?.with_timezone(&Utc),
        ))
    }
}

impl Time {
    /// The current instant, truncated to the microsecond precision both backends keep, so that
    /// a value read back equals the value written.
    pub fn now() -> Self {
        Self::from(Utc::now())
    }
}

impl From<DateTime<Utc>> for Time {
    fn from(at: DateTime<Utc>) -> Self {
        use chrono::SubsecRound;
        Time(at.trunc_subsecs(6))
    }
}

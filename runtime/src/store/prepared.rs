//! Hot-path statements that connections prepare once and then only execute: `UPDATE`s, and
//! batches of new rows on PostgreSQL.
//!
//! Diesel never caches the statement of an `UPDATE`: in general a changeset's SQL can differ
//! from call to call (a `None` field is left out), so every update is parsed and planned
//! afresh, on PostgreSQL and SQLite alike. The hot path updates an event at least once per
//! delivery, always with the same columns, and that parsing and planning was a quarter of the
//! database's work. An [`Update`] is cached under the types it was made from.
//!
//! A multi-row `INSERT … VALUES` has a different text for every number of rows, so it too
//! was parsed and planned each time. [`row_batch!`] inserts any number of rows with one
//! fixed statement instead, one array per column: `INSERT … SELECT * FROM unnest($1, …)`.

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AsChangeset, AstPass, QueryFragment, QueryId};
use diesel::query_source::{QuerySource, Table};

/// `UPDATE table SET changes WHERE condition`, cached by its shape: the table, the type the
/// changeset was made from (`Source`) and the condition's type.
pub(super) struct Update<T: QuerySource, Source, Changes, Condition> {
    from: T::FromClause,
    changes: Changes,
    condition: Condition,
    shape: PhantomData<fn() -> (T, Source)>,
}

/// The update of the rows of `table` matching `condition`.
///
/// The statement is cached under the type of `changes`, so that type must set the same
/// columns every time: a derived changeset with `treat_none_as_null` (which also derives
/// `QueryId`), or a tuple of `column.eq(value)`. A type without a query id does not compile
/// here. Parts whose SQL does vary (an `IN` list in the condition) still mark the statement
/// as not to be cached, as they would in diesel's own `UPDATE`.
pub(super) fn update<T, V, C>(table: T, changes: V, condition: C) -> Update<T, V, V::Changeset, C>
where
    T: Table,
    V: AsChangeset<Target = T> + QueryId,
{
    Update {
        from: table.from_clause(),
        changes: changes.as_changeset(),
        condition,
        shape: PhantomData,
    }
}

impl<T, Source, Changes, Condition> QueryId for Update<T, Source, Changes, Condition>
where
    T: Table + QueryId + 'static,
    Source: QueryId,
    Condition: QueryId,
{
    type QueryId = Update<T, Source::QueryId, (), Condition::QueryId>;

    const HAS_STATIC_QUERY_ID: bool =
        T::HAS_STATIC_QUERY_ID && Source::HAS_STATIC_QUERY_ID && Condition::HAS_STATIC_QUERY_ID;
}

impl<DB, T, Source, Changes, Condition> QueryFragment<DB> for Update<T, Source, Changes, Condition>
where
    DB: Backend,
    T: Table,
    <T as QuerySource>::FromClause: QueryFragment<DB>,
    Changes: QueryFragment<DB>,
    Condition: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.changes.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.condition.walk_ast(out.reborrow())
    }
}

impl<T: QuerySource, Source, Changes, Condition, Conn> diesel::RunQueryDsl<Conn>
    for Update<T, Source, Changes, Condition>
{
}

/// Declares the row struct `$row` (emitted as written, with its attributes) and `$batch<'a>`:
/// rows of `$row` as one array per column, inserted into `$table` by one statement on
/// PostgreSQL whatever their number. Field names are the table's column names; each column's
/// array has the column's SQL type, so a field that does not fit its column fails to compile.
macro_rules! row_batch {
    (
        $(#[$meta:meta])*
        $vis:vis struct $row:ident into $table:ident as $batch:ident {
            $($field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $row {
            $($field_vis $field: $ty),*
        }

        #[doc = concat!("Rows of [`", stringify!($row), "`], one array per column.")]
        $vis struct $batch<'a> {
            $($field: Vec<&'a $ty>),*
        }

        impl<'a> FromIterator<&'a $row> for $batch<'a> {
            fn from_iter<I: IntoIterator<Item = &'a $row>>(rows: I) -> Self {
                let mut batch = Self { $($field: Vec::new()),* };
                for row in rows {
                    $(batch.$field.push(&row.$field);)*
                }
                batch
            }
        }

        impl diesel::query_builder::QueryId for $batch<'_> {
            type QueryId = $batch<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for $batch<'_> {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
            ) -> diesel::QueryResult<()> {
                use diesel::{Column, Expression};
                out.push_sql("INSERT INTO ");
                // The schema's table modules are named as their tables.
                out.push_identifier(stringify!($table))?;
                let columns = [$(<$table::$field as Column>::NAME),*];
                for (index, column) in columns.iter().enumerate() {
                    out.push_sql(if index == 0 { " (" } else { ", " });
                    out.push_identifier(column)?;
                }
                out.push_sql(") SELECT * FROM unnest(");
                let mut first = true;
                $(
                    if !std::mem::take(&mut first) {
                        out.push_sql(", ");
                    }
                    out.push_bind_param::<
                        diesel::sql_types::Array<<$table::$field as Expression>::SqlType>,
                        _,
                    >(&self.$field)?;
                )*
                out.push_sql(")");
                Ok(())
            }
        }

        impl<Conn> diesel::RunQueryDsl<Conn> for $batch<'_> {}
    };
}
pub(super) use row_batch;

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::query_builder::QueryId;
    use diesel::sqlite::Sqlite;

    use super::update;
    use crate::store::events::{Finished, held_by};
    use crate::store::schema::action_log;
    use crate::store::sql_types::Id;
    use crate::store::{EventState, Finish};

    fn finish() -> Finish {
        Finish {
            state: EventState::Completed,
            response_payload: Some(serde_json::json!({"ok": true})),
            errors: None,
            announce: true,
        }
    }

    #[test]
    fn a_guarded_finish_is_cached_under_its_type() {
        let id = Id(uuid::Uuid::now_v7());
        let query = update(
            action_log::table,
            (action_log::attempts.eq(1), Finished::new(&finish())),
            held_by(id, "node-a"),
        );
        assert!(query_id_is_static(&query));
        let sql = diesel::debug_query::<Sqlite, _>(&query).to_string();
        assert!(
            sql.starts_with(
                "UPDATE `action_log` SET `attempts` = ?, `status` = ?, `response_payload` = ?"
            ),
            "{sql}"
        );
        // Every column is set even when its value is None: one SQL text per shape.
        assert!(sql.contains("`errors` = ?"), "{sql}");
        assert!(sql.contains("WHERE (((`action_log`.`id` = ?)"), "{sql}");
    }

    /// How many statements `run` makes the connection prepare for its cache.
    fn statements_cached(run: impl Fn(&mut SqliteConnection)) -> usize {
        use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
        use std::sync::{Arc, Mutex};

        let mut conn = SqliteConnection::establish(":memory:").expect("in-memory SQLite");
        conn.batch_execute(
            "CREATE TABLE action_log (id TEXT PRIMARY KEY, attempts INTEGER, status TEXT,
             response_payload TEXT, errors TEXT, response_received_at TEXT, locked_by TEXT,
             lease_expires_at TEXT, next_attempt_at TEXT)",
        )
        .expect("table");
        let cached = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&cached);
        let count = move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { .. } = event {
                *counter.lock().expect("counter") += 1;
            }
        };
        conn.set_instrumentation(Box::new(count) as Box<dyn Instrumentation>);
        run(&mut conn);
        *cached.lock().expect("counter")
    }

    #[test]
    fn the_connection_prepares_a_guarded_finish_once() {
        let cached = statements_cached(|conn| {
            for attempt in 1..=3 {
                let id = Id(uuid::Uuid::now_v7());
                update(
                    action_log::table,
                    (action_log::attempts.eq(attempt), Finished::new(&finish())),
                    held_by(id, "node-a"),
                )
                .execute(conn)
                .expect("update");
            }
        });
        assert_eq!(cached, 1);
    }

    #[test]
    fn an_update_whose_sql_varies_is_never_cached() {
        let cached = statements_cached(|conn| {
            for count in 1..=3 {
                let ids: Vec<Id> = (0..count).map(|_| Id(uuid::Uuid::now_v7())).collect();
                update(
                    action_log::table,
                    action_log::attempts.eq(1),
                    action_log::id.eq_any(ids),
                )
                .execute(conn)
                .expect("update");
            }
        });
        assert_eq!(cached, 0);
    }

    #[test]
    fn a_batch_of_rows_is_one_fixed_insert() {
        use crate::store::events::EventBatch;
        let batch: EventBatch<'_> = std::iter::empty().collect();
        assert!(query_id_is_static(&batch));
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&batch).to_string();
        assert!(
            sql.starts_with(r#"INSERT INTO "action_log" ("id", "action_name", "input_payload""#),
            "{sql}"
        );
        assert!(
            sql.contains(r#""request_document") SELECT * FROM unnest($1, $2, $3"#),
            "{sql}"
        );
        assert!(sql.contains("$13)"), "{sql}");
    }

    #[test]
    fn events_and_their_documents_are_one_fixed_statement() {
        use crate::store::documents::EventsWithDocuments;
        let statement = EventsWithDocuments {
            documents: std::iter::empty().collect(),
            events: std::iter::empty().collect(),
        };
        assert!(query_id_is_static(&statement));
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&statement).to_string();
        assert!(
            sql.starts_with(
                r#"WITH stored_documents AS (INSERT INTO "request_document" ("sha256", "document") SELECT * FROM unnest($1, $2) ON CONFLICT DO NOTHING) INSERT INTO "action_log""#
            ),
            "{sql}"
        );
        assert!(sql.contains("$15)"), "{sql}");
    }

    fn query_id_is_static<Q: QueryId>(_: &Q) -> bool {
        Q::HAS_STATIC_QUERY_ID
    }
}

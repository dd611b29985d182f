//! One table description for both backends; see `sql_types` for how the column types map.

use super::sql_types::{JsonType, TimeType, UuidType};

diesel::table! {
    use diesel::sql_types::*;
    use super::{JsonType, TimeType};

    hdb_metadata (id) {
        id -> Integer,
        resource_version -> BigInt,
        metadata -> JsonType,
        updated_at -> TimeType,
        applied_from_dir -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{JsonType, TimeType, UuidType};

    action_log (id) {
        id -> UuidType,
        action_name -> Text,
        input_payload -> JsonType,
        request_headers -> JsonType,
        session_variables -> JsonType,
        response_payload -> Nullable<JsonType>,
        errors -> Nullable<JsonType>,
        created_at -> TimeType,
        response_received_at -> Nullable<TimeType>,
        status -> Text,
        kind -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<TimeType>,
        locked_by -> Nullable<Text>,
        lease_expires_at -> Nullable<TimeType>,
        request_query -> Nullable<Text>,
        retry_base -> Integer,
        request_document -> Nullable<Text>,
        handler_version -> Nullable<Text>,
    }
}

diesel::table! {
    request_document (sha256) {
        sha256 -> Text,
        document -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{JsonType, TimeType, UuidType};

    action_attempt (event_id, attempt) {
        event_id -> UuidType,
        attempt -> Integer,
        started_at -> TimeType,
        finished_at -> TimeType,
        duration_ms -> BigInt,
        outcome -> Text,
        status_code -> Nullable<Integer>,
        detail -> Nullable<Text>,
        logs -> JsonType,
        handler_version -> Nullable<Text>,
        http_exchanges -> Nullable<JsonType>,
    }
}

diesel::joinable!(action_attempt -> action_log (event_id));
diesel::allow_tables_to_appear_in_same_query!(action_log, action_attempt);

diesel::table! {
    use diesel::sql_types::*;
    use super::{JsonType, TimeType};

    wasm_handler (name, sha256) {
        name -> Text,
        sha256 -> Text,
        wasm -> Binary,
        config -> JsonType,
        size_bytes -> BigInt,
        uploaded_at -> TimeType,
        activated_at -> Nullable<TimeType>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::TimeType;

    handler_state (namespace, key) {
        namespace -> Text,
        key -> Text,
        value -> Binary,
        size_bytes -> Integer,
        expires_at -> Nullable<TimeType>,
        updated_at -> TimeType,
    }
}

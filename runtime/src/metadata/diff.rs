//! What replacing one metadata document by another changes, object by object: for
//! `hookwing metadata diff`, and for saying what a `--metadata-dir` start would discard.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::Metadata;

/// One object that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// `action`, `object type`, `input object type`, `scalar`, `enum` or `inherited role`.
    pub object: &'static str,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.kind {
            ChangeKind::Added => '+',
            ChangeKind::Removed => '-',
            ChangeKind::Changed => '~',
        };
        write!(f, "{sign} {} {}", self.object, self.name)
    }
}

/// The changes that turn `from` into `to`: removed, changed and added objects, each kind in
/// name order.
pub fn changes(from: &Metadata, to: &Metadata) -> Vec<Change> {
    let mut changes = Vec::new();
    // Actions a change left alone are shared between the two documents: equal at a glance.
    compare_by(
        &mut changes,
        "action",
        &from.actions,
        &to.actions,
        |a| &a.name,
        |a, b| Arc::ptr_eq(a, b) || a == b,
    );
    let (old, new) = (&from.custom_types, &to.custom_types);
    compare(
        &mut changes,
        "object type",
        &old.objects,
        &new.objects,
        |t| &t.name,
    );
    compare(
        &mut changes,
        "input object type",
        &old.input_objects,
        &new.input_objects,
        |t| &t.name,
    );
    compare(&mut changes, "scalar", &old.scalars, &new.scalars, |t| {
        &t.name
    });
    compare(&mut changes, "enum", &old.enums, &new.enums, |t| &t.name);
    compare(
        &mut changes,
        "inherited role",
        &from.inherited_roles,
        &to.inherited_roles,
        |r| &r.role_name,
    );
    changes
}

fn compare<T: PartialEq>(
    changes: &mut Vec<Change>,
    object: &'static str,
    from: &[T],
    to: &[T],
    name: impl Fn(&T) -> &String,
) {
    compare_by(changes, object, from, to, name, |a, b| a == b);
}

fn compare_by<T>(
    changes: &mut Vec<Change>,
    object: &'static str,
    from: &[T],
    to: &[T],
    name: impl Fn(&T) -> &String,
    equal: impl Fn(&T, &T) -> bool,
) {
    let from_index: BTreeMap<&str, usize> = from
        .iter()
        .enumerate()
        .map(|(at, item)| (name(item).as_str(), at))
        .collect();
    let to_index: BTreeMap<&str, usize> = to
        .iter()
        .enumerate()
        .map(|(at, item)| (name(item).as_str(), at))
        .collect();
    let change = |kind, name: &str| Change {
        kind,
        object,
        name: name.to_owned(),
    };
    for (key, &old) in &from_index {
        match to_index.get(key) {
            None => changes.push(change(ChangeKind::Removed, key)),
            Some(&new) if !equal(&to[new], &from[old]) => {
                changes.push(change(ChangeKind::Changed, key));
            }
            Some(_) => {}
        }
    }
    for key in to_index.keys().filter(|key| !from_index.contains_key(*key)) {
        changes.push(change(ChangeKind::Added, key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: serde_json::Value) -> Metadata {
        serde_json::from_value(value).expect("metadata")
    }

    #[test]
    fn each_added_removed_and_changed_object_is_named() {
        let action = |name: &str, timeout: u32| {
            serde_json::json!({"name": name, "definition": {"kind": "synchronous",
                "type": "mutation", "arguments": [], "output_type": "Out",
                "handler": "http://h", "timeout": timeout}})
        };
        let from = metadata(serde_json::json!({"version": 3,
            "actions": [action("kept", 30), action("gone", 30), action("tuned", 30)],
            "custom_types": {"objects": [{"name": "Out", "fields": [{"name": "a", "type": "Int"}]}]}}));
        let to = metadata(serde_json::json!({"version": 3,
            "actions": [action("tuned", 5), action("kept", 30), action("new", 30)],
            "custom_types": {"objects": [{"name": "Out", "fields": [{"name": "a", "type": "Int"}]}],
                "scalars": [{"name": "uuid"}]}}));
        let text: Vec<String> = changes(&from, &to)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            text,
            [
                "- action gone",
                "~ action tuned",
                "+ action new",
                "+ scalar uuid"
            ]
        );
        assert!(changes(&from, &from).is_empty());
    }
}

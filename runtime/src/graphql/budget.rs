//! What one request may ask for as a whole, checked before any of it runs: how many
//! operations a batch holds, how many action calls all its operations make together (each
//! root field, aliases included, may store an event and call a handler), and how many fields
//! it selects in all. async-graphql's own limits count one operation at a time; a batch of
//! many operations, or one operation of many aliases, would otherwise pass them.

use std::collections::HashSet;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use crate::config::Limits;

/// What an operation costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Every selected field, fragments expanded (async-graphql's complexity).
    pub fields: usize,
    /// Root fields other than introspection: the calls the operation makes.
    pub calls: usize,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, other: Self) {
        self.fields += other.fields;
        self.calls += other.calls;
    }
}

/// A request over its budget: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OverBudget {
    pub code: &'static str,
    pub message: String,
}

/// Fragments nest at most this deep when counting; deeper is already a validation error.
const MAX_FRAGMENT_DEPTH: usize = 64;

/// The cost of the operation `name` picks (the only one when `None`) in `document`.
pub fn cost(document: &ExecutableDocument, name: Option<&str>) -> Cost {
    let operation = document
        .operations
        .iter()
        .find(|(operation_name, _)| match name {
            Some(wanted) => operation_name.is_some_and(|found| found.as_str() == wanted),
            None => true,
        });
    let Some((_, operation)) = operation else {
        return Cost::default();
    };
    let mut walk = Walk {
        document,
        fields: 0,
        open: HashSet::new(),
    };
    let calls = walk.selection_set(&operation.node.selection_set.node, 0, true);
    Cost {
        fields: walk.fields,
        calls,
    }
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    fields: usize,
    /// Fragments being expanded on the current path, so a cycle ends the walk.
    open: HashSet<&'a str>,
}

impl<'a> Walk<'a> {
    /// Counts the fields of `set` into `self.fields`; returns its root calls when `root`.
    fn selection_set(&mut self, set: &'a SelectionSet, depth: usize, root: bool) -> usize {
        if depth > MAX_FRAGMENT_DEPTH {
            return 0;
        }
        let mut calls = 0;
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    self.fields += 1;
                    if root && !field.node.name.node.starts_with("__") {
                        calls += 1;
                    }
                    self.selection_set(&field.node.selection_set.node, depth + 1, false);
                }
                Selection::InlineFragment(fragment) => {
                    calls += self.selection_set(&fragment.node.selection_set.node, depth + 1, root);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let Some(fragment) = self.document.fragments.get(name) else {
                        continue;
                    };
                    if !self.open.insert(name) {
                        continue;
                    }
                    calls += self.selection_set(&fragment.node.selection_set.node, depth + 1, root);
                    self.open.remove(name);
                }
            }
        }
        calls
    }
}

/// Checks a whole request, `operations` operations costing `total` together, against `limits`.
pub fn check(operations: usize, total: Cost, limits: &Limits) -> Result<(), OverBudget> {
    if operations > limits.max_batch_operations {
        return Err(OverBudget {
            code: "batch-too-large",
            message: format!(
                "a batch may hold at most {} operations; this one holds {operations}",
                limits.max_batch_operations
            ),
        });
    }
    if total.calls > limits.max_action_calls {
        return Err(OverBudget {
            code: "too-many-action-calls",
            message: format!(
                "a request may call at most {} actions (aliases included); this one calls {}",
                limits.max_action_calls, total.calls
            ),
        });
    }
    // One operation's fields are async-graphql's to count (it says where); a batch's together
    // are counted here.
    if operations > 1 && total.fields > limits.max_query_complexity {
        return Err(OverBudget {
            code: "validation-failed",
            message: format!(
                "the request selects {} fields; at most {} are allowed",
                total.fields, limits.max_query_complexity
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(query: &str, name: Option<&str>) -> Cost {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        cost(&document, name)
    }

    #[test]
    fn counts_fields_and_root_calls_through_aliases_and_fragments() {
        assert_eq!(
            of(
                "mutation { a: login(u: 1) { t } b: login(u: 2) { t id } __typename }",
                None
            ),
            Cost {
                fields: 6,
                calls: 2
            }
        );
        let fragments = "query Q { ...Calls ... on query_root { c: x } } \
                         fragment Calls on query_root { a: x b: x { y } }";
        assert_eq!(
            of(fragments, Some("Q")),
            Cost {
                fields: 4,
                calls: 3
            }
        );
        let cycle =
            "{ ...A } fragment A on query_root { x ...B } fragment B on query_root { ...A }";
        assert_eq!(
            of(cycle, None),
            Cost {
                fields: 1,
                calls: 1
            }
        );
        let two = "query A { x } query B { y z }";
        assert_eq!(
            of(two, Some("B")),
            Cost {
                fields: 2,
                calls: 2
            }
        );
        assert_eq!(of(two, Some("C")), Cost::default());
    }

    #[test]
    fn a_request_over_any_budget_is_refused_with_its_code() {
        let limits = Limits {
            max_body_bytes: 1,
            max_response_bytes: 1,
            max_query_depth: 1,
            max_query_complexity: 10,
            max_batch_operations: 2,
            max_action_calls: 3,
        };
        let cost = |fields, calls| Cost { fields, calls };
        assert!(check(2, cost(10, 3), &limits).is_ok());
        assert_eq!(
            check(3, cost(1, 1), &limits).map_err(|e| e.code),
            Err("batch-too-large")
        );
        assert_eq!(
            check(1, cost(4, 4), &limits).map_err(|e| e.code),
            Err("too-many-action-calls")
        );
        assert_eq!(
            check(2, cost(11, 1), &limits).map_err(|e| e.code),
            Err("validation-failed")
        );
        assert!(
            check(1, cost(11, 1), &limits).is_ok(),
            "one operation: async-graphql's limit"
        );
    }
}

//! Query strings. Strict: an unknown or repeated parameter, or a bad value, is a 400 that names
//! every offending parameter (values are never echoed).

use crate::history::Include;
use crate::problem::{FieldError, Kind, Location, Problem};
use crate::timeline::{Cursor, CursorError, Filters};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// The timeline's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineQuery {
    pub filters: Filters,
    pub cursor: Option<Cursor>,
    pub limit: usize,
    /// `include=changes,tasks`: what to read beside the appointments.
    pub include: Include,
}

const TIMELINE_PARAMS: [&str; 5] = ["includeCanceled", "activeOnly", "limit", "cursor", "include"];

pub fn timeline(query: Option<&str>) -> Result<TimelineQuery, Problem> {
    let pairs = pairs(query);
    let mut errors = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (name, _) in &pairs {
        if !TIMELINE_PARAMS.contains(&name.as_str()) {
            errors.push(bad(name, "unknown parameter"));
        } else if seen.contains(&name.as_str()) {
            errors.push(bad(name, "given more than once"));
        } else {
            seen.push(name.as_str());
        }
    }
    let get = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());

    let boolean = |name: &str, default: bool, errors: &mut Vec<FieldError>| match get(name) {
        None => default,
        Some("true") => true,
        Some("false") => false,
        Some(_) => {
            errors.push(bad(name, "must be true or false"));
            default
        }
    };
    let filters =
        Filters { include_canceled: boolean("includeCanceled", true, &mut errors), active_only: boolean("activeOnly", false, &mut errors) };
    let limit = match get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) && !v.starts_with('+') => n,
            _ => {
                errors.push(bad("limit", "must be an integer from 1 to 200"));
                DEFAULT_LIMIT
            }
        },
    };
    let mut include = Include::default();
    if let Some(v) = get("include") {
        for item in v.split(',') {
            match item {
                "changes" => include.changes = true,
                "tasks" => include.tasks = true,
                _ => {
                    errors.push(bad("include", "a comma-separated list of changes, tasks"));
                    break;
                }
            }
        }
    }
    let cursor = match get("cursor") {
        None => None,
        Some(text) => match Cursor::decode(text, &filters) {
            Ok(c) => Some(c),
            Err(CursorError::Malformed) => {
                errors.push(bad("cursor", "not a cursor from this API"));
                None
            }
            Err(CursorError::OtherFilters) => {
                errors.push(bad("cursor", "made with other includeCanceled/activeOnly values; start again without a cursor"));
                None
            }
        },
    };
    if errors.is_empty() {
        Ok(TimelineQuery { filters, cursor, limit, include })
    } else {
        Err(Problem::fields(Kind::BadRequest, errors))
    }
}

/// A route that takes no parameters.
pub fn none(query: Option<&str>) -> Result<(), Problem> {
    let errors: Vec<FieldError> = pairs(query).iter().map(|(name, _)| bad(name, "unknown parameter")).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Problem::fields(Kind::BadRequest, errors))
    }
}

fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn bad(name: &str, reason: &str) -> FieldError {
    // Names are echoed (bounded) so the caller sees which one; values never are.
    let name: String = name.chars().take(64).collect();
    FieldError::new(Location::Query, name, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let q = timeline(None).unwrap();
        assert_eq!(q, TimelineQuery { filters: Filters::default(), cursor: None, limit: DEFAULT_LIMIT, include: Include::default() });
        assert_eq!(timeline(Some("")).unwrap(), q);
    }

    #[test]
    fn good_and_bad_values_as_a_table() {
        type Check = fn(&TimelineQuery) -> bool;
        let ok: [(&str, Check); 7] = [
            ("includeCanceled=false", |q: &TimelineQuery| !q.filters.include_canceled),
            ("activeOnly=true", |q: &TimelineQuery| q.filters.active_only),
            ("limit=200", |q: &TimelineQuery| q.limit == 200),
            ("limit=1", |q: &TimelineQuery| q.limit == 1),
            ("include=changes", |q: &TimelineQuery| q.include == Include { changes: true, tasks: false }),
            ("include=tasks", |q: &TimelineQuery| q.include == Include { changes: false, tasks: true }),
            ("include=tasks,changes", |q: &TimelineQuery| q.include == Include { changes: true, tasks: true }),
        ];
        for (text, check) in ok {
            assert!(check(&timeline(Some(text)).unwrap()), "{text}");
        }
        let bad = [
            ("foo=1", vec!["foo"]),
            ("limit=0", vec!["limit"]),
            ("limit=201", vec!["limit"]),
            ("limit=abc", vec!["limit"]),
            ("limit=+5", vec!["limit"]),
            ("includeCanceled=yes", vec!["includeCanceled"]),
            ("activeOnly=1&limit=-1", vec!["activeOnly", "limit"]),
            ("include=everything", vec!["include"]),
            ("cursor=%%%", vec!["cursor"]),
            ("limit=5&limit=6", vec!["limit"]),
        ];
        for (text, names) in bad {
            let p = timeline(Some(text)).unwrap_err();
            assert_eq!(p.kind, Kind::BadRequest, "{text}");
            let got: Vec<&str> = p.errors.iter().map(|e| e.name.as_str()).collect();
            assert_eq!(got, names, "{text}");
        }
        assert!(none(Some("x=1")).is_err());
        assert!(none(None).is_ok());
    }
}

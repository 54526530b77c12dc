//! The `$filter` subset PolicyInsights queries need: `field eq|ne 'value'` clauses joined by
//! `and`, over the string and boolean fields of a policy state (complianceState,
//! policyAssignmentId/Name, resourceId, ...). String comparisons ignore case, as the service's do.
//! Anything else is a 400 rather than a silently ignored filter.

use serde_json::Value;

use crate::error::{ArmError, ArmResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub field: String,
    pub negate: bool,
    pub value: Value,
}

fn invalid(message: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidFilterInQueryString", message)
}

fn tokens(filter: &str) -> ArmResult<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = filter.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::from("'");
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    Some('\'') => break,
                    Some(ch) => s.push(ch),
                    None => return Err(invalid("Unterminated string literal in $filter.")),
                }
            }
            out.push(s);
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.peek().filter(|ch| !ch.is_whitespace() && **ch != '\'') {
                word.push(ch);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

/// Parses a filter into clauses (all must hold).
pub fn parse(filter: &str) -> ArmResult<Vec<Clause>> {
    conjunction(&tokens(filter)?, filter)
}

/// Parses a filter whose `and` groups may be joined by `or` (`and` binds tighter, no
/// parentheses): what `$expand=components($filter=ComplianceState eq 'NonCompliant' or
/// ComplianceState eq 'Compliant')` needs. A record matches when any group matches
/// ([`matches_any`]).
pub fn parse_disjunction(filter: &str) -> ArmResult<Vec<Vec<Clause>>> {
    let tokens = tokens(filter)?;
    tokens.split(|t| t.eq_ignore_ascii_case("or")).map(|group| conjunction(group, filter)).collect()
}

/// Whether a record satisfies every clause of at least one group.
pub fn matches_any(record: &Value, groups: &[Vec<Clause>]) -> bool {
    groups.iter().any(|g| matches(record, g))
}

fn conjunction(tokens: &[String], filter: &str) -> ArmResult<Vec<Clause>> {
    let mut clauses = Vec::new();
    let mut rest = tokens;
    loop {
        let [field, op, value, tail @ ..] = rest else {
            return Err(invalid(format!("Cannot parse $filter '{filter}': expected <field> eq|ne <value>.")));
        };
        let negate = match op.to_ascii_lowercase().as_str() {
            "eq" => false,
            "ne" => true,
            other => return Err(invalid(format!("Unsupported operator '{other}' in $filter; use eq or ne."))),
        };
        let value = match value.strip_prefix('\'') {
            Some(s) => Value::String(s.to_string()),
            None if value.eq_ignore_ascii_case("true") => Value::Bool(true),
            None if value.eq_ignore_ascii_case("false") => Value::Bool(false),
            None => return Err(invalid(format!("Unsupported value '{value}' in $filter; quote strings."))),
        };
        clauses.push(Clause { field: field.clone(), negate, value });
        match tail {
            [] => return Ok(clauses),
            [and, more @ ..] if and.eq_ignore_ascii_case("and") => rest = more,
            _ => {
                return Err(invalid(format!(
                    "Only 'and' (or 'or' where supported) may join clauses in $filter '{filter}'."
                )));
            }
        }
    }
}

/// Whether a record satisfies every clause. Unknown fields never match.
pub fn matches(record: &Value, clauses: &[Clause]) -> bool {
    clauses.iter().all(|c| {
        let field =
            record.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(&c.field)).map(|(_, v)| v));
        let equal = match (field, &c.value) {
            (Some(Value::String(a)), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (Some(a), b) => a == b,
            (None, _) => return false,
        };
        equal != c.negate
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_matches() {
        let c = parse("complianceState eq 'NonCompliant' and policyAssignmentName ne 'it''s'").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].value, json!("it's"));
        let rec = json!({"complianceState": "noncompliant", "policyAssignmentName": "a1"});
        assert!(matches(&rec, &c));
        assert!(!matches(&rec, &parse("isCompliant eq true").unwrap()));
    }

    #[test]
    fn or_joins_and_groups() {
        let g =
            parse_disjunction("ComplianceState eq 'NonCompliant' or ComplianceState eq 'Compliant' and type eq 'pod'")
                .unwrap();
        assert_eq!(g.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 2]);
        assert!(matches_any(&json!({"complianceState": "NonCompliant"}), &g));
        assert!(!matches_any(&json!({"complianceState": "Compliant", "type": "node"}), &g));
        assert!(matches_any(&json!({"complianceState": "Compliant", "type": "pod"}), &g));
        // A quoted 'or' is a value, not the operator.
        assert_eq!(parse_disjunction("name eq 'or'").unwrap()[0][0].value, json!("or"));
        for bad in ["a eq 'b' or", "or a eq 'b'", "a eq 'b' or or c eq 'd'"] {
            assert_eq!(parse_disjunction(bad).unwrap_err().code, "InvalidFilterInQueryString", "{bad}");
        }
        assert!(parse("a eq 'b' or c eq 'd'").is_err(), "plain $filter keeps refusing 'or'");
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        for bad in ["", "a gt 'b'", "a eq b", "a eq 'b' or c eq 'd'", "a eq 'unterminated"] {
            assert_eq!(parse(bad).unwrap_err().code, "InvalidFilterInQueryString", "{bad}");
        }
    }
}

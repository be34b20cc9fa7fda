//! `${VAR}` and `${VAR:-default}` interpolation inside YAML string values.

use yaml_serde::Value;

use super::{Env, Problem};

/// Replace every `${VAR}` / `${VAR:-default}` in string values, in place.
///
/// A value that is exactly one expression is re-read as a YAML scalar, so
/// `port: ${PGPORT:-5432}` becomes a number and `url: ${DATABASE_URL:-}` becomes null.
/// `$${` escapes a literal `${`. Returns one problem per unresolvable reference.
pub fn interpolate(tree: &mut Value, env: &Env) -> Vec<Problem> {
    let mut problems = Vec::new();
    walk(tree, &mut Vec::new(), env, &mut problems);
    problems
}

fn walk(value: &mut Value, path: &mut Vec<String>, env: &Env, problems: &mut Vec<Problem>) {
    match value {
        Value::String(s) => {
            if !s.contains("${") {
                return;
            }
            match expand(s, env) {
                Ok(Expanded { text, whole }) => {
                    *value = if whole {
                        rescalar(text)
                    } else {
                        Value::String(text)
                    };
                }
                Err(message) => problems.push(Problem {
                    key: path.join("."),
                    message,
                    from_env: None,
                }),
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let last = path.pop();
                let seg = match &last {
                    Some(p) => format!("{p}[{i}]"),
                    None => format!("[{i}]"),
                };
                path.push(seg);
                walk(item, path, env, problems);
                path.pop();
                if let Some(p) = last {
                    path.push(p);
                }
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                path.push(key_name(k));
                walk(v, path, env, problems);
                path.pop();
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, env, problems),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The display name of a mapping key.
pub(super) fn key_name(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => yaml_serde::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

#[derive(Debug)]
struct Expanded {
    text: String,
    /// The input was exactly one `${...}` expression.
    whole: bool,
}

fn expand(input: &str, env: &Env) -> Result<Expanded, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut expressions = 0;
    let mut literal_chars = false;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        literal_chars |= start > 0;
        let after = &rest[start..];
        if let Some(stripped) = after.strip_prefix("$${") {
            out.push_str("${");
            literal_chars = true;
            rest = stripped;
            continue;
        }
        let Some(body_start) = after.strip_prefix("${") else {
            out.push('$');
            literal_chars = true;
            rest = &after[1..];
            continue;
        };
        let Some(end) = body_start.find('}') else {
            return Err(format!(
                "invalid value `{input}`: unclosed `${{` (write `${{VAR}}` or `${{VAR:-default}}`)"
            ));
        };
        let body = &body_start[..end];
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "invalid value `{input}`: `${{{body}}}` is not a variable reference (names use A-Z, 0-9 and _)"
            ));
        }
        match (env.get(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "environment variable {name} is not set (set it, or write `${{{name}:-default}}` to give a default)"
                ))
            }
        }
        expressions += 1;
        rest = &body_start[end + 1..];
    }
    literal_chars |= !rest.is_empty();
    out.push_str(rest);
    Ok(Expanded {
        text: out,
        whole: expressions == 1 && !literal_chars,
    })
}

/// Re-read an interpolated value as a YAML scalar; anything that isn't one stays a string.
pub(super) fn rescalar(text: String) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    match yaml_serde::from_str::<Value>(&text) {
        Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::Null)) => v,
        _ => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expands_variables_defaults_and_escapes() {
        let e = env(&[("A", "x"), ("EMPTY", "")]);
        assert_eq!(expand("${A}", &e).map(|x| x.text), Ok("x".into()));
        assert_eq!(
            expand("pre-${A}-post", &e).map(|x| x.text),
            Ok("pre-x-post".into())
        );
        assert_eq!(expand("${B:-dflt}", &e).map(|x| x.text), Ok("dflt".into()));
        assert_eq!(expand("${EMPTY:-d}", &e).map(|x| x.text), Ok("d".into()));
        assert_eq!(expand("$${A}", &e).map(|x| x.text), Ok("${A}".into()));
        assert_eq!(expand("cost $5", &e).map(|x| x.text), Ok("cost $5".into()));
    }

    #[test]
    fn whole_expression_becomes_a_scalar() {
        let mut tree: Value =
            yaml_serde::from_str("a: ${P:-5432}\nb: x${P:-1}\nc: ${U:-}").unwrap();
        assert!(interpolate(&mut tree, &Env::new()).is_empty());
        assert_eq!(tree["a"], Value::Number(5432.into()));
        assert_eq!(tree["b"], Value::String("x1".into()));
        assert_eq!(tree["c"], Value::Null);
    }

    #[test]
    fn missing_variable_names_the_key_and_variable() {
        let mut tree: Value = yaml_serde::from_str("lakebase:\n  instance_name: ${NOPE}").unwrap();
        let problems = interpolate(&mut tree, &Env::new());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "lakebase.instance_name");
        assert!(
            problems[0].message.contains("NOPE is not set"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn malformed_references_are_reported() {
        assert!(expand("${A", &Env::new()).unwrap_err().contains("unclosed"));
        assert!(expand("${A B}", &Env::new())
            .unwrap_err()
            .contains("not a variable reference"));
    }
}

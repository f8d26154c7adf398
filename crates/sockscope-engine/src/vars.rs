//! Message variables (docs/ipc.md "Template variables"; the UI's preview implements the same
//! grammar): `{{uuid}}`, `{{now}}`, `{{ts}}`, `{{counter}}`, `{{random_int a b}}`. The text
//! between `{{` and the next `}}` is trimmed and split on whitespace; anything that is not
//! one of these forms is left exactly as written.

use time::format_description::well_known::Rfc3339;

/// What the variables take their values from.
#[derive(Debug, Clone, Copy)]
pub struct VarContext {
    /// The value of `{{counter}}` in this message.
    pub counter: u64,
    /// Current time, Unix ms (`{{ts}}`, `{{now}}`).
    pub now_ms: i64,
}

impl VarContext {
    pub fn now(counter: u64) -> VarContext {
        VarContext {
            counter,
            now_ms: sockscope_proto::now_us() / 1000,
        }
    }
}

/// True when `text` uses `{{counter}}` (so the caller knows to take a counter value).
pub fn uses_variables(text: &str) -> bool {
    text.contains("{{")
}

fn rfc3339_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    // Millisecond precision, "Z".
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    let s = t.format(&Rfc3339).unwrap_or_default();
    // Rfc3339 drops trailing zero fractions: always show three digits.
    match s.find('.') {
        Some(_) => s,
        None => s.replacen('Z', ".000Z", 1),
    }
}

fn expand_one(inner: &str, ctx: &VarContext) -> Option<String> {
    let mut parts = inner.split_whitespace();
    let name = parts.next()?;
    let args: Vec<&str> = parts.collect();
    match (name, args.as_slice()) {
        ("uuid", []) => Some(uuid::Uuid::new_v4().to_string()),
        ("now", []) => Some(rfc3339_ms(ctx.now_ms)),
        ("ts", []) => Some(ctx.now_ms.to_string()),
        ("counter", []) => Some(ctx.counter.to_string()),
        ("random_int", [a, b]) => {
            let a: i64 = a.parse().ok()?;
            let b: i64 = b.parse().ok()?;
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            Some(rand::random_range(lo..=hi).to_string())
        }
        _ => None,
    }
}

/// Expands every variable of `text`.
pub fn expand(text: &str, ctx: &VarContext) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => match expand_one(&after[..end], ctx) {
                Some(v) => {
                    out.push_str(&v);
                    rest = &after[end + 2..];
                }
                None => {
                    out.push_str("{{");
                    rest = after;
                }
            },
            None => {
                out.push_str(&rest[start..]);
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: VarContext = VarContext {
        counter: 7,
        now_ms: 1_764_180_265_123,
    };

    #[test]
    fn each_variable() {
        assert_eq!(expand("{{ts}}", &CTX), "1764180265123");
        assert_eq!(expand("{{ now }}", &CTX), "2025-11-26T18:04:25.123Z");
        assert_eq!(
            expand(
                "{{now}}",
                &VarContext {
                    counter: 0,
                    now_ms: 1_000
                }
            ),
            "1970-01-01T00:00:01.000Z"
        );
        assert_eq!(expand("n={{counter}},{{counter}}", &CTX), "n=7,7");
        let u = expand("{{uuid}}", &CTX);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, expand("{{uuid}}", &CTX));
        for _ in 0..200 {
            let n: i64 = expand("{{random_int 5 -2}}", &CTX).parse().expect("int");
            assert!((-2..=5).contains(&n));
        }
        assert_eq!(expand("{{random_int 3 3}}", &CTX), "3");
    }

    #[test]
    fn everything_else_stays() {
        for s in [
            "{{nope}}",
            "{{random_int a 2}}",
            "{{random_int 1}}",
            "{{ts 1}}",
            "{{",
            "a {{ts",
            "}}",
            "{{}}",
            "",
        ] {
            assert_eq!(expand(s, &CTX), s, "{s:?}");
        }
        assert_eq!(expand("{{ {{ts}}", &CTX), "{{ 1764180265123");
        assert_eq!(expand("{\"id\":{{counter}}}", &CTX), "{\"id\":7}");
    }
}

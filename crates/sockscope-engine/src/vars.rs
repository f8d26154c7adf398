//! Message variables (docs/ipc.md "Template variables"; the UI's preview, ui/src/model/
//! variables.ts, implements the same grammar): `{{uuid}}`, `{{now}}`, `{{ts}}`, `{{counter}}`,
//! `{{random_int a b}}`, spaces allowed inside the braces and between arguments. Anything that
//! is not one of these forms is left exactly as written.

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

/// A `{{name args}}` spot at the start of `s` (which starts with `{{`), read exactly like the
/// UI's pattern `\{\{ *([A-Za-z_][A-Za-z0-9_]*)((?: +[^ {}\r\n\t]+)*) *\}\}`: its length,
/// name and arguments.
fn token_at(s: &str) -> Option<(usize, &str, Vec<&str>)> {
    let b = s.as_bytes();
    let mut i = 2;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let name_start = i;
    match b.get(i) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => i += 1,
        _ => return None,
    }
    while b
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        i += 1;
    }
    let name = &s[name_start..i];
    let arg_char = |c: u8| !matches!(c, b' ' | b'{' | b'}' | b'\r' | b'\n' | b'\t');
    let mut args = Vec::new();
    loop {
        let mut j = i;
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        if j == i || !b.get(j).is_some_and(|c| arg_char(*c)) {
            break;
        }
        let arg_start = j;
        while b.get(j).is_some_and(|c| arg_char(*c)) {
            j += 1;
        }
        args.push(&s[arg_start..j]);
        i = j;
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    if b.get(i) == Some(&b'}') && b.get(i + 1) == Some(&b'}') {
        Some((i + 2, name, args))
    } else {
        None
    }
}

/// A whole number as the UI accepts it: optional `-`, then digits; signed 64-bit.
fn int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

enum Var {
    Uuid,
    Now,
    Ts,
    Counter,
    RandomInt(i64, i64),
}

fn check(name: &str, args: &[&str]) -> Option<Var> {
    match (name, args) {
        ("uuid", []) => Some(Var::Uuid),
        ("now", []) => Some(Var::Now),
        ("ts", []) => Some(Var::Ts),
        ("counter", []) => Some(Var::Counter),
        ("random_int", [a, b]) => Some(Var::RandomInt(int(a)?, int(b)?)),
        _ => None,
    }
}

/// Expands every variable of `text`. `counter` is asked (once) only when at least one
/// variable is expanded: a message without variables does not use a counter value.
/// Returns the text and whether anything was expanded.
pub fn expand_message(text: &str, now_ms: i64, counter: impl FnOnce() -> u64) -> (String, bool) {
    let mut counter = Some(counter);
    let mut counter_value: Option<u64> = None;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut expanded = false;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let at = &rest[start..];
        let Some((len, name, args)) = token_at(at) else {
            // Not a variable here: keep one character and look again from the next.
            out.push('{');
            rest = &at[1..];
            continue;
        };
        match check(name, &args) {
            None => out.push_str(&at[..len]),
            Some(var) => {
                expanded = true;
                match var {
                    Var::Uuid => out.push_str(&uuid::Uuid::new_v4().to_string()),
                    Var::Now => out.push_str(&rfc3339_ms(now_ms)),
                    Var::Ts => out.push_str(&now_ms.to_string()),
                    Var::Counter => {
                        let v =
                            *counter_value.get_or_insert_with(|| counter.take().map_or(0, |f| f()));
                        out.push_str(&v.to_string());
                    }
                    Var::RandomInt(a, b) => {
                        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                        out.push_str(&rand::random_range(lo..=hi).to_string());
                    }
                }
            }
        }
        rest = &at[len..];
    }
    out.push_str(rest);
    (out, expanded)
}

/// Expands every variable of `text` with a known counter value.
pub fn expand(text: &str, ctx: &VarContext) -> String {
    expand_message(text, ctx.now_ms, || ctx.counter).0
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
            "{{\tts}}",
            "{{ts\n}}",
            "{{random_int +1 2}}",
            "{{random_int 1 99999999999999999999}}",
            "{{1ts}}",
        ] {
            assert_eq!(expand(s, &CTX), s, "{s:?}");
        }
        assert_eq!(expand("{{ {{ts}}", &CTX), "{{ 1764180265123");
        assert_eq!(expand("{\"id\":{{counter}}}", &CTX), "{\"id\":7}");
        // As the UI's pattern: the match may start one brace later.
        assert_eq!(expand("{{{ts}}}", &CTX), "{1764180265123}");
        assert_eq!(expand("{{nope {{ts}}", &CTX), "{{nope 1764180265123");
        assert_eq!(expand("{{  random_int   3   3  }}", &CTX), "3");
    }

    #[test]
    fn the_counter_is_taken_only_when_something_expands() {
        let mut taken = 0;
        let (t, e) = expand_message("plain {{nope}}", 0, || {
            taken += 1;
            1
        });
        assert_eq!((t.as_str(), e, taken), ("plain {{nope}}", false, 0));
        let (t, e) = expand_message("{{ts}} {{counter}}/{{counter}}", 5, || {
            taken += 1;
            9
        });
        assert_eq!((t.as_str(), e, taken), ("5 9/9", true, 1));
    }
}

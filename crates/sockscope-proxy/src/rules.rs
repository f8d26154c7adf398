//! Intercept rules: what a proxied data message must look like to match (direction, opcode,
//! text or regex, a JSON key and value, listener or connection) and what happens then
//! (hold at a breakpoint, replace text, set a JSON key, drop, delay, duplicate).
//!
//! Rules are plain data (serde: JSON for the app and the database, JSON or TOML files for the
//! CLI); [`compile`] checks them and builds the matchers once. Rules apply in order: each
//! matching rule sees the message as the rules before it left it.

use crate::ProxyError;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sockscope_proto::{ConnectionId, Direction, Opcode, SessionId};
use std::path::Path;

/// Longest regex source accepted (characters).
pub const MAX_PATTERN: usize = 4096;
/// Compiled size limit of one regex (bytes).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Longest delay a rule may ask for.
pub const MAX_DELAY_MS: u64 = 600_000;
/// Most copies a duplicate rule may add.
pub const MAX_DUPLICATES: u32 = 100;
/// Largest rule file read by [`load_rules_file`].
pub const MAX_RULE_FILE: u64 = 4 << 20;

/// Which direction a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirMatch {
    #[default]
    Both,
    /// Client-to-server messages.
    ToServer,
    /// Server-to-client messages.
    ToClient,
}

impl DirMatch {
    fn accepts(self, dir: Direction) -> bool {
        match self {
            DirMatch::Both => true,
            DirMatch::ToServer => dir == Direction::Client,
            DirMatch::ToClient => dir == Direction::Server,
        }
    }
}

/// Data message kinds a rule may be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpcodeMatch {
    Text,
    Binary,
}

/// What a message must look like. Every condition given must hold; an empty matcher matches
/// every data message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    #[serde(default)]
    pub direction: DirMatch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opcode: Option<OpcodeMatch>,
    /// The payload contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// The payload matches this regular expression (Rust `regex` syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The payload is JSON and has this key (`a.b[0].c`, optionally starting with `$.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_key: Option<String>,
    /// ... whose value equals this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_value: Option<Value>,
    /// Only messages of this listener (its capture session id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<i64>,
    /// Only messages of this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<i64>,
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Hold the message for a human (a breakpoint).
    Break,
    /// Replace every occurrence of `find` (a regex when `regex` is true; `$1` in `with` names
    /// a group) by `with`.
    Replace {
        find: String,
        #[serde(default)]
        with: String,
        #[serde(default)]
        regex: bool,
    },
    /// Set a key of a JSON payload (objects on the way are created).
    SetJson { key: String, value: Value },
    /// Never forward the message.
    Drop,
    /// Forward the message after this many milliseconds (later messages wait behind it).
    Delay { ms: u64 },
    /// Forward the message, then `count` copies of it.
    Duplicate {
        #[serde(default = "one")]
        count: u32,
    },
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Saved rule id (the app's database), or the rule's 1-based place in a file.
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, rename = "match")]
    pub matcher: Matcher,
    pub action: Action,
}

/// A message being matched.
pub struct Candidate<'a> {
    pub session: SessionId,
    pub connection: ConnectionId,
    pub dir: Direction,
    pub opcode: Opcode,
    /// The whole message (inflated when it was compressed).
    pub payload: &'a [u8],
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let p = path.trim();
    let p = p.strip_prefix('$').unwrap_or(p);
    let p = p.strip_prefix('.').unwrap_or(p);
    if p.is_empty() {
        return Err("empty JSON key".into());
    }
    let mut steps = Vec::new();
    for part in p.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            steps.push(Step::Key(name.to_owned()));
        } else if rest.is_empty() {
            return Err(format!("empty step in JSON key {path:?}"));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("unclosed [ in JSON key {path:?}"))?;
            let n: usize = r[..end]
                .parse()
                .map_err(|_| format!("bad index {:?} in JSON key {path:?}", &r[..end]))?;
            steps.push(Step::Index(n));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("unexpected {rest:?} in JSON key {path:?}"));
        }
    }
    Ok(steps)
}

fn lookup<'v>(v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    steps.iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.as_object()?.get(k),
        Step::Index(i) => v.as_array()?.get(*i),
    })
}

/// Sets `steps` in `v` to `value`, creating objects for missing keys. False when the path
/// goes through something that is not an object (or an array index that does not exist).
fn set_path(v: &mut Value, steps: &[Step], value: Value) -> bool {
    let Some((last, init)) = steps.split_last() else {
        return false;
    };
    let mut cur = v;
    for s in init {
        cur = match s {
            Step::Key(k) => match cur {
                Value::Object(m) => m
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Default::default())),
                _ => return false,
            },
            Step::Index(i) => match cur.as_array_mut().and_then(|a| a.get_mut(*i)) {
                Some(x) => x,
                None => return false,
            },
        };
    }
    match (last, cur) {
        (Step::Key(k), Value::Object(m)) => {
            m.insert(k.clone(), value);
            true
        }
        (Step::Index(i), Value::Array(a)) if *i < a.len() => {
            a[*i] = value;
            true
        }
        _ => false,
    }
}

fn build_regex(src: &str, what: &str) -> Result<regex::bytes::Regex, String> {
    if src.len() > MAX_PATTERN {
        return Err(format!("{what} is longer than {MAX_PATTERN} characters"));
    }
    regex::bytes::RegexBuilder::new(src)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("{what}: {e}"))
}

enum CompiledAction {
    Break,
    Replace {
        find: regex::bytes::Regex,
        with: Vec<u8>,
        literal: bool,
    },
    SetJson {
        steps: Vec<Step>,
        value: Value,
    },
    Drop,
    Delay(u64),
    Duplicate(u32),
}

/// A checked rule, ready to match.
pub struct CompiledRule {
    pub rule: Rule,
    regex: Option<regex::bytes::Regex>,
    json_key: Option<Vec<Step>>,
    action: CompiledAction,
}

/// Checks a rule and builds its matchers. Errors name the rule and what is wrong.
pub fn compile(rule: Rule) -> Result<CompiledRule, ProxyError> {
    let label = if rule.name.is_empty() {
        format!("rule {}", rule.id)
    } else {
        format!("rule {:?}", rule.name)
    };
    let bad = |m: String| ProxyError::Rule(format!("{label}: {m}"));
    let m = &rule.matcher;
    let regex = m
        .regex
        .as_deref()
        .map(|r| build_regex(r, "match regex"))
        .transpose()
        .map_err(bad)?;
    let json_key = m
        .json_key
        .as_deref()
        .map(parse_path)
        .transpose()
        .map_err(bad)?;
    if m.json_value.is_some() && json_key.is_none() {
        return Err(bad("json_value needs json_key".into()));
    }
    let action = match &rule.action {
        Action::Break => CompiledAction::Break,
        Action::Replace { find, with, regex } => {
            if find.is_empty() {
                return Err(bad("replace needs a non-empty find".into()));
            }
            let src = if *regex {
                find.clone()
            } else {
                regex::escape(find)
            };
            CompiledAction::Replace {
                find: build_regex(&src, "replace pattern").map_err(bad)?,
                with: with.as_bytes().to_vec(),
                literal: !*regex,
            }
        }
        Action::SetJson { key, value } => CompiledAction::SetJson {
            steps: parse_path(key).map_err(bad)?,
            value: value.clone(),
        },
        Action::Drop => CompiledAction::Drop,
        Action::Delay { ms } => {
            if *ms > MAX_DELAY_MS {
                return Err(bad(format!("delay is at most {MAX_DELAY_MS} ms")));
            }
            CompiledAction::Delay(*ms)
        }
        Action::Duplicate { count } => {
            if *count == 0 || *count > MAX_DUPLICATES {
                return Err(bad(format!("duplicate count is 1 to {MAX_DUPLICATES}")));
            }
            CompiledAction::Duplicate(*count)
        }
    };
    Ok(CompiledRule {
        regex,
        json_key,
        action,
        rule,
    })
}

impl CompiledRule {
    /// Does the message (as the rules before left it) match?
    pub fn matches(&self, c: &Candidate<'_>, payload: &[u8], json: &mut JsonCache) -> bool {
        let m = &self.rule.matcher;
        if !m.direction.accepts(c.dir) {
            return false;
        }
        if m.listener.is_some_and(|l| l != c.session.0)
            || m.connection.is_some_and(|id| id != c.connection.0)
        {
            return false;
        }
        match (m.opcode, c.opcode) {
            (None, _) | (Some(OpcodeMatch::Text), Opcode::Text) => {}
            (Some(OpcodeMatch::Binary), Opcode::Binary) => {}
            _ => return false,
        }
        if let Some(needle) = &m.contains {
            if !contains(payload, needle.as_bytes()) {
                return false;
            }
        }
        if let Some(re) = &self.regex {
            if !re.is_match(payload) {
                return false;
            }
        }
        if let Some(steps) = &self.json_key {
            let Some(doc) = json.get(payload) else {
                return false;
            };
            match lookup(doc, steps) {
                None => return false,
                Some(v) => {
                    if m.json_value.as_ref().is_some_and(|want| want != v) {
                        return false;
                    }
                }
            }
        }
        true
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// The payload parsed as JSON once per version of the payload.
#[derive(Default)]
pub struct JsonCache {
    parsed: Option<Option<Value>>,
}

impl JsonCache {
    fn get(&mut self, payload: &[u8]) -> Option<&Value> {
        self.parsed
            .get_or_insert_with(|| serde_json::from_slice(payload).ok())
            .as_ref()
    }

    fn reset(&mut self) {
        self.parsed = None;
    }
}

/// What the rules decided for one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// The payload after rewrites, when some rule changed it.
    pub rewritten: Option<Bytes>,
    /// Dropped by this rule.
    pub drop: Option<i64>,
    /// Held by this breakpoint (id, name).
    pub hold: Option<(i64, String)>,
    /// Total delay asked for.
    pub delay_ms: u64,
    /// Copies to send after the message.
    pub duplicates: u32,
    /// Every rule that matched, in order.
    pub matched: Vec<i64>,
}

impl Verdict {
    pub fn is_pass(&self) -> bool {
        self.matched.is_empty()
    }
}

/// Runs enabled rules in order over a message. A `drop` ends the evaluation.
pub fn evaluate(rules: &[CompiledRule], c: &Candidate<'_>) -> Verdict {
    let mut v = Verdict::default();
    let mut json = JsonCache::default();
    let mut current: Option<Vec<u8>> = None;
    for r in rules.iter().filter(|r| r.rule.enabled) {
        let payload = current.as_deref().unwrap_or(c.payload);
        if !r.matches(c, payload, &mut json) {
            continue;
        }
        v.matched.push(r.rule.id);
        match &r.action {
            CompiledAction::Break => {
                if v.hold.is_none() {
                    v.hold = Some((r.rule.id, r.rule.name.clone()));
                }
            }
            CompiledAction::Replace {
                find,
                with,
                literal,
            } => {
                let out = if *literal {
                    find.replace_all(payload, regex::bytes::NoExpand(with))
                } else {
                    find.replace_all(payload, with.as_slice())
                };
                let out = out.into_owned();
                // A text message stays valid UTF-8, or the rewrite is not applied.
                if (c.opcode != Opcode::Text || std::str::from_utf8(&out).is_ok()) && out != payload
                {
                    current = Some(out);
                    json.reset();
                }
            }
            CompiledAction::SetJson { steps, value } => {
                if let Some(mut doc) = json.get(payload).cloned() {
                    if set_path(&mut doc, steps, value.clone()) {
                        if let Ok(out) = serde_json::to_vec(&doc) {
                            if out != payload {
                                current = Some(out);
                                json.reset();
                            }
                        }
                    }
                }
            }
            CompiledAction::Drop => {
                v.drop = Some(r.rule.id);
                break;
            }
            CompiledAction::Delay(ms) => v.delay_ms = v.delay_ms.saturating_add(*ms),
            CompiledAction::Duplicate(n) => v.duplicates = v.duplicates.saturating_add(*n),
        }
    }
    v.delay_ms = v.delay_ms.min(MAX_DELAY_MS);
    v.duplicates = v.duplicates.min(MAX_DUPLICATES);
    v.rewritten = current.map(Bytes::from);
    v
}

/// A rule file: `{"rules": [...]}` or a bare array in JSON; `[[rule]]` (or `[[rules]]`)
/// tables in TOML.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default)]
    rule: Vec<Rule>,
}

/// Parses rules from a file's text. `toml` picks the syntax. Rules without an id get their
/// 1-based place; every rule is checked.
pub fn parse_rules(text: &str, toml_syntax: bool) -> Result<Vec<Rule>, ProxyError> {
    let mut rules: Vec<Rule> = if toml_syntax {
        let f: RuleFile =
            toml::from_str(text).map_err(|e| ProxyError::Rule(format!("TOML: {e}")))?;
        f.rules.into_iter().chain(f.rule).collect()
    } else {
        let v: Value =
            serde_json::from_str(text).map_err(|e| ProxyError::Rule(format!("JSON: {e}")))?;
        match v {
            Value::Array(_) => serde_json::from_value(v),
            _ => serde_json::from_value::<RuleFile>(v)
                .map(|f| f.rules.into_iter().chain(f.rule).collect()),
        }
        .map_err(|e| ProxyError::Rule(format!("JSON: {e}")))?
    };
    for (i, r) in rules.iter_mut().enumerate() {
        if r.id == 0 {
            r.id = i as i64 + 1;
        }
    }
    for r in &rules {
        compile(r.clone())?;
    }
    Ok(rules)
}

/// Reads a JSON or TOML rule file (by extension `.toml`, else by content: JSON starts with
/// `{` or `[` and parses as JSON).
pub fn load_rules_file(path: &Path) -> Result<Vec<Rule>, ProxyError> {
    let file_err = |source| ProxyError::File {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(file_err)?.len();
    if len > MAX_RULE_FILE {
        return Err(ProxyError::Rule(format!(
            "{}: larger than {MAX_RULE_FILE} bytes",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(file_err)?;
    let is_toml = match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("toml") => true,
        Some(e) if e.eq_ignore_ascii_case("json") => false,
        _ => {
            !text.trim_start().starts_with(['{', '[']) || {
                // `[[rule]]` is TOML even though it starts with `[`.
                text.trim_start().starts_with("[[")
            }
        }
    };
    parse_rules(&text, is_toml).map_err(|e| ProxyError::Rule(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(payload: &[u8]) -> Candidate<'_> {
        Candidate {
            session: SessionId(1),
            connection: ConnectionId(2),
            dir: Direction::Client,
            opcode: Opcode::Text,
            payload,
        }
    }

    fn rule(id: i64, matcher: Matcher, action: Action) -> CompiledRule {
        match compile(Rule {
            id,
            name: String::new(),
            enabled: true,
            matcher,
            action,
        }) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn rules_apply_in_order_on_the_rewritten_payload() {
        let rules = vec![
            rule(
                1,
                Matcher::default(),
                Action::Replace {
                    find: "alice".into(),
                    with: "bob".into(),
                    regex: false,
                },
            ),
            rule(
                2,
                Matcher {
                    contains: Some("bob".into()),
                    ..Default::default()
                },
                Action::SetJson {
                    key: "$.meta.seen".into(),
                    value: serde_json::json!(true),
                },
            ),
            rule(
                3,
                Matcher {
                    json_key: Some("meta.seen".into()),
                    json_value: Some(serde_json::json!(true)),
                    ..Default::default()
                },
                Action::Duplicate { count: 2 },
            ),
        ];
        let v = evaluate(&rules, &cand(br#"{"user":"alice"}"#));
        assert_eq!(v.matched, vec![1, 2, 3]);
        assert_eq!(
            v.rewritten.as_deref(),
            Some(&br#"{"user":"bob","meta":{"seen":true}}"#[..])
        );
        assert_eq!(v.duplicates, 2);
    }

    #[test]
    fn regex_replace_with_groups_and_drop_stops() {
        let rules = vec![
            rule(
                1,
                Matcher {
                    regex: Some(r"^n=\d+$".into()),
                    ..Default::default()
                },
                Action::Replace {
                    find: r"n=(\d+)".into(),
                    with: "m=$1$1".into(),
                    regex: true,
                },
            ),
            rule(2, Matcher::default(), Action::Drop),
            rule(3, Matcher::default(), Action::Break),
        ];
        let v = evaluate(&rules, &cand(b"n=12"));
        assert_eq!(v.rewritten.as_deref(), Some(&b"m=1212"[..]));
        assert_eq!(v.drop, Some(2));
        assert_eq!(v.hold, None);
        assert_eq!(v.matched, vec![1, 2]);
    }

    #[test]
    fn direction_opcode_scope_and_disabled() {
        let mut r = rule(
            1,
            Matcher {
                direction: DirMatch::ToClient,
                ..Default::default()
            },
            Action::Break,
        );
        assert!(evaluate(std::slice::from_ref(&r), &cand(b"x")).is_pass());
        r.rule.matcher.direction = DirMatch::ToServer;
        r.rule.matcher.opcode = Some(OpcodeMatch::Binary);
        assert!(evaluate(std::slice::from_ref(&r), &cand(b"x")).is_pass());
        r.rule.matcher.opcode = Some(OpcodeMatch::Text);
        r.rule.matcher.connection = Some(3);
        assert!(evaluate(std::slice::from_ref(&r), &cand(b"x")).is_pass());
        r.rule.matcher.connection = Some(2);
        r.rule.matcher.listener = Some(1);
        assert_eq!(
            evaluate(std::slice::from_ref(&r), &cand(b"x")).hold,
            Some((1, String::new()))
        );
        r.rule.enabled = false;
        assert!(evaluate(std::slice::from_ref(&r), &cand(b"x")).is_pass());
    }

    #[test]
    fn json_paths() {
        assert_eq!(
            parse_path("$.a.b[2].c"),
            Ok(vec![
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Index(2),
                Step::Key("c".into())
            ])
        );
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a[x]").is_err());
        assert!(parse_path("").is_err());
        let mut doc = serde_json::json!({"a": [1, {"b": 2}]});
        assert!(set_path(
            &mut doc,
            &parse_path("a[1].b").unwrap_or_default(),
            serde_json::json!(3)
        ));
        assert!(!set_path(
            &mut doc,
            &parse_path("a[5]").unwrap_or_default(),
            serde_json::json!(3)
        ));
        assert_eq!(doc, serde_json::json!({"a": [1, {"b": 3}]}));
        // Not JSON: a json_key matcher does not match, set_json leaves it alone.
        let rules = vec![rule(
            1,
            Matcher::default(),
            Action::SetJson {
                key: "a".into(),
                value: serde_json::json!(1),
            },
        )];
        assert_eq!(evaluate(&rules, &cand(b"not json")).rewritten, None);
    }

    #[test]
    fn bad_rules_are_refused_with_their_name() {
        let e = parse_rules(
            r#"[{"name":"oops","match":{"regex":"("},"action":{"type":"drop"}}]"#,
            false,
        );
        assert!(matches!(e, Err(ProxyError::Rule(m)) if m.contains("oops") && m.contains("regex")));
        assert!(parse_rules(r#"[{"action":{"type":"delay","ms":999999999}}]"#, false).is_err());
        assert!(parse_rules(r#"[{"action":{"type":"explode"}}]"#, false).is_err());
        assert!(parse_rules(
            r#"[{"match":{"colour":"red"},"action":{"type":"drop"}}]"#,
            false
        )
        .is_err());
        assert!(parse_rules(
            r#"[{"match":{"json_value":1},"action":{"type":"drop"}}]"#,
            false
        )
        .is_err());
    }

    #[test]
    fn the_documented_example_file_loads_and_does_what_it_says() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/rules.toml");
        let rules = match load_rules_file(&path) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(rules.len(), 6);
        let compiled: Vec<CompiledRule> = rules
            .into_iter()
            .map(|r| compile(r).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let up = |p: &'static [u8]| evaluate(&compiled, &cand(p));
        let v = up(br#"{"op":"buy","user":"alice"}"#);
        assert_eq!(
            v.rewritten.as_deref(),
            Some(&br#"{"op":"buy","user":"bob","meta":{"via":"sockscope"}}"#[..])
        );
        assert_eq!(up(br#"{"type":"heartbeat"}"#).drop, Some(4));
        assert_eq!(up(br#"{"op":"submit"}"#).duplicates, 0);
        let down = Candidate {
            dir: Direction::Server,
            ..cand(br#"{"quote":1,"price":12.345}"#)
        };
        let v = evaluate(&compiled, &down);
        assert_eq!(
            v.rewritten.as_deref(),
            Some(&br#"{"quote":1,"price":1234}"#[..])
        );
        assert_eq!(v.delay_ms, 250);
    }

    #[test]
    fn json_and_toml_files() {
        let json = parse_rules(
            r#"{"rules":[{"name":"a","action":{"type":"break"}},{"action":{"type":"duplicate"}}]}"#,
            false,
        );
        let toml = parse_rules(
            r#"
[[rule]]
name = "a"
action = { type = "break" }

[[rule]]
[rule.match]
direction = "to_server"
contains = "x"
[rule.action]
type = "duplicate"
"#,
            true,
        );
        let (Ok(json), Ok(toml)) = (json, toml) else {
            panic!("rule files did not parse");
        };
        assert_eq!(json.len(), 2);
        assert_eq!(toml.len(), 2);
        assert_eq!(json[1].id, 2);
        assert_eq!(json[1].action, Action::Duplicate { count: 1 });
        assert_eq!(toml[1].matcher.direction, DirMatch::ToServer);
        assert_eq!(toml[0], json[0]);
    }
}

//! The intercept hub shared by listeners: the ordered rules (breakpoints and rewrite rules),
//! the messages held at breakpoints, and the decisions a human makes about them.
//!
//! The relay asks [`Intercept::engaged`] (one atomic load) before anything else: with no
//! enabled rule and nothing held or rewritten on a connection, bytes take the transparent
//! path untouched.

use crate::rules::{self, Candidate, CompiledRule, Rule, Verdict};
use crate::ProxyError;
use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;
use sockscope_proto::{ConnectionId, Direction, Opcode, SessionId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How long a held message waits for a decision before it is forwarded as is.
pub const DEFAULT_HOLD_TIMEOUT: Duration = Duration::from_secs(60);
/// Bounds of the hold timeout.
pub const MIN_HOLD_TIMEOUT: Duration = Duration::from_millis(100);
pub const MAX_HOLD_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Payload bytes of a held message shown to the UI (the whole message stays in the relay).
pub const HELD_PREVIEW_CAP: usize = 1 << 20;

/// What a human decided about a held message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward it as it is (with rewrites of rules before the breakpoint).
    Forward,
    /// Forward this payload instead (same opcode, sent uncompressed).
    Edited(Bytes),
    Drop,
}

/// How a held message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Forwarded,
    Edited,
    Dropped,
    /// Nobody decided in time: forwarded as is.
    TimedOut,
    /// The connection ended while it was held: never forwarded.
    ConnectionClosed,
}

/// A message held at a breakpoint, as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldMessage {
    pub id: u64,
    /// The listener's capture session.
    pub session: SessionId,
    pub connection: ConnectionId,
    /// `client` = on its way to the server.
    pub dir: Direction,
    pub opcode: Opcode,
    /// The message (after rewrites of earlier rules): `text` when it is valid UTF-8 text,
    /// else `base64`; at most [`HELD_PREVIEW_CAP`] bytes (`truncated` then).
    pub text: Option<String>,
    pub base64: Option<String>,
    pub len: u64,
    pub truncated: bool,
    /// The message as received, when earlier rules rewrote it.
    pub original_text: Option<String>,
    pub original_base64: Option<String>,
    /// It arrived compressed (permessage-deflate); an edit is sent uncompressed.
    pub compressed: bool,
    pub rule_id: i64,
    pub rule_name: String,
    pub held_at_us: i64,
    /// When it is forwarded as is if nobody decides.
    pub deadline_us: i64,
    /// Messages of the same direction queued behind it.
    pub waiting_behind: bool,
}

/// What the hub tells its listeners (the UI, the CLI).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InterceptEvent {
    Held {
        message: HeldMessage,
    },
    Resolved {
        id: u64,
        connection: ConnectionId,
        resolution: Resolution,
    },
    /// The rules changed (list, order, enabled, counts).
    Rules,
}

/// A rule with how often it matched since it was loaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleStatus {
    #[serde(flatten)]
    pub rule: Rule,
    pub matches: u64,
}

struct HeldEntry {
    info: HeldMessage,
    decide: mpsc::UnboundedSender<(u64, Decision)>,
}

struct RuleSet {
    compiled: Vec<CompiledRule>,
    /// Matches per rule id since the last [`Intercept::take_match_counts`].
    pending: HashMap<i64, u64>,
    total: HashMap<i64, u64>,
}

/// The intercept state of one or more listeners. Cheap to share (`Arc`).
pub struct Intercept {
    engaged: AtomicBool,
    rules: RwLock<RuleSet>,
    timeout_ms: AtomicU64,
    held: Mutex<BTreeMap<u64, HeldEntry>>,
    next_id: AtomicU64,
    events: broadcast::Sender<InterceptEvent>,
}

impl std::fmt::Debug for Intercept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intercept")
            .field("engaged", &self.engaged())
            .field("hold_timeout", &self.hold_timeout())
            .finish_non_exhaustive()
    }
}

impl Default for Intercept {
    fn default() -> Self {
        Intercept {
            engaged: AtomicBool::new(false),
            rules: RwLock::new(RuleSet {
                compiled: Vec::new(),
                pending: HashMap::new(),
                total: HashMap::new(),
            }),
            timeout_ms: AtomicU64::new(DEFAULT_HOLD_TIMEOUT.as_millis() as u64),
            held: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            events: broadcast::channel(1024).0,
        }
    }
}

impl Intercept {
    pub fn new() -> Arc<Intercept> {
        Arc::new(Intercept::default())
    }

    /// True when some enabled rule exists: the relay must look at messages.
    #[inline]
    pub fn engaged(&self) -> bool {
        self.engaged.load(Ordering::Relaxed)
    }

    /// Replaces the rules (in order). Every rule is checked first; on error nothing changes.
    /// Match counts of rules whose id stays are kept.
    pub fn set_rules(&self, rules: Vec<Rule>) -> Result<(), ProxyError> {
        let compiled = rules
            .into_iter()
            .map(rules::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let engaged = compiled.iter().any(|r| r.rule.enabled);
        {
            let mut set = self.rules.write().map_err(|_| poisoned())?;
            let ids: Vec<i64> = compiled.iter().map(|r| r.rule.id).collect();
            set.total.retain(|id, _| ids.contains(id));
            set.compiled = compiled;
        }
        self.engaged.store(engaged, Ordering::Relaxed);
        let _ = self.events.send(InterceptEvent::Rules);
        Ok(())
    }

    /// Turns one rule on or off (e.g. "turn this breakpoint off" from a held message).
    pub fn set_rule_enabled(&self, id: i64, enabled: bool) -> Result<(), ProxyError> {
        let engaged = {
            let mut set = self.rules.write().map_err(|_| poisoned())?;
            let r = set
                .compiled
                .iter_mut()
                .find(|r| r.rule.id == id)
                .ok_or_else(|| ProxyError::Rule(format!("no rule {id}")))?;
            r.rule.enabled = enabled;
            set.compiled.iter().any(|r| r.rule.enabled)
        };
        self.engaged.store(engaged, Ordering::Relaxed);
        let _ = self.events.send(InterceptEvent::Rules);
        Ok(())
    }

    /// The rules in order with their match counts since loaded.
    pub fn rules(&self) -> Vec<RuleStatus> {
        let Ok(set) = self.rules.read() else {
            return Vec::new();
        };
        set.compiled
            .iter()
            .map(|r| RuleStatus {
                rule: r.rule.clone(),
                matches: set.total.get(&r.rule.id).copied().unwrap_or(0),
            })
            .collect()
    }

    /// Matches per rule id since the last call (for saving counts).
    pub fn take_match_counts(&self) -> Vec<(i64, u64)> {
        match self.rules.write() {
            Ok(mut set) => set.pending.drain().collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn hold_timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed))
    }

    /// Sets the hold timeout (100 ms – 24 h) for messages held from now on.
    pub fn set_hold_timeout(&self, d: Duration) -> Result<(), ProxyError> {
        if !(MIN_HOLD_TIMEOUT..=MAX_HOLD_TIMEOUT).contains(&d) {
            return Err(ProxyError::Rule(
                "the hold timeout is 0.1 s to 24 h".to_owned(),
            ));
        }
        self.timeout_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
        Ok(())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<InterceptEvent> {
        self.events.subscribe()
    }

    /// Messages held now, oldest first.
    pub fn held(&self) -> Vec<HeldMessage> {
        self.held
            .lock()
            .map(|m| m.values().map(|e| e.info.clone()).collect())
            .unwrap_or_default()
    }

    /// Decides about one held message.
    pub fn decide(&self, id: u64, decision: Decision) -> Result<(), ProxyError> {
        let tx = self
            .held
            .lock()
            .map_err(|_| poisoned())?
            .get(&id)
            .map(|e| e.decide.clone())
            .ok_or(ProxyError::NotHeld(id))?;
        tx.send((id, decision)).map_err(|_| ProxyError::NotHeld(id))
    }

    /// Forwards every held message as it is. Returns how many.
    pub fn forward_all(&self) -> usize {
        let all: Vec<(u64, mpsc::UnboundedSender<(u64, Decision)>)> = self
            .held
            .lock()
            .map(|m| m.iter().map(|(id, e)| (*id, e.decide.clone())).collect())
            .unwrap_or_default();
        all.into_iter()
            .filter(|(id, tx)| tx.send((*id, Decision::Forward)).is_ok())
            .count()
    }

    // ---- for the relay ----

    /// Runs the rules over a message and counts matches.
    pub(crate) fn evaluate(&self, c: &Candidate<'_>) -> Verdict {
        let verdict = match self.rules.read() {
            Ok(set) => rules::evaluate(&set.compiled, c),
            Err(_) => return Verdict::default(),
        };
        if !verdict.matched.is_empty() {
            if let Ok(mut set) = self.rules.write() {
                for id in &verdict.matched {
                    *set.pending.entry(*id).or_default() += 1;
                    *set.total.entry(*id).or_default() += 1;
                }
            }
        }
        verdict
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn register(
        &self,
        info: HeldMessage,
        decide: mpsc::UnboundedSender<(u64, Decision)>,
    ) {
        let event = InterceptEvent::Held {
            message: info.clone(),
        };
        if let Ok(mut m) = self.held.lock() {
            m.insert(info.id, HeldEntry { info, decide });
        }
        let _ = self.events.send(event);
    }

    pub(crate) fn resolved(&self, id: u64, connection: ConnectionId, resolution: Resolution) {
        if let Ok(mut m) = self.held.lock() {
            m.remove(&id);
        }
        let _ = self.events.send(InterceptEvent::Resolved {
            id,
            connection,
            resolution,
        });
    }
}

fn poisoned() -> ProxyError {
    ProxyError::Rule("intercept state poisoned".to_owned())
}

/// `text` / `base64` of a payload for [`HeldMessage`], capped.
pub(crate) fn show(payload: &[u8], opcode: Opcode) -> (Option<String>, Option<String>, bool) {
    let truncated = payload.len() > HELD_PREVIEW_CAP;
    let shown = &payload[..payload.len().min(HELD_PREVIEW_CAP)];
    if opcode == Opcode::Text {
        if let Ok(t) = std::str::from_utf8(shown) {
            return (Some(t.to_owned()), None, truncated);
        }
    }
    (
        None,
        Some(base64::engine::general_purpose::STANDARD.encode(shown)),
        truncated,
    )
}

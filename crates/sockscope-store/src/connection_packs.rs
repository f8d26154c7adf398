//! The per-connection index's storage (`connection_packs`) and the SQL table that reads it
//! (`sockscope_connection_frames`), see `connection_index.rs` for why it is packed.
//!
//! A pack is one row per connection and catch-up (at most [`PACK_MAX`] frames): the
//! connection's frames that catch-up found, as `(seq, id)` pairs in seq order. The first pair
//! is in the columns `first_seq` and `first_id`; `data` holds the others as two LEB128
//! varints each, the seq step minus one and the id step zigzag-encoded. A connection's packs
//! do not overlap in seq: catch-up goes through `frames` by id, and within a session seq grows
//! with id (see `connection_index::Parts::in_order`).
//!
//! `sockscope_connection_frames` is an eponymous virtual table with the columns `frame_seq`
//! and `frame_id` and the hidden `conn_id`, which a query must constrain with `=`. It reads
//! only the packs it needs: conditions on `frame_seq` (`>`, `>=`, `<`, `<=`, `=`) pick the
//! first pack, and it hands out rows in `frame_seq` order, ascending or descending, so an
//! `ORDER BY frame_seq … LIMIT` stops after a few packs. SQLite checks the `frame_seq`
//! conditions again (they are not omitted), so the bounds here only have to be generous.
//!
//! This is the store's only `unsafe` code: rusqlite's virtual-table traits are `unsafe` to
//! implement (the structs must be `repr(C)` with SQLite's base struct first, as they are), and
//! the table reads the packs through a second, non-owning `Connection` on SQLite's handle.
//! That connection never caches a statement: the statements live in the cursors, which SQLite
//! closes when the query that opened them is reset or finalized, so none is left when the
//! owning connection closes (an unfinalized statement would keep the database open).
#![allow(unsafe_code)]

use std::borrow::Cow;
use std::ffi::{c_int, CStr};

use rusqlite::types::Value;
use rusqlite::vtab::{
    Context, Filters, IndexConstraintOp, IndexInfo, Module, VTab, VTabConfig, VTabConnection,
    VTabCursor,
};
use rusqlite::{ffi, params, Connection, OptionalExtension, Statement};

use crate::StoreError;

/// Frames per pack at most: a connection's frames in one catch-up are cut into packs of this
/// many. Bounds what a read of a few frames decodes (about 8 KiB of `data`).
pub(crate) const PACK_MAX: usize = 4096;

const MODULE_NAME: &CStr = c"sockscope_connection_frames";

/// Registers `sockscope_connection_frames` on `c` (every connection of the store has it).
pub(crate) fn register(c: &Connection) -> rusqlite::Result<()> {
    const MODULE: Module<'static, FramesTab> = Module::eponymous_only_module();
    c.create_module(MODULE_NAME, &MODULE, None)
}

/// Appends `entries` (sorted by seq, seqs distinct) as packs of connection `conn`.
pub(crate) fn insert(
    c: &Connection,
    conn: i64,
    entries: &[(i64, i64)],
    buf: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let mut stmt = c.prepare_cached(
        "INSERT OR IGNORE INTO connection_packs (conn_id, first_seq, last_seq, first_id, n, data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for pack in entries.chunks(PACK_MAX) {
        let (Some(first), Some(last)) = (pack.first(), pack.last()) else {
            continue;
        };
        encode(pack, buf);
        stmt.execute(params![
            conn,
            first.0,
            last.0,
            first.1,
            pack.len() as i64,
            &buf[..]
        ])?;
    }
    Ok(())
}

/// The steps between `entries` (after the first) into `out`, which is cleared first.
fn encode(entries: &[(i64, i64)], out: &mut Vec<u8>) {
    out.clear();
    for w in entries.windows(2) {
        let seq_step = w[1].0.wrapping_sub(w[0].0).wrapping_sub(1) as u64;
        let id_step = w[1].1.wrapping_sub(w[0].1);
        put_varint(out, seq_step);
        put_varint(out, ((id_step << 1) ^ (id_step >> 63)) as u64);
    }
}

fn put_varint(out: &mut Vec<u8>, mut x: u64) {
    loop {
        let b = (x & 0x7f) as u8;
        x >>= 7;
        if x == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn get_varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut x = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*at)?;
        *at += 1;
        x |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(x);
        }
    }
    None
}

/// A pack's `n` pairs into `out` (cleared first); `None` when `data` does not hold them in
/// strictly increasing seq order (a damaged file).
fn decode(first: (i64, i64), n: i64, data: &[u8], out: &mut Vec<(i64, i64)>) -> Option<()> {
    out.clear();
    let n = usize::try_from(n)
        .ok()
        .filter(|n| (1..=PACK_MAX).contains(n))?;
    out.push(first);
    let (mut seq, mut id) = first;
    let mut at = 0;
    for _ in 1..n {
        let seq_step = get_varint(data, &mut at)?;
        let zz = get_varint(data, &mut at)?;
        let id_step = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
        seq = seq
            .checked_add(i64::try_from(seq_step).ok()?)?
            .checked_add(1)?;
        id = id.wrapping_add(id_step);
        out.push((seq, id));
    }
    (at == data.len()).then_some(())
}

/// How many frames of connection `conn` in its packs have `seq <= max_seq`: the packs wholly
/// below from their counts, the one across it decoded.
pub(crate) fn count_upto(c: &Connection, conn: i64, max_seq: i64) -> Result<i64, StoreError> {
    let whole: i64 = c
        .prepare_cached(
            "SELECT COALESCE(SUM(n), 0) FROM connection_packs \
             WHERE conn_id = ?1 AND first_seq <= ?2 AND last_seq <= ?2",
        )?
        .query_row(params![conn, max_seq], |r| r.get(0))?;
    let across = c
        .prepare_cached(
            "SELECT first_seq, first_id, n, data FROM connection_packs \
             WHERE conn_id = ?1 AND first_seq <= ?2 AND last_seq > ?2",
        )?
        .query_row(params![conn, max_seq], |r| {
            Ok(((r.get(0)?, r.get(1)?), r.get(2)?, r.get::<_, Vec<u8>>(3)?))
        })
        .optional()?;
    let mut part = 0;
    if let Some((first, n, data)) = across {
        let mut out = Vec::new();
        decode(first, n, &data, &mut out).ok_or_else(damaged)?;
        part = out.iter().take_while(|(seq, _)| *seq <= max_seq).count() as i64;
    }
    Ok(whole + part)
}

fn damaged() -> StoreError {
    StoreError::Corrupt("the per-connection index has a damaged pack".into())
}

// ---- the virtual table ----

const COL_SEQ: c_int = 0;
const COL_ID: c_int = 1;
const COL_CONN: c_int = 2;

/// `idx_num` bits: which arguments follow `conn_id`, and the order.
const HAS_LOWER: c_int = 1;
const LOWER_EXCLUSIVE: c_int = 2;
const HAS_UPPER: c_int = 4;
const UPPER_EXCLUSIVE: c_int = 8;
const HAS_EQ: c_int = 16;
const DESC: c_int = 32;

#[repr(C)]
struct FramesTab {
    /// SQLite's part; must come first.
    base: ffi::sqlite3_vtab,
    /// The connection the table lives on, not owned (see the module's comment).
    db: Connection,
}

// SAFETY: `FramesTab` is `repr(C)` with `sqlite3_vtab` first, as rusqlite requires.
unsafe impl<'vtab> VTab<'vtab> for FramesTab {
    type Aux = ();
    type Cursor = FramesCursor<'vtab>;

    fn connect(
        db: &mut VTabConnection,
        _aux: Option<&()>,
        _module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> rusqlite::Result<(Cow<'static, CStr>, Self)> {
        db.config(VTabConfig::Innocuous)?;
        // SAFETY: the handle is the connection this table is connected to; it outlives the
        // table (SQLite disconnects eponymous tables when the connection closes), and the
        // non-owning `Connection` never closes it.
        let conn = unsafe { Connection::from_handle(db.handle()) }?;
        Ok((
            Cow::Borrowed(c"CREATE TABLE x(frame_seq INTEGER, frame_id INTEGER, conn_id HIDDEN)"),
            FramesTab {
                base: ffi::sqlite3_vtab::default(),
                db: conn,
            },
        ))
    }

    fn best_index(&self, info: &mut IndexInfo) -> rusqlite::Result<bool> {
        let mut conn = None;
        let mut lower = None;
        let mut upper = None;
        let mut eq = None;
        for (i, c) in info.constraints().enumerate() {
            if !c.is_usable() {
                continue;
            }
            match (c.column(), c.operator()) {
                (COL_CONN, IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_EQ) => conn = Some(i),
                (COL_SEQ, IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_EQ) => eq = Some(i),
                (COL_SEQ, IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_GT) if lower.is_none() => {
                    lower = Some((i, LOWER_EXCLUSIVE))
                }
                (COL_SEQ, IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_GE) if lower.is_none() => {
                    lower = Some((i, 0))
                }
                (COL_SEQ, IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_LT) if upper.is_none() => {
                    upper = Some((i, UPPER_EXCLUSIVE))
                }
                (COL_SEQ, IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_LE) if upper.is_none() => {
                    upper = Some((i, 0))
                }
                _ => {}
            }
        }
        // Without a connection the table has nothing to read.
        let Some(conn) = conn else {
            return Ok(false);
        };
        let mut plan = 0;
        let mut argv = 1;
        let mut usage = info.constraint_usage(conn);
        usage.set_argv_index(argv);
        usage.set_omit(true);
        let mut cost = 100_000.0;
        let mut bound = |i: usize, bits: c_int, plan: &mut c_int, divide: f64| {
            argv += 1;
            let mut usage = info.constraint_usage(i);
            usage.set_argv_index(argv);
            *plan |= bits;
            cost /= divide;
        };
        if let Some(i) = eq {
            bound(i, HAS_EQ, &mut plan, 10_000.0);
        } else {
            if let Some((i, bits)) = lower {
                bound(i, HAS_LOWER | bits, &mut plan, 4.0);
            }
            if let Some((i, bits)) = upper {
                bound(i, HAS_UPPER | bits, &mut plan, 4.0);
            }
        }
        let mut order = info.order_bys();
        if let (Some(o), None) = (order.next(), order.next()) {
            if o.column() == COL_SEQ {
                if o.is_order_by_desc() {
                    plan |= DESC;
                }
                info.set_order_by_consumed(true);
            }
        }
        info.set_idx_num(plan);
        info.set_estimated_cost(cost);
        info.set_estimated_rows(cost as i64);
        Ok(true)
    }

    fn open(&'vtab mut self) -> rusqlite::Result<FramesCursor<'vtab>> {
        Ok(FramesCursor {
            base: ffi::sqlite3_vtab_cursor::default(),
            db: &self.db,
            at_or_before: None,
            after: None,
            before: None,
            conn: 0,
            lower: i64::MIN,
            upper: i64::MAX,
            desc: false,
            pack_first: None,
            pack: Vec::new(),
            pos: 0,
            eof: true,
        })
    }
}

/// A pack as read: `(first_seq, last_seq, first_id, n, data)`.
type PackRow = (i64, i64, i64, i64, Vec<u8>);

#[repr(C)]
struct FramesCursor<'vtab> {
    /// SQLite's part; must come first.
    base: ffi::sqlite3_vtab_cursor,
    db: &'vtab Connection,
    /// The pack that starts at or before a seq, the first after one, the last before one:
    /// prepared when first needed, finalized with the cursor.
    at_or_before: Option<Statement<'vtab>>,
    after: Option<Statement<'vtab>>,
    before: Option<Statement<'vtab>>,
    conn: i64,
    /// The seqs asked for, both inclusive.
    lower: i64,
    upper: i64,
    desc: bool,
    /// `first_seq` of the pack in `pack`, `None` before the first.
    pack_first: Option<i64>,
    pack: Vec<(i64, i64)>,
    /// The current entry of `pack`.
    pos: usize,
    eof: bool,
}

/// The pack that starts at or before a seq, the first after one, the last before one.
const AT_OR_BEFORE: &str = "SELECT first_seq, last_seq, first_id, n, data FROM connection_packs \
     WHERE conn_id = ?1 AND first_seq <= ?2 ORDER BY first_seq DESC LIMIT 1";
const AFTER: &str = "SELECT first_seq, last_seq, first_id, n, data FROM connection_packs \
     WHERE conn_id = ?1 AND first_seq > ?2 ORDER BY first_seq LIMIT 1";
const BEFORE: &str = "SELECT first_seq, last_seq, first_id, n, data FROM connection_packs \
     WHERE conn_id = ?1 AND first_seq < ?2 ORDER BY first_seq DESC LIMIT 1";

impl<'vtab> FramesCursor<'vtab> {
    fn fetch(
        db: &'vtab Connection,
        slot: &mut Option<Statement<'vtab>>,
        sql: &str,
        conn: i64,
        seq: i64,
    ) -> rusqlite::Result<Option<PackRow>> {
        let stmt = match slot {
            Some(stmt) => stmt,
            None => slot.insert(db.prepare(sql)?),
        };
        stmt.query_row(params![conn, seq], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()
    }

    fn at_or_before(&mut self, seq: i64) -> rusqlite::Result<Option<PackRow>> {
        Self::fetch(
            self.db,
            &mut self.at_or_before,
            AT_OR_BEFORE,
            self.conn,
            seq,
        )
    }

    fn after(&mut self, seq: i64) -> rusqlite::Result<Option<PackRow>> {
        Self::fetch(self.db, &mut self.after, AFTER, self.conn, seq)
    }

    fn before(&mut self, seq: i64) -> rusqlite::Result<Option<PackRow>> {
        Self::fetch(self.db, &mut self.before, BEFORE, self.conn, seq)
    }

    /// The next pack in the cursor's order that may hold a wanted seq, decoded into `pack`
    /// with `pos` on its first wanted entry; `eof` when there is none.
    fn next_pack(&mut self) -> rusqlite::Result<()> {
        loop {
            let row = match (self.pack_first, self.desc) {
                (None, false) => match self.at_or_before(self.lower)? {
                    Some(p) if p.1 >= self.lower => Some(p),
                    _ => self.after(self.lower)?,
                },
                (Some(first), false) => self.after(first)?,
                (None, true) => self.at_or_before(self.upper)?,
                (Some(first), true) => self.before(first)?,
            };
            let Some((first_seq, last_seq, first_id, n, data)) = row else {
                self.eof = true;
                return Ok(());
            };
            if (!self.desc && first_seq > self.upper) || (self.desc && last_seq < self.lower) {
                self.eof = true;
                return Ok(());
            }
            self.pack_first = Some(first_seq);
            decode((first_seq, first_id), n, &data, &mut self.pack)
                .ok_or_else(|| rusqlite::Error::ModuleError(damaged().to_string()))?;
            let (lower, upper) = (self.lower, self.upper);
            if self.desc {
                let end = self.pack.partition_point(|(seq, _)| *seq <= upper);
                if end > 0 && self.pack[end - 1].0 >= lower {
                    self.pos = end - 1;
                    return Ok(());
                }
            } else {
                let start = self.pack.partition_point(|(seq, _)| *seq < lower);
                if self.pack.get(start).is_some_and(|(seq, _)| *seq <= upper) {
                    self.pos = start;
                    return Ok(());
                }
            }
            // Nothing wanted in this pack (the bounds fall between its seqs): the next.
        }
    }

    fn current(&self) -> Option<(i64, i64)> {
        self.pack.get(self.pos).copied()
    }
}

/// A bound from an SQL value, for a query on an integer column: `None` when no row can match
/// (NULL). Text and blobs sort after every number, reals are rounded outwards: the bound is
/// then wider than asked, and SQLite's own check of the condition does the rest.
fn bound(v: &Value, lower: bool, exclusive: bool) -> Option<i64> {
    match v {
        Value::Null => None,
        Value::Integer(i) => Some(match (lower, exclusive) {
            (true, true) => i.saturating_add(1),
            (false, true) => i.saturating_sub(1),
            _ => *i,
        }),
        // `as` saturates (NaN gives 0: SQLite's check decides).
        Value::Real(f) if lower => Some(f.floor() as i64),
        Value::Real(f) => Some(f.ceil() as i64),
        // Above every integer: a lower bound no seq reaches, an upper bound none passes.
        Value::Text(_) | Value::Blob(_) => Some(i64::MAX),
    }
}

// SAFETY: `FramesCursor` is `repr(C)` with `sqlite3_vtab_cursor` first, as rusqlite requires.
unsafe impl VTabCursor for FramesCursor<'_> {
    fn filter(
        &mut self,
        idx_num: c_int,
        _idx_str: Option<&str>,
        args: &Filters<'_>,
    ) -> rusqlite::Result<()> {
        self.eof = true;
        self.pack_first = None;
        self.pack.clear();
        self.desc = idx_num & DESC != 0;
        self.lower = i64::MIN;
        self.upper = i64::MAX;
        let mut at = 0;
        let mut next = || {
            at += 1;
            args.get::<Value>(at - 1).unwrap_or(Value::Null)
        };
        match next() {
            Value::Integer(c) => self.conn = c,
            // No connection has any other id.
            _ => return Ok(()),
        }
        if idx_num & HAS_EQ != 0 {
            let v = next();
            match (bound(&v, true, false), bound(&v, false, false)) {
                (Some(lo), Some(hi)) => (self.lower, self.upper) = (lo, hi),
                _ => return Ok(()),
            }
        }
        if idx_num & HAS_LOWER != 0 {
            let v = next();
            match bound(&v, true, idx_num & LOWER_EXCLUSIVE != 0) {
                Some(lo) => self.lower = lo,
                None => return Ok(()),
            }
        }
        if idx_num & HAS_UPPER != 0 {
            let v = next();
            match bound(&v, false, idx_num & UPPER_EXCLUSIVE != 0) {
                Some(hi) => self.upper = hi,
                None => return Ok(()),
            }
        }
        if self.lower > self.upper {
            return Ok(());
        }
        self.eof = false;
        self.next_pack()
    }

    fn next(&mut self) -> rusqlite::Result<()> {
        let more = if self.desc {
            match self.pos.checked_sub(1) {
                Some(p) => {
                    self.pos = p;
                    true
                }
                None => false,
            }
        } else {
            self.pos += 1;
            self.pos < self.pack.len()
        };
        match self.current() {
            Some((seq, _)) if more && (self.lower..=self.upper).contains(&seq) => Ok(()),
            // Past the bounds within this pack: packs do not overlap, so past them for good.
            Some(_) if more => {
                self.eof = true;
                Ok(())
            }
            _ => self.next_pack(),
        }
    }

    fn eof(&self) -> bool {
        self.eof
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> rusqlite::Result<()> {
        let (seq, id) = self.current().unwrap_or((0, 0));
        match i {
            COL_SEQ => ctx.set_result(seq),
            COL_ID => ctx.set_result(id),
            _ => ctx.set_result(self.conn),
        }
    }

    fn rowid(&self) -> rusqlite::Result<i64> {
        Ok(self.current().map_or(0, |(_, id)| id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(entries: &[(i64, Vec<(i64, i64)>)]) -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE connection_packs (conn_id INTEGER NOT NULL, first_seq INTEGER NOT NULL, \
             last_seq INTEGER NOT NULL, first_id INTEGER NOT NULL, n INTEGER NOT NULL, \
             data BLOB NOT NULL, PRIMARY KEY (conn_id, first_seq)) WITHOUT ROWID",
        )
        .unwrap();
        register(&c).unwrap();
        let mut buf = Vec::new();
        for (conn, e) in entries {
            insert(&c, *conn, e, &mut buf).unwrap();
        }
        c
    }

    fn rows(c: &Connection, sql: &str) -> Vec<(i64, i64)> {
        let mut s = c.prepare(sql).unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn packs_round_trip_with_any_steps() {
        let entries = vec![
            (1, 10),
            (2, 11),
            (5, 9),
            (1_000_000, 1 << 40),
            (i64::MAX, -3),
        ];
        let mut buf = Vec::new();
        encode(&entries, &mut buf);
        let mut out = Vec::new();
        decode(entries[0], entries.len() as i64, &buf, &mut out).unwrap();
        assert_eq!(out, entries);
        // Damage is found, not trusted.
        assert!(decode(entries[0], entries.len() as i64 + 1, &buf, &mut out).is_none());
        assert!(decode(
            entries[0],
            entries.len() as i64,
            &buf[..buf.len() - 1],
            &mut out
        )
        .is_none());
        assert!(decode(entries[0], 0, &buf, &mut out).is_none());
        let mut long = buf.clone();
        long.push(0);
        assert!(decode(entries[0], entries.len() as i64, &long, &mut out).is_none());
    }

    /// Every kind of bound and order against a plain filter of the same entries.
    #[test]
    fn the_table_answers_like_a_filter() {
        // Connection 7: seqs 1, 4, 7, …, cut into packs of PACK_MAX; connection 8 beside it.
        let seven: Vec<(i64, i64)> = (0..10_000).map(|i| (1 + 3 * i, 100 + 2 * i)).collect();
        let eight: Vec<(i64, i64)> = (0..50).map(|i| (2 + 3 * i, 101 + 2 * i)).collect();
        let c = db(&[(7, seven.clone()), (8, eight)]);
        let packs: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM connection_packs WHERE conn_id = 7",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(packs, 3);
        let all = "SELECT frame_seq, frame_id FROM sockscope_connection_frames WHERE conn_id = 7";
        assert_eq!(rows(&c, all), seven);
        let edges = [
            -5, 0, 1, 2, 3, 4, 12_286, 12_287, 12_288, 12_289, 24_577, 29_998, 30_000,
        ];
        for op in [">", ">=", "<", "<=", "="] {
            for v in edges {
                for desc in [false, true] {
                    let sql = format!(
                        "{all} AND frame_seq {op} {v} ORDER BY frame_seq{}",
                        if desc { " DESC" } else { "" }
                    );
                    let mut want: Vec<(i64, i64)> = seven
                        .iter()
                        .copied()
                        .filter(|(s, _)| match op {
                            ">" => *s > v,
                            ">=" => *s >= v,
                            "<" => *s < v,
                            "<=" => *s <= v,
                            _ => *s == v,
                        })
                        .collect();
                    if desc {
                        want.reverse();
                    }
                    assert_eq!(rows(&c, &sql), want, "{sql}");
                }
            }
        }
        let range = format!(
            "{all} AND frame_seq > 12000 AND frame_seq <= 12300 ORDER BY frame_seq DESC LIMIT 3"
        );
        assert_eq!(
            rows(&c, &range),
            vec![(12_298, 8298), (12_295, 8296), (12_292, 8294)]
        );
        // Values of other types: SQLite's rules, not an error.
        assert_eq!(
            rows(&c, &format!("{all} AND frame_seq > 29995.5")),
            vec![(29_998, 20_098)]
        );
        assert_eq!(
            rows(&c, &format!("{all} AND frame_seq < 'x'")).len(),
            seven.len()
        );
        assert!(rows(&c, &format!("{all} AND frame_seq > 'x'")).is_empty());
        assert!(rows(&c, &format!("{all} AND frame_seq > NULL")).is_empty());
        assert!(rows(
            &c,
            "SELECT frame_seq, frame_id FROM sockscope_connection_frames WHERE conn_id = 9"
        )
        .is_empty());
        assert!(rows(
            &c,
            "SELECT frame_seq, frame_id FROM sockscope_connection_frames WHERE conn_id = 'a'"
        )
        .is_empty());
        assert!(c
            .prepare("SELECT * FROM sockscope_connection_frames")
            .is_err());
        assert_eq!(count_upto(&c, 7, 12_288).unwrap(), 4096);
        assert_eq!(count_upto(&c, 7, 12_289).unwrap(), 4097);
        assert_eq!(count_upto(&c, 7, 0).unwrap(), 0);
        assert_eq!(count_upto(&c, 7, i64::MAX).unwrap(), 10_000);
    }

    #[test]
    fn a_damaged_pack_is_an_error() {
        let c = db(&[(7, (0..10).map(|i| (i + 1, i + 1)).collect())]);
        c.execute("UPDATE connection_packs SET data = x'ff'", [])
            .unwrap();
        let mut s = c
            .prepare("SELECT frame_seq FROM sockscope_connection_frames WHERE conn_id = 7")
            .unwrap();
        let r: Result<Vec<i64>, _> = s.query_map([], |r| r.get(0)).unwrap().collect();
        assert!(r.is_err());
        assert!(count_upto(&c, 7, 5).is_err());
    }
}

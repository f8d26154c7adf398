import { describe, expect, it } from 'vitest';
import type { ConnectionInfo, FrameSummary } from '../ipc/types';
import {
  closeCodeName,
  connectionStateText,
  flagWords,
  frameFlags,
  frameSize,
  isFragment,
  formatBytes,
  formatClock,
  formatDuration,
  formatRelative,
  framePreview,
  hexDump,
  isValidUtf8,
  opcodeLabel,
  parseClosePayload,
  payloadView,
  singleLine,
  utf8Length,
} from './format';

function frame(p: Partial<FrameSummary>): FrameSummary {
  return {
    seq: 1,
    connection: 1,
    ts_us: 0,
    dir: 'server',
    opcode: 'text',
    fin: true,
    rsv1: false,
    len: 0,
    injected: false,
    masked: false,
    truncated: false,
    invalid: false,
    note: null,
    inflated_len: null,
    preview: '',
    close_code: null,
    close_reason: null,
    ...p,
  };
}

function conn(p: Partial<ConnectionInfo>): ConnectionInfo {
  return {
    id: 1,
    session_id: 1,
    url: 'ws://127.0.0.1:9/',
    state: 'connecting',
    opened_at_us: null,
    closed_at_us: null,
    close_code: null,
    close_reason: null,
    closed_by: null,
    error: null,
    response_status: null,
    ...p,
  };
}

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 - 1, '10 KiB'],
    [12 * 1024 + 300, '12 KiB'],
    [1024 * 1024, '1 MiB'],
    [3.25 * 1024 * 1024, '3.3 MiB'],
    [5 * 1024 ** 3, '5 GiB'],
  ])('%d bytes -> %s', (n, want) => {
    expect(formatBytes(n)).toBe(want);
  });
  it('rejects nonsense', () => {
    expect(formatBytes(-1)).toBe('–');
    expect(formatBytes(Number.NaN)).toBe('–');
  });
});

describe('formatClock', () => {
  it('prints local HH:MM:SS.mmm from unix microseconds', () => {
    const d = new Date(2026, 10, 26, 9, 5, 7, 42); // local time
    const us = d.getTime() * 1000 + 999; // sub-millisecond part is truncated
    expect(formatClock(us)).toBe('09:05:07.042');
  });
  it('pads every field', () => {
    const d = new Date(2026, 0, 1, 0, 0, 0, 0);
    expect(formatClock(d.getTime() * 1000)).toBe('00:00:00.000');
  });
});

describe('formatDuration / formatRelative', () => {
  it('formats durations compactly', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(42_900)).toBe('42s');
    expect(formatDuration(185_000)).toBe('3m 05s');
    expect(formatDuration(3_720_000)).toBe('1h 02m');
    expect(formatDuration(-5)).toBe('0s');
  });
  it('formats relative times', () => {
    const now = Date.UTC(2026, 10, 26, 12, 0, 0);
    expect(formatRelative(new Date(now - 10_000), now)).toBe('just now');
    expect(formatRelative(new Date(now - 5 * 60_000), now)).toBe('5 min ago');
    expect(formatRelative(new Date(now - 3 * 3_600_000), now)).toBe('3 h ago');
    expect(formatRelative(new Date(now - 2 * 86_400_000), now)).toBe('2 d ago');
    expect(formatRelative(new Date('garbage'), now)).toBe('–');
  });
});

describe('previews', () => {
  it('keeps text previews on one line', () => {
    expect(singleLine('a\nb\r\n\tc\td')).toBe('a b c d');
    expect(singleLine('x\u0000y')).toBe('x\u00b7y');
    expect(framePreview(frame({ preview: '{"a":\n 1}' }))).toBe('{"a": 1}');
  });
  it('shows close frames as "code reason"', () => {
    expect(framePreview(frame({ opcode: 'close', close_code: 1000, close_reason: 'bye' }))).toBe('1000 bye');
    expect(framePreview(frame({ opcode: 'close', close_code: 1001, close_reason: null }))).toBe('1001');
    expect(framePreview(frame({ opcode: 'close' }))).toBe('(no status code)');
  });
  it('labels opcodes and close codes', () => {
    expect(opcodeLabel('continuation')).toBe('cont');
    expect(opcodeLabel('binary')).toBe('binary');
    expect(closeCodeName(1000)).toBe('Normal Closure');
    expect(closeCodeName(4001)).toBe('Private use');
    expect(closeCodeName(null)).toBe('');
  });
});

describe('connectionStateText', () => {
  it('gives an imported connection left open no running uptime', () => {
    const now = 1_000_000;
    const open = conn({ state: 'open', opened_at_us: (now - 65_000) * 1000 });
    expect(connectionStateText(open, now, true)).toBe('Open when recorded');
    expect(connectionStateText(conn({ state: 'connecting' }), now, true)).toBe('Connecting when recorded');
    expect(connectionStateText(conn({ state: 'closed', close_code: 1000 }), now, true)).toBe('Closed 1000');
  });
  it('describes each state', () => {
    const now = 1_000_000;
    expect(connectionStateText(conn({ state: 'connecting' }), now)).toBe('Connecting…');
    expect(
      connectionStateText(conn({ state: 'open', opened_at_us: (now - 65_000) * 1000 }), now),
    ).toBe('Open · 1m 05s');
    expect(
      connectionStateText(
        conn({ state: 'closed', close_code: 1000, close_reason: 'bye', closed_by: 'server' }),
        now,
      ),
    ).toBe('Closed 1000 · bye · by server');
    expect(connectionStateText(conn({ state: 'closed', closed_by: 'client' }), now)).toBe(
      'Closed · by client',
    );
    expect(
      connectionStateText(conn({ state: 'failed', error: 'connection refused' }), now),
    ).toBe('Failed · connection refused');
  });
});

describe('payloads', () => {
  const enc = new TextEncoder();

  it('dumps hex with offsets, two groups of eight and ASCII', () => {
    const bytes = enc.encode('Hello, WebSocket!\n');
    const lines = hexDump(bytes).split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(
      '00000000  48 65 6c 6c 6f 2c 20 57  65 62 53 6f 63 6b 65 74  |Hello, WebSocket|',
    );
    expect(lines[1].startsWith('00000010  21 0a ')).toBe(true);
    expect(lines[1].endsWith('|!.|')).toBe(true);
    // ASCII column starts at the same place on a short last line
    expect(lines[1].indexOf('|')).toBe(lines[0].indexOf('|'));
  });

  it('dumps 8 bytes a line for narrow panes', () => {
    const lines = hexDump(enc.encode('0123456789'), 1024, 8).split('\n');
    expect(lines).toEqual(['00000000  30 31 32 33 34 35 36 37  |01234567|', '00000008  38 39                    |89|']);
  });

  it('limits the hex dump', () => {
    const bytes = new Uint8Array(100);
    expect(hexDump(bytes, 32).split('\n')).toHaveLength(2);
  });

  it('detects invalid UTF-8', () => {
    expect(isValidUtf8(enc.encode('héllo ✓'))).toBe(true);
    expect(isValidUtf8(new Uint8Array([0xc3, 0x28]))).toBe(false);
  });

  it('chooses text or hex', () => {
    const text = enc.encode('{"ok":true}');
    expect(payloadView(text, 'text')).toEqual({ mode: 'text', text: '{"ok":true}', truncated: false });
    expect(payloadView(text, 'binary').mode).toBe('hex');
    expect(payloadView(text, 'binary', 'text').mode).toBe('text');
    expect(payloadView(new Uint8Array([0xff, 0xfe, 0x00]), 'text').mode).toBe('hex');
    expect(payloadView(new Uint8Array(0), 'ping')).toEqual({ mode: 'empty' });
    // A forced text view of invalid bytes decodes leniently.
    const v = payloadView(new Uint8Array([0x61, 0xff]), 'binary', 'text');
    expect(v).toEqual({ mode: 'text', text: 'a\ufffd', truncated: false });
  });

  it('parses close payloads', () => {
    const b = new Uint8Array([0x03, 0xe8, ...enc.encode('bye')]);
    expect(parseClosePayload(b)).toEqual({ code: 1000, reason: 'bye' });
    expect(parseClosePayload(new Uint8Array(0))).toEqual({ code: null, reason: '' });
  });

  it('measures UTF-8 length', () => {
    expect(utf8Length('é✓')).toBe(5);
  });
});

describe('frame flags', () => {
  const keys = (f: FrameSummary) => frameFlags(f).map((x) => x.label);

  it('a plain frame has none', () => {
    expect(frameFlags(frame({}))).toEqual([]);
    expect(flagWords(frame({}))).toEqual([]);
  });

  it('fragments: FIN clear, or a continuation frame', () => {
    expect(isFragment({ fin: false, opcode: 'text' })).toBe(true);
    expect(isFragment({ fin: true, opcode: 'continuation' })).toBe(true);
    expect(isFragment({ fin: true, opcode: 'binary' })).toBe(false);
    expect(keys(frame({ fin: false }))).toEqual(['frag']);
    expect(frameFlags(frame({ fin: false }))[0].title).toMatch(/first frame \(FIN = 0\)/);
    expect(frameFlags(frame({ opcode: 'continuation', fin: false }))[0].title).toMatch(/continuation frame \(FIN = 0\)/);
    expect(frameFlags(frame({ opcode: 'continuation' }))[0].title).toMatch(/final continuation/);
  });

  it('each flag has its badge, most important first', () => {
    expect(keys(frame({ rsv1: true }))).toEqual(['z']);
    expect(keys(frame({ injected: true }))).toEqual(['inj']);
    expect(keys(frame({ truncated: true }))).toEqual(['cut']);
    expect(keys(frame({ invalid: true }))).toEqual(['!']);
    expect(
      keys(frame({ fin: false, rsv1: true, injected: true, truncated: true, invalid: true })),
    ).toEqual(['!', 'cut', 'inj', 'z', 'frag']);
  });

  it('the invalid badge tooltip is the note, on one line', () => {
    const f = frame({ invalid: true, note: 'server frame is masked\n(RFC 6455 5.1)' });
    expect(frameFlags(f)[0]).toMatchObject({ key: 'invalid', title: 'server frame is masked (RFC 6455 5.1)' });
    expect(frameFlags(frame({ invalid: true }))[0].title).toBe('Invalid frame');
  });

  it('tolerates summaries without the new fields (an older shell)', () => {
    const old = frame({}) as unknown as Record<string, unknown>;
    for (const k of ['masked', 'truncated', 'invalid', 'note', 'inflated_len']) delete old[k];
    expect(frameFlags(old as unknown as FrameSummary)).toEqual([]);
    expect(frameSize(old as unknown as FrameSummary).text).toBe('0 B');
  });

  it('words for the detail header include masked', () => {
    expect(flagWords(frame({ rsv1: true, masked: true, injected: true }))).toEqual([
      'injected',
      'compressed',
      'masked',
    ]);
    expect(flagWords(frame({ opcode: 'continuation' }))).toEqual(['final fragment']);
  });
});

describe('frameSize', () => {
  it('is the wire size without inflation', () => {
    expect(frameSize({ len: 35, inflated_len: null })).toEqual({
      text: '35 B',
      wire: '35 B',
      inflated: null,
      title: '35 bytes',
    });
  });

  it('shows wire → inflated for a compressed message', () => {
    const s = frameSize({ len: 35, inflated_len: 1234 });
    expect(s.text).toBe('35 B → 1.2 KiB');
    expect(s.inflated).toBe('1.2 KiB');
    expect(s.title).toBe('35 bytes on the wire → 1,234 bytes inflated');
    expect(frameSize({ len: 2048, inflated_len: 0 }).text).toBe('2 KiB → 0 B');
  });
});


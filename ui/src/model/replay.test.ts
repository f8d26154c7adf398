import { describe, expect, it } from 'vitest';
import {
  checkSpeed,
  isFinalState,
  looksLoopback,
  mockArgs,
  progressPercent,
  progressText,
  remoteConfirmText,
  replayArgs,
  urlHost,
  type ReplayForm,
} from './replay';
import { rowsFromHeaders } from './headers';

describe('loopback pre-check (display only)', () => {
  it('recognises this machine', () => {
    for (const u of ['ws://127.0.0.1:9000/', 'ws://localhost/x', 'wss://LOCALHOST.:443', 'ws://127.5.6.7', 'ws://[::1]:80/', 'ws://[::ffff:127.0.0.1]/']) {
      expect(looksLoopback(u), u).toBe(true);
    }
  });
  it('treats everything else as remote', () => {
    for (const u of ['wss://example.com/feed', 'ws://10.0.0.1/', 'ws://[::2]/', 'ws://localhost.example.com/', 'nonsense', '', 'ws://128.0.0.1']) {
      expect(looksLoopback(u), u).toBe(false);
    }
  });
  it('names the host', () => {
    expect(urlHost('wss://stream.example.test:8443/v2?x=1')).toBe('stream.example.test');
    expect(urlHost('ws://[::1]:80/')).toBe('[::1]');
    expect(urlHost('not a url')).toBeNull();
    expect(remoteConfirmText(26, 'example.com')).toBe('Send 26 recorded messages to example.com?');
    expect(remoteConfirmText(1, 'h')).toBe('Send 1 recorded message to h?');
  });
});

describe('replay form', () => {
  const form = (p: Partial<ReplayForm> = {}): ReplayForm => ({
    sessionId: 1,
    connectionId: 4,
    url: ' ws://127.0.0.1:9000/feed ',
    mode: 'timed',
    speed: '2',
    timeout: '10',
    headers: rowsFromHeaders([['Origin', 'https://x.test']]),
    ...p,
  });

  it('builds start_replay arguments per mode', () => {
    expect(replayArgs(form())).toEqual({
      ok: true,
      args: { sessionId: 1, connectionId: 4, url: 'ws://127.0.0.1:9000/feed', mode: 'timed', speed: 2, headers: [['Origin', 'https://x.test']] },
    });
    expect(replayArgs(form({ mode: 'max', speed: 'junk' }))).toMatchObject({ ok: true, args: { mode: 'max' } });
    const conv = replayArgs(form({ mode: 'conversational', timeout: '2.5' }));
    expect(conv).toMatchObject({ ok: true, args: { mode: 'conversational', timeoutSecs: 2.5 } });
    expect(conv.ok && 'speed' in conv.args).toBe(false);
  });

  it('names the field at fault', () => {
    expect(replayArgs(form({ url: 'http://x' }))).toEqual({ ok: false, field: 'url', error: 'The URL must start with ws:// or wss://.' });
    expect(replayArgs(form({ url: '' }))).toMatchObject({ ok: false, field: 'url' });
    expect(replayArgs(form({ speed: '0.05' }))).toMatchObject({ ok: false, field: 'speed' });
    expect(replayArgs(form({ speed: '101' }))).toMatchObject({ ok: false, field: 'speed' });
    expect(replayArgs(form({ mode: 'conversational', timeout: '0' }))).toMatchObject({ ok: false, field: 'timeout' });
    expect(replayArgs(form({ headers: rowsFromHeaders([['a b', '1']]) }))).toMatchObject({ ok: false, field: 'headers' });
  });

  it('accepts speeds from 0.1 to 100', () => {
    expect(checkSpeed('0.1')).toEqual({ ok: true, speed: 0.1 });
    expect(checkSpeed('100')).toEqual({ ok: true, speed: 100 });
    expect(checkSpeed('.5')).toEqual({ ok: true, speed: 0.5 });
    expect(checkSpeed('1e2').ok).toBe(false);
    // A number input bound as a number.
    expect(checkSpeed(2)).toEqual({ ok: true, speed: 2 });
    expect(checkSpeed('-1').ok).toBe(false);
  });
});

describe('mock form', () => {
  it('builds start_mock arguments', () => {
    expect(mockArgs({ sessionId: 1, connectionId: null, listen: ' 127.0.0.1:0 ', mode: 'timed', speed: '1' })).toEqual({
      ok: true,
      args: { sessionId: 1, connectionId: null, listen: '127.0.0.1:0', mode: 'timed', speed: 1 },
    });
    expect(mockArgs({ sessionId: 1, connectionId: null, listen: '127.0.0.1:0', mode: 'conversational', speed: 'x' })).toEqual({
      ok: true,
      args: { sessionId: 1, connectionId: null, listen: '127.0.0.1:0', mode: 'conversational' },
    });
    expect(mockArgs({ sessionId: 1, connectionId: null, listen: ' ', mode: 'timed', speed: '1' })).toMatchObject({ ok: false, field: 'listen' });
  });
});

describe('progress', () => {
  it('computes percentages and texts', () => {
    expect(progressPercent({ sent: 5, total: 20 })).toBe(25);
    expect(progressPercent({ sent: 0, total: 0 })).toBe(0);
    expect(progressPercent({ sent: 30, total: 20 })).toBe(100);
    expect(progressText({ sent: 1234, total: 2000, received: 7 })).toBe('1,234 / 2,000 sent · 7 received');
    expect(isFinalState('finished')).toBe(true);
    expect(isFinalState('failed')).toBe(true);
    expect(isFinalState('running')).toBe(false);
  });
});

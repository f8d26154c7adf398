import { describe, expect, it } from 'vitest';
import { effectiveUrl, emptyForm, formFromSpec, kvRow, specFromForm, splitUrl } from './connectionForm';

describe('specFromForm', () => {
  it('builds the minimal spec from a URL', () => {
    expect(specFromForm(emptyForm(' ws://127.0.0.1:9/x '))).toEqual({ ok: true, spec: { url: 'ws://127.0.0.1:9/x' } });
  });

  it('carries every option, disabled rows included (the backend ignores them)', () => {
    const f = emptyForm('wss://example.test/feed');
    f.query = [kvRow('token', 'a b'), kvRow('debug', '1', false), kvRow('', '')];
    f.headers = [kvRow('X-Trace', 'abc'), kvRow('X-Off', 'no', false)];
    f.subprotocols = 'graphql-ws, chat  v2.json';
    f.origin = 'https://app.example.test';
    f.auth = 'basic';
    f.username = 'me';
    f.password = 'p:w';
    f.caFile = '/tmp/ca.pem';
    f.clientCert = 'pem';
    f.certFile = '/tmp/c.pem';
    f.keyFile = '/tmp/k.pem';
    f.insecure = true;
    f.maxMessage = '1_048_576';
    f.handshakeTimeout = '2500';
    f.reconnect = true;
    f.maxAttempts = '3';
    f.keepAlive = true;
    f.pingInterval = '0.5';
    const r = specFromForm(f, 7);
    expect(r).toEqual({
      ok: true,
      spec: {
        url: 'wss://example.test/feed',
        query: [
          { name: 'token', value: 'a b', enabled: true },
          { name: 'debug', value: '1', enabled: false },
        ],
        headers: [
          { name: 'X-Trace', value: 'abc', enabled: true },
          { name: 'X-Off', value: 'no', enabled: false },
        ],
        subprotocols: ['graphql-ws', 'chat', 'v2.json'],
        origin: 'https://app.example.test',
        auth: { kind: 'basic', username: 'me', password: 'p:w' },
        tls: { ca_file: '/tmp/ca.pem', client_cert: '/tmp/c.pem', client_key: '/tmp/k.pem', pkcs12_file: null, pkcs12_password: null, insecure: true },
        limits: { max_message_size: 1048576, handshake_timeout_ms: 2500 },
        reconnect: { enabled: true, max_attempts: 3 },
        ping_interval_ms: 500,
        session_id: 7,
      },
    });
    // And back.
    const back = formFromSpec((r as { spec: Parameters<typeof formFromSpec>[0] }).spec);
    expect(specFromForm(back, 7)).toEqual(r);
  });

  it('names the field that is wrong', () => {
    const bad = (patch: Partial<ReturnType<typeof emptyForm>>) => {
      const r = specFromForm({ ...emptyForm('ws://h/'), ...patch });
      return r.ok ? null : r.field;
    };
    expect(bad({ url: 'http://h/' })).toBe('url');
    expect(bad({ headers: [kvRow('Bad Name', 'x')] })).toBe('headers');
    expect(bad({ headers: [kvRow('Sec-WebSocket-Key', 'x')] })).toBe('headers');
    expect(bad({ headers: [kvRow('X', 'a\nb')] })).toBe('headers');
    expect(bad({ subprotocols: 'a/b' })).toBe('subprotocols');
    expect(bad({ origin: 'example.com' })).toBe('origin');
    expect(bad({ auth: 'bearer' })).toBe('auth');
    expect(bad({ insecure: true })).toBe('tls');
    expect(bad({ url: 'wss://h/', clientCert: 'pem', certFile: '/c' })).toBe('tls');
    expect(bad({ handshakeTimeout: '5' })).toBe('limits');
    expect(bad({ reconnect: true, initialDelay: '5000', maxDelay: '1000' })).toBe('reconnect');
    expect(bad({ keepAlive: true, pingInterval: 'x' })).toBe('keepalive');
  });

  it('defaults the keep-alive interval to 30 s', () => {
    const r = specFromForm({ ...emptyForm('ws://h/'), keepAlive: true });
    expect(r.ok && r.spec.ping_interval_ms).toBe(30_000);
  });
});

describe('query rows', () => {
  it('split from a pasted URL and join back', () => {
    const { base, query } = splitUrl('ws://h/p?a=1&b=x%20y&flag#frag');
    expect(base).toBe('ws://h/p#frag');
    expect(query.map((r) => [r.name, r.value])).toEqual([
      ['a', '1'],
      ['b', 'x y'],
      ['flag', ''],
    ]);
    const f = { ...emptyForm('ws://h/p'), query: [...query, kvRow('off', '1', false)] };
    expect(effectiveUrl(f)).toBe('ws://h/p?a=1&b=x%20y&flag=');
  });
});

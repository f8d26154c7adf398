import { describe, expect, it } from 'vitest';
import { deriveAccept, expectedAccept, headerValue, keyProblem, WS_GUID } from './acceptKey';

describe('accept key derivation (RFC 6455 §1.3)', () => {
  it("derives the RFC's example: dGhlIHNhbXBsZSBub25jZQ== -> s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", async () => {
    expect(await expectedAccept('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('explains each step and checks the received value', async () => {
    const d = await deriveAccept(' dGhlIHNhbXBsZSBub25jZQ== ', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(d.key).toBe('dGhlIHNhbXBsZSBub25jZQ==');
    expect(d.concatenated).toBe(`dGhlIHNhbXBsZSBub25jZQ==${WS_GUID}`);
    // The digest the RFC prints: 0xb3 0x7a 0x4f 0x2c ... 0xea
    expect(d.sha1Hex).toBe('b3 7a 4f 2c c0 62 4f 16 90 f6 46 06 cf 38 59 45 b2 be c4 ea');
    expect(d.expected).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(d.matches).toBe(true);
    expect(d.keyValid).toBe(true);
  });

  it('flags a wrong or missing accept value', async () => {
    const wrong = await deriveAccept('dGhlIHNhbXBsZSBub25jZQ==', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo');
    expect(wrong.matches).toBe(false);
    const none = await deriveAccept('dGhlIHNhbXBsZSBub25jZQ==', null);
    expect(none.matches).toBe(false);
    expect(none.received).toBeNull();
  });

  it('checks the key is base64 of 16 bytes', () => {
    expect(keyProblem('dGhlIHNhbXBsZSBub25jZQ==')).toBeNull();
    expect(keyProblem('')).toMatch(/no Sec-WebSocket-Key/);
    expect(keyProblem('abc')).toMatch(/base64/);
    expect(keyProblem('aGVsbG8=')).toMatch(/5 bytes/);
  });

  it('finds headers case-insensitively', () => {
    const h: [string, string][] = [['sec-websocket-accept', 'x'], ['Sec-WebSocket-Accept', 'y']];
    expect(headerValue(h, 'Sec-WebSocket-Accept')).toBe('x');
    expect(headerValue(h, 'Upgrade')).toBeNull();
    expect(headerValue(null, 'Upgrade')).toBeNull();
  });
});

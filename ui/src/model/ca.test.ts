import { describe, expect, it } from 'vitest';
import { fingerprintGroups, forwardListen, shellQuote, trustSteps } from './ca';

const FP =
  '3F:A2:91:0C:5B:77:E0:14:9D:2A:C8:41:6E:0F:B3:88:12:CD:45:9A:7B:E6:03:51:AF:28:94:D0:6C:1E:7E:D4';

describe('shellQuote', () => {
  it('single-quotes, writing a quote inside as quote-escaped-quote', () => {
    expect(shellQuote('/home/me/ca-cert.pem')).toBe(`'/home/me/ca-cert.pem'`);
    expect(shellQuote('/Users/me/Library/Application Support/x.pem')).toBe(`'/Users/me/Library/Application Support/x.pem'`);
    expect(shellQuote(`/tmp/it's $HOME`)).toBe(`'/tmp/it'\\''s $HOME'`);
  });
});

describe('forwardListen', () => {
  it('is the first running forward listener, else 127.0.0.1:8080', () => {
    const rev = { session_id: 1, listen: '127.0.0.1:9001', upstream: 'ws://x', ca_fingerprint: null };
    const fwd = { session_id: 2, listen: '127.0.0.1:8899', upstream: null, ca_fingerprint: FP };
    const fwd2 = { session_id: 3, listen: '127.0.0.1:8900', upstream: null, ca_fingerprint: FP };
    expect(forwardListen([])).toBe('127.0.0.1:8080');
    expect(forwardListen([rev])).toBe('127.0.0.1:8080');
    expect(forwardListen([rev, fwd, fwd2])).toBe('127.0.0.1:8899');
  });
});

describe('trustSteps', () => {
  it('spells the one-liners with the listen address, the SPKI hash and the quoted path', () => {
    const steps = trustSteps({ path: '/home/me/ca dir/ca-cert.pem', spki_sha256: 'q83vEjRWeJA=' }, '127.0.0.1:8899');
    expect(steps.map((s) => [s.client, s.text])).toEqual([
      ['chromium', '--proxy-server=http://127.0.0.1:8899 --ignore-certificate-errors-spki-list=q83vEjRWeJA='],
      ['curl', `curl --proxy http://127.0.0.1:8899 --cacert '/home/me/ca dir/ca-cert.pem' https://…`],
      ['node', `NODE_EXTRA_CA_CERTS='/home/me/ca dir/ca-cert.pem' node app.js`],
      ['python', `SSL_CERT_FILE='/home/me/ca dir/ca-cert.pem' python app.py`],
      [
        'firefox',
        'Settings → Privacy & Security → Certificates → View Certificates → Authorities → Import… and choose /home/me/ca dir/ca-cert.pem',
      ],
    ]);
    expect(steps.filter((s) => !s.command).map((s) => s.client)).toEqual(['firefox']);
  });
});

describe('fingerprintGroups', () => {
  it('splits into groups of four bytes that join back to the fingerprint', () => {
    const g = fingerprintGroups(FP);
    expect(g).toHaveLength(8);
    expect(g[0]).toBe('3F:A2:91:0C:');
    expect(g[7]).toBe('6C:1E:7E:D4');
    expect(g.join('')).toBe(FP);
    expect(fingerprintGroups('AB')).toEqual(['AB']);
  });
});

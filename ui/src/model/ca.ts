// The Proxy panel's local CA section: how to make clients trust the CA (text only).
// Pure TS: no DOM, no Svelte; unit-tested in ca.test.ts.
import type { CaInfo, ProxyInfo } from '../ipc/types';
import { DEFAULT_LISTEN, proxyMode } from './proxy';

/** File name the "Export certificate…" download offers. */
export const CA_EXPORT_NAME = 'sockscope-ca.pem';

/** A POSIX shell word: single-quoted, a quote inside written as '\''. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The address clients use as their proxy: the first running forward listener's, else the default. */
export function forwardListen(proxies: readonly ProxyInfo[]): string {
  return proxies.find((p) => proxyMode(p) === 'forward')?.listen ?? DEFAULT_LISTEN;
}

export type TrustClient = 'chromium' | 'curl' | 'node' | 'python' | 'firefox';

export interface TrustStep {
  client: TrustClient;
  /** e.g. "Chromium / Chrome" */
  label: string;
  /** What to type (or, for Firefox, what to do): copied as is. */
  text: string;
  /** A shell command line (shown monospace) rather than instructions. */
  command: boolean;
}

/** One-liners that make common clients use `listen` as their proxy and trust the CA. */
export function trustSteps(ca: Pick<CaInfo, 'path' | 'spki_sha256'>, listen: string): TrustStep[] {
  const path = shellQuote(ca.path);
  return [
    {
      client: 'chromium',
      label: 'Chromium / Chrome',
      text: `--proxy-server=http://${listen} --ignore-certificate-errors-spki-list=${ca.spki_sha256}`,
      command: true,
    },
    { client: 'curl', label: 'curl', text: `curl --proxy http://${listen} --cacert ${path} https://…`, command: true },
    { client: 'node', label: 'Node', text: `NODE_EXTRA_CA_CERTS=${path} node app.js`, command: true },
    { client: 'python', label: 'Python', text: `SSL_CERT_FILE=${path} python app.py`, command: true },
    {
      client: 'firefox',
      label: 'Firefox',
      text: `Settings → Privacy & Security → Certificates → View Certificates → Authorities → Import… and choose ${ca.path}`,
      command: false,
    },
  ];
}

/** "AB:CD:EF" → ["AB:", "CD:", "EF"]: the pieces a fingerprint may wrap between. */
export function fingerprintGroups(fp: string, perGroup = 4): string[] {
  const parts = fp.trim().split(':');
  const out: string[] = [];
  for (let i = 0; i < parts.length; i += perGroup) {
    const last = i + perGroup >= parts.length;
    out.push(parts.slice(i, i + perGroup).join(':') + (last ? '' : ':'));
  }
  return out;
}

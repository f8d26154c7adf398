// The RFC 6455 §5.2 base-frame diagram for one frame: its header fields with their actual
// bits, laid out 32 bits a row, plus the header bytes as they were on the wire. Pure.
import type { FrameFacts } from '../../ipc/detail';

export interface Field {
  key: string;
  label: string;
  /** Width in bits. */
  bits: number;
  /** The field's bits ('0'/'1'; '?' when unknown); empty for the payload. */
  value: string;
  /** What the value means, e.g. "0x1 text", "= 5", "126 → 16-bit length follows". */
  note: string;
}

export interface Cell {
  field: Field;
  /** Bits of the field in this row. */
  span: number;
  /** Bits of the field shown in this row. */
  bits: string;
  /** The field continues from the previous row. */
  cont: boolean;
}

const OPCODE_NAMES: Record<number, string> = {
  0: 'continuation',
  1: 'text',
  2: 'binary',
  8: 'close',
  9: 'ping',
  10: 'pong',
};

export function opcodeName(v: number): string {
  return OPCODE_NAMES[v] ?? (v < 8 ? 'reserved (non-control)' : 'reserved (control)');
}

function bin(n: number | bigint, width: number): string {
  return n.toString(2).padStart(width, '0');
}

/** The 7-bit length field's value for a payload length. */
export function len7(len: number): number {
  return len <= 125 ? len : len <= 0xffff ? 126 : 127;
}

type FactsIn = Pick<FrameFacts, 'fin' | 'rsv1' | 'rsv2' | 'rsv3' | 'opcode_value' | 'masked' | 'mask_key' | 'len' | 'head'>;

export function maskKeyBytes(f: Pick<FrameFacts, 'mask_key'>): number[] | null {
  if (!f.mask_key || !/^[0-9a-f]{8}$/i.test(f.mask_key)) return null;
  return [0, 2, 4, 6].map((i) => parseInt(f.mask_key!.slice(i, i + 2), 16));
}

/** The first payload bytes as they crossed the wire (masked with the key when there is one). */
export function wirePayloadHead(f: FactsIn, n = 8): (number | null)[] {
  const key = maskKeyBytes(f);
  return f.head.slice(0, n).map((b, i) => (f.masked ? (key ? b ^ key[i % 4] : null) : b));
}

export function frameFields(f: FactsIn): Field[] {
  const l7 = len7(f.len);
  const fields: Field[] = [
    { key: 'fin', label: 'F', bits: 1, value: f.fin ? '1' : '0', note: f.fin ? 'final frame' : 'more frames follow' },
    { key: 'rsv1', label: 'R1', bits: 1, value: f.rsv1 ? '1' : '0', note: f.rsv1 ? 'compressed' : '' },
    { key: 'rsv2', label: 'R2', bits: 1, value: f.rsv2 ? '1' : '0', note: '' },
    { key: 'rsv3', label: 'R3', bits: 1, value: f.rsv3 ? '1' : '0', note: '' },
    {
      key: 'opcode',
      label: 'opcode',
      bits: 4,
      value: bin(f.opcode_value & 0xf, 4),
      note: `0x${(f.opcode_value & 0xf).toString(16)} ${opcodeName(f.opcode_value)}`,
    },
    { key: 'mask', label: 'M', bits: 1, value: f.masked ? '1' : '0', note: f.masked ? 'masked' : '' },
    {
      key: 'len7',
      label: 'Payload len',
      bits: 7,
      value: bin(l7, 7),
      note: l7 <= 125 ? `= ${l7}` : l7 === 126 ? '126: 16-bit length follows' : '127: 64-bit length follows',
    },
  ];
  if (l7 === 126) {
    fields.push({ key: 'len16', label: 'Extended payload length (16)', bits: 16, value: bin(f.len, 16), note: `= ${f.len}` });
  } else if (l7 === 127) {
    fields.push({ key: 'len64', label: 'Extended payload length (64)', bits: 64, value: bin(BigInt(f.len), 64), note: `= ${f.len}` });
  }
  if (f.masked) {
    const key = maskKeyBytes(f);
    fields.push({
      key: 'maskkey',
      label: 'Masking-key',
      bits: 32,
      value: key ? key.map((b) => bin(b, 8)).join('') : '?'.repeat(32),
      note: f.mask_key ? `0x${f.mask_key}` : 'not recorded (chosen by the client library)',
    });
  }
  return fields;
}

/** Lays fields out 32 bits a row, splitting fields that cross a row; the payload fills the rest. */
export function layout(fields: Field[], payloadNote: string): Cell[][] {
  const rows: Cell[][] = [[]];
  let used = 0;
  for (const field of fields) {
    let left = field.bits;
    let offset = 0;
    while (left > 0) {
      const room = 32 - used;
      const span = Math.min(room, left);
      rows[rows.length - 1].push({ field, span, bits: field.value.slice(offset, offset + span), cont: offset > 0 });
      offset += span;
      left -= span;
      used += span;
      if (used === 32) {
        rows.push([]);
        used = 0;
      }
    }
  }
  const payload: Field = { key: 'payload', label: 'Payload data', bits: 0, value: '', note: payloadNote };
  rows[rows.length - 1].push({ field: payload, span: used === 0 ? 32 : 32 - used, bits: '', cont: false });
  return rows;
}

/** The header bytes as on the wire (null for unknown mask key bytes). */
export function headerBytes(f: FactsIn): (number | null)[] {
  const out: (number | null)[] = [];
  out.push(((f.fin ? 1 : 0) << 7) | ((f.rsv1 ? 1 : 0) << 6) | ((f.rsv2 ? 1 : 0) << 5) | ((f.rsv3 ? 1 : 0) << 4) | (f.opcode_value & 0xf));
  const l7 = len7(f.len);
  out.push(((f.masked ? 1 : 0) << 7) | l7);
  if (l7 === 126) out.push((f.len >> 8) & 0xff, f.len & 0xff);
  else if (l7 === 127) {
    const big = BigInt(f.len);
    for (let i = 7; i >= 0; i--) out.push(Number((big >> BigInt(i * 8)) & 0xffn));
  }
  if (f.masked) {
    const key = maskKeyBytes(f);
    out.push(...(key ?? [null, null, null, null]));
  }
  return out;
}

/** RFC 6455 §7.4 meaning of a close code. */
export function closeMeaning(code: number | null): string {
  if (code === null) return 'no status code (RFC 6455 §7.1.5: "1005 No Status Rcvd" is reported)';
  const known: Record<number, string> = {
    1000: 'Normal Closure: the purpose of the connection has been fulfilled',
    1001: 'Going Away: a server going down or a browser leaving the page',
    1002: 'Protocol Error: the endpoint received something the protocol forbids',
    1003: 'Unsupported Data: a type of data the endpoint cannot accept (e.g. binary to a text-only endpoint)',
    1004: 'Reserved: its meaning may be defined in the future',
    1005: 'No Status Rcvd: reserved, must not be sent in a Close frame (no code was present)',
    1006: 'Abnormal Closure: reserved, must not be sent (the connection dropped without a Close frame)',
    1007: 'Invalid frame payload data: e.g. non-UTF-8 data in a text message',
    1008: 'Policy Violation: a message that violates the endpoint\'s policy',
    1009: 'Message Too Big: a message too big to process',
    1010: 'Mandatory Extension: the client expected the server to negotiate an extension',
    1011: 'Internal Error: the server met an unexpected condition',
    1012: 'Service Restart (IANA registry)',
    1013: 'Try Again Later (IANA registry)',
    1014: 'Bad Gateway (IANA registry)',
    1015: 'TLS handshake failure: reserved, must not be sent',
  };
  if (known[code]) return known[code];
  if (code < 1000) return 'not used (codes below 1000 are invalid)';
  if (code < 3000) return 'reserved for future versions of the protocol (an invalid code on the wire)';
  if (code < 4000) return 'registered with IANA for libraries, frameworks and applications';
  if (code < 5000) return 'private use: its meaning is agreed between the application\'s endpoints';
  return 'outside the defined ranges (invalid)';
}

// Runs heavy formatting in the format worker; small payloads are formatted synchronously
// (a worker round trip would cost more than the work). Falls back to the main thread when
// no worker can be created (tests in Node, a CSP that forbids it).
import { analyze, type AnalyzeOptions, type Analysis } from '../decoders/analyze';
import { formatCopy, type CopyFormat } from '../decoders/bytes';
import type { WorkerRequest, WorkerResponse } from './format.worker';

/** Payloads up to this size are formatted on the main thread. */
export const SYNC_LIMIT = 64 * 1024;

let worker: Worker | null = null;
let workerFailed = false;
let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
/** Number of requests answered by the worker (tests read it through `formatStats`). */
let workerAnswers = 0;

function getWorker(): Worker | null {
  if (worker || workerFailed) return worker;
  if (typeof Worker === 'undefined') {
    workerFailed = true;
    return null;
  }
  try {
    worker = new Worker(new URL('./format.worker.ts', import.meta.url), { type: 'module', name: 'sockscope-format' });
    worker.onmessage = (e: MessageEvent<WorkerResponse>) => {
      const p = pending.get(e.data.id);
      if (!p) return;
      pending.delete(e.data.id);
      workerAnswers++;
      if (e.data.ok) p.resolve(e.data.result);
      else p.reject(new Error(e.data.error));
    };
    worker.onerror = (e) => {
      // A worker that cannot start (blocked, failed to load): answer on the main thread from now on.
      workerFailed = true;
      worker?.terminate();
      worker = null;
      const err = new Error(e.message || 'format worker failed');
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    };
  } catch {
    workerFailed = true;
    worker = null;
  }
  return worker;
}

type RequestBody = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

function run<T>(req: RequestBody, fallback: () => T): Promise<T> {
  const w = getWorker();
  if (!w) return Promise.resolve().then(fallback);
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    // The bytes are copied (not transferred): the caller keeps showing them.
    w.postMessage({ ...req, id } as WorkerRequest);
  }).catch((err) => {
    if (workerFailed) return fallback();
    throw err;
  });
}

/** Analyses a payload: synchronously when small, in the worker when big. */
export function analyzePayload(bytes: Uint8Array, opts: AnalyzeOptions): Analysis | Promise<Analysis> {
  if (bytes.length <= SYNC_LIMIT) return analyze(bytes, opts);
  return run<Analysis>({ op: 'analyze', bytes, opts }, () => analyze(bytes, opts));
}

/** A selection of bytes in a copy format (in the worker when big). */
export function copyText(bytes: Uint8Array, format: CopyFormat): Promise<string> {
  if (bytes.length <= SYNC_LIMIT) return Promise.resolve(formatCopy(bytes, format));
  return run<string>({ op: 'copy', bytes, format }, () => formatCopy(bytes, format));
}

export function formatStats(): { workerAnswers: number; workerFailed: boolean } {
  return { workerAnswers, workerFailed };
}

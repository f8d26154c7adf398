// The format worker: analyses (decode, pretty-print, line index) big payloads off the main
// thread. One request at a time per message; answers carry the request id.
import { analyze, type AnalyzeOptions } from '../decoders/analyze';
import { formatCopy, type CopyFormat } from '../decoders/bytes';

export type WorkerRequest =
  | { id: number; op: 'analyze'; bytes: Uint8Array; opts: AnalyzeOptions }
  | { id: number; op: 'copy'; bytes: Uint8Array; format: CopyFormat };

export type WorkerResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

const ctx = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(msg: WorkerResponse, transfer?: Transferable[]): void;
};

ctx.onmessage = (e) => {
  const req = e.data;
  try {
    if (req.op === 'analyze') {
      const result = analyze(req.bytes, req.opts);
      ctx.postMessage({ id: req.id, ok: true, result }, [result.lineStarts.buffer]);
    } else {
      ctx.postMessage({ id: req.id, ok: true, result: formatCopy(req.bytes, req.format) });
    }
  } catch (err) {
    ctx.postMessage({ id: req.id, ok: false, error: String((err as Error)?.message ?? err) });
  }
};

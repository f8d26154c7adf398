// Texts of the storage banner (capture paused on a full disk or at the size limit) and of the
// notice that follows a resume. Pure functions, unit tested.
import type { StorageResumed, StorageStatus } from '../ipc/types';
import { formatCount } from './format';

export function framesText(n: number): string {
  return n === 1 ? '1 frame' : `${formatCount(n)} frames`;
}

/** "64 MB", "1.5 MB" (MiB, as the limit is set). */
export function megabytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return Number.isInteger(mb) ? `${mb} MB` : `${mb.toFixed(1)} MB`;
}

/** The banner's headline while capture is paused; null while writing. */
export function pausedHeadline(s: StorageStatus): string | null {
  if (s.state !== 'paused') return null;
  const waiting = `${framesText(s.pending_frames)} waiting`;
  switch (s.cause) {
    case 'disk_full':
      return `Capture paused: the disk is full (${waiting}). Free space and capture resumes automatically.`;
    case 'size_limit':
      return `Capture paused: the database reached its size limit of ${megabytes(s.limit_bytes ?? 0)} (${waiting}). Raise the limit or free space and capture resumes automatically.`;
    case 'locked':
      return `Capture paused: another program holds a lock on the database (${waiting}). Retrying automatically.`;
    case 'io':
      return `Capture paused: the database cannot be written (${waiting}). Retrying automatically.`;
  }
}

/** Seconds between two µs timestamps, one decimal. */
function seconds(fromUs: number, toUs: number): string {
  return `${(Math.max(0, toUs - fromUs) / 1e6).toFixed(1)} s`;
}

/** The notice after a resume: how many waiting frames were written. */
export function resumedText(r: StorageResumed): string {
  const after = seconds(r.paused_at_us, r.resumed_at_us);
  if (r.done) {
    return r.backlog_frames === 0
      ? `Capture resumed after ${after}; no frames were waiting.`
      : `Capture resumed after ${after}: all ${framesText(r.backlog_frames)} that were waiting were written.`;
  }
  return `Capture resumed after ${after}: writing the ${framesText(r.backlog_frames)} that were waiting (${formatCount(r.written_frames)} so far)…`;
}

/** The limit field's suggestion: twice the current limit, at least 64 MB more than the file. */
export function suggestedLimitMb(s: StorageStatus): number {
  const mb = (b: number) => Math.ceil(b / (1024 * 1024));
  return Math.max(mb((s.limit_bytes ?? 0) * 2), mb(s.file_bytes) + 64);
}

/** Reads the limit field: a whole number of MB, 0 for none. */
export function parseLimitMb(text: string): { mb: number | null } | { error: string } {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return { error: 'Enter the limit as a whole number of MB (0 for none).' };
  const mb = Number(t);
  if (!Number.isSafeInteger(mb) || mb > 2 ** 30) return { error: `${t} MB is too large a limit.` };
  return { mb: mb === 0 ? null : mb };
}

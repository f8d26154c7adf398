// uPlot, loaded when the statistics panel first opens (its own chunk).
//
// uPlot builds `new Intl.NumberFormat(navigator.language)` when its module is evaluated. Under
// a POSIX locale (LANG=C, common on servers and in containers) WebKitGTK reports
// navigator.language as "C", which Intl rejects with a RangeError; imported statically that
// stopped the whole app from starting. So it is imported lazily, after checking the tag.
import type uPlot from 'uplot';

let loaded: Promise<typeof uPlot> | null = null;

/** Makes navigator.language a tag Intl accepts (en-US when it is not). */
export function ensureIntlLanguage(nav: { language: string } = navigator): void {
  try {
    new Intl.NumberFormat(nav.language);
  } catch {
    try {
      Object.defineProperty(nav, 'language', { value: 'en-US', configurable: true });
    } catch {
      /* nothing more to do: the import below will report the error */
    }
  }
}

export function loadUPlot(): Promise<typeof uPlot> {
  if (!loaded) {
    ensureIntlLanguage();
    loaded = import('uplot').then((m) => m.default);
  }
  return loaded;
}

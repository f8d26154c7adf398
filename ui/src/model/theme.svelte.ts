// Dark by default; follows prefers-color-scheme until the user picks a theme
// with the toolbar toggle, which is then kept in localStorage.
export type Theme = 'dark' | 'light';
export const THEME_KEY = 'sockscope.theme';

function readStored(): Theme | null {
  try {
    const v = localStorage.getItem(THEME_KEY);
    return v === 'dark' || v === 'light' ? v : null;
  } catch {
    return null;
  }
}

function systemTheme(): Theme {
  try {
    return matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
  } catch {
    return 'dark';
  }
}

class ThemeState {
  chosen = $state<Theme | null>(null);
  system = $state<Theme>('dark');
  readonly effective: Theme = $derived(this.chosen ?? this.system);

  init(): () => void {
    this.chosen = readStored();
    this.system = systemTheme();
    this.apply();
    let mq: MediaQueryList | null = null;
    const onChange = () => {
      this.system = systemTheme();
      this.apply();
    };
    try {
      mq = matchMedia('(prefers-color-scheme: light)');
      mq.addEventListener('change', onChange);
    } catch {
      mq = null;
    }
    return () => mq?.removeEventListener('change', onChange);
  }

  toggle(): void {
    this.chosen = this.effective === 'dark' ? 'light' : 'dark';
    try {
      localStorage.setItem(THEME_KEY, this.chosen);
    } catch {
      // storage unavailable: the choice lasts for this window only
    }
    this.apply();
  }

  apply(): void {
    const root = document.documentElement;
    root.dataset.theme = this.effective;
    root.style.colorScheme = this.effective;
  }
}

export const theme = new ThemeState();

//! Two small SVG charts from a run, written by hand (no plotting dependency): throughput by
//! workload (log scale) and a latency CDF (log-scale latency).

use crate::peers::RelayKind;
use crate::suite::{Measurement, WORKLOADS};

const COLORS: [(RelayKind, &str); 5] = [
    (RelayKind::Direct, "#6b7280"),
    (RelayKind::Sockscope, "#2563eb"),
    (RelayKind::Websocat, "#d97706"),
    (RelayKind::Node, "#059669"),
    (RelayKind::Mitmdump, "#dc2626"),
];

fn color(k: RelayKind) -> &'static str {
    COLORS
        .iter()
        .find(|(r, _)| *r == k)
        .map_or("#000", |(_, c)| c)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn header(w: u32, h: u32, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"system-ui, sans-serif\" font-size=\"12\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"600\">{}</text>\n",
        w / 2,
        esc(title)
    )
}

fn legend(out: &mut String, x: f64, y: f64, kinds: &[RelayKind]) {
    for (i, k) in kinds.iter().enumerate() {
        let yy = y + i as f64 * 16.0;
        out.push_str(&format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
            yy - 9.0,
            color(*k),
            x + 14.0,
            yy,
            k.name()
        ));
    }
}

/// Decades from 10^lo to 10^hi.
fn log_ticks(lo: i32, hi: i32) -> Vec<f64> {
    (lo..=hi).map(|e| 10f64.powi(e)).collect()
}

fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.0}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Grouped bars: messages/s per workload and relay, log scale.
pub fn throughput(ms: &[Measurement]) -> String {
    let (w, h) = (760u32, 380u32);
    let (left, right, top, bottom) = (70.0, 120.0, 40.0, 70.0);
    let plot_w = f64::from(w) - left - right;
    let plot_h = f64::from(h) - top - bottom;
    let kinds: Vec<RelayKind> = RelayKind::ALL
        .into_iter()
        .filter(|k| ms.iter().any(|m| m.relay == *k && m.ran()))
        .collect();
    let max = ms.iter().map(|m| m.msgs_per_sec).fold(1.0, f64::max);
    let (lo, hi) = (1i32, max.log10().ceil().max(2.0) as i32);
    let y_of = |v: f64| {
        top + plot_h * (1.0 - (v.max(10f64.powi(lo)).log10() - f64::from(lo)) / f64::from(hi - lo))
    };
    let mut out = header(w, h, "Round trips per second by workload (log scale)");
    for t in log_ticks(lo, hi) {
        let y = y_of(t);
        out.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e7eb\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            human(t)
        ));
    }
    let groups = WORKLOADS.len() as f64;
    let gw = plot_w / groups;
    let bw = (gw * 0.8) / kinds.len().max(1) as f64;
    for (gi, wl) in WORKLOADS.iter().enumerate() {
        let gx = left + gi as f64 * gw + gw * 0.1;
        for (ki, k) in kinds.iter().enumerate() {
            if let Some(m) = ms
                .iter()
                .find(|m| m.workload == wl.key && m.relay == *k && m.ran())
            {
                let y = y_of(m.msgs_per_sec);
                out.push_str(&format!(
                    "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} {}: {:.0} msgs/s</title></rect>\n",
                    gx + ki as f64 * bw,
                    bw - 1.0,
                    top + plot_h - y,
                    color(*k),
                    wl.key,
                    k.name(),
                    m.msgs_per_sec
                ));
            }
        }
        // One short line per part ("1 conn", "1 KiB text", "64 in flight"): no overlaps.
        for (li, line) in wl.title.split(", ").enumerate() {
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n",
                left + gi as f64 * gw + gw / 2.0,
                top + plot_h + 16.0 + li as f64 * 13.0,
                esc(line)
            ));
        }
    }
    out.push_str(&format!(
        "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{}\" stroke=\"#111\"/>\n",
        top + plot_h
    ));
    legend(&mut out, left + plot_w + 16.0, top + 12.0, &kinds);
    out.push_str("</svg>\n");
    out
}

/// Latency CDF of one workload: x = round-trip latency (µs, log), y = fraction of messages.
pub fn latency_cdf(ms: &[Measurement], workload: &str, title: &str) -> String {
    let (w, h) = (760u32, 380u32);
    let (left, right, top, bottom) = (60.0, 120.0, 40.0, 50.0);
    let plot_w = f64::from(w) - left - right;
    let plot_h = f64::from(h) - top - bottom;
    let runs: Vec<&Measurement> = ms
        .iter()
        .filter(|m| m.workload == workload && m.ran() && !m.cdf.is_empty())
        .collect();
    let min = runs
        .iter()
        .flat_map(|m| m.cdf.iter().map(|(_, v)| *v))
        .fold(f64::MAX, f64::min)
        .max(1.0);
    let max = runs
        .iter()
        .flat_map(|m| m.cdf.iter().map(|(_, v)| *v))
        .fold(1.0, f64::max);
    let (lo, hi) = (
        min.log10().floor() as i32,
        max.log10().ceil().max(min.log10().floor() + 1.0) as i32,
    );
    let x_of = |v: f64| left + plot_w * (v.max(1.0).log10() - f64::from(lo)) / f64::from(hi - lo);
    let y_of = |q: f64| top + plot_h * (1.0 - q);
    let mut out = header(w, h, title);
    for t in log_ticks(lo, hi) {
        let x = x_of(t);
        out.push_str(&format!(
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"#e5e7eb\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{} µs</text>\n",
            top + plot_h,
            top + plot_h + 16.0,
            human(t)
        ));
    }
    for q in [0.0, 0.25, 0.5, 0.75, 0.9, 1.0] {
        let y = y_of(q);
        out.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#f3f4f6\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{q}</text>\n",
            left + plot_w,
            left - 6.0,
            y + 4.0
        ));
    }
    let kinds: Vec<RelayKind> = runs.iter().map(|m| m.relay).collect();
    for m in &runs {
        let pts: Vec<String> = m
            .cdf
            .iter()
            .map(|(q, v)| format!("{:.1},{:.1}", x_of(*v), y_of(*q)))
            .collect();
        out.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n",
            color(m.relay),
            pts.join(" ")
        ));
    }
    out.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">round-trip latency (log scale); y: fraction of messages at or below</text>\n",
        left + plot_w / 2.0,
        f64::from(h) - 8.0
    ));
    legend(&mut out, left + plot_w + 16.0, top + 12.0, &kinds);
    out.push_str("</svg>\n");
    out
}

//! A burst session's results: each run's totals, percentiles and errors,
//! and a latency histogram (the seed's sequential-versus-concurrent
//! comparison side by side when the burst compares).

use super::model::SessionInfo;

/// Draws the burst runs of a session.
pub fn ui(ui: &mut egui::Ui, info: &SessionInfo) {
    if !info.state.is_closed() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(crate::t!("burst-done", n = info.burst_done));
        });
    }
    if info.bursts.is_empty() {
        return;
    }
    egui::Grid::new("burst-grid")
        .num_columns(7)
        .striped(true)
        .show(ui, |ui| {
            for h in [
                crate::t!("burst-in-flight"),
                crate::t!("burst-ok"),
                crate::t!("burst-total"),
                crate::t!("burst-rps"),
                "p50",
                "p90 / p99",
                crate::t!("burst-errors"),
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for r in &info.bursts {
                ui.monospace(r.concurrency.to_string());
                ui.monospace(format!("{}/{}", r.ok, r.count));
                ui.monospace(format!("{:.3} s", r.total.as_secs_f64()));
                ui.monospace(format!("{:.1}", r.rps));
                ui.monospace(format!("{:.2} ms", r.percentile_ms(0.5)));
                ui.monospace(format!(
                    "{:.2} / {:.2} ms",
                    r.percentile_ms(0.9),
                    r.percentile_ms(0.99)
                ));
                let errors: Vec<String> =
                    r.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
                ui.monospace(if errors.is_empty() {
                    crate::t!("burst-no-errors").to_string()
                } else {
                    errors.join(", ")
                });
                ui.end_row();
            }
        });
    // One histogram per run, on a shared millisecond axis.
    let max_us = info
        .bursts
        .iter()
        .filter_map(|r| r.latencies_us.last().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    const BINS: usize = 40;
    let width_ms = max_us as f64 / 1000.0 / BINS as f64;
    egui_plot::Plot::new(("burst-histogram", info.id.session))
        .height(180.0)
        .legend(egui_plot::Legend::default())
        .x_axis_label(crate::t!("burst-latency-axis"))
        .y_axis_label(crate::t!("burst-requests-axis"))
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |p| {
            for r in &info.bursts {
                let mut counts = [0u32; BINS];
                for &us in &r.latencies_us {
                    let i = ((us as f64 / max_us as f64) * (BINS as f64 - 1.0)) as usize;
                    counts[i.min(BINS - 1)] += 1;
                }
                let bars: Vec<egui_plot::Bar> = counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(i, c)| {
                        egui_plot::Bar::new((i as f64 + 0.5) * width_ms, f64::from(*c))
                            .width(width_ms * 0.9)
                    })
                    .collect();
                p.bar_chart(egui_plot::BarChart::new(
                    crate::t!("burst-n-in-flight", n = r.concurrency),
                    bars,
                ));
            }
        });
}

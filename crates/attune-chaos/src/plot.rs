//! The run's timeline as a PNG: key-in latency over time coloured by how each ended, the
//! stale-token guidance, outcomes per time bucket, and every fault's window shaded.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::history::{FaultKind, FaultWindow, PersonLog};
use crate::ChaosError;

/// DejaVu Sans from Debian's fonts-dejavu-core (scripts/setup-deps.sh installs it): text is
/// drawn with ab_glyph from this file, with no system font lookup.
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const W: u32 = 1600;
const H: u32 = 1000;

fn plot_err(e: impl std::fmt::Display) -> ChaosError {
    ChaosError::Plot(e.to_string())
}

fn fault_colour(k: FaultKind) -> RGBColor {
    match k {
        FaultKind::ReplicaKill => RGBColor(214, 39, 40),
        FaultKind::StorePause => RGBColor(148, 103, 189),
        FaultKind::PartitionBlackhole => RGBColor(140, 86, 75),
        FaultKind::PartitionReset => RGBColor(227, 119, 194),
        FaultKind::PartitionSlowBody => RGBColor(188, 189, 34),
        FaultKind::HaproxyRestart => RGBColor(23, 190, 207),
        FaultKind::RestoreFromBackup => RGBColor(255, 127, 14),
        FaultKind::DiskFull => RGBColor(127, 127, 127),
    }
}

fn end_colour(label: &str) -> RGBColor {
    match label {
        "cloud" => RGBColor(44, 160, 44),
        "cache" => RGBColor(31, 119, 180),
        "nothing" => RGBColor(255, 127, 14),
        _ => RGBColor(214, 39, 40),
    }
}

/// Registers the font once; fails if the file is missing or unreadable.
fn register_font() -> Result<(), ChaosError> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = std::fs::read(FONT).map_err(|e| format!("the font {FONT}: {e}"))?;
        // Fonts registered with plotters live for the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{FONT} is not a font ab_glyph can read"))
    })
    .clone()
    .map_err(ChaosError::Plot)
}

/// Draws the timeline into `out` (PNG).
pub fn timeline(
    people: &[PersonLog],
    faults: &[FaultWindow],
    title: &str,
    out: &Path,
) -> Result<(), ChaosError> {
    register_font()?;
    let mut buf = vec![0u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, bottom) = root.split_vertically(H * 62 / 100);
        let key_ins: Vec<(f64, f64, String)> = people
            .iter()
            .flat_map(|p| &p.key_ins)
            .map(|k| {
                (
                    k.at_ms as f64 / 1000.0,
                    (k.took_ms.max(1)) as f64,
                    k.end.label(),
                )
            })
            .collect();
        let stale: Vec<f64> = people
            .iter()
            .flat_map(|p| &p.sessions)
            .flat_map(|s| &s.stale_seen_ms)
            .map(|&t| t as f64 / 1000.0)
            .collect();
        let t_max = key_ins
            .iter()
            .map(|k| k.0)
            .chain(faults.iter().map(|f| f.end_ms as f64 / 1000.0))
            .fold(10.0_f64, f64::max)
            * 1.02;
        let (y_lo, y_hi) = (1.0_f64, 20_000.0_f64);

        let mut chart = ChartBuilder::on(&top)
            .caption(title, ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..t_max, (y_lo..y_hi).log_scale())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start")
            .y_desc("key-in took (ms, log)")
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(plot_err)?;
        for f in faults {
            let (x0, x1) = (f.start_ms as f64 / 1000.0, f.end_ms as f64 / 1000.0);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, y_lo), (x1.max(x0 + 0.3), y_hi)],
                    fault_colour(f.kind).mix(0.22).filled(),
                )))
                .map_err(plot_err)?;
        }
        // The key-in bound (docs/design.md §4's 10 s deadline).
        chart
            .draw_series(LineSeries::new(
                [(0.0, 10_000.0), (t_max, 10_000.0)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(plot_err)?
            .label("10 s deadline")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK.mix(0.5)));
        for label in ["cloud", "cache", "nothing", "error"] {
            let c = end_colour(label);
            let pts: Vec<(f64, f64)> = key_ins
                .iter()
                .filter(|k| {
                    if label == "error" {
                        k.2.starts_with("error") || k.2 == "snapset"
                    } else {
                        k.2 == label
                    }
                })
                .map(|k| (k.0, k.1.clamp(y_lo, y_hi)))
                .collect();
            let n = pts.len();
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 2, c.filled())))
                .map_err(plot_err)?
                .label(format!("key-in: {label} ({n})"))
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, c.filled()));
        }
        let purple = RGBColor(118, 42, 131);
        let n_stale = stale.len();
        chart
            .draw_series(
                stale
                    .into_iter()
                    .map(|t| TriangleMarker::new((t, y_hi * 0.6), 7, purple.filled())),
            )
            .map_err(plot_err)?
            .label(format!("told \"log out and back in\" ({n_stale})"))
            .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 6, purple.filled()));
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(plot_err)?;

        // Outcomes per bucket, and the fault legend.
        let bucket = (t_max / 120.0).max(2.0);
        let buckets = (t_max / bucket).ceil() as usize + 1;
        let mut counts: Vec<[u32; 4]> = vec![[0; 4]; buckets];
        for k in &key_ins {
            let i = ((k.0 / bucket) as usize).min(buckets - 1);
            let slot = match k.2.as_str() {
                "cloud" => 0,
                "cache" => 1,
                "nothing" => 2,
                _ => 3,
            };
            counts[i][slot] += 1;
        }
        let y_max = counts
            .iter()
            .flat_map(|c| c.iter())
            .copied()
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * 1.15;
        let mut lower = ChartBuilder::on(&bottom)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(plot_err)?;
        lower
            .configure_mesh()
            .x_desc(format!(
                "seconds since the start (key-ins per {bucket:.0} s, by how they ended)"
            ))
            .y_desc("key-ins")
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(plot_err)?;
        for f in faults {
            let (x0, x1) = (f.start_ms as f64 / 1000.0, f.end_ms as f64 / 1000.0);
            lower
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x1.max(x0 + 0.3), y_max)],
                    fault_colour(f.kind).mix(0.22).filled(),
                )))
                .map_err(plot_err)?;
        }
        for (slot, label) in ["cloud", "cache", "nothing", "error"].iter().enumerate() {
            let c = end_colour(label);
            lower
                .draw_series(LineSeries::new(
                    counts
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (i as f64 * bucket, f64::from(n[slot]))),
                    c.stroke_width(2),
                ))
                .map_err(plot_err)?;
        }
        for kind in FaultKind::ALL {
            let n = faults.iter().filter(|f| f.kind == kind).count();
            let c = fault_colour(kind);
            lower
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(plot_err)?
                .label(format!("{} ({n})", kind.as_str()))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 18, y + 6)], c.mix(0.45).filled())
                });
        }
        lower
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    write_png(&buf, out)
}

fn write_png(rgb: &[u8], out: &Path) -> Result<(), ChaosError> {
    let file = std::fs::File::create(out)
        .map_err(|e| ChaosError::io(format!("create {}", out.display()), e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), W, H);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::High);
    let mut w = enc.write_header().map_err(plot_err)?;
    w.write_image_data(rgb).map_err(plot_err)?;
    w.finish().map_err(plot_err)
}

//! Inline SVG charts for the HTML report, drawn with plotters' SVG backend.
//!
//! Every chart goes through [`chart`]: scatter and line series on linear axes. Log axes are
//! drawn by plotting log10 of the values and labelling ticks with the powers of ten, which
//! keeps one code path for all four linear/log combinations and lets zeros be placed on a
//! stated floor instead of vanishing.

use plotters::prelude::*;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    /// Filled circles.
    Points,
    /// A solid line through the points in order.
    Line,
    /// A dashed-looking thin line (drawn lighter).
    ThinLine,
}

/// One named series.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
    /// Palette index (same index, same colour across charts).
    pub colour: usize,
}

/// An axis.
#[derive(Clone, Debug, Default)]
pub struct Axis {
    pub desc: String,
    /// Plot log10 of the values.
    pub log: bool,
    /// Category names: values are indices 0..len, labelled with these names.
    pub categories: Option<Vec<String>>,
}

impl Axis {
    pub fn linear(desc: &str) -> Axis {
        Axis {
            desc: desc.into(),
            ..Default::default()
        }
    }
    pub fn log(desc: &str) -> Axis {
        Axis {
            desc: desc.into(),
            log: true,
            categories: None,
        }
    }
    pub fn categories(desc: &str, names: Vec<String>) -> Axis {
        Axis {
            desc: desc.into(),
            log: false,
            categories: Some(names),
        }
    }
}

/// A colour of the palette, by index.
pub fn colour(i: usize) -> RGBColor {
    // A qualitative palette that stays readable on white (Okabe & Ito's, then Palette99).
    const OKABE_ITO: [(u8, u8, u8); 8] = [
        (0, 114, 178),
        (213, 94, 0),
        (0, 158, 115),
        (204, 121, 167),
        (230, 159, 0),
        (86, 180, 233),
        (120, 120, 120),
        (240, 228, 66),
    ];
    if i < OKABE_ITO.len() {
        let (r, g, b) = OKABE_ITO[i];
        RGBColor(r, g, b)
    } else {
        let c = Palette99::pick(i).to_rgba();
        RGBColor(c.0, c.1, c.2)
    }
}

fn transform(v: f64, log: bool, floor: f64) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if log {
        Some(v.max(floor).log10())
    } else {
        Some(v)
    }
}

fn tick_label(v: f64, axis: &Axis) -> String {
    if let Some(names) = &axis.categories {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
            return names[i as usize].clone();
        }
        return String::new();
    }
    if axis.log {
        let x = 10f64.powf(v);
        if (v - v.round()).abs() < 1e-6 {
            let e = v.round() as i32;
            return if (-2..=3).contains(&e) {
                format!("{}", 10f64.powi(e))
            } else {
                format!("1e{e}")
            };
        }
        // Between decades: three significant digits, or ticks such as 1.8, 1.9 and 2.1 on
        // a loss curve would all print as "2e0".
        return if (1e-2..1e5).contains(&x) {
            let decimals = (2 - x.log10().floor() as i32).max(0) as usize;
            format!("{x:.decimals$}")
        } else {
            format!("{x:.2e}")
        };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-2..1e5).contains(&a) {
        format!("{v:.1e}")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

fn range_of(vals: impl Iterator<Item = f64>, categorical: Option<usize>) -> (f64, f64) {
    if let Some(n) = categorical {
        return (-0.5, n.max(1) as f64 - 0.5);
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// Draws one chart as an SVG string. `floor` is where zeros go on a log axis (stated in
/// the caption by the caller). Returns the SVG, or a short SVG saying why there is none.
pub fn chart(title: &str, x: &Axis, y: &Axis, series: &[Series], floor: f64) -> String {
    let mut buf = String::new();
    let drawn: Vec<(usize, Vec<(f64, f64)>)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let pts = s
                .points
                .iter()
                .filter_map(|&(a, b)| {
                    Some((transform(a, x.log, floor)?, transform(b, y.log, floor)?))
                })
                .collect();
            (i, pts)
        })
        .collect();
    let total: usize = drawn.iter().map(|d| d.1.len()).sum();
    let (w, h) = (760u32, 420u32);
    {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        let result = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            if total == 0 {
                root.draw(&Text::new(
                    format!("{title}: no data"),
                    (20, 30),
                    ("sans-serif", 16).into_font(),
                ))?;
                root.present()?;
                return Ok(());
            }
            let xr = range_of(
                drawn.iter().flat_map(|d| d.1.iter().map(|p| p.0)),
                x.categories.as_ref().map(|c| c.len()),
            );
            let yr = range_of(
                drawn.iter().flat_map(|d| d.1.iter().map(|p| p.1)),
                y.categories.as_ref().map(|c| c.len()),
            );
            let mut ch = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 17))
                .margin(12)
                .x_label_area_size(if x.categories.is_some() { 60 } else { 42 })
                .y_label_area_size(70)
                .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
            let xfmt = |v: &f64| tick_label(*v, x);
            let yfmt = |v: &f64| tick_label(*v, y);
            let xlabels = x.categories.as_ref().map_or(8, |c| c.len().max(1) * 4 + 1);
            ch.configure_mesh()
                .x_desc(x.desc.as_str())
                .y_desc(y.desc.as_str())
                .x_labels(xlabels)
                .y_labels(8)
                .x_label_formatter(&xfmt)
                .y_label_formatter(&yfmt)
                .light_line_style(RGBColor(238, 238, 238))
                .label_style(("sans-serif", 12))
                .axis_desc_style(("sans-serif", 13))
                .draw()?;
            for (i, pts) in &drawn {
                let s = &series[*i];
                let c = colour(s.colour);
                match s.style {
                    Style::Points => {
                        ch.draw_series(
                            pts.iter()
                                .map(move |&p| Circle::new(p, 4, c.mix(0.8).filled())),
                        )?
                        .label(s.name.as_str())
                        .legend(move |(a, b)| Circle::new((a + 8, b), 4, c.filled()));
                    }
                    Style::Line | Style::ThinLine => {
                        let width = if s.style == Style::Line { 2 } else { 1 };
                        let st = ShapeStyle::from(&c).stroke_width(width);
                        ch.draw_series(LineSeries::new(pts.iter().copied(), st))?
                            .label(s.name.as_str())
                            .legend(move |(a, b)| PathElement::new(vec![(a, b), (a + 16, b)], st));
                    }
                }
            }
            ch.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .label_font(("sans-serif", 12))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()?;
            root.present()?;
            Ok(())
        })();
        if let Err(e) = result {
            drop(root);
            let msg = escape(&format!("{title}: cannot draw chart: {e}"));
            return format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"40\"><text x=\"10\" y=\"25\">{msg}</text></svg>"
            );
        }
    }
    buf
}

/// Deterministic jitter in [-width/2, width/2] for strip plots, so repeated values stay
/// visible and the picture is the same on every render.
pub fn jitter(i: usize, width: f64) -> f64 {
    // Golden-ratio sequence: evenly spread, no random state.
    let f = (i as f64 * 0.618_033_988_749_895).fract();
    (f - 0.5) * width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_svg_with_points() {
        let s = chart(
            "t",
            &Axis::log("n"),
            &Axis::log("err"),
            &[Series {
                name: "a".into(),
                points: vec![(10.0, 1e-6), (1000.0, 0.0), (1e5, 1e-4)],
                style: Style::Points,
                colour: 0,
            }],
            1e-9,
        );
        assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(200)]);
        assert!(s.matches("<circle").count() >= 3);
    }
}

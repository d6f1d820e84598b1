//! Inline SVG charts for the HTML report, drawn with plotters' SVG backend.
//!
//! Every chart goes through [`chart`]: scatter and line series on linear axes. Log axes are
//! drawn by plotting log10 of the values over whole decades, labelled only at powers of
//! ten; exact zeros get their own row labelled 0 below a dashed axis break, so an exact
//! result is neither hidden nor disguised as a tiny error. Legends sit below the axes.
//! Every chart is also a [`Figure`] with the CSV of its data, for `report --figures`.

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

/// Colours reserved for reference lines (bounds), never used by data series.
pub const REF_BLACK: usize = usize::MAX;
pub const REF_GREY: usize = usize::MAX - 1;
pub const REF_LIGHT: usize = usize::MAX - 2;

/// A colour of the palette, by index.
pub fn colour(i: usize) -> RGBColor {
    match i {
        REF_BLACK => return RGBColor(0, 0, 0),
        REF_GREY => return RGBColor(110, 110, 110),
        REF_LIGHT => return RGBColor(170, 170, 170),
        _ => {}
    }
    // Okabe & Ito's colour-blind-safe palette without its yellow (too pale on white), in
    // an order whose neighbours also differ in lightness, so greyscale keeps them apart;
    // the marker shape (`marker`) changes with the index as well.
    const OKABE_ITO: [(u8, u8, u8); 7] = [
        (0, 114, 178),
        (213, 94, 0),
        (0, 158, 115),
        (204, 121, 167),
        (0, 0, 0),
        (230, 159, 0),
        (86, 180, 233),
    ];
    if i < OKABE_ITO.len() {
        let (r, g, b) = OKABE_ITO[i];
        RGBColor(r, g, b)
    } else {
        // Beyond seven series: darkened Palette99 (never pale), told apart by shape too.
        let c = Palette99::pick(i).to_rgba();
        RGBColor(c.0 / 4 * 3, c.1 / 4 * 3, c.2 / 4 * 3)
    }
}

/// The marker of a series by palette index: circle, triangle, square, diamond (cross),
/// so series stay distinct without colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
}

pub fn marker(i: usize) -> Marker {
    [
        Marker::Circle,
        Marker::Triangle,
        Marker::Square,
        Marker::Cross,
    ][i % 4]
}

/// Draws one marker at pixel coordinates on an area (used for points and the legend).
fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    m: Marker,
    (x, y): (i32, i32),
    c: RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let style = c.mix(0.85).filled();
    match m {
        Marker::Circle => area.draw(&Circle::new((x, y), 4, style)),
        Marker::Triangle => area.draw(&Polygon::new(
            vec![(x, y - 5), (x - 5, y + 4), (x + 5, y + 4)],
            style,
        )),
        Marker::Square => area.draw(&Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], style)),
        Marker::Cross => {
            let st = ShapeStyle::from(&c).stroke_width(2);
            area.draw(&PathElement::new(vec![(x - 4, y - 4), (x + 4, y + 4)], st))?;
            area.draw(&PathElement::new(vec![(x - 4, y + 4), (x + 4, y - 4)], st))
        }
    }
}

/// Where a value lands on an axis before the range is known.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pos {
    At(f64),
    /// An exact zero on a log axis: drawn on its own "0" row below an axis break.
    Zero,
}

fn transform(v: f64, log: bool) -> Option<Pos> {
    if !v.is_finite() {
        return None;
    }
    if !log {
        return Some(Pos::At(v));
    }
    if v > 0.0 {
        Some(Pos::At(v.log10()))
    } else if v == 0.0 {
        Some(Pos::Zero)
    } else {
        // A negative value has no place on a log axis; it is left out, not clamped.
        None
    }
}

/// The plotted range of an axis, and where its zero row is (log axes with zeros).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Span {
    lo: f64,
    hi: f64,
    zero_row: Option<f64>,
}

impl Span {
    fn place(&self, p: Pos) -> f64 {
        match p {
            Pos::At(v) => v,
            Pos::Zero => self.zero_row.unwrap_or(self.lo),
        }
    }
}

fn span_of(vals: &[Pos], axis: &Axis) -> Span {
    if let Some(names) = &axis.categories {
        return Span {
            lo: -0.5,
            hi: names.len().max(1) as f64 - 0.5,
            zero_row: None,
        };
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut zeros = false;
    for p in vals {
        match *p {
            Pos::At(v) => {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            Pos::Zero => zeros = true,
        }
    }
    if axis.log {
        // Whole decades, so every labelled tick is a power of ten.
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        let mut dlo = (lo + 0.02).floor();
        let mut dhi = (hi - 0.02).ceil();
        if dhi <= dlo {
            dlo = lo.floor();
            dhi = dlo + 1.0;
        }
        let zero_row = zeros.then_some(dlo - 1.0);
        return Span {
            lo: zero_row.unwrap_or(dlo) - 0.08,
            hi: dhi + 0.08,
            zero_row,
        };
    }
    if !lo.is_finite() || !hi.is_finite() {
        return Span {
            lo: 0.0,
            hi: 1.0,
            zero_row: None,
        };
    }
    if hi - lo < 1e-12 {
        return Span {
            lo: lo - 0.5,
            hi: hi + 0.5,
            zero_row: None,
        };
    }
    let pad = (hi - lo) * 0.05;
    Span {
        lo: lo - pad,
        hi: hi + pad,
        zero_row: None,
    }
}

fn superscript(e: i32) -> String {
    e.to_string()
        .chars()
        .map(|c| match c {
            '-' => '\u{207b}',
            '0' => '\u{2070}',
            '1' => '\u{b9}',
            '2' => '\u{b2}',
            '3' => '\u{b3}',
            d => char::from_u32(0x2070 + d.to_digit(10).unwrap_or(0)).unwrap_or(d),
        })
        .collect()
}

/// The label of a tick at plotted coordinate `v`. Log axes are labelled only at whole
/// decades (1, 10, 100, 1000, then 10⁴ ...; 10⁻¹ ...), never at half decades, and their
/// zero row reads "0".
fn tick_label(v: f64, axis: &Axis, span: &Span) -> String {
    if let Some(names) = &axis.categories {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
            // Each label gets its category's share of the axis, so neighbours never run
            // into each other (the CSV and captions keep the full names).
            return fit_text(&names[i as usize], category_room(names.len()));
        }
        return String::new();
    }
    if axis.log {
        if (v - v.round()).abs() > 1e-6 {
            return String::new();
        }
        if span.zero_row.is_some_and(|z| (z - v).abs() < 1e-6) {
            // Drawn by `chart` itself, whether or not plotters puts a tick here.
            return String::new();
        }
        let e = v.round() as i32;
        return if (0..=3).contains(&e) {
            format!("{}", 10i64.pow(e as u32))
        } else {
            format!("10{}", superscript(e))
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

/// Average width of a character of the labels (plotters size [`LABEL`]), in pixels
/// (generous).
const CHAR_PX: usize = 8;

/// How many label characters fit in one category's share of the x axis.
fn category_room(categories: usize) -> usize {
    ((WIDTH as usize - 110) / categories.max(1) / CHAR_PX).max(3)
}

/// `s` cut to at most `chars` characters, with an ellipsis when cut.
pub fn fit_text(s: &str, chars: usize) -> String {
    if s.chars().count() <= chars {
        s.to_string()
    } else {
        let mut o: String = s.chars().take(chars.saturating_sub(1)).collect();
        o.push('\u{2026}');
        o
    }
}

/// How many labels to ask plotters for: on a log axis at most one per decade, so its
/// "nice" step is a whole number of decades.
fn label_count(axis: &Axis, span: &Span) -> usize {
    if let Some(c) = &axis.categories {
        return c.len().max(1) * 4 + 1;
    }
    if axis.log {
        return ((span.hi - span.lo).floor() as usize + 1).clamp(2, 10);
    }
    8
}

// Sized for a paper's column (about 3.5 in, 252 pt = 336 CSS px): scaled from 420 px to
// it (x0.8), labels of plotters size 15 (12.1 px in the SVG) print near 7.3 pt and the
// title near 8.2 pt, checked as screenshots in headless Chromium. (At 520 px wide with
// size 12 they printed near 4.7 pt.) The HTML shows them at their own size.
const WIDTH: u32 = 420;
const PLOT_HEIGHT: u32 = 320;
const LEGEND_ROW: u32 = 20;
/// Plotters font size of tick labels, legend entries and zero labels.
const LABEL: u32 = 15;

/// Draws one chart as an SVG string: the data area on top, the legend below it (never over
/// the data). Zeros on a log axis are drawn on a row labelled 0 below a dashed axis break.
/// Returns the SVG, or a short SVG saying why there is none.
pub fn chart(title: &str, x: &Axis, y: &Axis, series: &[Series]) -> String {
    let mut buf = String::new();
    let placed: Vec<Vec<(Pos, Pos)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter_map(|&(a, b)| Some((transform(a, x.log)?, transform(b, y.log)?)))
                .collect()
        })
        .collect();
    let total: usize = placed.iter().map(Vec::len).sum();
    let xs: Vec<Pos> = placed.iter().flatten().map(|p| p.0).collect();
    let ys: Vec<Pos> = placed.iter().flatten().map(|p| p.1).collect();
    let (xspan, yspan) = (span_of(&xs, x), span_of(&ys, y));
    let drawn: Vec<Vec<(f64, f64)>> = placed
        .iter()
        .map(|pts| {
            pts.iter()
                .map(|&(a, b)| (xspan.place(a), yspan.place(b)))
                .collect()
        })
        .collect();
    // Two legend columns only when every name fits in half the width: names never collide.
    let longest = series
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let legend_cols = if (longest * CHAR_PX + 30) as u32 <= (WIDTH - 30) / 2 {
        2usize
    } else {
        1
    };
    let legend_rows = series.len().div_ceil(legend_cols) as u32;
    let (w, h) = (WIDTH, PLOT_HEIGHT + legend_rows * LEGEND_ROW + 12);
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
            let (upper, lower) = root.split_vertically(PLOT_HEIGHT);
            let mut ch = ChartBuilder::on(&upper)
                // Cut to the width (about 6.4 px a character at size 17): a long device
                // name never runs off the figure; the section heading names it in full.
                .caption(
                    fit_text(title, (WIDTH as usize - 16) / 7),
                    ("sans-serif", 17),
                )
                .margin(12)
                .x_label_area_size(if x.categories.is_some() { 62 } else { 46 })
                .y_label_area_size(72)
                .build_cartesian_2d(xspan.lo..xspan.hi, yspan.lo..yspan.hi)?;
            let xfmt = |v: &f64| tick_label(*v, x, &xspan);
            let yfmt = |v: &f64| tick_label(*v, y, &yspan);
            ch.configure_mesh()
                .x_desc(x.desc.as_str())
                .y_desc(y.desc.as_str())
                .x_labels(label_count(x, &xspan))
                .y_labels(label_count(y, &yspan))
                .x_label_formatter(&xfmt)
                .y_label_formatter(&yfmt)
                .light_line_style(RGBColor(238, 238, 238))
                .label_style(("sans-serif", LABEL))
                .axis_desc_style(("sans-serif", LABEL + 1))
                .draw()?;
            // The zero rows' "0" labels, placed in pixels beside the axis.
            let font = ("sans-serif", LABEL).into_font();
            if let Some(z) = yspan.zero_row {
                let (px, py) = ch.backend_coord(&(xspan.lo, z));
                upper.draw(&Text::new("0", (px - 16, py - 7), font.clone()))?;
            }
            if let Some(z) = xspan.zero_row {
                let (px, py) = ch.backend_coord(&(z, yspan.lo));
                upper.draw(&Text::new("0", (px - 3, py + 8), font.clone()))?;
            }
            // The axis break between the zero row and the smallest decade.
            let grey = ShapeStyle::from(&RGBColor(150, 150, 150)).stroke_width(1);
            if let Some(z) = yspan.zero_row {
                let b = z + 0.5;
                let mut t = xspan.lo;
                let step = (xspan.hi - xspan.lo) / 60.0;
                while t < xspan.hi {
                    ch.draw_series(LineSeries::new(
                        [(t, b), ((t + step * 0.5).min(xspan.hi), b)],
                        grey,
                    ))?;
                    t += step;
                }
            }
            if let Some(z) = xspan.zero_row {
                let b = z + 0.5;
                let mut t = yspan.lo;
                let step = (yspan.hi - yspan.lo) / 40.0;
                while t < yspan.hi {
                    ch.draw_series(LineSeries::new(
                        [(b, t), (b, (t + step * 0.5).min(yspan.hi))],
                        grey,
                    ))?;
                    t += step;
                }
            }
            for (s, pts) in series.iter().zip(&drawn) {
                let c = colour(s.colour);
                match s.style {
                    Style::Points => {
                        let m = marker(s.colour);
                        for p in pts {
                            draw_marker(&upper, m, ch.backend_coord(p), c)?;
                        }
                    }
                    Style::Line | Style::ThinLine => {
                        let width = if s.style == Style::Line { 2 } else { 1 };
                        let st = ShapeStyle::from(&c).stroke_width(width);
                        ch.draw_series(LineSeries::new(pts.iter().copied(), st))?;
                    }
                }
            }
            // The legend, in its own band below the axes.
            let col_w = (w as i32 - 30) / legend_cols as i32;
            for (i, s) in series.iter().enumerate() {
                let (row, col) = ((i / legend_cols) as i32, (i % legend_cols) as i32);
                let (lx, ly) = (20 + col * col_w, 8 + row * LEGEND_ROW as i32 + 6);
                let c = colour(s.colour);
                match s.style {
                    Style::Points => {
                        draw_marker(&lower, marker(s.colour), (lx + 8, ly), c)?;
                    }
                    Style::Line | Style::ThinLine => {
                        let width = if s.style == Style::Line { 2 } else { 1 };
                        lower.draw(&PathElement::new(
                            vec![(lx, ly), (lx + 16, ly)],
                            ShapeStyle::from(&c).stroke_width(width),
                        ))?;
                    }
                }
                lower.draw(&Text::new(
                    fit_text(&s.name, (col_w as usize).saturating_sub(30) / CHAR_PX),
                    (lx + 22, ly - 8),
                    ("sans-serif", LABEL).into_font(),
                ))?;
            }
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

/// The data behind a chart as CSV: one row per point, with the values as measured (not
/// log-transformed, not jittered: category axes give the category's name).
pub fn csv(x: &Axis, y: &Axis, series: &[Series]) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    }
    let coord = |v: f64, a: &Axis| -> String {
        match &a.categories {
            Some(names) => names
                .get(v.round().max(0.0) as usize)
                .map(|n| field(n))
                .unwrap_or_default(),
            None => format!("{v:e}"),
        }
    };
    let mut s = format!("series,{},{}\n", field(&x.desc), field(&y.desc));
    for se in series {
        for &(a, b) in &se.points {
            s.push_str(&format!(
                "{},{},{}\n",
                field(&se.name),
                coord(a, x),
                coord(b, y)
            ));
        }
    }
    s
}

pub use super::view::Figure;

/// A figure: the chart drawn from `series`, the CSV of its data and its caption.
pub fn figure(
    slug: &str,
    title: &str,
    x: &Axis,
    y: &Axis,
    series: &[Series],
    caption: &str,
) -> Figure {
    Figure {
        slug: slugify(slug),
        caption: caption.to_string(),
        svg: chart(title, x, y, series),
        csv: csv(x, y, series),
    }
}

/// A file-name-safe slug: lower-case ASCII letters, digits and '-'.
pub fn slugify(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            o.push(c.to_ascii_lowercase());
        } else if !o.ends_with('-') && !o.is_empty() {
            o.push('-');
        }
    }
    o.trim_end_matches('-').chars().take(80).collect()
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

    fn pts(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            style: Style::Points,
            colour: 0,
        }
    }

    /// (y, text) of every <text> element.
    fn texts(svg: &str) -> Vec<(f64, String)> {
        let mut out = Vec::new();
        for part in svg.split("<text").skip(1) {
            let y = part
                .split(" y=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            let t = part
                .split_once('>')
                .and_then(|(_, r)| r.split("</text>").next())
                .unwrap_or("")
                .trim()
                .to_string();
            out.push((y, t));
        }
        out
    }

    #[test]
    fn chart_has_svg_with_points_and_zeros_on_their_own_row() {
        let s = chart(
            "t",
            &Axis::log("n"),
            &Axis::log("err"),
            &[pts("a", vec![(10.0, 1e-6), (1000.0, 0.0), (1e5, 1e-4)])],
        );
        assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(200)]);
        // Three data points and the legend's marker.
        assert_eq!(s.matches("<circle").count(), 4);
        let labels: Vec<String> = texts(&s).into_iter().map(|t| t.1).collect();
        assert!(labels.iter().any(|l| l == "0"), "{labels:?}");
        assert!(
            labels.iter().any(|l| l == "10\u{207b}\u{2076}"),
            "{labels:?}"
        );
        assert!(!s.contains("1e-30") && !s.contains("e-7"), "no fake floor");
    }

    #[test]
    fn log_ticks_are_decades_only() {
        let s = chart(
            "t",
            &Axis::log("n (elements)"),
            &Axis::log("error"),
            &[pts(
                "a",
                vec![(1000.0, 3.3e-3), (31623.0, 1e-1), (1000003.0, 5e-2)],
            )],
        );
        let labels: Vec<String> = texts(&s).into_iter().map(|t| t.1).collect();
        for bad in ["3.16", "31623", "e-3", "e-2"] {
            assert!(
                labels.iter().all(|l| !l.contains(bad)),
                "{bad} in {labels:?}"
            );
        }
        for want in [
            "1000",
            "10\u{2074}",
            "10\u{2076}",
            "10\u{207b}\u{b9}",
            "10\u{207b}\u{b2}",
        ] {
            assert!(labels.iter().any(|l| l == want), "{want} not in {labels:?}");
        }
    }

    #[test]
    fn legend_lies_below_the_data_area() {
        let s = chart(
            "t",
            &Axis::linear("x"),
            &Axis::linear("y"),
            &[
                pts("first series", vec![(0.0, 0.0), (1.0, 1.0)]),
                pts("second series", vec![(0.5, 0.2)]),
                pts("third series", vec![(0.2, 0.9)]),
            ],
        );
        for name in ["first series", "second series", "third series"] {
            let (y, _) = texts(&s)
                .into_iter()
                .find(|t| t.1 == name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert!(y > PLOT_HEIGHT as f64, "{name} at y={y} overlaps the plot");
        }
    }

    #[test]
    fn csv_keeps_measured_values_and_category_names() {
        let x = Axis::categories("variant", vec!["tree".into(), "atomic".into()]);
        let y = Axis::log("ulp");
        let c = csv(&x, &y, &[pts("f32, n=10", vec![(1.1, 0.0), (-0.2, 3.0)])]);
        assert_eq!(
            c,
            "series,variant,ulp\n\"f32, n=10\",atomic,0e0\n\"f32, n=10\",tree,3e0\n"
        );
    }
}

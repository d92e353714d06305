//! The reports' charts, drawn at the hub as SVG with `plotters` (its SVG backend only): bars in
//! groups, one colour a series. No text is drawn in the SVG (no fonts at the hub): the page puts
//! the labels and the numbers beside each chart, and every chart is also a CSV.

use plotters::prelude::*;

/// The series' colours, in order (a legend on the page uses the same).
pub const COLOURS: [(u8, u8, u8); 4] = [(29, 58, 95), (214, 125, 38), (143, 59, 56), (88, 140, 76)];

/// The CSS colour of series `i`.
pub fn css(i: usize) -> String {
    let (r, g, b) = COLOURS[i % COLOURS.len()];
    format!("rgb({r},{g},{b})")
}

/// Groups of bars (one group per label, one bar per series in each), as an SVG document.
/// Negative values are drawn as 0; an empty chart is an empty frame.
pub fn bars(groups: &[Vec<f64>], width: u32, height: u32) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let series = groups.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let top = groups
            .iter()
            .flatten()
            .copied()
            .fold(0.0_f64, f64::max)
            .max(1.0);
        let n = groups.len().max(1);
        let chart = ChartBuilder::on(&root)
            .margin(8)
            .build_cartesian_2d(0.0..n as f64, 0.0..top * 1.05);
        if let Ok(mut chart) = chart {
            let slot = 0.8 / series as f64;
            let bars = groups.iter().enumerate().flat_map(|(g, values)| {
                values.iter().enumerate().map(move |(s, v)| {
                    let x0 = g as f64 + 0.1 + s as f64 * slot;
                    let (r, gr, b) = COLOURS[s % COLOURS.len()];
                    Rectangle::new(
                        [(x0, 0.0), (x0 + slot * 0.9, v.max(0.0))],
                        RGBColor(r, gr, b).filled(),
                    )
                })
            });
            let _ = chart.draw_series(bars);
            let axis = PathElement::new(vec![(0.0, 0.0), (n as f64, 0.0)], BLACK.stroke_width(1));
            let _ = chart.draw_series(std::iter::once(axis));
        }
        let _ = root.present();
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_an_svg_with_a_rectangle_a_value() {
        let svg = bars(&[vec![3.0, 1.0], vec![2.0, 0.0]], 400, 200);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("</svg>"));
        assert_eq!(
            svg.matches("<rect").count(),
            1 + 4,
            "the background and four bars"
        );
        assert!(!svg.contains("<text"), "no text: the page labels the chart");
        let empty = bars(&[], 400, 200);
        assert!(empty.contains("</svg>"));
    }
}

//! Counterexamples as message-sequence charts: one column per actor, one line per
//! message or store exchange, so a violation reads like the specs' diagrams.

use crate::model::Node;
use crate::terminal::Term;

const COLS: [&str; 6] = ["alice", "bob", "carol", "mallory", "server", "store"];
const WIDTH: usize = 14;

fn col(n: Option<Node>) -> usize {
    match n {
        Some(Node::T(t)) => t.index(),
        Some(Node::Server) => 4,
        None => 5,
    }
}

/// The chart's header line.
pub fn header() -> String {
    header_of(&COLS)
}

/// A header line for arbitrary column names (the replay chart's peers).
pub fn header_of<S: AsRef<str>>(columns: &[S]) -> String {
    columns
        .iter()
        .map(|c| format!("{:<WIDTH$}", c.as_ref()))
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// Renders the lines of one step: an arrow from the sender's column to the
/// receiver's, the label after the chart.
pub fn render(lines: &[(Option<Node>, Option<Node>, String)]) -> String {
    let rows: Vec<(usize, usize, String)> = lines
        .iter()
        .map(|(from, to, label)| (col(*from), col(*to), label.clone()))
        .collect();
    let _ = Term::ALL;
    render_rows(COLS.len(), &rows)
}

/// Renders rows `(from column, to column, label)` over `columns` columns: an arrow
/// between the two columns (`*` when they are the same), the label after the chart.
pub fn render_rows(columns: usize, rows: &[(usize, usize, String)]) -> String {
    let mut out = String::new();
    for (a, b, label) in rows {
        let (a, b) = (*a, *b);
        let mut row: Vec<char> = Vec::new();
        for i in 0..columns {
            let cell: String = if i == a && i == b {
                "*".into()
            } else {
                "|".into()
            };
            row.extend(format!("{cell:<WIDTH$}").chars());
        }
        if a != b {
            let (lo, hi) = (a.min(b) * WIDTH, b.max(a) * WIDTH);
            for c in row.iter_mut().take(hi).skip(lo + 1) {
                *c = '-';
            }
            if b > a {
                row[hi - 1] = '>';
            } else {
                row[lo + 1] = '<';
            }
        }
        let line: String = row.into_iter().collect();
        out.push_str(line.trim_end());
        out.push_str("  ");
        out.push_str(label);
        out.push('\n');
    }
    out
}

/// A whole counterexample path as one chart.
pub fn chart(
    model: &crate::model::CpmModel,
    path: &stateright::Path<crate::model::State, crate::model::Action>,
) -> String {
    use stateright::Model;
    let mut out = header();
    out.push('\n');
    let steps = path.clone().into_vec();
    for (state, action) in steps {
        if let Some(action) = action {
            out.push_str(&model.format_step(&state, action).unwrap_or_default());
        }
    }
    out
}

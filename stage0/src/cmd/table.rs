//! Aligned text tables for `list` commands.

use std::io::{self, Write};

/// Prints `rows` in left-aligned columns, with `header` first unless it is
/// `None` (`--no-legend`).
pub fn print<const N: usize>(
    out: &mut impl Write,
    header: Option<[&str; N]>,
    rows: &[[String; N]],
) -> io::Result<()> {
    let header = header.map(|h| h.map(String::from));
    let all: Vec<&[String; N]> = header.iter().chain(rows).collect();
    let widths: Vec<usize> = (0..N)
        .map(|c| all.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for r in all {
        let line: Vec<String> = (0..N)
            .map(|c| format!("{:<w$}", r[c], w = widths[c]))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

//! The README quotes only what `make bench` printed: its `### Figures (...)` section holds
//! exactly the figure rows of `scripts/bench-results.md` (spread left out) under that file's
//! date. `scripts/bench-readme.py` writes the section; `scripts/bench.sh` runs it after a
//! full run, so a bench result committed without its README section fails here.

use std::fs;
use std::path::Path;

/// A results cell without its ` [lowest–highest]` spread, as the README quotes it.
fn without_spread(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find(" [") {
        match rest[i..].find(']') {
            Some(j) => {
                out.push_str(&rest[..i]);
                rest = &rest[i + j + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

fn figure_rows(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| figure |"))
        .map(without_spread)
        .collect()
}

/// The README's figures section: its heading line and its text up to the next `## `.
fn readme_section(readme: &str) -> (&str, &str) {
    let start = readme
        .find("### Figures (")
        .expect("README has a '### Figures (' section");
    let body = &readme[start..];
    let end = body.find("\n## ").map_or(body.len(), |i| i + 1);
    let body = &body[..end];
    (body.lines().next().unwrap(), body)
}

#[test]
fn spread_is_left_out_and_nothing_else() {
    assert_eq!(
        without_spread("| a | lonc 46.9 µs [45.1–49.2] | 1.10 [1.09–1.23] | ≤ 1.10 | **met** |"),
        "| a | lonc 46.9 µs | 1.10 | ≤ 1.10 | **met** |"
    );
    assert_eq!(without_spread("| no spread |"), "| no spread |");
}

#[test]
fn the_readme_figures_are_the_bench_results() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let results = fs::read_to_string(root.join("scripts/bench-results.md")).unwrap();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let date = results
        .lines()
        .find_map(|l| l.strip_prefix("- date: "))
        .and_then(|d| d.split(" (UTC)").next())
        .expect("bench-results.md has its date line");
    let (heading, body) = readme_section(&readme);
    assert!(
        heading.contains(date),
        "README's figures are not from the recorded run of {date}: {heading}\n\
         (run `python3 scripts/bench-readme.py`)"
    );
    let want = figure_rows(&results);
    let have = figure_rows(body);
    assert!(
        want.len() >= 10,
        "bench-results.md has only {} rows",
        want.len()
    );
    let missing: Vec<_> = want.iter().filter(|r| !have.contains(r)).collect();
    let extra: Vec<_> = have.iter().filter(|r| !want.contains(r)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README's figures differ from bench-results.md (run `python3 scripts/bench-readme.py`)\n\
         not in the README: {missing:#?}\nnot in bench-results.md: {extra:#?}"
    );
}

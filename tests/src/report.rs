//! Reports of a run: JUnit XML for CI systems, Markdown for people.

use std::fmt::Write as _;

use crate::run::{CaseResult, Status};

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

pub fn totals(results: &[CaseResult]) -> Totals {
    let mut t = Totals::default();
    for r in results {
        match r.status {
            Status::Passed => t.passed += 1,
            Status::Failed(_) => t.failed += 1,
            Status::Skipped(_) => t.skipped += 1,
        }
    }
    t
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no place for other control characters.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `testsuite` per suite, one `testcase` per case.
pub fn junit(results: &[CaseResult]) -> String {
    let mut suites: Vec<&str> = Vec::new();
    for r in results {
        if !suites.contains(&r.suite.as_str()) {
            suites.push(&r.suite);
        }
    }
    let all = totals(results);
    let seconds: f64 = results.iter().map(|r| r.seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"stm-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{seconds:.3}\">",
        results.len(),
        all.failed,
        all.skipped
    );
    for suite in suites {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.suite == suite).collect();
        let t = totals(&cases.iter().map(|c| (*c).clone()).collect::<Vec<_>>());
        let time: f64 = cases.iter().map(|c| c.seconds).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
            xml(suite),
            cases.len(),
            t.failed,
            t.skipped
        );
        for c in cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml(suite),
                xml(&c.name),
                c.seconds
            );
            match &c.status {
                Status::Passed => {
                    let _ = writeln!(out, "><system-out>{}</system-out></testcase>", xml(&c.seen));
                }
                Status::Failed(why) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n      <system-out>{}</system-out>\n    </testcase>",
                        xml(why),
                        xml(why),
                        xml(&c.seen)
                    );
                }
                Status::Skipped(why) => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(why)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A Markdown report: the target, the totals, then a table per suite.
pub fn markdown(target: &str, started: &str, results: &[CaseResult]) -> String {
    let t = totals(results);
    let mut out = String::new();
    let _ = writeln!(out, "# stm-conformance report\n");
    let _ = writeln!(out, "- target: {target}");
    let _ = writeln!(out, "- started: {started}");
    let _ = writeln!(out, "- kit: stm-conformance {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(
        out,
        "- result: **{}** — {} passed, {} failed, {} skipped, {} cases\n",
        if t.failed == 0 { "PASS" } else { "FAIL" },
        t.passed,
        t.failed,
        t.skipped,
        results.len()
    );
    let mut suites: Vec<&str> = Vec::new();
    for r in results {
        if !suites.contains(&r.suite.as_str()) {
            suites.push(&r.suite);
        }
    }
    for suite in suites {
        let _ = writeln!(out, "## {suite}\n");
        let _ = writeln!(out, "| case | result | time | seen / why |");
        let _ = writeln!(out, "|---|---|---|---|");
        for c in results.iter().filter(|r| r.suite == suite) {
            let (result, detail) = match &c.status {
                Status::Passed => ("pass", c.seen.clone()),
                Status::Failed(why) => ("**FAIL**", format!("{why} (seen: {})", c.seen)),
                Status::Skipped(why) => ("skipped", why.clone()),
            };
            let _ = writeln!(
                out,
                "| {} | {result} | {:.2} s | {} |",
                cell(&c.name),
                c.seconds,
                cell(&detail)
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, status: Status) -> CaseResult {
        CaseResult {
            suite: "stm".into(),
            name: name.into(),
            status,
            seconds: 0.5,
            seen: "Identify → Completed".into(),
        }
    }

    #[test]
    fn junit_counts_and_escapes() {
        let results = vec![
            result("a <b> & \"c\"", Status::Passed),
            result("failing", Status::Failed("DE39 12, expected 00".into())),
            result("skipped", Status::Skipped("no listener".into())),
        ];
        let x = junit(&results);
        assert!(
            x.contains("tests=\"3\" failures=\"1\" skipped=\"1\""),
            "{x}"
        );
        assert!(
            x.contains("name=\"a &lt;b&gt; &amp; &quot;c&quot;\""),
            "{x}"
        );
        assert!(
            x.contains("<failure message=\"DE39 12, expected 00\">"),
            "{x}"
        );
        let m = markdown("in-process", "now", &results);
        assert!(
            m.contains("**FAIL** — 1 passed, 1 failed, 1 skipped, 3 cases"),
            "{m}"
        );
    }
}

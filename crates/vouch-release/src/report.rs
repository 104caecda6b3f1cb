//! The release report: a table for people, JSON for machines, JUnit XML for
//! CI systems.

use crate::verify::{ImageRow, Verdict};

/// Whether every row passed (skips allowed).
pub fn passed(rows: &[ImageRow]) -> bool {
    rows.iter().all(|r| r.verdict != Verdict::Fail)
}

/// The report as JSON.
pub fn to_json(version: &str, rows: &[ImageRow]) -> serde_json::Value {
    serde_json::json!({
        "version": version,
        "passed": passed(rows),
        "images": rows,
    })
}

/// A fixed-width table, then one line per problem.
pub fn to_table(rows: &[ImageRow]) -> String {
    let header = [
        "IMAGE",
        "DIGEST",
        "SIGNATURE",
        "SBOM",
        "SLSA BUILDER",
        "VEX",
        "VERDICT",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.digest.as_deref().map_or("-".into(), |d| {
                    d.trim_start_matches("sha256:").chars().take(12).collect()
                }),
                match (&r.signer, r.kind.as_str()) {
                    (Some(_), _) => "verified".into(),
                    (None, "signed") => "-".into(),
                    (None, kind) => kind.to_string(),
                },
                r.sbom_packages.map_or("-".into(), |n| format!("{n} pkgs")),
                r.slsa_builder.clone().unwrap_or_else(|| "-".into()),
                r.vex_statements
                    .map_or("-".into(), |n| format!("{n} stmts")),
                verdict_text(r.verdict).to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[String]| {
        cols.iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(&header.map(String::from));
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row));
        out.push('\n');
    }
    for r in rows.iter().filter(|r| !r.problems.is_empty()) {
        for p in &r.problems {
            out.push_str(&format!("{} {}: {p}\n", verdict_text(r.verdict), r.name));
        }
    }
    out
}

/// JUnit XML: one test case per image; failures and skips carry the reasons.
pub fn to_junit(version: &str, rows: &[ImageRow]) -> String {
    let failures = rows.iter().filter(|r| r.verdict == Verdict::Fail).count();
    let skipped = rows.iter().filter(|r| r.verdict == Verdict::Skip).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"vouch verify-release {}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">\n",
        xml(version),
        rows.len()
    );
    for r in rows {
        out.push_str(&format!(
            "  <testcase classname=\"release.{}\" name=\"{}\">\n",
            xml(version),
            xml(&r.name)
        ));
        let detail = xml(&r.problems.join("\n"));
        match r.verdict {
            Verdict::Fail => out.push_str(&format!(
                "    <failure message=\"{}\">{detail}</failure>\n",
                xml(r.problems.first().map_or("", String::as_str))
            )),
            Verdict::Skip => out.push_str(&format!("    <skipped message=\"{detail}\"/>\n")),
            Verdict::Ok => {}
        }
        out.push_str("  </testcase>\n");
    }
    out.push_str("</testsuite>\n");
    out
}

fn verdict_text(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ok => "OK",
        Verdict::Fail => "FAIL",
        Verdict::Skip => "SKIP",
    }
}

fn xml(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c if c.is_control() && c != '\n' && c != '\t' => format!("&#{};", c as u32),
            c => c.to_string(),
        })
        .collect()
}

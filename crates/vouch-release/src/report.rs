//! The release report: a table for people, JSON for machines, JUnit XML for
//! CI systems.

use crate::verify::{ImageKind, ReleaseReport, Verdict};

/// The version of the JSON report's shape ([`to_json`]): raised when a
/// field changes meaning or goes away (adding one does not raise it).
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// The report as JSON: `schemaVersion` ([`REPORT_SCHEMA_VERSION`]),
/// `passed`, the number of signed images `verified`, the `accessFailure`
/// that stopped the run (or null) and one object per image, whose `kind` is
/// `signed` or `third-party` and whose `category` is a third-party image's
/// category from the policy (null for signed images).
pub fn to_json(report: &ReleaseReport) -> serde_json::Value {
    serde_json::json!({
        "schemaVersion": REPORT_SCHEMA_VERSION,
        "version": report.version,
        "passed": report.passed(),
        "verified": report.verified(),
        "accessFailure": report.access_failure,
        "images": report.rows,
    })
}

/// A fixed-width table, then one line per problem; an access failure that
/// stopped the run is said once, with the images it left unchecked.
pub fn to_table(report: &ReleaseReport) -> String {
    let rows = &report.rows;
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
                match (&r.signer, r.kind, &r.category) {
                    (Some(_), ..) => "verified".into(),
                    (None, ImageKind::ThirdParty, Some(category)) => category.clone(),
                    (None, ImageKind::ThirdParty, None) => "third-party".into(),
                    (None, ImageKind::Signed, _) => "-".into(),
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
    let checked = |r: &&crate::ImageRow| r.verdict != Verdict::Error;
    for r in rows.iter().filter(checked) {
        for p in &r.problems {
            out.push_str(&format!("{} {}: {p}\n", verdict_text(r.verdict), r.name));
        }
        for w in &r.warnings {
            out.push_str(&format!("WARNING {}: {w}\n", r.name));
        }
    }
    if let Some(access) = &report.access_failure {
        let unchecked: Vec<&str> = rows
            .iter()
            .filter(|r| r.verdict == Verdict::Error)
            .map(|r| r.name.as_str())
            .collect();
        // The cause itself is the caller's to say, once (the CLI: on stderr).
        out.push_str(&format!(
            "ERROR {} of {} images not checked ({}): the registry could not be reached or \
             refused access while checking {}\n",
            unchecked.len(),
            rows.len(),
            unchecked.join(", "),
            access.image,
        ));
    }
    out
}

/// JUnit XML: one test case per image; failures and skips carry the
/// reasons, images not checked are errors.
pub fn to_junit(report: &ReleaseReport) -> String {
    let (version, rows) = (report.version.as_str(), &report.rows);
    let failures = rows.iter().filter(|r| r.verdict == Verdict::Fail).count();
    let skipped = rows.iter().filter(|r| r.verdict == Verdict::Skip).count();
    let errors = rows.iter().filter(|r| r.verdict == Verdict::Error).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"vouch verify-release {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">\n",
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
            Verdict::Error => out.push_str(&format!(
                "    <error message=\"not checked: registry access failed\">{detail}</error>\n"
            )),
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
        Verdict::Error => "ERROR",
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

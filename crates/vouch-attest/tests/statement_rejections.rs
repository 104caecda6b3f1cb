//! Every way `parse_statement` refuses a statement, through the public API.

use vouch_attest::{
    AttestError, DocumentKind, JsonType, MAX_STATEMENT_BYTES, MAX_SUBJECT_DIGESTS, MAX_SUBJECTS,
    parse_statement,
};

const SHA: &str = "4a5bcd6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a";

/// A statement with one field replaced (or removed, with `None`).
fn statement_with(field: &str, value: Option<&str>) -> String {
    let subject = format!(r#"[{{"name":"img","digest":{{"sha256":"{SHA}"}}}}]"#);
    let fields = [
        ("_type", r#""https://in-toto.io/Statement/v1""#.to_owned()),
        ("subject", subject),
        ("predicateType", r#""https://example.com/p/v1""#.to_owned()),
        ("predicate", "{}".to_owned()),
    ];
    let body = fields
        .iter()
        .filter_map(|(name, default)| {
            if *name == field {
                value.map(|v| format!(r#""{name}":{v}"#))
            } else {
                Some(format!(r#""{name}":{default}"#))
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    format!("{{{body}}}")
}

fn parse(json: &str) -> Result<vouch_attest::Statement, AttestError> {
    parse_statement(json.as_bytes())
}

fn message(json: &str) -> String {
    parse(json)
        .expect_err("statement should be rejected")
        .to_string()
}

#[test]
fn baseline_statement_is_accepted() {
    let statement = parse(&statement_with("none", None)).unwrap();
    assert!(statement.subject_matches_sha256(SHA));
}

#[test]
fn rejects_an_unknown_statement_type() {
    let err = parse(&statement_with(
        "_type",
        Some(r#""https://in-toto.io/Statement/v0.2""#),
    ))
    .unwrap_err();
    assert!(matches!(err, AttestError::UnsupportedStatementType { .. }));
    assert_eq!(
        err.to_string(),
        "in-toto statement has `_type` `https://in-toto.io/Statement/v0.2`: expected \
         `https://in-toto.io/Statement/v0.1` or `https://in-toto.io/Statement/v1`"
    );
}

#[test]
fn rejects_a_missing_or_non_string_statement_type() {
    assert_eq!(
        message(&statement_with("_type", None)),
        "in-toto statement: missing required field `$._type`"
    );
    assert_eq!(
        message(&statement_with("_type", Some("1"))),
        "in-toto statement: expected a string at `$._type`, found a number"
    );
}

#[test]
fn rejects_a_missing_or_null_subject() {
    assert_eq!(
        message(&statement_with("subject", None)),
        "in-toto statement: missing required field `$.subject`"
    );
    assert_eq!(
        message(&statement_with("subject", Some("null"))),
        "in-toto statement: expected an array at `$.subject`, found null"
    );
    assert_eq!(
        message(&statement_with("subject", Some(r#"{"digest":{}}"#))),
        "in-toto statement: expected an array at `$.subject`, found an object"
    );
}

#[test]
fn rejects_an_empty_subject_array() {
    let err = parse(&statement_with("subject", Some("[]"))).unwrap_err();
    assert!(matches!(err, AttestError::EmptySubject));
}

#[test]
fn rejects_a_null_subject_entry_with_cosigns_wording() {
    let subjects = format!(r#"[{{"digest":{{"sha256":"{SHA}"}}}},null]"#);
    let err = parse(&statement_with("subject", Some(&subjects))).unwrap_err();
    assert!(matches!(err, AttestError::NullSubjectEntry { index: 1 }));
    assert_eq!(
        err.to_string(),
        "invalid in-toto statement: null subject entry at `$.subject[1]`"
    );
}

#[test]
fn rejects_subject_entries_and_fields_of_the_wrong_type() {
    assert_eq!(
        message(&statement_with("subject", Some(r#"["img"]"#))),
        "in-toto statement: expected an object at `$.subject[0]`, found a string"
    );
    assert_eq!(
        message(&statement_with(
            "subject",
            Some(r#"[{"name":7,"digest":{"sha256":"ab"}}]"#)
        )),
        "in-toto statement: expected a string at `$.subject[0].name`, found a number"
    );
    assert_eq!(
        message(&statement_with(
            "subject",
            Some(r#"[{"digest":{"sha256":["ab"]}}]"#)
        )),
        "in-toto statement: expected a string at `$.subject[0].digest.sha256`, found an array"
    );
    assert_eq!(
        message(&statement_with(
            "subject",
            Some(r#"[{"digest":"sha256:ab"}]"#)
        )),
        "in-toto statement: expected an object at `$.subject[0].digest`, found a string"
    );
    assert_eq!(
        message(&statement_with(
            "subject",
            Some(r#"[{"digest":{"sha256":"ab"},"annotations":[]}]"#)
        )),
        "in-toto statement: expected an object at `$.subject[0].annotations`, found an array"
    );
}

#[test]
fn rejects_a_subject_without_digests() {
    assert_eq!(
        message(&statement_with("subject", Some(r#"[{"name":"img"}]"#))),
        "in-toto statement: missing required field `$.subject[0].digest`"
    );
    let err = parse(&statement_with(
        "subject",
        Some(r#"[{"name":"img","digest":{}}]"#),
    ))
    .unwrap_err();
    assert!(matches!(err, AttestError::EmptySubjectDigest { index: 0 }));
}

#[test]
fn rejects_more_subjects_than_the_limit() {
    let one = format!(r#"{{"digest":{{"sha256":"{SHA}"}}}}"#);
    let at_limit = format!("[{}]", vec![one.as_str(); MAX_SUBJECTS].join(","));
    assert!(parse(&statement_with("subject", Some(&at_limit))).is_ok());
    let over = format!("[{}]", vec![one.as_str(); MAX_SUBJECTS + 1].join(","));
    let err = parse(&statement_with("subject", Some(&over))).unwrap_err();
    assert!(matches!(
        err,
        AttestError::TooManySubjects { count, limit } if count == MAX_SUBJECTS + 1 && limit == MAX_SUBJECTS
    ));
}

#[test]
fn rejects_more_digests_per_subject_than_the_limit() {
    let digests = |n: usize| {
        (0..n)
            .map(|i| format!(r#""alg{i}":"00""#))
            .collect::<Vec<_>>()
            .join(",")
    };
    let at_limit = format!(r#"[{{"digest":{{{}}}}}]"#, digests(MAX_SUBJECT_DIGESTS));
    assert!(parse(&statement_with("subject", Some(&at_limit))).is_ok());
    let over = format!(r#"[{{"digest":{{{}}}}}]"#, digests(MAX_SUBJECT_DIGESTS + 1));
    let err = parse(&statement_with("subject", Some(&over))).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "in-toto statement: `$.subject[0].digest` has {} entries: expected at most {}",
            MAX_SUBJECT_DIGESTS + 1,
            MAX_SUBJECT_DIGESTS
        )
    );
}

#[test]
fn rejects_a_missing_empty_or_non_string_predicate_type() {
    assert_eq!(
        message(&statement_with("predicateType", None)),
        "in-toto statement: missing required field `$.predicateType`"
    );
    let err = parse(&statement_with("predicateType", Some(r#""""#))).unwrap_err();
    assert!(matches!(err, AttestError::EmptyPredicateType));
    assert_eq!(
        message(&statement_with("predicateType", Some(r#"{"uri":"x"}"#))),
        "in-toto statement: expected a string at `$.predicateType`, found an object"
    );
}

#[test]
fn rejects_a_top_level_value_that_is_not_an_object() {
    for (json, found) in [
        ("[]", JsonType::Array),
        (r#""statement""#, JsonType::String),
        ("null", JsonType::Null),
        ("42", JsonType::Number),
    ] {
        let err = parse(json).unwrap_err();
        assert!(
            matches!(err, AttestError::WrongType { ref path, found: f, .. } if path == "$" && f == found),
            "{json}: {err:?}"
        );
    }
}

#[test]
fn rejects_malformed_json_and_invalid_utf8() {
    for bytes in [
        &b""[..],
        b"{",
        b"{\"_type\":}",
        b"{\"a\":1,}",
        b"{} {}",
        b"{\"_type\":\"\xff\"}",
    ] {
        let err = parse_statement(bytes).unwrap_err();
        assert!(
            matches!(
                err,
                AttestError::InvalidJson {
                    document: DocumentKind::Statement,
                    ..
                }
            ),
            "{bytes:?}: {err:?}"
        );
    }
}

#[test]
fn rejects_input_over_the_size_limit_before_parsing() {
    let oversized = vec![b' '; MAX_STATEMENT_BYTES + 1];
    let err = parse_statement(&oversized).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "in-toto statement is {} bytes, larger than the limit of {MAX_STATEMENT_BYTES} bytes",
            MAX_STATEMENT_BYTES + 1
        )
    );
}

#[test]
fn rejects_duplicate_keys_at_any_depth() {
    let top = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","_type":"https://in-toto.io/Statement/v0.1",{}"#,
        &statement_with("_type", None)[1..]
    );
    let err = parse(&top).unwrap_err();
    assert!(
        matches!(err, AttestError::DuplicateKey { ref path, ref key, .. } if path == "$" && key == "_type")
    );

    let digest = format!(r#"[{{"digest":{{"sha256":"{SHA}","sha256":"00"}}}}]"#);
    let err = parse(&statement_with("subject", Some(&digest))).unwrap_err();
    assert!(err.to_string().starts_with(
        "in-toto statement: duplicate key `sha256` in the object at `$.subject[0].digest`"
    ));

    let predicate = r#"{"statements":[{"status":"fixed","status":"affected"}]}"#;
    let err = parse(&statement_with("predicate", Some(predicate))).unwrap_err();
    assert!(
        matches!(err, AttestError::DuplicateKey { ref path, .. } if path == "$.predicate.statements[0]")
    );
}

#[test]
fn rejects_nesting_deeper_than_the_parser_limit() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let err = parse(&statement_with("predicate", Some(&deep))).unwrap_err();
    assert!(matches!(err, AttestError::InvalidJson { .. }));
    assert!(err.to_string().contains("recursion limit"), "{err}");
}

//! Running the project's binaries the way a shell pipeline would.

use std::process::{Command, Output, Stdio};

/// Runs `command` with its stdout on a pipe whose read end was closed before
/// it started (`cmd | true` that never reads), so its first write to stdout
/// fails however fast it is; stderr is captured.
pub fn run_into_closed_pipe(mut command: Command) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    command
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run the command")
}

/// The commit `git rev-parse HEAD` names for the checkout `dir` is in, or
/// `None` outside a git checkout (then a binary says `unknown`).
pub fn git_head(dir: &std::path::Path) -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .ok()?;
    let head = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && head.len() == 40).then_some(head)
}

/// Checks what both binaries print about themselves, through the binary
/// `bin` named `name`, built from the checkout `source_dir` is in:
/// `--version` and `version --json` name the version and the commit;
/// `completion` writes a script for each shell (bash's passes `bash -n`)
/// and refuses an unknown shell with exit 2; `man --dir` writes a page for
/// the binary and one for `sample_command`, whose synopsis is how it is
/// typed, and fails (exit `unwritable_exit`) where the directory cannot be
/// made. Returns the `version --json` document for the caller's own fields.
pub fn check_self_description(
    bin: &std::path::Path,
    name: &str,
    source_dir: &std::path::Path,
    sample_command: &str,
    unwritable_exit: i32,
) -> serde_json::Value {
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(args)
            .output()
            .expect("run the binary");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };
    let commit = git_head(source_dir).unwrap_or_else(|| "unknown".to_string());
    let version = env!("CARGO_PKG_VERSION");

    let (code, stdout, stderr) = run(&["--version"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("{name} {version} (commit {commit}, built ")),
        "{stdout}"
    );

    let (code, stdout, stderr) = run(&["version", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("version --json is JSON");
    assert_eq!(doc["name"], name);
    assert_eq!(doc["version"], version);
    assert_eq!(doc["commit"], commit.as_str());
    assert_eq!(doc["buildDate"].as_str().map(str::len), Some(20), "{doc}");

    for (shell, marker) in [
        ("bash", format!("_{}()", name.replace('-', "__"))),
        ("zsh", format!("#compdef {name}")),
        ("fish", format!("complete -c {name}")),
        ("powershell", "Register-ArgumentCompleter".to_string()),
    ] {
        let (code, script, stderr) = run(&["completion", shell]);
        assert_eq!(code, Some(0), "{shell}: {stderr}");
        assert!(
            script.contains(&marker),
            "{shell}: no {marker:?} in {script}"
        );
        assert!(
            script.contains(sample_command),
            "{shell}: no {sample_command}"
        );
        if shell == "bash" && crate::tool_available("bash") {
            let path = std::env::temp_dir().join(format!("{name}-{}.bash", std::process::id()));
            std::fs::write(&path, &script).unwrap();
            let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
            let _ = std::fs::remove_file(&path);
            assert!(
                check.status.success(),
                "bash -n: {}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    let (code, _, stderr) = run(&["completion", "tcsh"]);
    assert_eq!(code, Some(2), "an unknown shell is a usage error: {stderr}");

    let dir = std::env::temp_dir().join(format!("{name}-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, _, stderr) = run(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let top = std::fs::read_to_string(dir.join(format!("{name}.1"))).expect("the top page");
    assert!(top.contains(".TH"), "{top}");
    let page = std::fs::read_to_string(dir.join(format!("{name}-{sample_command}.1")))
        .expect("a page for the sample command");
    let typed = format!("{name} {sample_command}").replace('-', "\\-");
    assert!(page.contains(&typed), "the synopsis says {typed:?}: {page}");
    // A regular file where the directory should be: nothing can be written.
    let blocked = dir.join(format!("{name}.1"));
    let (code, _, stderr) = run(&["man", "--dir", blocked.to_str().unwrap()]);
    assert_eq!(code, Some(unwritable_exit), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    doc
}

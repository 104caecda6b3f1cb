//! Running the project's binaries the way a shell pipeline would.

use std::process::{Command, Output, Stdio};

/// Runs `command` with `input` on its stdin (e.g. `login --password-stdin`),
/// capturing stdout and stderr.
pub fn run_with_stdin(mut command: Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the command");
    // A command that refuses its arguments may exit before it reads its
    // input: the pipe is then closed, and what it printed is the result.
    match child.stdin.take().expect("piped stdin").write_all(input) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
        _ => {}
    }
    child.wait_with_output().expect("wait for the command")
}

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

/// One step of a terminal session: wait until the screen shows `wait_for`,
/// then type `send`.
#[derive(Debug, Clone, Copy)]
pub struct TerminalStep<'a> {
    /// Text to wait for on the screen (stdout and stderr both show there).
    pub wait_for: &'a str,
    /// Bytes to type then: text, `\n`, or `\x03` (Ctrl-C, which the
    /// terminal turns into SIGINT for the program).
    pub send: &'a [u8],
}

/// What a program showed on a terminal, and how it ended.
#[derive(Debug)]
pub struct TerminalSession {
    /// Everything the screen showed, escape sequences included.
    pub screen: String,
    /// The exit code (128 + N for a program killed by signal N), or `None`
    /// when the session timed out (the program was killed).
    pub code: Option<i32>,
}

/// Runs `command` (program, arguments and environment; not its stdio) on a
/// pseudo-terminal, as a user at a terminal would: each step waits for its
/// text, then types. The program is killed after `timeout_secs`. `None`
/// when python3 (whose `pty` module does the terminal work: Rust's std has
/// none, and vouch forbids `unsafe`) is missing; the caller skips, saying so.
pub fn on_a_terminal(
    command: &Command,
    steps: &[TerminalStep<'_>],
    timeout_secs: u32,
) -> Option<TerminalSession> {
    const DRIVER: &str = r#"
import json, os, pty, select, signal, sys, time
steps = json.loads(os.environ.pop("TERMINAL_STEPS"))
deadline = time.time() + float(os.environ.pop("TERMINAL_TIMEOUT"))
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
seen = b""
def read():
    global seen
    left = deadline - time.time()
    if left <= 0 or not select.select([fd], [], [], left)[0]:
        return None
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    seen += chunk
    return bool(chunk)
timed_out = False
for wait_for, send in steps:
    while wait_for.encode() not in seen:
        r = read()
        if r is None:
            timed_out = True
            break
        if r is False:
            break
    if timed_out:
        break
    # As a person would: a moment after the text appears (a program may
    # print a prompt just before it turns echo off).
    time.sleep(0.3)
    os.write(fd, bytes(send))
while not timed_out:
    r = read()
    if r is None:
        timed_out = True
    elif r is False:
        break
if timed_out:
    os.kill(pid, signal.SIGKILL)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(seen)
if timed_out:
    sys.stderr.write("terminal driver: timed out\n")
    sys.exit(1)
code = os.waitstatus_to_exitcode(status)
sys.exit(128 - code if code < 0 else code)
"#;
    if !crate::tool_available("python3") {
        return None;
    }
    let steps: Vec<(&str, Vec<u8>)> = steps
        .iter()
        .map(|s| (s.wait_for, s.send.to_vec()))
        .collect();
    let mut driver = Command::new("python3");
    driver
        .arg("-c")
        .arg(DRIVER)
        .arg(command.get_program())
        .args(command.get_args())
        .env("TERMINAL_STEPS", serde_json::to_string(&steps).unwrap())
        .env("TERMINAL_TIMEOUT", timeout_secs.to_string());
    if let Some(dir) = command.get_current_dir() {
        driver.current_dir(dir);
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => driver.env(key, value),
            None => driver.env_remove(key),
        };
    }
    let out = driver.output().expect("run python3");
    let timed_out = String::from_utf8_lossy(&out.stderr).contains("terminal driver: timed out");
    // Killed by signal N arrives as 128 + N, as a shell reports it.
    let code = out.status.code().filter(|_| !timed_out);
    Some(TerminalSession {
        screen: String::from_utf8_lossy(&out.stdout).into_owned(),
        code,
    })
}

//! Where TUF bytes are read from and written to.
//!
//! [`StagedStore`] is the cache as the TUF client sees it during one session:
//! it reads the cache directory (everything read is re-verified by the
//! client), but every write goes to memory. Only after the whole session has
//! verified (metadata chain and the `trusted_root.json` target) does
//! [`StagedStore::commit`] write the staged files into the cache. A refused
//! update therefore leaves the cache exactly as it was: it never holds
//! unverified or half-updated data.
//!
//! [`DirRepository`] serves a directory laid out as a TUF repository (what
//! `vouch trust export` writes) to the client, with the same per-file size
//! limits as the network transport.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use sigstore_tuf::transport::FetchFuture;
use sigstore_tuf::{MetadataStore, Repository};

/// Upper bound on any file read from the cache directory: the largest file
/// the client may legitimately have written there (targets metadata, 5 MB,
/// see [`crate::MAX_TARGETS_METADATA_SIZE`]).
pub const MAX_CACHED_FILE_SIZE: u64 = crate::MAX_TARGETS_METADATA_SIZE;

/// The name, inside a cache directory, of vouch's own record of the last
/// successful verification (time and source). Not TUF metadata.
pub const STATE_FILE: &str = "vouch-state.json";

/// A view of a cache directory whose writes, and the files read from it,
/// are held in memory until [`StagedStore::commit`] writes them all.
#[derive(Debug, Clone)]
pub struct StagedStore {
    dir: Option<PathBuf>,
    staged: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl StagedStore {
    /// Reads from `dir` (when given), stages writes in memory.
    pub fn new(dir: Option<&Path>) -> Self {
        Self {
            dir: dir.map(Path::to_path_buf),
            staged: Arc::default(),
        }
    }

    /// The files staged so far (written, or read from the directory), by
    /// name.
    pub fn staged(&self) -> BTreeMap<String, Vec<u8>> {
        self.staged.lock().expect("staging lock").clone()
    }

    /// Loads a file: the staged copy first, then the cache directory.
    ///
    /// A file read from the directory is kept with the staged ones, so the
    /// session sees one snapshot and [`StagedStore::commit`] writes every
    /// file it relied on. Without that, a session that found another
    /// writer's `timestamp.json` current (and so staged none) could commit
    /// at the moment a third writer had the directory set aside, and put a
    /// cache without its `timestamp.json` in place (seen in
    /// `concurrent_first_loads_into_one_cache_all_succeed_and_leave_no_debris`).
    pub fn read(&self, name: &str) -> Option<Vec<u8>> {
        let mut staged = self.staged.lock().expect("staging lock");
        if let Some(bytes) = staged.get(name) {
            return Some(bytes.clone());
        }
        let path = safe_join(self.dir.as_deref()?, name).ok()?;
        let bytes = read_at_most(&path, MAX_CACHED_FILE_SIZE).ok().flatten()?;
        staged.insert(name.to_string(), bytes.clone());
        Some(bytes)
    }

    /// Installs the staged files and `state` (as [`STATE_FILE`]) into
    /// `dir` as one step: a copy of the current cache plus the staged files
    /// is built beside it and swapped in ([`replace_dir`]), so a crash or a
    /// concurrent reader never sees a new `timestamp.json` next to an old
    /// snapshot.
    pub fn commit(&self, dir: &Path, state: &[u8]) -> std::io::Result<()> {
        let staged = self.staged();
        replace_dir(
            dir,
            |new| {
                if dir.is_dir() {
                    copy_current(dir, new)?;
                }
                for (name, bytes) in &staged {
                    let path = safe_join(new, name).map_err(|()| {
                        std::io::Error::other(format!("unsafe cache name {name:?}"))
                    })?;
                    // The copied older version gives way to the staged one.
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                    write_new(&path, bytes)?;
                }
                let state_file = new.join(STATE_FILE);
                let _ = std::fs::remove_file(&state_file);
                write_new(&state_file, state)
            },
            |_, e| e,
        )
    }
}

impl MetadataStore for StagedStore {
    fn load(&self, name: &str) -> sigstore_tuf::Result<Option<Vec<u8>>> {
        Ok(self.read(name))
    }

    fn store(&self, name: &str, bytes: &[u8]) -> sigstore_tuf::Result<()> {
        safe_join(Path::new("."), name)
            .map_err(|()| sigstore_tuf::Error::Malformed(format!("unsafe cache name {name:?}")))?;
        self.staged
            .lock()
            .expect("staging lock")
            .insert(name.to_string(), bytes.to_vec());
        Ok(())
    }
}

/// A directory laid out as a TUF repository (`N.root.json`,
/// `timestamp.json`, …, `targets/…`), read with per-file size limits.
#[derive(Debug, Clone)]
pub struct DirRepository {
    dir: PathBuf,
}

impl DirRepository {
    /// Serves `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn read(&self, name: &str, max_length: u64) -> sigstore_tuf::Result<Option<Vec<u8>>> {
        let path = safe_join(&self.dir, name)
            .map_err(|()| sigstore_tuf::Error::Malformed(format!("unsafe file name {name:?}")))?;
        read_at_most(&path, max_length).map_err(|e| match e {
            ReadError::TooLarge(size) => sigstore_tuf::Error::transport(format!(
                "{}: {size} bytes exceeds max length {max_length}",
                path.display()
            )),
            ReadError::Io(e) => sigstore_tuf::Error::io(format!("reading {}", path.display()), e),
        })
    }
}

impl Repository for DirRepository {
    fn fetch_metadata<'a>(&'a self, name: &'a str, max_length: u64) -> FetchFuture<'a> {
        let result = self.read(name, max_length);
        Box::pin(async move { result })
    }

    fn fetch_target<'a>(&'a self, path: &'a str, max_length: u64) -> FetchFuture<'a> {
        let result = self.read(&format!("targets/{path}"), max_length);
        Box::pin(async move { result })
    }
}

/// Why a bounded read failed.
#[derive(Debug)]
pub enum ReadError {
    /// The file is larger than allowed (its size).
    TooLarge(u64),
    /// The file could not be read.
    Io(std::io::Error),
}

/// Reads `path` if it exists and is at most `limit` bytes; never reads more
/// than `limit + 1` bytes whatever the file claims. Only a regular file (or a
/// symlink to one) is read: a FIFO or a device in an export directory would
/// block the read forever. The file is opened non-blocking (which does not
/// block on a FIFO) and checked after opening, so nothing can be swapped in
/// between the check and the read.
pub fn read_at_most(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    if !file.metadata().map_err(ReadError::Io)?.is_file() {
        return Err(ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        )));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(ReadError::TooLarge(size));
    }
    Ok(Some(bytes))
}

/// `dir/name`, refusing absolute names and `..` components.
pub fn safe_join(dir: &Path, name: &str) -> Result<PathBuf, ()> {
    let rel = Path::new(name);
    let safe = rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if safe && !name.is_empty() {
        Ok(dir.join(rel))
    } else {
        Err(())
    }
}

/// Replaces directory `dir` by one that `fill` builds: `fill` writes into an
/// empty sibling directory (given `dir`'s permissions); only if it succeeds
/// is that directory flushed and renamed to `dir` (the old one moved aside
/// first and removed after). On failure `dir` is left as it was and the
/// sibling removed. Between the two renames `dir` is briefly absent, never
/// half-written. When another process installs its own version in that
/// moment, its version stays (each is complete) and this call succeeds.
/// Siblings a killed writer left behind are removed once they are
/// [`STALE_WORK_AGE`] old.
pub fn replace_dir<E>(
    dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
    io_error: impl Fn(PathBuf, std::io::Error) -> E,
) -> Result<(), E> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io_error(parent.to_path_buf(), e))?;
    let name = dir
        .file_name()
        .map_or_else(|| "dir".into(), |n| n.to_string_lossy().into_owned());
    sweep_stale(
        parent,
        &[&format!(".{name}.new-"), &format!(".{name}.old-")],
    );
    let new = parent.join(format!(".{name}.new-{}", unique_suffix()));
    std::fs::create_dir(&new).map_err(|e| io_error(new.clone(), e))?;
    if let Ok(meta) = std::fs::metadata(dir) {
        let _ = std::fs::set_permissions(&new, meta.permissions());
    }
    if let Err(e) = fill(&new) {
        let _ = std::fs::remove_dir_all(&new);
        return Err(e);
    }
    if let Err(e) = sync_tree(&new) {
        let _ = std::fs::remove_dir_all(&new);
        return Err(io_error(new.clone(), e));
    }
    let old = parent.join(format!(".{name}.old-{}", unique_suffix()));
    let had_old = match set_aside(dir, &old) {
        Ok(had_old) => had_old,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&new);
            return Err(io_error(dir.to_path_buf(), e));
        }
    };
    if let Err(e) = std::fs::rename(&new, dir) {
        let _ = std::fs::remove_dir_all(&new);
        if dir.is_dir() {
            // Another writer's version landed in between: keep it.
            if had_old {
                let _ = std::fs::remove_dir_all(&old);
            }
            return Ok(());
        }
        if had_old {
            let _ = std::fs::rename(&old, dir);
        }
        return Err(io_error(dir.to_path_buf(), e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    sync_entries(parent);
    Ok(())
}

/// The prefix of the work directories [`replace_within`] makes inside the
/// directory it updates.
pub const WORK_DIR_PREFIX: &str = ".vouch-work-";

/// Replaces the entries `names` of directory `dir` by those `fill` writes
/// into an empty work directory made *inside* `dir` (so on its filesystem:
/// `dir` may be a mount point or a symlink to one). Only if `fill` succeeds
/// are the entries flushed and moved into place, the old ones moved out
/// first and removed after; other entries of `dir` are not touched. On
/// failure `dir` is left as it was. Work directories a killed writer left
/// behind are removed once they are [`STALE_WORK_AGE`] old.
pub fn replace_within<E>(
    dir: &Path,
    names: &[&str],
    fill: impl FnOnce(&Path) -> Result<(), E>,
    io_error: impl Fn(PathBuf, std::io::Error) -> E,
) -> Result<(), E> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir.to_path_buf(), e))?;
    sweep_stale(dir, &[WORK_DIR_PREFIX]);
    let work = dir.join(format!("{WORK_DIR_PREFIX}{}", unique_suffix()));
    std::fs::create_dir(&work).map_err(|e| io_error(work.clone(), e))?;
    let new = work.join("new");
    let old = work.join("old");
    let result = std::fs::create_dir(&new)
        .and_then(|()| std::fs::create_dir(&old))
        .map_err(|e| io_error(work.clone(), e))
        .and_then(|()| fill(&new))
        .and_then(|()| sync_tree(&new).map_err(|e| io_error(new.clone(), e)))
        .and_then(|()| {
            for name in names {
                let (current, built) = (dir.join(name), new.join(name));
                match std::fs::rename(&current, old.join(name)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io_error(current, e));
                    }
                    _ => {}
                }
                if built.exists() {
                    std::fs::rename(&built, &current).map_err(|e| io_error(current, e))?;
                }
            }
            Ok(())
        });
    let _ = std::fs::remove_dir_all(&work);
    sync_entries(dir);
    result
}

/// Renames `dir` to `old` (`false` when there is no `dir`) and marks `old`
/// as modified now: a rename keeps a directory's modification time (for the
/// cache, its last install, often days ago), and [`sweep_stale`] in another
/// process would otherwise take it for a leftover while this writer may
/// still need it to put `dir` back.
fn set_aside(dir: &Path, old: &Path) -> std::io::Result<bool> {
    match std::fs::rename(dir, old) {
        Ok(()) => {
            if let Ok(old) = std::fs::File::open(old) {
                let _ = old.set_modified(std::time::SystemTime::now());
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// How old a work directory of [`replace_dir`] or [`replace_within`] must be
/// before another call takes it for the leftover of a killed writer and
/// removes it. A live writer finishes in seconds; an hour leaves a wide
/// margin for slow disks. Ages are read from modification times against the
/// local clock: a clock stepped forward by more than this (or, on a shared
/// filesystem, hosts whose clocks differ by more) could make a live writer's
/// directory look stale.
pub const STALE_WORK_AGE: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Removes the directories in `dir` whose names start with one of
/// `prefixes` and that were last modified [`STALE_WORK_AGE`] ago or more.
/// Best effort: what cannot be read or removed is left for the next call.
fn sweep_stale(dir: &Path, prefixes: &[&str]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        // Not followed: a planted symlink is never a work directory of ours.
        let Ok(meta) = entry.metadata() else { continue };
        let old_enough = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= STALE_WORK_AGE);
        if meta.is_dir() && old_enough {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Flushes `dir`'s own entries (renames into or out of it) to disk, best
/// effort: the data already is; a failure here only risks the rename.
fn sync_entries(dir: &Path) {
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
}

/// Flushes every file and directory under `dir` (and `dir`) to disk.
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            sync_tree(&entry.path())?;
        } else if kind.is_file() {
            std::fs::File::open(entry.path())?.sync_all()?;
        }
    }
    std::fs::File::open(dir)?.sync_all()
}

/// Copies the cache `dir` into the empty `new`. Another process may swap
/// `dir` while it is read (it is briefly absent between that process's two
/// renames): then `new` is emptied and the copy retried, a few times.
fn copy_current(dir: &Path, new: &Path) -> std::io::Result<()> {
    const ATTEMPTS: u32 = 20;
    const PAUSE: std::time::Duration = std::time::Duration::from_millis(10);
    for attempt in 1..=ATTEMPTS {
        match copy_tree(dir, new) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < ATTEMPTS => {
                for entry in std::fs::read_dir(new)? {
                    let path = entry?.path();
                    if path.is_dir() {
                        std::fs::remove_dir_all(&path)?;
                    } else {
                        std::fs::remove_file(&path)?;
                    }
                }
                std::thread::sleep(PAUSE);
            }
            other => return other,
        }
    }
    Ok(())
}

/// Copies the regular files and directories under `from` into `to`
/// (symlinks and special files are skipped).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Writes a new file (creating its directory), never through an existing
/// file or symlink; for directories [`replace_dir`] is building (and then
/// flushes), where no reader looks yet.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(bytes)
}

/// A name suffix unique to this process and call.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_names_escaping_the_directory() {
        let store = StagedStore::new(None);
        assert!(store.store("../escape.json", b"x").is_err());
        assert!(store.store("/etc/passwd", b"x").is_err());
        assert!(store.store("root_history/2.root.json", b"x").is_ok());
        let repo = DirRepository::new(Path::new("/nonexistent"));
        assert!(repo.read("../x.json", 10).is_err());
    }

    #[test]
    fn bounded_read_reports_the_real_size() {
        let dir = fresh_dir("store");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("big.json");
        std::fs::write(&file, vec![b' '; 100]).unwrap();
        match read_at_most(&file, 10) {
            Err(ReadError::TooLarge(100)) => {}
            other => panic!("expected TooLarge(100), got {other:?}"),
        }
        assert_eq!(read_at_most(&dir.join("absent"), 10).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn refuses_to_read_what_is_not_a_regular_file() {
        let dir = fresh_dir("fifo");
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("timestamp.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Would block forever if opened.
        match read_at_most(&fifo, 10) {
            Err(ReadError::Io(e)) => assert!(e.to_string().contains("not a regular file"), "{e}"),
            other => panic!("expected an error, got {other:?}"),
        }
        match read_at_most(&dir, 10) {
            Err(ReadError::Io(e)) => assert!(e.to_string().contains("not a regular file"), "{e}"),
            other => panic!("expected an error, got {other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn write_new_never_writes_through_a_planted_symlink() {
        let dir = fresh_dir("symlink");
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = dir.join("trusted_root.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(write_new(&link, b"new").is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An empty-to-be scratch path in the temp directory, unique to this
    /// process and `label` (whatever an earlier run left there removed).
    fn fresh_dir(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vouch-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replace_dir_swaps_in_whole_or_not_at_all() {
        let base = fresh_dir("replace");
        let dir = base.join("out");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("old.json"), b"old").unwrap();

        // A failing build leaves the directory as it was, and no sibling.
        let err = replace_dir(
            &dir,
            |new| {
                std::fs::write(new.join("half.json"), b"half").unwrap();
                Err("verification failed")
            },
            |_, _| "io",
        );
        assert_eq!(err, Err("verification failed"));
        assert_eq!(names(&dir), ["old.json"]);
        assert_eq!(names(&base), ["out"]);

        // A good build replaces it entirely.
        replace_dir(
            &dir,
            |new| std::fs::write(new.join("new.json"), b"new"),
            |_, e| e,
        )
        .unwrap();
        assert_eq!(names(&dir), ["new.json"]);
        assert_eq!(names(&base), ["out"]);
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// Makes directory `path` look last modified `age` ago.
    fn age_dir(path: &Path, age: std::time::Duration) {
        std::fs::create_dir_all(path.join("inner")).unwrap();
        let then = std::time::SystemTime::now() - age;
        std::fs::File::open(path)
            .unwrap()
            .set_modified(then)
            .unwrap();
    }

    #[test]
    fn leftovers_of_killed_writers_are_swept_once_stale() {
        let base = fresh_dir("sweep");
        let dir = base.join("out");
        std::fs::create_dir_all(&dir).unwrap();
        let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
        let minutes = |m: u64| std::time::Duration::from_secs(m * 60);
        age_dir(&base.join(".out.new-1-0-0"), hours(2));
        age_dir(&base.join(".out.old-1-1-0"), hours(2));
        age_dir(&base.join(".out.new-2-0-0"), minutes(5)); // a live writer's
        age_dir(&base.join(".other.new-1-0-0"), hours(2)); // not ours to judge
        std::fs::write(base.join(".out.new-file"), b"x").unwrap(); // not a directory
        replace_dir(&dir, |_| Ok::<(), ()>(()), |_, _| ()).unwrap();
        assert_eq!(
            names(&base),
            [".other.new-1-0-0", ".out.new-2-0-0", ".out.new-file", "out"]
        );

        age_dir(&dir.join(format!("{WORK_DIR_PREFIX}1-0-0")), hours(2));
        age_dir(&dir.join(format!("{WORK_DIR_PREFIX}2-0-0")), minutes(5));
        replace_within(&dir, &["a"], |_| Ok::<(), ()>(()), |_, _| ()).unwrap();
        assert_eq!(names(&dir), [format!("{WORK_DIR_PREFIX}2-0-0")]);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_directory_just_set_aside_is_not_taken_for_a_leftover() {
        let base = fresh_dir("aside");
        let dir = base.join("out");
        age_dir(&dir, std::time::Duration::from_secs(3 * 86_400));
        let old = base.join(".out.old-1-0-0");
        assert!(set_aside(&dir, &old).unwrap());
        sweep_stale(&base, &[".out.old-"]);
        assert!(old.is_dir(), "a live writer's set-aside cache was swept");
        assert!(!set_aside(&dir, &base.join(".out.old-1-1-0")).unwrap());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_sweep_never_follows_a_symlink() {
        let base = fresh_dir("sweep-link");
        let victim = base.join("victim");
        age_dir(&victim, std::time::Duration::from_secs(2 * 3600));
        std::os::unix::fs::symlink(&victim, base.join(".out.new-evil")).unwrap();
        sweep_stale(&base, &[".out.new-"]);
        assert!(
            victim.join("inner").is_dir(),
            "the sweep followed a symlink"
        );
        assert!(base.join(".out.new-evil").symlink_metadata().is_ok());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn commit_keeps_the_cache_and_adds_the_staged_files() {
        let dir = fresh_dir("commit");
        std::fs::create_dir_all(dir.join("root_history")).unwrap();
        std::fs::write(dir.join("root_history/1.root.json"), b"r1").unwrap();
        std::fs::write(dir.join("timestamp.json"), b"ts-old").unwrap();
        let store = StagedStore::new(Some(&dir));
        store.store("timestamp.json", b"ts-new").unwrap();
        store.store("root_history/2.root.json", b"r2").unwrap();
        store.commit(&dir, b"{}").unwrap();
        assert_eq!(
            std::fs::read(dir.join("timestamp.json")).unwrap(),
            b"ts-new"
        );
        assert_eq!(
            std::fs::read(dir.join("root_history/1.root.json")).unwrap(),
            b"r1"
        );
        assert_eq!(
            std::fs::read(dir.join("root_history/2.root.json")).unwrap(),
            b"r2"
        );
        assert_eq!(std::fs::read(dir.join(STATE_FILE)).unwrap(), b"{}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writes_stay_in_memory_until_commit() {
        let dir = fresh_dir("stage");
        let store = StagedStore::new(Some(&dir));
        store.store("timestamp.json", b"ts").unwrap();
        assert!(!dir.exists());
        assert_eq!(store.read("timestamp.json").as_deref(), Some(&b"ts"[..]));
        store.commit(&dir, b"{}").unwrap();
        assert_eq!(std::fs::read(dir.join("timestamp.json")).unwrap(), b"ts");
        assert!(dir.join(STATE_FILE).is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! An OCI image layout as one `.tar` file (`vouch release save --output
//! FILE.tar`): written from a layout directory, and unpacked strictly for
//! reading. The archive is untrusted input: only regular files and
//! directories at the layout's own paths (`oci-layout`, `index.json`,
//! `blobs/<alg>/<hex>`) are accepted — no links, devices or sparse files, no
//! absolute paths or `..`, no file twice — and the layout reader then checks
//! every blob as for a directory.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Component, Path, PathBuf};

use vouch_oci_types::{Digest, INDEX_FILE, OCI_LAYOUT_FILE};

use crate::layout::LayoutError;

/// The most entries an archive may have: the layout's two files, the two
/// directories and one blob per [`vouch_oci_types::MAX_INDEX_ENTRIES`] entry
/// times a generous number of blobs per manifest.
pub const MAX_ARCHIVE_ENTRIES: usize = 1_000_000;

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> LayoutError + '_ {
    move |e| LayoutError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes the layout at `dir` (its `oci-layout`, `index.json` and every
/// blob; not `.partial/`) to `tar`, first under a temporary name beside it,
/// renamed once complete. Entries are in a fixed order with fixed owners,
/// modes and times, so the same layout gives the same archive.
pub fn pack_layout(dir: &Path, tar: &Path) -> Result<(), LayoutError> {
    let mut partial = tar.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = File::create(&partial).map_err(io_error(&partial))?;
    let mut builder = tar::Builder::new(BufWriter::new(file));
    let mut names = vec![OCI_LAYOUT_FILE.to_string(), INDEX_FILE.to_string()];
    let blobs = dir.join("blobs");
    let mut algorithms: Vec<_> = std::fs::read_dir(&blobs)
        .map_err(io_error(&blobs))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    algorithms.sort();
    for algorithm in algorithms {
        let sub = blobs.join(&algorithm);
        let mut hexes: Vec<String> = std::fs::read_dir(&sub)
            .map_err(io_error(&sub))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        hexes.sort();
        names.extend(hexes.into_iter().map(|h| format!("blobs/{algorithm}/{h}")));
    }
    for name in &names {
        let path = dir.join(name);
        let file = File::open(&path).map_err(io_error(&path))?;
        let size = file.metadata().map_err(io_error(&path))?.len();
        let mut header = tar::Header::new_ustar();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, file)
            .map_err(io_error(&partial))?;
    }
    let writer = builder.into_inner().map_err(io_error(&partial))?;
    let file = writer
        .into_inner()
        .map_err(|e| io_error(&partial)(e.into_error()))?;
    file.sync_all().map_err(io_error(&partial))?;
    std::fs::rename(&partial, tar).map_err(io_error(tar))
}

/// Unpacks the layout archive `tar` into `dir`, which must not exist.
pub fn unpack_layout(tar: &Path, dir: &Path) -> Result<(), LayoutError> {
    let file = File::open(tar).map_err(io_error(tar))?;
    unpack_layout_from(file, tar, dir)
}

/// Unpacks a layout archive read from `reader` (named `origin` in errors)
/// into `dir`, which must not exist.
pub fn unpack_layout_from(reader: impl Read, origin: &Path, dir: &Path) -> Result<(), LayoutError> {
    std::fs::create_dir(dir).map_err(io_error(dir))?;
    let refused = |entry: String, reason: &str| LayoutError::UnsafeArchiveEntry {
        archive: origin.to_path_buf(),
        entry,
        reason: reason.to_string(),
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(io_error(origin))?;
    for (count, entry) in entries.enumerate() {
        if count >= MAX_ARCHIVE_ENTRIES {
            return Err(refused(
                format!("#{count}"),
                "more entries than a layout has",
            ));
        }
        let mut entry = entry.map_err(io_error(origin))?;
        let raw = entry.path().map_err(io_error(origin))?.into_owned();
        let name = raw.display().to_string();
        let path = layout_path(&raw)
            .ok_or_else(|| refused(name.clone(), "not a path of an OCI image layout"))?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                if !matches!(path.as_str(), "blobs" | "blobs/sha256" | "blobs/sha512") {
                    return Err(refused(name, "not a directory of an OCI image layout"));
                }
                let target = dir.join(&path);
                std::fs::create_dir_all(&target).map_err(io_error(&target))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if !is_layout_file(&path) {
                    return Err(refused(name, "not a file of an OCI image layout"));
                }
                let target = dir.join(&path);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(io_error(parent))?;
                }
                let mut out = File::options()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::AlreadyExists => {
                            refused(name.clone(), "the archive holds it twice")
                        }
                        _ => io_error(&target)(e),
                    })?;
                std::io::copy(&mut entry, &mut out).map_err(io_error(&target))?;
            }
            _ => {
                return Err(refused(
                    name,
                    "not a regular file or directory (links, devices and sparse files are refused)",
                ));
            }
        }
    }
    Ok(())
}

/// The entry's path as plain components joined by `/` (a leading `./` is
/// dropped); `None` for an absolute path, `..` or an empty one.
fn layout_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Whether `path` is `oci-layout`, `index.json` or `blobs/<alg>/<hex>`
/// with a digest vouch parses.
fn is_layout_file(path: &str) -> bool {
    if path == OCI_LAYOUT_FILE || path == INDEX_FILE {
        return true;
    }
    let mut parts = path.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("blobs"), Some(algorithm), Some(hex), None) => {
            Digest::parse(&format!("{algorithm}:{hex}")).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_layouts_own_paths_are_files() {
        let hex = "a".repeat(64);
        assert!(is_layout_file("index.json"));
        assert!(is_layout_file("oci-layout"));
        assert!(is_layout_file(&format!("blobs/sha256/{hex}")));
        for bad in [
            "blobs/sha256/abc",
            "blobs/md5/abc",
            "etc/passwd",
            ".partial/x",
            &format!("blobs/sha256/{hex}/x"),
        ] {
            assert!(!is_layout_file(bad), "{bad}");
        }
        assert_eq!(
            layout_path(Path::new("./index.json")).as_deref(),
            Some("index.json")
        );
        assert_eq!(layout_path(Path::new("/etc/passwd")), None);
        assert_eq!(layout_path(Path::new("blobs/../../x")), None);
        assert_eq!(layout_path(Path::new(".")), None);
    }
}

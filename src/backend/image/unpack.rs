//! Unpacking one layer tar into its own directory, safely, with OCI whiteouts stored the way
//! overlayfs reads them.
//!
//! Every entry is created relative to a directory descriptor reached from the layer root one
//! component at a time with `O_NOFOLLOW`, so neither `..`, an absolute path, nor a symlink (or
//! a symlinked parent directory) planted by an earlier entry can make it land outside the
//! layer. Hard links are resolved the same way. Whiteouts become what overlayfs expects: a
//! `.wh.NAME` entry is a character device 0/0 named NAME, and `.wh..wh..opq` sets the
//! `trusted.overlay.opaque=y` attribute on its directory. Content is streamed; the
//! uncompressed stream is hashed and must match the layer's diff id.

use super::failure::Failure;
use super::xattr;
use crate::backend::ids::hex;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, futimens, makedev,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use sha2::{Digest, Sha256};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The attribute overlayfs reads to hide a lower directory's content.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What unpacking a layer produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    /// Bytes of the uncompressed tar.
    pub tar_bytes: u64,
    /// Entries written.
    pub entries: u64,
}

/// Unpacks the layer blob at `blob` (gzip, zstd or plain tar, told by its first bytes) into
/// the existing empty directory `dest`, checking the uncompressed stream against `diff_id`.
pub fn unpack_layer(blob: &Path, dest: &Path, diff_id: &str) -> Result<Unpacked, Failure> {
    let what = format!("layer {diff_id}");
    let file = File::open(blob)
        .map_err(|e| Failure::local(format!("opening blob {}: {e}", blob.display())))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let magic = {
        use std::io::BufRead;
        reader
            .fill_buf()
            .map_err(|e| Failure::local(format!("reading blob {}: {e}", blob.display())))?
            .to_vec()
    };
    let decompressed: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            zstd::stream::read::Decoder::with_buffer(reader)
                .map_err(|e| Failure::local(format!("starting zstd for {what}: {e}")))?,
        )
    } else {
        Box::new(reader)
    };
    let hashing = HashingReader {
        inner: decompressed,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let root =
        open_dir(dest).map_err(|e| Failure::local(format!("opening {}: {e}", dest.display())))?;
    let mut archive = tar::Archive::new(hashing);
    let mut dirs = Vec::new();
    let mut entries = 0;
    let iter = archive
        .entries()
        .map_err(|e| Failure::invalid(format!("{what} is not a tar archive: {e}")))?;
    for entry in iter {
        let mut entry = entry.map_err(|e| Failure::invalid(format!("reading {what}: {e}")))?;
        apply_entry(&root, &mut entry, &mut dirs).map_err(|e| e.context(&what))?;
        entries += 1;
    }
    let mut hashing = archive.into_inner();
    io::copy(&mut hashing, &mut io::sink())
        .map_err(|e| Failure::invalid(format!("reading {what}: {e}")))?;
    let actual = format!("sha256:{}", hex(&hashing.hasher.finalize()));
    if actual != diff_id {
        return Err(Failure::invalid(format!(
            "{what}: the uncompressed content has digest {actual}, not the diff id the image config names"
        )));
    }
    // Directory times last, deepest first: creating entries inside changed them.
    for (path, mtime) in dirs.iter().rev() {
        let comps = components(path).map_err(|e| e.context(&what))?;
        let (parent, name) = match comps.split_last() {
            Some((name, parents)) => (open_parents(&root, parents, false)?, name.clone()),
            None => continue,
        };
        set_times_at(&parent, &name, *mtime)
            .map_err(|e| Failure::local(format!("{what}: times of {}: {e}", path.display())))?;
    }
    Ok(Unpacked {
        tar_bytes: hashing.bytes,
        entries,
    })
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

fn open_dir(path: &Path) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn open_child_dir(parent: &OwnedFd, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// The normal components of an entry path, relative to the layer root. A leading `/` is
/// dropped (tar paths are relative to the root); `..` is refused.
fn components(path: &Path) -> Result<Vec<OsString>, Failure> {
    let mut out = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c.to_os_string()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                return Err(Failure::invalid(format!(
                    "entry {:?} refers to a parent directory (..), which could leave the layer",
                    path.display()
                )));
            }
        }
    }
    Ok(out)
}

/// Walks `parents` from `root` without following symlinks, creating missing directories when
/// `create` is set. A symlink or non-directory on the way is refused.
fn open_parents(root: &OwnedFd, parents: &[OsString], create: bool) -> Result<OwnedFd, Failure> {
    let mut current = root
        .try_clone()
        .map_err(|e| Failure::local(format!("duplicating a descriptor: {e}")))?;
    let mut walked = std::path::PathBuf::new();
    for name in parents {
        walked.push(name);
        let next = match open_child_dir(&current, name) {
            Err(Errno::ENOENT) if create => {
                mkdirat(&current, name.as_os_str(), Mode::from_bits_truncate(0o755))
                    .map_err(|e| Failure::local(format!("creating {}: {e}", walked.display())))?;
                open_child_dir(&current, name)
            }
            other => other,
        };
        current = next.map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => Failure::invalid(format!(
                "parent {} of an entry is a symlink or not a directory; following it could leave the layer",
                walked.display()
            )),
            e => Failure::local(format!("opening {}: {e}", walked.display())),
        })?;
    }
    Ok(current)
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta, Failure> {
    let header = entry.header();
    let bad =
        |field: &str, e: io::Error| Failure::invalid(format!("entry header field {field}: {e}"));
    let mut meta = Meta {
        mode: header.mode().map_err(|e| bad("mode", e))? & 0o7777,
        uid: header.uid().map_err(|e| bad("uid", e))? as u32,
        gid: header.gid().map_err(|e| bad("gid", e))? as u32,
        mtime: header.mtime().map_err(|e| bad("mtime", e))? as i64,
        xattrs: Vec::new(),
    };
    if let Some(extensions) = entry.pax_extensions().map_err(|e| bad("pax", e))? {
        for ext in extensions {
            let ext = ext.map_err(|e| bad("pax", e))?;
            let Ok(key) = ext.key() else { continue };
            let number = || {
                std::str::from_utf8(ext.value_bytes())
                    .ok()
                    .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
            };
            match key {
                "uid" => meta.uid = number().unwrap_or(meta.uid as i64) as u32,
                "gid" => meta.gid = number().unwrap_or(meta.gid as i64) as u32,
                "mtime" => meta.mtime = number().unwrap_or(meta.mtime),
                _ => {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                        meta.xattrs
                            .push((name.to_string(), ext.value_bytes().to_vec()));
                    }
                }
            }
        }
    }
    Ok(meta)
}

fn apply_entry<R: Read>(
    root: &OwnedFd,
    entry: &mut tar::Entry<'_, R>,
    dirs: &mut Vec<(std::path::PathBuf, i64)>,
) -> Result<(), Failure> {
    let path = entry
        .path()
        .map_err(|e| Failure::invalid(format!("entry path: {e}")))?
        .into_owned();
    let shown = path.display().to_string();
    let comps = components(&path)?;
    let kind = entry.header().entry_type();
    let meta = meta(entry).map_err(|e| e.context(&format!("entry {shown}")))?;
    let Some((name, parents)) = comps.split_last() else {
        // The layer root itself ("./"): keep its owner and mode.
        if kind.is_dir() {
            set_owner_mode_fd(root, &meta)
                .map_err(|e| Failure::local(format!("entry {shown}: {e}")))?;
        }
        return Ok(());
    };
    let parent =
        open_parents(root, parents, true).map_err(|e| e.context(&format!("entry {shown}")))?;
    let io_err = |e: io::Error| Failure::local(format!("entry {shown}: {e}"));
    let nix_err = |e: Errno| Failure::local(format!("entry {shown}: {e}"));
    let name_bytes = name.as_bytes();
    if name_bytes == OPAQUE_MARKER.as_bytes() {
        return xattr::fset(parent.as_fd(), OPAQUE_XATTR, b"y").map_err(|e| {
            Failure::local(format!("entry {shown}: setting {OPAQUE_XATTR} (needs root and a filesystem with trusted xattrs): {e}"))
        });
    }
    if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        let hidden = OsStr::from_bytes(hidden);
        clear(&parent, hidden, false).map_err(nix_err)?;
        return mknodat(
            &parent,
            hidden,
            SFlag::S_IFCHR,
            Mode::empty(),
            makedev(0, 0),
        )
        .map_err(|e| {
            Failure::local(format!(
                "entry {shown}: creating whiteout device (needs CAP_MKNOD): {e}"
            ))
        });
    }
    use tar::EntryType as T;
    match kind {
        T::Directory => {
            clear(&parent, name, true).map_err(nix_err)?;
            match mkdirat(&parent, name.as_os_str(), Mode::from_bits_truncate(0o700)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(nix_err(e)),
            }
            let dir = open_child_dir(&parent, name).map_err(nix_err)?;
            set_owner_mode_fd(&dir, &meta).map_err(io_err)?;
            set_xattrs(&dir, &meta).map_err(io_err)?;
            dirs.push((path.clone(), meta.mtime));
        }
        T::Regular | T::Continuous | T::GNUSparse => {
            clear(&parent, name, false).map_err(nix_err)?;
            let fd = openat(
                &parent,
                name.as_os_str(),
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(nix_err)?;
            let mut file = File::from(fd);
            io::copy(entry, &mut file).map_err(io_err)?;
            set_owner_mode_fd(&file, &meta).map_err(io_err)?;
            set_xattrs(&file, &meta).map_err(io_err)?;
            let t = TimeSpec::new(meta.mtime, 0);
            futimens(&file, &t, &t).map_err(nix_err)?;
        }
        T::Symlink => {
            let target = entry
                .link_name()
                .map_err(io_err)?
                .ok_or_else(|| Failure::invalid(format!("symlink entry {shown} has no target")))?;
            clear(&parent, name, false).map_err(nix_err)?;
            symlinkat(target.as_os_str(), &parent, name.as_os_str()).map_err(nix_err)?;
            fchownat(
                &parent,
                name.as_os_str(),
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(nix_err)?;
            set_times_at(&parent, name, meta.mtime).map_err(nix_err)?;
        }
        T::Link => {
            let target = entry
                .link_name()
                .map_err(io_err)?
                .ok_or_else(|| Failure::invalid(format!("hard link entry {shown} has no target")))?
                .into_owned();
            let target_comps =
                components(&target).map_err(|e| e.context(&format!("hard link {shown}")))?;
            let Some((target_name, target_parents)) = target_comps.split_last() else {
                return Err(Failure::invalid(format!(
                    "hard link {shown} points at the layer root"
                )));
            };
            let target_parent = open_parents(root, target_parents, false)
                .map_err(|e| e.context(&format!("hard link {shown}")))?;
            clear(&parent, name, false).map_err(nix_err)?;
            linkat(&target_parent, target_name.as_os_str(), &parent, name.as_os_str(), AtFlags::empty()).map_err(|e| {
                Failure::invalid(format!("hard link {shown} to {}: {e} (the target must be an earlier entry of this layer)", target.display()))
            })?;
        }
        T::Char | T::Block | T::Fifo => {
            let (sflag, dev) = match kind {
                T::Char | T::Block => {
                    let major = entry.header().device_major().map_err(io_err)?.unwrap_or(0);
                    let minor = entry.header().device_minor().map_err(io_err)?.unwrap_or(0);
                    let sflag = if kind == T::Char {
                        SFlag::S_IFCHR
                    } else {
                        SFlag::S_IFBLK
                    };
                    (sflag, makedev(major.into(), minor.into()))
                }
                _ => (SFlag::S_IFIFO, 0),
            };
            clear(&parent, name, false).map_err(nix_err)?;
            mknodat(
                &parent,
                name.as_os_str(),
                sflag,
                Mode::from_bits_truncate(0o600),
                dev,
            )
            .map_err(nix_err)?;
            fchownat(
                &parent,
                name.as_os_str(),
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(nix_err)?;
            fchmodat(
                &parent,
                name.as_os_str(),
                Mode::from_bits_truncate(meta.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(nix_err)?;
            set_times_at(&parent, name, meta.mtime).map_err(nix_err)?;
        }
        other => {
            tracing::debug!(entry = %shown, kind = ?other, "skipping layer entry of unsupported type");
        }
    }
    Ok(())
}

/// Removes whatever is at `name` before an entry replaces it; an existing directory stays
/// when a directory is coming (tar merges them).
fn clear(parent: &OwnedFd, name: &OsStr, keep_dir: bool) -> nix::Result<()> {
    let stat = match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let is_dir = (stat.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR.bits();
    match (is_dir, keep_dir) {
        (true, true) => Ok(()),
        (true, false) => {
            let dir = open_child_dir(parent, name)?;
            remove_tree(&dir)?;
            unlinkat(parent, name, UnlinkatFlags::RemoveDir)
        }
        (false, _) => unlinkat(parent, name, UnlinkatFlags::NoRemoveDir),
    }
}

/// Empties the directory `dir` (never following symlinks: entries are removed through the
/// descriptor, and a symlink is unlinked, not entered).
fn remove_tree(dir: &OwnedFd) -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    let listing = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO)))?;
    let names: Vec<OsString> = listing
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    for name in names {
        clear(dir, &name, false)?;
    }
    Ok(())
}

fn set_owner_mode_fd(fd: &impl AsFd, meta: &Meta) -> io::Result<()> {
    // Owner first: chown clears the setuid and setgid bits.
    fchown(
        fd,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
    )?;
    fchmod(fd, Mode::from_bits_truncate(meta.mode))?;
    Ok(())
}

fn set_xattrs(fd: &impl AsFd, meta: &Meta) -> io::Result<()> {
    for (name, value) in &meta.xattrs {
        xattr::fset(fd.as_fd(), name, value)
            .map_err(|e| io::Error::new(e.kind(), format!("setting attribute {name}: {e}")))?;
    }
    Ok(())
}

fn set_times_at(parent: &OwnedFd, name: &OsStr, mtime: i64) -> nix::Result<()> {
    let t = TimeSpec::new(mtime, 0);
    utimensat(parent, name, &t, &t, UtimensatFlags::NoFollowSymlink)
}

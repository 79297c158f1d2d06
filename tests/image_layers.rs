//! Layer unpacking by the Linux image store, through a real registry: whiteouts as overlayfs
//! reads them, preserved metadata, and hostile layers that must not write outside their
//! directory. Needs root; `apt-get install docker-registry busybox-static apache2-utils`.

mod image_support;

use crius::backend::ImageStore;
use image_support::builder::{Compression, Entry, Image, busybox_layer, layer};
use image_support::registry::TestRegistry;
use image_support::{insecure, require_root, store_with};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: NUL-terminated strings and a writable buffer of the given length.
    let n = unsafe {
        nix::libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

#[tokio::test]
async fn whiteouts_and_opaque_dirs_hide_lower_layers_under_overlayfs() {
    require_root();
    let registry = TestRegistry::start();
    let lower = layer(
        &[
            Entry::File("a".into(), b"a".to_vec(), 0o644),
            Entry::File("keep".into(), b"keep".to_vec(), 0o644),
            Entry::Dir("dir/", 0o755),
            Entry::File("dir/old".into(), b"old".to_vec(), 0o644),
        ],
        Compression::Gzip,
    );
    let upper = layer(
        &[
            Entry::File(".wh.a".into(), Vec::new(), 0o644),
            Entry::Dir("dir/", 0o755),
            Entry::File("dir/.wh..wh..opq".into(), Vec::new(), 0o644),
            Entry::File("dir/new".into(), b"new".to_vec(), 0o644),
        ],
        Compression::Gzip,
    );
    let image = Image::new(
        vec![busybox_layer(Compression::Gzip), lower, upper],
        "amd64",
        "wh",
    );
    registry.pusher().push_image("wh/app", "1", &image, false);
    let root = tempfile::tempdir().unwrap();
    let store = store_with(&root.path().join("store"), &insecure(&[&registry.host]));
    let pulled = store
        .pull(&format!("{}/wh/app:1", registry.host), None)
        .await
        .expect("pull");
    let dirs = store.layer_dirs(&pulled.id).unwrap();
    let top = &dirs[2];
    let wh = std::fs::symlink_metadata(top.join("a")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "a whiteout is a 0/0 character device"
    );
    assert!(
        !top.join(".wh.a").exists() && !top.join("dir/.wh..wh..opq").exists(),
        "markers are not kept as files"
    );
    assert_eq!(
        xattr(&top.join("dir"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );

    // What overlayfs makes of it: lowerdir lists the topmost layer first.
    let merged = root.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    let lowers: Vec<String> = dirs.iter().rev().map(|d| d.display().to_string()).collect();
    let mount = std::process::Command::new("mount")
        .args([
            "-t",
            "overlay",
            "overlay",
            "-o",
            &format!("lowerdir={}", lowers.join(":")),
        ])
        .arg(&merged)
        .status()
        .expect("running mount");
    assert!(mount.success(), "mounting overlayfs over the layers failed");
    let a = merged.join("a").exists();
    let keep = std::fs::read(merged.join("keep")).ok();
    let old = merged.join("dir/old").exists();
    let new = std::fs::read(merged.join("dir/new")).ok();
    let busybox = merged.join("bin/busybox").is_file();
    let _ = std::process::Command::new("umount").arg(&merged).status();
    assert!(!a, "a is whited out");
    assert_eq!(keep.as_deref(), Some(&b"keep"[..]));
    assert!(!old, "dir is opaque: the lower dir/old is hidden");
    assert_eq!(new.as_deref(), Some(&b"new"[..]));
    assert!(busybox);
}

#[tokio::test]
async fn ownership_modes_setuid_xattrs_and_devices_are_preserved() {
    require_root();
    let registry = TestRegistry::start();
    let l = layer(
        &[
            Entry::Owned {
                path: "suid",
                uid: 1234,
                gid: 5678,
                mode: 0o4755,
                xattr: Some(("user.crius", b"yes")),
            },
            Entry::CharDev("null", 1, 3),
            Entry::Dir("sticky/", 0o1777),
            Entry::HardLink("suid-link", "suid"),
        ],
        Compression::Gzip,
    );
    let image = Image::new(vec![l], "amd64", "meta");
    registry.pusher().push_image("meta/app", "1", &image, false);
    let root = tempfile::tempdir().unwrap();
    let store = store_with(&root.path().join("store"), &insecure(&[&registry.host]));
    let pulled = store
        .pull(&format!("{}/meta/app:1", registry.host), None)
        .await
        .expect("pull");
    let dir = &store.layer_dirs(&pulled.id).unwrap()[0];
    let suid = std::fs::metadata(dir.join("suid")).unwrap();
    assert_eq!((suid.uid(), suid.gid()), (1234, 5678));
    assert_eq!(
        suid.permissions().mode() & 0o7777,
        0o4755,
        "setuid survives chown"
    );
    assert_eq!(
        xattr(&dir.join("suid"), "user.crius").as_deref(),
        Some(&b"yes"[..])
    );
    assert_eq!(suid.nlink(), 2, "the hard link shares the inode");
    let null = std::fs::symlink_metadata(dir.join("null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(
        std::fs::metadata(dir.join("sticky"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    assert_eq!(
        std::fs::metadata(dir.join("sticky")).unwrap().mtime(),
        1_700_000_000,
        "directory times are set last"
    );
}

/// Pulls an image of one hostile layer; returns the pull's error, if any.
async fn pull_hostile(entries: &[Entry], outside: &Path) -> Option<String> {
    let registry = TestRegistry::start();
    let image = Image::new(vec![layer(entries, Compression::None)], "amd64", "evil");
    registry.pusher().push_image("evil/app", "1", &image, false);
    let store_root = outside.parent().unwrap().join("store");
    let store = store_with(&store_root, &insecure(&[&registry.host]));
    store
        .pull(&format!("{}/evil/app:1", registry.host), None)
        .await
        .err()
        .map(|e| e.to_string())
}

#[tokio::test]
async fn hostile_layers_cannot_write_outside_their_directory() {
    require_root();
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim");
    std::fs::write(&victim, b"untouched").unwrap();
    let target: &'static str = Box::leak(outside.display().to_string().into_boxed_str());
    let victim_path: &'static str = Box::leak(victim.display().to_string().into_boxed_str());

    // `..` climbing out of the layer.
    let err = pull_hostile(
        &[Entry::File(
            "../../../outside/dotdot".into(),
            b"x".to_vec(),
            0o644,
        )],
        &outside,
    )
    .await;
    assert!(
        err.is_some_and(|e| e.contains("..")),
        "a .. entry is refused"
    );
    // Write through a symlinked parent directory planted by the same layer.
    let err = pull_hostile(
        &[
            Entry::Symlink("escape", target),
            Entry::File("escape/through".into(), b"x".to_vec(), 0o644),
        ],
        &outside,
    )
    .await;
    assert!(
        err.is_some_and(|e| e.contains("symlink")),
        "writing through a symlink is refused"
    );
    // A hard link to a host file, by absolute path and by `..`.
    let _ = pull_hostile(&[Entry::HardLink("stolen", victim_path)], &outside).await;
    let _ = pull_hostile(
        &[Entry::HardLink("stolen2", "../../../outside/victim")],
        &outside,
    )
    .await;
    // An absolute path lands inside the layer, not on the host.
    let abs: &'static str = Box::leak(format!("{target}/absolute").into_boxed_str());
    let _ = pull_hostile(&[Entry::File(abs.into(), b"x".to_vec(), 0o644)], &outside).await;
    // A symlink to the host replaced by a file must not write through it.
    let err = pull_hostile(
        &[
            Entry::Symlink("victim-link", victim_path),
            Entry::File("victim-link".into(), b"pwned".to_vec(), 0o644),
        ],
        &outside,
    )
    .await;
    assert!(
        err.is_none(),
        "replacing a symlink by a file is legal: {err:?}"
    );

    let mut names: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["victim"],
        "nothing was written outside the layer"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().nlink(),
        1,
        "no hard link to the host file"
    );
}

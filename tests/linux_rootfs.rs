//! The Linux rootfs backend, [`Overlay`], on real overlayfs: layers built by hand (whiteouts
//! as 0/0 character devices, opaque directories by xattr), writes landing in the upper
//! directory, 200-layer images, removal leaving nothing behind. Needs root.

use crius::backend::RootfsStore;
use crius::backend::image::ImageError;
use crius::backend::rootfs::{LayerSource, Overlay, RootfsError};
use nix::mount::{MntFlags, umount2};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the rootfs tests need root (overlayfs mounts, mknod, trusted xattrs): run them as root"
    );
}

/// Images as plain directories.
#[derive(Default)]
struct Layers(Mutex<HashMap<String, Vec<PathBuf>>>);

impl LayerSource for Layers {
    fn layer_dirs(&self, image_id: &str) -> Result<Vec<PathBuf>, ImageError> {
        self.0
            .lock()
            .get(image_id)
            .cloned()
            .ok_or_else(|| ImageError::NotFound {
                reference: image_id.to_string(),
                message: "no such test image".into(),
            })
    }
}

/// Mount points at or under `dir`, from /proc/self/mountinfo.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// An overlay store in a tempdir; whatever a failing test left mounted is detached on drop.
struct Fixture {
    overlay: Overlay,
    layers: Arc<Layers>,
    root: PathBuf,
    _cleanup: Cleanup,
    dir: tempfile::TempDir,
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for _ in 0..4 {
            let mut points = mounts_under(&self.0);
            if points.is_empty() {
                return;
            }
            points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
            for point in points {
                let _ = umount2(&point, MntFlags::MNT_DETACH);
            }
        }
    }
}

impl Fixture {
    fn new() -> Fixture {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        let layers = Arc::new(Layers::default());
        let overlay = Overlay::new(real.join("rootfs"), layers.clone()).unwrap();
        Fixture {
            root: overlay.root().to_owned(),
            overlay,
            layers,
            _cleanup: Cleanup(real),
            dir,
        }
    }

    fn layer_dir(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join("layers").join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    fn image(&self, id: &str, layers: Vec<PathBuf>) {
        self.layers.0.lock().insert(id.to_string(), layers);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn whiteout(path: &Path) {
    mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o600),
        makedev(0, 0),
    )
    .unwrap();
}

fn set_opaque(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    let name = c"trusted.overlay.opaque";
    // SAFETY: NUL-terminated strings and a one-byte value that outlive the call.
    let rc =
        unsafe { nix::libc::setxattr(path.as_ptr(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    assert_eq!(rc, 0, "setxattr: {}", std::io::Error::last_os_error());
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// base: etc/passwd, a/keep, a/gone, opaque/old, dir/base
/// mid:  etc/passwd replaced, a/gone whited out, opaque/ opaque with opaque/new
/// top:  top, dir/top
fn three_layers(f: &Fixture) -> Vec<PathBuf> {
    let base = f.layer_dir("base");
    write(&base.join("etc/passwd"), "base");
    write(&base.join("a/keep"), "keep");
    write(&base.join("a/gone"), "gone");
    write(&base.join("opaque/old"), "old");
    write(&base.join("dir/base"), "base");
    let mid = f.layer_dir("mid");
    write(&mid.join("etc/passwd"), "mid");
    std::fs::create_dir_all(mid.join("a")).unwrap();
    whiteout(&mid.join("a/gone"));
    write(&mid.join("opaque/new"), "new");
    set_opaque(&mid.join("opaque"));
    let top = f.layer_dir("top");
    write(&top.join("top"), "top");
    write(&top.join("dir/top"), "top");
    vec![base, mid, top]
}

#[tokio::test]
async fn three_layers_with_whiteout_and_opaque_dir_merge_and_writes_land_in_upper() {
    let f = Fixture::new();
    let layers = three_layers(&f);
    f.image("sha256:three", layers.clone());
    let merged = f.overlay.prepare("c1", "sha256:three").await.unwrap();
    let dir = f.root.join("containers/c1");
    assert_eq!(merged, dir.join("merged"));
    assert_eq!(mounts_under(&merged), vec![merged.clone()]);

    assert_eq!(
        read(&merged.join("etc/passwd")).as_deref(),
        Some("mid"),
        "upper layers win"
    );
    assert_eq!(read(&merged.join("a/keep")).as_deref(), Some("keep"));
    assert!(!merged.join("a/gone").exists(), "whited out");
    assert_eq!(read(&merged.join("opaque/new")).as_deref(), Some("new"));
    assert!(
        !merged.join("opaque/old").exists(),
        "opaque dir hides the base's files"
    );
    assert_eq!(
        read(&merged.join("dir/base")).as_deref(),
        Some("base"),
        "dirs merge"
    );
    assert_eq!(read(&merged.join("dir/top")).as_deref(), Some("top"));
    assert_eq!(read(&merged.join("top")).as_deref(), Some("top"));
    let root_mode = std::fs::metadata(&merged).unwrap().mode() & 0o7777;
    assert_eq!(root_mode, 0o755);

    // Writes land in upper; the layers stay untouched.
    write(&merged.join("new-file"), "written");
    write(&merged.join("etc/passwd"), "changed");
    std::fs::remove_file(merged.join("a/keep")).unwrap();
    let upper = dir.join("upper");
    assert_eq!(read(&upper.join("new-file")).as_deref(), Some("written"));
    assert_eq!(read(&upper.join("etc/passwd")).as_deref(), Some("changed"));
    let wh = std::fs::symlink_metadata(upper.join("a/keep")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "deleting leaves a whiteout in upper"
    );
    assert_eq!(read(&layers[0].join("etc/passwd")).as_deref(), Some("base"));
    assert_eq!(read(&layers[1].join("etc/passwd")).as_deref(), Some("mid"));
    assert_eq!(read(&layers[0].join("a/keep")).as_deref(), Some("keep"));
    assert!(!layers[2].join("new-file").exists());

    // A second prepare of a prepared container is the same mount, not a second one.
    assert_eq!(
        f.overlay.prepare("c1", "sha256:three").await.unwrap(),
        merged
    );
    assert_eq!(mounts_under(&merged).len(), 1);

    f.overlay.remove("c1").await.unwrap();
    assert!(mounts_under(&f.root).is_empty(), "no mount left");
    assert!(!dir.exists(), "no directory left");
    f.overlay.remove("c1").await.unwrap();
    assert!(
        layers.iter().all(|l| l.is_dir()),
        "layers are not removed with a container"
    );
}

#[tokio::test]
async fn two_hundred_layers_with_long_names_mount() {
    let f = Fixture::new();
    let mut layers = Vec::new();
    for n in 0..200 {
        // Long, image-store-like names: 64 hex digits.
        let layer = f.layer_dir(&format!("{:064x}", 0xc0ffee_u64 * 1000 + n));
        write(&layer.join(format!("layer-{n}")), &n.to_string());
        write(&layer.join("which"), &n.to_string());
        layers.push(layer);
    }
    let joined: usize = layers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(
        joined > 4096,
        "the lowerdir list must exceed a page, is {joined}"
    );
    f.image("sha256:many", layers);
    let merged = f.overlay.prepare("many", "sha256:many").await.unwrap();
    assert_eq!(read(&merged.join("layer-0")).as_deref(), Some("0"));
    assert_eq!(read(&merged.join("layer-199")).as_deref(), Some("199"));
    assert_eq!(
        read(&merged.join("which")).as_deref(),
        Some("199"),
        "the last layer is on top"
    );
    assert_eq!(std::fs::read_dir(&merged).unwrap().count(), 201);
    f.overlay.remove("many").await.unwrap();
    assert!(mounts_under(&f.root).is_empty());
    assert!(!f.root.join("containers/many").exists());
}

#[tokio::test]
async fn usage_counts_the_upper_dir_and_fs_usage_sums_containers() {
    let f = Fixture::new();
    let base = f.layer_dir("base");
    write(&base.join("big"), &"x".repeat(3 << 20));
    f.image("sha256:one", vec![base]);
    let merged = f.overlay.prepare("u1", "sha256:one").await.unwrap();
    let before = f.overlay.usage("u1").await.unwrap();
    assert!(
        before.used_bytes < 64 * 1024,
        "the image's layers are not the container's: {before:?}"
    );
    std::fs::write(merged.join("data"), vec![7u8; 1 << 20]).unwrap();
    std::fs::create_dir(merged.join("d")).unwrap();
    std::fs::write(merged.join("d/small"), b"s").unwrap();
    let after = f.overlay.usage("u1").await.unwrap();
    assert!(
        after.used_bytes >= before.used_bytes + (1 << 20),
        "{after:?}"
    );
    assert!(
        after.used_bytes < before.used_bytes + (1 << 20) + 64 * 1024,
        "{after:?}"
    );
    assert_eq!(after.inodes_used, before.inodes_used + 3, "{after:?}");
    assert_eq!(after.mountpoint, f.root.display().to_string());

    let empty = f.overlay.prepare("u2", "sha256:one").await.unwrap();
    assert!(empty.join("big").is_file());
    let total = f.overlay.fs_usage().await.unwrap();
    let second = f.overlay.usage("u2").await.unwrap();
    assert_eq!(total.used_bytes, after.used_bytes + second.used_bytes);
    assert_eq!(total.inodes_used, after.inodes_used + second.inodes_used);

    f.overlay.remove("u1").await.unwrap();
    f.overlay.remove("u2").await.unwrap();
    assert!(f.overlay.usage("u1").await.is_err());
    assert_eq!(f.overlay.fs_usage().await.unwrap().used_bytes, 0);
}

#[tokio::test]
async fn busy_rootfs_is_detached_and_removed() {
    let f = Fixture::new();
    let base = f.layer_dir("base");
    write(&base.join("file"), "f");
    f.image("sha256:one", vec![base]);
    let merged = f.overlay.prepare("busy", "sha256:one").await.unwrap();
    // An open directory inside keeps the mount busy for a normal unmount.
    let held = std::fs::File::open(&merged).unwrap();
    let nested = merged.join("mnt");
    std::fs::create_dir(&nested).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &nested,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    f.overlay.remove("busy").await.unwrap();
    assert!(
        mounts_under(&f.root).is_empty(),
        "{:?}",
        mounts_under(&f.root)
    );
    assert!(!f.root.join("containers/busy").exists());
    drop(held);
}

#[tokio::test]
async fn missing_layers_and_images_fail_without_leftovers() {
    let f = Fixture::new();
    let err = f.overlay.prepare("c", "sha256:unknown").await.unwrap_err();
    assert!(matches!(err, RootfsError::ImageMissing { .. }), "{err}");
    f.image("sha256:gone", vec![f.dir.path().join("layers/never-made")]);
    let err = f.overlay.prepare("c", "sha256:gone").await.unwrap_err();
    assert!(matches!(err, RootfsError::ImageMissing { .. }), "{err}");
    assert!(!f.root.join("containers/c").exists());

    // An image without layers gets an empty root.
    f.image("sha256:scratch", Vec::new());
    let merged = f
        .overlay
        .prepare("scratch", "sha256:scratch")
        .await
        .unwrap();
    assert_eq!(std::fs::read_dir(&merged).unwrap().count(), 0);
    std::fs::write(merged.join("x"), "x").unwrap();
    f.overlay.remove("scratch").await.unwrap();
    assert!(mounts_under(&f.root).is_empty());
}

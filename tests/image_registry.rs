//! The Linux image store against a real registry (Debian's docker-registry) on 127.0.0.1, with
//! images built here from busybox-static. Needs root; prerequisites:
//! `apt-get install docker-registry busybox-static apache2-utils`.

mod image_support;

use crius::backend::ImageStore;
use crius::backend::image::{ImageError, RegistryAuth, RegistryImageStore, RegistryOptions};
use crius::error::{Classify, ErrorKind};
use image_support::builder::{self, Compression, Entry, Image, busybox_layer, layer};
use image_support::registry::TestRegistry;
use image_support::{insecure, require_root, store_with};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn busybox_image(compression: Compression, cmd: &str) -> Image {
    Image::new(vec![busybox_layer(compression)], "amd64", cmd)
}

#[tokio::test]
async fn real_store_passes_the_image_store_suite() {
    require_root();
    let registry = TestRegistry::start();
    registry.pusher().push_image(
        "suite/busybox",
        "1",
        &busybox_image(Compression::Gzip, "suite"),
        false,
    );
    let root = tempfile::tempdir().unwrap();
    let store = store_with(&root.path().join("store"), &insecure(&[&registry.host]));
    crius::backend::suite::image::image_store_suite(
        &store,
        &format!("{}/suite/busybox:1", registry.host),
        &format!("{}/suite/busybox:missing", registry.host),
    )
    .await;
}

#[tokio::test]
async fn pull_by_tag_and_by_digest_unpacks_busybox() {
    require_root();
    let registry = TestRegistry::start();
    let image = busybox_image(Compression::Gzip, "tag");
    let digest = registry
        .pusher()
        .push_image("lib/busybox", "1.36", &image, false);
    let root = tempfile::tempdir().unwrap();
    let store = store_with(&root.path().join("store"), &insecure(&[&registry.host]));

    let pulled = store
        .pull(&format!("{}/lib/busybox:1.36", registry.host), None)
        .await
        .expect("pull by tag");
    assert_eq!(pulled.id, image.id());
    assert_eq!(pulled.manifest_digest, digest);
    assert_eq!(pulled.size, image.size());
    assert_eq!(pulled.config.user, "1000:1000");
    assert_eq!(pulled.config.entrypoint, vec!["/bin/busybox"]);
    assert_eq!(pulled.config.cmd, vec!["tag"]);
    assert_eq!(pulled.config.env, vec!["PATH=/bin"]);
    assert_eq!(pulled.config.stop_signal, "SIGTERM");
    assert_eq!(
        pulled.config.labels.get("test").map(String::as_str),
        Some("crius")
    );
    assert_eq!(pulled.config.volumes, vec!["/data"]);

    let dirs = store.layer_dirs(&pulled.id).expect("layer dirs");
    assert_eq!(dirs.len(), 1);
    let busybox = dirs[0].join("bin/busybox");
    assert_eq!(
        std::fs::read(&busybox).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        std::fs::metadata(&busybox).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    assert_eq!(
        std::fs::read_link(dirs[0].join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    assert_eq!(std::fs::metadata(&busybox).unwrap().mtime(), 1_700_000_000);

    let by_digest = store
        .pull(&format!("{}/lib/busybox@{digest}", registry.host), None)
        .await
        .expect("pull by digest");
    assert_eq!(by_digest.id, pulled.id);
    assert_eq!(by_digest.manifest_digest, digest);
    let tag_and_digest = store
        .pull(
            &format!("{}/lib/busybox:1.36@{digest}", registry.host),
            None,
        )
        .await
        .expect("pull by tag and digest");
    assert_eq!(tag_and_digest.id, pulled.id);
    // One download of the layer for three pulls.
    assert_eq!(
        registry.blob_gets(&builder::sha256(&image.layers[0].blob)),
        1
    );

    let wrong = format!("sha256:{}", "ab".repeat(32));
    let err = store
        .pull(&format!("{}/lib/busybox@{wrong}", registry.host), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn an_index_picks_linux_amd64_and_reports_the_index_digest() {
    require_root();
    let registry = TestRegistry::start();
    let pusher = registry.pusher();
    let amd64 = Image::new(vec![busybox_layer(Compression::Gzip)], "amd64", "amd64");
    let arm64 = Image::new(
        vec![layer(
            &[Entry::File("arm".into(), b"arm64".to_vec(), 0o644)],
            Compression::Gzip,
        )],
        "arm64",
        "arm64",
    );
    pusher.push_blobs("multi/app", &amd64);
    pusher.push_blobs("multi/app", &arm64);
    let m_arm = arm64.manifest(false);
    let m_amd = amd64.manifest(false);
    pusher.push_manifest(
        "multi/app",
        &builder::sha256(&m_arm),
        builder::OCI_MANIFEST,
        &m_arm,
    );
    pusher.push_manifest(
        "multi/app",
        &builder::sha256(&m_amd),
        builder::OCI_MANIFEST,
        &m_amd,
    );
    let idx = builder::index(
        &[(&m_arm, "arm64", Some("v8")), (&m_amd, "amd64", None)],
        false,
    );
    let idx_digest = pusher.push_manifest("multi/app", "1", builder::OCI_INDEX, &idx);

    let root = tempfile::tempdir().unwrap();
    let store = store_with(&root.path().join("store"), &insecure(&[&registry.host]));
    let pulled = store
        .pull(&format!("{}/multi/app:1", registry.host), None)
        .await
        .expect("pull index");
    assert_eq!(pulled.id, amd64.id(), "the linux/amd64 image is chosen");
    assert_eq!(
        pulled.manifest_digest, idx_digest,
        "the index digest is the one reported"
    );
    assert_eq!(pulled.config.cmd, vec!["amd64"]);
    assert_eq!(
        registry.blob_gets(&builder::sha256(&arm64.layers[0].blob)),
        0,
        "arm64 layers are not fetched"
    );
}

#[tokio::test]
async fn a_docker_schema2_manifest_list_is_resolved() {
    require_root();
    let registry = TestRegistry::start();
    let pusher = registry.pusher();
    let amd64 = Image::new(vec![busybox_layer(Compression::Gzip)], "amd64", "docker");
    let arm = Image::new(
        vec![layer(
            &[Entry::File("x".into(), b"arm".to_vec(), 0o644)],
            Compression::Gzip,
        )],
        "arm",
        "arm",
    );
    pusher.push_blobs("docker/app", &amd64);
    pusher.push_blobs("docker/app", &arm);
    let m_amd = amd64.manifest(true);
    let m_arm = arm.manifest(true);
    pusher.push_manifest(
        "docker/app",
        &builder::sha256(&m_amd),
        builder::DOCKER_MANIFEST,
        &m_amd,
    );
    pusher.push_manifest(
        "docker/app",
        &builder::sha256(&m_arm),
        builder::DOCKER_MANIFEST,
        &m_arm,
    );
    let list = builder::index(
        &[(&m_arm, "arm", Some("v7")), (&m_amd, "amd64", None)],
        true,
    );
    let list_digest = pusher.push_manifest("docker/app", "latest", builder::DOCKER_LIST, &list);
    let root = tempfile::tempdir().unwrap();
    let store = store_with(&root.path().join("store"), &insecure(&[&registry.host]));
    let pulled = store
        .pull(&format!("{}/docker/app:latest", registry.host), None)
        .await
        .expect("pull list");
    assert_eq!(pulled.id, amd64.id());
    assert_eq!(pulled.manifest_digest, list_digest);
    let dirs = store.layer_dirs(&pulled.id).unwrap();
    assert!(dirs[0].join("bin/busybox").is_file());
}

#[tokio::test]
async fn gzip_zstd_and_plain_layers_unpack() {
    require_root();
    let registry = TestRegistry::start();
    let layers = vec![
        busybox_layer(Compression::Zstd),
        layer(
            &[Entry::File("gz".into(), b"gzip".to_vec(), 0o644)],
            Compression::Gzip,
        ),
        layer(
            &[Entry::File("plain".into(), b"plain".to_vec(), 0o600)],
            Compression::None,
        ),
    ];
    let image = Image::new(layers, "amd64", "mixed");
    registry
        .pusher()
        .push_image("mixed/app", "1", &image, false);
    let root = tempfile::tempdir().unwrap();
    let store = store_with(&root.path().join("store"), &insecure(&[&registry.host]));
    let pulled = store
        .pull(&format!("{}/mixed/app:1", registry.host), None)
        .await
        .expect("pull");
    let dirs = store.layer_dirs(&pulled.id).unwrap();
    assert_eq!(dirs.len(), 3);
    assert_eq!(
        std::fs::read(dirs[0].join("bin/busybox")).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(std::fs::read(dirs[1].join("gz")).unwrap(), b"gzip");
    assert_eq!(std::fs::read(dirs[2].join("plain")).unwrap(), b"plain");
    assert_eq!(
        std::fs::metadata(dirs[2].join("plain"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o600
    );
}

#[tokio::test]
async fn a_blob_that_does_not_match_its_digest_is_refused() {
    require_root();
    let registry = TestRegistry::start();
    let image = busybox_image(Compression::Gzip, "corrupt");
    registry.pusher().push_image("bad/app", "1", &image, false);
    let layer_digest = builder::sha256(&image.layers[0].blob);
    let file = registry.blob_file(&layer_digest);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let root = tempfile::tempdir().unwrap();
    let store_root = root.path().join("store");
    let store = store_with(&store_root, &insecure(&[&registry.host]));
    let err = store
        .pull(&format!("{}/bad/app:1", registry.host), None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("digest") && text.contains(&layer_digest) && text.contains(&registry.host),
        "{text}"
    );
    let hex = layer_digest.trim_start_matches("sha256:");
    assert!(
        !store_root.join("blobs/sha256").join(hex).exists(),
        "the corrupt blob is not kept"
    );
    assert_eq!(
        std::fs::read_dir(store_root.join("layers"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(store_root.join("images"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn concurrent_pulls_of_one_image_share_one_download() {
    require_root();
    let registry = TestRegistry::start();
    let image = busybox_image(Compression::Gzip, "concurrent");
    registry.pusher().push_image("conc/app", "1", &image, false);
    let root = tempfile::tempdir().unwrap();
    let store = store_with(&root.path().join("store"), &insecure(&[&registry.host]));
    let reference = format!("{}/conc/app:1", registry.host);
    let pulls = (0..6).map(|_| store.pull(&reference, None));
    let results = futures::future::join_all(pulls).await;
    for result in &results {
        assert_eq!(result.as_ref().expect("pull").id, image.id());
    }
    assert_eq!(
        registry.blob_gets(&builder::sha256(&image.layers[0].blob)),
        1,
        "one GET of the layer blob"
    );
    assert_eq!(
        registry.blob_gets(&image.id()),
        1,
        "one GET of the config blob"
    );
}

#[tokio::test]
async fn basic_auth_from_the_request_or_an_auth_file() {
    require_root();
    let registry = TestRegistry::start_with(Some(("alice", "s3cret")));
    registry.pusher().push_image(
        "private/app",
        "1",
        &busybox_image(Compression::Gzip, "auth"),
        false,
    );
    let reference = format!("{}/private/app:1", registry.host);
    let root = tempfile::tempdir().unwrap();
    let store = store_with(&root.path().join("store"), &insecure(&[&registry.host]));

    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(
        matches!(err, ImageError::Unauthorized { .. }),
        "anonymous pull is refused: {err}"
    );
    let wrong = RegistryAuth {
        username: "alice".into(),
        password: "nope".into(),
        ..Default::default()
    };
    let err = store.pull(&reference, Some(&wrong)).await.unwrap_err();
    assert!(
        matches!(err, ImageError::Unauthorized { .. }),
        "a wrong password is refused: {err}"
    );

    let right = RegistryAuth {
        username: "alice".into(),
        password: "s3cret".into(),
        ..Default::default()
    };
    store
        .pull(&reference, Some(&right))
        .await
        .expect("pull with user and password");
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    let auth_field = RegistryAuth {
        auth: encoded.clone(),
        ..Default::default()
    };
    let second = store_with(&root.path().join("store2"), &insecure(&[&registry.host]));
    second
        .pull(&reference, Some(&auth_field))
        .await
        .expect("pull with the auth field");

    let auth_file = root.path().join("auth.json");
    std::fs::write(
        &auth_file,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{encoded}"}}}}}}"#,
            registry.host
        ),
    )
    .unwrap();
    let conf_path = root.path().join("store3.conf");
    std::fs::write(&conf_path, insecure(&[&registry.host])).unwrap();
    let mut options = RegistryOptions::new(root.path().join("store3"));
    options.registries_conf = conf_path;
    options.auth_file = Some(auth_file);
    let third = RegistryImageStore::open(options).unwrap();
    third
        .pull(&reference, None)
        .await
        .expect("pull with credentials from auth.json");
}

#[tokio::test]
async fn registries_conf_mirrors_rewrites_blocks_and_insecure() {
    require_root();
    let origin = TestRegistry::start();
    let mirror = TestRegistry::start();
    let from_origin = busybox_image(Compression::Gzip, "origin");
    let from_mirror = busybox_image(Compression::Gzip, "mirror");
    origin
        .pusher()
        .push_image("team/app", "1", &from_origin, false);
    mirror
        .pusher()
        .push_image("team/app", "1", &from_mirror, false);
    origin
        .pusher()
        .push_image("team/app", "only-origin", &from_origin, false);
    origin
        .pusher()
        .push_image("k8s/pause", "3.10", &from_origin, false);
    let conf = format!(
        r#"
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "example.test/team"
location = "{origin}/team"
insecure = true

[[registry.mirror]]
location = "{mirror}/team"
insecure = true

[[registry]]
prefix = "registry.k8s.io"
location = "{origin}/k8s"
insecure = true

[[registry]]
location = "blocked.test"
blocked = true

[aliases]
"app" = "example.test/team/app"
"#,
        origin = origin.host,
        mirror = mirror.host
    );
    let root = tempfile::tempdir().unwrap();
    let store = store_with(&root.path().join("store"), &conf);

    let pulled = store
        .pull("example.test/team/app:1", None)
        .await
        .expect("pull through the mirror");
    assert_eq!(pulled.id, from_mirror.id(), "the mirror is tried first");
    let pulled = store
        .pull("example.test/team/app:only-origin", None)
        .await
        .expect("fall back to the origin");
    assert_eq!(
        pulled.id,
        from_origin.id(),
        "a mirror without the image falls through to the location"
    );
    let pulled = store
        .pull("registry.k8s.io/pause:3.10", None)
        .await
        .expect("pull through the rewrite");
    assert_eq!(pulled.id, from_origin.id());
    let err = store
        .pull("registry.k8s.io/pause:missing", None)
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "no fallback past a rewritten location: {err}"
    );

    let err = store.pull("blocked.test/x/y:1", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert!(err.to_string().contains("blocked"), "{err}");

    // Without `insecure`, the plain-HTTP registry is spoken to over TLS, and fails.
    let strict = store_with(&root.path().join("strict"), "");
    let err = strict
        .pull(&format!("{}/team/app:1", origin.host), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::RegistryUnavailable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&origin.host), "{err}");

    // A broken registries.conf names its file and key.
    let bad = root.path().join("bad.conf");
    std::fs::write(&bad, "[[registry]]\nlocation = \"x\"\nmirrors = []\n").unwrap();
    let mut options = RegistryOptions::new(root.path().join("bad-store"));
    options.registries_conf = bad.clone();
    let err = RegistryImageStore::open(options)
        .err()
        .expect("a bad config is refused");
    assert!(
        err.to_string().contains(&bad.display().to_string()) && err.to_string().contains("mirrors"),
        "{err}"
    );
}

#[tokio::test]
async fn a_dropped_pull_leaves_nothing_visible_and_the_next_pull_completes() {
    require_root();
    let registry = TestRegistry::start();
    // Incompressible content, so the download takes a moment.
    let mut noise = vec![0u8; 48 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for chunk in noise.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let big = layer(
        &[Entry::File("noise".into(), noise, 0o644)],
        Compression::None,
    );
    let image = Image::new(vec![busybox_layer(Compression::Gzip), big], "amd64", "big");
    registry.pusher().push_image("big/app", "1", &image, false);
    let root = tempfile::tempdir().unwrap();
    let store_root = root.path().join("store");
    let reference = format!("{}/big/app:1", registry.host);
    {
        let store = store_with(&store_root, &insecure(&[&registry.host]));
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(30),
            store.pull(&reference, None),
        )
        .await;
        assert!(
            dropped.is_err(),
            "the pull should still be running after 30ms"
        );
        assert_eq!(
            std::fs::read_dir(store_root.join("images"))
                .unwrap()
                .count(),
            0,
            "no image record"
        );
        assert!(store.layer_dirs(&image.id()).is_err());
        for entry in std::fs::read_dir(store_root.join("layers")).unwrap() {
            assert!(
                entry
                    .unwrap()
                    .path()
                    .join("noise")
                    .metadata()
                    .map(|m| m.len() == 48 << 20)
                    .unwrap_or(true)
            );
        }
    }
    // A restart: the store is opened again on the same root.
    let store = store_with(&store_root, &insecure(&[&registry.host]));
    let pulled = store
        .pull(&reference, None)
        .await
        .expect("the next pull completes");
    assert_eq!(pulled.id, image.id());
    let dirs = store.layer_dirs(&pulled.id).unwrap();
    assert_eq!(
        std::fs::metadata(dirs[1].join("noise")).unwrap().len(),
        48 << 20
    );
}

#[tokio::test]
async fn remove_reclaims_disk_but_keeps_shared_layers() {
    require_root();
    let registry = TestRegistry::start();
    let base = busybox_layer(Compression::Gzip);
    let one = Image::new(
        vec![
            base.clone(),
            layer(
                &[Entry::File("one".into(), vec![1; 100_000], 0o644)],
                Compression::Gzip,
            ),
        ],
        "amd64",
        "one",
    );
    let two = Image::new(
        vec![
            base,
            layer(
                &[Entry::File("two".into(), vec![2; 100_000], 0o644)],
                Compression::Gzip,
            ),
        ],
        "amd64",
        "two",
    );
    registry.pusher().push_image("gc/app", "one", &one, false);
    registry.pusher().push_image("gc/app", "two", &two, false);
    let root = tempfile::tempdir().unwrap();
    let store_root = root.path().join("store");
    let store = store_with(&store_root, &insecure(&[&registry.host]));
    let empty = store.fs_usage().await.unwrap();
    assert_eq!(empty.mountpoint, store_root.display().to_string());
    store
        .pull(&format!("{}/gc/app:one", registry.host), None)
        .await
        .unwrap();
    store
        .pull(&format!("{}/gc/app:two", registry.host), None)
        .await
        .unwrap();
    let full = store.fs_usage().await.unwrap();
    let shared = store.layer_dirs(&two.id()).unwrap()[0].clone();
    assert_eq!(
        store.layer_dirs(&one.id()).unwrap()[0],
        shared,
        "the base layer is shared"
    );

    store.remove(&one.id()).await.unwrap();
    let half = store.fs_usage().await.unwrap();
    assert!(half.used_bytes < full.used_bytes && half.inodes_used < full.inodes_used);
    assert!(
        shared.join("bin/busybox").is_file(),
        "the layer image two uses stays"
    );
    assert!(store.layer_dirs(&one.id()).is_err());

    store.remove(&two.id()).await.unwrap();
    let after = store.fs_usage().await.unwrap();
    assert_eq!(
        std::fs::read_dir(store_root.join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(store_root.join("layers"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(after.used_bytes, empty.used_bytes);
}

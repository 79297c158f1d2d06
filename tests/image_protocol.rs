//! The Linux image store against a scripted registry, for what a real registry will not
//! produce: a schema 1 manifest, the bearer-token challenge, a download that stalls.
//! Needs root; `apt-get install docker-registry busybox-static apache2-utils`.

mod image_support;

use crius::backend::ImageStore;
use crius::backend::image::{ImageError, RegistryAuth, RegistryImageStore, RegistryOptions};
use crius::error::{Classify, ErrorKind};
use image_support::builder::{self, Compression, Entry, Image, layer};
use image_support::fake::{FakeRegistry, Reply, Request};
use image_support::{insecure, require_root};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn store(root: &std::path::Path, host: &str, stall: Duration) -> RegistryImageStore {
    let conf = root.with_extension("conf");
    std::fs::write(&conf, insecure(&[host])).unwrap();
    let mut options = RegistryOptions::new(root);
    options.registries_conf = conf;
    options.auth_file = None;
    options.stall_timeout = stall;
    options.progress_interval = Duration::from_millis(100);
    RegistryImageStore::open(options).unwrap()
}

/// Serves `image` as `app:1` (manifest and blobs) from memory.
fn content(image: &Image) -> Arc<HashMap<String, (String, Vec<u8>)>> {
    let manifest = image.manifest(false);
    let mut map = HashMap::new();
    map.insert(
        "/v2/app/manifests/1".to_string(),
        (builder::OCI_MANIFEST.to_string(), manifest),
    );
    map.insert(
        format!("/v2/app/blobs/{}", image.id()),
        ("application/octet-stream".into(), image.config.clone()),
    );
    for l in &image.layers {
        map.insert(
            format!("/v2/app/blobs/{}", builder::sha256(&l.blob)),
            ("application/octet-stream".into(), l.blob.clone()),
        );
    }
    Arc::new(map)
}

fn small_image() -> Image {
    Image::new(
        vec![layer(
            &[Entry::File("hello".into(), b"hi".to_vec(), 0o644)],
            Compression::Gzip,
        )],
        "amd64",
        "small",
    )
}

#[tokio::test]
async fn a_schema1_manifest_is_refused_with_a_clear_error() {
    require_root();
    let fake = FakeRegistry::start(|req: &Request, _host: &str| {
        match req.path.as_str() {
        "/v2/" => Reply::new(200, "{}"),
        "/v2/old/manifests/1" => Reply::new(200, r#"{"schemaVersion":1,"name":"old","tag":"1","architecture":"amd64","fsLayers":[],"history":[]}"#)
            .header("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws"),
        _ => Reply::new(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#),
    }
    });
    let root = tempfile::tempdir().unwrap();
    let store = store(
        &root.path().join("store"),
        &fake.host,
        Duration::from_secs(10),
    );
    let err = store
        .pull(&format!("{}/old:1", fake.host), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    assert!(err.to_string().contains("schema 1"), "{err}");
}

#[tokio::test]
async fn the_bearer_token_flow_sends_basic_credentials_to_the_realm() {
    require_root();
    let image = small_image();
    let files = content(&image);
    let fake = FakeRegistry::start(move |req: &Request, host: &str| {
        use base64::Engine;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("bob:pw")
        );
        if req.path.starts_with("/token") {
            return if req.authorization.as_deref() == Some(basic.as_str())
                && req.path.contains("scope=repository%3Aapp%3Apull")
            {
                Reply::new(200, r#"{"token":"tok-123","expires_in":300}"#)
            } else {
                Reply::new(401, "bad credentials")
            };
        }
        if req.authorization.as_deref() != Some("Bearer tok-123") {
            return Reply::new(
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}"#,
            )
            .header(
                "WWW-Authenticate",
                &format!("Bearer realm=\"http://{host}/token\",service=\"fake\""),
            );
        }
        match files.get(&req.path) {
            Some((ct, body)) => Reply::new(200, body.clone()).header("Content-Type", ct),
            None if req.path == "/v2/" => Reply::new(200, "{}"),
            None => Reply::new(
                404,
                r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}"#,
            ),
        }
    });
    let root = tempfile::tempdir().unwrap();
    let store = store(
        &root.path().join("store"),
        &fake.host,
        Duration::from_secs(10),
    );
    let reference = format!("{}/app:1", fake.host);
    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(
        matches!(err, ImageError::Unauthorized { .. }),
        "anonymous: {err}"
    );
    let auth = RegistryAuth {
        username: "bob".into(),
        password: "pw".into(),
        ..Default::default()
    };
    let pulled = store
        .pull(&reference, Some(&auth))
        .await
        .expect("pull with a bearer token");
    assert_eq!(pulled.id, image.id());
    let token = RegistryAuth {
        registry_token: "tok-123".into(),
        ..Default::default()
    };
    let other = store_again(&root, &fake.host);
    other
        .pull(&reference, Some(&token))
        .await
        .expect("pull with a registry token");
}

fn store_again(root: &tempfile::TempDir, host: &str) -> RegistryImageStore {
    store(&root.path().join("store2"), host, Duration::from_secs(10))
}

#[tokio::test]
async fn a_stalled_download_is_cancelled_with_a_clear_error() {
    require_root();
    let image = Image::new(
        vec![layer(
            &[Entry::File("big".into(), vec![7; 1 << 20], 0o644)],
            Compression::None,
        )],
        "amd64",
        "stall",
    );
    let files = content(&image);
    let layer_path = format!("/v2/app/blobs/{}", builder::sha256(&image.layers[0].blob));
    let fake = FakeRegistry::start(
        move |req: &Request, _host: &str| match files.get(&req.path) {
            Some((ct, body)) if req.path == layer_path => {
                let mut reply = Reply::new(200, body.clone()).header("Content-Type", ct);
                reply.stall_after = Some(body.len() / 2);
                reply
            }
            Some((ct, body)) => Reply::new(200, body.clone()).header("Content-Type", ct),
            None if req.path == "/v2/" => Reply::new(200, "{}"),
            None => Reply::new(
                404,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#,
            ),
        },
    );
    let root = tempfile::tempdir().unwrap();
    let store_root = root.path().join("store");
    let store = store(&store_root, &fake.host, Duration::from_millis(700));
    let started = std::time::Instant::now();
    let err = store
        .pull(&format!("{}/app:1", fake.host), None)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancelled promptly"
    );
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err}");
    assert!(
        err.to_string().contains("no progress") && err.to_string().contains(&fake.host),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(store_root.join("tmp")).unwrap().count(),
        0,
        "the partial download is discarded"
    );
}

#[tokio::test]
async fn an_unreachable_registry_is_unavailable() {
    require_root();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"), &host, Duration::from_secs(5));
    let err = store
        .pull(&format!("{host}/app:1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::RegistryUnavailable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&host), "{err}");
    println!("{err}");
}

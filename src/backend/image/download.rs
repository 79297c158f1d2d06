//! Downloading one blob into the content store: streamed to a temporary file while hashed,
//! checked against the descriptor's digest and size, then renamed into place. A download
//! that makes no progress for the stall timeout is abandoned.

use super::content::Content;
use super::failure::Failure;
use super::manifest::Descriptor;
use super::progress::Progress;
use super::remote::Remote;
use crate::backend::ids::hex;
use crate::error::ErrorKind;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Fetches blob `desc` from `remote` into `content`, unless it is there already.
pub async fn download_blob(
    content: &Content,
    remote: &Remote,
    desc: &Descriptor,
    progress: &Progress,
    stall: Duration,
) -> Result<(), Failure> {
    if content.has_blob(&desc.digest, desc.size) {
        return Ok(());
    }
    let target = content.blob_path(&desc.digest)?;
    let from = format!("blob {} from {}", desc.digest, remote.repo());
    let stalled = |done: u64| {
        Failure::Other(
            ErrorKind::DeadlineExceeded,
            format!(
                "{from}: no progress for {}s ({done} of {} bytes received); giving up",
                stall.as_secs_f64(),
                desc.size
            ),
        )
    };
    let mut stream = tokio::time::timeout(stall, remote.blob(desc))
        .await
        .map_err(|_| stalled(0))??
        .stream;
    let tmp = content.temp_path("blob");
    let local =
        |e: std::io::Error| Failure::local(format!("writing {} for {from}: {e}", tmp.display()));
    let mut file = tokio::fs::File::create(&tmp).await.map_err(local)?;
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let result = async {
        loop {
            let chunk = match tokio::time::timeout(stall, stream.next()).await {
                Err(_) => return Err(stalled(received)),
                Ok(None) => break,
                Ok(Some(Ok(chunk))) => chunk,
                Ok(Some(Err(e))) if received == desc.size => {
                    // The client's own check failed at the end; ours below says how.
                    tracing::debug!(error = %e, "{from}: stream ended with an error");
                    break;
                }
                Ok(Some(Err(e))) => {
                    return Err(Failure::Unavailable(format!("{from}: download interrupted after {received} bytes: {e}")));
                }
            };
            received += chunk.len() as u64;
            if received > desc.size {
                return Err(Failure::invalid(format!(
                    "{from}: registry sent more than the {} bytes the manifest declares; refusing it",
                    desc.size
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(local)?;
            progress.add_bytes(chunk.len() as u64);
        }
        if received != desc.size {
            return Err(Failure::invalid(format!(
                "{from}: received {received} bytes, the manifest declares {}",
                desc.size
            )));
        }
        let actual = format!("sha256:{}", hex(&hasher.finalize()));
        if actual != desc.digest {
            return Err(Failure::invalid(format!(
                "{from}: content has digest {actual}, not the digest the manifest names; refusing corrupt or tampered content"
            )));
        }
        file.sync_all().await.map_err(local)?;
        tokio::fs::rename(&tmp, &target)
            .await
            .map_err(|e| Failure::local(format!("renaming into {}: {e}", target.display())))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

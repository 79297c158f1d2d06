//! One registry endpoint as a pull sees it: manifests and blob streams over the OCI
//! distribution API (oci-client does HTTP, the token challenge and Basic auth), with errors
//! that say what was fetched from where.

use super::failure::Failure;
use super::manifest::{ACCEPT, Descriptor};
use super::registries_conf::Endpoint;
use oci_client::client::{ClientConfig, ClientProtocol, SizedStream};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth as ClientAuth;
use oci_client::{Client, Reference};
use std::time::Duration;

/// A repository on one endpoint, with the credentials to use there.
#[derive(Clone)]
pub struct Remote {
    client: Client,
    auth: ClientAuth,
    endpoint: Endpoint,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Remote {
    /// A client for `endpoint` (plain HTTP when it is insecure).
    pub fn new(endpoint: Endpoint, auth: ClientAuth, connect_timeout: Duration) -> Remote {
        let protocol = if endpoint.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(connect_timeout),
            platform_resolver: None,
            ..Default::default()
        });
        Remote {
            client,
            auth,
            endpoint,
        }
    }

    /// `host/repository`, for messages.
    pub fn repo(&self) -> String {
        format!("{}/{}", self.endpoint.registry, self.endpoint.repository)
    }

    fn reference(&self, tag_or_digest: &str) -> Reference {
        let (registry, repository) = (
            self.endpoint.registry.clone(),
            self.endpoint.repository.clone(),
        );
        if tag_or_digest.contains(':') {
            Reference::with_digest(registry, repository, tag_or_digest.to_string())
        } else {
            Reference::with_tag(registry, repository, tag_or_digest.to_string())
        }
    }

    /// The manifest named by `tag_or_digest`, raw. A digest is checked by the client.
    pub async fn manifest(&self, tag_or_digest: &str) -> Result<Vec<u8>, Failure> {
        let reference = self.reference(tag_or_digest);
        let what = format!("manifest {tag_or_digest} of {}", self.repo());
        let (body, _digest) = self
            .client
            .pull_manifest_raw(&reference, &self.auth, ACCEPT)
            .await
            .map_err(|e| Failure::from_oci(&what, e))?;
        Ok(body.to_vec())
    }

    /// The bytes of blob `desc`, as they arrive (checked by the caller).
    pub async fn blob(&self, desc: &Descriptor) -> Result<SizedStream, Failure> {
        // Any reference of the repository will do: blobs are addressed by digest.
        let reference = self.reference(&desc.digest);
        let descriptor = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: desc.size as i64,
            ..Default::default()
        };
        let what = format!("blob {} of {}", desc.digest, self.repo());
        // Make sure the credentials are known to the client even if the manifest came from
        // the cache of another pull.
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
        let sized = self
            .client
            .pull_blob_stream(&reference, &descriptor)
            .await
            .map_err(|e| Failure::from_oci(&what, e))?;
        Ok(sized)
    }
}

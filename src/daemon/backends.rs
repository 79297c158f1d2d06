//! The Linux [`Backends`], built from the configuration.

use super::cgroup_parent::WithDefaultParent;
use crate::backend::Backends;
use crate::backend::cgroups::CgroupFs;
use crate::backend::clock::SystemClock;
use crate::backend::ids::RandomIds;
use crate::backend::image::{RegistryImageStore, RegistryOptions};
use crate::backend::namespaces::PinnedNamespaces;
use crate::backend::network::{Cni, CniOptions};
use crate::backend::oci::{Runc, RuncConfig, RuncStreams};
use crate::backend::rootfs::Overlay;
use crate::config::Config;
use std::sync::Arc;

/// Every Linux backend, configured by `config`. Creates the directories they keep state in.
pub fn linux_backends(config: &Config) -> Result<Backends, String> {
    let mut image_options = RegistryOptions::new(config.images_root());
    image_options.registries_conf = config.images.registries_conf.clone();
    image_options.auth_file = config.auth_file();
    let images = RegistryImageStore::open(image_options)
        .map_err(|e| format!("opening the image store: {e}"))?;
    let rootfs = Overlay::new(config.rootfs_root(), Arc::new(images.clone()))
        .map_err(|e| format!("setting up the rootfs store: {e}"))?;
    let network = Cni::new(CniOptions::new(
        &config.network.conf_dir,
        config.network.plugin_dirs.clone(),
        config.cni_cache_dir(),
    ));
    let cgroups = CgroupFs::new().map_err(|e| format!("finding the cgroup hierarchies: {e}"))?;
    let oci = oci_runtime(config)?;
    Ok(Backends {
        oci: oci.clone(),
        images: Arc::new(images),
        rootfs: Arc::new(rootfs),
        network: Arc::new(network),
        cgroups: Arc::new(WithDefaultParent::new(
            Arc::new(cgroups),
            &config.cgroups.parent,
        )),
        namespaces: Arc::new(PinnedNamespaces::new(config.pods_dir())),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        streams: Arc::new(RuncStreams::new(oci)),
    })
}

/// The OCI runtime: the default handler's binary, one `crius-monitor` per container, state
/// under `<run_dir>/oci`. Exec and port-forward ([`RuncStreams`]) go through it too.
fn oci_runtime(config: &Config) -> Result<Arc<Runc>, String> {
    let handler = &config.runtime.default_handler;
    let binary = config
        .runtime
        .handlers
        .get(handler)
        .map(|h| h.path.clone())
        .ok_or_else(|| format!("runtime.default_handler {handler:?} is not configured"))?;
    let mut runc = RuncConfig::runc(
        config.runtime.run_dir.join("oci"),
        config.monitor_path().map_err(|e| e.to_string())?,
    );
    runc.handler = handler.clone();
    runc.runtime_path = binary;
    let runtime = Runc::new(runc).map_err(|e| format!("setting up the OCI runtime: {e}"))?;
    Ok(Arc::new(runtime))
}

//! The shared backend suites (`crius::backend::suite`) against the simulated node's fakes.

use crius_sim::catalogue::Catalogue;
use crius_sim::node::{SimNode, SimOptions};

#[tokio::test]
async fn fake_images_pass_the_image_store_suite() {
    let catalogue = Catalogue::from_toml_str(
        "[[image]]\nreference = \"registry.example/missing/app:v1\"\nmissing = true\n",
        "test catalogue",
    )
    .expect("catalogue");
    let node = SimNode::new(SimOptions {
        catalogue,
        ..Default::default()
    });
    crius::backend::suite::image::image_store_suite(
        node.images.as_ref(),
        "docker.io/library/busybox:1.36",
        "registry.example/missing/app:v1",
    )
    .await;
}

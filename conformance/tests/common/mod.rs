//! A simulated node served in-process on a socket, and the world hook that steps its clock.
#![allow(dead_code)]

use crius::runtime::{Runtime, RuntimeSettings};
use crius::server::{CriServer, Identity};
use crius_conformance::{World, WorldError};
use crius_sim::faults::{FaultInjector, FaultPlan};
use crius_sim::node::{SimNode, SimOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A served simulated node with a stepped clock.
pub struct SimServer {
    /// The node.
    pub node: Arc<SimNode>,
    /// Its CRI socket.
    pub socket: PathBuf,
    /// Scratch space (socket, pod logs).
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl SimServer {
    /// Serves a fresh node, applying `fault_plan` (TOML) when given.
    pub async fn start(fault_plan: Option<&str>) -> SimServer {
        let mut options = SimOptions::default();
        if let Some(plan) = fault_plan {
            let plan = FaultPlan::from_toml_str(plan).expect("the trace's fault plan is valid");
            options.faults =
                Arc::new(FaultInjector::new(plan).expect("the trace's fault plan is valid"));
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("crius.sock");
        let node = Arc::new(SimNode::new(options));
        let core = Arc::new(Runtime::new(
            node.backends(),
            RuntimeSettings::default(),
            None,
        ));
        core.recover().await.unwrap();
        drop(core.spawn_exit_watcher()); // runs detached
        let streaming =
            crius::streaming::StreamingServer::bind(core.clone(), "127.0.0.1:0".parse().unwrap())
                .await
                .expect("the streaming server binds a loopback port");
        let streams = streaming.clone();
        tokio::spawn(async move { streams.serve(std::future::pending()).await });
        let server = CriServer::new(
            core,
            Identity::crius(vec![String::new(), "runc".into()], "{}".into()),
        )
        .with_streaming(streaming);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let path = socket.clone();
        let server = tokio::spawn(async move {
            server
                .serve(&path, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        for _ in 0..400 {
            if socket.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        SimServer {
            node,
            socket,
            dir,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// The `unix://` endpoint.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The world hook for a replayer.
    pub fn world(&self) -> Box<dyn World> {
        Box::new(SimWorld(self.node.clone()))
    }

    /// Stops serving.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Steps the simulated node's virtual clock.
pub struct SimWorld(pub Arc<SimNode>);

impl World for SimWorld {
    fn advance(&mut self, by: Duration) -> Result<(), WorldError> {
        self.0.advance(by);
        Ok(())
    }
}

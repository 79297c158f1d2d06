//! The CRI RuntimeService: each RPC converts its request, calls the core, converts the reply.

use super::status::{to_status, unimplemented};
use super::{CriServer, reply, request};
use crate::backend::cgroups::CgroupDriver;
use crate::backend::network::NetworkReadiness;
use crate::runtime::{AttachRequest, ExecRequest, StreamRequest};
use crius_proto::cri;
use crius_proto::cri::runtime_service_server::RuntimeService;
use futures::Stream;
use std::pin::Pin;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

type Reply<T> = Result<Response<T>, Status>;
/// A boxed server stream.
pub type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// How many items one message of a Stream* list RPC carries.
const STREAM_BATCH: usize = 256;

/// Splits `items` into messages of at most [`STREAM_BATCH`], as the Stream* list RPCs send
/// them.
pub(super) fn batches<T: Send + 'static, M: Send + 'static>(
    items: Vec<T>,
    wrap: impl Fn(Vec<T>) -> M + Send + 'static,
) -> ServerStream<M> {
    let mut items = items.into_iter().peekable();
    let mut chunks = Vec::new();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(STREAM_BATCH).collect::<Vec<_>>());
    }
    Box::pin(tokio_stream::iter(
        chunks.into_iter().map(move |chunk| Ok(wrap(chunk))),
    ))
}

impl CriServer {
    /// The streaming server, or Unimplemented naming `method` when none is configured.
    fn streaming(&self, method: &str) -> Result<&crate::streaming::StreamingServer, Status> {
        self.streaming.as_ref().ok_or_else(|| {
            unimplemented(method, "this server was started without a streaming server")
        })
    }
}

#[tonic::async_trait]
impl RuntimeService for CriServer {
    async fn version(&self, _request: Request<cri::VersionRequest>) -> Reply<cri::VersionResponse> {
        Ok(Response::new(cri::VersionResponse {
            version: super::KUBE_API_VERSION.to_string(),
            runtime_name: self.identity.name.clone(),
            runtime_version: self.identity.version.clone(),
            runtime_api_version: super::CRI_API_VERSION.to_string(),
        }))
    }

    async fn run_pod_sandbox(
        &self,
        request: Request<cri::RunPodSandboxRequest>,
    ) -> Reply<cri::RunPodSandboxResponse> {
        let request = request.into_inner();
        let config = request::sandbox_config(request.config).map_err(to_status)?;
        let pod_sandbox_id = self
            .runtime
            .run_pod_sandbox(config, &request.runtime_handler)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::RunPodSandboxResponse { pod_sandbox_id }))
    }

    async fn stop_pod_sandbox(
        &self,
        request: Request<cri::StopPodSandboxRequest>,
    ) -> Reply<cri::StopPodSandboxResponse> {
        let id = request.into_inner().pod_sandbox_id;
        request::id(&id, "pod_sandbox_id").map_err(to_status)?;
        self.runtime
            .stop_pod_sandbox(&id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::StopPodSandboxResponse {}))
    }

    async fn remove_pod_sandbox(
        &self,
        request: Request<cri::RemovePodSandboxRequest>,
    ) -> Reply<cri::RemovePodSandboxResponse> {
        let id = request.into_inner().pod_sandbox_id;
        request::id(&id, "pod_sandbox_id").map_err(to_status)?;
        self.runtime
            .remove_pod_sandbox(&id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::RemovePodSandboxResponse {}))
    }

    async fn pod_sandbox_status(
        &self,
        request: Request<cri::PodSandboxStatusRequest>,
    ) -> Reply<cri::PodSandboxStatusResponse> {
        let request = request.into_inner();
        request::id(&request.pod_sandbox_id, "pod_sandbox_id").map_err(to_status)?;
        let (sandbox, containers) = self
            .runtime
            .pod_sandbox_status(&request.pod_sandbox_id)
            .await
            .map_err(to_status)?;
        let mut info = std::collections::HashMap::new();
        if request.verbose {
            let detail = serde_json::json!({ "sandbox": sandbox });
            info.insert("info".to_string(), detail.to_string());
        }
        Ok(Response::new(cri::PodSandboxStatusResponse {
            status: Some(reply::pod_sandbox_status(&sandbox)),
            info,
            containers_statuses: containers.iter().map(reply::container_status).collect(),
            timestamp: self.runtime.backends().clock.now(),
        }))
    }

    async fn list_pod_sandbox(
        &self,
        request: Request<cri::ListPodSandboxRequest>,
    ) -> Reply<cri::ListPodSandboxResponse> {
        let filter = request::sandbox_filter(request.into_inner().filter).map_err(to_status)?;
        let sandboxes = self
            .runtime
            .list_pod_sandboxes(&filter)
            .map_err(to_status)?;
        Ok(Response::new(cri::ListPodSandboxResponse {
            items: sandboxes.iter().map(reply::pod_sandbox).collect(),
        }))
    }

    type StreamPodSandboxesStream = ServerStream<cri::StreamPodSandboxesResponse>;

    async fn stream_pod_sandboxes(
        &self,
        request: Request<cri::StreamPodSandboxesRequest>,
    ) -> Reply<Self::StreamPodSandboxesStream> {
        let filter = request.into_inner().filter;
        let list = self.list_pod_sandbox(Request::new(cri::ListPodSandboxRequest { filter }));
        let items = list.await?.into_inner().items;
        Ok(Response::new(batches(items, |pod_sandboxes| {
            cri::StreamPodSandboxesResponse { pod_sandboxes }
        })))
    }

    async fn create_container(
        &self,
        request: Request<cri::CreateContainerRequest>,
    ) -> Reply<cri::CreateContainerResponse> {
        let request = request.into_inner();
        request::id(&request.pod_sandbox_id, "pod_sandbox_id").map_err(to_status)?;
        let config = request::container_config(request.config).map_err(to_status)?;
        let container_id = self
            .runtime
            .create_container(&request.pod_sandbox_id, config)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::CreateContainerResponse { container_id }))
    }

    async fn start_container(
        &self,
        request: Request<cri::StartContainerRequest>,
    ) -> Reply<cri::StartContainerResponse> {
        let id = request.into_inner().container_id;
        request::id(&id, "container_id").map_err(to_status)?;
        self.runtime.start_container(&id).await.map_err(to_status)?;
        Ok(Response::new(cri::StartContainerResponse {}))
    }

    async fn stop_container(
        &self,
        request: Request<cri::StopContainerRequest>,
    ) -> Reply<cri::StopContainerResponse> {
        let request = request.into_inner();
        request::id(&request.container_id, "container_id").map_err(to_status)?;
        let timeout = request::timeout(request.timeout, "timeout").map_err(to_status)?;
        self.runtime
            .stop_container(&request.container_id, timeout)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::StopContainerResponse {}))
    }

    async fn remove_container(
        &self,
        request: Request<cri::RemoveContainerRequest>,
    ) -> Reply<cri::RemoveContainerResponse> {
        let id = request.into_inner().container_id;
        request::id(&id, "container_id").map_err(to_status)?;
        self.runtime
            .remove_container(&id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::RemoveContainerResponse {}))
    }

    async fn list_containers(
        &self,
        request: Request<cri::ListContainersRequest>,
    ) -> Reply<cri::ListContainersResponse> {
        let filter = request::container_filter(request.into_inner().filter).map_err(to_status)?;
        let containers = self
            .runtime
            .list_containers(&filter)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::ListContainersResponse {
            containers: containers.iter().map(reply::container).collect(),
        }))
    }

    type StreamContainersStream = ServerStream<cri::StreamContainersResponse>;

    async fn stream_containers(
        &self,
        request: Request<cri::StreamContainersRequest>,
    ) -> Reply<Self::StreamContainersStream> {
        let filter = request.into_inner().filter;
        let list = self.list_containers(Request::new(cri::ListContainersRequest { filter }));
        let items = list.await?.into_inner().containers;
        Ok(Response::new(batches(items, |containers| {
            cri::StreamContainersResponse { containers }
        })))
    }

    async fn container_status(
        &self,
        request: Request<cri::ContainerStatusRequest>,
    ) -> Reply<cri::ContainerStatusResponse> {
        let request = request.into_inner();
        request::id(&request.container_id, "container_id").map_err(to_status)?;
        let container = self
            .runtime
            .container_status(&request.container_id)
            .await
            .map_err(to_status)?;
        let mut info = std::collections::HashMap::new();
        if request.verbose {
            let detail = serde_json::json!({ "container": container });
            info.insert("info".to_string(), detail.to_string());
        }
        Ok(Response::new(cri::ContainerStatusResponse {
            status: Some(reply::container_status(&container)),
            info,
        }))
    }

    async fn update_container_resources(
        &self,
        request: Request<cri::UpdateContainerResourcesRequest>,
    ) -> Reply<cri::UpdateContainerResourcesResponse> {
        let request = request.into_inner();
        request::id(&request.container_id, "container_id").map_err(to_status)?;
        let resources = request
            .linux
            .map(request::resources)
            .ok_or_else(|| Status::invalid_argument("linux resources are required"))?;
        self.runtime
            .update_container_resources(&request.container_id, resources)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::UpdateContainerResourcesResponse {}))
    }

    async fn reopen_container_log(
        &self,
        request: Request<cri::ReopenContainerLogRequest>,
    ) -> Reply<cri::ReopenContainerLogResponse> {
        let id = request.into_inner().container_id;
        request::id(&id, "container_id").map_err(to_status)?;
        self.runtime
            .reopen_container_log(&id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::ReopenContainerLogResponse {}))
    }

    async fn exec_sync(
        &self,
        request: Request<cri::ExecSyncRequest>,
    ) -> Reply<cri::ExecSyncResponse> {
        let request = request.into_inner();
        request::id(&request.container_id, "container_id").map_err(to_status)?;
        let timeout = request::timeout(request.timeout, "timeout").map_err(to_status)?;
        let output = self
            .runtime
            .exec_sync(&request.container_id, &request.cmd, timeout)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::ExecSyncResponse {
            stdout: output.stdout,
            stderr: output.stderr,
            exit_code: output.exit_code,
        }))
    }

    async fn exec(&self, request: Request<cri::ExecRequest>) -> Reply<cri::ExecResponse> {
        let request = request.into_inner();
        let streaming = self.streaming("Exec")?;
        request::id(&request.container_id, "container_id").map_err(to_status)?;
        let exec = ExecRequest {
            container_id: request.container_id,
            cmd: request.cmd,
            tty: request.tty,
            stdin: request.stdin,
            stdout: request.stdout,
            stderr: request.stderr,
        };
        let exec = self.runtime.prepare_exec(exec).await.map_err(to_status)?;
        let url = streaming
            .url(StreamRequest::Exec(exec))
            .map_err(to_status)?;
        Ok(Response::new(cri::ExecResponse { url }))
    }

    async fn attach(&self, request: Request<cri::AttachRequest>) -> Reply<cri::AttachResponse> {
        let request = request.into_inner();
        let streaming = self.streaming("Attach")?;
        request::id(&request.container_id, "container_id").map_err(to_status)?;
        let attach = AttachRequest {
            container_id: request.container_id,
            tty: request.tty,
            stdin: request.stdin,
            stdout: request.stdout,
            stderr: request.stderr,
        };
        let attach = self
            .runtime
            .prepare_attach(attach)
            .await
            .map_err(to_status)?;
        let url = streaming
            .url(StreamRequest::Attach(attach))
            .map_err(to_status)?;
        Ok(Response::new(cri::AttachResponse { url }))
    }

    async fn port_forward(
        &self,
        request: Request<cri::PortForwardRequest>,
    ) -> Reply<cri::PortForwardResponse> {
        let request = request.into_inner();
        let streaming = self.streaming("PortForward")?;
        request::id(&request.pod_sandbox_id, "pod_sandbox_id").map_err(to_status)?;
        let forward = self
            .runtime
            .prepare_port_forward(&request.pod_sandbox_id, &request.port)
            .map_err(to_status)?;
        let url = streaming
            .url(StreamRequest::PortForward(forward))
            .map_err(to_status)?;
        Ok(Response::new(cri::PortForwardResponse { url }))
    }

    async fn container_stats(
        &self,
        request: Request<cri::ContainerStatsRequest>,
    ) -> Reply<cri::ContainerStatsResponse> {
        let id = request.into_inner().container_id;
        request::id(&id, "container_id").map_err(to_status)?;
        let stats = self.runtime.container_stats(&id).await.map_err(to_status)?;
        Ok(Response::new(cri::ContainerStatsResponse {
            stats: Some(reply::container_stats(&stats)),
        }))
    }

    async fn list_container_stats(
        &self,
        request: Request<cri::ListContainerStatsRequest>,
    ) -> Reply<cri::ListContainerStatsResponse> {
        let filter =
            request::container_stats_filter(request.into_inner().filter).map_err(to_status)?;
        let stats = self
            .runtime
            .list_container_stats(&filter)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::ListContainerStatsResponse {
            stats: stats.iter().map(reply::container_stats).collect(),
        }))
    }

    type StreamContainerStatsStream = ServerStream<cri::StreamContainerStatsResponse>;

    async fn stream_container_stats(
        &self,
        request: Request<cri::StreamContainerStatsRequest>,
    ) -> Reply<Self::StreamContainerStatsStream> {
        let filter = request.into_inner().filter;
        let list =
            self.list_container_stats(Request::new(cri::ListContainerStatsRequest { filter }));
        let items = list.await?.into_inner().stats;
        Ok(Response::new(batches(items, |container_stats| {
            cri::StreamContainerStatsResponse { container_stats }
        })))
    }

    async fn pod_sandbox_stats(
        &self,
        request: Request<cri::PodSandboxStatsRequest>,
    ) -> Reply<cri::PodSandboxStatsResponse> {
        let id = request.into_inner().pod_sandbox_id;
        request::id(&id, "pod_sandbox_id").map_err(to_status)?;
        let stats = self
            .runtime
            .pod_sandbox_stats(&id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::PodSandboxStatsResponse {
            stats: Some(reply::pod_stats(&stats)),
        }))
    }

    async fn list_pod_sandbox_stats(
        &self,
        request: Request<cri::ListPodSandboxStatsRequest>,
    ) -> Reply<cri::ListPodSandboxStatsResponse> {
        let filter =
            request::sandbox_stats_filter(request.into_inner().filter).map_err(to_status)?;
        let stats = self
            .runtime
            .list_pod_sandbox_stats(&filter)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::ListPodSandboxStatsResponse {
            stats: stats.iter().map(reply::pod_stats).collect(),
        }))
    }

    type StreamPodSandboxStatsStream = ServerStream<cri::StreamPodSandboxStatsResponse>;

    async fn stream_pod_sandbox_stats(
        &self,
        request: Request<cri::StreamPodSandboxStatsRequest>,
    ) -> Reply<Self::StreamPodSandboxStatsStream> {
        let filter = request.into_inner().filter;
        let list =
            self.list_pod_sandbox_stats(Request::new(cri::ListPodSandboxStatsRequest { filter }));
        let items = list.await?.into_inner().stats;
        Ok(Response::new(batches(items, |pod_sandbox_stats| {
            cri::StreamPodSandboxStatsResponse { pod_sandbox_stats }
        })))
    }

    async fn update_runtime_config(
        &self,
        request: Request<cri::UpdateRuntimeConfigRequest>,
    ) -> Reply<cri::UpdateRuntimeConfigResponse> {
        let cidr = request
            .into_inner()
            .runtime_config
            .and_then(|c| c.network_config)
            .map(|n| n.pod_cidr)
            .unwrap_or_default();
        self.runtime
            .update_pod_cidr(&cidr)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::UpdateRuntimeConfigResponse {}))
    }

    async fn status(&self, request: Request<cri::StatusRequest>) -> Reply<cri::StatusResponse> {
        let status = self.runtime.status().await;
        let runtime_condition = cri::RuntimeCondition {
            r#type: "RuntimeReady".to_string(),
            status: status.runtime_ready,
            reason: String::new(),
            message: String::new(),
        };
        let network_condition = match status.network {
            NetworkReadiness::Ready => cri::RuntimeCondition {
                r#type: "NetworkReady".to_string(),
                status: true,
                reason: String::new(),
                message: String::new(),
            },
            NetworkReadiness::NotReady { reason, message } => cri::RuntimeCondition {
                r#type: "NetworkReady".to_string(),
                status: false,
                reason,
                message,
            },
        };
        let mut info = std::collections::HashMap::new();
        if request.into_inner().verbose {
            info.insert("config".to_string(), self.identity.info.clone());
        }
        Ok(Response::new(cri::StatusResponse {
            status: Some(cri::RuntimeStatus {
                conditions: vec![runtime_condition, network_condition],
            }),
            info,
            runtime_handlers: self
                .identity
                .handlers
                .iter()
                .map(|name| cri::RuntimeHandler {
                    name: name.clone(),
                    features: Some(cri::RuntimeHandlerFeatures::default()),
                })
                .collect(),
            features: Some(cri::RuntimeFeatures::default()),
        }))
    }

    async fn checkpoint_container(
        &self,
        _request: Request<cri::CheckpointContainerRequest>,
    ) -> Reply<cri::CheckpointContainerResponse> {
        Err(unimplemented(
            "CheckpointContainer",
            "checkpoint/restore needs CRIU support, which crius does not have",
        ))
    }

    type GetContainerEventsStream = ServerStream<cri::ContainerEventResponse>;

    async fn get_container_events(
        &self,
        _request: Request<cri::GetEventsRequest>,
    ) -> Reply<Self::GetContainerEventsStream> {
        let events = tokio_stream::wrappers::BroadcastStream::new(self.runtime.subscribe_events());
        let stream = events.filter_map(|event| match event {
            Ok(event) => Some(Ok(reply::container_event(&event))),
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(missed)) => {
                tracing::warn!(missed, "a GetContainerEvents subscriber fell behind");
                None
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_metric_descriptors(
        &self,
        _request: Request<cri::ListMetricDescriptorsRequest>,
    ) -> Reply<cri::ListMetricDescriptorsResponse> {
        Err(unimplemented(
            "ListMetricDescriptors",
            "cAdvisor-style pod metrics are not collected yet",
        ))
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _request: Request<cri::ListPodSandboxMetricsRequest>,
    ) -> Reply<cri::ListPodSandboxMetricsResponse> {
        Err(unimplemented(
            "ListPodSandboxMetrics",
            "cAdvisor-style pod metrics are not collected yet",
        ))
    }

    type StreamPodSandboxMetricsStream = ServerStream<cri::StreamPodSandboxMetricsResponse>;

    async fn stream_pod_sandbox_metrics(
        &self,
        _request: Request<cri::StreamPodSandboxMetricsRequest>,
    ) -> Reply<Self::StreamPodSandboxMetricsStream> {
        Err(unimplemented(
            "StreamPodSandboxMetrics",
            "cAdvisor-style pod metrics are not collected yet",
        ))
    }

    async fn runtime_config(
        &self,
        _request: Request<cri::RuntimeConfigRequest>,
    ) -> Reply<cri::RuntimeConfigResponse> {
        let driver = match self.runtime.cgroup_driver() {
            CgroupDriver::Systemd => cri::CgroupDriver::Systemd,
            CgroupDriver::Cgroupfs => cri::CgroupDriver::Cgroupfs,
        };
        Ok(Response::new(cri::RuntimeConfigResponse {
            linux: Some(cri::LinuxRuntimeConfiguration {
                cgroup_driver: driver as i32,
            }),
        }))
    }

    async fn update_pod_sandbox_resources(
        &self,
        request: Request<cri::UpdatePodSandboxResourcesRequest>,
    ) -> Reply<cri::UpdatePodSandboxResourcesResponse> {
        let request = request.into_inner();
        request::id(&request.pod_sandbox_id, "pod_sandbox_id").map_err(to_status)?;
        let resources =
            request::pod_resources(request.resources, request.overhead).map_err(to_status)?;
        self.runtime
            .update_pod_sandbox_resources(&request.pod_sandbox_id, resources)
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::UpdatePodSandboxResourcesResponse {}))
    }
}

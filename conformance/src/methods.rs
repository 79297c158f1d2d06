//! The dispatch table: every CRI v1 method with its service, whether it streams, and the
//! conversions between proto3 JSON and encoded protobuf for its request and response.

use bytes::Bytes;
use crius_proto::cri;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The two CRI gRPC services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// `runtime.v1.RuntimeService`.
    Runtime,
    /// `runtime.v1.ImageService`.
    Image,
}

impl Service {
    /// The name used in traces (`RuntimeService` / `ImageService`).
    pub fn name(self) -> &'static str {
        match self {
            Service::Runtime => "RuntimeService",
            Service::Image => "ImageService",
        }
    }
}

/// One CRI method and its conversions.
#[derive(Debug)]
pub struct Method {
    /// The method name, e.g. `CreateContainer`.
    pub name: &'static str,
    /// The service it belongs to.
    pub service: Service,
    /// Whether the response is a server stream.
    pub streaming: bool,
    /// The gRPC path, e.g. `/runtime.v1.RuntimeService/CreateContainer`.
    pub path: &'static str,
    encode_request: fn(&Value) -> Result<Bytes, String>,
    decode_request: fn(&[u8]) -> Result<Value, String>,
    decode_response: fn(&[u8]) -> Result<Value, String>,
}

impl Method {
    /// Converts a proto3-JSON request into the encoded protobuf message.
    pub fn encode_request(&self, json: &Value) -> Result<Bytes, String> {
        (self.encode_request)(json)
    }

    /// Converts an encoded request into proto3 JSON.
    pub fn decode_request(&self, bytes: &[u8]) -> Result<Value, String> {
        (self.decode_request)(bytes)
    }

    /// Converts an encoded response (or one stream message) into proto3 JSON.
    pub fn decode_response(&self, bytes: &[u8]) -> Result<Value, String> {
        (self.decode_response)(bytes)
    }
}

fn encode<M: Message + DeserializeOwned>(json: &Value) -> Result<Bytes, String> {
    let message: M = serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
    Ok(message.encode_to_vec().into())
}

fn decode<M: Message + Default + Serialize>(bytes: &[u8]) -> Result<Value, String> {
    let message = M::decode(bytes).map_err(|e| e.to_string())?;
    serde_json::to_value(&message).map_err(|e| e.to_string())
}

macro_rules! table {
    ($($svc:ident $name:literal $req:ident $resp:ident $streaming:literal;)*) => {
        /// Every method of the CRI v1 `RuntimeService` and `ImageService`, in `.proto` order.
        pub static METHODS: &[Method] = &[$(
            Method {
                name: $name,
                service: Service::$svc,
                streaming: $streaming,
                path: table!(@path $svc $name),
                encode_request: encode::<cri::$req>,
                decode_request: decode::<cri::$req>,
                decode_response: decode::<cri::$resp>,
            },
        )*];
    };
    (@path Runtime $name:literal) => { concat!("/runtime.v1.RuntimeService/", $name) };
    (@path Image $name:literal) => { concat!("/runtime.v1.ImageService/", $name) };
}

table! {
    Runtime "Version" VersionRequest VersionResponse false;
    Runtime "RunPodSandbox" RunPodSandboxRequest RunPodSandboxResponse false;
    Runtime "StopPodSandbox" StopPodSandboxRequest StopPodSandboxResponse false;
    Runtime "RemovePodSandbox" RemovePodSandboxRequest RemovePodSandboxResponse false;
    Runtime "PodSandboxStatus" PodSandboxStatusRequest PodSandboxStatusResponse false;
    Runtime "ListPodSandbox" ListPodSandboxRequest ListPodSandboxResponse false;
    Runtime "StreamPodSandboxes" StreamPodSandboxesRequest StreamPodSandboxesResponse true;
    Runtime "CreateContainer" CreateContainerRequest CreateContainerResponse false;
    Runtime "StartContainer" StartContainerRequest StartContainerResponse false;
    Runtime "StopContainer" StopContainerRequest StopContainerResponse false;
    Runtime "RemoveContainer" RemoveContainerRequest RemoveContainerResponse false;
    Runtime "ListContainers" ListContainersRequest ListContainersResponse false;
    Runtime "StreamContainers" StreamContainersRequest StreamContainersResponse true;
    Runtime "ContainerStatus" ContainerStatusRequest ContainerStatusResponse false;
    Runtime "UpdateContainerResources" UpdateContainerResourcesRequest UpdateContainerResourcesResponse false;
    Runtime "ReopenContainerLog" ReopenContainerLogRequest ReopenContainerLogResponse false;
    Runtime "ExecSync" ExecSyncRequest ExecSyncResponse false;
    Runtime "Exec" ExecRequest ExecResponse false;
    Runtime "Attach" AttachRequest AttachResponse false;
    Runtime "PortForward" PortForwardRequest PortForwardResponse false;
    Runtime "ContainerStats" ContainerStatsRequest ContainerStatsResponse false;
    Runtime "ListContainerStats" ListContainerStatsRequest ListContainerStatsResponse false;
    Runtime "StreamContainerStats" StreamContainerStatsRequest StreamContainerStatsResponse true;
    Runtime "PodSandboxStats" PodSandboxStatsRequest PodSandboxStatsResponse false;
    Runtime "ListPodSandboxStats" ListPodSandboxStatsRequest ListPodSandboxStatsResponse false;
    Runtime "StreamPodSandboxStats" StreamPodSandboxStatsRequest StreamPodSandboxStatsResponse true;
    Runtime "UpdateRuntimeConfig" UpdateRuntimeConfigRequest UpdateRuntimeConfigResponse false;
    Runtime "Status" StatusRequest StatusResponse false;
    Runtime "CheckpointContainer" CheckpointContainerRequest CheckpointContainerResponse false;
    Runtime "GetContainerEvents" GetEventsRequest ContainerEventResponse true;
    Runtime "ListMetricDescriptors" ListMetricDescriptorsRequest ListMetricDescriptorsResponse false;
    Runtime "ListPodSandboxMetrics" ListPodSandboxMetricsRequest ListPodSandboxMetricsResponse false;
    Runtime "StreamPodSandboxMetrics" StreamPodSandboxMetricsRequest StreamPodSandboxMetricsResponse true;
    Runtime "RuntimeConfig" RuntimeConfigRequest RuntimeConfigResponse false;
    Runtime "UpdatePodSandboxResources" UpdatePodSandboxResourcesRequest UpdatePodSandboxResourcesResponse false;
    Image "ListImages" ListImagesRequest ListImagesResponse false;
    Image "StreamImages" StreamImagesRequest StreamImagesResponse true;
    Image "ImageStatus" ImageStatusRequest ImageStatusResponse false;
    Image "PullImage" PullImageRequest PullImageResponse false;
    Image "RemoveImage" RemoveImageRequest RemoveImageResponse false;
    Image "ImageFsInfo" ImageFsInfoRequest ImageFsInfoResponse false;
}

/// The method called `name`.
pub fn by_name(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// The method served at gRPC `path`.
pub fn by_path(path: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.path == path)
}

/// The gRPC status code names, as traces spell them (`OK`, `NotFound`…).
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "Cancelled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// The trace name of a gRPC status code.
pub fn code_name(code: tonic::Code) -> &'static str {
    CODE_NAMES[code as usize]
}

/// Whether `name` is a gRPC status code name.
pub fn is_code_name(name: &str) -> bool {
    CODE_NAMES.contains(&name)
}

/// The gRPC status code called `name`.
pub fn code_from_name(name: &str) -> Option<tonic::Code> {
    CODE_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|i| tonic::Code::from(i as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// The table agrees with the compiled `.proto`: same methods, services and streaming.
    #[test]
    fn table_matches_the_file_descriptor_set() {
        let fds = prost_types::FileDescriptorSet::decode(crius_proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut seen = 0;
        for file in &fds.file {
            for service in &file.service {
                for rpc in &service.method {
                    let name = rpc.name();
                    let method =
                        by_name(name).unwrap_or_else(|| panic!("{name} missing from the table"));
                    assert_eq!(method.service.name(), service.name(), "{name}");
                    assert_eq!(method.streaming, rpc.server_streaming(), "{name}");
                    assert!(!rpc.client_streaming(), "{name}");
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, METHODS.len());
        assert_eq!(METHODS.len(), 41);
    }

    #[test]
    fn requests_round_trip_through_protobuf() {
        let json = serde_json::json!({"podSandboxId": "abc", "timeout": "30"});
        let _ = by_name("StopPodSandbox")
            .unwrap()
            .encode_request(&json)
            .unwrap_err();
        let json = serde_json::json!({"containerId": "abc", "timeout": "30"});
        let method = by_name("StopContainer").unwrap();
        let bytes = method.encode_request(&json).unwrap();
        assert_eq!(method.decode_request(&bytes).unwrap(), json);
    }

    #[test]
    fn code_names_match_tonic() {
        for (i, name) in CODE_NAMES.iter().enumerate() {
            let code = tonic::Code::from(i as i32);
            assert_eq!(code_name(code), *name);
            assert_eq!(code_from_name(name), Some(code));
        }
    }
}

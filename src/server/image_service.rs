//! The CRI ImageService.

use super::runtime_service::{ServerStream, batches};
use super::status::to_status;
use super::{CriServer, reply, request};
use crius_proto::cri;
use crius_proto::cri::image_service_server::ImageService;
use tonic::{Request, Response, Status};

type Reply<T> = Result<Response<T>, Status>;

fn image_filter(filter: Option<cri::ImageFilter>) -> Option<String> {
    filter
        .and_then(|f| f.image)
        .map(|spec| spec.image)
        .filter(|name| !name.is_empty())
}

#[tonic::async_trait]
impl ImageService for CriServer {
    async fn list_images(
        &self,
        request: Request<cri::ListImagesRequest>,
    ) -> Reply<cri::ListImagesResponse> {
        let filter = image_filter(request.into_inner().filter);
        let images = self
            .runtime
            .list_images(filter.as_deref())
            .map_err(to_status)?;
        Ok(Response::new(cri::ListImagesResponse {
            images: images.iter().map(reply::image).collect(),
        }))
    }

    type StreamImagesStream = ServerStream<cri::StreamImagesResponse>;

    async fn stream_images(
        &self,
        request: Request<cri::StreamImagesRequest>,
    ) -> Reply<Self::StreamImagesStream> {
        let filter = request.into_inner().filter;
        let list = self.list_images(Request::new(cri::ListImagesRequest { filter }));
        let images = list.await?.into_inner().images;
        Ok(Response::new(batches(images, |images| {
            cri::StreamImagesResponse { images }
        })))
    }

    async fn image_status(
        &self,
        request: Request<cri::ImageStatusRequest>,
    ) -> Reply<cri::ImageStatusResponse> {
        let request = request.into_inner();
        let name = request::image_name(request.image).map_err(to_status)?;
        let image = self.runtime.image_status(&name).map_err(to_status)?;
        let mut info = std::collections::HashMap::new();
        if request.verbose
            && let Some(image) = &image
        {
            let detail = serde_json::json!({ "config": image.config });
            info.insert("info".to_string(), detail.to_string());
        }
        Ok(Response::new(cri::ImageStatusResponse {
            image: image.as_ref().map(reply::image),
            info,
        }))
    }

    async fn pull_image(
        &self,
        request: Request<cri::PullImageRequest>,
    ) -> Reply<cri::PullImageResponse> {
        let request = request.into_inner();
        let name = request::image_name(request.image).map_err(to_status)?;
        let auth = request::auth(request.auth);
        let image_ref = self
            .runtime
            .pull_image(&name, auth.as_ref())
            .await
            .map_err(to_status)?;
        Ok(Response::new(cri::PullImageResponse { image_ref }))
    }

    async fn remove_image(
        &self,
        request: Request<cri::RemoveImageRequest>,
    ) -> Reply<cri::RemoveImageResponse> {
        let name = request::image_name(request.into_inner().image).map_err(to_status)?;
        self.runtime.remove_image(&name).await.map_err(to_status)?;
        Ok(Response::new(cri::RemoveImageResponse {}))
    }

    async fn image_fs_info(
        &self,
        _request: Request<cri::ImageFsInfoRequest>,
    ) -> Reply<cri::ImageFsInfoResponse> {
        let info = self.runtime.image_fs_info().await.map_err(to_status)?;
        Ok(Response::new(cri::ImageFsInfoResponse {
            image_filesystems: vec![reply::filesystem(&info.images, info.timestamp)],
            container_filesystems: vec![reply::filesystem(&info.containers, info.timestamp)],
        }))
    }
}

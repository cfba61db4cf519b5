//! The `runtime.v1` RuntimeService and ImageService: each RPC logs who
//! called it and hands the work to its module on a blocking thread (the
//! libraries are synchronous). RPCs rukt does not serve answer
//! UNIMPLEMENTED (the generated defaults, or a message naming why).

use std::sync::Arc;
use std::time::Duration;

use rukt_proto::cri::v1 as cri;
use rukt_proto::cri::v1::image_service_server::ImageService;
use rukt_proto::cri::v1::runtime_service_server::RuntimeService;
use tonic::{Request, Response, Status};

use crate::ctx::Ctx;
use crate::error::{blocking, invalid};
use crate::{container, images, runtime_info, sandbox, stats};

/// The server: the shared configuration and the streaming server.
#[derive(Clone)]
pub struct Cri {
    ctx: Arc<Ctx>,
    streams: rukt_streaming::Server<crate::streaming::CriStreams>,
}

impl Cri {
    /// The server over `ctx`, its sessions served by `streams`.
    pub fn new(
        ctx: Arc<Ctx>,
        streams: rukt_streaming::Server<crate::streaming::CriStreams>,
    ) -> Cri {
        Cri { ctx, streams }
    }

    /// Registers a streaming session; its URL.
    fn register(&self, req: rukt_streaming::Request) -> Result<String, Status> {
        self.streams.register(req).map_err(|e| match e {
            rukt_streaming::RegisterError::TooMany => Status::resource_exhausted(e.to_string()),
            e => invalid(e.to_string()),
        })
    }

    /// Checks that container `id` exists (and its sandbox runs).
    async fn known_container(&self, id: String) -> Result<(), Status> {
        self.run(move |c| {
            container::find(c, &id)?
                .map(|_| ())
                .ok_or_else(|| crate::error::not_found("container", &id))
        })
        .await
        .map(|_| ())
    }

    /// Runs `f` with the configuration on a blocking thread.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ctx) -> Result<T, Status> + Send + 'static,
    ) -> Result<Response<T>, Status> {
        let ctx = self.ctx.clone();
        blocking(move || f(&ctx)).await.map(Response::new)
    }
}

/// Logs an RPC and the caller's uid.
fn audit<T>(rpc: &str, r: &Request<T>) {
    let peer = r
        .extensions()
        .get::<tonic::transport::server::UdsConnectInfo>()
        .and_then(|i| i.peer_cred)
        .map(|c| format!("uid {}", c.uid()))
        .unwrap_or_default();
    tracing::debug!("{rpc} from {peer}");
}

/// The client's deadline (`grpc-timeout`), which `serve` also enforces.
pub fn deadline<T>(r: &Request<T>) -> Option<Duration> {
    crate::serve::timeout(r.metadata().get("grpc-timeout")?.to_str().ok()?)
}

#[tonic::async_trait]
impl RuntimeService for Cri {
    async fn version(
        &self,
        r: Request<cri::VersionRequest>,
    ) -> Result<Response<cri::VersionResponse>, Status> {
        audit("Version", &r);
        Ok(Response::new(runtime_info::version()))
    }

    async fn status(
        &self,
        r: Request<cri::StatusRequest>,
    ) -> Result<Response<cri::StatusResponse>, Status> {
        audit("Status", &r);
        let verbose = r.into_inner().verbose;
        self.run(move |c| Ok(runtime_info::status(c, verbose)))
            .await
    }

    async fn runtime_config(
        &self,
        r: Request<cri::RuntimeConfigRequest>,
    ) -> Result<Response<cri::RuntimeConfigResponse>, Status> {
        audit("RuntimeConfig", &r);
        Ok(Response::new(runtime_info::runtime_config()))
    }

    async fn update_runtime_config(
        &self,
        r: Request<cri::UpdateRuntimeConfigRequest>,
    ) -> Result<Response<cri::UpdateRuntimeConfigResponse>, Status> {
        audit("UpdateRuntimeConfig", &r);
        // The pod CIDR is the CNI configuration's business in rukt.
        Ok(Response::new(cri::UpdateRuntimeConfigResponse {}))
    }

    async fn run_pod_sandbox(
        &self,
        r: Request<cri::RunPodSandboxRequest>,
    ) -> Result<Response<cri::RunPodSandboxResponse>, Status> {
        audit("RunPodSandbox", &r);
        let r = r.into_inner();
        let config = r
            .config
            .ok_or_else(|| invalid("RunPodSandbox without a config"))?;
        self.run(move |c| {
            sandbox::run(c, &config, &r.runtime_handler)
                .map(|pod_sandbox_id| cri::RunPodSandboxResponse { pod_sandbox_id })
        })
        .await
    }

    async fn stop_pod_sandbox(
        &self,
        r: Request<cri::StopPodSandboxRequest>,
    ) -> Result<Response<cri::StopPodSandboxResponse>, Status> {
        audit("StopPodSandbox", &r);
        let id = r.into_inner().pod_sandbox_id;
        self.run(move |c| sandbox::stop(c, &id).map(|()| cri::StopPodSandboxResponse {}))
            .await
    }

    async fn remove_pod_sandbox(
        &self,
        r: Request<cri::RemovePodSandboxRequest>,
    ) -> Result<Response<cri::RemovePodSandboxResponse>, Status> {
        audit("RemovePodSandbox", &r);
        let id = r.into_inner().pod_sandbox_id;
        self.run(move |c| sandbox::remove(c, &id).map(|()| cri::RemovePodSandboxResponse {}))
            .await
    }

    async fn pod_sandbox_status(
        &self,
        r: Request<cri::PodSandboxStatusRequest>,
    ) -> Result<Response<cri::PodSandboxStatusResponse>, Status> {
        audit("PodSandboxStatus", &r);
        let r = r.into_inner();
        self.run(move |c| {
            let mut resp = sandbox::status(c, &r.pod_sandbox_id, r.verbose)?;
            if let Some(s) = &resp.status {
                let filter = cri::ContainerFilter {
                    pod_sandbox_id: s.id.clone(),
                    ..Default::default()
                };
                for ct in container::list(c, Some(&filter))? {
                    if let Some(st) = container::status(c, &ct.id, false)?.status {
                        resp.containers_statuses.push(st);
                    }
                }
            }
            Ok(resp)
        })
        .await
    }

    async fn list_pod_sandbox(
        &self,
        r: Request<cri::ListPodSandboxRequest>,
    ) -> Result<Response<cri::ListPodSandboxResponse>, Status> {
        audit("ListPodSandbox", &r);
        let filter = r.into_inner().filter;
        self.run(move |c| {
            sandbox::list(c, filter.as_ref()).map(|items| cri::ListPodSandboxResponse { items })
        })
        .await
    }

    async fn create_container(
        &self,
        r: Request<cri::CreateContainerRequest>,
    ) -> Result<Response<cri::CreateContainerResponse>, Status> {
        audit("CreateContainer", &r);
        let r = r.into_inner();
        let config = r
            .config
            .ok_or_else(|| invalid("CreateContainer without a config"))?;
        self.run(move |c| {
            container::create(c, &r.pod_sandbox_id, &config)
                .map(|container_id| cri::CreateContainerResponse { container_id })
        })
        .await
    }

    async fn start_container(
        &self,
        r: Request<cri::StartContainerRequest>,
    ) -> Result<Response<cri::StartContainerResponse>, Status> {
        audit("StartContainer", &r);
        let id = r.into_inner().container_id;
        self.run(move |c| container::start(c, &id).map(|()| cri::StartContainerResponse {}))
            .await
    }

    async fn stop_container(
        &self,
        r: Request<cri::StopContainerRequest>,
    ) -> Result<Response<cri::StopContainerResponse>, Status> {
        audit("StopContainer", &r);
        let r = r.into_inner();
        let timeout = Duration::from_secs(u64::try_from(r.timeout).unwrap_or(0));
        self.run(move |c| {
            container::stop(c, &r.container_id, timeout).map(|()| cri::StopContainerResponse {})
        })
        .await
    }

    async fn remove_container(
        &self,
        r: Request<cri::RemoveContainerRequest>,
    ) -> Result<Response<cri::RemoveContainerResponse>, Status> {
        audit("RemoveContainer", &r);
        let id = r.into_inner().container_id;
        self.run(move |c| container::remove(c, &id).map(|()| cri::RemoveContainerResponse {}))
            .await
    }

    async fn list_containers(
        &self,
        r: Request<cri::ListContainersRequest>,
    ) -> Result<Response<cri::ListContainersResponse>, Status> {
        audit("ListContainers", &r);
        let filter = r.into_inner().filter;
        self.run(move |c| {
            container::list(c, filter.as_ref())
                .map(|containers| cri::ListContainersResponse { containers })
        })
        .await
    }

    async fn container_status(
        &self,
        r: Request<cri::ContainerStatusRequest>,
    ) -> Result<Response<cri::ContainerStatusResponse>, Status> {
        audit("ContainerStatus", &r);
        let r = r.into_inner();
        self.run(move |c| container::status(c, &r.container_id, r.verbose))
            .await
    }

    async fn update_container_resources(
        &self,
        r: Request<cri::UpdateContainerResourcesRequest>,
    ) -> Result<Response<cri::UpdateContainerResourcesResponse>, Status> {
        audit("UpdateContainerResources", &r);
        let r = r.into_inner();
        self.run(move |c| {
            container::update_resources(c, &r.container_id, r.linux.as_ref())
                .map(|()| cri::UpdateContainerResourcesResponse {})
        })
        .await
    }

    async fn reopen_container_log(
        &self,
        r: Request<cri::ReopenContainerLogRequest>,
    ) -> Result<Response<cri::ReopenContainerLogResponse>, Status> {
        audit("ReopenContainerLog", &r);
        let id = r.into_inner().container_id;
        self.run(move |c| {
            container::reopen_log(c, &id).map(|()| cri::ReopenContainerLogResponse {})
        })
        .await
    }

    async fn exec_sync(
        &self,
        r: Request<cri::ExecSyncRequest>,
    ) -> Result<Response<cri::ExecSyncResponse>, Status> {
        audit("ExecSync", &r);
        let r = r.into_inner();
        let timeout = Duration::from_secs(u64::try_from(r.timeout).unwrap_or(0));
        self.run(move |c| {
            let f = container::find(c, &r.container_id)?
                .ok_or_else(|| crate::error::not_found("container", &r.container_id))?;
            let o = crate::exec_sync::exec_sync(&f.pod, &f.rec.app, r.cmd, timeout, c.debug)?;
            Ok(cri::ExecSyncResponse {
                stdout: o.stdout,
                stderr: o.stderr,
                exit_code: o.exit_code,
            })
        })
        .await
    }

    async fn exec(
        &self,
        r: Request<cri::ExecRequest>,
    ) -> Result<Response<cri::ExecResponse>, Status> {
        audit("Exec", &r);
        let r = r.into_inner();
        self.known_container(r.container_id.clone()).await?;
        let url = self.register(rukt_streaming::Request::Exec {
            container_id: r.container_id,
            cmd: r.cmd,
            tty: r.tty,
            stdin: r.stdin,
            stdout: r.stdout,
            stderr: r.stderr,
        })?;
        Ok(Response::new(cri::ExecResponse { url }))
    }

    async fn attach(
        &self,
        r: Request<cri::AttachRequest>,
    ) -> Result<Response<cri::AttachResponse>, Status> {
        audit("Attach", &r);
        let r = r.into_inner();
        self.known_container(r.container_id.clone()).await?;
        let url = self.register(rukt_streaming::Request::Attach {
            container_id: r.container_id,
            tty: r.tty,
            stdin: r.stdin,
            stdout: r.stdout,
            stderr: r.stderr,
        })?;
        Ok(Response::new(cri::AttachResponse { url }))
    }

    async fn port_forward(
        &self,
        r: Request<cri::PortForwardRequest>,
    ) -> Result<Response<cri::PortForwardResponse>, Status> {
        audit("PortForward", &r);
        let r = r.into_inner();
        let id = r.pod_sandbox_id.clone();
        self.run(move |c| {
            crate::sandbox::find(c, &id)?
                .map(|_| ())
                .ok_or_else(|| crate::error::not_found("sandbox", &id))
        })
        .await?;
        let ports = r
            .port
            .iter()
            .map(|p| u16::try_from(*p).map_err(|_| invalid(format!("port {p} is out of range"))))
            .collect::<Result<Vec<u16>, Status>>()?;
        let url = self.register(rukt_streaming::Request::PortForward {
            sandbox_id: r.pod_sandbox_id,
            ports,
        })?;
        Ok(Response::new(cri::PortForwardResponse { url }))
    }

    async fn container_stats(
        &self,
        r: Request<cri::ContainerStatsRequest>,
    ) -> Result<Response<cri::ContainerStatsResponse>, Status> {
        audit("ContainerStats", &r);
        let id = r.into_inner().container_id;
        self.run(move |c| {
            let f = container::find(c, &id)?
                .ok_or_else(|| crate::error::not_found("container", &id))?;
            Ok(cri::ContainerStatsResponse {
                stats: Some(stats::container(&f, sandbox::now_ns())),
            })
        })
        .await
    }

    async fn list_container_stats(
        &self,
        r: Request<cri::ListContainerStatsRequest>,
    ) -> Result<Response<cri::ListContainerStatsResponse>, Status> {
        audit("ListContainerStats", &r);
        let filter = r.into_inner().filter.unwrap_or_default();
        self.run(move |c| {
            let now = sandbox::now_ns();
            let stats = container::all(c)?
                .iter()
                .filter(|f| filter.id.is_empty() || f.rec.id.starts_with(&filter.id))
                .filter(|f| {
                    filter.pod_sandbox_id.is_empty()
                        || f.sandbox.id.starts_with(&filter.pod_sandbox_id)
                })
                .filter(|f| sandbox::selected(&f.rec.labels, &filter.label_selector))
                .map(|f| stats::container(f, now))
                .collect();
            Ok(cri::ListContainerStatsResponse { stats })
        })
        .await
    }

    async fn pod_sandbox_stats(
        &self,
        r: Request<cri::PodSandboxStatsRequest>,
    ) -> Result<Response<cri::PodSandboxStatsResponse>, Status> {
        audit("PodSandboxStats", &r);
        let id = r.into_inner().pod_sandbox_id;
        self.run(move |c| {
            let filter = cri::PodSandboxStatsFilter {
                id: id.clone(),
                ..Default::default()
            };
            let mut all = sandbox_stats(c, &filter)?;
            match all.len() {
                1 => Ok(cri::PodSandboxStatsResponse { stats: all.pop() }),
                _ => Err(crate::error::not_found("sandbox", &id)),
            }
        })
        .await
    }

    async fn list_pod_sandbox_stats(
        &self,
        r: Request<cri::ListPodSandboxStatsRequest>,
    ) -> Result<Response<cri::ListPodSandboxStatsResponse>, Status> {
        audit("ListPodSandboxStats", &r);
        let filter = r.into_inner().filter.unwrap_or_default();
        self.run(move |c| {
            sandbox_stats(c, &filter).map(|stats| cri::ListPodSandboxStatsResponse { stats })
        })
        .await
    }
}

/// Stats of the sandboxes `filter` selects.
fn sandbox_stats(
    c: &Ctx,
    filter: &cri::PodSandboxStatsFilter,
) -> Result<Vec<cri::PodSandboxStats>, Status> {
    let now = sandbox::now_ns();
    let containers = container::all(c)?;
    Ok(sandbox::all(c)?
        .into_iter()
        .filter(|(_, r)| filter.id.is_empty() || r.id.starts_with(&filter.id))
        .filter(|(_, r)| sandbox::selected(&r.labels, &filter.label_selector))
        .map(|(pod, rec)| {
            let cs = containers
                .iter()
                .filter(|f| f.sandbox.id == rec.id)
                .map(|f| stats::container(f, now))
                .collect();
            stats::sandbox(&pod, &rec, cs, now)
        })
        .collect())
}

#[tonic::async_trait]
impl ImageService for Cri {
    async fn list_images(
        &self,
        r: Request<cri::ListImagesRequest>,
    ) -> Result<Response<cri::ListImagesResponse>, Status> {
        audit("ListImages", &r);
        let filter = r.into_inner().filter;
        self.run(move |c| {
            images::list(c, filter.as_ref()).map(|images| cri::ListImagesResponse { images })
        })
        .await
    }

    async fn image_status(
        &self,
        r: Request<cri::ImageStatusRequest>,
    ) -> Result<Response<cri::ImageStatusResponse>, Status> {
        audit("ImageStatus", &r);
        let spec = r.into_inner().image.map(|i| i.image).unwrap_or_default();
        if spec.is_empty() {
            return Err(invalid("ImageStatus names no image"));
        }
        self.run(move |c| {
            images::status(c, &spec).map(|image| cri::ImageStatusResponse {
                image,
                info: Default::default(),
            })
        })
        .await
    }

    async fn pull_image(
        &self,
        r: Request<cri::PullImageRequest>,
    ) -> Result<Response<cri::PullImageResponse>, Status> {
        audit("PullImage", &r);
        let deadline = deadline(&r);
        let r = r.into_inner();
        let spec = r.image.map(|i| i.image).unwrap_or_default();
        if spec.is_empty() {
            return Err(invalid("PullImage names no image"));
        }
        // The fetch honours the deadline itself and rolls back; `serve`
        // answers DEADLINE_EXCEEDED in time if it could not.
        self.run(move |c| {
            images::pull(c, &spec, r.auth.as_ref(), deadline)
                .map(|image_ref| cri::PullImageResponse { image_ref })
        })
        .await
    }

    async fn remove_image(
        &self,
        r: Request<cri::RemoveImageRequest>,
    ) -> Result<Response<cri::RemoveImageResponse>, Status> {
        audit("RemoveImage", &r);
        let spec = r.into_inner().image.map(|i| i.image).unwrap_or_default();
        if spec.is_empty() {
            return Err(invalid("RemoveImage names no image"));
        }
        self.run(move |c| images::remove(c, &spec).map(|()| cri::RemoveImageResponse {}))
            .await
    }

    async fn image_fs_info(
        &self,
        r: Request<cri::ImageFsInfoRequest>,
    ) -> Result<Response<cri::ImageFsInfoResponse>, Status> {
        audit("ImageFsInfo", &r);
        self.run(|c| Ok(images::fs_info(c))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_read_from_the_metadata() {
        let mut r = Request::new(());
        assert_eq!(deadline(&r), None);
        r.metadata_mut()
            .insert("grpc-timeout", "1500m".parse().unwrap());
        assert_eq!(deadline(&r), Some(Duration::from_millis(1500)));
        r.metadata_mut()
            .insert("grpc-timeout", "x".parse().unwrap());
        assert_eq!(deadline(&r), None);
    }
}

//! The `rukt.api.v1.PublicAPI` service: each RPC over the modules that read
//! the store (pods, images, the event journal, logs). Nothing here writes.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use rukt_proto::v1 as pb;
use rukt_proto::v1::public_api_server::PublicApi;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::events::Listen;
use crate::images::ImageCatalog;
use crate::pods::PodCache;

/// A stream of one RPC's messages.
type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The service's state: the store it reads and its caches.
#[derive(Clone)]
pub struct Api {
    store: PathBuf,
    pods: Arc<PodCache>,
    images: Arc<ImageCatalog>,
}

impl Api {
    /// The service for the store at `store`.
    pub fn new(store: PathBuf) -> Api {
        Api {
            pods: Arc::new(PodCache::new(&store)),
            images: Arc::new(ImageCatalog::new(&store)),
            store,
        }
    }
}

/// Logs who called what (the peer's uid on a unix socket).
fn audit<T>(rpc: &str, r: &Request<T>) {
    let peer = r
        .extensions()
        .get::<tonic::transport::server::UdsConnectInfo>()
        .and_then(|i| i.peer_cred)
        .map(|c| format!("uid {} pid {:?}", c.uid(), c.pid()))
        .or_else(|| r.remote_addr().map(|a| a.to_string()))
        .unwrap_or_default();
    tracing::debug!("{rpc} from {peer}");
}

/// Runs blocking store reads off the runtime's thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("reader failed: {e}")))?
}

#[tonic::async_trait]
impl PublicApi for Api {
    async fn get_info(
        &self,
        r: Request<pb::GetInfoRequest>,
    ) -> Result<Response<pb::GetInfoResponse>, Status> {
        audit("GetInfo", &r);
        let store = self.store.clone();
        let last = blocking(move || {
            rukt_events::last_seq(&store)
                .map_err(|e| Status::internal(format!("event journal: {e}")))
        })
        .await?;
        Ok(Response::new(pb::GetInfoResponse {
            info: Some(pb::Info {
                rukt_version: env!("CARGO_PKG_VERSION").to_string(),
                api_version: "v1".to_string(),
                global_flags: Some(pb::GlobalFlags {
                    dir: self.store.display().to_string(),
                }),
                last_event_seq: last,
            }),
        }))
    }

    async fn list_pods(
        &self,
        r: Request<pb::ListPodsRequest>,
    ) -> Result<Response<pb::ListPodsResponse>, Status> {
        audit("ListPods", &r);
        let r = r.into_inner();
        let pods = self.pods.clone();
        let pods = blocking(move || pods.list(&r.filters, r.detail)).await?;
        Ok(Response::new(pb::ListPodsResponse { pods }))
    }

    async fn inspect_pod(
        &self,
        r: Request<pb::InspectPodRequest>,
    ) -> Result<Response<pb::InspectPodResponse>, Status> {
        audit("InspectPod", &r);
        let id = r.into_inner().id;
        let pods = self.pods.clone();
        let pod = blocking(move || pods.inspect(&id)).await?;
        Ok(Response::new(pb::InspectPodResponse { pod: Some(pod) }))
    }

    async fn list_images(
        &self,
        r: Request<pb::ListImagesRequest>,
    ) -> Result<Response<pb::ListImagesResponse>, Status> {
        audit("ListImages", &r);
        let r = r.into_inner();
        let images = self.images.clone();
        let images = blocking(move || images.list(&r.filters, r.detail)).await?;
        Ok(Response::new(pb::ListImagesResponse { images }))
    }

    async fn inspect_image(
        &self,
        r: Request<pb::InspectImageRequest>,
    ) -> Result<Response<pb::InspectImageResponse>, Status> {
        audit("InspectImage", &r);
        let id = r.into_inner().id;
        let images = self.images.clone();
        let image = blocking(move || images.inspect(&id)).await?;
        Ok(Response::new(pb::InspectImageResponse {
            image: Some(image),
        }))
    }

    type ListenEventsStream = Streamed<pb::ListenEventsResponse>;

    async fn listen_events(
        &self,
        r: Request<pb::ListenEventsRequest>,
    ) -> Result<Response<Self::ListenEventsStream>, Status> {
        audit("ListenEvents", &r);
        let listen = Listen::new(r.into_inner().filter)?;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(listen.run(self.store.clone(), tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type GetLogsStream = Streamed<pb::GetLogsResponse>;

    async fn get_logs(
        &self,
        r: Request<pb::GetLogsRequest>,
    ) -> Result<Response<Self::GetLogsStream>, Status> {
        audit("GetLogs", &r);
        let r = r.into_inner();
        let query = crate::logs::query(&r)?;
        let pods = self.pods.clone();
        let pod = blocking(move || {
            let pod = pods.find(&r.pod_id)?;
            crate::logs::check_kept(&pod)?;
            Ok(pod)
        })
        .await?;
        let (tx, rx) = mpsc::channel(16);
        let pods = self.pods.clone();
        tokio::task::spawn_blocking(move || crate::logs::send(pods.pods(), &pod, &query, &tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

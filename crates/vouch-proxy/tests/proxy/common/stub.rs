//! A scriptable upstream registry for fault injection: fixed answers per
//! path, slow bodies, redirects, an optional bearer-token flow, and a
//! record of every request it saw.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// How the stub answers one path.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// A fixed answer.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// 200 with the body sent in `chunk`-byte pieces, `delay` apart.
    Slow {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        chunk: usize,
        delay: Duration,
    },
    /// A 307 to `location`.
    Redirect(String),
    /// 200 announcing the whole `body`, whose connection is broken off
    /// after its first `after` bytes (an upstream reset mid-blob).
    ResetAfter { body: Vec<u8>, after: usize },
    /// 200 announcing the whole `body`, that sends its first `after`
    /// bytes and then nothing until `release` is notified, when the
    /// connection is broken off (an upstream that stalls mid-blob).
    StallAfter {
        body: Vec<u8>,
        after: usize,
        release: Arc<tokio::sync::Notify>,
    },
}

impl Behaviour {
    /// 200 with a body and Content-Type.
    pub fn ok(content_type: &str, body: Vec<u8>) -> Self {
        Self::Respond {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    /// A bare status.
    pub fn status(status: u16) -> Self {
        Self::Respond {
            status,
            headers: vec![],
            body: b"stub failure".to_vec(),
        }
    }
}

/// One request the stub saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    routes: HashMap<String, Behaviour>,
    seen: Vec<Seen>,
    bearer: Option<(String, String)>, // (expected Basic header for /token, token)
    realm: Option<String>,            // the challenge's realm; default this stub's /token
}

/// The stub server.
#[derive(Clone)]
pub struct Stub {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Stub {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state((inner.clone(), addr));
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the behaviour for an exact path (with query, if any).
    pub fn set(&self, path: &str, behaviour: Behaviour) {
        self.inner
            .lock()
            .unwrap()
            .routes
            .insert(path.to_string(), behaviour);
    }

    /// Requires the docker token flow: `/v2/…` needs `Bearer <token>`,
    /// which `/token` hands out for `basic_header` credentials.
    pub fn require_bearer(&self, basic_header: &str, token: &str) {
        self.inner.lock().unwrap().bearer = Some((basic_header.to_string(), token.to_string()));
    }

    /// Names another token endpoint in the bearer challenge (a realm on
    /// another host); default `http://<this stub>/token`.
    pub fn set_realm(&self, realm: &str) {
        self.inner.lock().unwrap().realm = Some(realm.to_string());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    /// Requests seen for a path (ignoring the token endpoint).
    pub fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }
}

async fn handle(
    State((inner, addr)): State<(Arc<Mutex<Inner>>, SocketAddr)>,
    request: Request,
) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (behaviour, bearer, realm) = {
        let mut inner = inner.lock().unwrap();
        inner.seen.push(Seen {
            method: request.method().to_string(),
            path: path.clone(),
            authorization: authorization.clone(),
        });
        let bare = path.split('?').next().unwrap_or_default().to_string();
        (
            inner
                .routes
                .get(&path)
                .or_else(|| inner.routes.get(&bare))
                .cloned(),
            inner.bearer.clone(),
            inner.realm.clone(),
        )
    };
    if let Some((basic, token)) = bearer {
        if path.starts_with("/token") {
            return if authorization.as_deref() == Some(basic.as_str()) {
                let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
                ([("content-type", "application/json")], body).into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "bad vendor credentials").into_response()
            };
        }
        if authorization.as_deref() != Some(format!("Bearer {token}").as_str())
            && path.starts_with("/v2/")
        {
            let realm = realm.unwrap_or_else(|| format!("http://{addr}/token"));
            let challenge = format!("Bearer realm=\"{realm}\",service=\"stub\"");
            let mut r = (
                StatusCode::UNAUTHORIZED,
                "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}",
            )
                .into_response();
            r.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_str(&challenge).unwrap(),
            );
            return r;
        }
    }
    let head = request.method() == axum::http::Method::HEAD;
    match behaviour {
        None => (
            StatusCode::NOT_FOUND,
            [("content-type", "application/json")],
            "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"unknown\"}]}",
        )
            .into_response(),
        Some(Behaviour::Respond {
            status,
            headers,
            body,
        }) => {
            let mut r = Response::new(if head {
                Body::empty()
            } else {
                Body::from(body.clone())
            });
            *r.status_mut() = StatusCode::from_u16(status).unwrap();
            for (k, v) in headers {
                r.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(&v).unwrap(),
                );
            }
            r.headers_mut()
                .insert("content-length", HeaderValue::from(body.len()));
            r
        }
        Some(Behaviour::Slow {
            headers,
            body,
            chunk,
            delay,
        }) => {
            let len = body.len();
            let pieces: Vec<Bytes> = body.chunks(chunk).map(Bytes::copy_from_slice).collect();
            let stream =
                futures_util::stream::unfold(pieces.into_iter(), move |mut it| async move {
                    let next = it.next()?;
                    tokio::time::sleep(delay).await;
                    Some((Ok::<_, std::io::Error>(next), it))
                });
            let mut r = Response::new(Body::from_stream(stream));
            for (k, v) in headers {
                r.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(&v).unwrap(),
                );
            }
            r.headers_mut()
                .insert("content-length", HeaderValue::from(len));
            r
        }
        Some(Behaviour::ResetAfter { body, after }) => {
            broken_off(&body, after, std::future::ready(()))
        }
        Some(Behaviour::StallAfter {
            body,
            after,
            release,
        }) => broken_off(&body, after, async move { release.notified().await }),
        Some(Behaviour::Redirect(location)) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            r.headers_mut()
                .insert("location", HeaderValue::from_str(&location).unwrap());
            r
        }
    }
}

/// 200 announcing all of `body`, sending its first `after` bytes, then,
/// once `until` resolves, breaking the connection off.
fn broken_off(
    body: &[u8],
    after: usize,
    until: impl std::future::Future<Output = ()> + Send + 'static,
) -> Response {
    let sent = Bytes::copy_from_slice(&body[..after]);
    let broken = async move {
        until.await;
        Err(std::io::Error::other(
            "stub: connection broken off mid-body",
        ))
    };
    let stream = futures_util::StreamExt::chain(
        futures_util::stream::iter([Ok(sent)]),
        futures_util::stream::once(broken),
    );
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert("content-length", HeaderValue::from(body.len()));
    r
}

impl Stub {
    /// Serves a manifest under `reference` (tag or digest) like a registry.
    pub fn manifest(&self, repo: &str, reference: &str, manifest: &super::images::Blob) {
        self.set(
            &format!("/v2/{repo}/manifests/{reference}"),
            Behaviour::Respond {
                status: 200,
                headers: vec![
                    ("content-type".into(), manifest.media_type.clone()),
                    ("docker-content-digest".into(), manifest.digest.clone()),
                ],
                body: manifest.bytes.clone(),
            },
        );
    }

    /// Serves a blob.
    pub fn blob(&self, repo: &str, blob: &super::images::Blob) {
        self.set(
            &format!("/v2/{repo}/blobs/{}", blob.digest),
            Behaviour::Respond {
                status: 200,
                headers: vec![
                    ("content-type".into(), "application/octet-stream".into()),
                    ("docker-content-digest".into(), blob.digest.clone()),
                ],
                body: blob.bytes.clone(),
            },
        );
    }

    /// Serves `count` images of one layer of `layer_bytes` each (seeded
    /// `<seed>-<i>`, tags `img<i>`) and tag `1.0` (and its digest) as
    /// their index; returns the images.
    pub fn index_release(
        &self,
        repo: &str,
        seed: &str,
        count: usize,
        layer_bytes: usize,
    ) -> Vec<super::images::Image> {
        use super::images::{Image, image, index};
        let images: Vec<Image> = (0..count)
            .map(|i| image(&format!("{seed}-{i}"), "amd64", layer_bytes))
            .collect();
        let arches: Vec<String> = (0..count).map(|i| format!("arch{i}")).collect();
        let pairs: Vec<(&Image, &str)> = images
            .iter()
            .zip(&arches)
            .map(|(i, a)| (i, a.as_str()))
            .collect();
        let idx = index(&pairs);
        for (i, img) in images.iter().enumerate() {
            self.image(repo, &format!("img{i}"), img);
        }
        self.manifest(repo, "1.0", &idx);
        self.manifest(repo, &idx.digest, &idx);
        images
    }

    /// Serves an image: blobs, and the manifest by digest and by `tag`.
    pub fn image(&self, repo: &str, tag: &str, image: &super::images::Image) {
        self.blob(repo, &image.config);
        for layer in &image.layers {
            self.blob(repo, layer);
        }
        self.manifest(repo, &image.manifest.digest, &image.manifest);
        self.manifest(repo, tag, &image.manifest);
    }
}

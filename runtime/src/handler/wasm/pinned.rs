//! Sending a guest's request to exactly the addresses the policy checked.
//!
//! wasmtime-wasi-http's own sender takes a URL and resolves its host itself when it connects:
//! a second lookup after ours, which a hostile name server can answer differently (a public
//! address for the check, `127.0.0.1` for the connection: DNS rebinding). Here the name is
//! resolved once, by [`super::outbound`], and the connection goes to one of those addresses;
//! TLS still verifies the certificate against the name the guest asked for. No library
//! offers a hyper client that connects to given addresses under these hooks, so the few steps
//! (connect, TLS, HTTP/1.1 handshake, drive the connection) are written out here, as
//! wasmtime-wasi-http does them.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// The connection future the hooks hand back, driven until the response body is read.
pub type Io = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// wasmtime-wasi-http's defaults when the guest sets no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Sends `request` over a connection to the first of `addresses` that accepts one.
pub async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    addresses: &[SocketAddr],
) -> Result<(http::Response<WasiBody>, Io), HttpError> {
    let uri = request.uri();
    let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let host = uri
        .host()
        .ok_or(HttpError::HttpRequestUriInvalid)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);

    let tcp = tokio::time::timeout(connect_timeout, connect(addresses))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)??;
    let stream: Box<dyn Stream> = if https {
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(HttpError::InvalidDnsNameError)?;
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(HttpError::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;

    // The request line carries only the path: scheme and authority are for proxies.
    let path = uri_path(request.uri());
    *request.uri_mut() = path;

    let mut connection = Box::pin(connection);
    let response = tokio::time::timeout(first_byte_timeout, async {
        tokio::select! {
            response = sender.send_request(request) => response.map_err(HttpError::from),
            ended = &mut connection => match ended {
                Ok(()) => Err(HttpError::ConnectionTerminated),
                Err(error) => Err(HttpError::from(error)),
            },
        }
    })
    .await
    .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let io: Io = Box::new(async move { connection.await.map_err(HttpError::from) });
    Ok((
        response.map(|body| body.map_err(HttpError::from).boxed_unsync()),
        io,
    ))
}

/// Tries each address in turn, as `TcpStream::connect` does with a name's addresses.
async fn connect(addresses: &[SocketAddr]) -> Result<TcpStream, HttpError> {
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = Some(error),
        }
    }
    Err(last.map_or(HttpError::DestinationNotFound, HttpError::Connect))
}

fn uri_path(uri: &http::Uri) -> http::Uri {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    http::Uri::builder()
        .path_and_query(path)
        .build()
        .unwrap_or_else(|_| http::Uri::from_static("/"))
}

/// The public web PKI's roots, as wasmtime-wasi-http trusts them; built once.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

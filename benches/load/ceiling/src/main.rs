//! The ceiling: a trivial HTTPS responder (hyper 1 + tokio-rustls with ring, HTTP/1.1 keep-alive)
//! that answers every request with `hello\n`. It has the same TLS and HTTP stack as scimd and no
//! application work, so its throughput under a given wrk load is the most scimd could reach there.
//!
//! Usage: scimd-load-ceiling ADDR   (e.g. 127.0.0.1:18444). Prints `LISTENING <addr>` once bound.
//! Uses a fresh self-signed ECDSA P-256 certificate (rcgen's default, as scimd's generated one).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(b"hello\n")))
        .expect("static response"))
}

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18444".to_string())
        .parse()
        .expect("ADDR must be IP:port");

    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("self-signed certificate");
    let cert = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server certificate");
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(tls));

    let listener = TcpListener::bind(addr).await.expect("bind");
    println!("LISTENING {}", listener.local_addr().expect("local addr"));
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service_fn(hello))
                .await;
        });
    }
}
